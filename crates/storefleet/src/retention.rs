//! Retention: audit entries older than the retention period and idempotency keys past their
//! 24 h are deleted at startup and then every hour, so both tables follow recent activity,
//! not all time.

use std::time::Duration;
use storefleet_state::{StateStore, IDEMPOTENCY_KEY_TTL};
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(3600);

/// Prune audit entries older than `days` and expired idempotency keys until `shutdown` says stop. Any number of replicas may run
/// this at once: deleting what another replica already deleted changes nothing.
pub async fn prune_expired(state: StateStore, days: u32, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        match state.prune_audit(cutoff).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, days, "pruned audit entries past retention"),
            // A full or unreachable database: the next hour tries again.
            Err(e) => tracing::warn!(error = %e, "pruning the audit log failed"),
        }
        match state
            .prune_idempotency_keys(chrono::Utc::now() - IDEMPOTENCY_KEY_TTL)
            .await
        {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "pruned expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
        }
    }
}
