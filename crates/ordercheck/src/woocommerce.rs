//! WooCommerce Store API (`/wp-json/wc/store/v1`): cart token → product → add item →
//! checkout with cash on delivery.
//!
//! Shapes as documented by WooCommerce (`src/StoreApi/docs/{cart,cart-tokens,checkout,
//! products}.md`): every `/cart` answer carries a `Cart-Token` header; sending it back
//! identifies the cart and replaces the nonce; errors are WordPress REST errors
//! `{"code": "...", "message": "...", "data": {"status": 400}}`; `POST /checkout` answers
//! with the order: `{"order_id": 146, "status": "processing", "payment_result": {...}}`.

use crate::address::{self, Address};
use crate::http::{self, call, missing};
use crate::{OrderCheckError, Run, DEMO_PRODUCT_SKU};
use serde_json::{json, Value};

pub(crate) const CART_TOKEN: &str = "Cart-Token";

/// Order statuses that mean the order was taken (cash on delivery gives `processing`;
/// stores with other defaults may leave it `on-hold` or `pending`).
const TAKEN: &[&str] = &["processing", "on-hold", "pending", "completed"];

pub(crate) async fn place_order(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    run: &mut Run,
) -> Result<String, OrderCheckError> {
    let api = format!("{base}/wp-json/wc/store/v1");

    let (mut token, cart) = run
        .step("cart", async {
            let reply = call("cart", http.get(format!("{api}/cart"))).await?;
            let token = cart_token(&reply.headers).ok_or_else(|| OrderCheckError::Unexpected {
                step: "cart",
                detail: "no Cart-Token header (a WooCommerce Store API answers GET /cart with one)"
                    .into(),
            })?;
            Ok((token, reply.body))
        })
        .await?;
    let addr = store_address(&cart);

    let product_id = run.step("find_product", find_product(http, &api)).await?;

    run.step("add_item", async {
        let reply = call(
            "add_item",
            http.post(format!("{api}/cart/add-item"))
                .header(CART_TOKEN, &token)
                .json(&json!({"id": product_id, "quantity": 1})),
        )
        .await
        .map_err(|e| cannot_buy("add_item", e))?;
        let count = reply.body.get("items_count").and_then(Value::as_u64);
        let items = reply
            .body
            .get("items")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if count == Some(0) || (count.is_none() && items == 0) {
            return Err(OrderCheckError::Unexpected {
                step: "add_item",
                detail: format!("the cart is still empty after adding product {product_id}"),
            });
        }
        // The token identifies the same cart; take a renewed one when the store sends it.
        if let Some(renewed) = cart_token(&reply.headers) {
            token = renewed;
        }
        Ok(())
    })
    .await?;

    run.step("checkout", async {
        let billing = address_json(&addr, Some(email));
        let shipping = address_json(&addr, None);
        let reply = call(
            "checkout",
            http.post(format!("{api}/checkout"))
                .header(CART_TOKEN, &token)
                .json(&json!({
                    "billing_address": billing,
                    "shipping_address": shipping,
                    "customer_note": "Storefleet order check (automated test order)",
                    "payment_method": "cod",
                })),
        )
        .await
        .map_err(http::placing(email))
        .map_err(|e| cannot_buy("checkout", e))?;
        checked_order(&reply.body)
    })
    .await
}

/// The order id from a checkout answer, if the order was taken.
fn checked_order(body: &Value) -> Result<String, OrderCheckError> {
    let order_id = match body.get("order_id") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => n.to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return Err(missing("checkout", "/order_id", body)),
    };
    let status = body.get("status").and_then(Value::as_str).unwrap_or("");
    let payment = body
        .pointer("/payment_result/payment_status")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !TAKEN.contains(&status) || matches!(payment, "failure" | "error") {
        return Err(OrderCheckError::Unexpected {
            step: "checkout",
            detail: format!(
                "order {order_id} has status {:?} (payment status {:?}); want one of {}",
                status,
                payment,
                TAKEN.join(", ")
            ),
        });
    }
    Ok(order_id)
}

fn cart_token(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(CART_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// A country the store ships to: the new cart's default customer country (WooCommerce
/// fills it from the store's base location), when the check knows an address there.
fn store_address(cart: &Value) -> Address {
    ["/shipping_address/country", "/billing_address/country"]
        .iter()
        .filter_map(|p| cart.pointer(p).and_then(Value::as_str))
        .find_map(address::for_country)
        .unwrap_or_else(address::default)
}

fn address_json(a: &Address, email: Option<&str>) -> Value {
    let mut v = json!({
        "first_name": address::FIRST_NAME,
        "last_name": address::LAST_NAME,
        "company": "",
        "address_1": a.address_1,
        "address_2": "",
        "city": a.city,
        "state": a.state,
        "postcode": a.postcode,
        "country": a.country,
        "phone": address::PHONE,
    });
    if let (Some(email), Some(obj)) = (email, v.as_object_mut()) {
        obj.insert("email".into(), Value::String(email.to_owned()));
    }
    v
}

/// WooCommerce refusing the product itself (out of stock, not purchasable) becomes
/// [`OrderCheckError::NothingToBuy`] with the engine's own message.
fn cannot_buy(step: &'static str, e: OrderCheckError) -> OrderCheckError {
    match &e {
        OrderCheckError::Status {
            message,
            code: Some(code),
            ..
        } if code.contains("out_of_stock")
            || code.contains("not_purchasable")
            || code.contains("no_stock") =>
        {
            OrderCheckError::NothingToBuy {
                step,
                detail: format!(
                    "{message} (restock the product, or make it purchasable: published, with a price)"
                ),
            }
        }
        _ => e,
    }
}

/// The demo product by SKU, else the first purchasable, in-stock simple product. When there
/// is none, the error says why the products that exist cannot be bought.
async fn find_product(http: &reqwest::Client, api: &str) -> Result<u64, OrderCheckError> {
    const STEP: &str = "find_product";
    let by_sku = call(
        STEP,
        http.get(format!("{api}/products"))
            .query(&[("sku", DEMO_PRODUCT_SKU), ("per_page", "1")]),
    )
    .await?;
    let is_demo = |p: &&Value| p.get("sku").and_then(Value::as_str) == Some(DEMO_PRODUCT_SKU);
    let demo: Vec<&Value> = products(&by_sku.body, STEP)?
        .iter()
        .filter(is_demo)
        .collect();
    if let Some(id) = demo.iter().find_map(|p| purchasable(p).ok()) {
        return Ok(id);
    }
    let any = call(
        STEP,
        http.get(format!("{api}/products"))
            .query(&[("per_page", "20")]),
    )
    .await?;
    let all = products(&any.body, STEP)?;
    if let Some(id) = all.iter().find_map(|p| purchasable(p).ok()) {
        return Ok(id);
    }
    let demo_problem = demo.first().and_then(|p| {
        purchasable(p)
            .err()
            .map(|why| format!("{} {why}", label(p)))
    });
    let others: Vec<String> = all
        .iter()
        .filter(|p| !is_demo(p))
        .filter_map(|p| {
            purchasable(p)
                .err()
                .map(|why| format!("{} {why}", label(p)))
        })
        .collect();
    let mut parts = Vec::new();
    match demo_problem {
        Some(problem) => parts.push(problem),
        None => parts.push(format!("there is no product with SKU {DEMO_PRODUCT_SKU}")),
    }
    if others.is_empty() {
        parts.push("no other product is listed".to_owned());
    } else {
        let more = others.len().saturating_sub(3);
        let mut shown = others.into_iter().take(3).collect::<Vec<_>>().join("; ");
        if more > 0 {
            shown.push_str(&format!("; and {more} more"));
        }
        parts.push(shown);
    }
    Err(OrderCheckError::NothingToBuy {
        step: STEP,
        detail: format!(
            "{}: restock a simple product, or make one purchasable (published, with a price)",
            parts.join("; ")
        ),
    })
}

fn products<'a>(body: &'a Value, step: &'static str) -> Result<&'a Vec<Value>, OrderCheckError> {
    body.as_array().ok_or_else(|| OrderCheckError::Unexpected {
        step,
        detail: format!(
            "want a JSON array of products, got {}",
            http::json_snippet(body)
        ),
    })
}

/// The product's id if the check can buy it (purchasable, in stock, simple, no options),
/// else why not.
fn purchasable(p: &Value) -> Result<u64, &'static str> {
    if p.get("is_purchasable").and_then(Value::as_bool) == Some(false) {
        return Err("is not purchasable (unpublished, or no price)");
    }
    if p.get("is_in_stock").and_then(Value::as_bool) == Some(false) {
        return Err("is out of stock");
    }
    if p.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "simple")
        || p.get("has_options").and_then(Value::as_bool) == Some(true)
    {
        return Err("needs options chosen (not a simple product)");
    }
    p.get("id").and_then(Value::as_u64).ok_or("has no id")
}

/// `"Storefleet demo product" (SKU STOREFLEET-DEMO-1, id 34)` for messages.
fn label(p: &Value) -> String {
    let name = p.get("name").and_then(Value::as_str).unwrap_or("a product");
    let id = p
        .get("id")
        .map(Value::to_string)
        .unwrap_or_else(|| "?".into());
    match p
        .get("sku")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some(sku) => format!("{:?} (SKU {sku}, id {id})", http::plain_text(name, 80)),
        None => format!("{:?} (id {id})", http::plain_text(name, 80)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_taken_orders_pass() {
        assert_eq!(
            checked_order(&json!({"order_id": 146, "status": "processing",
                "payment_result": {"payment_status": "success"}}))
            .unwrap(),
            "146"
        );
        let e = checked_order(&json!({"order_id": 146, "status": "failed",
            "payment_result": {"payment_status": "failure"}}))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "checkout: unexpected response: order 146 has status \"failed\" (payment status \"failure\"); want one of processing, on-hold, pending, completed"
        );
        assert!(checked_order(&json!({"status": "processing"})).is_err());
    }

    #[test]
    fn the_store_country_picks_the_address() {
        let cart =
            json!({"shipping_address": {"country": "AT"}, "billing_address": {"country": "AT"}});
        assert_eq!(store_address(&cart).country, "AT");
        assert_eq!(
            store_address(&json!({"shipping_address": {"country": ""}})).country,
            "DE"
        );
        assert_eq!(store_address(&json!({})).country, "DE");
    }

    #[test]
    fn products_are_filtered_to_purchasable_simple_ones() {
        let body = json!([
            {"id": 1, "type": "variable", "is_purchasable": true, "is_in_stock": true, "has_options": true},
            {"id": 2, "type": "simple", "is_purchasable": false, "is_in_stock": true},
            {"id": 3, "type": "simple", "is_purchasable": true, "is_in_stock": false},
            {"id": 4, "type": "simple", "is_purchasable": true, "is_in_stock": true, "has_options": false},
        ]);
        let list = products(&body, "find_product").unwrap();
        let verdicts: Vec<Result<u64, &str>> = list.iter().map(purchasable).collect();
        assert_eq!(
            verdicts,
            [
                Err("needs options chosen (not a simple product)"),
                Err("is not purchasable (unpublished, or no price)"),
                Err("is out of stock"),
                Ok(4)
            ]
        );
        assert!(products(&json!({"code": "x"}), "find_product").is_err());
    }
}
