//! `storefleet user rotate-token`: the old token stops working in a running API at once, even
//! though the API remembers token owners for 10 s (PostgreSQL tells it through NOTIFY; on SQLite
//! it notices the CLI's commit within a poll), and the new one works. Real processes, real
//! PostgreSQL and SQLite.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Stops the API process however the test ends, so a failed assertion leaves nothing running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn rotate(db: &str, name: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args(["user", "rotate-token", name, "--database-url", db])
        .output()
        .expect("rotate-token")
}

async fn status(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/api/v1/stores"))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_rotated_token_stops_working_at_once() {
    let Some(db) =
        storefleet_testkit::postgres_or_skip(storefleet_testkit::postgres::fresh_database().await)
    else {
        return;
    };
    rotation_reaches_a_running_api(&db, Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_rotated_token_stops_working_within_a_poll() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}/storefleet.db", dir.path().display());
    // 500 ms polls of data_version; well under the 10 s the cache would otherwise keep it.
    rotation_reaches_a_running_api(&db, Duration::from_secs(3)).await;
}

/// Start `storefleet api` on `db`, let it remember a token, rotate that token with the CLI and
/// require the old token to be refused within `bound` and the new one to work.
async fn rotation_reaches_a_running_api(db: &str, bound: Duration) {
    let old = common::add_user(db, "alice", false);
    let port = storefleet_testkit::free_port().expect("port");
    let dir = tempfile::tempdir().expect("dir");
    let _api = Running(
        Command::new(env!("CARGO_BIN_EXE_storefleet"))
            .args(["api", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--database-url")
            .arg(db)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("api.log")).expect("log"))
            .spawn()
            .expect("api"),
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    common::wait_until_healthy(&base, "storefleet api").await;
    // The API now remembers who the old token belongs to.
    assert_eq!(status(&http, &base, &old).await, 200);
    assert_eq!(status(&http, &base, &old).await, 200);

    let missing = rotate(db, "nobody");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user named \"nobody\""));

    let rotated = rotate(db, "alice");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let rotated_at = Instant::now();
    let new = String::from_utf8(rotated.stdout)
        .expect("utf-8")
        .lines()
        .last()
        .expect("token line")
        .to_owned();
    assert_ne!(new, old);
    loop {
        match status(&http, &base, &old).await {
            401 => break,
            200 => {}
            other => panic!("the old token got {other}"),
        }
        // Without the notification the cache would keep the old token for 10 s.
        assert!(
            rotated_at.elapsed() < bound,
            "the old token still worked {bound:?} after rotation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{}: old token refused {} ms after rotate-token returned",
        db.split(':').next().unwrap_or("?"),
        rotated_at.elapsed().as_millis()
    );
    assert_eq!(status(&http, &base, &new).await, 200);
}
