//! Storage faults: which database errors mean "cannot take writes now" (a full disk, a read-only
//! file or server, an I/O error, an outage) rather than a bug, and the pool rule that keeps a
//! connection left inside a failed transaction from serving the next request.

use sqlx::error::DatabaseError as _;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::AnyConnection;
use sqlx::Connection as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// Why the state store cannot serve a request right now; each is worth a retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// Not reachable, shutting down, or busy past the busy timeout.
    Unreachable,
    /// The disk (or PostgreSQL's) is full.
    Full,
    /// The file, its filesystem or the server only accepts reads.
    ReadOnly,
    /// The operating system failed a read or write.
    Io,
}

impl StorageFault {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageFault::Unreachable => "unreachable",
            StorageFault::Full => "full",
            StorageFault::ReadOnly => "read_only",
            StorageFault::Io => "io",
        }
    }
}

/// Classify a sqlx error; `None` means it is not a storage fault (a bug or a refused query).
pub(crate) fn classify(e: &sqlx::Error) -> Option<StorageFault> {
    match e {
        sqlx::Error::Io(io) if io.raw_os_error() == Some(EROFS) => Some(StorageFault::ReadOnly),
        sqlx::Error::Io(io) if io.raw_os_error() == Some(ENOSPC) => Some(StorageFault::Full),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            Some(StorageFault::Unreachable)
        }
        sqlx::Error::Database(db) => {
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                classify_sqlite(sqlite.code().as_deref())
            } else {
                classify_postgres(db.code().as_deref())
            }
        }
        _ => None,
    }
}

const ENOSPC: i32 = 28;
const EROFS: i32 = 30;

/// SQLite reports extended result codes; the primary code is the low byte.
fn classify_sqlite(code: Option<&str>) -> Option<StorageFault> {
    let primary = code?.parse::<i32>().ok()? & 0xff;
    match primary {
        // SQLITE_BUSY, SQLITE_LOCKED: contention past the busy timeout.
        5 | 6 => Some(StorageFault::Unreachable),
        // SQLITE_READONLY.
        8 => Some(StorageFault::ReadOnly),
        // SQLITE_IOERR, SQLITE_CORRUPT is not here: that needs an operator, not a retry.
        10 => Some(StorageFault::Io),
        // SQLITE_FULL.
        13 => Some(StorageFault::Full),
        // SQLITE_CANTOPEN: the file or its directory went away or became unwritable.
        14 => Some(StorageFault::Io),
        _ => None,
    }
}

/// PostgreSQL SQLSTATEs, by class where the whole class is a fault.
fn classify_postgres(code: Option<&str>) -> Option<StorageFault> {
    let code = code?;
    match code {
        "53100" => Some(StorageFault::Full),
        "25006" => Some(StorageFault::ReadOnly),
        "58030" => Some(StorageFault::Io),
        // Shutting down, crashed, or not yet accepting connections.
        "57P01" | "57P02" | "57P03" => Some(StorageFault::Unreachable),
        // Out of memory or connections (class 53), or the connection broke (class 08).
        _ if code.starts_with("53") || code.starts_with("08") => Some(StorageFault::Unreachable),
        _ => None,
    }
}

/// Pool rule run when a connection comes back: keep it only when it is outside any transaction.
///
/// sqlx's `Transaction::commit` leaves its "open" flag set when COMMIT fails, and its drop only
/// queues a ROLLBACK; if that ROLLBACK fails as well (SQLite after a full disk already ended the
/// transaction, or the server is gone) the connection returns to the pool still counting itself
/// inside a transaction, so the next `begin()` makes a SAVEPOINT inside that stale transaction
/// and its "commit" persists nothing. A connection that looks inside a transaction is pinged
/// first, which lets a queued ROLLBACK run (SQLite's worker lowers its depth only then), so a
/// connection whose rollback succeeded is kept; the usual clean release costs nothing.
pub(crate) fn release_if_clean<'c>(
    conn: &'c mut AnyConnection,
    _meta: PoolConnectionMetadata,
) -> Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + 'c>> {
    Box::pin(async move {
        if !conn.is_in_transaction() {
            return Ok(true);
        }
        conn.ping().await?;
        let clean = !conn.is_in_transaction();
        if !clean {
            tracing::warn!("dropping a database connection left inside a failed transaction");
        }
        Ok(clean)
    })
}

/// The file behind a SQLite URL (`sqlite://path`, `sqlite:path`, options after `?`), or `None`
/// for an in-memory database.
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// Whether an existing SQLite file can be opened for writing; the `io::Error` says why not.
/// Checked before connecting because SQLite itself answers a read-only file or filesystem with
/// a vague "unable to open database file" from every pooled connection.
pub(crate) fn sqlite_file_writable(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_extended_codes_are_classified_by_their_primary_code() {
        for (code, fault) in [
            ("13", Some(StorageFault::Full)),
            ("8", Some(StorageFault::ReadOnly)),
            ("1032", Some(StorageFault::ReadOnly)), // SQLITE_READONLY_DBMOVED
            ("10", Some(StorageFault::Io)),
            ("3338", Some(StorageFault::Io)), // SQLITE_IOERR_FSYNC
            ("517", Some(StorageFault::Unreachable)), // SQLITE_BUSY_SNAPSHOT
            ("262", Some(StorageFault::Unreachable)), // SQLITE_LOCKED_SHAREDCACHE
            ("19", None),                     // SQLITE_CONSTRAINT: a refused query
            ("2067", None),                   // SQLITE_CONSTRAINT_UNIQUE
            ("11", None),                     // SQLITE_CORRUPT: needs an operator
        ] {
            assert_eq!(classify_sqlite(Some(code)), fault, "code {code}");
        }
    }

    #[test]
    fn postgres_sqlstates_are_classified() {
        for (code, fault) in [
            ("53100", Some(StorageFault::Full)),
            ("25006", Some(StorageFault::ReadOnly)),
            ("58030", Some(StorageFault::Io)),
            ("57P01", Some(StorageFault::Unreachable)),
            ("08006", Some(StorageFault::Unreachable)),
            ("53300", Some(StorageFault::Unreachable)),
            ("23505", None),
            ("40001", None),
        ] {
            assert_eq!(classify_postgres(Some(code)), fault, "code {code}");
        }
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/sf/state.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/sf/state.db"))
        );
        assert_eq!(
            sqlite_path("sqlite://state.db"),
            Some(PathBuf::from("state.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:state.db"),
            Some(PathBuf::from("state.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }
}
