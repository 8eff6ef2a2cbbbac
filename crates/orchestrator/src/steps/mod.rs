//! The steps of a store's life, one module each. A step's module is its one home: its name,
//! what it does (the only code that calls the cluster driver), what a store waiting on it
//! waits on, and what "done" records. Which step comes next is the domain's decision
//! (`next_action`); how a step's outcome moves the store is [`crate::transition`]'s.

mod configure;
mod delete_namespace;
mod guardrails;
mod namespace;
mod namespace_gone;
mod order_check;
mod release;
mod workloads;

use crate::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use storefleet_cluster::{ClusterError, ClusterSettings, Readiness, Watched};
use storefleet_domain::{
    ConditionStatus, ConditionType, DeletionStep, Phase, Step, Store, StoreStatus,
};
use storefleet_state::NewEvent;

/// How often a store waiting on its pods or its setup Job is looked at again. A watch brings
/// it forward as soon as its answer changes (`wake_on_change`), so the poll is only the
/// fallback when watching fails. Every poll costs the API server two lists and a new watch: at
/// 2 s they were most of the orchestrator's requests while a setup Job ran (issue 12).
pub const POLL_WORKLOADS: Duration = Duration::from_secs(10);

/// What came of taking a step once.
#[derive(Debug)]
pub enum StepOutcome {
    /// The step's goal holds now; `reason` and `message` describe it.
    Done {
        reason: &'static str,
        message: String,
    },
    /// Not there yet; look again after `retry_after`.
    Waiting {
        reason: &'static str,
        message: String,
        retry_after: Duration,
    },
    /// The step failed; retry with backoff.
    Error(ClusterError),
    /// Waiting will not help: the store fails.
    Fatal {
        reason: &'static str,
        message: String,
    },
}

impl StepOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            StepOutcome::Done { .. } => "done",
            StepOutcome::Waiting { .. } => "waiting",
            StepOutcome::Error(_) => "error",
            StepOutcome::Fatal { .. } => "fatal",
        }
    }
}

/// Everything about one step, in one place.
#[async_trait]
pub trait Definition: Sync {
    /// Which step this is.
    fn step(&self) -> Step;

    /// The step's name in metrics, logs and failure messages.
    fn name(&self) -> &'static str;

    /// What a store waiting on this step waits on, when that can be watched.
    fn waits_on(&self) -> Option<Watched> {
        None
    }

    /// Take the step. Idempotent: repeating it after a crash finds what is already there.
    async fn act(&self, store: &Store, ctx: &Context) -> StepOutcome;

    /// What "done" records in the store's status (no client required), and the event that
    /// says so. Unless a step says more: a provisioning step's condition turns True; a
    /// deletion step is recorded as the last one done. `store` is read-only: a step records
    /// what it observed, never what the owner asked for.
    fn record_done(
        &self,
        _store: &Store,
        status: &mut StoreStatus,
        done: Done,
        now: DateTime<Utc>,
        _settings: &ClusterSettings,
    ) -> NewEvent {
        record_step_done(self.step(), status, done, now)
    }
}

/// What every step's "done" records at least: a provisioning step's condition True (and no
/// message left to wait on), or a deletion step as the last one done.
pub fn record_step_done(
    step: Step,
    status: &mut StoreStatus,
    done: Done,
    now: DateTime<Utc>,
) -> NewEvent {
    match step {
        Step::Provision(kind) => {
            status
                .conditions
                .set(kind, ConditionStatus::True, done.reason, &done.message, now);
            status.message = None;
        }
        Step::Delete(step) => status.deletion_done = Some(step),
    }
    NewEvent::normal(done.reason, done.message)
}

/// A finished step's reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub reason: &'static str,
    pub message: String,
}

/// The definition of `step`.
pub fn definition(step: Step) -> &'static dyn Definition {
    match step {
        Step::Provision(ConditionType::NamespaceReady) => &namespace::Namespace,
        Step::Provision(ConditionType::GuardrailsApplied) => &guardrails::Guardrails,
        Step::Provision(ConditionType::ReleaseInstalled) => &release::Release,
        Step::Provision(ConditionType::WorkloadsReady) => &workloads::Workloads,
        Step::Provision(ConditionType::StoreConfigured) => &configure::Configure,
        Step::Provision(ConditionType::OrderCheckPassed) => &order_check::OrderCheck,
        Step::Delete(DeletionStep::DeleteNamespace) => &delete_namespace::DeleteNamespace,
        Step::Delete(DeletionStep::AwaitNamespaceGone) => &namespace_gone::NamespaceGone,
    }
}

/// The store is gone: the last record of a deletion.
pub fn mark_deleted(status: &mut StoreStatus, message: &str) -> NewEvent {
    status.phase = Phase::Deleted;
    status.message = None;
    NewEvent::normal("Deleted", format!("store deleted: {message}"))
}

fn done_or_error(
    r: Result<(), ClusterError>,
    reason: &'static str,
    message: String,
) -> StepOutcome {
    match r {
        Ok(()) => StepOutcome::Done { reason, message },
        Err(e) => StepOutcome::Error(e),
    }
}

/// A readiness answer as an outcome: done, waiting (polled every [`POLL_WORKLOADS`]) or fatal.
fn readiness(
    r: Result<Readiness, ClusterError>,
    done: &'static str,
    waiting: &'static str,
    failed: &'static str,
) -> StepOutcome {
    match r {
        Ok(Readiness::Ready(message)) => StepOutcome::Done {
            reason: done,
            message,
        },
        Ok(Readiness::Waiting(message)) => StepOutcome::Waiting {
            reason: waiting,
            message,
            retry_after: POLL_WORKLOADS,
        },
        Ok(Readiness::Failed(message)) => StepOutcome::Fatal {
            reason: failed,
            message,
        },
        Err(e) => StepOutcome::Error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_says_its_name_and_what_it_waits_on() {
        use ConditionType as C;
        use DeletionStep as D;
        // The names are metric labels and log fields: dashboards and alerts key on them.
        let table = [
            (Step::Provision(C::NamespaceReady), "namespace", None),
            (Step::Provision(C::GuardrailsApplied), "guardrails", None),
            (Step::Provision(C::ReleaseInstalled), "release", None),
            (
                Step::Provision(C::WorkloadsReady),
                "workloads",
                Some(Watched::Workloads),
            ),
            (
                Step::Provision(C::StoreConfigured),
                "configure",
                Some(Watched::Jobs),
            ),
            (Step::Provision(C::OrderCheckPassed), "order_check", None),
            (Step::Delete(D::DeleteNamespace), "delete_namespace", None),
            (
                Step::Delete(D::AwaitNamespaceGone),
                "await_namespace_gone",
                Some(Watched::NamespaceGone),
            ),
        ];
        let every_step: Vec<Step> = C::ORDER
            .map(Step::Provision)
            .into_iter()
            .chain(D::ORDER.map(Step::Delete))
            .collect();
        assert_eq!(
            table.iter().map(|(step, ..)| *step).collect::<Vec<_>>(),
            every_step,
            "the table covers every step, in order"
        );
        for (step, name, waits_on) in table {
            let definition = definition(step);
            assert_eq!(
                definition.step(),
                step,
                "{name} is defined under its own step"
            );
            assert_eq!(definition.name(), name, "{step:?}");
            assert_eq!(definition.waits_on(), waits_on, "{step:?}");
        }
    }
}
