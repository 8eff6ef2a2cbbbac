//! A store's phases and the pure decision of which step the orchestrator takes next.

use crate::condition::ConditionType;
use crate::Store;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// Where a store is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Requested,
    Provisioning,
    Ready,
    Failed,
    Deleting,
    Deleted,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Requested,
        Phase::Provisioning,
        Phase::Ready,
        Phase::Failed,
        Phase::Deleting,
        Phase::Deleted,
    ];

    /// Phases in which the orchestrator still has something to do.
    pub const ACTIVE: [Phase; 3] = [Phase::Requested, Phase::Provisioning, Phase::Deleting];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Requested => "requested",
            Phase::Provisioning => "provisioning",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
            Phase::Deleting => "deleting",
            Phase::Deleted => "deleted",
        }
    }

    /// A store counts against quotas until it is gone.
    pub fn is_live(self) -> bool {
        self != Phase::Deleted
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown phase {0:?}; allowed: requested, provisioning, ready, failed, deleting, deleted")]
pub struct UnknownPhase(pub String);

impl FromStr for Phase {
    type Err = UnknownPhase;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPhase(s.to_owned()))
    }
}

/// The steps of a deletion, in order. How far a deletion has come is recorded on the store
/// ([`Store::deletion_done`]), not read back from a condition's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeletionStep {
    /// Delete the store's namespace. There is no `helm uninstall` first: the release (its
    /// objects and helm's own record) lives only in that namespace, so the namespace controller
    /// removes all of it, and uninstalling first cost ~1.4 s per store (bench).
    DeleteNamespace,
    /// Wait until the namespace is gone.
    AwaitNamespaceGone,
}

impl DeletionStep {
    /// Deletion order: each one needs the ones before it.
    pub const ORDER: [DeletionStep; 2] = [
        DeletionStep::DeleteNamespace,
        DeletionStep::AwaitNamespaceGone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeletionStep::DeleteNamespace => "delete_namespace",
            DeletionStep::AwaitNamespaceGone => "await_namespace_gone",
        }
    }

    /// The step after `done` (the first one when none is done), or `None` after the last.
    pub fn after(done: Option<DeletionStep>) -> Option<DeletionStep> {
        let next = done.map_or(Some(0), |d| {
            DeletionStep::ORDER
                .iter()
                .position(|s| *s == d)
                .map(|i| i + 1)
        })?;
        DeletionStep::ORDER.get(next).copied()
    }
}

impl fmt::Display for DeletionStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown deletion step {0:?}; allowed: delete_namespace, await_namespace_gone")]
pub struct UnknownDeletionStep(pub String);

impl FromStr for DeletionStep {
    type Err = UnknownDeletionStep;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeletionStep::ORDER
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDeletionStep(s.to_owned()))
    }
}

/// One step the orchestrator takes against the cluster. Every step is idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Provisioning: bring the condition of this type to True.
    Provision(ConditionType),
    /// Deleting: this step of the deletion.
    Delete(DeletionStep),
}

/// What the orchestrator does next for a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Take this step against the cluster.
    Take(Step),
    /// Every condition is True: the store is ready.
    MarkReady,
    /// Deleting, and nothing (more) to clean up in the cluster.
    MarkDeleted,
    /// Nothing to do until the desired state changes.
    Nothing,
}

/// Decide the next step from what was last observed. A store no step ever wrote to a cluster
/// for (`touched_cluster` false) needs no cluster to be deleted.
pub fn next_action(store: &Store) -> Action {
    let status = &store.status;
    match status.phase {
        Phase::Requested | Phase::Provisioning => ConditionType::ORDER
            .into_iter()
            .find(|kind| !status.conditions.is_true(*kind))
            .map_or(Action::MarkReady, |kind| {
                Action::Take(Step::Provision(kind))
            }),
        Phase::Deleting if !status.touched_cluster => Action::MarkDeleted,
        Phase::Deleting => DeletionStep::after(status.deletion_done)
            .map_or(Action::MarkDeleted, |step| Action::Take(Step::Delete(step))),
        Phase::Ready | Phase::Failed | Phase::Deleted => Action::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::StoreBuilder;

    fn take(kind: ConditionType) -> Action {
        Action::Take(Step::Provision(kind))
    }

    #[test]
    fn a_new_store_starts_with_its_namespace() {
        assert_eq!(
            next_action(&StoreBuilder::new("shop").build()),
            take(ConditionType::NamespaceReady)
        );
    }

    #[test]
    fn provisioning_takes_the_first_condition_that_is_not_true() {
        let store = StoreBuilder::new("shop")
            .phase(Phase::Provisioning)
            .done_through(2)
            .build();
        assert_eq!(next_action(&store), take(ConditionType::ReleaseInstalled));
    }

    #[test]
    fn a_store_is_ready_only_when_every_condition_is_true() {
        let almost = StoreBuilder::new("shop")
            .phase(Phase::Provisioning)
            .done_through(5)
            .build();
        assert_eq!(next_action(&almost), take(ConditionType::OrderCheckPassed));
        let all = StoreBuilder::new("shop")
            .phase(Phase::Provisioning)
            .done_through(6)
            .build();
        assert_eq!(next_action(&all), Action::MarkReady);
    }

    #[test]
    fn deleting_an_untouched_store_needs_no_cluster() {
        let store = StoreBuilder::new("shop").phase(Phase::Deleting).build();
        assert_eq!(next_action(&store), Action::MarkDeleted);
    }

    #[test]
    fn deleting_deletes_the_namespace_then_waits() {
        let deleting = StoreBuilder::new("shop")
            .phase(Phase::Deleting)
            .touched_cluster()
            .done_through(6);
        assert_eq!(
            next_action(&deleting.clone().build()),
            Action::Take(Step::Delete(DeletionStep::DeleteNamespace))
        );
        assert_eq!(
            next_action(
                &deleting
                    .clone()
                    .deletion_done(DeletionStep::DeleteNamespace)
                    .build()
            ),
            Action::Take(Step::Delete(DeletionStep::AwaitNamespaceGone))
        );
        assert_eq!(
            next_action(
                &deleting
                    .deletion_done(DeletionStep::AwaitNamespaceGone)
                    .build()
            ),
            Action::MarkDeleted
        );
    }

    #[test]
    fn deletion_steps_follow_their_order_and_read_back_what_they_write() {
        assert_eq!(
            DeletionStep::after(None),
            Some(DeletionStep::DeleteNamespace)
        );
        assert_eq!(
            DeletionStep::after(Some(DeletionStep::DeleteNamespace)),
            Some(DeletionStep::AwaitNamespaceGone)
        );
        assert_eq!(
            DeletionStep::after(Some(DeletionStep::AwaitNamespaceGone)),
            None
        );
        for step in DeletionStep::ORDER {
            assert_eq!(step.as_str().parse(), Ok(step));
        }
        assert!("Deleting".parse::<DeletionStep>().is_err());
    }

    #[test]
    fn settled_phases_need_nothing() {
        for phase in [Phase::Ready, Phase::Failed, Phase::Deleted] {
            let store = StoreBuilder::new("shop")
                .phase(phase)
                .touched_cluster()
                .build();
            assert_eq!(next_action(&store), Action::Nothing);
        }
    }
}
