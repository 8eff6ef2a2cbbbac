//! A store's phases and the pure decision of which step the orchestrator takes next.

use crate::condition::{ConditionType, Conditions};
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

/// The one step the orchestrator takes next for a store. Every step is idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Provisioning: bring the condition of this type to True.
    Provision(ConditionType),
    /// Every condition is True: the store is ready.
    MarkReady,
    /// Deleting: delete the store's namespace. There is no `helm uninstall` first: the release
    /// (its objects and helm's own record) lives only in that namespace, so the namespace
    /// controller removes all of it, and uninstalling first cost ~1.4 s per store (bench).
    DeleteNamespace,
    AwaitNamespaceGone,
    MarkDeleted,
    /// Nothing to do until the desired state changes.
    Nothing,
}

/// Reason recorded on `NamespaceReady` once deletion of the namespace was requested.
pub const REASON_NAMESPACE_DELETING: &str = "Deleting";

/// Decide the next step from what was last observed. `touched_cluster` says whether any
/// step ever wrote to the cluster for this store: if none did, deleting needs no cluster.
pub fn next_action(phase: Phase, conditions: &Conditions, touched_cluster: bool) -> Action {
    match phase {
        Phase::Requested | Phase::Provisioning => ConditionType::ORDER
            .into_iter()
            .find(|kind| !conditions.is_true(*kind))
            .map_or(Action::MarkReady, Action::Provision),
        Phase::Deleting if !touched_cluster => Action::MarkDeleted,
        Phase::Deleting => {
            if conditions.reason_of(ConditionType::NamespaceReady)
                != Some(REASON_NAMESPACE_DELETING)
            {
                Action::DeleteNamespace
            } else {
                Action::AwaitNamespaceGone
            }
        }
        Phase::Ready | Phase::Failed | Phase::Deleted => Action::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::ConditionStatus;
    use chrono::Utc;

    fn with_true(kinds: &[ConditionType]) -> Conditions {
        let mut conditions = Conditions::default();
        for kind in kinds {
            conditions.set(*kind, ConditionStatus::True, "Done", "", Utc::now());
        }
        conditions
    }

    #[test]
    fn a_new_store_starts_with_its_namespace() {
        assert_eq!(
            next_action(Phase::Requested, &Conditions::default(), false),
            Action::Provision(ConditionType::NamespaceReady)
        );
    }

    #[test]
    fn provisioning_takes_the_first_condition_that_is_not_true() {
        let conditions = with_true(&[
            ConditionType::NamespaceReady,
            ConditionType::GuardrailsApplied,
        ]);
        assert_eq!(
            next_action(Phase::Provisioning, &conditions, true),
            Action::Provision(ConditionType::ReleaseInstalled)
        );
    }

    #[test]
    fn a_store_is_ready_only_when_every_condition_is_true() {
        let almost = with_true(&ConditionType::ORDER[..5]);
        assert_eq!(
            next_action(Phase::Provisioning, &almost, true),
            Action::Provision(ConditionType::OrderCheckPassed)
        );
        let all = with_true(&ConditionType::ORDER);
        assert_eq!(
            next_action(Phase::Provisioning, &all, true),
            Action::MarkReady
        );
    }

    #[test]
    fn deleting_an_untouched_store_needs_no_cluster() {
        assert_eq!(
            next_action(Phase::Deleting, &Conditions::default(), false),
            Action::MarkDeleted
        );
    }

    #[test]
    fn deleting_deletes_the_namespace_then_waits() {
        let mut conditions = with_true(&ConditionType::ORDER);
        assert_eq!(
            next_action(Phase::Deleting, &conditions, true),
            Action::DeleteNamespace
        );
        conditions.set(
            ConditionType::NamespaceReady,
            ConditionStatus::False,
            REASON_NAMESPACE_DELETING,
            "",
            Utc::now(),
        );
        assert_eq!(
            next_action(Phase::Deleting, &conditions, true),
            Action::AwaitNamespaceGone
        );
    }

    #[test]
    fn settled_phases_need_nothing() {
        for phase in [Phase::Ready, Phase::Failed, Phase::Deleted] {
            assert_eq!(
                next_action(phase, &Conditions::default(), true),
                Action::Nothing
            );
        }
    }
}
