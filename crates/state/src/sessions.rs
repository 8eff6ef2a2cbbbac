//! Dashboard sessions: the browser holds a random session id, the database only its SHA-256,
//! the user it belongs to and when it ends. Ending a session (logout, a rotated token, a
//! removed user) is announced like a token change, so API replicas forget it at once.

use crate::users::{user_from_row, User, UserId};
use crate::{millis, StateError, StateStore, USERS_CHANNEL};
use chrono::{DateTime, Utc};

impl StateStore {
    /// Open a session for `user` until `expires_at`, under the hash of its id. Sessions that
    /// have ended are deleted in the same transaction, so the table holds only live ones.
    pub async fn create_session(
        &self,
        id_hash: &str,
        user: UserId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash)
        .bind(user.to_string())
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user of the live session with this id hash, if there is one at `now`.
    pub async fn user_by_session_hash(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StateError> {
        let row = sqlx::query(
            "SELECT u.id, u.name, u.role, u.created_at FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(id_hash)
        .bind(millis(now))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// End the session with this id hash (logout); true when there was one.
    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, StateError> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *tx)
            .await?;
        self.notify(&mut tx, USERS_CHANNEL).await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }
}
