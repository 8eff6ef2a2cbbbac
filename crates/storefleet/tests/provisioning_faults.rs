//! Faults while stores provision, against real processes: `storefleet serve` as a user runs it,
//! a real Kubernetes API server (envtest convention) with a kubelet stand-in, real helm, and a
//! real PostgreSQL that is stopped and started again. Stores are driven only through the API.
//! Skipped, saying why, without an API server or helm; PostgreSQL is required in CI.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use storefleet_testkit::rig::cluster_rig_or_skip;

/// One `storefleet serve` process and an admin token for its API.
struct Platform {
    process: Child,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Platform {
    fn start(db: &str, kubeconfig: &Path, helm: &Path, instance: &str, log: &Path) -> Self {
        let token = common::add_user(db, "admin", true);
        let port = storefleet_testkit::free_port().expect("port");
        let process = common::spawn_storefleet(
            "serve",
            &format!("127.0.0.1:{port}"),
            db,
            (kubeconfig, helm),
            instance,
            &["--rate-per-user", "100000", "--rate-per-ip", "100000"],
            log,
        );
        Self {
            process,
            base: format!("http://127.0.0.1:{port}"),
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    async fn wait_healthy(&self) {
        common::wait_until_healthy(&self.base, "serve").await;
    }

    async fn create(&self, name: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/api/v1/stores", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"name": name, "engine": "medusa"}))
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 201, "create {name}");
        response.json().await.expect("json")
    }

    /// Every store, or the HTTP status when the API refuses (503 while the database is down).
    async fn list(&self) -> Result<Vec<Value>, u16> {
        let response = self
            .http
            .get(format!("{}/api/v1/stores?limit=200", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("list");
        if !response.status().is_success() {
            return Err(response.status().as_u16());
        }
        let body: Value = response.json().await.expect("json");
        Ok(body["items"].as_array().expect("items").clone())
    }

    async fn delete(&self, id: &str) {
        let response = self
            .http
            .delete(format!("{}/api/v1/stores/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("delete");
        assert_eq!(response.status(), 202);
    }

    /// Wait until every store satisfies `done`, tolerating 503s (the database coming back).
    async fn wait_all(&self, what: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok(stores) = self.list().await {
                if stores.iter().all(&done) {
                    return stores;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out waiting for {what}: {}",
                    serde_json::to_string_pretty(&stores).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.process.id().to_string())
            .status();
        let _ = self.process.wait();
    }
}

fn condition_true(store: &Value, kind: &str) -> bool {
    store["conditions"].as_array().is_some_and(|all| {
        all.iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    })
}

fn setup_done(store: &Value) -> bool {
    condition_true(store, "StoreConfigured")
}

/// Namespaces and deployed helm releases that belong to the store with this id.
async fn objects_of(client: &kube::Client, store: &Value) -> (usize, usize) {
    let id = store["id"].as_str().expect("id");
    let namespaces = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default().labels(&format!("storefleet.io/store-id={id}")))
        .await
        .expect("namespaces")
        .items
        .len();
    let ns = store["namespace"].as_str().expect("namespace");
    let releases = Api::<Secret>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels("owner=helm,name=store,status=deployed"))
        .await
        .expect("releases")
        .items
        .len();
    (namespaces, releases)
}

async fn instance_namespaces(client: &kube::Client, instance: &str) -> usize {
    Api::<Namespace>::all(client.clone())
        .list(&ListParams::default().labels(&format!("storefleet.io/instance={instance}")))
        .await
        .expect("namespaces")
        .items
        .len()
}

/// Delete every store through the API and check nothing of this install is left in the cluster.
async fn delete_all_and_check_nothing_left(
    platform: &Platform,
    client: &kube::Client,
    instance: &str,
) {
    for store in platform.list().await.expect("list") {
        platform.delete(store["id"].as_str().expect("id")).await;
    }
    platform
        .wait_all("deletion", |s| s["phase"] == "deleted")
        .await;
    assert_eq!(
        instance_namespaces(client, instance).await,
        0,
        "a namespace of this install is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_postgres_mid_provisioning_loses_and_duplicates_nothing() {
    let Some(rig) = cluster_rig_or_skip(Duration::from_millis(300)).await else {
        return;
    };
    let client = rig.client.clone();
    let Some(postgres) = storefleet_testkit::postgres_or_skip(
        storefleet_testkit::postgres::DedicatedServer::start(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let instance = "test-pg-restart";
    let platform = Platform::start(
        &postgres.url(),
        &rig.cluster.kubeconfig,
        &rig.helm,
        instance,
        &dir.path().join("serve.log"),
    );
    platform.wait_healthy().await;
    let names = ["pg-a", "pg-b", "pg-c"];
    for name in names {
        platform.create(name).await;
    }
    // Stop the database as soon as provisioning has started, while passes are in flight.
    platform
        .wait_all("provisioning to start", |s| {
            s["phase"] == "provisioning" || condition_true(s, "NamespaceReady")
        })
        .await;
    postgres.stop().expect("stop PostgreSQL");
    // Past the list cache's 1 s: the API says unavailable, never 500.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(platform.list().await.err(), Some(503));
    tokio::time::sleep(Duration::from_secs(3)).await;
    postgres.resume().expect("start PostgreSQL again");

    let stores = platform
        .wait_all("setup to complete after the outage", setup_done)
        .await;
    let mut listed: Vec<_> = stores
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, names, "no store lost, none created twice");
    for store in &stores {
        assert_eq!(
            objects_of(&client, store).await,
            (1, 1),
            "(namespaces, deployed releases) of {}",
            store["name"]
        );
    }
    assert_eq!(instance_namespaces(&client, instance).await, names.len());
    delete_all_and_check_nothing_left(&platform, &client, instance).await;
    platform.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_load_does_not_starve_provisioning() {
    let Some(rig) = cluster_rig_or_skip(Duration::from_millis(300)).await else {
        return;
    };
    let client = rig.client.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}/state.db", dir.path().display());
    let instance = "test-api-load";
    let platform = Platform::start(
        &db,
        &rig.cluster.kubeconfig,
        &rig.helm,
        instance,
        &dir.path().join("serve.log"),
    );
    platform.wait_healthy().await;

    // 32 connections polling GET /stores for the whole run, as wrk -c32 does.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..32 {
        let (stop, answered, failed) = (stop.clone(), answered.clone(), failed.clone());
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1/stores", platform.base);
        let token = platform.token.clone();
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match http.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let names = ["load-a", "load-b", "load-c", "load-d", "load-e"];
    for name in names {
        platform.create(name).await;
    }
    let stores = platform
        .wait_all("setup to complete under API load", setup_done)
        .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    let (answered, failed) = (
        answered.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    println!(
        "under load: {answered} list requests answered, {failed} failed; all {} stores set up",
        stores.len()
    );
    assert_eq!(stores.len(), names.len());
    assert_eq!(failed, 0, "every request under load must be answered");
    assert!(answered > 1000, "the load was real: {answered} requests");

    // No background task crashed (a crash would be restarted and counted here).
    let metrics = platform
        .http
        .get(format!("{}/metrics", platform.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let restarts: Vec<_> = metrics
        .lines()
        .filter(|l| l.starts_with("storefleet_orchestrator_task_restarts") && !l.ends_with(" 0"))
        .collect();
    assert!(restarts.is_empty(), "{restarts:?}");
    delete_all_and_check_nothing_left(&platform, &client, instance).await;
    platform.stop();
}
