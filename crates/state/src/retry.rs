//! Retrying a failed store: it goes back to provisioning with a new deadline and a clean
//! attempt count, in one transaction with its event and audit entry, and the orchestrator is
//! told there is work.

use crate::audit::{insert_audit, AuditEntry};
use crate::events::{insert_event, NewEvent};
use crate::stores::{fetch_store, lock_store};
use crate::{millis, StateError, StateStore};
use chrono::{DateTime, Utc};
use storefleet_domain::{Phase, Store, StoreId};

/// What a retry request found.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryOutcome {
    /// The store was failed and is provisioning again.
    Retried(Store),
    /// The store is not failed (as it now is): nothing changed.
    NotFailed(Store),
}

impl StateStore {
    /// Send the failed store `id` back to provisioning with `deadline_at` as its new deadline.
    /// The pass picks up at the first condition not yet true, so finished steps are not redone.
    /// `None` when there is no such store.
    pub async fn retry_store(
        &self,
        id: StoreId,
        deadline_at: DateTime<Utc>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<Option<RetryOutcome>, StateError> {
        let mut tx = self.pool().begin().await?;
        // Locked before the phase is read, so a racing delete or retry waits its turn.
        let Some(store) = lock_store(&mut tx, id).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        if store.status.phase != Phase::Failed {
            // Roll back now rather than on drop: a dropped transaction's ROLLBACK is only queued,
            // and until it runs the row stays locked (an orchestrator's SKIP LOCKED claim would
            // pass the store by).
            tx.rollback().await?;
            return Ok(Some(RetryOutcome::NotFailed(store)));
        }
        // A new generation: a pass still holding the failed record cannot overwrite this one.
        sqlx::query(
            "UPDATE stores SET phase = $1, generation = generation + 1, deadline_at = $2, \
             next_attempt_at = $3, attempts = 0, message = NULL, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = $3 WHERE id = $4",
        )
        .bind(Phase::Provisioning.as_str())
        .bind(millis(deadline_at))
        .bind(millis(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::normal(
            "RetryRequested",
            format!(
                "retry requested by {}; new deadline {}",
                audit.actor,
                deadline_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        );
        insert_event(&mut tx, id, &event, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        self.notify_work(&mut tx).await?;
        let store = fetch_store(&mut tx, &id.to_string())
            .await?
            .ok_or_else(|| StateError::Corrupt(format!("store {id} vanished mid-transaction")))?;
        self.commit_change(tx).await?;
        Ok(Some(RetryOutcome::Retried(store)))
    }
}
