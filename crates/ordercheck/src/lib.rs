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
//! Every failure ([`OrderCheckFailure`]) names the step, and for HTTP errors the status and
//! the engine's own message (from its JSON error body, or the text of an HTML error page),
//! e.g. `checkout returned 400: The cod payment gateway is not available.`, followed by the
//! timings of the steps that ran. Messages say what the owner can act on: a product that
//! exists but is out of stock is reported as such ([`OrderCheckError::NothingToBuy`]); a
//! lost connection or timeout while the order is being placed says that an order may exist
//! ([`OrderCheckError::OutcomeUnknown`]); a failed admin verification names the order that
//! was placed ([`OrderCheckError::NotVerified`]).
//!
//! Test orders are marked: the customer e-mail is
//! `order-check+<uuid-v7>@`[`TEST_ORDER_EMAIL_DOMAIN`] (a subdomain of `example.com`, which
//! RFC 2606 reserves: no mail is ever delivered there), so merchants, reports and clean-up
//! jobs can tell them apart with [`is_test_order_email`].

mod address;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
mod http;
mod medusa;
mod service;
mod woocommerce;

pub use medusa::verify_order_via_admin;
pub use service::{HttpOrderCheck, OrderCheck};
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

/// Why the check did not pass. `Display` is meant for the store's owner and operators:
/// `checkout returned 400: Invalid payment method.`
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderCheckError {
    /// The target cannot be checked as given (bad URL, missing credential).
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// The engine answered with an HTTP error; `message` is the engine's own (from its JSON
    /// error body when it sent one, else the text of its HTML error page), `code` its
    /// machine-readable code when it had one.
    #[error("{step} returned {status}: {message}")]
    Status {
        step: &'static str,
        status: u16,
        message: String,
        code: Option<String>,
    },
    /// No HTTP answer: connection refused, DNS, TLS, timeout, connection lost, body cut off.
    /// `maybe_delivered` is false only when the request certainly never reached the store
    /// (no connection could be made).
    #[error("{step} failed: {message}")]
    Transport {
        step: &'static str,
        message: String,
        maybe_delivered: bool,
    },
    /// The engine answered with success but declined to turn the cart into an order
    /// (Medusa: HTTP 200 `{"type": "cart", "error": {...}}` from complete-cart when payment
    /// authorization failed); `message` is the engine's own.
    #[error("{step} refused the order: {message}")]
    Refused {
        step: &'static str,
        message: String,
        code: Option<String>,
    },
    /// The store has nothing the check can buy: no product, or products that exist but are
    /// out of stock, unpriced or otherwise not purchasable. `detail` says which and why.
    #[error("{step}: no product can be bought: {detail}")]
    NothingToBuy { step: &'static str, detail: String },
    /// An answer the check cannot use (not JSON, a required field missing, an order in a
    /// failed state).
    #[error("{step}: unexpected response: {detail}")]
    Unexpected { step: &'static str, detail: String },
    /// The step that turns the cart into an order (WooCommerce `checkout`, Medusa
    /// `complete_cart`) got no usable answer after the request may have reached the store
    /// (connection lost, timeout, a 500/502/504): the store may have taken the order. `email`
    /// is the test order's customer e-mail, to look it up by.
    #[error("{cause}; it is UNKNOWN whether an order was placed (one may exist: look in the store's orders for one from {email})")]
    OutcomeUnknown {
        email: String,
        cause: Box<OrderCheckError>,
    },
    /// Order `order_id` was placed, but confirming it through the engine's admin API failed.
    #[error(
        "order {order_id} was placed, but verifying it through the admin API failed: {cause}{}",
        verify_hint(cause)
    )]
    NotVerified {
        order_id: String,
        cause: Box<OrderCheckError>,
    },
}

/// What the owner can do about a failed admin verification, when the cause says it.
fn verify_hint(cause: &OrderCheckError) -> &'static str {
    match cause {
        OrderCheckError::Status {
            step: "admin_login",
            status: 400 | 401 | 403,
            ..
        } => " (the store's admin e-mail/password do not log in: fix the admin credentials)",
        _ => "",
    }
}

impl OrderCheckError {
    /// The step that failed, if one did (not for an invalid target).
    pub fn step(&self) -> Option<&'static str> {
        match self {
            OrderCheckError::InvalidTarget(_) => None,
            OrderCheckError::Status { step, .. }
            | OrderCheckError::Transport { step, .. }
            | OrderCheckError::Refused { step, .. }
            | OrderCheckError::NothingToBuy { step, .. }
            | OrderCheckError::Unexpected { step, .. } => Some(step),
            OrderCheckError::OutcomeUnknown { cause, .. }
            | OrderCheckError::NotVerified { cause, .. } => cause.step(),
        }
    }

    /// The HTTP status the engine answered with, for [`OrderCheckError::Status`] (also
    /// inside an unknown outcome or a failed verification).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            OrderCheckError::Status { status, .. } => Some(*status),
            OrderCheckError::OutcomeUnknown { cause, .. }
            | OrderCheckError::NotVerified { cause, .. } => cause.http_status(),
            _ => None,
        }
    }

    /// Whether an order may exist in the store despite this error: the outcome of the final
    /// step is unknown, or an order was placed and only its verification failed.
    pub fn order_may_exist(&self) -> bool {
        matches!(
            self,
            OrderCheckError::OutcomeUnknown { .. } | OrderCheckError::NotVerified { .. }
        )
    }
}

/// A failed check: why, and the steps that ran until then (the last one is the one that
/// failed). `Display` is the error followed by the step timings:
/// `add_item returned 400: … (steps: cart 12 ms, find_product 40 ms, add_item failed after
/// 8 ms; total 61 ms)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCheckFailure {
    pub error: OrderCheckError,
    /// Every step that ran, in order, including the failed one (empty for an invalid target).
    pub steps: Vec<StepTiming>,
    pub total: Duration,
}

impl OrderCheckFailure {
    /// The step that failed, if one did (not for an invalid target).
    pub fn step(&self) -> Option<&'static str> {
        self.error.step()
    }

    /// The HTTP status the engine answered the failed step with, if it did.
    pub fn http_status(&self) -> Option<u16> {
        self.error.http_status()
    }

    /// See [`OrderCheckError::order_may_exist`].
    pub fn order_may_exist(&self) -> bool {
        self.error.order_may_exist()
    }
}

impl fmt::Display for OrderCheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if self.steps.is_empty() {
            return Ok(());
        }
        let failed = self.error.step();
        let last = self.steps.len() - 1;
        f.write_str(" (steps: ")?;
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let ms = s.duration.as_millis();
            if i == last && failed == Some(s.step) {
                write!(f, "{} failed after {ms} ms", s.step)?;
            } else {
                write!(f, "{} {ms} ms", s.step)?;
            }
        }
        write!(f, "; total {} ms)", self.total.as_millis())
    }
}

// No `source()`: `Display` already includes the error, and chains (anyhow's `{:#}`) would
// print it twice.
impl std::error::Error for OrderCheckFailure {}

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
) -> Result<OrderReport, OrderCheckFailure> {
    let mut run = Run::new();
    match place(http, target, &mut run).await {
        Ok((order_id, email)) => {
            tracing::debug!(engine = %target.engine, %order_id, total_ms = run.started.elapsed().as_millis() as u64, "test order placed");
            Ok(OrderReport {
                order_id,
                email,
                total: run.started.elapsed(),
                steps: run.steps,
            })
        }
        Err(error) => Err(OrderCheckFailure {
            error,
            total: run.started.elapsed(),
            steps: run.steps,
        }),
    }
}

/// The order id and customer e-mail of the placed order.
async fn place(
    http: &reqwest::Client,
    target: &Target,
    run: &mut Run,
) -> Result<(String, String), OrderCheckError> {
    let base = http::base_url(&target.base_url)?;
    let email = test_order_email();
    let order_id = match target.engine {
        Engine::Woocommerce => woocommerce::place_order(http, &base, &email, run).await?,
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
            medusa::place_order(http, &base, key, &email, run).await?
        }
    };
    Ok((order_id, email))
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
            maybe_delivered: false,
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

    #[test]
    fn failures_show_the_step_timings_and_the_failed_step() {
        let ms = Duration::from_millis;
        let failure = OrderCheckFailure {
            error: OrderCheckError::Status {
                step: "add_item",
                status: 400,
                message: "Invalid product.".into(),
                code: None,
            },
            steps: vec![
                StepTiming {
                    step: "cart",
                    duration: ms(12),
                },
                StepTiming {
                    step: "find_product",
                    duration: ms(40),
                },
                StepTiming {
                    step: "add_item",
                    duration: ms(8),
                },
            ],
            total: ms(61),
        };
        assert_eq!(
            failure.to_string(),
            "add_item returned 400: Invalid product. (steps: cart 12 ms, find_product 40 ms, add_item failed after 8 ms; total 61 ms)"
        );
        assert_eq!(failure.step(), Some("add_item"));
        assert_eq!(failure.http_status(), Some(400));
        assert!(!failure.order_may_exist());
        let invalid = OrderCheckFailure {
            error: OrderCheckError::InvalidTarget("base URL \"x\"".into()),
            steps: vec![],
            total: ms(0),
        };
        assert_eq!(invalid.to_string(), "invalid target: base URL \"x\"");
    }

    #[test]
    fn a_failed_verification_names_the_placed_order() {
        let e = OrderCheckError::NotVerified {
            order_id: "order_01".into(),
            cause: Box::new(OrderCheckError::Status {
                step: "admin_login",
                status: 401,
                message: "Invalid email or password".into(),
                code: Some("unauthorized".into()),
            }),
        };
        assert_eq!(
            e.to_string(),
            "order order_01 was placed, but verifying it through the admin API failed: admin_login returned 401: Invalid email or password (the store's admin e-mail/password do not log in: fix the admin credentials)"
        );
        assert_eq!(e.step(), Some("admin_login"));
        assert_eq!(e.http_status(), Some(401));
        assert!(e.order_may_exist());
    }
}
