//! Stores on a real node: `storefleet serve` on the host drives the real engine charts onto
//! real pods (containerd, kubelet, kube-proxy; images built by `scripts/build-images.sh`).
//! Each store goes requested → ready only after the orchestrator's own order went through the
//! store's Service; the test confirms that order in the engine itself, kills the setup Job's
//! pod once mid-run (setup must be idempotent against the real engine), and deletes the store,
//! after which no namespace, pod, claim or volume of it is left.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, Pod, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
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

async fn store_lifecycle(engine: &str) {
    let Some(node) = real_node_or_skip() else {
        return;
    };
    if let Some(missing) = images(engine).iter().find(|name| !image_built(name)) {
        storefleet_testkit::skip(&format!(
            "no real {engine} store: image {missing} not built (scripts/build-images.sh{})",
            if engine == "woocommerce" {
                " with STOREFLEET_WOOCOMMERCE_DIR"
            } else {
                ""
            }
        ));
        return;
    }
    let Some(helm) = storefleet_testkit::helm_binary() else {
        panic!("the real node runs but there is no helm binary");
    };
    let _turn = ONE_STORE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("storefleet.db").display());
    let token = common::add_user(&db, "merchant", false);
    let port = storefleet_testkit::free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    let charts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts");
    let deadline = (READY_WITHIN.as_secs() + 60).to_string();
    let mut serve = common::spawn_storefleet_with_charts(
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
    let outcome = tokio::time::timeout(
        READY_WITHIN + Duration::from_secs(300),
        run_store(&api, &node, engine),
    )
    .await;
    let _ = serve.kill();
    let _ = serve.wait();
    let serve_log = std::fs::read_to_string(&log).unwrap_or_default();
    match outcome {
        Ok(Ok(report)) => println!("{report}"),
        Ok(Err(failure)) => panic!(
            "{failure}\nserve log tail:\n{}\nkubelet:\n{}",
            tail(&serve_log, 30),
            node.log_tail("kubelet", 20)
        ),
        Err(_) => panic!(
            "the {engine} store test took too long\nserve log tail:\n{}",
            tail(&serve_log, 30)
        ),
    }
}

async fn run_store(api: &Api_, node: &RealNode, engine: &str) -> Result<String, String> {
    let client = storefleet_testkit::kubelet::client(&node.cluster.kubeconfig).await?;
    let health = api.base.replace("/api/v1", "/healthz");
    let up_by = Instant::now() + Duration::from_secs(60);
    while api.http.get(&health).send().await.is_err() {
        if Instant::now() > up_by {
            return Err("storefleet serve did not answer /healthz within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started = Instant::now();
    let (status, created) = api
        .call(
            reqwest::Method::POST,
            "/stores",
            Some(json!({"name": format!("real-{engine}"), "engine": engine, "plan": "small"})),
        )
        .await;
    if status != 201 {
        return Err(format!("create answered {status}: {created}"));
    }
    let id = created["id"].as_str().ok_or("no id")?.to_owned();
    let namespace = created["namespace"]
        .as_str()
        .ok_or("no namespace")?
        .to_owned();
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
    let (status, _) = api
        .call(reqwest::Method::DELETE, &format!("/stores/{id}"), None)
        .await;
    if status != 202 {
        return Err(format!("delete answered {status}"));
    }
    let delete_started = Instant::now();
    loop {
        let (_, store) = api
            .call(reqwest::Method::GET, &format!("/stores/{id}"), None)
            .await;
        if store["phase"] == "deleted" {
            break;
        }
        if delete_started.elapsed() > Duration::from_secs(300) {
            return Err(format!("not deleted within 300 s: {store}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let to_deleted = delete_started.elapsed();
    leaves_nothing(&client, &namespace).await?;
    Ok(format!(
        "{engine}: accepted → ready (order {order_id} confirmed in the engine) in {:.1} s; setup pod killed and retried; \
         deleted, nothing left, in {:.1} s",
        to_ready.as_secs_f64(),
        to_deleted.as_secs_f64()
    ))
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
            let (status, credentials) = api
                .call(
                    reqwest::Method::GET,
                    &format!("/stores/{id}/credentials"),
                    None,
                )
                .await;
            if status != 200 {
                return Err(format!("credentials answered {status}"));
            }
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
                .get("store-credentials")
                .await
                .map_err(|e| e.to_string())?;
            let password = secret
                .data
                .and_then(|d| {
                    d.get("db-password")
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
