//! Medusa v2 Store API, with the publishable key in `x-publishable-api-key` on every call:
//! regions → cart → variant → line item → e-mail and addresses → shipping options →
//! shipping method → payment collection → payment session (`pp_system_default`) →
//! complete.
//!
//! Shapes as Medusa 2.x serves them: resources come wrapped (`{"cart": {...}}`,
//! `{"regions": [...]}`, `{"shipping_options": [...]}`, `{"payment_collection": {...}}`);
//! errors are `{"type": "invalid_data", "message": "...", "code": ...}`; completing a cart
//! answers `{"type": "order", "order": {...}}`, or — when payment authorization failed —
//! HTTP 200 with `{"type": "cart", "cart": {...}, "error": {"message", "name", "type"}}`.

use crate::address::{self, Address};
use crate::http::{self, call, missing, str_at};
use crate::{OrderCheckError, Run, DEMO_PRODUCT_SKU};
use serde_json::{json, Value};

pub(crate) const PUBLISHABLE_KEY_HEADER: &str = "x-publishable-api-key";

/// Medusa's built-in payment provider ("system", manual capture), which the Storefleet
/// seed enables in the store's region.
pub(crate) const SYSTEM_PAYMENT_PROVIDER: &str = "pp_system_default";

struct Store<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    key: &'a str,
}

impl Store<'_> {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .header(PUBLISHABLE_KEY_HEADER, self.key)
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header(PUBLISHABLE_KEY_HEADER, self.key)
            .json(body)
    }
}

pub(crate) async fn place_order(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    email: &str,
    run: &mut Run,
) -> Result<String, OrderCheckError> {
    let store = Store { http, base, key };

    let (region_id, addr) = run
        .step("list_regions", async {
            const STEP: &str = "list_regions";
            let reply = call(STEP, store.get("/store/regions").query(&[("limit", "50")])).await?;
            pick_region(&reply.body)
        })
        .await?;

    let cart_id = run
        .step("create_cart", async {
            const STEP: &str = "create_cart";
            let reply = call(
                STEP,
                store.post("/store/carts", &json!({"region_id": region_id})),
            )
            .await?;
            Ok(str_at(STEP, &reply.body, "/cart/id")?.to_owned())
        })
        .await?;

    let variant = run
        .step("find_variant", async {
            const STEP: &str = "find_variant";
            let reply = call(
                STEP,
                store.get("/store/products").query(&[
                    (
                        "fields",
                        "*variants,*variants.calculated_price,+variants.inventory_quantity",
                    ),
                    ("region_id", region_id.as_str()),
                    ("limit", "20"),
                ]),
            )
            .await?;
            pick_variant(&reply.body)
        })
        .await?;

    run.step("add_line_item", async {
        const STEP: &str = "add_line_item";
        let reply = call(
            STEP,
            store.post(
                &format!("/store/carts/{cart_id}/line-items"),
                &json!({"variant_id": variant.id, "quantity": 1}),
            ),
        )
        .await
        .map_err(|e| out_of_stock(STEP, &variant, e))?;
        let items = reply
            .body
            .pointer("/cart/items")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if items == 0 {
            return Err(missing(STEP, "/cart/items/0", &reply.body));
        }
        Ok(())
    })
    .await?;

    run.step("update_cart", async {
        const STEP: &str = "update_cart";
        let address = address_json(&addr);
        let reply = call(
            STEP,
            store.post(
                &format!("/store/carts/{cart_id}"),
                &json!({
                    "email": email,
                    "shipping_address": address,
                    "billing_address": address,
                }),
            ),
        )
        .await?;
        str_at(STEP, &reply.body, "/cart/id").map(|_| ())
    })
    .await?;

    let option_id = run
        .step("list_shipping_options", async {
            const STEP: &str = "list_shipping_options";
            let reply = call(
                STEP,
                store
                    .get("/store/shipping-options")
                    .query(&[("cart_id", cart_id.as_str())]),
            )
            .await?;
            pick_shipping_option(&reply.body)
        })
        .await?;

    run.step("add_shipping_method", async {
        const STEP: &str = "add_shipping_method";
        let reply = call(
            STEP,
            store.post(
                &format!("/store/carts/{cart_id}/shipping-methods"),
                &json!({"option_id": option_id}),
            ),
        )
        .await?;
        str_at(STEP, &reply.body, "/cart/id").map(|_| ())
    })
    .await?;

    let collection_id = run
        .step("create_payment_collection", async {
            const STEP: &str = "create_payment_collection";
            let reply = call(
                STEP,
                store.post("/store/payment-collections", &json!({"cart_id": cart_id})),
            )
            .await?;
            Ok(str_at(STEP, &reply.body, "/payment_collection/id")?.to_owned())
        })
        .await?;

    run.step("create_payment_session", async {
        const STEP: &str = "create_payment_session";
        let reply = call(
            STEP,
            store.post(
                &format!("/store/payment-collections/{collection_id}/payment-sessions"),
                &json!({"provider_id": SYSTEM_PAYMENT_PROVIDER}),
            ),
        )
        .await?;
        str_at(STEP, &reply.body, "/payment_collection/id").map(|_| ())
    })
    .await?;

    run.step("complete_cart", async {
        const STEP: &str = "complete_cart";
        let reply = call(
            STEP,
            store.post(&format!("/store/carts/{cart_id}/complete"), &json!({})),
        )
        .await
        .map_err(http::placing(email))
        .map_err(|e| out_of_stock(STEP, &variant, e))?;
        completed_order(&reply.body)
    })
    .await
}

/// The order id from a complete-cart answer, or why the store refused the order.
fn completed_order(body: &Value) -> Result<String, OrderCheckError> {
    const STEP: &str = "complete_cart";
    match body.get("type").and_then(Value::as_str) {
        Some("order") => Ok(str_at(STEP, body, "/order/id")?.to_owned()),
        Some("cart") => {
            let message = body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .unwrap_or("no error message");
            let code = body
                .pointer("/error/type")
                .or_else(|| body.pointer("/error/name"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            Err(OrderCheckError::Refused {
                step: STEP,
                message: message.to_owned(),
                code,
            })
        }
        _ => Err(OrderCheckError::Unexpected {
            step: STEP,
            detail: format!(
                "want {{\"type\": \"order\"}}, got {}",
                http::json_snippet(body)
            ),
        }),
    }
}

/// A region with a country the check has an address for (preferred), else any region with
/// a country; the address is in that country.
fn pick_region(body: &Value) -> Result<(String, Address), OrderCheckError> {
    const STEP: &str = "list_regions";
    let regions = body
        .get("regions")
        .and_then(Value::as_array)
        .ok_or_else(|| missing(STEP, "/regions", body))?;
    let countries = |r: &Value| -> Vec<String> {
        r.get("countries")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("iso_2").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for region in regions {
        let codes = countries(region);
        if let (Some(addr), Some(id)) = (
            address::pick(codes.iter().map(String::as_str)),
            region.get("id").and_then(Value::as_str),
        ) {
            return Ok((id.to_owned(), addr));
        }
    }
    let described: Vec<String> = regions
        .iter()
        .map(|r| {
            format!(
                "{} [{}]",
                r.get("name").and_then(Value::as_str).unwrap_or("?"),
                countries(r).join(",")
            )
        })
        .collect();
    Err(OrderCheckError::Unexpected {
        step: STEP,
        detail: if regions.is_empty() {
            "the store has no region".to_owned()
        } else {
            format!(
                "no region with a country the check can address (regions: {})",
                described.join("; ")
            )
        },
    })
}

/// The variant the check buys, and how to name it in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Variant {
    id: String,
    /// `"Storefleet demo product" (SKU STOREFLEET-DEMO-1)`
    label: String,
}

/// Medusa's answer when a variant lacks stock (adding it to the cart, or completing the
/// cart) becomes "out of stock" naming the product; everything else is left as it is.
fn out_of_stock(step: &'static str, variant: &Variant, e: OrderCheckError) -> OrderCheckError {
    match &e {
        OrderCheckError::Status { message, code, .. }
        | OrderCheckError::Refused { message, code, .. }
            if code.as_deref() == Some("insufficient_inventory")
                || message.to_ascii_lowercase().contains("required inventory") =>
        {
            OrderCheckError::NothingToBuy {
                step,
                detail: format!(
                    "{} is out of stock (Medusa: {message}); restock it in the admin \
                     (Inventory) or allow backorders",
                    variant.label
                ),
            }
        }
        _ => e,
    }
}

/// The demo product's variant (SKU `STOREFLEET-DEMO-1`), else the first other variant; each
/// only with a price in the region and stock (or no inventory management, or backorders).
/// When none qualifies, the error says why the ones that exist cannot be bought.
fn pick_variant(body: &Value) -> Result<Variant, OrderCheckError> {
    const STEP: &str = "find_variant";
    let products = body
        .get("products")
        .and_then(Value::as_array)
        .ok_or_else(|| missing(STEP, "/products", body))?;
    let mut variants: Vec<(&Value, &Value)> = products
        .iter()
        .flat_map(|p| {
            p.get("variants")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(move |v| (p, v))
        })
        .collect();
    let is_demo = |v: &Value| v.get("sku").and_then(Value::as_str) == Some(DEMO_PRODUCT_SKU);
    // The demo variant first, the rest in the store's order.
    variants.sort_by_key(|(_, v)| !is_demo(v));
    let problems: Vec<(String, &'static str)> = variants
        .iter()
        .map(|(p, v)| (variant_label(p, v), unbuyable(v).unwrap_or("")))
        .collect();
    if let Some(((_, v), (label, _))) = variants
        .iter()
        .zip(&problems)
        .find(|(_, (_, problem))| problem.is_empty())
    {
        if let Some(id) = v.get("id").and_then(Value::as_str) {
            return Ok(Variant {
                id: id.to_owned(),
                label: label.clone(),
            });
        }
    }
    let detail = if products.is_empty() {
        "the store lists no product: publish one in the publishable key's sales channel".to_owned()
    } else if variants.is_empty() {
        format!("{} product(s) but no variant", products.len())
    } else {
        let shown: Vec<String> = problems
            .iter()
            .take(3)
            .map(|(label, problem)| format!("{label} {problem}"))
            .collect();
        let more = problems.len().saturating_sub(3);
        let mut fixes = Vec::new();
        if problems.iter().any(|(_, p)| *p == OUT_OF_STOCK) {
            fixes.push("restock it in the admin (Inventory) or allow backorders");
        }
        if problems.iter().any(|(_, p)| *p == NO_PRICE) {
            fixes.push("give it a price in the store's region's currency");
        }
        format!(
            "{}{}{}{}",
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more variant(s)")
            } else {
                String::new()
            },
            if fixes.is_empty() { "" } else { ": " },
            fixes.join(", or ")
        )
    };
    Err(OrderCheckError::NothingToBuy { step: STEP, detail })
}

const OUT_OF_STOCK: &str = "is out of stock";
const NO_PRICE: &str = "has no price in the region";

/// Why a variant cannot be bought, if it cannot.
fn unbuyable(v: &Value) -> Option<&'static str> {
    if v.get("calculated_price").is_some_and(Value::is_null) {
        return Some(NO_PRICE);
    }
    let managed = v.get("manage_inventory").and_then(Value::as_bool) != Some(false);
    let backorder = v.get("allow_backorder").and_then(Value::as_bool) == Some(true);
    let quantity = v.get("inventory_quantity").and_then(Value::as_i64);
    if managed && !backorder && quantity.is_some_and(|q| q <= 0) {
        return Some(OUT_OF_STOCK);
    }
    if v.get("id").and_then(Value::as_str).is_none() {
        return Some("has no id");
    }
    None
}

/// `"Storefleet demo product" (SKU STOREFLEET-DEMO-1)` for messages.
fn variant_label(product: &Value, variant: &Value) -> String {
    let title = product
        .get("title")
        .and_then(Value::as_str)
        .or_else(|| variant.get("title").and_then(Value::as_str))
        .unwrap_or("a product");
    match variant
        .get("sku")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some(sku) => format!("{title:?} (SKU {sku})"),
        None => format!(
            "{title:?} (variant {})",
            variant.get("id").and_then(Value::as_str).unwrap_or("?")
        ),
    }
}

/// A flat-rate option first (a calculated one needs the provider to price it).
fn pick_shipping_option(body: &Value) -> Result<String, OrderCheckError> {
    const STEP: &str = "list_shipping_options";
    let options = body
        .get("shipping_options")
        .and_then(Value::as_array)
        .ok_or_else(|| missing(STEP, "/shipping_options", body))?;
    options
        .iter()
        .find(|o| o.get("price_type").and_then(Value::as_str) == Some("flat"))
        .or_else(|| options.first())
        .and_then(|o| o.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| OrderCheckError::Unexpected {
            step: STEP,
            detail: "no shipping option for the cart (service zone covering the address, \
                     option enabled in store, stock location linked to the sales channel?)"
                .into(),
        })
}

fn address_json(a: &Address) -> Value {
    json!({
        "first_name": address::FIRST_NAME,
        "last_name": address::LAST_NAME,
        "address_1": a.address_1,
        "city": a.city,
        "postal_code": a.postcode,
        "province": a.state,
        "country_code": a.country.to_ascii_lowercase(),
        "phone": address::PHONE,
    })
}

/// Whether order `order_id` exists, asked through Medusa's admin API with an admin's
/// e-mail/password (`POST /auth/user/emailpass` → bearer token → `GET /admin/orders/{id}`).
/// `Ok(false)` when the store answers 404 for the order; for everything else an
/// [`OrderCheckError::NotVerified`] that names the order.
pub async fn verify_order_via_admin(
    http: &reqwest::Client,
    base_url: &str,
    admin_email: &str,
    admin_password: &str,
    order_id: &str,
) -> Result<bool, OrderCheckError> {
    verify(http, base_url, admin_email, admin_password, order_id)
        .await
        .map_err(|cause| OrderCheckError::NotVerified {
            order_id: order_id.to_owned(),
            cause: Box::new(cause),
        })
}

async fn verify(
    http: &reqwest::Client,
    base_url: &str,
    admin_email: &str,
    admin_password: &str,
    order_id: &str,
) -> Result<bool, OrderCheckError> {
    let base = http::base_url(base_url)?;
    let login = call(
        "admin_login",
        http.post(format!("{base}/auth/user/emailpass"))
            .json(&json!({"email": admin_email, "password": admin_password})),
    )
    .await?;
    let token = str_at("admin_login", &login.body, "/token")?;
    let order = call(
        "admin_get_order",
        http.get(format!("{base}/admin/orders/{order_id}"))
            .query(&[("fields", "id,email,status")])
            .bearer_auth(token),
    )
    .await;
    match order {
        Ok(reply) => Ok(reply.body.pointer("/order/id").and_then(Value::as_str) == Some(order_id)),
        Err(OrderCheckError::Status { status: 404, .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_cart_reports_the_engines_message() {
        let body = json!({"type": "cart", "cart": {"id": "cart_1"},
            "error": {"message": "Payment authorization failed", "name": "Error", "type": "payment_authorization_error"}});
        let e = completed_order(&body).unwrap_err();
        assert_eq!(
            e.to_string(),
            "complete_cart refused the order: Payment authorization failed"
        );
        assert_eq!(
            completed_order(&json!({"type": "order", "order": {"id": "order_1"}})).unwrap(),
            "order_1"
        );
        assert!(completed_order(&json!({"type": "order"})).is_err());
        assert!(completed_order(&json!({})).is_err());
    }

    #[test]
    fn regions_are_picked_by_addressable_country() {
        let body = json!({"regions": [
            {"id": "reg_x", "name": "Far", "countries": [{"iso_2": "zz"}]},
            {"id": "reg_eu", "name": "EU", "countries": [{"iso_2": "gb"}, {"iso_2": "de"}]},
        ]});
        let (id, addr) = pick_region(&body).unwrap();
        assert_eq!((id.as_str(), addr.country), ("reg_eu", "DE"));
        let e = pick_region(
            &json!({"regions": [{"id": "reg_x", "name": "Far", "countries": [{"iso_2": "zz"}]}]}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("Far [zz]"), "{e}");
        assert!(pick_region(&json!({"regions": []}))
            .unwrap_err()
            .to_string()
            .contains("no region"));
    }

    #[test]
    fn the_demo_variant_wins_then_any_priced_one() {
        let body = json!({"products": [
            {"id": "p1", "variants": [{"id": "v_unpriced", "sku": "X", "calculated_price": null},
                                      {"id": "v_priced", "sku": "Y", "calculated_price": {"calculated_amount": 5}}]},
            {"id": "p2", "variants": [{"id": "v_demo", "sku": "STOREFLEET-DEMO-1", "calculated_price": {"calculated_amount": 20}}]},
        ]});
        assert_eq!(pick_variant(&body).unwrap().id, "v_demo");
        let body = json!({"products": [{"id": "p1", "variants": [
            {"id": "v_unpriced", "calculated_price": null}, {"id": "v_priced", "calculated_price": {}}]}]});
        assert_eq!(pick_variant(&body).unwrap().id, "v_priced");
        assert!(pick_variant(&json!({"products": []}))
            .unwrap_err()
            .to_string()
            .contains("sales channel"));
    }

    #[test]
    fn flat_shipping_options_first() {
        let body = json!({"shipping_options": [
            {"id": "so_calc", "price_type": "calculated"}, {"id": "so_flat", "price_type": "flat"}]});
        assert_eq!(pick_shipping_option(&body).unwrap(), "so_flat");
        assert!(pick_shipping_option(&json!({"shipping_options": []})).is_err());
    }

    #[test]
    fn stock_decides_which_variant_is_bought() {
        let product = |variants: Value| json!({"products": [{"id": "p1", "title": "Demo", "variants": variants}]});
        // The demo variant without stock loses to another one with stock.
        let body = json!({"products": [
            {"id": "p1", "title": "Demo", "variants": [{"id": "v_demo", "sku": "STOREFLEET-DEMO-1",
                "manage_inventory": true, "allow_backorder": false, "inventory_quantity": 0, "calculated_price": {}}]},
            {"id": "p2", "title": "Mug", "variants": [{"id": "v_mug", "sku": "MUG",
                "manage_inventory": true, "inventory_quantity": 3, "calculated_price": {}}]},
        ]});
        let v = pick_variant(&body).unwrap();
        assert_eq!(
            (v.id.as_str(), v.label.as_str()),
            ("v_mug", "\"Mug\" (SKU MUG)")
        );
        // Backorders or no inventory management: buyable at 0.
        for extra in [
            json!({"allow_backorder": true}),
            json!({"manage_inventory": false}),
        ] {
            let mut variant = json!({"id": "v_demo", "sku": "STOREFLEET-DEMO-1", "inventory_quantity": 0, "calculated_price": {}});
            for (k, val) in extra.as_object().unwrap() {
                variant[k] = val.clone();
            }
            assert_eq!(
                pick_variant(&product(json!([variant]))).unwrap().id,
                "v_demo"
            );
        }
        // No quantity in the answer (older Medusa, no stock location): assume buyable.
        assert_eq!(
            pick_variant(&product(json!([{"id": "v1", "calculated_price": {}}])))
                .unwrap()
                .id,
            "v1"
        );
        let e = pick_variant(&product(json!([
            {"id": "v_demo", "sku": "STOREFLEET-DEMO-1", "inventory_quantity": 0, "calculated_price": {}},
            {"id": "v_x", "sku": "X", "calculated_price": null}
        ])))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "find_variant: no product can be bought: \"Demo\" (SKU STOREFLEET-DEMO-1) is out of stock; \"Demo\" (SKU X) has no price in the region: restock it in the admin (Inventory) or allow backorders, or give it a price in the store's region's currency"
        );
        assert!(matches!(e, OrderCheckError::NothingToBuy { .. }));
    }

    #[test]
    fn medusa_stock_errors_become_out_of_stock() {
        let variant = Variant {
            id: "v1".into(),
            label: "\"Demo\" (SKU D)".into(),
        };
        let e = out_of_stock(
            "add_line_item",
            &variant,
            OrderCheckError::Status {
                step: "add_line_item",
                status: 400,
                message: "Some variant does not have the required inventory".into(),
                code: Some("not_allowed".into()),
            },
        );
        assert!(
            matches!(
                e,
                OrderCheckError::NothingToBuy {
                    step: "add_line_item",
                    ..
                }
            ),
            "{e:?}"
        );
        let other = OrderCheckError::Status {
            step: "add_line_item",
            status: 400,
            message: "Cart is already completed".into(),
            code: None,
        };
        assert_eq!(
            out_of_stock("add_line_item", &variant, other.clone()),
            other
        );
    }
}
