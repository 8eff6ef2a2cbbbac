//! Stores on a real node: `storefleet serve` on the host drives the real engine charts onto
//! real pods (containerd, kubelet, kube-proxy; images built by `scripts/build-images.sh`).
//! Each store goes requested → ready only after the orchestrator's own order went through the
//! store's Service; the test confirms that order in the engine itself, kills the setup Job's
//! pod once mid-run (setup must be idempotent against the real engine), and deletes the store,
//! after which no namespace, pod, claim or volume of it is left.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;
mod real_platform;

use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, Pod, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use storefleet_domain::secrets::{key, CREDENTIALS_SECRET};
use storefleet_testkit::node::{image_built, real_node_or_skip, RealNode};

/// One store at a time: timings stay meaningful and two engines do not starve each other
/// on a 2-core machine.
static ONE_STORE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Longest accept → ready this test waits; the store's own deadline is set just above it.
const READY_WITHIN: Duration = Duration::from_secs(900);

struct Api_ {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api_ {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API reachable");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// The owner's credential view of store `id`.
    async fn credentials(&self, id: &str) -> Result<Value, String> {
        let (status, credentials) = self
            .call(
                reqwest::Method::GET,
                &format!("/stores/{id}/credentials"),
                None,
            )
            .await;
        if status == 200 {
            Ok(credentials)
        } else {
            Err(format!("credentials answered {status}"))
        }
    }
}

/// Images an engine's chart runs, by archive name.
fn images(engine: &str) -> &'static [&'static str] {
    match engine {
        "medusa" => &["medusa-store", "postgres", "redis"],
        _ => &["wordpress", "wordpress-cli", "mariadb"],
    }
}

#[tokio::test]
async fn a_medusa_store_on_real_pods_takes_a_real_order_survives_a_killed_setup_pod_and_leaves_nothing(
) {
    store_lifecycle("medusa").await;
}

#[tokio::test]
async fn a_woocommerce_store_on_real_pods_takes_a_real_order_survives_a_killed_setup_pod_and_leaves_nothing(
) {
    store_lifecycle("woocommerce").await;
}

/// The platform chart in the cluster (see `real_platform`): install, admin token, a store
/// ready with a real order through the in-cluster API, upgrade and rollback with the store
/// still taking orders, delete leaving nothing.
#[tokio::test]
async fn the_platform_chart_on_real_pods_makes_a_store_ready_and_survives_upgrade_and_rollback() {
    let _turn = ONE_STORE_AT_A_TIME.lock().await;
    let Some(node) = real_node_or_skip() else {
        return;
    };
    let Some(engine) = real_platform::engine_with_images() else {
        storefleet_testkit::skip(
            "no in-cluster platform run: no engine's images were built (scripts/build-images.sh)",
        );
        return;
    };
    let Some(helm) = storefleet_testkit::helm_binary() else {
        panic!("the real node runs but there is no helm binary");
    };
    match tokio::time::timeout(
        Duration::from_secs(1500),
        real_platform::run(&node, &helm, engine),
    )
    .await
    {
        Ok(Ok(report)) => println!("{report}"),
        Ok(Err(failure)) => panic!(
            "{failure}\nplatform pods:\n{}\nkubelet:\n{}",
            real_platform::pod_logs(&node).await,
            node.log_tail("kubelet", 20)
        ),
        Err(_) => panic!(
            "the in-cluster platform test took too long\nplatform pods:\n{}",
            real_platform::pod_logs(&node).await
        ),
    }
}

/// `storefleet serve` on the host with its own SQLite database and one user, driving the real
/// engine charts onto the real node.
struct Platform {
    node: RealNode,
    api: Api_,
    serve: std::process::Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

impl Platform {
    /// `None`, after saying why, when there is no real node or an image of `engine` is missing.
    async fn start(engine: &str) -> Option<Platform> {
        let node = real_node_or_skip()?;
        if let Some(missing) = images(engine).iter().find(|name| !image_built(name)) {
            storefleet_testkit::skip(&format!(
                "no real {engine} store: image {missing} not built (scripts/build-images.sh{})",
                if engine == "woocommerce" {
                    " with STOREFLEET_WOOCOMMERCE_DIR"
                } else {
                    ""
                }
            ));
            return None;
        }
        let Some(helm) = storefleet_testkit::helm_binary() else {
            panic!("the real node runs but there is no helm binary");
        };
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("storefleet.db").display());
        let token = common::add_user(&db, "merchant", false);
        let port = storefleet_testkit::free_port().unwrap();
        let listen = format!("127.0.0.1:{port}");
        let log = dir.path().join("serve.log");
        let charts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts");
        let deadline = (READY_WITHIN.as_secs() + 60).to_string();
        let serve = common::spawn_storefleet_with_charts(
            &charts,
            "serve",
            &listen,
            &db,
            (&node.cluster.kubeconfig, &helm),
            &format!("real-{engine}"),
            &[
                "--order-check-via",
                "service-ip",
                "--provisioning-deadline-seconds",
                &deadline,
            ],
            &log,
        );
        let api = Api_ {
            http: reqwest::Client::new(),
            base: format!("http://{listen}/api/v1"),
            token,
        };
        let platform = Platform {
            node,
            api,
            serve,
            log,
            _dir: dir,
        };
        let health = platform.api.base.replace("/api/v1", "/healthz");
        let up_by = Instant::now() + Duration::from_secs(60);
        while platform.api.http.get(&health).send().await.is_err() {
            assert!(
                Instant::now() < up_by,
                "storefleet serve did not answer /healthz within 60 s:\n{}",
                platform.serve_log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some(platform)
    }

    fn serve_log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 30)
    }

    async fn client(&self) -> kube::Client {
        storefleet_testkit::kubelet::client(&self.node.cluster.kubeconfig)
            .await
            .expect("client for the real node")
    }
}

async fn store_lifecycle(engine: &str) {
    let _turn = ONE_STORE_AT_A_TIME.lock().await;
    let Some(platform) = Platform::start(engine).await else {
        return;
    };
    let outcome = tokio::time::timeout(
        READY_WITHIN + Duration::from_secs(300),
        run_store(&platform, engine),
    )
    .await;
    match outcome {
        Ok(Ok(report)) => println!("{report}"),
        Ok(Err(failure)) => panic!(
            "{failure}\nserve log tail:\n{}\nkubelet:\n{}",
            platform.serve_log_tail(),
            platform.node.log_tail("kubelet", 20)
        ),
        Err(_) => panic!(
            "the {engine} store test took too long\nserve log tail:\n{}",
            platform.serve_log_tail()
        ),
    }
}

async fn run_store(platform: &Platform, engine: &str) -> Result<String, String> {
    let (api, client) = (&platform.api, platform.client().await);
    let started = Instant::now();
    let (id, namespace) = create_store(api, &format!("real-{engine}"), engine).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let mut killed_setup_pod = None;
    let mut seen = String::new();
    let store = loop {
        let (_, store) = api
            .call(reqwest::Method::GET, &format!("/stores/{id}"), None)
            .await;
        let progress = progress_line(&store);
        if progress != seen {
            println!("[{:>5.1} s] {progress}", started.elapsed().as_secs_f64());
            seen = progress;
        }
        match store["phase"].as_str() {
            Some("ready") => break store,
            Some("failed") => return Err(format!("store failed: {store}")),
            _ => {}
        }
        if started.elapsed() > READY_WITHIN {
            return Err(format!("not ready within {READY_WITHIN:?}: {store}"));
        }
        if killed_setup_pod.is_none() {
            killed_setup_pod = kill_running_setup_pod(&pods, kill_setup_after(engine)).await;
            if let Some(pod) = &killed_setup_pod {
                println!(
                    "[{:>5.1} s] killed setup pod {pod} mid-run",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let to_ready = started.elapsed();
    if killed_setup_pod.is_none() {
        return Err(
            "the setup Job finished before its pod could be killed: the retry was not exercised"
                .into(),
        );
    }
    let order_id = order_id_of(&store).ok_or_else(|| format!("no order id in {store}"))?;
    confirm_order_in_engine(api, &client, &id, &namespace, engine, &order_id).await?;
    let to_deleted = delete_and_wait(api, &id).await?;
    leaves_nothing(&client, &namespace).await?;
    Ok(format!(
        "{engine}: accepted → ready (order {order_id} confirmed in the engine) in {:.1} s; setup pod killed and retried; \
         deleted, nothing left, in {:.1} s",
        to_ready.as_secs_f64(),
        to_deleted.as_secs_f64()
    ))
}

/// `POST` a small-plan store; its id and namespace.
async fn create_store(api: &Api_, name: &str, engine: &str) -> Result<(String, String), String> {
    let (status, created) = api
        .call(
            reqwest::Method::POST,
            "/stores",
            Some(json!({"name": name, "engine": engine, "plan": "small"})),
        )
        .await;
    if status != 201 {
        return Err(format!("create answered {status}: {created}"));
    }
    let field = |key: &str| {
        created[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no {key} in {created}"))
    };
    Ok((field("id")?, field("namespace")?))
}

/// `DELETE` the store, then wait until the API says it is deleted; how long that took.
async fn delete_and_wait(api: &Api_, id: &str) -> Result<Duration, String> {
    let (status, _) = api
        .call(reqwest::Method::DELETE, &format!("/stores/{id}"), None)
        .await;
    if status != 202 {
        return Err(format!("delete answered {status}"));
    }
    let started = Instant::now();
    loop {
        let (_, store) = api
            .call(reqwest::Method::GET, &format!("/stores/{id}"), None)
            .await;
        if store["phase"] == "deleted" {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!("not deleted within 300 s: {store}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The conditions as one line: `Type=Status(Reason)` each.
fn progress_line(store: &Value) -> String {
    let conditions = store["conditions"].as_array().cloned().unwrap_or_default();
    let parts: Vec<String> = conditions
        .iter()
        .map(|c| {
            format!(
                "{}={}({})",
                c["type"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    format!(
        "{} {}",
        store["phase"].as_str().unwrap_or("?"),
        parts.join(" ")
    )
}

/// How long the setup pod runs before it is killed: well into its work (Medusa's migrations
/// take ~40 s, WooCommerce's whole setup ~15 s).
fn kill_setup_after(engine: &str) -> i64 {
    match engine {
        "medusa" => 25,
        _ => 6,
    }
}

/// Delete the setup Job's pod once it has run `after_seconds` (grace period 0, as a node
/// failure would), so the Job starts it again against a half-done setup.
async fn kill_running_setup_pod(pods: &Api<Pod>, after_seconds: i64) -> Option<String> {
    let list = pods
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name"))
        .await
        .ok()?;
    let pod = list.items.into_iter().find(|pod| {
        let status = pod.status.as_ref();
        let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
        let since = status
            .and_then(|s| s.start_time.as_ref())
            .map(|t| chrono::Utc::now().signed_duration_since(t.0).num_seconds())
            .unwrap_or(0);
        running && since >= after_seconds
    })?;
    let name = pod.metadata.name?;
    pods.delete(&name, &DeleteParams::default().grace_period(0))
        .await
        .ok()?;
    Some(name)
}

/// The id in the OrderCheckPassed message (`test order <id> placed through …`).
fn order_id_of(store: &Value) -> Option<String> {
    store["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "OrderCheckPassed")?["message"]
        .as_str()?
        .strip_prefix("test order ")?
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

async fn confirm_order_in_engine(
    api: &Api_,
    client: &kube::Client,
    id: &str,
    namespace: &str,
    engine: &str,
    order_id: &str,
) -> Result<(), String> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let cluster_ip = |service: Service| service.spec.and_then(|s| s.cluster_ip).unwrap_or_default();
    match engine {
        "medusa" => {
            // Through Medusa's admin API, with the admin login the owner's credential view gives.
            let credentials = api.credentials(id).await?;
            let ip = cluster_ip(
                services
                    .get("store-medusa")
                    .await
                    .map_err(|e| e.to_string())?,
            );
            let found = storefleet_ordercheck::verify_order_via_admin(
                &api.http,
                &format!("http://{ip}:9000"),
                credentials["admin_email"].as_str().unwrap_or_default(),
                credentials["admin_password"].as_str().unwrap_or_default(),
                order_id,
            )
            .await
            .map_err(|e| format!("admin API: {e}"))?;
            if !found {
                return Err(format!(
                    "order {order_id} not found through Medusa's admin API"
                ));
            }
        }
        _ => {
            // In WooCommerce's own database: the order tables (HPOS) or the posts table.
            let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
            let secret = secrets
                .get(CREDENTIALS_SECRET)
                .await
                .map_err(|e| e.to_string())?;
            let password = secret
                .data
                .and_then(|d| {
                    d.get(key::DB_PASSWORD)
                        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                })
                .ok_or("no db-password")?;
            let ip = cluster_ip(
                services
                    .get("store-mariadb")
                    .await
                    .map_err(|e| e.to_string())?,
            );
            let id: u64 = order_id
                .parse()
                .map_err(|_| format!("order id {order_id} is not a number"))?;
            let mysql = |query: &str| {
                std::process::Command::new("mysql")
                    .args([
                        "-h",
                        &ip,
                        "-u",
                        "wordpress",
                        "-N",
                        "-B",
                        "wordpress",
                        "-e",
                        query,
                    ])
                    .env("MYSQL_PWD", &password)
                    .output()
                    .map_err(|e| format!("mysql client: {e}"))
                    .map(|out| {
                        (
                            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
                            String::from_utf8_lossy(&out.stderr).into_owned(),
                        )
                    })
            };
            // Orders live in the order tables (HPOS) when WooCommerce made them, else in posts.
            let (hpos, _) = mysql("SHOW TABLES LIKE 'wp_wc_orders'")?;
            let query = if hpos.is_empty() {
                format!("SELECT COUNT(*) FROM wp_posts WHERE ID={id} AND post_type='shop_order'")
            } else {
                format!("SELECT COUNT(*) FROM wp_wc_orders WHERE id={id} AND type='shop_order'")
            };
            let (count, errors) = mysql(&query)?;
            if count != "1" {
                return Err(format!(
                    "order {order_id} not in WooCommerce's database ({count:?}): {errors}"
                ));
            }
        }
    }
    Ok(())
}

async fn leaves_nothing(client: &kube::Client, namespace: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let namespace_left = Api::<Namespace>::all(client.clone())
            .get_opt(namespace)
            .await
            .map_err(|e| e.to_string())?
            .is_some();
        let pods_left = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .len();
        let volumes_left: Vec<String> = Api::<PersistentVolume>::all(client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter(|pv| {
                pv.spec
                    .as_ref()
                    .and_then(|s| s.claim_ref.as_ref())
                    .and_then(|c| c.namespace.as_deref())
                    == Some(namespace)
            })
            .filter_map(|pv| pv.metadata.name)
            .collect();
        if !namespace_left && pods_left == 0 && volumes_left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "left behind: namespace {namespace_left}, {pods_left} pods, volumes {volumes_left:?}"
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn tail(text: &str, lines: usize) -> String {
    let mut last: Vec<&str> = text.lines().rev().take(lines).collect();
    last.reverse();
    last.join("\n")
}

/// Runs of each engine in the benchmark (`STOREFLEET_BENCH_RUNS`, default 5).
fn bench_runs() -> usize {
    std::env::var("STOREFLEET_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// A benchmark, not a timed test: stores of each engine one after another on the real node
/// with its images present, accept → Ready (the real order included) with where the time went
/// (from the conditions' transition times), and each store's footprint once ready (requests
/// against the resident memory of its pods' cgroups). Prints the numbers; asserts only that
/// each store became ready and was deleted.
///
///   cargo test --release -p storefleet --test real_stores -- --ignored --nocapture
#[tokio::test]
#[ignore = "benchmark: cargo test --release -p storefleet --test real_stores -- --ignored --nocapture"]
async fn benchmark_time_to_ready_and_footprint_on_real_pods() {
    for engine in ["woocommerce", "medusa"] {
        let _turn = ONE_STORE_AT_A_TIME.lock().await;
        let Some(platform) = Platform::start(engine).await else {
            continue;
        };
        let client = platform.client().await;
        let mut totals = Vec::new();
        let mut phases: Vec<Vec<(String, f64)>> = Vec::new();
        let mut footprint = String::new();
        for run in 0..bench_runs() {
            let sample = bench_one_store(&platform, &client, engine, run)
                .await
                .unwrap_or_else(|e| panic!("{e}\nserve log:\n{}", platform.serve_log_tail()));
            println!(
                "bench real-node {engine} run {run}: accept → ready {:.1} s ({})",
                sample.total,
                sample
                    .phases
                    .iter()
                    .map(|(name, secs)| format!("{name} {secs:.1} s"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            totals.push(sample.total);
            phases.push(sample.phases);
            footprint = sample.footprint;
        }
        let phase_names: Vec<String> = phases
            .first()
            .map(|p| p.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        let phase_p50: Vec<String> = phase_names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let values: Vec<f64> = phases
                    .iter()
                    .filter_map(|p| p.get(i).map(|x| x.1))
                    .collect();
                format!("{name} {:.1} s", median(values))
            })
            .collect();
        println!(
            "bench real-node {engine}: accept → ready p50 {:.1} s of {} (runs: {}); phases p50: {}; footprint when ready: {}",
            median(totals.clone()),
            totals.len(),
            totals
                .iter()
                .map(|t| format!("{t:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            phase_p50.join(", "),
            footprint
        );
    }
}

struct BenchSample {
    total: f64,
    phases: Vec<(String, f64)>,
    footprint: String,
}

async fn bench_one_store(
    platform: &Platform,
    client: &kube::Client,
    engine: &str,
    run: usize,
) -> Result<BenchSample, String> {
    let api = &platform.api;
    let (id, namespace) = create_store(api, &format!("bench-{engine}-{run}"), engine).await?;
    let started = Instant::now();
    let store = loop {
        let (_, store) = api
            .call(reqwest::Method::GET, &format!("/stores/{id}"), None)
            .await;
        match store["phase"].as_str() {
            Some("ready") => break store,
            Some("failed") => return Err(format!("store failed: {store}")),
            _ if started.elapsed() > READY_WITHIN => return Err(format!("not ready: {store}")),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    };
    let phases = phases_of(&store)?;
    let total = phases.iter().map(|(_, s)| s).sum();
    let footprint = footprint_of(client, &namespace).await?;
    delete_and_wait(api, &id).await?;
    leaves_nothing(client, &namespace).await?;
    Ok(BenchSample {
        total,
        phases,
        footprint,
    })
}

/// Where accept → ready went, from `created_at` and the conditions' transition times:
/// namespace, guardrails and the helm release; the workloads (images start, database init,
/// engine boot); the setup Job; the order check.
fn phases_of(store: &Value) -> Result<Vec<(String, f64)>, String> {
    let time = |value: &Value| {
        value
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .ok_or_else(|| format!("no time in {value}"))
    };
    let created = time(&store["created_at"])?;
    let conditions = store["conditions"].as_array().ok_or("no conditions")?;
    let at = |kind: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == kind)
            .ok_or_else(|| format!("no {kind} condition"))
            .and_then(|c| time(&c["last_transition_time"]))
    };
    let marks = [
        ("namespace+guardrails+release", at("ReleaseInstalled")?),
        ("workloads", at("WorkloadsReady")?),
        ("setup job", at("StoreConfigured")?),
        ("order", at("OrderCheckPassed")?),
    ];
    let mut previous = created;
    let mut phases = Vec::new();
    for (name, mark) in marks {
        let seconds = (mark - previous).num_milliseconds() as f64 / 1000.0;
        phases.push((name.to_owned(), seconds.max(0.0)));
        previous = previous.max(mark);
    }
    Ok(phases)
}

/// Memory the store's running pods requested, against what their cgroups hold resident
/// (`total_rss` of the pod's memory cgroup, cgroup v1 with the cgroupfs driver).
async fn footprint_of(client: &kube::Client, namespace: &str) -> Result<String, String> {
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut parts = Vec::new();
    let (mut requested_total, mut rss_total) = (0.0, 0.0);
    for pod in pods.items {
        if pod.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running") {
            continue;
        }
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let name = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app.kubernetes.io/component").cloned())
            .unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
        let requested: f64 = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .filter_map(|c| {
                c.resources
                    .as_ref()?
                    .requests
                    .as_ref()?
                    .get("memory")
                    .cloned()
            })
            .map(|q| mebibytes(&q.0))
            .sum();
        let rss = pod_rss_mib(&uid).unwrap_or(f64::NAN);
        requested_total += requested;
        rss_total += rss;
        parts.push(format!("{name} {requested:.0}/{rss:.0}"));
    }
    parts.sort();
    Ok(format!(
        "requests {requested_total:.0} MiB, RSS {rss_total:.0} MiB (per pod requested/RSS MiB: {})",
        parts.join(", ")
    ))
}

fn pod_rss_mib(uid: &str) -> Option<f64> {
    ["", "burstable/", "besteffort/"].iter().find_map(|class| {
        let stat = std::fs::read_to_string(format!(
            "/sys/fs/cgroup/memory/kubepods/{class}pod{uid}/memory.stat"
        ))
        .ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("total_rss "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|bytes| bytes / 1024.0 / 1024.0)
    })
}

/// A Kubernetes memory quantity in MiB (the forms the charts use: Mi, Gi, M, plain bytes).
fn mebibytes(quantity: &str) -> f64 {
    let split = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(quantity.len());
    let (number, unit) = quantity.split_at(split);
    let number: f64 = number.parse().unwrap_or(0.0);
    let factor = match unit {
        "Ki" => 1.0 / 1024.0,
        "Mi" => 1.0,
        "Gi" => 1024.0,
        "k" => 1000.0 / 1048576.0,
        "M" => 1e6 / 1048576.0,
        "G" => 1e9 / 1048576.0,
        _ => 1.0 / 1048576.0,
    };
    number * factor
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
