//! Audit retention: entries older than the retention period are deleted at startup and then
//! every hour, so the audit log's size follows activity over the period, not all time.

use std::time::Duration;
use storefleet_state::StateStore;
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(3600);

/// Prune entries older than `days` until `shutdown` says stop. Any number of replicas may run
/// this at once: deleting what another replica already deleted changes nothing.
pub async fn prune_audit_log(state: StateStore, days: u32, mut shutdown: watch::Receiver<bool>) {
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
    }
}
