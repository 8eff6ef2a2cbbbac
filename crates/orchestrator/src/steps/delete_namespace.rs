//! Deletion, first step: delete the store's namespace (its workloads just before, so the
//! namespace controller does not wait out running pods). Done records that the deletion was
//! requested, so the next decision waits for the namespace instead of deleting it again.

use super::{done_or_error, record_step_done, Definition, Done, StepOutcome};
use crate::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use storefleet_cluster::ClusterSettings;
use storefleet_domain::{ConditionStatus, ConditionType, DeletionStep, Step, Store, StoreStatus};
use storefleet_state::NewEvent;

/// Reason shown on `NamespaceReady` while the namespace is being deleted (for people; the
/// decision reads [`Store::deletion_done`]).
pub const REASON_NAMESPACE_DELETING: &str = "Deleting";

pub struct DeleteNamespace;

#[async_trait]
impl Definition for DeleteNamespace {
    fn step(&self) -> Step {
        Step::Delete(DeletionStep::DeleteNamespace)
    }

    fn name(&self) -> &'static str {
        "delete_namespace"
    }

    async fn act(&self, store: &Store, ctx: &Context) -> StepOutcome {
        done_or_error(
            ctx.driver.delete_namespace(&store.namespace).await,
            "NamespaceDeleting",
            format!("namespace {} is being deleted", store.namespace),
        )
    }

    fn record_done(
        &self,
        _: &Store,
        status: &mut StoreStatus,
        done: Done,
        now: DateTime<Utc>,
        _: &ClusterSettings,
    ) -> NewEvent {
        // For people watching the store (the API shows it as before); decisions read
        // `deletion_done`, which the common record sets.
        status.conditions.set(
            ConditionType::NamespaceReady,
            ConditionStatus::False,
            REASON_NAMESPACE_DELETING,
            &done.message,
            now,
        );
        record_step_done(self.step(), status, done, now)
    }
}
