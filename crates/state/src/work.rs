//! Orchestrator work: claiming stores under a lease, renewing it, and saving progress.
//!
//! A lease is a row-level claim with an expiry. PostgreSQL claims with `FOR UPDATE SKIP
//! LOCKED`, so replicas never wait on each other; SQLite has a single writer, so the claiming
//! `UPDATE` is atomic on its own. Every later write is conditional on still holding the lease.

use crate::audit::{insert_audit, AuditAction, AuditEntry, AuditOutcome};
use crate::credentials::remove_credentials;
use crate::events::{insert_event, NewEvent};
use crate::rows::{conditions_json, store_from_row, STORE_COLUMNS};
use crate::{millis, rows, Dialect, StateError, StateStore};
use chrono::{DateTime, Utc};
use sqlx::Row;
use storefleet_domain::{DeletionStep, Phase, Store, StoreId, StoreStatus};

/// A claimed store and how many attempts at its current step have failed so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    pub store: Store,
    pub attempts: i64,
}

/// What the orchestrator learned in one pass over a store.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The store whose status this is.
    pub id: StoreId,
    /// What the orchestrator observed: all a pass may save. The owner's spec is not here, so
    /// no pass can change it.
    pub status: StoreStatus,
    pub events: Vec<NewEvent>,
    /// When to look at this store again.
    pub next_attempt_at: DateTime<Utc>,
    pub attempts: i64,
}

fn active_phases() -> String {
    Phase::ACTIVE
        .iter()
        .map(|p| format!("'{}'", p.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl StateStore {
    /// Claim up to `limit` stores that need work and are not leased by a live replica.
    pub async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Work>, StateError> {
        let lock = match self.dialect() {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE stores SET lease_owner = $1, lease_expires_at = $2 WHERE id IN ( \
               SELECT id FROM stores WHERE phase IN ({phases}) AND next_attempt_at <= $3 \
               AND (lease_owner IS NULL OR lease_expires_at < $3) \
               ORDER BY next_attempt_at LIMIT $4 {lock}) \
             RETURNING {STORE_COLUMNS}",
            phases = active_phases()
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(millis(lease_until))
            .bind(millis(now))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Work {
                    store: store_from_row(row)?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Extend a lease still held. False means it was lost: stop working on the store.
    pub async fn renew_lease(
        &self,
        id: StoreId,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        let done = sqlx::query(
            "UPDATE stores SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3",
        )
        .bind(millis(lease_until))
        .bind(id.to_string())
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Give a lease back without recording progress (the desired state changed under us).
    pub async fn release_lease(&self, id: StoreId, owner: &str) -> Result<(), StateError> {
        sqlx::query("UPDATE stores SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(id.to_string())
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Bring a waiting store's next attempt forward to `now` (something it waits on changed).
    /// A store being worked on, or already due, is left alone. True when it was brought forward.
    pub async fn make_due(&self, id: StoreId, now: DateTime<Utc>) -> Result<bool, StateError> {
        let sql = format!(
            "UPDATE stores SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at > $1 \
             AND (lease_owner IS NULL OR lease_expires_at < $1) AND phase IN ({})",
            active_phases()
        );
        let done = sqlx::query(&sql)
            .bind(millis(now))
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Note, before the first write to the cluster, that this store may own cluster objects.
    /// Unconditional on purpose: losing this fact would let a delete skip the cleanup.
    pub async fn mark_touched(&self, id: StoreId) -> Result<(), StateError> {
        sqlx::query("UPDATE stores SET touched_cluster = 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Record progress, only if we still hold the lease and nobody changed the desired state
    /// meanwhile; `release` gives the lease back. False means the pass was stale and nothing but
    /// its events was kept.
    pub async fn save_progress(
        &self,
        owner: &str,
        seen_generation: i64,
        progress: &Progress,
        now: DateTime<Utc>,
        release: bool,
    ) -> Result<bool, StateError> {
        let status = &progress.status;
        let lease = if release {
            ", lease_owner = NULL, lease_expires_at = NULL"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE stores SET phase = $1, conditions = $2, message = $3, storefront_url = $4, \
             admin_url = $5, observed_generation = $6, next_attempt_at = $7, attempts = $8, \
             updated_at = $9, deletion_done = $10{lease} \
             WHERE id = $11 AND lease_owner = $12 AND generation = $13"
        );
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(&sql)
            .bind(status.phase.as_str())
            .bind(conditions_json(&status.conditions)?)
            .bind(&status.message)
            .bind(&status.storefront_url)
            .bind(&status.admin_url)
            .bind(status.observed_generation)
            .bind(millis(progress.next_attempt_at))
            .bind(progress.attempts)
            .bind(millis(now))
            .bind(status.deletion_done.map(DeletionStep::as_str))
            .bind(progress.id.to_string())
            .bind(owner)
            .bind(seen_generation)
            .execute(&mut *tx)
            .await?;
        for event in &progress.events {
            insert_event(&mut tx, progress.id, event, now).await?;
        }
        let saved = done.rows_affected() == 1;
        if saved && status.phase == Phase::Deleted {
            crate::credentials::remove_credentials(&mut tx, progress.id).await?;
        }
        // A stale pass keeps only its events, which live streams still show.
        if saved || !progress.events.is_empty() {
            self.commit_change(tx).await?;
        } else {
            tx.commit().await?;
        }
        Ok(saved)
    }

    /// The earliest time any active store wants attention, so an idle orchestrator can sleep until then.
    pub async fn next_wake(&self) -> Result<Option<DateTime<Utc>>, StateError> {
        let sql = format!(
            "SELECT MIN(CASE WHEN lease_owner IS NULL THEN next_attempt_at ELSE lease_expires_at END) \
             FROM stores WHERE phase IN ({})",
            active_phases()
        );
        let row = sqlx::query(&sql).fetch_one(self.pool()).await?;
        let at: Option<i64> = row.try_get(0)?;
        at.map(rows::time).transpose()
    }

    /// Request deletion of every live store whose time-to-live has run out.
    pub async fn expire_stores(&self, now: DateTime<Utc>) -> Result<Vec<StoreId>, StateError> {
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query(
            "UPDATE stores SET phase = $1, generation = generation + 1, next_attempt_at = $2, \
             attempts = 0, updated_at = $2 \
             WHERE expires_at IS NOT NULL AND expires_at <= $2 AND phase IN ($3, $4, $5, $6) \
             RETURNING id",
        )
        .bind(Phase::Deleting.as_str())
        .bind(millis(now))
        .bind(Phase::Requested.as_str())
        .bind(Phase::Provisioning.as_str())
        .bind(Phase::Ready.as_str())
        .bind(Phase::Failed.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut expired = Vec::with_capacity(rows.len());
        for row in rows {
            let id = rows::store_id(&row.try_get::<String, _>("id")?)?;
            insert_event(
                &mut tx,
                id,
                &NewEvent::normal("Expired", "time-to-live ran out; deleting"),
                now,
            )
            .await?;
            let audit = AuditEntry {
                actor: "system:ttl".to_owned(),
                action: AuditAction::StoreDelete,
                target: Some(id.to_string()),
                source_ip: None,
                request_id: None,
                outcome: AuditOutcome::Succeeded,
                detail: Some("expired".to_owned()),
            };
            insert_audit(&mut tx, &audit, now).await?;
            // Same as an owner's delete: the credential view closes when deletion starts.
            remove_credentials(&mut tx, id).await?;
            expired.push(id);
        }
        if expired.is_empty() {
            tx.commit().await?;
        } else {
            self.notify_work(&mut tx).await?;
            self.commit_change(tx).await?;
        }
        Ok(expired)
    }

    /// Store ids (as text) that still own cluster objects: anything not yet deleted.
    pub async fn live_store_ids(&self) -> Result<Vec<String>, StateError> {
        let rows = sqlx::query("SELECT id FROM stores WHERE phase <> $1")
            .bind(Phase::Deleted.as_str())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
    }
}
