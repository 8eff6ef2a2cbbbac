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

/// Wait until the server at `base` (`http://host:port`) answers `GET /healthz`, at most 30 s;
/// `what` names it in the failure.
pub async fn wait_until_healthy(base: &str, what: &str) {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("client");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match http.get(format!("{base}/healthz")).send().await {
            Ok(response) if response.status().is_success() => return,
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not answer /healthz at {base} within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// [`wait_until_healthy`] for tests that do not run in a runtime of their own.
pub fn wait_until_healthy_blocking(base: &str, what: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(wait_until_healthy(base, what));
}
