//! NamespaceReady: the store's own namespace, labelled as Storefleet's.

use super::{done_or_error, Definition, StepOutcome};
use crate::Context;
use async_trait::async_trait;
use storefleet_domain::{ConditionType, Step, Store};

pub struct Namespace;

#[async_trait]
impl Definition for Namespace {
    fn step(&self) -> Step {
        Step::Provision(ConditionType::NamespaceReady)
    }

    fn name(&self) -> &'static str {
        "namespace"
    }

    async fn act(&self, store: &Store, ctx: &Context) -> StepOutcome {
        done_or_error(
            ctx.driver.ensure_namespace(store).await,
            "NamespaceCreated",
            format!("namespace {} is ready", store.namespace),
        )
    }
}
