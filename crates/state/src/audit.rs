//! The audit log: who did what to which store, from where, and how it ended.

pub use crate::audit_kind::{AuditAction, AuditOutcome};
use crate::{millis, rows, StateError, StateStore};
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};

/// One audit entry to record. Written in the same transaction as the change it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor: String,
    pub action: AuditAction,
    pub target: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    /// A denial carries its reason in `detail`.
    pub outcome: AuditOutcome,
    pub detail: Option<String>,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub entry: AuditEntry,
}

pub(crate) async fn insert_audit(
    tx: &mut Transaction<'_, Any>,
    entry: &AuditEntry,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, source_ip, request_id, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(millis(now))
    .bind(&entry.actor)
    .bind(entry.action.as_str())
    .bind(&entry.target)
    .bind(&entry.source_ip)
    .bind(&entry.request_id)
    .bind(entry.outcome.as_str())
    .bind(&entry.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl StateStore {
    /// Record an entry on its own, for decisions that changed nothing else (a denial).
    pub async fn record_audit(
        &self,
        entry: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let mut tx = self.pool().begin().await?;
        insert_audit(&mut tx, entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Newest entries first; `before` pages backwards through older ones.
    pub async fn list_audit(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StateError> {
        self.find_audit(&crate::AuditQuery {
            before,
            limit,
            ..crate::AuditQuery::default()
        })
        .await
    }

    /// Delete entries recorded before `cutoff` (the retention period's start), a batch at a
    /// time so a large backlog never holds SQLite's single write lock for long. Returns how
    /// many were deleted.
    pub async fn prune_audit(&self, cutoff: DateTime<Utc>) -> Result<u64, StateError> {
        let mut deleted = 0;
        loop {
            let batch = sqlx::query(
                "DELETE FROM audit_log WHERE id IN \
                 (SELECT id FROM audit_log WHERE at < $1 ORDER BY id LIMIT $2)",
            )
            .bind(millis(cutoff))
            .bind(PRUNE_BATCH)
            .execute(self.pool())
            .await?
            .rows_affected();
            deleted += batch;
            if batch < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }
}

/// Entries deleted per statement when pruning.
const PRUNE_BATCH: i64 = 1000;

pub(crate) fn audit_from_row(row: &sqlx::any::AnyRow) -> Result<AuditRecord, StateError> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        at: rows::time(row.try_get("at")?)?,
        entry: AuditEntry {
            actor: row.try_get("actor")?,
            action: AuditAction::from(row.try_get::<String, _>("action")?),
            target: row.try_get("target")?,
            source_ip: row.try_get("source_ip")?,
            request_id: row.try_get("request_id")?,
            outcome: AuditOutcome::from(row.try_get::<String, _>("outcome")?),
            detail: row.try_get("detail")?,
        },
    })
}
