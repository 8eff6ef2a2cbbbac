//! Deletion, last step: wait until the namespace is gone; done records the store deleted.

use super::{mark_deleted, Definition, Done, StepOutcome};
use crate::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use storefleet_cluster::{ClusterSettings, Watched};
use storefleet_domain::{DeletionStep, Step, Store, StoreStatus};
use storefleet_state::NewEvent;

/// How often a store waiting for its namespace's removal is looked at again (a watch brings it
/// forward sooner).
pub const POLL_NAMESPACE_GONE: Duration = Duration::from_secs(2);

pub struct NamespaceGone;

#[async_trait]
impl Definition for NamespaceGone {
    fn step(&self) -> Step {
        Step::Delete(DeletionStep::AwaitNamespaceGone)
    }

    fn name(&self) -> &'static str {
        "await_namespace_gone"
    }

    fn waits_on(&self) -> Option<Watched> {
        Some(Watched::NamespaceGone)
    }

    async fn act(&self, store: &Store, ctx: &Context) -> StepOutcome {
        match ctx.driver.namespace_exists(&store.namespace).await {
            Ok(false) => StepOutcome::Done {
                reason: "NamespaceGone",
                message: format!("namespace {} is gone", store.namespace),
            },
            Ok(true) => StepOutcome::Waiting {
                reason: "NamespaceTerminating",
                message: format!("waiting for namespace {} to be removed", store.namespace),
                retry_after: POLL_NAMESPACE_GONE,
            },
            Err(e) => StepOutcome::Error(e),
        }
    }

    fn record_done(
        &self,
        _: &Store,
        status: &mut StoreStatus,
        done: Done,
        _: DateTime<Utc>,
        _: &ClusterSettings,
    ) -> NewEvent {
        status.deletion_done = Some(DeletionStep::AwaitNamespaceGone);
        mark_deleted(status, &done.message)
    }
}
