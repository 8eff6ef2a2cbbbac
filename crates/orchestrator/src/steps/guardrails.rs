//! GuardrailsApplied: role binding, quota, limit range, network policies and credentials.

use super::{done_or_error, Definition, StepOutcome};
use crate::Context;
use async_trait::async_trait;
use storefleet_domain::{ConditionType, Step, Store};

pub struct Guardrails;

#[async_trait]
impl Definition for Guardrails {
    fn step(&self) -> Step {
        Step::Provision(ConditionType::GuardrailsApplied)
    }

    fn name(&self) -> &'static str {
        "guardrails"
    }

    async fn act(&self, store: &Store, ctx: &Context) -> StepOutcome {
        done_or_error(
            ctx.driver.apply_guardrails(store).await,
            "GuardrailsApplied",
            format!(
                "quota, limit range, network policies, role binding and credentials for plan {} applied",
                store.spec.plan
            ),
        )
    }
}
