//! Reading database URLs: the SQLite file a `sqlite:` URL names, and a description of any URL
//! for people (banners, "which database" lines) that never includes a password.

use std::path::PathBuf;

/// The file a `sqlite:` URL names, as written (relative paths stay relative); `None` for an
/// in-memory database or any other kind of database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

/// [`sqlite_file`] made absolute against the working directory, as a person wants to read it.
pub fn absolute_sqlite_file(url: &str) -> Option<PathBuf> {
    let path = sqlite_file(url)?;
    if path.is_absolute() {
        Some(path)
    } else {
        std::env::current_dir().ok().map(|dir| dir.join(path))
    }
}

/// The database for people: the SQLite file's absolute path, or the URL without its user and
/// password.
pub fn describe(url: &str) -> String {
    if let Some(path) = absolute_sqlite_file(url) {
        return format!("SQLite {}", path.display());
    }
    if url.starts_with("sqlite:") {
        return "SQLite in memory".to_owned();
    }
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{}", host_and_db.split('?').next().unwrap_or(""))
        }
        None => "(unrecognised database URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_are_described_without_secrets() {
        assert_eq!(
            describe("sqlite:///var/lib/sf.db?mode=rwc"),
            "SQLite /var/lib/sf.db"
        );
        assert_eq!(
            describe("postgres://storefleet:s3cret@db.internal:5432/storefleet?sslmode=require"),
            "postgres://db.internal:5432/storefleet"
        );
        assert!(!describe("postgres://u:p%40ss@h/d").contains("p%40ss"));
        assert_eq!(describe("sqlite::memory:"), "SQLite in memory");
    }

    #[test]
    fn sqlite_urls_name_their_file_and_relative_ones_are_made_absolute_for_people() {
        let cases = [
            ("sqlite://storefleet.db", Some("storefleet.db")),
            ("sqlite:///tmp/a/b.db?mode=rwc", Some("/tmp/a/b.db")),
            ("sqlite:data.db", Some("data.db")),
            ("sqlite::memory:", None),
            ("sqlite://:memory:", None),
            ("postgres://u:p@h/db", None),
        ];
        for (url, want) in cases {
            assert_eq!(sqlite_file(url), want.map(PathBuf::from), "{url}");
        }
        let path = absolute_sqlite_file("sqlite://storefleet.db").unwrap_or_default();
        assert!(
            path.is_absolute() && path.ends_with("storefleet.db"),
            "{path:?}"
        );
    }
}
