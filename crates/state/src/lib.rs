//! The state store: the source of truth for which stores should exist and how far each has come.
//!
//! One `StateStore` type speaks to SQLite or PostgreSQL through sqlx's `Any` driver. Times are
//! stored as Unix milliseconds and ids as text, so both backends share the same queries; the
//! few statements that differ (row locking, notifications) ask the [`Dialect`].

mod audit;
mod changes;
mod credentials;
mod events;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
mod rows;
mod sealed;
mod stores;
mod users;
mod work;

pub use audit::{AuditEntry, AuditRecord};
pub use changes::{listen, watch_sqlite, ChangeVersion, STORES_CHANNEL, USERS_CHANNEL};
pub use events::{EventKind, NewEvent, StoreEvent};
pub use sealed::{KeyError, OwnerCredentials, PlatformKey, SealError};
pub use stores::{CreateError, CreateLimits, CreateOutcome, DeleteOutcome, NewStore};
pub use users::{Role, User, UserError};
pub use work::{Progress, Work};

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

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
}

impl StateError {
    /// True when the database could not be reached at all (as opposed to refusing a query),
    /// so callers can answer 503 and retry instead of reporting a bug.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StateError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => true,
            // SQLite busy or locked past the busy timeout: contention, not a bug; retry later.
            StateError::Database(sqlx::Error::Database(e)) => {
                // PostgreSQL shutting down or not yet accepting connections: an outage too.
                matches!(
                    e.code().as_deref(),
                    Some("5" | "6" | "517" | "261" | "262" | "57P01" | "57P02" | "57P03")
                ) || e.message().contains("database is locked")
            }
            _ => false,
        }
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
            .acquire_timeout(Duration::from_secs(5));
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
