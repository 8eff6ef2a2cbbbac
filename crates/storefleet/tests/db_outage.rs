//! The database goes away under a running platform: the API answers 503 (never 500) with a
//! JSON error while it is down, `/readyz` says so, `/healthz` stays up, and everything recovers
//! by itself when PostgreSQL comes back, with no store lost or duplicated.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_the_api_answers_503_and_recovers_by_itself() {
    let Some(server) = storefleet_testkit::postgres_or_skip(
        storefleet_testkit::postgres::DedicatedServer::start(),
    ) else {
        return;
    };
    let url = server.url();
    let bin = env!("CARGO_BIN_EXE_storefleet");
    let token = common::add_user(&url, "alice", false);
    let port = storefleet_testkit::free_port().expect("port");
    let mut serve = Command::new(bin)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--instance",
            "test-outage",
        ])
        .env("STOREFLEET_DATABASE_URL", &url)
        .env("KUBECONFIG", "/nonexistent")
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
    let create = |name: &'static str| {
        http.post(format!("{base}/api/v1/stores"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": name, "engine": "medusa"}))
            .send()
    };
    assert_eq!(create("before").await.expect("create").status(), 201);

    server.stop().expect("stop PostgreSQL");
    for _ in 0..3 {
        let list = http
            .get(format!("{base}/api/v1/stores"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("list");
        assert_eq!(list.status(), 503, "the API must say unavailable, not fail");
        assert!(list.headers().contains_key("retry-after"));
        let body: serde_json::Value = list.json().await.expect("json error");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        let refused = create("during").await.expect("create");
        assert_eq!(refused.status(), 503);
    }
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        503
    );
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );

    server.resume().expect("start PostgreSQL again");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz")
            .status();
        if ready == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the API did not recover after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(create("after").await.expect("create").status(), 201);
    let list: serde_json::Value = http
        .get(format!("{base}/api/v1/stores"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let mut names: Vec<_> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["after", "before"],
        "nothing lost, nothing made while the database was down"
    );
    Command::new("kill")
        .arg(serve.id().to_string())
        .status()
        .expect("stop serve");
    serve.wait().expect("reap");
}
