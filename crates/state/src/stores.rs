//! Creating, reading and deleting stores: each change is one transaction with its audit entry.

use crate::audit::{insert_audit, AuditEntry};
use crate::events::{insert_event, NewEvent};
use crate::rows::{conditions_json, store_from_row, STORE_COLUMNS};
use crate::{millis, Dialect, StateError, StateStore, STORES_CHANNEL, WORK_CHANNEL};
use chrono::{DateTime, Utc};
use sqlx::{Any, Transaction};
use storefleet_domain::{
    namespace_for, Engine, Phase, Plan, Store, StoreId, StoreName, StoreSpec, StoreStatus, UserName,
};

/// What a caller asks for; already validated at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStore {
    pub name: StoreName,
    pub owner: UserName,
    pub engine: Engine,
    pub plan: Plan,
    pub cluster: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub deadline_at: DateTime<Utc>,
    /// The caller's `Idempotency-Key` and a hash of the request body it came with.
    pub idempotency: Option<(String, String)>,
}

/// Quotas enforced inside the create transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateLimits {
    pub per_user: i64,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateOutcome {
    pub store: Store,
    /// True when an earlier request with the same idempotency key created the store.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("you already have {limit} stores, the most allowed per user; delete one first")]
    UserQuota { limit: i64 },
    #[error("the platform already runs {limit} stores, the most it allows; try again later")]
    TotalQuota { limit: i64 },
    /// A live store already has this name (and so this host). Whose is said only to its owner.
    #[error("{}", name_taken_message(.name, *.yours))]
    NameTaken { name: String, yours: bool },
    #[error("this Idempotency-Key was used with a different request body; use a new key for a new request")]
    IdempotencyMismatch,
    /// The key's store has since been deleted (or is being deleted). Answering with it as if
    /// created would tell a retrying client it has a store it does not; creating a new one
    /// would make one key create twice. The caller decides, with a new key.
    #[error("the store this Idempotency-Key created ({store_id}) has been deleted; use a new key to create another")]
    IdempotentStoreDeleted { store_id: String },
    #[error(transparent)]
    State(#[from] StateError),
}

fn name_taken_message(name: &str, yours: bool) -> String {
    if yours {
        format!("you already have a store named {name:?}; pick another name or delete that store")
    } else {
        format!(
            "the name {name:?} is taken by a live store of another user: a store's name is its \
             host, so names are unique across the platform; pick another name"
        )
    }
}

impl From<sqlx::Error> for CreateError {
    fn from(e: sqlx::Error) -> Self {
        CreateError::State(StateError::Database(e))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    /// Deletion was requested now.
    Requested(Store),
    /// Deletion had already been requested; nothing changed.
    AlreadyDeleting(Store),
}

impl StateStore {
    /// Create a store: idempotency check, quotas, the row, its first event and the audit entry,
    /// all in one transaction. Creates are serialized through one gate row so concurrent
    /// requests cannot overshoot a quota or create twice under one idempotency key.
    pub async fn create_store(
        &self,
        new: NewStore,
        limits: CreateLimits,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<CreateOutcome, CreateError> {
        let mut tx = self.pool().begin().await?;
        match self.create_in(&mut tx, new, limits, audit, now).await {
            Ok(outcome) if !outcome.replayed => {
                self.commit_change(tx).await?;
                Ok(outcome)
            }
            // A replay or a refusal changed nothing. End the transaction now rather than on
            // drop: a dropped transaction's ROLLBACK is only queued, and until it runs the
            // create gate stays locked for every other create. Should the ROLLBACK itself fail,
            // the pool closes the connection (`fault`), and the answer is still this one.
            answer => {
                if let Err(error) = tx.rollback().await {
                    tracing::warn!(%error, "ending a create that changed nothing failed");
                }
                answer
            }
        }
    }

    /// The body of [`StateStore::create_store`] inside its transaction; the caller commits
    /// only a new store.
    async fn create_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        new: NewStore,
        limits: CreateLimits,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<CreateOutcome, CreateError> {
        sqlx::query("UPDATE create_gate SET seq = seq + 1 WHERE id = 1")
            .execute(&mut **tx)
            .await?;

        if let Some((key, hash)) = &new.idempotency {
            if let Some(earlier) =
                crate::idempotency::earlier(tx, new.owner.as_str(), key, now).await?
            {
                if &earlier.request_hash != hash {
                    return Err(CreateError::IdempotencyMismatch);
                }
                let store_id = earlier.store_id;
                let store = fetch_store(tx, &store_id).await?.ok_or_else(|| {
                    StateError::Corrupt(format!(
                        "idempotency key points at missing store {store_id}"
                    ))
                })?;
                if matches!(store.status.phase, Phase::Deleting | Phase::Deleted) {
                    return Err(CreateError::IdempotentStoreDeleted { store_id });
                }
                return Ok(CreateOutcome {
                    store,
                    replayed: true,
                });
            }
        }

        let live = Phase::Deleted.as_str();
        let (owned,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM stores WHERE owner = $1 AND phase <> $2")
                .bind(new.owner.as_str())
                .bind(live)
                .fetch_one(&mut **tx)
                .await?;
        if owned >= limits.per_user {
            return Err(CreateError::UserQuota {
                limit: limits.per_user,
            });
        }
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stores WHERE phase <> $1")
            .bind(live)
            .fetch_one(&mut **tx)
            .await?;
        if total >= limits.total {
            return Err(CreateError::TotalQuota {
                limit: limits.total,
            });
        }
        // Names are unique among live stores of every owner: the name is the store's host.
        let holder: Option<(String,)> =
            sqlx::query_as("SELECT owner FROM stores WHERE name = $1 AND phase <> $2 LIMIT 1")
                .bind(new.name.as_str())
                .bind(live)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some((holder,)) = holder {
            return Err(CreateError::NameTaken {
                name: new.name.to_string(),
                yours: holder == new.owner,
            });
        }

        let id = StoreId::now_v7();
        let store = Store {
            id,
            namespace: namespace_for(&new.name, id),
            spec: StoreSpec {
                name: new.name,
                owner: new.owner,
                engine: new.engine,
                plan: new.plan,
                expires_at: new.expires_at,
            },
            status: StoreStatus::requested(),
            cluster: new.cluster,
            deadline_at: new.deadline_at,
            created_at: now,
            updated_at: now,
            generation: 1,
        };
        sqlx::query(
            "INSERT INTO stores (id, name, owner, engine, plan, phase, conditions, namespace, cluster, \
             expires_at, deadline_at, created_at, updated_at, generation, observed_generation, \
             touched_cluster, next_attempt_at, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, 1, 0, 0, $12, 0)",
        )
        .bind(store.id.to_string())
        .bind(store.spec.name.as_str())
        .bind(store.spec.owner.as_str())
        .bind(store.spec.engine.as_str())
        .bind(store.spec.plan.as_str())
        .bind(store.status.phase.as_str())
        .bind(conditions_json(&store.status.conditions)?)
        .bind(&store.namespace)
        .bind(&store.cluster)
        .bind(store.spec.expires_at.map(millis))
        .bind(millis(store.deadline_at))
        .bind(millis(now))
        .execute(&mut **tx)
        .await
        .map_err(|e| name_index_refused(e, &store))?;
        if let Some((key, hash)) = &new.idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (owner, key, request_hash, store_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(store.spec.owner.as_str())
            .bind(key)
            .bind(hash)
            .bind(store.id.to_string())
            .bind(millis(now))
            .execute(&mut **tx)
            .await?;
        }
        let event = NewEvent::normal(
            "Requested",
            format!(
                "{} store requested on plan {}",
                store.spec.engine, store.spec.plan
            ),
        );
        insert_event(tx, store.id, &event, now).await?;
        let audit = AuditEntry {
            target: Some(store.id.to_string()),
            ..audit.clone()
        };
        insert_audit(tx, &audit, now).await?;
        self.notify_work(tx).await?;
        Ok(CreateOutcome {
            store,
            replayed: false,
        })
    }

    pub async fn get_store(&self, id: StoreId) -> Result<Option<Store>, StateError> {
        let mut conn = self.pool().acquire().await?;
        let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(store_from_row).transpose()
    }

    /// Stores in id (creation) order after the cursor; all owners when `owner` is `None`.
    pub async fn list_stores(
        &self,
        owner: Option<&str>,
        after: Option<StoreId>,
        limit: i64,
    ) -> Result<Vec<Store>, StateError> {
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let rows = match owner {
            Some(owner) => {
                let sql = format!(
                    "SELECT {STORE_COLUMNS} FROM stores WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3"
                );
                sqlx::query(&sql)
                    .bind(owner)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {STORE_COLUMNS} FROM stores WHERE id > $1 ORDER BY id LIMIT $2"
                );
                sqlx::query(&sql)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(store_from_row).collect()
    }

    /// Ask for a store to be deleted. Idempotent: a second request changes nothing.
    pub async fn request_delete(
        &self,
        id: StoreId,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<Option<DeleteOutcome>, StateError> {
        let mut tx = self.pool().begin().await?;
        let Some(store) = lock_store(&mut tx, id).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        if matches!(store.status.phase, Phase::Deleting | Phase::Deleted) {
            // Roll back now rather than on drop: a dropped transaction's ROLLBACK is only
            // queued, and until it runs the row stays locked (an orchestrator's SKIP LOCKED
            // claim would pass the store by).
            tx.rollback().await?;
            return Ok(Some(DeleteOutcome::AlreadyDeleting(store)));
        }
        sqlx::query(
            "UPDATE stores SET phase = $1, generation = generation + 1, next_attempt_at = $2, \
             attempts = 0, updated_at = $2 WHERE id = $3",
        )
        .bind(Phase::Deleting.as_str())
        .bind(millis(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        insert_event(
            &mut tx,
            id,
            &NewEvent::normal("DeleteRequested", "deletion requested"),
            now,
        )
        .await?;
        crate::credentials::remove_credentials(&mut tx, id).await?;
        insert_audit(&mut tx, audit, now).await?;
        self.notify_work(&mut tx).await?;
        let store = fetch_store(&mut tx, &id.to_string())
            .await?
            .ok_or_else(|| StateError::Corrupt(format!("store {id} vanished mid-transaction")))?;
        self.commit_change(tx).await?;
        Ok(Some(DeleteOutcome::Requested(store)))
    }

    /// Tell orchestrators in other processes there is new work; delivered on commit.
    pub(crate) async fn notify_work(
        &self,
        tx: &mut Transaction<'_, Any>,
    ) -> Result<(), StateError> {
        self.notify(tx, WORK_CHANNEL).await
    }

    /// Commit a transaction that changed a store or its events, and say so: to read caches and
    /// streams in other processes by NOTIFY (delivered on commit), to those in this process by
    /// bumping [`StateStore::changes`] once the commit is done.
    pub(crate) async fn commit_change(
        &self,
        mut tx: Transaction<'_, Any>,
    ) -> Result<(), StateError> {
        self.notify(&mut tx, STORES_CHANNEL).await?;
        tx.commit().await?;
        self.changes().bump();
        Ok(())
    }

    pub(crate) async fn notify(
        &self,
        tx: &mut Transaction<'_, Any>,
        channel: &str,
    ) -> Result<(), StateError> {
        if self.dialect() == Dialect::Postgres {
            sqlx::query(&format!("NOTIFY {channel}"))
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// The unique index on live names refused the row: someone else's create won (the gate makes
/// this unreachable today; the index is what guarantees it).
fn name_index_refused(e: sqlx::Error, store: &Store) -> CreateError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => CreateError::NameTaken {
            name: store.spec.name.to_string(),
            yours: false,
        },
        _ => CreateError::from(e),
    }
}

/// The store `id`, locked for the rest of `tx`. Write first: on SQLite that takes the write
/// lock before anything is read, so concurrent changes wait their turn (busy timeout) instead
/// of failing with "database is locked" when a read transaction tries to upgrade; on
/// PostgreSQL it locks the row.
pub(crate) async fn lock_store(
    tx: &mut Transaction<'_, Any>,
    id: StoreId,
) -> Result<Option<Store>, StateError> {
    sqlx::query("UPDATE stores SET updated_at = updated_at WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    fetch_store(tx, &id.to_string()).await
}

pub(crate) async fn fetch_store(
    tx: &mut Transaction<'_, Any>,
    id: &str,
) -> Result<Option<Store>, StateError> {
    let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(store_from_row).transpose()
}
