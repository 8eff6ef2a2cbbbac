//! The disk under a running `serve` fills up: creates answer 503 with Retry-After (never 500,
//! and never a 201 that is then lost), `/readyz` says the database cannot take writes, creates
//! work again once space is freed, and after a restart every store that was acknowledged with
//! 201 is still there. A read-only database stops startup with a clear message.
//!
//! The filesystem is a small tmpfs mounted for the test, so this needs root (CI runs as root);
//! without it the test says `skipped:`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status()
            .expect("mount -o remount,ro");
        assert!(status.success(), "remount read-only");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Write `path` until the filesystem refuses even one more byte.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler");
    for chunk in [1 << 16, 4096, 512, 1] {
        let block = vec![0u8; chunk];
        while file.write_all(&block).is_ok() {}
    }
    let _ = file.sync_all();
}

fn spawn_serve(port: u16, db: &str, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--instance", "test-disk-full", "--database-url", db])
        .args(["--max-stores-per-user", "100"])
        .env("KUBECONFIG", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("serve")
}

fn stop(mut serve: Child) {
    Command::new("kill")
        .arg(serve.id().to_string())
        .status()
        .expect("kill");
    serve.wait().expect("reap");
}

async fn readyz(http: &reqwest::Client, base: &str) -> u16 {
    http.get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz")
        .status()
        .as_u16()
}

/// POST a store; its status and, on 201, its id.
async fn create(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
) -> (u16, Option<String>, bool) {
    let response = http
        .post(format!("{base}/api/v1/stores"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": name, "engine": "medusa"}))
        .send()
        .await
        .expect("create");
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let body: serde_json::Value = response.json().await.expect("json body");
    let id = (status == 201).then(|| body["id"].as_str().expect("id").to_owned());
    (status, id, retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_loses_no_acknowledged_store() {
    let disk = match SmallDisk::mount("8m") {
        Ok(disk) => disk,
        Err(reason) => {
            storefleet_testkit::skip(&format!("cannot mount a small tmpfs: {reason}"));
            return;
        }
    };
    let logs = tempfile::tempdir().expect("log dir");
    let log = logs.path().join("serve.log");
    let db = format!("sqlite://{}/state.db", disk.path().display());
    let token = common::add_user(&db, "alice", false);
    let port = storefleet_testkit::free_port().expect("port");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    let serve = spawn_serve(port, &db, &log);
    common::wait_until_healthy(&base, "serve").await;
    let mut acknowledged: Vec<String> = Vec::new();
    for i in 0..3 {
        let (status, id, _) = create(&http, &base, &token, &format!("before-{i}")).await;
        assert_eq!(status, 201);
        acknowledged.extend(id);
    }

    let filler: PathBuf = disk.path().join("filler");
    fill(&filler);
    let mut refused = 0;
    for i in 0..20 {
        let (status, id, retry_after) = create(&http, &base, &token, &format!("full-{i}")).await;
        match status {
            // SQLite may still fit a commit into WAL space it already has; that store must last.
            201 => acknowledged.extend(id),
            503 => {
                assert!(retry_after, "a 503 says when to retry");
                refused += 1;
            }
            other => panic!(
                "create on a full disk answered {other}; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        }
    }
    eprintln!(
        "full disk: {refused} of 20 creates refused with 503, {} acknowledged so far",
        acknowledged.len()
    );
    assert!(
        refused >= 15,
        "only {refused} of 20 creates were refused on a full disk"
    );
    assert_eq!(
        readyz(&http, &base).await,
        503,
        "readiness must notice the database cannot take writes"
    );

    std::fs::remove_file(&filler).expect("free space");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while readyz(&http, &base).await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready again after space was freed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..3 {
        let (status, id, _) = create(&http, &base, &token, &format!("after-{i}")).await;
        assert_eq!(status, 201, "creates work again once space is freed");
        acknowledged.extend(id);
    }
    stop(serve);

    let serve = spawn_serve(port, &db, &log);
    common::wait_until_healthy(&base, "serve").await;
    let list: serde_json::Value = http
        .get(format!("{base}/api/v1/stores?limit=100"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let kept: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for id in &acknowledged {
        assert!(
            kept.contains(&id.as_str()),
            "store {id} was acknowledged with 201 but is gone after a restart; kept: {kept:?}"
        );
    }
    eprintln!(
        "after a restart: all {} acknowledged stores kept",
        acknowledged.len()
    );
    stop(serve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_on_a_read_only_database() {
    let disk = match SmallDisk::mount("8m") {
        Ok(disk) => disk,
        Err(reason) => {
            storefleet_testkit::skip(&format!("cannot mount a small tmpfs: {reason}"));
            return;
        }
    };
    let db = format!("sqlite://{}/state.db", disk.path().display());
    common::add_user(&db, "alice", false);
    disk.remount_read_only();
    let port = storefleet_testkit::free_port().expect("port");
    let errors = tempfile::NamedTempFile::new().expect("stderr file");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--instance", "test-read-only", "--database-url", &db])
        .env("KUBECONFIG", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(errors.reopen().expect("stderr"))
        .spawn()
        .expect("serve");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            stop(serve);
            panic!("serve started on a read-only database and kept running");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: std::fs::read(errors.path()).expect("stderr"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "serve started on a read-only database"
    );
    assert!(
        stderr.contains("read-only"),
        "the message should say the database is read-only: {stderr}"
    );
}
