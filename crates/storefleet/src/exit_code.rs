//! Exit codes scripts can branch on, documented in the README: each failure of a client command
//! carries the one that says what went wrong.

use std::fmt;
use std::process::ExitCode;

/// What kind of failure ended a command; its number is the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Anything not listed below.
    General = 1,
    /// Bad arguments (clap uses 2 for its own usage errors too).
    Usage = 2,
    /// The store (or another thing named) does not exist for this caller (HTTP 404).
    NotFound = 3,
    /// The request conflicts with the current state: a name in use, a quota, setup not done (409).
    Conflict = 4,
    /// The token is missing, unknown or not allowed to do this (401, 403).
    Auth = 5,
    /// The API could not be reached or answered 5xx; worth retrying later.
    Unavailable = 6,
    /// `--wait` or `store wait` gave up at `--timeout`.
    Timeout = 7,
    /// The store being waited on failed (or was deleted while waiting for ready).
    StoreFailed = 8,
}

impl Failure {
    /// The failure an HTTP status stands for.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 405 | 413 | 415 | 422 => Failure::Usage,
            401 | 403 => Failure::Auth,
            404 | 410 => Failure::NotFound,
            409 | 412 => Failure::Conflict,
            429 | 500..=599 => Failure::Unavailable,
            _ => Failure::General,
        }
    }

    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

/// An error that knows its exit code; anything else exits 1.
#[derive(Debug)]
pub struct Coded {
    pub failure: Failure,
    pub message: String,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// `Err` of a [`Coded`] error, for `?` in functions returning `anyhow::Result`.
pub fn fail<T>(failure: Failure, message: impl Into<String>) -> anyhow::Result<T> {
    Err(Coded {
        failure,
        message: message.into(),
    }
    .into())
}

/// The exit code of an error chain: the first [`Coded`] in it, else 1.
pub fn of(error: &anyhow::Error) -> Failure {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Coded>())
        .map_or(Failure::General, |c| c.failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_distinct_codes() {
        assert_eq!(Failure::from_status(404), Failure::NotFound);
        assert_eq!(Failure::from_status(409), Failure::Conflict);
        assert_eq!(Failure::from_status(401), Failure::Auth);
        assert_eq!(Failure::from_status(503), Failure::Unavailable);
        assert_eq!(Failure::from_status(422), Failure::Usage);
        let codes = [
            Failure::General,
            Failure::Usage,
            Failure::NotFound,
            Failure::Conflict,
            Failure::Auth,
            Failure::Unavailable,
            Failure::Timeout,
            Failure::StoreFailed,
        ]
        .map(|f| f as u8);
        let mut unique = codes.to_vec();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
    }

    #[test]
    fn the_code_is_found_under_added_context() {
        let error = fail::<()>(Failure::Timeout, "gave up")
            .map_err(|e| e.context("waiting for shop"))
            .err();
        assert_eq!(error.as_ref().map(of), Some(Failure::Timeout));
        assert_eq!(of(&anyhow::anyhow!("plain")), Failure::General);
    }
}
