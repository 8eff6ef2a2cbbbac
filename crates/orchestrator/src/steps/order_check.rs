//! OrderCheckPassed: a real test order through the store's own storefront API. A store that
//! cannot take an order yet is not ready: the check is retried, with its reason visible, until
//! the deadline.

use super::{Definition, StepOutcome};
use crate::Context;
use async_trait::async_trait;
use std::time::Duration;
use storefleet_cluster::{storefront_service, OrderCheckVia};
use storefleet_domain::secrets::key;
use storefleet_domain::{ConditionType, Step, Store};
use storefleet_ordercheck::{StoreCredentials, Target};

/// How often a failing order check is tried again, until the store's deadline.
pub const RETRY_ORDER_CHECK: Duration = Duration::from_secs(5);
/// Longest one whole order check may take.
pub const ORDER_CHECK_TIMEOUT: Duration = Duration::from_secs(120);

pub struct OrderCheck;

#[async_trait]
impl Definition for OrderCheck {
    fn step(&self) -> Step {
        Step::Provision(ConditionType::OrderCheckPassed)
    }

    fn name(&self) -> &'static str {
        "order_check"
    }

    async fn act(&self, store: &Store, ctx: &Context) -> StepOutcome {
        let secrets = match ctx.driver.store_secrets(store).await {
            Ok(secrets) => secrets,
            Err(e) => return StepOutcome::Error(e),
        };
        let credentials = StoreCredentials {
            publishable_key: secrets.get(key::PUBLISHABLE_KEY).cloned(),
            admin_email: secrets.get(key::ADMIN_EMAIL).cloned(),
            admin_password: secrets.get(key::ADMIN_PASSWORD).cloned(),
        };
        let cluster_ip = if ctx.settings.order_check_via == OrderCheckVia::ServiceIp {
            let (service, _) = storefront_service(store.spec.engine);
            match ctx.driver.service_cluster_ip(store, &service).await {
                Ok(ip) => Some(ip),
                Err(e) => return StepOutcome::Error(e),
            }
        } else {
            None
        };
        let target = Target::new(
            store.spec.engine,
            ctx.settings.order_check_url(store, cluster_ip.as_deref()),
            credentials,
        );
        let waiting = |message: String| StepOutcome::Waiting {
            reason: "OrderCheckFailed",
            message,
            retry_after: RETRY_ORDER_CHECK,
        };
        let placed = tokio::time::timeout(
            ORDER_CHECK_TIMEOUT,
            ctx.order_check.place_test_order(&target),
        );
        match placed.await {
            Ok(Ok(report)) => StepOutcome::Done {
                reason: "OrderPlaced",
                message: format!(
                    "test order {} placed through {} in {} ms",
                    report.order_id,
                    target.base_url,
                    report.total.as_millis()
                ),
            },
            Ok(Err(e)) => waiting(format!(
                "test order through {} failed: {e}",
                target.base_url
            )),
            Err(_) => waiting(format!(
                "test order through {} took longer than {} s",
                target.base_url,
                ORDER_CHECK_TIMEOUT.as_secs()
            )),
        }
    }
}
