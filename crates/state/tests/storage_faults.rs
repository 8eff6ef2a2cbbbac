//! Storage faults on both backends: a database that takes writes passes the write probe, and a
//! read-only one (a SQLite file opened read-only, a PostgreSQL whose transactions are read-only
//! as on a standby) is reported as a read-only fault, which the API answers with 503 and
//! `serve` refuses to start on.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use storefleet_state::{StateStore, StorageFault};

/// Connecting to `url` or writing through it fails, and says the database is read-only.
async fn assert_read_only(url: &str) {
    let err = match StateStore::connect(url).await {
        Err(e) => e,
        Ok(store) => store
            .check_writable()
            .await
            .expect_err("a read-only database took a write"),
    };
    assert_eq!(err.fault(), Some(StorageFault::ReadOnly), "{err}");
}

#[tokio::test]
async fn sqlite_a_writable_database_passes_and_a_read_only_one_is_a_read_only_fault() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/state.db", dir.path().display());
    let store = StateStore::connect(&url).await.expect("sqlite");
    store
        .check_writable()
        .await
        .expect("a fresh database takes writes");
    store.close().await;
    assert_read_only(&format!("{url}?mode=ro")).await;
}

#[tokio::test]
async fn postgres_a_writable_database_passes_and_a_read_only_one_is_a_read_only_fault() {
    let Some(url) =
        storefleet_testkit::postgres_or_skip(storefleet_testkit::postgres::fresh_database().await)
    else {
        return;
    };
    let store = StateStore::connect(&url).await.expect("postgres");
    store
        .check_writable()
        .await
        .expect("a fresh database takes writes");
    store.close().await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect");
    sqlx::query(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', \
         current_database()); END $$",
    )
    .execute(&mut admin)
    .await
    .expect("make the database read-only");
    assert_read_only(&url).await;
}
