//! Shared by the binary's process tests: running `storefleet` as a user would.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `storefleet migrate`, then `storefleet user add NAME [--admin]` against `db`; the new user's
/// API token.
pub fn add_user(db: &str, name: &str, admin: bool) -> String {
    // User commands never create a database: make it first, as `serve` or an operator would.
    let migrated = Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args(["migrate", "--database-url", db])
        .output()
        .expect("migrate");
    assert!(
        migrated.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_storefleet"));
    command.args(["user", "add", name, "--database-url", db]);
    if admin {
        command.arg("--admin");
    }
    let added = command.output().expect("user add");
    assert!(
        added.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    String::from_utf8(added.stdout)
        .expect("utf-8")
        .lines()
        .last()
        .expect("token")
        .to_owned()
}

/// Start `storefleet <role>` (serve or orchestrator) on the test cluster with the fixture charts,
/// 4 s leases (a pass cut off by a fault is taken up again after 4 s, not 30) and its own
/// `instance`, listening on `listen`, with `extra` arguments; its log is appended to `log`.
pub fn spawn_storefleet(
    role: &str,
    listen: &str,
    db: &str,
    cluster: (&Path, &Path),
    instance: &str,
    extra: &[&str],
    log: &Path,
) -> Child {
    let charts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../orchestrator/tests/charts");
    spawn_storefleet_with_charts(&charts, role, listen, db, cluster, instance, extra, log)
}

/// [`spawn_storefleet`] with the engine charts in `charts` (the real ones, on a real node).
#[allow(clippy::too_many_arguments)] // the same arguments as spawn_storefleet, plus the charts
pub fn spawn_storefleet_with_charts(
    charts: &Path,
    role: &str,
    listen: &str,
    db: &str,
    cluster: (&Path, &Path),
    instance: &str,
    extra: &[&str],
    log: &Path,
) -> Child {
    let (kubeconfig, helm) = cluster;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args([role, "--listen", listen])
        .args(["--lease-seconds", "4", "--instance", instance])
        .args(extra)
        .arg("--database-url")
        .arg(db)
        .arg("--charts-dir")
        .arg(charts)
        .arg("--helm")
        .arg(helm)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start storefleet {role}: {e}"))
}
