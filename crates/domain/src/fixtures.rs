//! Test builders (feature `test-support`): a store in the state a test needs, in one line.
//!
//! `StoreBuilder::new("shop").phase(Phase::Provisioning).done_through(3).build()` instead of a
//! twenty-field literal per test; every field a test does not name has a fixed value, so
//! tests stay deterministic (times are [`t0`] plus seconds).

use crate::{namespace_for, ConditionStatus, ConditionType, DeletionStep, Engine};
use crate::{Phase, Plan};
use crate::{Store, StoreId, StoreName, StoreSpec, StoreStatus, UserName};
use chrono::{DateTime, TimeZone, Utc};

/// A fixed instant tests count from: 2026-01-01T00:00:00Z.
pub fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// [`t0`] plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(seconds)
}

/// A user name written in a test.
///
/// # Panics
/// When `name` is not a valid user name (a mistake in the test itself).
pub fn user(name: &str) -> UserName {
    #[allow(clippy::expect_used)] // a builder for tests: a bad literal is the test's bug
    UserName::parse(name).expect("a valid user name in a test")
}

/// Builds a [`Store`]: by default a Medusa store of plan small, owned by `tester`, just
/// requested at [`t0`] with a deadline ten minutes later, generation 1, nothing in a cluster.
#[derive(Debug, Clone)]
pub struct StoreBuilder {
    store: Store,
}

impl StoreBuilder {
    /// # Panics
    /// When `name` is not a valid store name (a mistake in the test itself).
    pub fn new(name: &str) -> Self {
        #[allow(clippy::expect_used)] // a builder for tests: a bad literal is the test's bug
        let name = StoreName::parse(name).expect("a valid store name in a test");
        let id = StoreId::now_v7();
        Self {
            store: Store {
                id,
                namespace: namespace_for(&name, id),
                spec: StoreSpec {
                    name,
                    owner: user("tester"),
                    engine: Engine::Medusa,
                    plan: Plan::Small,
                    expires_at: None,
                },
                status: StoreStatus::requested(),
                cluster: "test".to_owned(),
                deadline_at: at(600),
                created_at: t0(),
                updated_at: t0(),
                generation: 1,
            },
        }
    }

    /// A fixed id (and the namespace that follows from it).
    pub fn id(mut self, id: StoreId) -> Self {
        self.store.id = id;
        self.store.namespace = namespace_for(&self.store.spec.name, id);
        self
    }

    pub fn owner(mut self, owner: &str) -> Self {
        self.store.spec.owner = user(owner);
        self
    }

    pub fn engine(mut self, engine: Engine) -> Self {
        self.store.spec.engine = engine;
        self
    }

    pub fn plan(mut self, plan: Plan) -> Self {
        self.store.spec.plan = plan;
        self
    }

    pub fn phase(mut self, phase: Phase) -> Self {
        self.store.status.phase = phase;
        self
    }

    pub fn namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.store.namespace);
        self
    }

    /// Created, updated and due at `time`.
    pub fn times(mut self, time: DateTime<Utc>) -> Self {
        self.store.created_at = time;
        self.store.updated_at = time;
        self.store.deadline_at = time;
        self
    }

    pub fn deadline(mut self, deadline: DateTime<Utc>) -> Self {
        self.store.deadline_at = deadline;
        self
    }

    pub fn message(mut self, message: &str) -> Self {
        self.store.status.message = Some(message.to_owned());
        self
    }

    pub fn generation(mut self, generation: i64) -> Self {
        self.store.generation = generation;
        self
    }

    /// Some step already wrote to the cluster for this store.
    pub fn touched_cluster(mut self) -> Self {
        self.store.status.touched_cluster = true;
        self
    }

    /// Deletion has come through `step`.
    pub fn deletion_done(mut self, step: DeletionStep) -> Self {
        self.store.status.deletion_done = Some(step);
        self
    }

    /// The first `steps` provisioning conditions are True (in [`ConditionType::ORDER`]).
    pub fn done_through(mut self, steps: usize) -> Self {
        for kind in ConditionType::ORDER.into_iter().take(steps) {
            self.store
                .status
                .conditions
                .set(kind, ConditionStatus::True, "Done", "done", t0());
        }
        self
    }

    pub fn build(self) -> Store {
        self.store
    }
}
