//! Test builders (feature `test-support`): a store to create, who asked, room to create it,
//! and a store failed the way the orchestrator fails one.
//! Change what a test cares about with struct update syntax:
//! `NewStore { owner: "bob".into(), ..new_store("shop", Engine::Medusa) }`.

use crate::{
    AuditAction, AuditEntry, AuditOutcome, CreateLimits, NewEvent, NewStore, Progress, StateError,
    StateStore,
};
use chrono::Utc;
pub use storefleet_domain::fixtures::user;
use storefleet_domain::{Engine, Phase, Plan, StoreId, StoreName};

/// Quotas no test reaches by accident.
pub const ROOMY: CreateLimits = CreateLimits {
    per_user: 50,
    total: 50,
};

/// A small store of `engine` owned by `tester`, due within 5 minutes.
///
/// # Panics
/// When `name` is not a valid store name (a mistake in the test itself).
pub fn new_store(name: &str, engine: Engine) -> NewStore {
    #[allow(clippy::expect_used)] // a builder for tests: a bad literal is the test's bug
    let name = StoreName::parse(name).expect("a valid store name in a test");
    NewStore {
        name,
        owner: user("tester"),
        engine,
        plan: Plan::Small,
        cluster: "test".into(),
        expires_at: None,
        deadline_at: Utc::now() + chrono::Duration::minutes(5),
        idempotency: None,
    }
}

/// A succeeded `action` by `actor`, from nowhere in particular.
pub fn audit_entry(actor: &str, action: impl Into<AuditAction>) -> AuditEntry {
    AuditEntry {
        actor: actor.to_owned(),
        action: action.into(),
        target: None,
        source_ip: None,
        request_id: None,
        outcome: AuditOutcome::Succeeded,
        detail: None,
    }
}

/// Record the due store `id` as failed with `message`, as the orchestrator does after a
/// permanent error. False when it was not due.
pub async fn record_failed(
    state: &StateStore,
    id: StoreId,
    message: &str,
) -> Result<bool, StateError> {
    let event = NewEvent::warning("ReleaseImpossible", message);
    record_settled(state, id, Phase::Failed, Some(message), event).await
}

/// Record the due store `id` (deletion requested) as deleted, as the orchestrator does once
/// nothing is left in the cluster. False when it was not due.
pub async fn record_deleted(state: &StateStore, id: StoreId) -> Result<bool, StateError> {
    let event = NewEvent::normal("Deleted", "nothing was created in the cluster");
    record_settled(state, id, Phase::Deleted, None, event).await
}

/// Claim the due store `id`, save it settled in `phase` with `event`, and release it.
async fn record_settled(
    state: &StateStore,
    id: StoreId,
    phase: Phase,
    message: Option<&str>,
    event: NewEvent,
) -> Result<bool, StateError> {
    let now = Utc::now();
    let owner = "fixture-orchestrator";
    let claimed = state
        .claim(owner, now, now + chrono::Duration::seconds(30), 100)
        .await?;
    let mut found = false;
    for work in claimed {
        if work.store.id != id {
            state.release_lease(work.store.id, owner).await?;
            continue;
        }
        let generation = work.store.generation;
        let mut status = work.store.status;
        status.phase = phase;
        status.message = message.map(str::to_owned);
        status.observed_generation = generation;
        let progress = Progress {
            id,
            status,
            events: vec![event.clone()],
            next_attempt_at: now + chrono::Duration::days(3650),
            attempts: 0,
        };
        found = state
            .save_progress(owner, generation, &progress, now, true)
            .await?;
    }
    Ok(found)
}
