//! The state store: the source of truth for which stores should exist and how far each has come.
//!
//! One `StateStore` type speaks to SQLite or PostgreSQL through sqlx's `Any` driver. Times are
//! stored as Unix milliseconds and ids as text, so both backends share the same queries; the
//! few statements that differ (row locking, notifications) ask the [`Dialect`].

mod audit;
mod audit_kind;
mod audit_query;
mod changes;
mod credentials;
mod events;
mod fault;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
mod idempotency;
mod retry;
mod rows;
mod sealed;
mod sessions;
mod stats;
mod store_query;
mod stores;
mod users;
mod work;

pub use audit::{AuditAction, AuditEntry, AuditOutcome, AuditRecord};
pub use audit_query::AuditQuery;
pub use changes::{listen, watch_sqlite, ChangeVersion, STORES_CHANNEL, USERS_CHANNEL};
pub use events::{EventKind, NewEvent, StoreEvent};
pub use fault::StorageFault;
pub use idempotency::IDEMPOTENCY_KEY_TTL;
pub use retry::RetryOutcome;
pub use sealed::{KeyError, OwnerCredentials, PlatformKey, SealError};
pub use stats::PlatformStats;
pub use store_query::{PhaseFilter, StoreQuery};
pub use stores::{CreateError, CreateLimits, CreateOutcome, DeleteOutcome, NewStore};
pub use users::{Role, User, UserError, UserId};
pub use work::{Progress, Work};

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Size of the readiness probe's write: several database pages, more than the slack a full
/// filesystem may still have at the end of a file.
pub const PROBE_BYTES: usize = 32 * 1024;

/// PostgreSQL channel the API notifies when there is new work for the orchestrator.
pub const WORK_CHANNEL: &str = "storefleet_work";

/// Which SQL dialect the connected database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> Result<Self, StateError> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Dialect::Postgres)
        } else {
            Err(StateError::UnsupportedUrl)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("database URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is not readable: {0}")]
    Corrupt(String),
    #[error("the database file {path} is read-only or cannot be written ({cause}); Storefleet must write to it: check the file's permissions and that its filesystem is mounted read-write")]
    FileNotWritable { path: String, cause: std::io::Error },
}

impl StateError {
    /// The storage fault behind this error, if it is one: the database is unreachable, full,
    /// read-only or failing I/O, so callers answer 503 and retry instead of reporting a bug.
    pub fn fault(&self) -> Option<StorageFault> {
        match self {
            StateError::Database(e) => fault::classify(e),
            StateError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => fault::classify(e),
            StateError::FileNotWritable { .. } => Some(StorageFault::ReadOnly),
            _ => None,
        }
    }

    /// True when the database cannot serve this request now but may later (see [`Self::fault`]).
    pub fn is_unavailable(&self) -> bool {
        self.fault().is_some()
    }
}

/// Handle to the state store. Cheap to clone.
#[derive(Clone)]
pub struct StateStore {
    pool: AnyPool,
    dialect: Dialect,
    changes: ChangeVersion,
}

impl StateStore {
    /// Connect and run the embedded migrations. A SQLite file is created when missing and
    /// switched to WAL so readers never wait on the single writer.
    pub async fn connect(url: &str) -> Result<Self, StateError> {
        let store = Self::connect_without_migrating(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub async fn connect_without_migrating(url: &str) -> Result<Self, StateError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url)?;
        if let Some(path) = fault::sqlite_path(url).filter(|_| dialect == Dialect::Sqlite) {
            fault::sqlite_file_writable(&path).map_err(|cause| StateError::FileNotWritable {
                path: path.display().to_string(),
                cause,
            })?;
        }
        let url = match dialect {
            Dialect::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyPoolOptions::new()
            .max_connections(match dialect {
                Dialect::Sqlite => 8,
                Dialect::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(5))
            .after_release(fault::release_if_clean);
        let options = if dialect == Dialect::Sqlite {
            options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA busy_timeout = 15000",
                        "PRAGMA foreign_keys = ON",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(&url).await?;
        Ok(Self {
            pool,
            dialect,
            changes: ChangeVersion::default(),
        })
    }

    pub async fn migrate(&self) -> Result<(), StateError> {
        match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Dialect::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Moves on every committed change to a store's visible fields made through this handle
    /// (or its clones); changes by other processes move it through [`listen`] on PostgreSQL.
    pub fn changes(&self) -> &ChangeVersion {
        &self.changes
    }

    /// Answers whether the database takes queries right now (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StateError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Answers whether the database takes writes right now: rewrites the probe row with
    /// [`PROBE_BYTES`] of fresh bytes and commits like any other write, so a full disk, a
    /// read-only file or a read-only (standby) PostgreSQL fails it. For `/readyz` and startup.
    pub async fn check_writable(&self) -> Result<(), StateError> {
        let now = chrono::Utc::now();
        // Bytes that differ on every probe so no layer can skip the write as unchanged.
        let seed = now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes();
        let filler: Vec<u8> = seed.iter().cycle().take(PROBE_BYTES).copied().collect();
        sqlx::query("UPDATE readiness_probe SET filler = $1, checked_at = $2 WHERE id = 1")
            .bind(filler)
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// This installation's id: 128 random bits made once by the migrations and kept here. The
    /// orchestrator labels every store namespace with it and sweeps only namespaces that carry
    /// it.
    pub async fn installation_id(&self) -> Result<String, StateError> {
        let (id,): (String,) =
            sqlx::query_as("SELECT installation_id FROM installation WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(id)
    }

    /// Row counts of every table, for tests that prove a refused request changed nothing.
    pub async fn row_counts(&self) -> Result<Vec<(&'static str, i64)>, StateError> {
        let mut counts = Vec::new();
        for table in [
            "users",
            "stores",
            "store_events",
            "idempotency_keys",
            "audit_log",
            "store_credentials",
            "sessions",
        ] {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let (n,): (i64,) = sqlx::query_as(&sql).fetch_one(&self.pool).await?;
            counts.push((table, n));
        }
        Ok(counts)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Milliseconds since the Unix epoch, the one time format stored.
pub(crate) fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// In-process wake-up for the orchestrator when API and orchestrator share a process
/// (`serve`); across processes PostgreSQL's NOTIFY does the same job.
#[derive(Clone, Default)]
pub struct WorkSignal(std::sync::Arc<tokio::sync::Notify>);

impl WorkSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn woken(&self) {
        self.0.notified().await;
    }
}
