//! `--metrics-listen` moves `/metrics` to a port of its own: the main port (the one an ingress
//! routes every path of) no longer answers it, the metrics port does.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_metrics_address_the_main_port_does_not_serve_metrics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}/state.db", dir.path().display());
    let token = common::add_user(&db, "alice", false);
    let port = storefleet_testkit::free_port().expect("port");
    let metrics_port = storefleet_testkit::free_port().expect("port");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .args(["--instance", "test-metrics", "--database-url", &db])
        .env("KUBECONFIG", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let base = format!("http://127.0.0.1:{port}");
    common::wait_until_healthy(&base, "serve").await;
    let list = http
        .get(format!("{base}/api/v1/stores"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list");
    assert_eq!(list.status(), 200);
    let public = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics on the main port");
    assert_eq!(
        public.status(),
        404,
        "the main port must not serve /metrics"
    );
    let private = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("metrics port");
    assert_eq!(private.status(), 200);
    let body = private.text().await.expect("text");
    assert!(
        body.contains("storefleet_http_requests_total{"),
        "the metrics port serves the API's metrics: {body}"
    );
    Command::new("kill")
        .arg(serve.id().to_string())
        .status()
        .expect("kill");
    serve.wait().expect("reap");
}
