//! One conformance suite, run against every backend: SQLite in a temp file and a real PostgreSQL.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use chrono::{Duration, Utc};
use storefleet_domain::{ConditionStatus, ConditionType, DeletionStep, Engine, Phase};
use storefleet_state::fixtures::{self, user};
use storefleet_state::{
    AuditEntry, CreateError, CreateLimits, DeleteOutcome, NewEvent, NewStore, Progress, Role,
    StateStore, UserError, IDEMPOTENCY_KEY_TTL,
};

const LIMITS: CreateLimits = CreateLimits {
    per_user: 5,
    total: 100,
};

async fn sqlite() -> (StateStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/state.db", dir.path().display());
    (StateStore::connect(&url).await.expect("sqlite"), dir)
}

async fn postgres() -> Option<StateStore> {
    let url =
        storefleet_testkit::postgres_or_skip(storefleet_testkit::postgres::fresh_database().await)?;
    Some(StateStore::connect(&url).await.expect("postgres"))
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (store, _dir) = super::sqlite().await;
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(store) = super::postgres().await else { return };
                super::$name(store).await;
            })*
        }
    };
}

conformance!(
    a_created_store_can_be_read_back_and_listed,
    a_retry_with_the_same_key_and_body_returns_the_first_store,
    the_same_key_with_another_body_is_refused,
    a_hundred_concurrent_creates_with_one_key_make_one_store,
    fifty_concurrent_creates_against_a_quota_of_five_make_exactly_five,
    the_total_quota_counts_every_owner,
    a_live_name_belongs_to_one_store_across_all_owners,
    twenty_owners_racing_for_one_name_make_one_store,
    deleting_twice_changes_nothing_the_second_time,
    twenty_concurrent_deletes_all_succeed_and_bump_the_generation_once,
    a_lease_keeps_other_replicas_away_until_it_expires,
    progress_is_refused_after_the_desired_state_changed,
    events_come_back_in_order_after_a_cursor,
    expired_stores_are_queued_for_deletion,
    users_are_found_by_token_hash_only,
    every_visible_change_moves_the_change_version,
    a_waiting_store_can_be_made_due_early_unless_someone_works_on_it,
    credentials_are_kept_sealed_and_dropped_when_deletion_starts,
    a_rotated_token_replaces_the_old_one_and_is_audited,
    sessions_end_at_logout_at_their_expiry_and_with_their_user_s_token,
    users_are_listed_and_removed_only_once_they_own_no_live_store,
    lists_filter_by_phase_engine_owner_and_name_newest_first_by_default,
    audit_entries_older_than_the_retention_are_pruned,
    deletion_progress_is_saved_and_read_back,
    an_idempotency_key_never_answers_with_a_deleted_store,
    an_idempotency_key_is_forgotten_after_a_day_and_pruned,
    the_audit_log_filters_by_actor_action_and_time_and_pages_newest_first,
    platform_numbers_count_phases_the_last_day_and_time_to_ready,
);

/// Claim every due store for `owner` under a 30 s lease.
async fn claim(
    state: &StateStore,
    owner: &str,
    now: chrono::DateTime<Utc>,
) -> Vec<storefleet_state::Work> {
    state
        .claim(owner, now, now + Duration::seconds(30), 10)
        .await
        .expect("claim")
}

/// Progress recording `store` as it is, with no events, next looked at `next_attempt_at`.
fn progress(store: storefleet_domain::Store, next_attempt_at: chrono::DateTime<Utc>) -> Progress {
    Progress {
        id: store.id,
        status: store.status,
        events: vec![],
        next_attempt_at,
        attempts: 0,
    }
}

/// What an orchestrator does at the end of a deletion: claim the (due) store and record it
/// deleted.
async fn record_deleted(state: &StateStore, id: storefleet_domain::StoreId) {
    let now = Utc::now();
    let mut gone = claim(state, "orchestrator", now)
        .await
        .into_iter()
        .find(|w| w.store.id == id)
        .expect("the store is due")
        .store;
    let generation = gone.generation;
    gone.status.phase = Phase::Deleted;
    assert!(state
        .save_progress("orchestrator", generation, &progress(gone, now), now, true)
        .await
        .expect("save"));
}

fn audit(actor: &str, action: &str) -> AuditEntry {
    AuditEntry {
        actor: actor.to_owned(),
        action: action.into(),
        target: None,
        source_ip: Some("127.0.0.1".to_owned()),
        request_id: Some("req-1".to_owned()),
        outcome: "succeeded".into(),
        detail: None,
    }
}

fn new_store(owner: &str, name: &str, key: Option<(&str, &str)>) -> NewStore {
    NewStore {
        owner: user(owner),
        cluster: "local".to_owned(),
        deadline_at: Utc::now() + Duration::minutes(10),
        idempotency: key.map(|(k, h)| (k.to_owned(), h.to_owned())),
        ..fixtures::new_store(name, Engine::Medusa)
    }
}

async fn create(state: &StateStore, owner: &str, name: &str) -> storefleet_domain::Store {
    state
        .create_store(
            new_store(owner, name, None),
            LIMITS,
            &audit(owner, "store.create"),
            Utc::now(),
        )
        .await
        .expect("create")
        .store
}

async fn a_created_store_can_be_read_back_and_listed(state: StateStore) {
    let store = create(&state, "alice", "shop-one").await;
    assert_eq!(store.status.phase, Phase::Requested);
    assert!(store.namespace.starts_with("store-shop-one-"));
    let read = state
        .get_store(store.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(read.id, store.id);
    assert_eq!(read.spec.name, store.spec.name);
    assert_eq!(
        read.created_at.timestamp_millis(),
        store.created_at.timestamp_millis()
    );
    create(&state, "bob", "shop-two").await;
    let mine = state
        .list_stores(Some("alice"), None, 10)
        .await
        .expect("list");
    assert_eq!(mine.len(), 1);
    let all = state.list_stores(None, None, 10).await.expect("list");
    assert_eq!(all.len(), 2);
    let second_page = state
        .list_stores(None, Some(all[0].id), 10)
        .await
        .expect("list");
    assert_eq!(second_page.len(), 1);
    assert_eq!(second_page[0].id, all[1].id);
    let events = state.events(store.id, 0, 10).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, "Requested");
    let audit = state.list_audit(None, 10).await.expect("audit");
    assert_eq!(audit.len(), 2);
    assert_eq!(
        audit[1].entry.target.as_deref(),
        Some(store.id.to_string().as_str())
    );
}

async fn a_retry_with_the_same_key_and_body_returns_the_first_store(state: StateStore) {
    let first = state
        .create_store(
            new_store("alice", "shop", Some(("k1", "h1"))),
            LIMITS,
            &audit("alice", "c"),
            Utc::now(),
        )
        .await
        .expect("first");
    let again = state
        .create_store(
            new_store("alice", "shop", Some(("k1", "h1"))),
            LIMITS,
            &audit("alice", "c"),
            Utc::now(),
        )
        .await
        .expect("retry");
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(first.store.id, again.store.id);
    assert_eq!(
        state.list_stores(None, None, 10).await.expect("list").len(),
        1
    );
}

async fn the_same_key_with_another_body_is_refused(state: StateStore) {
    state
        .create_store(
            new_store("alice", "shop", Some(("k1", "h1"))),
            LIMITS,
            &audit("alice", "c"),
            Utc::now(),
        )
        .await
        .expect("first");
    let before = state.row_counts().await.expect("counts");
    let refused = state
        .create_store(
            new_store("alice", "other", Some(("k1", "h2"))),
            LIMITS,
            &audit("alice", "c"),
            Utc::now(),
        )
        .await;
    assert!(
        matches!(refused, Err(CreateError::IdempotencyMismatch)),
        "{refused:?}"
    );
    assert_eq!(state.row_counts().await.expect("counts"), before);
}

async fn a_hundred_concurrent_creates_with_one_key_make_one_store(state: StateStore) {
    let attempts = (0..100).map(|_| {
        let state = state.clone();
        tokio::spawn(async move {
            state
                .create_store(
                    new_store("alice", "shop", Some(("same", "h"))),
                    LIMITS,
                    &audit("alice", "c"),
                    Utc::now(),
                )
                .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let ids: std::collections::HashSet<_> = results
        .into_iter()
        .map(|r| r.expect("task").expect("create").store.id)
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        state
            .list_stores(None, None, 200)
            .await
            .expect("list")
            .len(),
        1
    );
}

async fn fifty_concurrent_creates_against_a_quota_of_five_make_exactly_five(state: StateStore) {
    let attempts = (0..50).map(|i| {
        let state = state.clone();
        tokio::spawn(async move {
            state
                .create_store(
                    new_store("alice", &format!("shop-{i}"), None),
                    LIMITS,
                    &audit("alice", "c"),
                    Utc::now(),
                )
                .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let (ok, refused): (Vec<_>, Vec<_>) = results
        .into_iter()
        .map(|r| r.expect("task"))
        .partition(|r| r.is_ok());
    assert_eq!(ok.len(), 5);
    assert!(refused
        .iter()
        .all(|r| matches!(r, Err(CreateError::UserQuota { limit: 5 }))));
    assert_eq!(
        state
            .list_stores(Some("alice"), None, 100)
            .await
            .expect("list")
            .len(),
        5
    );
}

async fn the_total_quota_counts_every_owner(state: StateStore) {
    let limits = CreateLimits {
        per_user: 5,
        total: 2,
    };
    for owner in ["a", "b"] {
        state
            .create_store(
                new_store(owner, &format!("shop-{owner}"), None),
                limits,
                &audit(owner, "c"),
                Utc::now(),
            )
            .await
            .expect("create");
    }
    let refused = state
        .create_store(
            new_store("c", "shop-c", None),
            limits,
            &audit("c", "c"),
            Utc::now(),
        )
        .await;
    assert!(
        matches!(refused, Err(CreateError::TotalQuota { limit: 2 })),
        "{refused:?}"
    );
}

async fn a_live_name_belongs_to_one_store_across_all_owners(state: StateStore) {
    let first = create(&state, "alice", "shop").await;
    let try_create = |owner: &'static str| {
        let state = state.clone();
        async move {
            state
                .create_store(
                    new_store(owner, "shop", None),
                    LIMITS,
                    &audit(owner, "store.create"),
                    Utc::now(),
                )
                .await
        }
    };
    let again = try_create("alice").await;
    assert!(
        matches!(again, Err(CreateError::NameTaken { yours: true, .. })),
        "{again:?}"
    );
    // Another tenant: the name is its host, so it is taken for everyone, and who has it is
    // not said.
    let other = try_create("bob")
        .await
        .expect_err("bob cannot take alice's live name");
    assert!(
        matches!(other, CreateError::NameTaken { yours: false, .. }),
        "{other:?}"
    );
    assert!(!other.to_string().contains("alice"), "{other}");
    // While its store is being deleted the host is still in use.
    state
        .request_delete(first.id, &audit("alice", "store.delete"), Utc::now())
        .await
        .expect("delete");
    assert!(try_create("bob").await.is_err());
    record_deleted(&state, first.id).await;
    // Deleted: the name is free again, for anyone.
    let second = try_create("bob").await.expect("the name is free again");
    assert_eq!(second.store.spec.owner, "bob");
}

async fn twenty_owners_racing_for_one_name_make_one_store(state: StateStore) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let state = state.clone();
            tokio::spawn(async move {
                let owner = format!("owner-{i}");
                state
                    .create_store(
                        new_store(&owner, "popular", None),
                        LIMITS,
                        &audit(&owner, "store.create"),
                        Utc::now(),
                    )
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => won += 1,
            Err(CreateError::NameTaken { yours: false, .. }) => {}
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(won, 1);
}

async fn deleting_twice_changes_nothing_the_second_time(state: StateStore) {
    let store = create(&state, "alice", "shop").await;
    let first = state
        .request_delete(store.id, &audit("alice", "d"), Utc::now())
        .await
        .expect("delete");
    assert!(
        matches!(first, Some(DeleteOutcome::Requested(ref s)) if s.status.phase == Phase::Deleting && s.generation == 2)
    );
    let before = state.row_counts().await.expect("counts");
    let second = state
        .request_delete(store.id, &audit("alice", "d"), Utc::now())
        .await
        .expect("delete");
    assert!(matches!(second, Some(DeleteOutcome::AlreadyDeleting(_))));
    assert_eq!(state.row_counts().await.expect("counts"), before);
    let missing = state
        .request_delete(
            storefleet_domain::StoreId::now_v7(),
            &audit("alice", "d"),
            Utc::now(),
        )
        .await
        .expect("delete");
    assert!(missing.is_none());
}

async fn a_lease_keeps_other_replicas_away_until_it_expires(state: StateStore) {
    let store = create(&state, "alice", "shop").await;
    let now = Utc::now();
    let claimed = claim(&state, "one", now).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].store.id, store.id);
    assert!(claim(&state, "two", now).await.is_empty());
    assert!(state
        .renew_lease(store.id, "one", now + Duration::seconds(30))
        .await
        .expect("renew"));
    assert!(!state
        .renew_lease(store.id, "two", now + Duration::seconds(30))
        .await
        .expect("renew"));
    let later = now + Duration::seconds(31);
    let taken_over = claim(&state, "two", later).await;
    assert_eq!(taken_over.len(), 1);
    assert!(
        !state
            .renew_lease(store.id, "one", later)
            .await
            .expect("renew"),
        "the first replica lost its lease"
    );
}

async fn progress_is_refused_after_the_desired_state_changed(state: StateStore) {
    let store = create(&state, "alice", "shop").await;
    let now = Utc::now();
    let work = claim(&state, "one", now).await.remove(0);
    let mut next = work.store.clone();
    next.status.phase = Phase::Provisioning;
    next.status.conditions.set(
        ConditionType::NamespaceReady,
        ConditionStatus::True,
        "Created",
        "",
        now,
    );
    let progress = Progress {
        id: next.id,
        status: next.status,
        events: vec![NewEvent::normal("NamespaceReady", "created")],
        next_attempt_at: now,
        attempts: 0,
    };
    state
        .request_delete(store.id, &audit("alice", "d"), now)
        .await
        .expect("delete");
    assert!(!state
        .save_progress("one", work.store.generation, &progress, now, true)
        .await
        .expect("save"));
    let current = state
        .get_store(store.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        current.status.phase,
        Phase::Deleting,
        "a stale pass must not undo the delete"
    );
    state.release_lease(store.id, "one").await.expect("release");
    let again = claim(&state, "two", now).await;
    assert_eq!(again.len(), 1);
    let mut next = again[0].store.clone();
    next.status.message = Some("uninstalling".into());
    let progress = Progress {
        id: next.id,
        status: next.status,
        events: vec![],
        next_attempt_at: now,
        attempts: 1,
    };
    assert!(state
        .save_progress("two", again[0].store.generation, &progress, now, true)
        .await
        .expect("save"));
    let saved = state
        .get_store(store.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(saved.status.message.as_deref(), Some("uninstalling"));
}

async fn events_come_back_in_order_after_a_cursor(state: StateStore) {
    let store = create(&state, "alice", "shop").await;
    let events: Vec<_> = (0..5)
        .map(|i| NewEvent::normal("Step", format!("step {i}")))
        .collect();
    state
        .record_events(store.id, &events, Utc::now())
        .await
        .expect("record");
    let all = state.events(store.id, 0, 100).await.expect("events");
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let after = state
        .events(store.id, all[2].id, 100)
        .await
        .expect("events");
    assert_eq!(after.len(), 3);
    assert_eq!(after[0].message, "step 2");
}

async fn expired_stores_are_queued_for_deletion(state: StateStore) {
    let now = Utc::now();
    let mut short = new_store("alice", "short", None);
    short.expires_at = Some(now - Duration::seconds(1));
    let short = state
        .create_store(short, LIMITS, &audit("alice", "c"), now)
        .await
        .expect("create")
        .store;
    let long = create(&state, "alice", "long").await;
    for store in [&short, &long] {
        assert!(state
            .save_credentials(store.id, "v1.sealed", now)
            .await
            .expect("save"));
    }
    let expired = state.expire_stores(now).await.expect("expire");
    assert_eq!(expired, vec![short.id]);
    assert_eq!(
        state.sealed_credentials(short.id).await.expect("read"),
        None,
        "an expired store's credentials go when its deletion starts, as an owner's delete does"
    );
    assert!(state
        .sealed_credentials(long.id)
        .await
        .expect("read")
        .is_some());
    assert_eq!(
        state
            .get_store(short.id)
            .await
            .expect("get")
            .map(|s| s.status.phase),
        Some(Phase::Deleting)
    );
    assert_eq!(
        state
            .get_store(long.id)
            .await
            .expect("get")
            .map(|s| s.status.phase),
        Some(Phase::Requested)
    );
    assert!(state.expire_stores(now).await.expect("expire").is_empty());
}

async fn users_are_found_by_token_hash_only(state: StateStore) {
    let user = state
        .create_user(&user("alice"), Role::Admin, "hash-a", Utc::now())
        .await
        .expect("user");
    let found = state
        .user_by_token_hash("hash-a")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.id, user.id);
    assert_eq!(found.role, Role::Admin);
    assert!(state
        .user_by_token_hash("hash-b")
        .await
        .expect("lookup")
        .is_none());
    let again = state
        .create_user(&fixtures::user("alice"), Role::User, "hash-c", Utc::now())
        .await;
    assert!(matches!(again, Err(UserError::Exists(_))));
}

async fn twenty_concurrent_deletes_all_succeed_and_bump_the_generation_once(state: StateStore) {
    let store = create(&state, "alice", "shop").await;
    let deletes = (0..20).map(|_| {
        let state = state.clone();
        tokio::spawn(async move {
            state
                .request_delete(store.id, &audit("alice", "d"), Utc::now())
                .await
        })
    });
    let outcomes: Vec<_> = futures::future::join_all(deletes)
        .await
        .into_iter()
        .map(|r| {
            r.expect("task")
                .expect("no delete may fail")
                .expect("found")
        })
        .collect();
    let requested = outcomes
        .iter()
        .filter(|o| matches!(o, DeleteOutcome::Requested(_)))
        .count();
    assert_eq!(requested, 1, "exactly one request changes the store");
    let current = state
        .get_store(store.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(current.generation, 2);
}

async fn every_visible_change_moves_the_change_version(state: StateStore) {
    let changes = state.changes().clone();
    let v0 = changes.current();
    let store = create(&state, "alice", "shop").await;
    let v1 = changes.current();
    assert!(v1 > v0, "a create moves the version");

    let now = Utc::now();
    let work = claim(&state, "one", now).await.remove(0);
    let mut next = work.store.clone();
    next.status.phase = Phase::Provisioning;
    let progress = progress(next, now);
    assert!(state
        .save_progress("one", work.store.generation, &progress, now, false)
        .await
        .expect("save"));
    let v2 = changes.current();
    assert!(v2 > v1, "saved progress moves the version");
    assert!(!state
        .save_progress("someone-else", work.store.generation, &progress, now, false)
        .await
        .expect("save"));
    assert_eq!(changes.current(), v2, "a refused save changes nothing");

    state
        .request_delete(store.id, &audit("alice", "d"), now)
        .await
        .expect("delete");
    let v3 = changes.current();
    assert!(v3 > v2, "a delete request moves the version");
    state
        .request_delete(store.id, &audit("alice", "d"), now)
        .await
        .expect("delete again");
    assert_eq!(changes.current(), v3, "a repeated delete changes nothing");
}

/// Another process's change reaches this one through NOTIFY: the read caches depend on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_change_made_elsewhere_reaches_listen() {
    let Some(url) =
        storefleet_testkit::postgres_or_skip(storefleet_testkit::postgres::fresh_database().await)
    else {
        return;
    };
    let here = StateStore::connect(&url).await.expect("postgres");
    let elsewhere = StateStore::connect(&url).await.expect("postgres");
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let changes = here.changes().clone();
    let bump = changes.clone();
    tokio::spawn(storefleet_state::listen(
        url.clone(),
        &[storefleet_state::STORES_CHANNEL],
        move |_| bump.bump(),
        shutdown,
    ));
    // The listener bumps once when it has connected.
    wait_for_version_above(&changes, 0).await;
    let before = changes.current();
    create(&elsewhere, "alice", "shop").await;
    wait_for_version_above(&changes, before).await;
}

async fn wait_for_version_above(changes: &storefleet_state::ChangeVersion, floor: u64) {
    for _ in 0..200 {
        if changes.current() > floor {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the change version stayed at {floor} for 10 s");
}

async fn a_waiting_store_can_be_made_due_early_unless_someone_works_on_it(state: StateStore) {
    let store = create(&state, "alice", "shop").await;
    let now = Utc::now();
    let work = claim(&state, "one", now).await.remove(0);
    assert!(
        !state.make_due(store.id, now).await.expect("make due"),
        "a leased store is left to its owner"
    );
    let progress = progress(work.store.clone(), now + Duration::seconds(60));
    assert!(state
        .save_progress("one", work.store.generation, &progress, now, true)
        .await
        .expect("save"));
    let later = Utc::now();
    assert!(claim(&state, "two", later).await.is_empty());
    assert!(state.make_due(store.id, later).await.expect("make due"));
    assert!(
        !state.make_due(store.id, later).await.expect("make due"),
        "already due"
    );
    assert_eq!(claim(&state, "two", later).await.len(), 1);
}

/// The credential copy: replaced on every save, gone once deletion starts, never re-created
/// for a store being deleted, and dropped again (backstop) when the store is recorded deleted.
async fn credentials_are_kept_sealed_and_dropped_when_deletion_starts(state: StateStore) {
    let store = create(&state, "alice", "shop").await;
    let other = create(&state, "alice", "other").await;
    assert_eq!(
        state.sealed_credentials(store.id).await.expect("read"),
        None
    );
    assert!(state
        .save_credentials(store.id, "v1.first", Utc::now())
        .await
        .expect("save"));
    assert!(state
        .save_credentials(store.id, "v1.second", Utc::now())
        .await
        .expect("save again"));
    assert!(state
        .save_credentials(other.id, "v1.other", Utc::now())
        .await
        .expect("save other"));
    assert_eq!(
        state
            .sealed_credentials(store.id)
            .await
            .expect("read")
            .as_deref(),
        Some("v1.second")
    );
    state
        .request_delete(store.id, &audit("alice", "d"), Utc::now())
        .await
        .expect("delete");
    assert_eq!(
        state.sealed_credentials(store.id).await.expect("read"),
        None
    );
    assert_eq!(
        state
            .sealed_credentials(other.id)
            .await
            .expect("read")
            .as_deref(),
        Some("v1.other"),
        "another store's copy is untouched"
    );
    assert!(
        !state
            .save_credentials(store.id, "v1.late", Utc::now())
            .await
            .expect("late save"),
        "a pass that finishes after the delete must not bring the copy back"
    );
    assert_eq!(
        state.sealed_credentials(store.id).await.expect("read"),
        None
    );
    assert!(!state
        .save_credentials(
            storefleet_domain::StoreId::now_v7(),
            "v1.nobody",
            Utc::now()
        )
        .await
        .expect("unknown store"));

    // Backstop: recording a store deleted drops its copy too (a pass racing the delete on
    // PostgreSQL can write one between the delete's removal and its commit).
    assert!(state
        .save_credentials(other.id, "v1.other", Utc::now())
        .await
        .expect("save other"));
    record_deleted(&state, other.id).await;
    assert_eq!(
        state.sealed_credentials(other.id).await.expect("read"),
        None
    );
}

async fn sessions_end_at_logout_at_their_expiry_and_with_their_user_s_token(state: StateStore) {
    let alice = state
        .create_user(&user("alice"), Role::User, "hash-alice", Utc::now())
        .await
        .expect("alice");
    let bob = state
        .create_user(&user("bob"), Role::User, "hash-bob", Utc::now())
        .await
        .expect("bob");
    let now = Utc::now();
    let day = now + Duration::hours(8);
    for (hash, user) in [("s-a1", &alice), ("s-a2", &alice), ("s-b", &bob)] {
        state
            .create_session(hash, user.id, now, day)
            .await
            .expect("session");
    }
    let user_of = |hash: &'static str, at| {
        let state = state.clone();
        async move {
            state
                .user_by_session_hash(hash, at)
                .await
                .expect("lookup")
                .map(|u| u.name)
        }
    };
    assert_eq!(user_of("s-a1", now).await.as_deref(), Some("alice"));
    assert_eq!(user_of("s-b", now).await.as_deref(), Some("bob"));
    // A token hash is not a session.
    assert_eq!(user_of("hash-alice", now).await, None);
    // Expired: gone for lookups, and removed by the next login.
    assert_eq!(user_of("s-b", day).await, None);
    // Logout ends one session only.
    assert!(state.delete_session("s-a1").await.expect("logout"));
    assert!(!state.delete_session("s-a1").await.expect("twice"));
    assert_eq!(user_of("s-a1", now).await, None);
    assert_eq!(user_of("s-a2", now).await.as_deref(), Some("alice"));
    // A rotated token ends every session of its user, and only those.
    state
        .rotate_token("alice", "hash-new", &audit("cli", "user.rotate_token"), now)
        .await
        .expect("rotate");
    assert_eq!(user_of("s-a2", now).await, None);
    assert_eq!(user_of("s-b", now).await.as_deref(), Some("bob"));
    // A login after bob's session ended sweeps it away; a removed user's sessions go with it.
    let later = day + Duration::seconds(1);
    state
        .create_session("s-a3", alice.id, later, later + Duration::hours(8))
        .await
        .expect("login");
    let sessions = |counts: Vec<(&str, i64)>| {
        counts
            .into_iter()
            .find(|(table, _)| *table == "sessions")
            .map(|(_, n)| n)
    };
    assert_eq!(sessions(state.row_counts().await.expect("counts")), Some(1));
    state
        .remove_user("alice", &audit("cli", "user.remove"), later)
        .await
        .expect("remove");
    assert_eq!(sessions(state.row_counts().await.expect("counts")), Some(0));
}

async fn a_rotated_token_replaces_the_old_one_and_is_audited(state: StateStore) {
    state
        .create_user(&user("alice"), Role::User, "hash-old", Utc::now())
        .await
        .expect("alice");
    let alice = state
        .user_by_token_hash("hash-old")
        .await
        .expect("find")
        .expect("alice");
    state
        .create_user(&user("bob"), Role::User, "hash-bob", Utc::now())
        .await
        .expect("bob");
    let before = state.row_counts().await.expect("counts");
    let nobody = state
        .rotate_token(
            "nobody",
            "hash-x",
            &audit("cli", "user.rotate_token"),
            Utc::now(),
        )
        .await
        .expect("rotate");
    assert!(nobody.is_none());
    assert_eq!(
        state.row_counts().await.expect("counts"),
        before,
        "nothing changed"
    );

    let rotated = state
        .rotate_token(
            "alice",
            "hash-new",
            &audit("cli", "user.rotate_token"),
            Utc::now(),
        )
        .await
        .expect("rotate")
        .expect("alice exists");
    assert_eq!(rotated, alice, "same user, same id and role");
    assert_eq!(
        state.user_by_token_hash("hash-old").await.expect("find"),
        None
    );
    assert_eq!(
        state.user_by_token_hash("hash-new").await.expect("find"),
        Some(alice)
    );
    assert!(state
        .user_by_token_hash("hash-bob")
        .await
        .expect("find")
        .is_some());
    let audit_log = state.list_audit(None, 10).await.expect("audit");
    assert_eq!(audit_log[0].entry.action, "user.rotate_token");
}

async fn users_are_listed_and_removed_only_once_they_own_no_live_store(state: StateStore) {
    for (name, hash) in [("alice", "hash-alice"), ("bob", "hash-bob")] {
        state
            .create_user(&user(name), Role::User, hash, Utc::now())
            .await
            .expect("user");
    }
    let names =
        |users: Vec<storefleet_state::User>| users.into_iter().map(|u| u.name).collect::<Vec<_>>();
    assert_eq!(
        names(state.list_users().await.expect("list")),
        ["alice", "bob"]
    );
    let store = create(&state, "alice", "shop").await;

    let before = state.row_counts().await.expect("counts");
    let refused = state
        .remove_user("alice", &audit("cli", "user.remove"), Utc::now())
        .await;
    assert!(
        matches!(refused, Err(UserError::OwnsStores { live: 1, .. })),
        "{refused:?}"
    );
    let missing = state
        .remove_user("nobody", &audit("cli", "user.remove"), Utc::now())
        .await;
    assert!(
        matches!(missing, Err(UserError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(
        state.row_counts().await.expect("counts"),
        before,
        "nothing changed"
    );

    // Being deleted still counts: the owner must be able to see it through.
    state
        .request_delete(store.id, &audit("alice", "store.delete"), Utc::now())
        .await
        .expect("delete");
    assert!(state
        .remove_user("alice", &audit("cli", "user.remove"), Utc::now())
        .await
        .is_err());

    let removed = state
        .remove_user("bob", &audit("cli", "user.remove"), Utc::now())
        .await
        .expect("remove bob");
    assert_eq!(removed.name, "bob");
    assert_eq!(
        state.user_by_token_hash("hash-bob").await.expect("find"),
        None
    );
    assert_eq!(names(state.list_users().await.expect("list")), ["alice"]);
    let audit_log = state.list_audit(None, 10).await.expect("audit");
    assert_eq!(audit_log[0].entry.action, "user.remove");
}

async fn audit_entries_older_than_the_retention_are_pruned(state: StateStore) {
    let now = Utc::now();
    for days_ago in [400, 120, 91, 89, 1, 0] {
        state
            .record_audit(
                &audit("alice", &format!("test.{days_ago}")),
                now - Duration::days(days_ago),
            )
            .await
            .expect("audit");
    }
    let deleted = state
        .prune_audit(now - Duration::days(90))
        .await
        .expect("prune");
    assert_eq!(deleted, 3);
    let mut kept: Vec<String> = state
        .list_audit(None, 100)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.entry.action.to_string())
        .collect();
    kept.sort();
    assert_eq!(kept, ["test.0", "test.1", "test.89"]);
    assert_eq!(
        state
            .prune_audit(now - Duration::days(90))
            .await
            .expect("again"),
        0
    );
}

async fn lists_filter_by_phase_engine_owner_and_name_newest_first_by_default(state: StateStore) {
    use storefleet_state::{PhaseFilter, StoreQuery};
    let first = create(&state, "alice", "shop-a").await;
    let second = create(&state, "alice", "shop-b").await;
    let woo = state
        .create_store(
            NewStore {
                engine: Engine::Woocommerce,
                ..new_store("bob", "shop-c", None)
            },
            LIMITS,
            &audit("bob", "store.create"),
            Utc::now(),
        )
        .await
        .expect("create")
        .store;
    // shop-a is deleted: requested, then recorded deleted by the orchestrator.
    state
        .request_delete(first.id, &audit("alice", "store.delete"), Utc::now())
        .await
        .expect("delete");
    record_deleted(&state, first.id).await;

    let query = StoreQuery {
        owner: None,
        phase: PhaseFilter::Live,
        engine: None,
        name: None,
        newest_first: true,
        after: None,
        limit: 10,
    };
    let ids = |stores: Vec<storefleet_domain::Store>| {
        stores.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    let find = |q: StoreQuery| {
        let state = state.clone();
        async move { ids(state.find_stores(&q).await.expect("find")) }
    };
    assert_eq!(
        find(query.clone()).await,
        [woo.id, second.id],
        "live, newest first"
    );
    assert_eq!(
        find(StoreQuery {
            phase: PhaseFilter::All,
            newest_first: false,
            ..query.clone()
        })
        .await,
        [first.id, second.id, woo.id],
        "all, oldest first"
    );
    assert_eq!(
        find(StoreQuery {
            phase: PhaseFilter::Only(Phase::Deleted),
            ..query.clone()
        })
        .await,
        [first.id]
    );
    assert_eq!(
        find(StoreQuery {
            engine: Some(Engine::Woocommerce),
            ..query.clone()
        })
        .await,
        [woo.id]
    );
    assert_eq!(
        find(StoreQuery {
            owner: Some("alice".into()),
            phase: PhaseFilter::All,
            ..query.clone()
        })
        .await,
        [second.id, first.id]
    );
    assert_eq!(
        find(StoreQuery {
            name: Some("shop-b".into()),
            ..query.clone()
        })
        .await,
        [second.id]
    );
    // The cursor follows the order: after the newest comes the next older one.
    assert_eq!(
        find(StoreQuery {
            after: Some(woo.id),
            limit: 1,
            ..query.clone()
        })
        .await,
        [second.id]
    );
    assert_eq!(
        find(StoreQuery {
            after: Some(first.id),
            phase: PhaseFilter::All,
            newest_first: false,
            ..query
        })
        .await,
        [second.id, woo.id]
    );
}

async fn deletion_progress_is_saved_and_read_back(state: StateStore) {
    let store = create(&state, "alice", "shop").await;
    let now = Utc::now();
    state
        .request_delete(store.id, &audit("alice", "store.delete"), now)
        .await
        .expect("delete");
    let work = claim(&state, "one", now).await.pop().expect("due");
    assert_eq!(
        work.store.status.deletion_done, None,
        "nothing done at first"
    );
    let mut next = work.store.clone();
    next.status.deletion_done = Some(DeletionStep::DeleteNamespace);
    assert!(state
        .save_progress(
            "one",
            work.store.generation,
            &progress(next, now),
            now,
            true
        )
        .await
        .expect("save"));
    let saved = state
        .get_store(store.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        saved.status.deletion_done,
        Some(DeletionStep::DeleteNamespace)
    );
}

/// Create `name` for alice under `key` with body hash `hash`, at `at`.
async fn create_keyed(
    state: &StateStore,
    name: &str,
    key: (&str, &str),
    at: chrono::DateTime<Utc>,
) -> Result<storefleet_state::CreateOutcome, CreateError> {
    state
        .create_store(
            new_store("alice", name, Some(key)),
            LIMITS,
            &audit("alice", "store.create"),
            at,
        )
        .await
}

async fn an_idempotency_key_never_answers_with_a_deleted_store(state: StateStore) {
    let now = Utc::now();
    let first = create_keyed(&state, "shop", ("k1", "h1"), now - Duration::hours(23))
        .await
        .expect("first");
    let replay = create_keyed(&state, "shop", ("k1", "h1"), now)
        .await
        .expect("replay within the day");
    assert!(replay.replayed);
    assert_eq!(replay.store.id, first.store.id);

    state
        .request_delete(first.store.id, &audit("alice", "store.delete"), now)
        .await
        .expect("delete")
        .expect("exists");
    let before = state.row_counts().await.expect("counts");
    let refused = create_keyed(&state, "shop", ("k1", "h1"), now).await;
    match refused {
        Err(CreateError::IdempotentStoreDeleted { store_id }) => {
            assert_eq!(store_id, first.store.id.to_string());
        }
        other => panic!("a deleted store's key must not replay it: {other:?}"),
    }
    assert_eq!(
        state.row_counts().await.expect("counts"),
        before,
        "a refused replay writes nothing"
    );
}

async fn an_idempotency_key_is_forgotten_after_a_day_and_pruned(state: StateStore) {
    let now = Utc::now();
    let old = create_keyed(&state, "cafe", ("k2", "h1"), now - IDEMPOTENCY_KEY_TTL)
        .await
        .expect("a day ago");
    // Another body under the same key: within the day that is a mismatch, after it a new create.
    let fresh = create_keyed(&state, "cafe-two", ("k2", "h2"), now)
        .await
        .expect("the expired key is free again");
    assert!(!fresh.replayed);
    assert_ne!(fresh.store.id, old.store.id);
    let replay = create_keyed(&state, "cafe-two", ("k2", "h2"), now)
        .await
        .expect("the key now answers for the new store");
    assert_eq!(replay.store.id, fresh.store.id);

    create_keyed(&state, "bar", ("k3", "h1"), now - Duration::hours(30))
        .await
        .expect("an old key");
    create_keyed(&state, "deli", ("k4", "h1"), now - Duration::hours(1))
        .await
        .expect("a recent key");
    let pruned = state
        .prune_idempotency_keys(now - IDEMPOTENCY_KEY_TTL)
        .await
        .expect("prune");
    assert_eq!(pruned, 1, "only k3 is past its day");
    let keys = state
        .row_counts()
        .await
        .expect("counts")
        .into_iter()
        .find(|(table, _)| *table == "idempotency_keys")
        .map(|(_, n)| n);
    assert_eq!(keys, Some(2), "k2 (renewed) and k4 are kept");
}

async fn the_audit_log_filters_by_actor_action_and_time_and_pages_newest_first(state: StateStore) {
    use storefleet_state::AuditQuery;
    let now = Utc::now();
    for (hours_ago, actor, action) in [
        (30, "alice", "store.create"),
        (20, "alice", "store.delete"),
        (10, "bob", "store.create"),
        (5, "alice", "store.create"),
        (1, "admin", "user.add"),
    ] {
        state
            .record_audit(&audit(actor, action), now - Duration::hours(hours_ago))
            .await
            .expect("audit");
    }
    let find = |query: AuditQuery| {
        let state = state.clone();
        async move {
            state
                .find_audit(&AuditQuery {
                    limit: 100,
                    ..query
                })
                .await
                .expect("find")
                .into_iter()
                .map(|r| format!("{} {}", r.entry.actor, r.entry.action))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        find(AuditQuery {
            actor: Some("alice".into()),
            ..AuditQuery::default()
        })
        .await,
        [
            "alice store.create",
            "alice store.delete",
            "alice store.create"
        ]
    );
    assert_eq!(
        find(AuditQuery {
            action: Some("store.create".into()),
            since: Some(now - Duration::hours(24)),
            ..AuditQuery::default()
        })
        .await,
        ["alice store.create", "bob store.create"]
    );
    assert_eq!(
        find(AuditQuery {
            since: Some(now - Duration::hours(21)),
            until: Some(now - Duration::hours(5)),
            ..AuditQuery::default()
        })
        .await,
        ["bob store.create", "alice store.delete"],
        "since is inclusive, until exclusive"
    );
    let first = state
        .find_audit(&AuditQuery {
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .expect("page");
    let next = state
        .find_audit(&AuditQuery {
            limit: 2,
            before: first.last().map(|r| r.id),
            ..AuditQuery::default()
        })
        .await
        .expect("page");
    let actions: Vec<&str> = first
        .iter()
        .chain(&next)
        .map(|r| r.entry.actor.as_str())
        .collect();
    assert_eq!(actions, ["admin", "alice", "bob", "alice"]);
}

async fn platform_numbers_count_phases_the_last_day_and_time_to_ready(state: StateStore) {
    let now = Utc::now();
    let ready = create(&state, "alice", "quick").await;
    let failing = create(&state, "alice", "broken").await;
    create(&state, "bob", "waiting").await;
    // `quick` becomes ready 90 s after it was requested; `broken` fails.
    let at = ready.created_at + Duration::seconds(90);
    settle(&state, ready.id, Phase::Ready, "Ready", at).await;
    settle(&state, failing.id, Phase::Failed, "ReleaseImpossible", at).await;

    let stats = state
        .platform_stats(now - Duration::hours(24))
        .await
        .expect("stats");
    let count = |phase: Phase| {
        stats
            .by_phase
            .iter()
            .find(|(p, _)| *p == phase)
            .map(|(_, n)| *n)
    };
    assert_eq!(count(Phase::Ready), Some(1));
    assert_eq!(count(Phase::Failed), Some(1));
    assert_eq!(count(Phase::Requested), Some(1));
    assert_eq!(count(Phase::Deleted), Some(0), "every phase is listed");
    assert_eq!(stats.created, 3);
    assert_eq!(stats.failed, 1);
    assert_eq!(stats.provisioning, 1);
    assert_eq!(stats.ready_samples, 1);
    assert_eq!(stats.time_to_ready_p50, Some(Duration::seconds(90)));
    assert_eq!(stats.time_to_ready_p95, Some(Duration::seconds(90)));

    let later = state
        .platform_stats(now + Duration::hours(1))
        .await
        .expect("stats");
    assert_eq!(
        later.created, 0,
        "nothing was requested after the window starts"
    );
    assert_eq!(later.ready_samples, 0);
    assert_eq!(later.time_to_ready_p50, None);
}

/// Record the due store `id` settled in `phase` at `at` with one event, as the orchestrator would.
async fn settle(
    state: &StateStore,
    id: storefleet_domain::StoreId,
    phase: Phase,
    reason: &str,
    at: chrono::DateTime<Utc>,
) {
    let work = claim(state, "orch", at).await;
    let mut found = None;
    for w in work {
        if w.store.id == id {
            found = Some(w.store);
        } else {
            state
                .release_lease(w.store.id, "orch")
                .await
                .expect("release");
        }
    }
    let mut store = found.expect("due");
    let generation = store.generation;
    store.status.phase = phase;
    store.status.observed_generation = generation;
    let done = Progress {
        events: vec![NewEvent::normal(reason, reason)],
        ..progress(store, at + Duration::days(3650))
    };
    assert!(state
        .save_progress("orch", generation, &done, at, true)
        .await
        .expect("save"));
}
