//! One pass over one claimed store: decide (pure) → act (one step) → record, until the store
//! is settled or has to wait. Every write is conditional on still holding the lease.

use crate::steps::{self, StepOutcome};
use crate::{backoff, Context};
use chrono::Utc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use storefleet_cluster::Watched;
use storefleet_domain::lifecycle::REASON_NAMESPACE_DELETING;
use storefleet_domain::{next_action, Action, ConditionStatus, ConditionType, Phase, Store};
use storefleet_state::{NewEvent, Progress, StateError, Work};

/// A store that is settled is not looked at again until its desired state changes.
const SETTLED_RECHECK: chrono::Duration = chrono::Duration::days(3650);

/// A store left waiting on something in the cluster that can be watched.
#[derive(Debug, Clone)]
pub struct WaitFor {
    pub store: Store,
    pub what: Watched,
    /// When the store is looked at again anyway.
    pub until: Duration,
}

/// Drive one store as far as it goes now. Returns when it is settled, waiting, failing, or
/// when the lease was lost (another replica owns the store now); for a store left waiting on a
/// watchable change, what it waits on.
pub async fn reconcile(
    ctx: &Context,
    work: Work,
    lease_lost: &AtomicBool,
) -> Result<Option<WaitFor>, StateError> {
    let mut wait_for = None;
    pass(ctx, work, lease_lost, &mut wait_for).await?;
    Ok(wait_for)
}

async fn pass(
    ctx: &Context,
    work: Work,
    lease_lost: &AtomicBool,
    wait_for: &mut Option<WaitFor>,
) -> Result<(), StateError> {
    let seen_generation = work.store.generation;
    let mut store = work.store;
    let mut attempts = work.attempts;
    loop {
        if lease_lost.load(Ordering::Relaxed) {
            ctx.metrics.lost_leases.inc();
            return Ok(());
        }
        let now = Utc::now();
        let mut events = Vec::new();
        if matches!(store.phase, Phase::Requested | Phase::Provisioning) && now >= store.deadline_at
        {
            let last = store
                .message
                .clone()
                .unwrap_or_else(|| "no step had finished".to_owned());
            let message =
                format!("provisioning did not finish before its deadline; last state: {last}");
            store.phase = Phase::Failed;
            store.message = Some(message.clone());
            events.push(NewEvent::warning("ProvisioningTimeout", message));
            return settle(ctx, seen_generation, store, events).await;
        }
        let action = next_action(store.phase, &store.conditions, store.touched_cluster);
        match action {
            Action::Nothing => {
                return settle(ctx, seen_generation, store, events).await;
            }
            Action::MarkReady => {
                store.phase = Phase::Ready;
                store.message = None;
                events.push(NewEvent::normal(
                    "Ready",
                    "store is ready: a test order went through",
                ));
                return settle(ctx, seen_generation, store, events).await;
            }
            Action::MarkDeleted => {
                mark_deleted(
                    &mut store,
                    &mut events,
                    "nothing was created in the cluster",
                );
                return settle(ctx, seen_generation, store, events).await;
            }
            _ => {}
        }
        if store.phase == Phase::Requested {
            store.phase = Phase::Provisioning;
            events.push(NewEvent::normal(
                "Provisioning",
                format!("provisioning started by {}", ctx.owner),
            ));
        }
        if !store.touched_cluster && ctx.driver.is_configured() {
            // Before the first write: from here on a delete must clean up in the cluster.
            ctx.state.mark_touched(store.id).await?;
            store.touched_cluster = true;
        }

        let started = Instant::now();
        let outcome = steps::run(action, &store, ctx).await;
        ctx.observe(action, &outcome, started);
        let now = Utc::now();
        match outcome {
            StepOutcome::Done { reason, message } => {
                attempts = 0;
                record_done(ctx, action, &mut store, reason, &message);
                if action == Action::AwaitNamespaceGone {
                    mark_deleted(&mut store, &mut events, &message);
                    return settle(ctx, seen_generation, store, events).await;
                }
                events.push(NewEvent::normal(reason, message));
                let progress = Progress {
                    store: store.clone(),
                    events,
                    next_attempt_at: now,
                    attempts,
                };
                if !ctx
                    .state
                    .save_progress(&ctx.owner, seen_generation, &progress, now, false)
                    .await?
                {
                    return give_up_stale(ctx, &store).await;
                }
            }
            StepOutcome::Waiting {
                reason,
                message,
                retry_after,
            } => {
                let changed = store.message.as_deref() != Some(message.as_str());
                set_condition(&mut store, action, ConditionStatus::False, reason, &message);
                if changed {
                    events.push(NewEvent::normal(reason, message.clone()));
                }
                store.message = Some(message);
                let next = now
                    + chrono::Duration::from_std(retry_after)
                        .unwrap_or(chrono::Duration::seconds(1));
                *wait_for = watched(action).map(|what| WaitFor {
                    store: store.clone(),
                    what,
                    until: retry_after,
                });
                return finish(ctx, seen_generation, store, events, next, attempts).await;
            }
            StepOutcome::Error(error) => {
                attempts += 1;
                let delay = backoff::delay(attempts);
                let message = format!(
                    "{} failed: {error}; attempt {attempts}, retrying in {} s",
                    steps::step_name(action),
                    delay.as_secs()
                );
                tracing::warn!(store = %store.id, step = steps::step_name(action), kind = error.kind(), %error, attempts, "step failed");
                set_condition(
                    &mut store,
                    action,
                    ConditionStatus::False,
                    "Retrying",
                    &message,
                );
                events.push(NewEvent::warning("StepFailed", message.clone()));
                store.message = Some(message);
                let next = now
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60));
                return finish(ctx, seen_generation, store, events, next, attempts).await;
            }
            StepOutcome::Fatal { reason, message } => {
                set_condition(&mut store, action, ConditionStatus::False, reason, &message);
                store.phase = Phase::Failed;
                store.message = Some(message.clone());
                events.push(NewEvent::warning(reason, message));
                return settle(ctx, seen_generation, store, events).await;
            }
        }
    }
}

/// What a waiting step waits on, when it can be watched.
fn watched(action: Action) -> Option<Watched> {
    match action {
        Action::Provision(ConditionType::WorkloadsReady) => Some(Watched::Workloads),
        Action::Provision(ConditionType::StoreConfigured) => Some(Watched::Jobs),
        Action::AwaitNamespaceGone => Some(Watched::NamespaceGone),
        _ => None,
    }
}

fn mark_deleted(store: &mut Store, events: &mut Vec<NewEvent>, message: &str) {
    store.phase = Phase::Deleted;
    store.message = None;
    events.push(NewEvent::normal(
        "Deleted",
        format!("store deleted: {message}"),
    ));
}

/// Record what a finished step established: a True condition while provisioning, or the
/// deletion markers the next decision reads.
fn record_done(ctx: &Context, action: Action, store: &mut Store, reason: &str, message: &str) {
    let now = Utc::now();
    match action {
        Action::Provision(kind) => {
            store
                .conditions
                .set(kind, ConditionStatus::True, reason, message, now);
            store.message = None;
            if kind == ConditionType::ReleaseInstalled {
                store.storefront_url = Some(ctx.settings.storefront_url(store));
                store.admin_url = Some(ctx.settings.admin_url(store));
            }
        }
        Action::DeleteNamespace => store.conditions.set(
            ConditionType::NamespaceReady,
            ConditionStatus::False,
            REASON_NAMESPACE_DELETING,
            message,
            now,
        ),
        _ => {}
    }
}

/// While provisioning, a step that is not done shows on its own condition.
fn set_condition(
    store: &mut Store,
    action: Action,
    status: ConditionStatus,
    reason: &str,
    message: &str,
) {
    if let Action::Provision(kind) = action {
        store
            .conditions
            .set(kind, status, reason, message, Utc::now());
    }
}

/// The store needs nothing more until its desired state changes: record that we saw this
/// generation through, and look again only if something else changes it.
async fn settle(
    ctx: &Context,
    seen_generation: i64,
    mut store: Store,
    events: Vec<NewEvent>,
) -> Result<(), StateError> {
    store.observed_generation = store.generation;
    finish(
        ctx,
        seen_generation,
        store,
        events,
        Utc::now() + SETTLED_RECHECK,
        0,
    )
    .await
}

async fn finish(
    ctx: &Context,
    seen_generation: i64,
    store: Store,
    events: Vec<NewEvent>,
    next_attempt_at: chrono::DateTime<Utc>,
    attempts: i64,
) -> Result<(), StateError> {
    let now = Utc::now();
    let progress = Progress {
        store,
        events,
        next_attempt_at,
        attempts,
    };
    if !ctx
        .state
        .save_progress(&ctx.owner, seen_generation, &progress, now, true)
        .await?
    {
        return give_up_stale(ctx, &progress.store).await;
    }
    Ok(())
}

/// The desired state changed (or the lease went): keep the events, hand the store back.
async fn give_up_stale(ctx: &Context, store: &Store) -> Result<(), StateError> {
    tracing::info!(store = %store.id, "desired state changed or lease lost during the pass; handing back");
    ctx.state.release_lease(store.id, &ctx.owner).await
}
