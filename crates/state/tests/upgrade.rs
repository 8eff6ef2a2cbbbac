//! Upgrading a database with stores in the middle of their deletion: the deletion progress the
//! orchestrator used to read from the NamespaceReady condition's reason becomes explicit state
//! (migration 0005), so no store deletes its namespace twice or forgets that it did. On SQLite
//! and a real PostgreSQL, from the migrations as they were before.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use chrono::Utc;
use sqlx::migrate::Migrator;
use std::path::Path;
use storefleet_domain::{ConditionStatus, ConditionType, Conditions, DeletionStep};
use storefleet_state::StateStore;
use uuid::Uuid;

/// Run only the migrations before 0005, as a database written by the previous release.
async fn migrate_to_previous_release(url: &str, dialect: &str) {
    sqlx::any::install_default_drivers();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let old = tempfile::tempdir().expect("temp dir");
    for file in [
        "0001_initial.sql",
        "0002_store_credentials.sql",
        "0003_readiness_probe.sql",
        "0004_audit_log_at_index.sql",
    ] {
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
async fn insert_deleting(url: &str, name: &str, namespace_deleting: bool) -> Uuid {
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
    let id = Uuid::now_v7();
    let now = Utc::now().timestamp_millis();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    sqlx::query(
        "INSERT INTO stores (id, name, owner, engine, plan, phase, conditions, namespace, cluster, \
         deadline_at, created_at, updated_at, generation, observed_generation, touched_cluster, \
         next_attempt_at, attempts) \
         VALUES ($1, $2, 'tester', 'medusa', 'small', 'deleting', $3, $4, 'test', $5, $5, $5, 2, 1, 1, $5, 0)",
    )
    .bind(id.to_string())
    .bind(name)
    .bind(serde_json::to_string(&conditions).expect("json"))
    .bind(format!("store-{name}"))
    .bind(now)
    .execute(&pool)
    .await
    .expect("insert");
    pool.close().await;
    id
}

async fn deleting_stores_keep_their_progress_across_the_upgrade(url: &str, dialect: &str) {
    migrate_to_previous_release(url, dialect).await;
    let requested = insert_deleting(url, "requested", true).await;
    let not_yet = insert_deleting(url, "not-yet", false).await;
    let state = StateStore::connect(url).await.expect("upgrade");
    let get = |id| {
        let state = state.clone();
        async move { state.get_store(id).await.expect("get").expect("exists") }
    };
    assert_eq!(
        get(requested).await.deletion_done,
        Some(DeletionStep::DeleteNamespace)
    );
    assert_eq!(get(not_yet).await.deletion_done, None);
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
