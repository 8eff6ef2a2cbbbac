//! Idempotency keys: how long a create's key is remembered, and what a replay finds.
//!
//! A key answers retries of one create for [`IDEMPOTENCY_KEY_TTL`] (24 h, the common choice:
//! long enough for any client's retry loop, short enough that the table follows a day of
//! creates rather than all time). After that the key is forgotten, so a request carrying it
//! is a fresh create; expired keys are also pruned hourly.

use crate::{millis, StateError, StateStore};
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};

/// How long an `Idempotency-Key` answers with the store its first request created.
pub const IDEMPOTENCY_KEY_TTL: chrono::Duration = chrono::Duration::hours(24);

/// What an earlier request under the same key recorded.
pub(crate) struct Earlier {
    pub request_hash: String,
    pub store_id: String,
}

/// The earlier request under `owner`'s `key`, if one was made within the TTL. An expired
/// record is deleted here, inside the create's transaction, so the new create can take the key.
pub(crate) async fn earlier(
    tx: &mut Transaction<'_, Any>,
    owner: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Earlier>, StateError> {
    let row = sqlx::query(
        "SELECT request_hash, store_id, created_at FROM idempotency_keys \
         WHERE owner = $1 AND key = $2",
    )
    .bind(owner)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let created_at: i64 = row.try_get("created_at")?;
    if created_at <= millis(now - IDEMPOTENCY_KEY_TTL) {
        sqlx::query("DELETE FROM idempotency_keys WHERE owner = $1 AND key = $2")
            .bind(owner)
            .bind(key)
            .execute(&mut **tx)
            .await?;
        return Ok(None);
    }
    Ok(Some(Earlier {
        request_hash: row.try_get("request_hash")?,
        store_id: row.try_get("store_id")?,
    }))
}

impl StateStore {
    /// Delete keys recorded before `cutoff` (`now - IDEMPOTENCY_KEY_TTL`). Returns how many.
    /// Expired keys are already ignored by creates; this only keeps the table small.
    pub async fn prune_idempotency_keys(&self, cutoff: DateTime<Utc>) -> Result<u64, StateError> {
        let deleted = sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
            .bind(millis(cutoff))
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(deleted)
    }
}
