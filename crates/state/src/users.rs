//! Users and their API tokens. Only a hash of each token is stored.

use crate::audit::{insert_audit, AuditEntry};
use crate::{millis, rows, StateError, StateStore, USERS_CHANNEL};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::{fmt, str::FromStr};
use storefleet_domain::UserName;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(StateError::Corrupt(format!("role {other:?}"))),
        }
    }
}

/// A user's id: a UUID v7, a type of its own so a store's or a session's id cannot be passed
/// where a user's is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(Uuid);

impl UserId {
    fn now_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

impl From<UserId> for Uuid {
    fn from(value: UserId) -> Self {
        value.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: UserName,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a user named {0:?} already exists")]
    Exists(String),
    #[error("no user named {0:?}")]
    NotFound(String),
    #[error("{name:?} still owns {live} live store(s): delete them first (nothing changed)")]
    OwnsStores { name: String, live: i64 },
    #[error(transparent)]
    State(#[from] StateError),
}

impl StateStore {
    /// Create a user holding the token whose SHA-256 hash is given.
    pub async fn create_user(
        &self,
        name: &UserName,
        role: Role,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let mut tx = self.pool().begin().await.map_err(StateError::from)?;
        let user = insert_user(&mut tx, name, role, token_hash, now).await?;
        tx.commit().await.map_err(StateError::from)?;
        Ok(user)
    }

    /// [`StateStore::create_user`] with its audit entry, in one transaction (an admin adding a
    /// user through the API).
    pub async fn add_user(
        &self,
        name: &UserName,
        role: Role,
        token_hash: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let mut tx = self.pool().begin().await.map_err(StateError::from)?;
        let user = insert_user(&mut tx, name, role, token_hash, now).await?;
        insert_audit(&mut tx, audit, now).await?;
        tx.commit().await.map_err(StateError::from)?;
        Ok(user)
    }

    /// Give the user `name` a new token (by its hash): the old one stops working. Audited, and
    /// announced on [`USERS_CHANNEL`] so API replicas forget the old token at once. `None` when
    /// there is no such user (nothing changes then).
    pub async fn rotate_token(
        &self,
        name: &str,
        token_hash: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StateError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "UPDATE users SET token_hash = $1 WHERE name = $2 RETURNING id, name, role, created_at",
        )
        .bind(token_hash)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        // A dashboard session opened with the old token ends with it.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.id.to_string())
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit, now).await?;
        self.notify(&mut tx, USERS_CHANNEL).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    /// Every user, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, StateError> {
        let rows =
            sqlx::query("SELECT id, name, role, created_at FROM users ORDER BY created_at, name")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Remove the user `name`: its token stops working at once (announced on [`USERS_CHANNEL`]).
    /// Refused while the user owns a store that is not deleted, so no store is left without an
    /// owner who can delete it. Audited.
    pub async fn remove_user(
        &self,
        name: &str,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let mut tx = self.pool().begin().await.map_err(StateError::from)?;
        // Write first: on SQLite (WAL) a transaction that reads and then writes fails at once
        // with SQLITE_BUSY_SNAPSHOT when another writer committed in between (no busy wait
        // applies); writing first takes the write lock, waiting its turn. On PostgreSQL it
        // locks the user's row against a concurrent removal or token rotation.
        sqlx::query("UPDATE users SET name = name WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(StateError::from)?;
        let row = sqlx::query("SELECT id, name, role, created_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StateError::from)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(StateError::from)?;
            return Err(UserError::NotFound(name.to_owned()));
        };
        let user = user_from_row(&row)?;
        let live: i64 = sqlx::query(
            "SELECT COUNT(*) AS live FROM stores WHERE owner = $1 AND phase <> 'deleted'",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get("live"))
        .map_err(StateError::from)?;
        if live > 0 {
            // Release the lock now, not when a queued ROLLBACK gets to run.
            tx.rollback().await.map_err(StateError::from)?;
            return Err(UserError::OwnsStores {
                name: name.to_owned(),
                live,
            });
        }
        sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(StateError::from)?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(StateError::from)?;
        insert_audit(&mut tx, audit, now).await?;
        self.notify(&mut tx, USERS_CHANNEL).await?;
        tx.commit().await.map_err(StateError::from)?;
        Ok(user)
    }

    /// The user holding the token with this hash, if any.
    pub async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StateError> {
        let row = sqlx::query("SELECT id, name, role, created_at FROM users WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }
}

async fn insert_user(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &UserName,
    role: Role,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<User, UserError> {
    let user = User {
        id: UserId::now_v7(),
        name: name.clone(),
        role,
        created_at: now,
    };
    let inserted = sqlx::query(
        "INSERT INTO users (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(user.id.to_string())
    .bind(name.as_str())
    .bind(role.as_str())
    .bind(token_hash)
    .bind(millis(now))
    .execute(&mut **tx)
    .await
    .map_err(StateError::from)?;
    if inserted.rows_affected() == 0 {
        return Err(UserError::Exists(name.to_string()));
    }
    Ok(user)
}

pub(crate) fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, StateError> {
    let id: String = row.try_get("id")?;
    let role: String = row.try_get("role")?;
    let name: String = row.try_get("name")?;
    Ok(User {
        id: UserId(rows::uuid(&id)?),
        name: UserName::parse(&name).map_err(|e| StateError::Corrupt(format!("user name: {e}")))?,
        role: role.parse()?,
        created_at: rows::time(row.try_get("created_at")?)?,
    })
}
