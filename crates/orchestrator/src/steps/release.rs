//! ReleaseInstalled: the engine's Helm release; done records the store's URLs.

use super::{record_step_done, Definition, Done, StepOutcome};
use crate::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use storefleet_cluster::{ClusterError, ClusterSettings};
use storefleet_domain::{ConditionType, Step, Store, StoreStatus};
use storefleet_state::NewEvent;

pub struct Release;

#[async_trait]
impl Definition for Release {
    fn step(&self) -> Step {
        Step::Provision(ConditionType::ReleaseInstalled)
    }

    fn name(&self) -> &'static str {
        "release"
    }

    async fn act(&self, store: &Store, ctx: &Context) -> StepOutcome {
        match ctx.driver.install_release(store).await {
            Ok(message) => StepOutcome::Done {
                reason: "ReleaseInstalled",
                message,
            },
            // A chart that does not exist will not appear by waiting.
            Err(ClusterError::Permanent(message)) => StepOutcome::Fatal {
                reason: "ReleaseImpossible",
                message,
            },
            Err(e) => StepOutcome::Error(e),
        }
    }

    fn record_done(
        &self,
        store: &Store,
        status: &mut StoreStatus,
        done: Done,
        now: DateTime<Utc>,
        settings: &ClusterSettings,
    ) -> NewEvent {
        status.storefront_url = Some(settings.storefront_url(store));
        status.admin_url = Some(settings.admin_url(store));
        record_step_done(self.step(), status, done, now)
    }
}
