//! Change tracking for read caches and live streams: a version that moves whenever a store row
//! or its events visibly change, with a way to wait for the next move.
//!
//! Writers in this process bump the version after they commit; writers in other processes
//! `NOTIFY` [`STORES_CHANNEL`] (PostgreSQL) and [`listen`] turns that into a bump here. A cache
//! that remembers the version it read under can tell whether its copy may be stale.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// PostgreSQL channel notified on commit of every change to a store's visible fields or events.
pub const STORES_CHANNEL: &str = "storefleet_stores";

/// PostgreSQL channel notified on commit of every change to a user's token: API replicas drop
/// the token owners they remember, so a replaced token stops working at once.
pub const USERS_CHANNEL: &str = "storefleet_users";

/// A counter that moves on every visible change to any store or its events.
#[derive(Clone, Default, Debug)]
pub struct ChangeVersion(Arc<Inner>);

#[derive(Default, Debug)]
struct Inner {
    version: AtomicU64,
    moved: Notify,
}

impl ChangeVersion {
    /// Read before a query: a result cached under this value is current while it stays the same.
    pub fn current(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// Called after a change is committed (or heard of from another process).
    pub fn bump(&self) {
        self.0.version.fetch_add(1, Ordering::AcqRel);
        self.0.moved.notify_waiters();
    }

    /// Resolves once the version differs from `seen`: at once if it already does.
    pub async fn changed_since(&self, seen: u64) {
        loop {
            let moved = self.0.moved.notified();
            tokio::pin!(moved);
            // Registered before the check, so a bump between the check and the wait is not lost.
            moved.as_mut().enable();
            if self.current() != seen {
                return;
            }
            moved.await;
        }
    }
}

/// Call `on_notification` with the channel of every PostgreSQL notification on `channels`, on
/// one connection, reconnecting with a pause when it drops, until `shutdown`. It is also called
/// for each of `channels` after every (re)connect, because notifications sent while
/// disconnected are lost.
pub async fn listen(
    database_url: String,
    channels: &[&str],
    on_notification: impl Fn(&str),
    mut shutdown: watch::Receiver<bool>,
) {
    use sqlx::postgres::PgListener;
    let all = || channels.iter().for_each(|channel| on_notification(channel));
    while !*shutdown.borrow() {
        let listener = async {
            let mut listener = PgListener::connect(&database_url).await?;
            listener.listen_all(channels.iter().copied()).await?;
            all();
            loop {
                let notification = listener.recv().await?;
                on_notification(notification.channel());
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            result = listener => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, ?channels, "lost the PostgreSQL notification connection; reconnecting");
                }
                all();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// How often [`watch_sqlite`] asks SQLite whether another connection committed.
pub const SQLITE_POLL: Duration = Duration::from_millis(500);

/// SQLite's stand-in for [`listen`]: it cannot notify, but `PRAGMA data_version` on one
/// connection moves whenever any other connection (another process, or this one's pool)
/// commits. Call `on_change` when it moves, checking every [`SQLITE_POLL`], until `shutdown`.
/// Lets a `serve` notice a token rotated by the CLI (a separate process) within a poll instead
/// of its token cache's lifetime.
pub async fn watch_sqlite(
    database_url: String,
    on_change: impl Fn(),
    mut shutdown: watch::Receiver<bool>,
) {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions as _, Connection as _};
    use std::str::FromStr as _;
    while !*shutdown.borrow() {
        let watcher = async {
            let mut conn = SqliteConnectOptions::from_str(&database_url)?
                .create_if_missing(false)
                .read_only(true)
                .connect()
                .await?;
            let mut seen: Option<i64> = None;
            loop {
                let (version,): (i64,) = sqlx::query_as("PRAGMA data_version")
                    .fetch_one(&mut conn)
                    .await?;
                if seen.is_some_and(|s| s != version) {
                    on_change();
                }
                seen = Some(version);
                tokio::time::sleep(SQLITE_POLL).await;
            }
            #[allow(unreachable_code)]
            conn.close().await
        };
        tokio::select! {
            result = watcher => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "could not watch the SQLite database for changes; retrying");
                }
                on_change();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_on_the_next_bump_and_not_before() {
        let changes = ChangeVersion::default();
        let seen = changes.current();
        let waiter = tokio::spawn({
            let changes = changes.clone();
            async move { changes.changed_since(seen).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "nothing changed yet");
        changes.bump();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the bump")
            .expect("task");
        // Already moved: returns at once.
        tokio::time::timeout(Duration::from_millis(100), changes.changed_since(seen))
            .await
            .expect("no wait when the version already moved");
    }

    #[test]
    fn clones_share_one_version() {
        let a = ChangeVersion::default();
        let b = a.clone();
        let before = a.current();
        b.bump();
        assert_eq!(a.current(), before + 1);
    }
}
