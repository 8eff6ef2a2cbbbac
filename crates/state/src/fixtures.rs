//! Test builders (feature `test-support`): a store to create, who asked, and room to create it.
//! Change what a test cares about with struct update syntax:
//! `NewStore { owner: "bob".into(), ..new_store("shop", Engine::Medusa) }`.

use crate::{AuditEntry, CreateLimits, NewStore};
use chrono::Utc;
use storefleet_domain::{Engine, Plan, StoreName};

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
        owner: "tester".into(),
        engine,
        plan: Plan::Small,
        cluster: "test".into(),
        expires_at: None,
        deadline_at: Utc::now() + chrono::Duration::minutes(5),
        idempotency: None,
    }
}

/// A succeeded `action` by `actor`, from nowhere in particular.
pub fn audit_entry(actor: &str, action: &str) -> AuditEntry {
    AuditEntry {
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: None,
        source_ip: None,
        request_id: None,
        outcome: "succeeded".to_owned(),
        detail: None,
    }
}
