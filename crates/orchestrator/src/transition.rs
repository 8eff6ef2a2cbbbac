//! The pure half of a pass (no client required): decide what to do with a store, and apply
//! what came of it. The same store, outcome, attempts and `now` always give the same
//! transition, so every edge is a table test that needs neither a cluster nor a database.

use crate::backoff;
use crate::steps::{self, Done, StepOutcome};
use crate::tenant_reason::TenantReason;
use chrono::{DateTime, Utc};
use std::time::Duration;
use storefleet_cluster::{ClusterSettings, Watched};
use storefleet_domain::{
    next_action, Action, ConditionStatus, Phase, Step, Store, StoreId, StoreStatus,
};
use storefleet_state::{NewEvent, Progress};

/// A store that is settled is not looked at again until its desired state changes.
pub const SETTLED_RECHECK: chrono::Duration = chrono::Duration::days(3650);

/// What to do with a store now, from its record and the time alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Take this step against the cluster, then [`apply`] what came of it.
    Take(Step),
    /// Record a conclusion that needs no cluster ([`conclude`]).
    Conclude(Conclusion),
}

/// A decision that is recorded without touching the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    /// Provisioning ran past its deadline: the store fails.
    DeadlinePassed,
    /// Every condition is True: the store is ready.
    Ready,
    /// Deleting, and nothing (more) to clean up in the cluster.
    Deleted,
    /// Nothing to do until the desired state changes.
    Nothing,
}

/// What the pass does once a transition is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Take the next step now, still holding the lease.
    Continue,
    /// Give the store back and look at it again at `until`. Meanwhile, when what the store
    /// waits on can be watched, watch it for `poll` so a change brings the store forward.
    Wait {
        until: DateTime<Utc>,
        watch: Option<(Watched, Duration)>,
    },
    /// Nothing more to do until the desired state changes.
    Settle,
}

/// A store's new status, the events that say how it got there, and what comes next. Only
/// the status: a transition cannot change what the owner asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub status: StoreStatus,
    pub events: Vec<NewEvent>,
    /// Failed attempts at the store's current step so far.
    pub attempts: i64,
    pub next: Next,
}

/// What a pass needs besides the store: who is working, and the settings a finished step
/// records from (the store's URLs).
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub owner: &'a str,
    pub settings: &'a ClusterSettings,
}

/// Decide from the store's record and `now`: past its deadline a provisioning store fails;
/// otherwise [`next_action`] says which step comes next.
pub fn decide(store: &Store, now: DateTime<Utc>) -> Decision {
    if matches!(store.status.phase, Phase::Requested | Phase::Provisioning)
        && now >= store.deadline_at
    {
        return Decision::Conclude(Conclusion::DeadlinePassed);
    }
    match next_action(store) {
        Action::Take(step) => Decision::Take(step),
        Action::MarkReady => Decision::Conclude(Conclusion::Ready),
        Action::MarkDeleted => Decision::Conclude(Conclusion::Deleted),
        Action::Nothing => Decision::Conclude(Conclusion::Nothing),
    }
}

/// Record a conclusion; every one settles the store.
pub fn conclude(store: &Store, conclusion: Conclusion) -> Transition {
    let mut status = store.status.clone();
    let mut events = Vec::new();
    match conclusion {
        Conclusion::DeadlinePassed => {
            let last = status
                .message
                .clone()
                .unwrap_or_else(|| "no step had finished".to_owned());
            let message =
                format!("provisioning did not finish before its deadline; last state: {last}");
            status.phase = Phase::Failed;
            status.message = Some(message.clone());
            events.push(NewEvent::warning("ProvisioningTimeout", message));
        }
        Conclusion::Ready => {
            status.phase = Phase::Ready;
            status.message = None;
            events.push(NewEvent::normal(
                "Ready",
                "store is ready: a test order went through",
            ));
        }
        Conclusion::Deleted => {
            let why = if status.touched_cluster {
                "nothing is left in the cluster"
            } else {
                "nothing was created in the cluster"
            };
            events.push(steps::mark_deleted(&mut status, why));
        }
        Conclusion::Nothing => {}
    }
    settled(store, status, events)
}

/// Apply what came of taking `step` at `now`, after `attempts` failed attempts before it.
pub fn apply(
    store: &Store,
    step: Step,
    outcome: StepOutcome,
    attempts: i64,
    now: DateTime<Utc>,
    rules: &Rules<'_>,
) -> Transition {
    let mut status = store.status.clone();
    let mut events = Vec::new();
    if status.phase == Phase::Requested {
        status.phase = Phase::Provisioning;
        events.push(NewEvent::normal(
            "Provisioning",
            format!("provisioning started by {}", rules.owner),
        ));
    }
    let definition = steps::definition(step);
    match outcome {
        StepOutcome::Done { reason, message } => {
            let done = Done { reason, message };
            events.push(definition.record_done(store, &mut status, done, now, rules.settings));
            if status.phase == Phase::Deleted {
                return settled(store, status, events);
            }
            Transition {
                status,
                events,
                attempts: 0,
                next: Next::Continue,
            }
        }
        StepOutcome::Waiting {
            reason,
            message,
            retry_after,
        } => {
            // A store that keeps waiting on the same thing does not fill its event list.
            let changed = status.message.as_deref() != Some(message.as_str());
            set_condition(&mut status, step, reason, &message, now);
            if changed {
                events.push(NewEvent::normal(reason, message.clone()));
            }
            status.message = Some(message);
            Transition {
                status,
                events,
                attempts,
                next: Next::Wait {
                    until: later(now, retry_after, 1),
                    watch: definition.waits_on().map(|what| (what, retry_after)),
                },
            }
        }
        StepOutcome::Error(error) => {
            let attempts = attempts + 1;
            let delay = backoff::delay(attempts);
            // The tenant reads a classified reason; the raw error is in the log (`act`).
            let message = format!(
                "{} failed: {}; attempt {attempts}, retrying in {} s",
                definition.name(),
                TenantReason::of(&error).message(),
                delay.as_secs()
            );
            set_condition(&mut status, step, "Retrying", &message, now);
            events.push(NewEvent::warning("StepFailed", message.clone()));
            status.message = Some(message);
            Transition {
                status,
                events,
                attempts,
                next: Next::Wait {
                    until: later(now, delay, 60),
                    watch: None,
                },
            }
        }
        StepOutcome::Fatal { reason, message: _ } => {
            let message = format!(
                "{} failed: {}",
                definition.name(),
                TenantReason::of_fatal(reason).message()
            );
            set_condition(&mut status, step, reason, &message, now);
            status.phase = Phase::Failed;
            status.message = Some(message.clone());
            events.push(NewEvent::warning(reason, message));
            settled(store, status, events)
        }
    }
}

impl Transition {
    /// The record to save for store `id` at `now`, and whether the lease is kept for the
    /// next step.
    pub fn into_progress(self, id: StoreId, now: DateTime<Utc>) -> (Progress, Next) {
        let next_attempt_at = match &self.next {
            Next::Continue => now,
            Next::Wait { until, .. } => *until,
            Next::Settle => now + SETTLED_RECHECK,
        };
        let progress = Progress {
            id,
            status: self.status,
            events: self.events,
            next_attempt_at,
            attempts: self.attempts,
        };
        (progress, self.next)
    }
}

/// The store needs nothing more until its desired state changes: record that this generation
/// was seen through, and clear the failure count.
fn settled(store: &Store, mut status: StoreStatus, events: Vec<NewEvent>) -> Transition {
    status.observed_generation = store.generation;
    Transition {
        status,
        events,
        attempts: 0,
        next: Next::Settle,
    }
}

/// `after` from `now`; `fallback_secs` for a duration too long to add (none is, in practice).
fn later(now: DateTime<Utc>, after: Duration, fallback_secs: i64) -> DateTime<Utc> {
    now + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::seconds(fallback_secs))
}

/// While provisioning, a step that is not done shows on its own condition as False.
fn set_condition(
    status: &mut StoreStatus,
    step: Step,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) {
    if let Step::Provision(kind) = step {
        status
            .conditions
            .set(kind, ConditionStatus::False, reason, message, now);
    }
}

#[cfg(test)]
mod tests;
