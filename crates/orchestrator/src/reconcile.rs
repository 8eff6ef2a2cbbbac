//! One pass over one claimed store: decide (pure) → act (the step's I/O) → apply (pure) →
//! record, step after step, until the store settles, waits or is handed back. Every record is
//! conditional on still holding the lease and on the generation the pass started from.

use crate::steps::{self, StepOutcome};
use crate::transition::{apply, conclude, decide, Decision, Next, Rules};
use crate::Context;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use storefleet_cluster::Watched;
use storefleet_domain::{Step, Store};
use storefleet_state::{StateError, StateStore, Work};

/// A store left waiting on something in the cluster that can be watched.
#[derive(Debug, Clone)]
pub struct WaitFor {
    pub store: Store,
    pub what: Watched,
    /// When the store is looked at again anyway.
    pub until: Duration,
}

/// How a pass ended.
#[derive(Debug, Clone)]
pub enum PassEnd {
    /// Nothing more to do until the desired state changes.
    Settled,
    /// Due again later; `watch` says what to watch meanwhile, when that can be watched.
    Waiting { watch: Option<Box<WaitFor>> },
    /// The desired state changed (or the lease went) during the pass: handed back.
    Stale,
    /// The lease renewer saw the lease go to another replica: stopped without recording.
    LeaseLost,
}

/// What became of recording a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Saved,
    /// Nobody holds the store's lease anymore or its generation moved: only the events were
    /// kept and the lease is given back.
    Stale,
}

/// Drive one claimed store as far as it goes now. The clock is read once per step, right
/// after the step acted: that is when its outcome was observed.
pub async fn reconcile(
    ctx: &Context,
    work: Work,
    lease_lost: &AtomicBool,
) -> Result<PassEnd, StateError> {
    let seen_generation = work.store.generation;
    let rules = Rules {
        owner: &ctx.owner,
        settings: &ctx.settings,
    };
    let mut store = work.store;
    let mut attempts = work.attempts;
    let mut now = Utc::now();
    loop {
        if lease_lost.load(Ordering::Relaxed) {
            ctx.metrics.lost_leases.inc();
            return Ok(PassEnd::LeaseLost);
        }
        let transition = match decide(&store, now) {
            Decision::Conclude(conclusion) => conclude(&store, conclusion),
            Decision::Take(step) => {
                let outcome = act(ctx, step, &mut store, attempts).await?;
                now = Utc::now();
                apply(&store, step, outcome, attempts, now, &rules)
            }
        };
        let (progress, next) = transition.into_progress(store.id, now);
        let recorded = record(
            &ctx.state,
            &ctx.owner,
            seen_generation,
            &progress,
            &next,
            now,
        )
        .await?;
        if recorded == Recorded::Stale {
            return Ok(PassEnd::Stale);
        }
        match next {
            Next::Continue => {
                store.status = progress.status;
                attempts = progress.attempts;
            }
            Next::Wait { watch, .. } => {
                store.status = progress.status;
                let watch = watch.map(|(what, until)| Box::new(WaitFor { store, what, until }));
                return Ok(PassEnd::Waiting { watch });
            }
            Next::Settle => return Ok(PassEnd::Settled),
        }
    }
}

/// Take one step: the only place a pass reaches the cluster.
async fn act(
    ctx: &Context,
    step: Step,
    store: &mut Store,
    attempts: i64,
) -> Result<StepOutcome, StateError> {
    if !store.status.touched_cluster && ctx.driver.is_configured() {
        // Before the first write: from here on a delete must clean up in the cluster.
        ctx.state.mark_touched(store.id).await?;
        store.status.touched_cluster = true;
    }
    let definition = steps::definition(step);
    let started = Instant::now();
    let outcome = definition.act(store, ctx).await;
    ctx.observe(definition.name(), &outcome, started);
    // The raw text is for the operator only: the tenant sees a classified reason.
    match &outcome {
        StepOutcome::Error(error) => {
            tracing::warn!(store = %store.id, step = definition.name(), kind = error.kind(), %error, api_server = %ctx.cluster_address, attempts = attempts + 1, "step failed")
        }
        StepOutcome::Fatal { reason, message } => {
            tracing::warn!(store = %store.id, step = definition.name(), reason, error = %message, api_server = %ctx.cluster_address, "step failed for good")
        }
        _ => {}
    }
    Ok(outcome)
}

/// Save a transition unless the pass went stale; a stale pass keeps its events and gives
/// the lease back.
pub async fn record(
    state: &StateStore,
    owner: &str,
    seen_generation: i64,
    progress: &storefleet_state::Progress,
    next: &Next,
    now: DateTime<Utc>,
) -> Result<Recorded, StateError> {
    let release = *next != Next::Continue;
    if state
        .save_progress(owner, seen_generation, progress, now, release)
        .await?
    {
        return Ok(Recorded::Saved);
    }
    tracing::info!(store = %progress.id, "desired state changed or lease lost during the pass; handing back");
    state.release_lease(progress.id, owner).await?;
    Ok(Recorded::Stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transition::Transition;
    use storefleet_cluster::ClusterSettings;
    use storefleet_domain::{ConditionType, Engine, Phase};
    use storefleet_state::fixtures::{audit_entry, new_store, ROOMY};

    async fn state() -> (StateStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/state.db", dir.path().display());
        (StateStore::connect(&url).await.expect("state"), dir)
    }

    /// Claim a fresh store as `me` and let its namespace step finish.
    async fn claimed_and_stepped(state: &StateStore) -> (Work, Transition) {
        let now = Utc::now();
        state
            .create_store(
                new_store("shop", Engine::Medusa),
                ROOMY,
                &audit_entry("tester", "store.create"),
                now,
            )
            .await
            .expect("create");
        let lease = now + chrono::Duration::seconds(30);
        let work = state
            .claim("me", now, lease, 1)
            .await
            .expect("claim")
            .pop()
            .expect("one store due");
        let settings = ClusterSettings::default();
        let rules = Rules {
            owner: "me",
            settings: &settings,
        };
        let outcome = StepOutcome::Done {
            reason: "NamespaceCreated",
            message: "namespace is ready".into(),
        };
        let step = Step::Provision(ConditionType::NamespaceReady);
        let transition = apply(&work.store, step, outcome, 0, now, &rules);
        (work, transition)
    }

    #[tokio::test]
    async fn a_pass_on_the_same_generation_is_saved_and_keeps_its_lease_to_continue() {
        let (state, _dir) = state().await;
        let (work, transition) = claimed_and_stepped(&state).await;
        let now = Utc::now();
        let (progress, next) = transition.into_progress(work.store.id, now);
        let recorded = record(&state, "me", work.store.generation, &progress, &next, now).await;
        assert_eq!(recorded.expect("record"), Recorded::Saved);
        let saved = state
            .get_store(work.store.id)
            .await
            .expect("get")
            .expect("exists");
        assert!(saved
            .status
            .conditions
            .is_true(ConditionType::NamespaceReady));
        assert_eq!(saved.status.phase, Phase::Provisioning);
        let later = now + chrono::Duration::seconds(1);
        let others = state.claim("other", later, later, 1).await.expect("claim");
        assert!(
            others.is_empty(),
            "the lease stays with the pass that continues"
        );
    }

    #[tokio::test]
    async fn a_pass_whose_generation_moved_keeps_only_its_events_and_hands_the_store_back() {
        let (state, _dir) = state().await;
        let (work, transition) = claimed_and_stepped(&state).await;
        // The owner deletes the store while the step was running.
        state
            .request_delete(
                work.store.id,
                &audit_entry("tester", "store.delete"),
                Utc::now(),
            )
            .await
            .expect("delete")
            .expect("found");
        let now = Utc::now();
        let (progress, next) = transition.into_progress(work.store.id, now);
        let recorded = record(&state, "me", work.store.generation, &progress, &next, now).await;
        assert_eq!(recorded.expect("record"), Recorded::Stale);

        let after = state
            .get_store(work.store.id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            after.status.phase,
            Phase::Deleting,
            "the delete is not overwritten"
        );
        assert_eq!(after.generation, work.store.generation + 1);
        assert!(!after
            .status
            .conditions
            .is_true(ConditionType::NamespaceReady));
        let events = state.events(work.store.id, 0, 100).await.expect("events");
        let reasons: Vec<_> = events.iter().map(|e| e.reason.as_str()).collect();
        assert!(
            reasons.contains(&"NamespaceCreated"),
            "events are kept: {reasons:?}"
        );
        let later = now + chrono::Duration::seconds(1);
        let others = state.claim("other", later, later, 1).await.expect("claim");
        assert_eq!(others.len(), 1, "the lease was given back for the deletion");
    }
}
