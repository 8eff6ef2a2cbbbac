//! The order check: one real test order through a store's own storefront API.
//!
//! A store is ready only after a customer could buy something in it. [`place_test_order`]
//! does what a customer's browser would do, through the engine's public store API only:
//!
//! * **WooCommerce** (Store API, `/wp-json/wc/store/v1`): `GET /cart` for a `Cart-Token` →
//!   find a purchasable product (SKU `STOREFLEET-DEMO-1` first) → `POST /cart/add-item` →
//!   `POST /checkout` with cash on delivery (`cod`). No nonce is needed when a `Cart-Token`
//!   is sent.
//! * **Medusa v2** (Store API, header `x-publishable-api-key`): regions → cart → variant →
//!   line item → e-mail and addresses → shipping options → shipping method → payment
//!   collection → payment session with the system provider (`pp_system_default`) →
//!   complete → `{type: "order"}`.
//!
//! Every failure names the step, and for HTTP errors the status and the engine's own message
//! from its JSON error body, e.g. `checkout returned 400: The cod payment gateway is not
//! available.`
//!
//! Test orders are marked: the customer e-mail is
//! `order-check+<uuid-v7>@`[`TEST_ORDER_EMAIL_DOMAIN`] (a subdomain of `example.com`, which
//! RFC 2606 reserves: no mail is ever delivered there), so merchants, reports and clean-up
//! jobs can tell them apart with [`is_test_order_email`].

mod address;
mod http;
mod medusa;
mod woocommerce;

pub use medusa::verify_order_via_admin;
pub use storefleet_domain::Engine;

use std::fmt;
use std::time::{Duration, Instant};

/// The domain of test-order customer e-mails. Under `example.com` (reserved by RFC 2606),
/// so nothing is ever delivered and no real customer can have such an address.
pub const TEST_ORDER_EMAIL_DOMAIN: &str = "storefleet.example.com";

/// The local part every test-order e-mail starts with (`order-check+<id>`).
pub const TEST_ORDER_EMAIL_PREFIX: &str = "order-check+";

/// The SKU of the demo product the Storefleet charts create; preferred when present.
pub const DEMO_PRODUCT_SKU: &str = "STOREFLEET-DEMO-1";

/// Upper bound for one HTTP request of the check (connect, send, and read the body).
/// Bound the whole check with `tokio::time::timeout` when a total deadline is wanted.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// What the check needs to talk to a store. WooCommerce's Store API needs none; Medusa
/// needs the publishable key, and admin e-mail/password to verify the order afterwards.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StoreCredentials {
    pub publishable_key: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
}

impl fmt::Debug for StoreCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn redacted(v: &Option<String>) -> &'static str {
            match v {
                Some(_) => "Some(<redacted>)",
                None => "None",
            }
        }
        f.debug_struct("StoreCredentials")
            .field(
                "publishable_key",
                &format_args!("{}", redacted(&self.publishable_key)),
            )
            .field("admin_email", &self.admin_email)
            .field(
                "admin_password",
                &format_args!("{}", redacted(&self.admin_password)),
            )
            .finish()
    }
}

/// The store to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub engine: Engine,
    /// The storefront origin, e.g. `https://shop.example.com` (WooCommerce: the WordPress
    /// home URL; Medusa: the server URL). A trailing slash is ignored.
    pub base_url: String,
    pub credentials: StoreCredentials,
}

impl Target {
    pub fn new(engine: Engine, base_url: impl Into<String>, credentials: StoreCredentials) -> Self {
        Self {
            engine,
            base_url: base_url.into(),
            credentials,
        }
    }
}

/// How long one step took, from sending its request to having read its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTiming {
    pub step: &'static str,
    pub duration: Duration,
}

/// The order that was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReport {
    /// The engine's own order id (WooCommerce: the numeric order id; Medusa: `order_…`).
    pub order_id: String,
    /// The marked customer e-mail the order was placed with.
    pub email: String,
    /// Every step in the order it ran.
    pub steps: Vec<StepTiming>,
    pub total: Duration,
}

/// Why no order was placed. `Display` is meant for operators and store conditions:
/// `checkout returned 400: Invalid payment method.`
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderCheckError {
    /// The target cannot be checked as given (bad URL, missing credential).
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// The engine answered with an HTTP error; `message` is the engine's own (from its JSON
    /// error body when it sent one), `code` its machine-readable code when it had one.
    #[error("{step} returned {status}: {message}")]
    Status {
        step: &'static str,
        status: u16,
        message: String,
        code: Option<String>,
    },
    /// No HTTP answer: connection refused, DNS, TLS, timeout, body cut off.
    #[error("{step} failed: {message}")]
    Transport { step: &'static str, message: String },
    /// The engine answered with success but declined to turn the cart into an order
    /// (Medusa: HTTP 200 `{"type": "cart", "error": {...}}` from complete-cart when payment
    /// authorization failed); `message` is the engine's own.
    #[error("{step} refused the order: {message}")]
    Refused {
        step: &'static str,
        message: String,
        code: Option<String>,
    },
    /// An answer the check cannot use (not JSON, a required field missing, no product, an
    /// order in a failed state, or the engine refusing the order in a success response).
    #[error("{step}: unexpected response: {detail}")]
    Unexpected { step: &'static str, detail: String },
}

impl OrderCheckError {
    /// The step that failed, if one did (not for an invalid target).
    pub fn step(&self) -> Option<&'static str> {
        match self {
            OrderCheckError::InvalidTarget(_) => None,
            OrderCheckError::Status { step, .. }
            | OrderCheckError::Transport { step, .. }
            | OrderCheckError::Refused { step, .. }
            | OrderCheckError::Unexpected { step, .. } => Some(step),
        }
    }

    /// The HTTP status the engine answered with, for [`OrderCheckError::Status`].
    pub fn http_status(&self) -> Option<u16> {
        match self {
            OrderCheckError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A fresh marked e-mail for one test order: `order-check+<uuid-v7>@storefleet.example.com`.
pub fn test_order_email() -> String {
    format!(
        "{TEST_ORDER_EMAIL_PREFIX}{}@{TEST_ORDER_EMAIL_DOMAIN}",
        uuid::Uuid::now_v7().simple()
    )
}

/// Whether a customer e-mail marks a Storefleet test order (case-insensitive).
pub fn is_test_order_email(email: &str) -> bool {
    let email = email.trim().to_ascii_lowercase();
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            local.starts_with(TEST_ORDER_EMAIL_PREFIX) && domain == TEST_ORDER_EMAIL_DOMAIN
        }
        None => false,
    }
}

/// Place one real test order in the store through its public storefront API.
///
/// `http` is the caller's client (connection pool, proxy and TLS settings); every request
/// additionally gets [`STEP_TIMEOUT`]. The check sends no cookies of its own: WooCommerce's
/// cart is identified by the `Cart-Token` header, Medusa's by the cart id.
pub async fn place_test_order(
    http: &reqwest::Client,
    target: &Target,
) -> Result<OrderReport, OrderCheckError> {
    let base = http::base_url(&target.base_url)?;
    let email = test_order_email();
    let mut run = Run::new();
    let order_id = match target.engine {
        Engine::Woocommerce => woocommerce::place_order(http, &base, &email, &mut run).await?,
        Engine::Medusa => {
            let key = target
                .credentials
                .publishable_key
                .as_deref()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    OrderCheckError::InvalidTarget(
                        "a Medusa store needs its publishable API key (x-publishable-api-key)"
                            .into(),
                    )
                })?;
            medusa::place_order(http, &base, key, &email, &mut run).await?
        }
    };
    tracing::debug!(engine = %target.engine, %order_id, total_ms = run.started.elapsed().as_millis() as u64, "test order placed");
    Ok(OrderReport {
        order_id,
        email,
        total: run.started.elapsed(),
        steps: run.steps,
    })
}

/// Timings of the steps so far.
pub(crate) struct Run {
    started: Instant,
    steps: Vec<StepTiming>,
}

impl Run {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            steps: Vec::new(),
        }
    }

    /// Run one step and record how long it took (also when it failed).
    pub(crate) async fn step<T, F>(
        &mut self,
        step: &'static str,
        fut: F,
    ) -> Result<T, OrderCheckError>
    where
        F: std::future::Future<Output = Result<T, OrderCheckError>>,
    {
        let started = Instant::now();
        let result = fut.await;
        let duration = started.elapsed();
        self.steps.push(StepTiming { step, duration });
        match &result {
            Ok(_) => tracing::trace!(step, ms = duration.as_millis() as u64, "order check step"),
            Err(e) => {
                tracing::debug!(step, ms = duration.as_millis() as u64, error = %e, "order check step failed")
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_order_emails_are_marked_and_recognised() {
        let a = test_order_email();
        let b = test_order_email();
        assert_ne!(a, b);
        assert!(a.starts_with("order-check+"));
        assert!(a.ends_with("@storefleet.example.com"));
        assert!(is_test_order_email(&a));
        assert!(is_test_order_email(&a.to_uppercase()));
        assert!(!is_test_order_email("order-check+1@example.com"));
        assert!(!is_test_order_email("alice@storefleet.example.com"));
        assert!(!is_test_order_email("order-check+1"));
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let creds = StoreCredentials {
            publishable_key: Some("pk_0123456789".into()),
            admin_email: Some("admin@example.com".into()),
            admin_password: Some("hunter2-very-secret".into()),
        };
        let shown = format!("{creds:?}");
        assert!(!shown.contains("pk_0123456789"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("admin@example.com"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let target = Target::new(Engine::Medusa, "http://x", creds);
        assert!(!format!("{target:?}").contains("hunter2"));
        assert!(format!("{:?}", StoreCredentials::default()).contains("None"));
    }

    #[test]
    fn errors_display_step_status_and_message() {
        let e = OrderCheckError::Status {
            step: "checkout",
            status: 400,
            message: "Invalid payment method.".into(),
            code: Some("woocommerce_rest_invalid_payment_method".into()),
        };
        assert_eq!(
            e.to_string(),
            "checkout returned 400: Invalid payment method."
        );
        assert_eq!(e.step(), Some("checkout"));
        assert_eq!(e.http_status(), Some(400));
        let e = OrderCheckError::Transport {
            step: "cart",
            message: "connection refused".into(),
        };
        assert_eq!(e.to_string(), "cart failed: connection refused");
        let e = OrderCheckError::Unexpected {
            step: "cart",
            detail: "no Cart-Token header".into(),
        };
        assert_eq!(
            e.to_string(),
            "cart: unexpected response: no Cart-Token header"
        );
    }
}
