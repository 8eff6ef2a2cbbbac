//! Read caches for the hot GET paths: who a token belongs to, and rendered store lists.
//!
//! `GET /api/v1/stores` is what dashboards and scripts poll. Answering it from the database
//! costs two queries per request (token, then list); with these caches a poll costs a hash, two
//! map lookups and a copy of bytes. Both caches are bounded in size and time:
//! - a token's owner is remembered for [`TOKEN_TTL`]; a token replaced by
//!   `storefleet user rotate-token` is forgotten ([`ReadCaches::forget_tokens`]) when
//!   PostgreSQL's `NOTIFY storefleet_users` or SQLite's `data_version` poll reports the change,
//!   and after at most [`TOKEN_TTL`] if neither arrives (a listener reconnecting);
//! - a list body is tagged with the state store's change version read *before* its query, so a
//!   change committed by this process, or announced by PostgreSQL `NOTIFY` from another one,
//!   makes the next request query again. [`LIST_TTL`] bounds staleness where no notification
//!   can arrive (an API and an orchestrator process sharing one SQLite file, a listener that
//!   is reconnecting).

use bytes::Bytes;
use moka::future::Cache;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use storefleet_state::{ChangeVersion, User};

/// How long a token's owner is remembered.
pub const TOKEN_TTL: Duration = Duration::from_secs(10);
/// The most a cached list can lag behind a change nobody told this process about.
pub const LIST_TTL: Duration = Duration::from_secs(1);

/// One page of one caller's view: the whole query (owner — `None` for an admin's view of
/// everything —, filters, order, cursor and page size).
pub type ListKey = storefleet_state::StoreQuery;

pub struct ReadCaches {
    tokens: Cache<String, User>,
    /// Keyed by the change version read before the query as well: a change makes every older
    /// entry unreachable (they age out), and requests that miss together share one query.
    lists: Cache<(u64, ListKey), Bytes>,
    changes: ChangeVersion,
}

impl ReadCaches {
    pub fn new(changes: ChangeVersion) -> Self {
        Self {
            tokens: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(TOKEN_TTL)
                .build(),
            lists: Cache::builder()
                .max_capacity(1_000)
                .time_to_live(LIST_TTL)
                .build(),
            changes,
        }
    }

    /// The user owning the token with this hash: remembered, or looked up by `load` (once for
    /// any number of concurrent requests with that token). Failures, an unknown token among
    /// them, are not remembered.
    pub async fn user<E, F>(&self, token_hash: &str, load: F) -> Result<User, Arc<E>>
    where
        F: Future<Output = Result<User, E>>,
        E: Send + Sync + 'static,
    {
        self.tokens.try_get_with_by_ref(token_hash, load).await
    }

    /// Forget every remembered token owner: a token was replaced somewhere (or notifications
    /// may have been missed), so the next request with any token looks it up again.
    pub fn forget_tokens(&self) {
        self.tokens.invalidate_all();
    }

    /// The body for this page: the copy rendered since the last change, or `render`'s (once
    /// for any number of concurrent requests for the page). Errors are not remembered.
    pub async fn list<E, F>(&self, key: ListKey, render: F) -> Result<Bytes, Arc<E>>
    where
        F: Future<Output = Result<Bytes, E>>,
        E: Send + Sync + 'static,
    {
        // Read before rendering: a change committed while the query runs moves the version, so
        // the body rendered now is filed under the old one and never served after the change.
        let version = self.changes.current();
        self.lists.try_get_with((version, key), render).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key() -> ListKey {
        ListKey {
            owner: Some("alice".to_owned()),
            phase: storefleet_state::PhaseFilter::Live,
            engine: None,
            name: None,
            newest_first: true,
            after: None,
            limit: 50,
        }
    }

    /// Renders `body` and counts how often rendering ran.
    async fn render(calls: &AtomicUsize, body: &'static str) -> Result<Bytes, ()> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(Bytes::from_static(body.as_bytes()))
    }

    #[tokio::test]
    async fn a_list_is_served_until_something_changes() {
        let changes = ChangeVersion::default();
        let caches = ReadCaches::new(changes.clone());
        let calls = AtomicUsize::new(0);
        assert_eq!(
            caches.list(key(), render(&calls, "v1")).await,
            Ok(Bytes::from("v1"))
        );
        assert_eq!(
            caches.list(key(), render(&calls, "v2")).await,
            Ok(Bytes::from("v1"))
        );
        changes.bump();
        assert_eq!(
            caches.list(key(), render(&calls, "v3")).await,
            Ok(Bytes::from("v3"))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_list_rendered_across_a_change_is_not_served_after_it() {
        let changes = ChangeVersion::default();
        let caches = ReadCaches::new(changes.clone());
        let calls = AtomicUsize::new(0);
        let during = async {
            let body = render(&calls, "old").await;
            changes.bump(); // committed while the query ran
            body
        };
        assert_eq!(caches.list(key(), during).await, Ok(Bytes::from("old")));
        assert_eq!(
            caches.list(key(), render(&calls, "new")).await,
            Ok(Bytes::from("new"))
        );
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_render() {
        let caches = ReadCaches::new(ChangeVersion::default());
        let calls = AtomicUsize::new(0);
        let all =
            futures::future::join_all((0..32).map(|_| caches.list(key(), render(&calls, "x"))))
                .await;
        assert!(all.iter().all(|b| b.as_deref() == Ok(&Bytes::from("x"))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn pages_and_owners_are_kept_apart_and_errors_are_not_kept() {
        let caches = ReadCaches::new(ChangeVersion::default());
        let calls = AtomicUsize::new(0);
        caches
            .list(key(), render(&calls, "alice"))
            .await
            .expect("render");
        let admin = ListKey {
            owner: None,
            ..key()
        };
        assert_eq!(
            caches.list(admin, render(&calls, "all")).await,
            Ok(Bytes::from("all"))
        );
        let other_page = ListKey { limit: 10, ..key() };
        assert_eq!(
            caches
                .list(other_page.clone(), async { Err("db down") })
                .await,
            Err(Arc::new("db down"))
        );
        assert_eq!(
            caches.list(other_page, render(&calls, "p")).await,
            Ok(Bytes::from("p"))
        );
    }

    #[tokio::test]
    async fn lists_expire_even_without_a_change() {
        let caches = ReadCaches::new(ChangeVersion::default());
        let calls = AtomicUsize::new(0);
        caches
            .list(key(), render(&calls, "a"))
            .await
            .expect("render");
        tokio::time::sleep(LIST_TTL + Duration::from_millis(100)).await;
        assert_eq!(
            caches.list(key(), render(&calls, "b")).await,
            Ok(Bytes::from("b"))
        );
    }

    #[tokio::test]
    async fn unknown_tokens_are_looked_up_every_time() {
        let caches = ReadCaches::new(ChangeVersion::default());
        let lookups = AtomicUsize::new(0);
        for _ in 0..3 {
            let found = caches
                .user("hash", async {
                    lookups.fetch_add(1, Ordering::SeqCst);
                    Err::<User, _>("unknown")
                })
                .await;
            assert_eq!(found.map(|u| u.name), Err(Arc::new("unknown")));
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 3);
    }
}
