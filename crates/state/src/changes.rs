//! Change tracking for read caches: a version that moves whenever a store row visibly changes.
//!
//! Writers in this process bump the version after they commit; writers in other processes
//! `NOTIFY` [`STORES_CHANNEL`] (PostgreSQL) and [`listen`] turns that into a bump here. A cache
//! that remembers the version it read under can tell whether its copy may be stale.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// PostgreSQL channel notified on commit of every change to a store's visible fields.
pub const STORES_CHANNEL: &str = "storefleet_stores";

/// A counter that moves on every visible change to any store.
#[derive(Clone, Default, Debug)]
pub struct ChangeVersion(Arc<AtomicU64>);

impl ChangeVersion {
    /// Read before a query: a result cached under this value is current while it stays the same.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Called after a change is committed (or heard of from another process).
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Call `on_notification` for every PostgreSQL notification on `channels`, reconnecting with a
/// pause when the connection drops, until `shutdown`. It is also called after every
/// (re)connect, because notifications sent while disconnected are lost.
pub async fn listen(
    database_url: String,
    channels: &[&str],
    on_notification: impl Fn(),
    mut shutdown: watch::Receiver<bool>,
) {
    use sqlx::postgres::PgListener;
    while !*shutdown.borrow() {
        let listener = async {
            let mut listener = PgListener::connect(&database_url).await?;
            listener.listen_all(channels.iter().copied()).await?;
            on_notification();
            loop {
                listener.recv().await?;
                on_notification();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            result = listener => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, ?channels, "lost the PostgreSQL notification connection; reconnecting");
                }
                on_notification();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_version() {
        let a = ChangeVersion::default();
        let b = a.clone();
        let before = a.current();
        b.bump();
        assert_eq!(a.current(), before + 1);
    }
}
