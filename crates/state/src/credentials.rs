//! The owner's credential view at rest: one sealed value per store (see [`crate::sealed`]).

use crate::{millis, StateError, StateStore};
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};
use storefleet_domain::{Phase, StoreId};

impl StateStore {
    /// Keep the sealed credentials of a store, replacing any earlier copy. Nothing is kept for
    /// a store whose deletion has started (its copy is removed then; see [`remove_credentials`]).
    /// True when the copy was kept.
    pub async fn save_credentials(
        &self,
        id: StoreId,
        sealed: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        let done = sqlx::query(
            "INSERT INTO store_credentials (store_id, sealed, updated_at) \
             SELECT $1, $2, $3 WHERE EXISTS \
               (SELECT 1 FROM stores WHERE id = $1 AND phase <> $4 AND phase <> $5) \
             ON CONFLICT (store_id) DO UPDATE SET sealed = excluded.sealed, \
               updated_at = excluded.updated_at",
        )
        .bind(id.to_string())
        .bind(sealed)
        .bind(millis(now))
        .bind(Phase::Deleting.as_str())
        .bind(Phase::Deleted.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The sealed credentials of a store, if a copy was made.
    pub async fn sealed_credentials(&self, id: StoreId) -> Result<Option<String>, StateError> {
        let row = sqlx::query("SELECT sealed FROM store_credentials WHERE store_id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("sealed")).transpose()?)
    }
}

/// Drop a store's credential copy inside a transaction that starts or finishes its deletion.
pub(crate) async fn remove_credentials(
    tx: &mut Transaction<'_, Any>,
    id: StoreId,
) -> Result<(), StateError> {
    sqlx::query("DELETE FROM store_credentials WHERE store_id = $1")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
