//! Where the platform key comes from: the flag or its environment variable, a key file, or, for
//! `serve` on a SQLite file, a key file made beside the database the first time.

use crate::cli::ServerArgs;
use anyhow::Context as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use storefleet_state::PlatformKey;

/// The platform key this process uses, if any. A key that is given but malformed is an error
/// (starting anyway would keep no copies, or copies nobody can open later). Without a key,
/// `make_beside_sqlite` (a `serve` process: API and orchestrator share the key) makes one beside
/// a SQLite database file.
pub fn resolve(args: &ServerArgs, make_beside_sqlite: bool) -> anyhow::Result<Option<PlatformKey>> {
    if let Some(secret) = &args.encryption_key {
        return Ok(Some(
            PlatformKey::from_base64(secret.expose())
                .context("STOREFLEET_ENCRYPTION_KEY / --encryption-key")?,
        ));
    }
    if let Some(path) = &args.encryption_key_file {
        return read_key_file(path).map(Some);
    }
    match crate::database_url::sqlite_file(&args.db.database_url).filter(|_| make_beside_sqlite) {
        Some(db) => {
            let path = key_path_beside(&db);
            ensure_key_file(&path).map(Some)
        }
        None => {
            tracing::warn!(
                "no platform key (STOREFLEET_ENCRYPTION_KEY): store credentials are not copied \
                 for their owners; the credential view answers 503"
            );
            Ok(None)
        }
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<PlatformKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the platform key file {}", path.display()))?;
    PlatformKey::from_base64(&text).with_context(|| format!("platform key file {}", path.display()))
}

/// Read the key file, or make it (mode 0600) with a fresh key when it does not exist yet.
fn ensure_key_file(path: &Path) -> anyhow::Result<PlatformKey> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let key = PlatformKey::generate_base64();
            file.write_all(format!("{key}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| {
                    format!("could not write the platform key to {}", path.display())
                })?;
            tracing::info!(path = %path.display(), "made a platform key for store credentials; keep it with the database");
            PlatformKey::from_base64(&key).context("freshly made platform key")
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(path),
        Err(e) => Err(e)
            .with_context(|| format!("could not create the platform key file {}", path.display())),
    }
}

/// `storefleet.db` → `storefleet.db.key`, in the same directory.
fn key_path_beside(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_beside_its_database() {
        // Which file a URL names is database_url's job (and its tests').
        for (db, key) in [
            ("storefleet.db", "storefleet.db.key"),
            ("/tmp/a/b.db", "/tmp/a/b.db.key"),
        ] {
            assert_eq!(key_path_beside(Path::new(db)), PathBuf::from(key));
        }
    }

    #[test]
    fn a_key_file_is_made_once_private_and_then_reused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("storefleet.db.key");
        let first = ensure_key_file(&path).expect("made");
        let second = ensure_key_file(&path).expect("read back");
        let id = storefleet_domain::StoreId::now_v7();
        let sealed = first.seal(id, b"x");
        assert_eq!(second.open(id, &sealed).expect("same key"), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").expect("write");
        let e = format!("{:#}", ensure_key_file(&path).expect_err("bad file"));
        assert!(
            e.contains("32 random bytes") && !e.contains("garbage"),
            "{e}"
        );
    }
}
