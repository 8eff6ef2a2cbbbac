//! Store events: every transition and every error, in order, for people watching a store.

use crate::{millis, rows, StateError, StateStore};
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};
use storefleet_domain::StoreId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Normal,
    Warning,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Normal => "Normal",
            EventKind::Warning => "Warning",
        }
    }
}

/// An event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub reason: String,
    pub message: String,
}

impl NewEvent {
    pub fn normal(reason: &str, message: impl Into<String>) -> Self {
        Self {
            kind: EventKind::Normal,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    pub fn warning(reason: &str, message: impl Into<String>) -> Self {
        Self {
            kind: EventKind::Warning,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// A recorded event. Ids grow, so a watcher resumes after the last id it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEvent {
    pub id: i64,
    pub store_id: StoreId,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub reason: String,
    pub message: String,
}

/// Insert one event inside a transaction that has already written (so locked) the store's row,
/// or created it: a stream follows a store's events by id, which is safe only if that store's
/// ids become visible in order. On PostgreSQL ids come from a sequence and two transactions
/// could commit out of order; the row lock serializes every writer of one store's events, so
/// they cannot. (A stale pass's UPDATE matches nothing but still waits out a concurrent
/// writer's lock before it re-checks.) SQLite has one writer at a time anyway.
pub(crate) async fn insert_event(
    tx: &mut Transaction<'_, Any>,
    store_id: StoreId,
    event: &NewEvent,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    sqlx::query("INSERT INTO store_events (store_id, at, kind, reason, message) VALUES ($1, $2, $3, $4, $5)")
        .bind(store_id.to_string())
        .bind(millis(now))
        .bind(event.kind.as_str())
        .bind(&event.reason)
        .bind(&event.message)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl StateStore {
    /// Events of one store with an id above `after`, oldest first.
    pub async fn events(
        &self,
        store_id: StoreId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoreEvent>, StateError> {
        let rows = sqlx::query(
            "SELECT id, store_id, at, kind, reason, message FROM store_events \
             WHERE store_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(store_id.to_string())
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let store_id: String = row.try_get("store_id")?;
                Ok(StoreEvent {
                    id: row.try_get("id")?,
                    store_id: rows::store_id(&store_id)?,
                    at: rows::time(row.try_get("at")?)?,
                    kind: row.try_get("kind")?,
                    reason: row.try_get("reason")?,
                    message: row.try_get("message")?,
                })
            })
            .collect()
    }

    /// Record events outside any other change (the orchestrator's attempts and errors).
    pub async fn record_events(
        &self,
        store_id: StoreId,
        events: &[NewEvent],
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let mut tx = self.pool().begin().await?;
        for event in events {
            insert_event(&mut tx, store_id, event, now).await?;
        }
        self.commit_change(tx).await
    }
}
