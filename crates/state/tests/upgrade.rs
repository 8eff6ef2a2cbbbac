//! Upgrading databases written by earlier releases, on SQLite and a real PostgreSQL, from the
//! migrations as they were before:
//! - stores in the middle of their deletion: the deletion progress the orchestrator used to read
//!   from the NamespaceReady condition's reason becomes explicit state (migration 0005), so no
//!   store deletes its namespace twice or forgets that it did;
//! - live stores of different owners sharing a name (names were unique per owner): migration
//!   0006 makes live names unique across owners without failing or deleting anything;
//! - every upgraded database gets its random installation id once (migration 0007) and an
//!   empty sessions table (migration 0008).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use chrono::Utc;
use sqlx::migrate::Migrator;
use std::path::Path;
use storefleet_domain::StoreId;
use storefleet_domain::{
    ConditionStatus, ConditionType, Conditions, DeletionStep, Engine, Plan, StoreName,
};
use storefleet_state::{AuditEntry, CreateError, CreateLimits, NewStore, StateStore};
use uuid::Uuid;

const BEFORE_0005: &[&str] = &[
    "0001_initial.sql",
    "0002_store_credentials.sql",
    "0003_readiness_probe.sql",
    "0004_audit_log_at_index.sql",
];

/// Run only `files` of the migrations, as a database written by an earlier release.
async fn migrate_to_previous_release(url: &str, dialect: &str, files: &[&str]) {
    sqlx::any::install_default_drivers();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let old = tempfile::tempdir().expect("temp dir");
    for file in files {
        std::fs::copy(from.join(file), old.path().join(file)).expect("copy migration");
    }
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    Migrator::new(old.path())
        .await
        .expect("migrations")
        .run(&pool)
        .await
        .expect("old migrations");
    pool.close().await;
}

/// A deleting store as the previous release recorded it, with or without the namespace
/// deletion requested (NamespaceReady False with reason `Deleting`).
async fn insert_deleting(url: &str, name: &str, namespace_deleting: bool) -> StoreId {
    insert_store(url, "tester", name, "deleting", namespace_deleting).await
}

/// A store of `owner` in `phase` as an earlier release recorded it.
async fn insert_store(
    url: &str,
    owner: &str,
    name: &str,
    phase: &str,
    namespace_deleting: bool,
) -> StoreId {
    let mut conditions = Conditions::default();
    conditions.set(
        ConditionType::NamespaceReady,
        ConditionStatus::True,
        "NamespaceCreated",
        "namespace is ready",
        Utc::now(),
    );
    if namespace_deleting {
        conditions.set(
            ConditionType::NamespaceReady,
            ConditionStatus::False,
            "Deleting",
            "namespace is being deleted",
            Utc::now(),
        );
    }
    let id = StoreId::now_v7();
    let now = Utc::now().timestamp_millis();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    sqlx::query(
        "INSERT INTO stores (id, name, owner, engine, plan, phase, conditions, namespace, cluster, \
         deadline_at, created_at, updated_at, generation, observed_generation, touched_cluster, \
         next_attempt_at, attempts) \
         VALUES ($1, $2, $3, 'medusa', 'small', $4, $5, $6, 'test', $7, $7, $7, 2, 1, 1, $7, 0)",
    )
    .bind(id.to_string())
    .bind(name)
    .bind(owner)
    .bind(phase)
    .bind(serde_json::to_string(&conditions).expect("json"))
    .bind(format!("store-{name}-{}", &id.simple().to_string()[26..]))
    .bind(now)
    .execute(&pool)
    .await
    .expect("insert");
    pool.close().await;
    id
}

async fn deleting_stores_keep_their_progress_across_the_upgrade(url: &str, dialect: &str) {
    migrate_to_previous_release(url, dialect, BEFORE_0005).await;
    let requested = insert_deleting(url, "requested", true).await;
    let not_yet = insert_deleting(url, "not-yet", false).await;
    let state = StateStore::connect(url).await.expect("upgrade");
    let get = |id| {
        let state = state.clone();
        async move { state.get_store(id).await.expect("get").expect("exists") }
    };
    assert_eq!(
        get(requested).await.status.deletion_done,
        Some(DeletionStep::DeleteNamespace)
    );
    assert_eq!(get(not_yet).await.status.deletion_done, None);

    // The upgrade gives the installation its random id (migration 0007), made once: opening
    // the database again keeps it.
    let id = state.installation_id().await.expect("installation id");
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id:?}"
    );
    // Migration 0008: no dashboard session survives the upgrade (old cookies held tokens).
    let counts = state.row_counts().await.expect("counts");
    assert!(counts.contains(&("sessions", 0)), "{counts:?}");
    state.close().await;
    let again = StateStore::connect(url).await.expect("reopen");
    assert_eq!(again.installation_id().await.expect("installation id"), id);
}

#[tokio::test]
async fn on_sqlite_deleting_stores_keep_their_progress_across_the_upgrade() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/state.db?mode=rwc", dir.path().display());
    deleting_stores_keep_their_progress_across_the_upgrade(&url, "sqlite").await;
}

#[tokio::test]
async fn on_postgres_deleting_stores_keep_their_progress_across_the_upgrade() {
    let Some(url) =
        storefleet_testkit::postgres_or_skip(storefleet_testkit::postgres::fresh_database().await)
    else {
        return;
    };
    deleting_stores_keep_their_progress_across_the_upgrade(&url, "postgres").await;
}

/// Names were unique per owner: an install may hold live stores of different owners under one
/// name (one host). The upgrade keeps every store; the oldest keeps the name, the younger ones
/// are told in their events, and from then on no new store can take the name while any of them
/// lives, and the database refuses a second live row of it.
async fn shared_live_names_survive_the_upgrade_and_are_then_unique(url: &str, dialect: &str) {
    let mut before_0006 = BEFORE_0005.to_vec();
    before_0006.push("0005_deletion_done.sql");
    migrate_to_previous_release(url, dialect, &before_0006).await;
    let oldest = insert_store(url, "alice", "shop", "ready", false).await;
    let younger = insert_store(url, "bob", "shop", "provisioning", false).await;
    let deleted = insert_store(url, "carol", "shop", "deleted", false).await;
    let state = StateStore::connect(url)
        .await
        .expect("the upgrade must not fail");
    let warnings = |id| {
        let state = state.clone();
        async move {
            state
                .events(id, 0, 100)
                .await
                .expect("events")
                .into_iter()
                .filter(|e| e.reason == "HostShared")
                .collect::<Vec<_>>()
        }
    };
    assert!(warnings(oldest).await.is_empty());
    assert!(warnings(deleted).await.is_empty());
    let told = warnings(younger).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].kind, "Warning");
    assert!(!told[0].message.contains("alice"), "{}", told[0].message);
    for id in [oldest, younger, deleted] {
        assert!(state.get_store(id).await.expect("get").is_some());
    }

    let create = |owner: &'static str| {
        let state = state.clone();
        async move {
            state
                .create_store(
                    NewStore {
                        name: StoreName::parse("shop").expect("name"),
                        owner: storefleet_domain::UserName::parse(owner).expect("a user name"),
                        engine: Engine::Medusa,
                        plan: Plan::Small,
                        cluster: "test".to_owned(),
                        expires_at: None,
                        deadline_at: Utc::now() + chrono::Duration::minutes(5),
                        idempotency: None,
                    },
                    CreateLimits {
                        per_user: 5,
                        total: 100,
                    },
                    &AuditEntry {
                        actor: owner.to_owned(),
                        action: "store.create".into(),
                        target: None,
                        source_ip: None,
                        request_id: None,
                        outcome: "succeeded".into(),
                        detail: None,
                    },
                    Utc::now(),
                )
                .await
        }
    };
    assert!(matches!(
        create("dave").await,
        Err(CreateError::NameTaken { yours: false, .. })
    ));
    // The index itself refuses a second live row of the name, whoever writes it.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    let duplicate = sqlx::query(
        "INSERT INTO stores (id, name, owner, engine, plan, phase, conditions, namespace, cluster, \
         deadline_at, created_at, updated_at, generation, observed_generation, touched_cluster, \
         next_attempt_at, attempts) \
         VALUES ($1, 'shop', 'erin', 'medusa', 'small', 'requested', '[]', 'store-shop-x', 'test', 0, 0, 0, 1, 0, 0, 0, 0)",
    )
    .bind(Uuid::now_v7().to_string())
    .execute(&pool)
    .await
    .expect_err("a second live store named shop");
    assert!(
        matches!(&duplicate, sqlx::Error::Database(e) if e.is_unique_violation()),
        "{duplicate:?}"
    );
    // Only once every store of that name is deleted is it free again.
    sqlx::query("UPDATE stores SET phase = 'deleted' WHERE id = $1")
        .bind(oldest.to_string())
        .execute(&pool)
        .await
        .expect("delete the oldest");
    assert!(create("dave").await.is_err(), "bob's store still lives");
    sqlx::query("UPDATE stores SET phase = 'deleted' WHERE id = $1")
        .bind(younger.to_string())
        .execute(&pool)
        .await
        .expect("delete the younger");
    pool.close().await;
    assert_eq!(
        create("dave").await.expect("free again").store.spec.owner,
        "dave"
    );
}

#[tokio::test]
async fn on_sqlite_shared_live_names_survive_the_upgrade_and_are_then_unique() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/state.db?mode=rwc", dir.path().display());
    shared_live_names_survive_the_upgrade_and_are_then_unique(&url, "sqlite").await;
}

#[tokio::test]
async fn on_postgres_shared_live_names_survive_the_upgrade_and_are_then_unique() {
    let Some(url) =
        storefleet_testkit::postgres_or_skip(storefleet_testkit::postgres::fresh_database().await)
    else {
        return;
    };
    shared_live_names_survive_the_upgrade_and_are_then_unique(&url, "postgres").await;
}
