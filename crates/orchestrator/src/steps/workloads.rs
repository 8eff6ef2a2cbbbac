//! WorkloadsReady: every Deployment and StatefulSet of the release is ready.

use super::{readiness, Definition, StepOutcome};
use crate::Context;
use async_trait::async_trait;
use storefleet_cluster::Watched;
use storefleet_domain::{ConditionType, Step, Store};

pub struct Workloads;

#[async_trait]
impl Definition for Workloads {
    fn step(&self) -> Step {
        Step::Provision(ConditionType::WorkloadsReady)
    }

    fn name(&self) -> &'static str {
        "workloads"
    }

    fn waits_on(&self) -> Option<Watched> {
        Some(Watched::Workloads)
    }

    async fn act(&self, store: &Store, ctx: &Context) -> StepOutcome {
        readiness(
            ctx.driver.workloads(store).await,
            "WorkloadsReady",
            "WaitingForWorkloads",
            "WorkloadsFailed",
        )
    }
}
