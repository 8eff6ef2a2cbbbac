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

    let variant_id = run
        .step("find_variant", async {
            const STEP: &str = "find_variant";
            let reply = call(
                STEP,
                store.get("/store/products").query(&[
                    ("fields", "*variants,*variants.calculated_price"),
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
                &json!({"variant_id": variant_id, "quantity": 1}),
            ),
        )
        .await?;
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
        .await?;
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
                http::snippet(body.to_string().as_bytes())
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

/// The demo product's variant (SKU `STOREFLEET-DEMO-1`), else the first variant with a
/// price in the region.
fn pick_variant(body: &Value) -> Result<String, OrderCheckError> {
    const STEP: &str = "find_variant";
    let products = body
        .get("products")
        .and_then(Value::as_array)
        .ok_or_else(|| missing(STEP, "/products", body))?;
    let variants: Vec<&Value> = products
        .iter()
        .filter_map(|p| p.get("variants").and_then(Value::as_array))
        .flatten()
        .collect();
    let priced = |v: &&&Value| v.get("calculated_price").is_none_or(|p| !p.is_null());
    variants
        .iter()
        .find(|v| v.get("sku").and_then(Value::as_str) == Some(DEMO_PRODUCT_SKU))
        .or_else(|| variants.iter().find(priced))
        .and_then(|v| v.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| OrderCheckError::Unexpected {
            step: STEP,
            detail: if products.is_empty() {
                "no product in the publishable key's sales channel".to_owned()
            } else {
                format!(
                    "no variant with a price in the region among {} product(s)",
                    products.len()
                )
            },
        })
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
/// `Ok(false)` when the store answers 404 for the order; errors for everything else.
pub async fn verify_order_via_admin(
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
        assert_eq!(pick_variant(&body).unwrap(), "v_demo");
        let body = json!({"products": [{"id": "p1", "variants": [
            {"id": "v_unpriced", "calculated_price": null}, {"id": "v_priced", "calculated_price": {}}]}]});
        assert_eq!(pick_variant(&body).unwrap(), "v_priced");
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
}
