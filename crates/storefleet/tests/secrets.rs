//! Secrets hygiene: a full scenario with debug logging, then every log line and every API
//! response is searched for the API token, the database password and the store's generated
//! passwords. None may appear. Runs on a real PostgreSQL (with a password in its URL) and, when
//! there is one, a real Kubernetes API server (so the store's generated Secret exists).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use storefleet_domain::secrets::{key as secret_key, CREDENTIALS_SECRET};

const DB_PASSWORD: &str = "Db-Pa55word-that-must-never-show";

fn storefleet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_storefleet"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_password_appears_in_logs_or_api_responses() {
    let Some(url) =
        storefleet_testkit::postgres_or_skip(storefleet_testkit::postgres::fresh_database().await)
    else {
        return;
    };
    // The test server trusts local connections, so any password works; it must still never leak.
    let url = url.replacen("postgres@", &format!("postgres:{DB_PASSWORD}@"), 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("serve.log");

    let added = storefleet()
        .args(["user", "add", "alice"])
        .env("STOREFLEET_DATABASE_URL", &url)
        .env("STOREFLEET_LOG", "debug")
        .output()
        .expect("user add");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let stdout = String::from_utf8(added.stdout).expect("utf-8");
    let token = stdout.lines().last().expect("token line").to_owned();
    let mut logs = String::from_utf8_lossy(&added.stderr).into_owned();

    let cluster = storefleet_testkit::kube::cluster_or_skip();
    let helm = storefleet_testkit::helm_binary();
    let kubeconfig = cluster
        .as_ref()
        .map_or_else(|| PathBuf::from("/nonexistent"), |c| c.kubeconfig.clone());
    let port = storefleet_testkit::free_port().expect("port");
    let platform_key = storefleet_state::PlatformKey::generate_base64();
    let charts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../orchestrator/tests/charts");
    let mut serve = storefleet()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--instance",
            "test-secrets",
        ])
        .arg("--charts-dir")
        .arg(&charts)
        .arg("--helm")
        .arg(helm.clone().unwrap_or_else(|| PathBuf::from("helm")))
        .env("STOREFLEET_DATABASE_URL", &url)
        .env("STOREFLEET_LOG", "debug")
        .env("STOREFLEET_ENCRYPTION_KEY", &platform_key)
        .env("KUBECONFIG", &kubeconfig)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log"))
        .spawn()
        .expect("serve");
    let kubelet = match &cluster {
        Some(c) => {
            let client = storefleet_testkit::kubelet::client(&c.kubeconfig)
                .await
                .expect("client");
            Some((
                storefleet_testkit::kubelet::spawn(client.clone(), Duration::from_millis(300)),
                client,
            ))
        }
        None => None,
    };

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut responses = String::new();
    common::wait_until_healthy(&base, "serve").await;
    let created = http
        .post(format!("{base}/api/v1/stores"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "hygiene", "engine": "medusa"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let store: serde_json::Value = created.json().await.expect("json");
    responses.push_str(&store.to_string());
    let id = store["id"].as_str().expect("id").to_owned();
    let namespace = store["namespace"].as_str().expect("namespace").to_owned();

    // Let provisioning run as far as this machine allows (setup done when a cluster is here).
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(if cluster.is_some() { 90 } else { 3 });
    loop {
        let body = http
            .get(format!("{base}/api/v1/stores/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        let configured = body.contains("\"reason\":\"OrderCheckFailed\"");
        responses.push_str(&body);
        if configured || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for path in [
        "/api/v1/stores",
        &format!("/api/v1/stores/{id}/events"),
        "/metrics",
        "/api/openapi.json",
    ] {
        let body = http
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        responses.push_str(&body);
    }
    let wrong = http
        .get(format!("{base}/api/v1/stores"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .expect("get");
    responses.push_str(&wrong.text().await.expect("text"));

    let mut generated = Vec::new();
    if let Some((_, client)) = &kubelet {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        if let Some(secret) = secrets
            .get_opt(CREDENTIALS_SECRET)
            .await
            .expect("get secret")
        {
            for key in [
                secret_key::ADMIN_PASSWORD,
                secret_key::DB_PASSWORD,
                secret_key::DB_ROOT_PASSWORD,
                secret_key::APP_SECRET,
            ] {
                let value = String::from_utf8(secret.data.as_ref().expect("data")[key].0.clone())
                    .expect("utf-8");
                generated.push((key, value));
            }
        }
        assert!(
            !generated.is_empty(),
            "with a cluster the store's credentials Secret must exist by now"
        );
        // The one place a generated secret may appear: the owner's credential view, and there
        // only the admin password, never the database ones.
        let view = http
            .get(format!("{base}/api/v1/stores/{id}/credentials"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("credentials");
        assert_eq!(view.status(), 200, "the owner reads the credential copy");
        let view = view.text().await.expect("text");
        for (key, value) in &generated {
            assert_eq!(
                view.contains(value.as_str()),
                *key == secret_key::ADMIN_PASSWORD,
                "{key} in the owner's credential view"
            );
        }
    }
    let deleted = http
        .delete(format!("{base}/api/v1/stores/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    responses.push_str(&deleted.text().await.expect("text"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    Command::new("kill")
        .arg(serve.id().to_string())
        .status()
        .expect("stop serve");
    serve.wait().expect("reap");
    if let Some((task, _)) = kubelet {
        task.abort();
    }
    logs.push_str(&std::fs::read_to_string(&log_path).expect("log"));
    assert!(
        logs.lines().count() > 20,
        "debug logging should have produced a real log:\n{logs}"
    );

    let mut needles = vec![
        ("API token", token.clone()),
        ("database password", DB_PASSWORD.to_owned()),
        ("platform key", platform_key.clone()),
    ];
    needles.extend(generated);
    for (what, secret) in &needles {
        if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
            panic!("the {what} appears in a log line: {line}");
        }
        assert!(
            !responses.contains(secret.as_str()),
            "the {what} appears in an API response"
        );
    }
    println!(
        "checked {} log lines and {} bytes of API responses for {} secrets",
        logs.lines().count(),
        responses.len(),
        needles.len()
    );
}
