#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The order-check clients against in-process fakes that answer with bodies shaped as
//! each engine's Store API documents them (WooCommerce: `src/StoreApi/docs/*.md`;
//! Medusa 2.x: its store routes and error handler), including their error bodies.
//! These check the client's decisions — which requests, which headers, which error text —
//! not the engines; the real engines are covered by `medusa_native.rs` and
//! `woocommerce_real.rs`.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
mod common;
use common::cutting_proxy;
use storefleet_ordercheck::{
    is_test_order_email, place_test_order, verify_order_via_admin, Engine, OrderCheckError,
    StoreCredentials, Target,
};

// ---- a recording fake server ----------------------------------------------------------

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn ok(body: Value) -> Answer {
    with_status(200, body)
}

fn with_status(status: u16, body: Value) -> Answer {
    Answer {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string(),
    }
}

impl Answer {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

struct Fake {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn fake(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Fake {
    let handler: Handler = Arc::new(handler);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let handler = handler.clone();
            let recorder = recorder.clone();
            async move {
                let request = Seen {
                    method,
                    path: uri.path().to_owned(),
                    query: uri.query().unwrap_or("").to_owned(),
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                };
                recorder.lock().unwrap().push(request.clone());
                let answer = handler(&request);
                let mut response: Response =
                    (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
                for (name, value) in answer.headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake {
        base: format!("http://{addr}"),
        seen,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

// ---- WooCommerce Store API -------------------------------------------------------------

const WOO: &str = "/wp-json/wc/store/v1";
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoidF8xMjMifQ.c2ln";

fn woo_totals() -> Value {
    json!({
        "total_items": "2000", "total_items_tax": "0", "total_fees": "0", "total_fees_tax": "0",
        "total_discount": "0", "total_discount_tax": "0", "total_shipping": null,
        "total_shipping_tax": null, "total_price": "2000", "total_tax": "0", "tax_lines": [],
        "currency_code": "EUR", "currency_symbol": "€", "currency_minor_unit": 2,
        "currency_decimal_separator": ",", "currency_thousand_separator": ".",
        "currency_prefix": "", "currency_suffix": " €"
    })
}

fn woo_address(country: &str, email: bool) -> Value {
    let mut a = json!({"first_name": "", "last_name": "", "company": "", "address_1": "",
        "address_2": "", "city": "", "state": "", "postcode": "", "country": country, "phone": ""});
    if email {
        a["email"] = json!("");
    }
    a
}

/// The documented cart response (GET /cart, POST /cart/add-item).
fn woo_cart(items: Vec<Value>) -> Value {
    json!({
        "items": items.clone(),
        "coupons": [], "fees": [], "totals": woo_totals(),
        "shipping_address": woo_address("DE", false),
        "billing_address": woo_address("DE", true),
        "needs_payment": !items.is_empty(), "needs_shipping": !items.is_empty(),
        "payment_requirements": ["products"], "has_calculated_shipping": false,
        "shipping_rates": [], "items_count": items.len(), "items_weight": 0,
        "cross_sells": [], "errors": [], "payment_methods": ["cod"], "extensions": {}
    })
}

fn woo_item() -> Value {
    json!({
        "key": "a5771bce93e200c36f7cd9dfd0e5deaa", "id": 34, "type": "simple", "quantity": 1,
        "quantity_limits": {"minimum": 1, "maximum": 9999, "multiple_of": 1, "editable": true},
        "name": "Storefleet demo product", "sku": "STOREFLEET-DEMO-1",
        "low_stock_remaining": null, "backorders_allowed": false, "show_backorder_badge": false,
        "sold_individually": false, "images": [], "variation": [], "item_data": [],
        "prices": {"price": "2000", "regular_price": "2000", "sale_price": "2000", "price_range": null,
            "currency_code": "EUR", "currency_minor_unit": 2},
        "totals": {"line_subtotal": "2000", "line_subtotal_tax": "0", "line_total": "2000",
            "line_total_tax": "0", "currency_code": "EUR", "currency_minor_unit": 2},
        "catalog_visibility": "visible", "extensions": {}
    })
}

/// The documented product response (GET /products).
fn woo_product(id: u64, sku: &str, purchasable: bool, in_stock: bool, kind: &str) -> Value {
    json!({
        "id": id, "name": "Storefleet demo product", "slug": "storefleet-demo-product",
        "parent": 0, "type": kind, "variation": "",
        "permalink": "http://store.test/product/storefleet-demo-product/", "sku": sku,
        "short_description": "", "description": "", "on_sale": false,
        "prices": {"price": "2000", "regular_price": "2000", "sale_price": "2000",
            "price_range": null, "currency_code": "EUR", "currency_minor_unit": 2},
        "price_html": "", "average_rating": "0", "review_count": 0, "images": [],
        "categories": [], "tags": [], "brands": [], "attributes": [], "variations": [],
        "has_options": kind != "simple", "is_purchasable": purchasable, "is_in_stock": in_stock,
        "is_on_backorder": false, "low_stock_remaining": null, "sold_individually": false,
        "add_to_cart": {"text": "Add to cart", "description": "", "url": "", "minimum": 1,
            "maximum": 9999, "multiple_of": 1},
        "extensions": {}
    })
}

/// The documented checkout response (POST /checkout).
fn woo_order(status: &str, payment_status: &str, email: &str) -> Value {
    let mut billing = woo_address("DE", true);
    billing["email"] = json!(email);
    json!({
        "order_id": 146, "status": status, "order_key": "wc_order_VPffqyvgWVqWL",
        "order_number": "146", "customer_note": "", "customer_id": 0,
        "billing_address": billing, "shipping_address": woo_address("DE", false),
        "payment_method": "cod",
        "payment_result": {"payment_status": payment_status, "payment_details": [],
            "redirect_url": "http://store.test/checkout/order-received/146/?key=wc_order_VPffqyvgWVqWL"}
    })
}

fn woo_error(status: u16, code: &str, message: &str) -> Answer {
    with_status(
        status,
        json!({"code": code, "message": message, "data": {"status": status}}),
    )
}

/// A WooCommerce store that behaves like the real one: carts are identified by the
/// Cart-Token, writes without one are refused with the documented 401.
fn woo_store(
    checkout: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) -> impl Fn(&Seen) -> Answer + Send + Sync + 'static {
    move |req: &Seen| {
        let path = req.path.strip_prefix(WOO).unwrap_or(&req.path);
        let has_token = req.header("cart-token") == Some(TOKEN);
        match (req.method.as_str(), path) {
            ("GET", "/cart") => ok(woo_cart(vec![])).header("Cart-Token", TOKEN),
            ("GET", "/products") if req.query.contains("sku=STOREFLEET-DEMO-1") => {
                ok(json!([woo_product(
                    34,
                    "STOREFLEET-DEMO-1",
                    true,
                    true,
                    "simple"
                )]))
            }
            ("POST", _) if !has_token => woo_error(
                401,
                "woocommerce_rest_missing_nonce",
                "Missing the Nonce header. This endpoint requires a valid nonce.",
            ),
            ("POST", "/cart/add-item") => {
                if req.body["id"] == json!(34) && req.body["quantity"] == json!(1) {
                    ok(woo_cart(vec![woo_item()])).header("Cart-Token", TOKEN)
                } else {
                    woo_error(
                        400,
                        "woocommerce_rest_cart_invalid_product",
                        "This product cannot be added to the cart.",
                    )
                }
            }
            ("POST", "/checkout") => checkout(req),
            _ => woo_error(
                404,
                "rest_no_route",
                "No route was found matching the URL and request method.",
            ),
        }
    }
}

fn woo_target(base: &str) -> Target {
    Target::new(
        Engine::Woocommerce,
        format!("{base}/"),
        StoreCredentials::default(),
    )
}

#[tokio::test]
async fn woocommerce_happy_path_sends_the_cart_token_and_cash_on_delivery() {
    let store = fake(woo_store(|req| {
        ok(woo_order(
            "processing",
            "success",
            req.body["billing_address"]["email"].as_str().unwrap(),
        ))
    }))
    .await;
    let report = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap();

    assert_eq!(report.order_id, "146");
    assert!(is_test_order_email(&report.email), "{}", report.email);
    let steps: Vec<&str> = report.steps.iter().map(|s| s.step).collect();
    assert_eq!(steps, ["cart", "find_product", "add_item", "checkout"]);
    assert!(report.total >= report.steps.iter().map(|s| s.duration).sum());

    let seen = store.seen();
    let calls: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /wp-json/wc/store/v1/cart",
            "GET /wp-json/wc/store/v1/products",
            "POST /wp-json/wc/store/v1/cart/add-item",
            "POST /wp-json/wc/store/v1/checkout",
        ]
    );
    assert!(seen[0].header("cart-token").is_none());
    for write in &seen[2..] {
        assert_eq!(write.header("cart-token"), Some(TOKEN), "{}", write.path);
        assert!(write.header("nonce").is_none());
    }
    assert!(
        seen[1].query.contains("sku=STOREFLEET-DEMO-1"),
        "{}",
        seen[1].query
    );
    let checkout = &seen[3].body;
    assert_eq!(checkout["payment_method"], "cod");
    assert_eq!(checkout["billing_address"]["email"], report.email.as_str());
    assert_eq!(checkout["billing_address"]["country"], "DE");
    assert_eq!(checkout["billing_address"]["postcode"], "10115");
    assert_eq!(checkout["shipping_address"]["country"], "DE");
    assert!(checkout["shipping_address"].get("email").is_none());
}

#[tokio::test]
async fn woocommerce_checkout_errors_carry_the_engines_message() {
    // The brief's example shape and the message real WooCommerce (Checkout route) sends.
    let cases = [
        (
            woo_error(400, "woocommerce_rest_invalid_payment_method", "Invalid payment method."),
            "checkout returned 400: Invalid payment method.",
            "woocommerce_rest_invalid_payment_method",
        ),
        (
            woo_error(400, "woocommerce_rest_checkout_payment_method_disabled", "The cod payment gateway is not available."),
            "checkout returned 400: The cod payment gateway is not available.",
            "woocommerce_rest_checkout_payment_method_disabled",
        ),
        (
            woo_error(400, "woocommerce_rest_cart_empty", "Cannot create order from empty cart."),
            "checkout returned 400: Cannot create order from empty cart.",
            "woocommerce_rest_cart_empty",
        ),
        (
            with_status(400, json!({"code": "rest_invalid_param", "message": "Invalid parameter(s): billing_address",
                "data": {"status": 400, "params": {"billing_address": "Please provide a valid email address"},
                    "details": {"billing_address": {"code": "rest_invalid_email", "message": "Please provide a valid email address", "data": null}}}})),
            "checkout returned 400: Invalid parameter(s): billing_address (billing_address: Please provide a valid email address)",
            "rest_invalid_param",
        ),
    ];
    for (answer, want, want_code) in cases {
        let answer = Arc::new(Mutex::new(Some(answer)));
        let store = fake(woo_store(move |_| answer.lock().unwrap().take().unwrap())).await;
        let err = place_test_order(&client(), &woo_target(&store.base))
            .await
            .unwrap_err();
        assert_eq!(err.error.to_string(), want);
        assert_eq!(err.step(), Some("checkout"));
        assert_eq!(err.http_status(), Some(400));
        match err.error {
            OrderCheckError::Status { code, .. } => assert_eq!(code.as_deref(), Some(want_code)),
            other => panic!("want a status error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn woocommerce_without_a_cart_token_stops_at_the_cart_step() {
    // e.g. a WordPress whose Store API is hidden behind a caching proxy that strips headers
    let store = fake(|req: &Seen| {
        if req.path.ends_with("/cart") {
            ok(woo_cart(vec![]))
        } else {
            panic!("no request after a cart without token, got {}", req.path)
        }
    })
    .await;
    let err = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "cart: unexpected response: no Cart-Token header (a WooCommerce Store API answers GET /cart with one)"
    );
    assert_eq!(store.seen().len(), 1);
}

#[tokio::test]
async fn woocommerce_store_refusing_the_token_reports_its_401() {
    // The store hands out a token but does not accept it back (e.g. another WordPress
    // behind the same host): the write fails with WooCommerce's own missing-nonce error.
    let store = fake(|req: &Seen| {
        let path = req.path.strip_prefix(WOO).unwrap_or(&req.path);
        match path {
            "/cart" => ok(woo_cart(vec![])).header("Cart-Token", "some-other-token"),
            "/products" => ok(json!([woo_product(
                34,
                "STOREFLEET-DEMO-1",
                true,
                true,
                "simple"
            )])),
            _ => woo_error(
                401,
                "woocommerce_rest_missing_nonce",
                "Missing the Nonce header. This endpoint requires a valid nonce.",
            ),
        }
    })
    .await;
    let err = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "add_item returned 401: Missing the Nonce header. This endpoint requires a valid nonce."
    );
    assert_eq!(
        store.seen()[2].header("cart-token"),
        Some("some-other-token")
    );
}

#[tokio::test]
async fn woocommerce_without_the_demo_sku_takes_the_first_purchasable_product() {
    let store = fake(|req: &Seen| {
        let path = req.path.strip_prefix(WOO).unwrap_or(&req.path);
        match (req.method.as_str(), path) {
            ("GET", "/cart") => ok(woo_cart(vec![])).header("Cart-Token", TOKEN),
            ("GET", "/products") if req.query.contains("sku=") => ok(json!([])),
            ("GET", "/products") => ok(json!([
                woo_product(7, "HOODIE", true, true, "variable"),
                woo_product(8, "SOLD-OUT", true, false, "simple"),
                woo_product(9, "BEANIE", true, true, "simple"),
            ])),
            ("POST", "/cart/add-item") => {
                assert_eq!(req.body["id"], 9);
                ok(woo_cart(vec![woo_item()]))
            }
            ("POST", "/checkout") => {
                ok(woo_order("on-hold", "success", "x@storefleet.example.com"))
            }
            _ => woo_error(
                404,
                "rest_no_route",
                "No route was found matching the URL and request method.",
            ),
        }
    })
    .await;
    let report = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap();
    assert_eq!(report.order_id, "146");
    assert_eq!(store.seen().len(), 5);
}

#[tokio::test]
async fn woocommerce_with_nothing_to_buy_says_so() {
    let store = fake(|req: &Seen| {
        if req.path.ends_with("/cart") {
            ok(woo_cart(vec![])).header("Cart-Token", TOKEN)
        } else {
            ok(json!([woo_product(8, "SOLD-OUT", true, false, "simple")]))
        }
    })
    .await;
    let err = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "find_product: no product can be bought: there is no product with SKU STOREFLEET-DEMO-1; \"Storefleet demo product\" (SKU SOLD-OUT, id 8) is out of stock: restock a simple product, or make one purchasable (published, with a price)"
    );
}

#[tokio::test]
async fn woocommerce_sold_out_demo_product_is_out_of_stock_not_missing() {
    let store = fake(|req: &Seen| {
        let path = req.path.strip_prefix(WOO).unwrap_or(&req.path);
        match path {
            "/cart" => ok(woo_cart(vec![])).header("Cart-Token", TOKEN),
            "/products" if req.query.contains("sku=") => ok(json!([woo_product(
                34,
                "STOREFLEET-DEMO-1",
                true,
                false,
                "simple"
            )])),
            "/products" => ok(json!([
                woo_product(34, "STOREFLEET-DEMO-1", true, false, "simple"),
                woo_product(7, "HOODIE", true, true, "variable"),
            ])),
            _ => panic!("nothing to add, got {}", req.path),
        }
    })
    .await;
    let err = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "find_product: no product can be bought: \"Storefleet demo product\" (SKU STOREFLEET-DEMO-1, id 34) is out of stock; \"Storefleet demo product\" (SKU HOODIE, id 7) needs options chosen (not a simple product): restock a simple product, or make one purchasable (published, with a price)"
    );
    let text = err.to_string();
    assert!(
        !text.contains("missing") && !text.contains("not found"),
        "{text}"
    );
    assert!(matches!(
        err.error,
        OrderCheckError::NothingToBuy {
            step: "find_product",
            ..
        }
    ));
}

#[tokio::test]
async fn woocommerce_refusing_a_sold_out_product_says_so() {
    // The listing still says in stock (cached), adding it finds the stock gone.
    let inner = woo_store(|_| panic!("no checkout after a refused item"));
    let store = fake(move |req: &Seen| {
        if req.path.ends_with("/cart/add-item") {
            woo_error(
                400,
                "woocommerce_rest_product_out_of_stock",
                "You cannot add &quot;Storefleet demo product&quot; to the cart because the product is out of stock.",
            )
        } else {
            inner(req)
        }
    })
    .await;
    let err = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "add_item: no product can be bought: You cannot add \"Storefleet demo product\" to the cart because the product is out of stock. (restock the product, or make it purchasable: published, with a price)"
    );
}

#[tokio::test]
async fn woocommerce_failed_order_status_is_not_a_pass() {
    let store = fake(woo_store(|_| {
        ok(woo_order("failed", "failure", "x@storefleet.example.com"))
    }))
    .await;
    let err = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap_err();
    assert!(
        err.error
            .to_string()
            .starts_with("checkout: unexpected response: order 146 has status \"failed\""),
        "{err}"
    );
}

#[tokio::test]
async fn woocommerce_connection_lost_at_checkout_says_an_order_may_exist() {
    let store = fake(woo_store(|req| {
        ok(woo_order(
            "processing",
            "success",
            req.body["billing_address"]["email"].as_str().unwrap(),
        ))
    }))
    .await;
    let proxy = cutting_proxy(&store.base, "/checkout").await;
    let err = place_test_order(&client(), &woo_target(&proxy))
        .await
        .unwrap_err();
    // The store did get the checkout (and took the order).
    let seen = store.seen();
    let checkout = seen.iter().find(|s| s.path.ends_with("/checkout")).unwrap();
    let email = checkout.body["billing_address"]["email"].as_str().unwrap();
    match &err.error {
        OrderCheckError::OutcomeUnknown { email: e, cause } => {
            assert_eq!(e, email);
            assert!(
                matches!(
                    **cause,
                    OrderCheckError::Transport {
                        step: "checkout",
                        maybe_delivered: true,
                        ..
                    }
                ),
                "{cause:?}"
            );
        }
        other => panic!("want an unknown outcome, got {other:?}"),
    }
    assert!(err.order_may_exist());
    assert_eq!(err.step(), Some("checkout"));
    let text = err.to_string();
    assert!(text.starts_with("checkout failed: "), "{text}");
    assert!(
        text.contains(&format!(
            "; it is UNKNOWN whether an order was placed (one may exist: look in the store's orders for one from {email})"
        )),
        "{text}"
    );
    // The step timings follow, the failed step last.
    let steps: Vec<&str> = err.steps.iter().map(|s| s.step).collect();
    assert_eq!(steps, ["cart", "find_product", "add_item", "checkout"]);
    assert!(text.contains(" (steps: cart "), "{text}");
    assert!(text.contains(" ms, checkout failed after "), "{text}");
    assert!(text.ends_with(" ms)"), "{text}");
}

#[tokio::test]
async fn woocommerce_critical_error_at_checkout_is_plain_text_and_unknown() {
    // WordPress's fatal-error handler answers the REST request with HTML in its message.
    let store = fake(woo_store(|_| {
        with_status(
            500,
            json!({"code": "internal_server_error",
                "message": "<p>There has been a critical error on this website.</p><p><a href=\"https://wordpress.org/documentation/article/faq-troubleshooting/\">Learn more about troubleshooting WordPress.</a></p>",
                "data": {"status": 500}, "additional_errors": []}),
        )
    }))
    .await;
    let err = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap_err();
    let text = err.error.to_string();
    assert!(
        text.starts_with("checkout returned 500: There has been a critical error on this website. Learn more about troubleshooting WordPress.; it is UNKNOWN whether an order was placed"),
        "{text}"
    );
    assert!(!text.contains('<') && !text.contains("&"), "{text}");
}

#[tokio::test]
async fn a_proxy_error_page_and_a_dead_port_are_reported_per_step() {
    let store = fake(|_: &Seen| Answer {
        status: 502,
        headers: vec![("content-type", "text/html".into())],
        body: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>".into(),
    })
    .await;
    let err = place_test_order(&client(), &woo_target(&store.base))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "cart returned 502: 502 Bad Gateway: nginx"
    );
    assert!(!err.order_may_exist());

    let port = storefleet_testkit::free_port().unwrap();
    let err = place_test_order(&client(), &woo_target(&format!("http://127.0.0.1:{port}")))
        .await
        .unwrap_err();
    let text = err.error.to_string();
    assert!(
        text.starts_with(
            "cart failed: cannot connect to the store (is it running, and reachable at this address?): "
        ),
        "{text}"
    );
    assert!(text.to_lowercase().contains("connect"), "{text}");
    assert!(matches!(
        err.error,
        OrderCheckError::Transport {
            step: "cart",
            maybe_delivered: false,
            ..
        }
    ));
    assert!(!err.order_may_exist());

    let err = place_test_order(&client(), &woo_target("not a url"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.error, OrderCheckError::InvalidTarget(_)),
        "{err:?}"
    );
}

// ---- Medusa v2 Store API -----------------------------------------------------------------

const PK: &str = "pk_01JQ4ZTESTKEY0123456789abcdef0123456789abcdef0123456789abcdef";

fn medusa_error(status: u16, kind: &str, message: &str) -> Answer {
    with_status(status, json!({"type": kind, "message": message}))
}

fn medusa_cart(extra: Value) -> Value {
    let mut cart = json!({
        "id": "cart_01JQ5CART", "currency_code": "eur", "region_id": "reg_01JQ5EU",
        "sales_channel_id": "sc_01JQ5DEFAULT", "email": null, "items": [],
        "shipping_methods": [], "shipping_address": null, "billing_address": null,
        "total": 0, "subtotal": 0, "tax_total": 0, "shipping_total": 0,
        "created_at": "2025-01-01T00:00:00.000Z", "updated_at": "2025-01-01T00:00:00.000Z"
    });
    if let (Some(c), Some(e)) = (cart.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    json!({ "cart": cart })
}

/// A Medusa store as its store routes answer; `complete` decides the last step.
fn medusa_store(
    complete: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) -> impl Fn(&Seen) -> Answer + Send + Sync + 'static {
    move |req: &Seen| {
        if req.path.starts_with("/store") && req.header("x-publishable-api-key") != Some(PK) {
            return if req.header("x-publishable-api-key").is_none() {
                medusa_error(400, "not_allowed", "Publishable API key required in the request header: x-publishable-api-key. You can manage your keys in settings in the dashboard.")
            } else {
                medusa_error(
                    400,
                    "not_allowed",
                    "A valid publishable key is required to proceed with the request",
                )
            };
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/store/regions") => ok(json!({
                "regions": [{"id": "reg_01JQ5EU", "name": "Storefleet region", "currency_code": "eur",
                    "created_at": "2025-01-01T00:00:00.000Z", "updated_at": "2025-01-01T00:00:00.000Z",
                    "deleted_at": null, "metadata": null,
                    "countries": [
                        {"id": "gb", "iso_2": "gb", "iso_3": "gbr", "num_code": "826", "name": "UNITED KINGDOM", "display_name": "United Kingdom", "region_id": "reg_01JQ5EU"},
                        {"id": "de", "iso_2": "de", "iso_3": "deu", "num_code": "276", "name": "GERMANY", "display_name": "Germany", "region_id": "reg_01JQ5EU"}
                    ]}],
                "count": 1, "offset": 0, "limit": 50
            })),
            ("POST", "/store/carts") => {
                assert_eq!(req.body, json!({"region_id": "reg_01JQ5EU"}));
                ok(medusa_cart(json!({})))
            }
            ("GET", "/store/products") => ok(json!({
                "products": [{"id": "prod_01JQ5DEMO", "title": "Storefleet demo product",
                    "handle": "storefleet-demo", "status": "published",
                    "options": [{"id": "opt_01", "title": "Edition", "values": [{"id": "optval_01", "value": "Standard"}]}],
                    "variants": [{"id": "variant_01JQ5STD", "title": "Standard", "sku": "STOREFLEET-DEMO-1",
                        "manage_inventory": true, "allow_backorder": false,
                        "options": [{"id": "optval_01", "value": "Standard"}],
                        "calculated_price": {"id": "pset_01", "calculated_amount": 20, "original_amount": 20,
                            "currency_code": "eur", "is_calculated_price_tax_inclusive": false}}]}],
                "count": 1, "offset": 0, "limit": 20
            })),
            ("POST", "/store/carts/cart_01JQ5CART/line-items") => {
                assert_eq!(
                    req.body,
                    json!({"variant_id": "variant_01JQ5STD", "quantity": 1})
                );
                ok(medusa_cart(
                    json!({"items": [{"id": "cali_01", "variant_id": "variant_01JQ5STD", "quantity": 1, "unit_price": 20}]}),
                ))
            }
            ("POST", "/store/carts/cart_01JQ5CART") => ok(medusa_cart(
                json!({"email": req.body["email"], "shipping_address": req.body["shipping_address"]}),
            )),
            ("GET", "/store/shipping-options") => {
                assert_eq!(req.query, "cart_id=cart_01JQ5CART");
                ok(
                    json!({"shipping_options": [{"id": "so_01JQ5STD", "name": "Standard shipping",
                    "price_type": "flat", "service_zone_id": "serzo_01", "shipping_profile_id": "sp_01",
                    "provider_id": "manual_manual", "shipping_option_type_id": "sotype_01",
                    "amount": 5, "is_tax_inclusive": false, "insufficient_inventory": false,
                    "calculated_price": {"calculated_amount": 5, "currency_code": "eur"}}]}),
                )
            }
            ("POST", "/store/carts/cart_01JQ5CART/shipping-methods") => {
                assert_eq!(req.body, json!({"option_id": "so_01JQ5STD"}));
                ok(medusa_cart(
                    json!({"shipping_methods": [{"id": "casm_01", "shipping_option_id": "so_01JQ5STD", "amount": 5}]}),
                ))
            }
            ("POST", "/store/payment-collections") => {
                assert_eq!(req.body, json!({"cart_id": "cart_01JQ5CART"}));
                ok(
                    json!({"payment_collection": {"id": "pay_col_01JQ5", "currency_code": "eur",
                    "amount": 25, "status": "not_paid", "payment_providers": []}}),
                )
            }
            ("POST", "/store/payment-collections/pay_col_01JQ5/payment-sessions") => {
                assert_eq!(req.body, json!({"provider_id": "pp_system_default"}));
                ok(
                    json!({"payment_collection": {"id": "pay_col_01JQ5", "currency_code": "eur",
                    "amount": 25, "status": "not_paid",
                    "payment_sessions": [{"id": "payses_01", "amount": 25, "currency_code": "eur",
                        "provider_id": "pp_system_default", "data": {}, "status": "pending"}]}}),
                )
            }
            ("POST", "/store/carts/cart_01JQ5CART/complete") => complete(req),
            _ => medusa_error(
                404,
                "not_found",
                &format!("{} {} not found", req.method, req.path),
            ),
        }
    }
}

fn medusa_target(base: &str, key: Option<&str>) -> Target {
    Target::new(
        Engine::Medusa,
        base,
        StoreCredentials {
            publishable_key: key.map(str::to_owned),
            admin_email: Some("admin@storefleet.example.com".into()),
            admin_password: Some("not-a-real-password".into()),
        },
    )
}

fn medusa_order() -> Answer {
    ok(
        json!({"type": "order", "order": {"id": "order_01JQ5ORDER", "display_id": 1,
        "status": "pending", "email": "x@storefleet.example.com", "currency_code": "eur",
        "total": 25, "items": [{"id": "ordli_01", "quantity": 1}]}}),
    )
}

#[tokio::test]
async fn medusa_happy_path_sends_the_publishable_key_on_every_store_call() {
    let store = fake(medusa_store(|_| medusa_order())).await;
    let report = place_test_order(&client(), &medusa_target(&store.base, Some(PK)))
        .await
        .unwrap();
    assert_eq!(report.order_id, "order_01JQ5ORDER");
    assert!(is_test_order_email(&report.email));
    let steps: Vec<&str> = report.steps.iter().map(|s| s.step).collect();
    assert_eq!(
        steps,
        [
            "list_regions",
            "create_cart",
            "find_variant",
            "add_line_item",
            "update_cart",
            "list_shipping_options",
            "add_shipping_method",
            "create_payment_collection",
            "create_payment_session",
            "complete_cart",
        ]
    );
    let seen = store.seen();
    assert_eq!(seen.len(), 10);
    for req in &seen {
        assert_eq!(
            req.header("x-publishable-api-key"),
            Some(PK),
            "{}",
            req.path
        );
        assert!(req.header("authorization").is_none());
    }
    let products = &seen[2];
    assert!(
        products.query.contains("region_id=reg_01JQ5EU"),
        "{}",
        products.query
    );
    assert!(
        products.query.contains("calculated_price"),
        "{}",
        products.query
    );
    let update = &seen[4].body;
    assert_eq!(update["email"], report.email.as_str());
    assert_eq!(update["shipping_address"]["country_code"], "de");
    assert_eq!(update["billing_address"]["country_code"], "de");
    assert_eq!(update["shipping_address"]["postal_code"], "10115");
}

#[tokio::test]
async fn medusa_complete_400_reports_the_engines_message() {
    let store = fake(medusa_store(|_| {
        medusa_error(
            400,
            "invalid_data",
            "Payment sessions are required to complete cart",
        )
    }))
    .await;
    let err = place_test_order(&client(), &medusa_target(&store.base, Some(PK)))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "complete_cart returned 400: Payment sessions are required to complete cart"
    );
    match err.error {
        OrderCheckError::Status { code, .. } => assert_eq!(code.as_deref(), Some("invalid_data")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn medusa_cart_answer_from_complete_is_a_refusal() {
    let store = fake(medusa_store(|_| {
        ok(
            json!({"type": "cart", "cart": medusa_cart(json!({}))["cart"],
            "error": {"message": "Payment authorization failed", "name": "Error",
                "type": "payment_authorization_error"}}),
        )
    }))
    .await;
    let err = place_test_order(&client(), &medusa_target(&store.base, Some(PK)))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "complete_cart refused the order: Payment authorization failed"
    );
    assert!(matches!(
        err.error,
        OrderCheckError::Refused { code: Some(ref c), .. } if c == "payment_authorization_error"
    ));
}

#[tokio::test]
async fn medusa_connection_lost_at_complete_says_an_order_may_exist() {
    let store = fake(medusa_store(|_| medusa_order())).await;
    let proxy = cutting_proxy(&store.base, "/complete").await;
    let err = place_test_order(&client(), &medusa_target(&proxy, Some(PK)))
        .await
        .unwrap_err();
    assert!(store.seen().iter().any(|s| s.path.ends_with("/complete")));
    assert!(err.order_may_exist(), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("complete_cart failed: "), "{text}");
    assert!(
        text.contains("; it is UNKNOWN whether an order was placed (one may exist: look in the store's orders for one from order-check+"),
        "{text}"
    );
    assert_eq!(err.steps.len(), 10);
    assert!(text.contains("complete_cart failed after "), "{text}");
}

#[tokio::test]
async fn medusa_gateway_error_at_complete_is_unknown_and_plain_text() {
    let store = fake(medusa_store(|_| Answer {
        status: 504,
        headers: vec![("content-type", "text/html".into())],
        body: "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n".into(),
    }))
    .await;
    let err = place_test_order(&client(), &medusa_target(&store.base, Some(PK)))
        .await
        .unwrap_err();
    assert!(
        err.error.to_string().starts_with(
            "complete_cart returned 504: 504 Gateway Time-out; it is UNKNOWN whether an order was placed"
        ),
        "{err}"
    );
    assert_eq!(err.http_status(), Some(504));
}

#[tokio::test]
async fn medusa_out_of_stock_demo_variant_is_not_missing() {
    let inner = medusa_store(|_| medusa_order());
    let store = fake(move |req: &Seen| {
        if req.path == "/store/products" {
            assert!(req.query.contains("inventory_quantity"), "{}", req.query);
            let mut answer: Value = serde_json::from_str(&inner(req).body).unwrap();
            answer["products"][0]["variants"][0]["inventory_quantity"] = json!(0);
            ok(answer)
        } else {
            inner(req)
        }
    })
    .await;
    let err = place_test_order(&client(), &medusa_target(&store.base, Some(PK)))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "find_variant: no product can be bought: \"Storefleet demo product\" (SKU STOREFLEET-DEMO-1) is out of stock: restock it in the admin (Inventory) or allow backorders"
    );
    assert_eq!(store.seen().len(), 3, "nothing added to the cart");
    assert!(
        err.to_string().contains("find_variant failed after "),
        "{err}"
    );
}

#[tokio::test]
async fn medusa_refusing_the_variant_for_stock_says_out_of_stock() {
    // Stock gone between listing and adding: Medusa's own insufficient-inventory error.
    let inner = medusa_store(|_| medusa_order());
    let store = fake(move |req: &Seen| {
        if req.path.ends_with("/line-items") {
            with_status(
                400,
                json!({"type": "not_allowed", "code": "insufficient_inventory",
                    "message": "Some variant does not have the required inventory"}),
            )
        } else {
            inner(req)
        }
    })
    .await;
    let err = place_test_order(&client(), &medusa_target(&store.base, Some(PK)))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "add_line_item: no product can be bought: \"Storefleet demo product\" (SKU STOREFLEET-DEMO-1) is out of stock (Medusa: Some variant does not have the required inventory); restock it in the admin (Inventory) or allow backorders"
    );
}

#[tokio::test]
async fn medusa_key_problems_are_precise() {
    let store = fake(medusa_store(|_| medusa_order())).await;
    let err = place_test_order(&client(), &medusa_target(&store.base, Some("pk_wrong")))
        .await
        .unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "list_regions returned 400: A valid publishable key is required to proceed with the request"
    );
    let err = place_test_order(&client(), &medusa_target(&store.base, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err.error, OrderCheckError::InvalidTarget(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("publishable API key"), "{err}");
    assert_eq!(store.seen().len(), 1, "no request without a key");
}

#[tokio::test]
async fn medusa_without_shipping_options_names_the_likely_causes() {
    let inner = medusa_store(|_| medusa_order());
    let store = fake(move |req: &Seen| {
        if req.path == "/store/shipping-options" {
            ok(json!({"shipping_options": []}))
        } else {
            inner(req)
        }
    })
    .await;
    let err = place_test_order(&client(), &medusa_target(&store.base, Some(PK)))
        .await
        .unwrap_err();
    assert!(
        err.error.to_string().starts_with(
            "list_shipping_options: unexpected response: no shipping option for the cart"
        ),
        "{err}"
    );
}

fn medusa_admin(req: &Seen) -> Answer {
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/auth/user/emailpass") => {
            if req.body == json!({"email": "admin@storefleet.example.com", "password": "right"}) {
                ok(json!({"token": "jwt.admin.token"}))
            } else {
                medusa_error(401, "unauthorized", "Invalid email or password")
            }
        }
        ("GET", path) if path.starts_with("/admin/orders/") => {
            if req.header("authorization") != Some("Bearer jwt.admin.token") {
                return medusa_error(401, "unauthorized", "Unauthorized");
            }
            let id = path.trim_start_matches("/admin/orders/");
            if id == "order_01JQ5ORDER" {
                ok(
                    json!({"order": {"id": id, "email": "x@storefleet.example.com", "status": "pending"}}),
                )
            } else {
                medusa_error(404, "not_found", &format!("Order id not found: {id}"))
            }
        }
        _ => medusa_error(404, "not_found", "not found"),
    }
}

#[tokio::test]
async fn medusa_admin_verification() {
    let admin = fake(medusa_admin).await;
    let http = client();
    let email = "admin@storefleet.example.com";
    assert!(
        verify_order_via_admin(&http, &admin.base, email, "right", "order_01JQ5ORDER")
            .await
            .unwrap()
    );
    assert!(
        !verify_order_via_admin(&http, &admin.base, email, "right", "order_missing")
            .await
            .unwrap()
    );
    let err = verify_order_via_admin(&http, &admin.base, email, "wrong", "order_01JQ5ORDER")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "order order_01JQ5ORDER was placed, but verifying it through the admin API failed: admin_login returned 401: Invalid email or password (the store's admin e-mail/password do not log in: fix the admin credentials)"
    );
    assert!(err.order_may_exist());
    assert_eq!(err.step(), Some("admin_login"));
    // A store that breaks after the login still names the order.
    let broken = fake(|req: &Seen| {
        if req.path.starts_with("/admin/orders/") {
            Answer {
                status: 502,
                headers: vec![("content-type", "text/html".into())],
                body: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>".into(),
            }
        } else {
            medusa_admin(req)
        }
    })
    .await;
    let err = verify_order_via_admin(&http, &broken.base, email, "right", "order_01JQ5ORDER")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "order order_01JQ5ORDER was placed, but verifying it through the admin API failed: admin_get_order returned 502: 502 Bad Gateway"
    );
    let seen = admin.seen();
    assert_eq!(
        seen[1].header("authorization"),
        Some("Bearer jwt.admin.token")
    );
}
