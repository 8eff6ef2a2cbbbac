//! The platform chart on the real node: `charts/storefleet` installed with helm and the
//! locally built image (the binary under test), API and orchestrator as hardened pods in a
//! namespace that enforces the `restricted` Pod Security Standard, migrations run, the first
//! admin token made the way `just admin` makes it (exec `storefleet user add` in the API pod),
//! and a store created through the in-cluster API ready with a real order. The release is then
//! upgraded to another image tag and rolled back with helm; after each the store still takes
//! a real order, and the rolled-back platform deletes it leaving nothing.

use super::{confirm_order_in_engine, create_store, delete_and_wait, images, leaves_nothing, Api_};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use kube::api::{Api, AttachParams, ListParams, PostParams};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use storefleet_domain::secrets::{key, ENGINE_OUTPUTS_SECRET};
use storefleet_testkit::node::{image_built, RealNode};
use tokio::io::AsyncReadExt;

pub const NAMESPACE: &str = "storefleet";
const RELEASE: &str = "storefleet";
const REPOSITORY: &str = "ghcr.io/storefleet/storefleet";
/// The tag the release is upgraded to: the same build under another name, so the upgrade
/// replaces every platform pod and the rollback replaces them again.
const UPGRADE_TAG: &str = "0.1.0-upgrade";
const READY_WITHIN: Duration = Duration::from_secs(600);

/// The installed release; uninstalled (and its namespace removed) when dropped, so a failed
/// run leaves no second orchestrator behind for the other tests on the node.
pub struct Release {
    helm: PathBuf,
    kubeconfig: PathBuf,
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = Command::new(&self.helm)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args([
                "uninstall",
                RELEASE,
                "-n",
                NAMESPACE,
                "--wait",
                "--timeout",
                "2m",
            ])
            .output();
    }
}

/// Run helm against the node; its stdout, or its stderr as the error.
fn helm(helm: &Path, kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .map_err(|e| format!("helm: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "helm {}: {}{}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// The engine the in-cluster store runs: WooCommerce (the quicker one) when its images were
/// built, else Medusa; `None` when neither engine's images are there.
pub fn engine_with_images() -> Option<&'static str> {
    ["woocommerce", "medusa"]
        .into_iter()
        .find(|engine| images(engine).iter().all(|name| image_built(name)))
}

/// Build the platform image from the `storefleet` binary under test (debug info stripped) with
/// `scripts/build-images.sh`, load it into the node's containerd, and tag it [`UPGRADE_TAG`]
/// too. The image's reference (`REPOSITORY:appVersion`).
pub fn load_platform_image(node: &RealNode, helm: &Path) -> Result<String, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let binary = dir.path().join("storefleet");
    let out = Command::new("objcopy")
        .args(["--strip-debug", env!("CARGO_BIN_EXE_storefleet")])
        .arg(&binary)
        .output()
        .map_err(|e| format!("objcopy: {e}"))?;
    if !out.status.success() {
        return Err(format!("objcopy: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let out = Command::new("bash")
        .arg(repo.join("scripts/build-images.sh"))
        .args(["--only", "storefleet", "--load"])
        .arg(&node.containerd_socket)
        .env("STOREFLEET_BINARY", &binary)
        .env("STOREFLEET_HELM", helm)
        .output()
        .map_err(|e| format!("build-images.sh: {e}"))?;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !image_built("storefleet") {
        return Err(format!(
            "scripts/build-images.sh --only storefleet:\n{printed}"
        ));
    }
    let chart = std::fs::read_to_string(repo.join("charts/storefleet/Chart.yaml"))
        .map_err(|e| e.to_string())?;
    let app_version = chart
        .lines()
        .find_map(|l| l.strip_prefix("appVersion:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .ok_or("no appVersion in charts/storefleet/Chart.yaml")?;
    let reference = format!("{REPOSITORY}:{app_version}");
    let upgraded = format!("{REPOSITORY}:{UPGRADE_TAG}");
    let out = Command::new("ctr")
        .arg("--address")
        .arg(&node.containerd_socket)
        .args([
            "-n", "k8s.io", "images", "tag", "--force", &reference, &upgraded,
        ])
        .output()
        .map_err(|e| format!("ctr: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ctr images tag {reference} {upgraded}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(reference)
}

/// `helm upgrade --install` the platform chart the way `just install` does (values.yaml +
/// values-local.yaml, `restricted` namespace), minus the ingress (the node has no ingress
/// controller), with the images the node has: the platform image built from this binary, and
/// the bundled PostgreSQL from the local postgres image (uid 70 instead of the official
/// Debian image's 999).
pub async fn install(
    node: &RealNode,
    client: &kube::Client,
    helm_bin: &Path,
) -> Result<Release, String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": NAMESPACE, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }}
    }))
    .map_err(|e| e.to_string())?;
    if namespaces
        .get_opt(NAMESPACE)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(|e| format!("namespace {NAMESPACE}: {e}"))?;
    }
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/storefleet");
    let values = |file: &str| chart.join(file).display().to_string();
    let kubeconfig = node.cluster.kubeconfig.clone();
    let release = Release {
        helm: helm_bin.to_owned(),
        kubeconfig: kubeconfig.clone(),
    };
    helm(
        helm_bin,
        &kubeconfig,
        &[
            "upgrade",
            "--install",
            RELEASE,
            &chart.display().to_string(),
            "-n",
            NAMESPACE,
            "-f",
            &values("values.yaml"),
            "-f",
            &values("values-local.yaml"),
            "--set",
            "ingress.enabled=false",
            "--set",
            &format!("image.repository={REPOSITORY}"),
            "--set",
            "image.tag=",
            "--set",
            "image.pullPolicy=Never",
            "--set",
            "postgresql.image.tag=15.19-alpine",
            "--set",
            "postgresql.image.pullPolicy=Never",
            "--set",
            "postgresql.runAsUser=70",
            "--wait",
            "--timeout",
            "5m",
        ],
    )?;
    Ok(release)
}

/// Upgrade the release to `tag` (every other value kept), waiting for the rollout.
pub fn upgrade_to(release: &Release, tag: &str) -> Result<(), String> {
    helm(
        &release.helm,
        &release.kubeconfig,
        &[
            "upgrade",
            RELEASE,
            &chart_path(),
            "-n",
            NAMESPACE,
            "--reuse-values",
            "--set",
            &format!("image.tag={tag}"),
            "--wait",
            "--timeout",
            "5m",
        ],
    )
    .map(|_| ())
}

/// Roll the release back to its previous revision, waiting for the rollout.
pub fn roll_back(release: &Release) -> Result<(), String> {
    helm(
        &release.helm,
        &release.kubeconfig,
        &[
            "rollback",
            RELEASE,
            "-n",
            NAMESPACE,
            "--wait",
            "--timeout",
            "5m",
        ],
    )
    .map(|_| ())
}

/// The release's revisions as helm lists them (`helm history`).
pub fn history(release: &Release) -> Result<Vec<Value>, String> {
    let out = helm(
        &release.helm,
        &release.kubeconfig,
        &["history", RELEASE, "-n", NAMESPACE, "-o", "json"],
    )?;
    serde_json::from_str(&out).map_err(|e| format!("helm history: {e}: {out}"))
}

fn chart_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../charts/storefleet")
        .display()
        .to_string()
}

/// The images the platform's Deployments run, once each has rolled out: every ready pod of
/// the api and orchestrator runs `reference`, and nothing else runs.
pub async fn wait_for_platform_image(client: &kube::Client, reference: &str) -> Result<(), String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut seen = Vec::new();
        for component in ["api", "orchestrator"] {
            let selector = format!("app.kubernetes.io/component={component}");
            for pod in pods
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| e.to_string())?
            {
                let image = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let deleting = pod.metadata.deletion_timestamp.is_some();
                seen.push((component, image, deleting));
            }
        }
        let rolled_out = deployments
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .iter()
            .all(|d| {
                let status = d.status.clone().unwrap_or_default();
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                status.updated_replicas == Some(want)
                    && status.ready_replicas == Some(want)
                    && status.replicas == Some(want)
            });
        let all_new = !seen.is_empty()
            && seen
                .iter()
                .all(|(_, image, deleting)| image == reference && !deleting);
        if rolled_out && all_new && seen.len() >= 2 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the platform did not roll out {reference} within 180 s: {seen:?}"
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The platform's pods pass the hardening the chart promises: non-root, read-only root
/// filesystem, no privilege escalation, and no service-account token in the API pods.
pub async fn check_hardening(client: &kube::Client) -> Result<(), String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    for component in ["api", "orchestrator"] {
        let selector = format!("app.kubernetes.io/component={component}");
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| e.to_string())?;
        let pod = list.items.first().ok_or(format!("no {component} pod"))?;
        let spec = pod.spec.clone().unwrap_or_default();
        let pod_context = spec.security_context.clone().unwrap_or_default();
        for container in &spec.containers {
            let context = container.security_context.clone().unwrap_or_default();
            let non_root = context.run_as_non_root.or(pod_context.run_as_non_root) == Some(true);
            if !non_root
                || context.read_only_root_filesystem != Some(true)
                || context.allow_privilege_escalation != Some(false)
            {
                return Err(format!(
                    "{component} container {} is not hardened: {context:?}",
                    container.name
                ));
            }
        }
        let token_mounted = spec
            .containers
            .iter()
            .flat_map(|c| c.volume_mounts.clone().unwrap_or_default())
            .any(|m| m.mount_path.starts_with("/var/run/secrets/kubernetes.io"));
        if component == "api" && token_mounted {
            return Err("the API pod mounts a service-account token".into());
        }
        if component == "orchestrator" && !token_mounted {
            return Err("the orchestrator pod has no service-account token to act with".into());
        }
    }
    Ok(())
}

/// The first admin's token, made as `just admin` makes it: `storefleet user add admin --admin`
/// exec'd in the API pod's `api` container; the token is the last line it prints.
pub async fn add_admin(client: &kube::Client) -> Result<String, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let list = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=api"))
        .await
        .map_err(|e| e.to_string())?;
    let pod = list
        .items
        .iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .and_then(|p| p.metadata.name.clone())
        .ok_or("no running API pod")?;
    let mut process = pods
        .exec(
            &pod,
            ["storefleet", "user", "add", "admin", "--admin"],
            &AttachParams::default()
                .container("api")
                .stdin(false)
                .stdout(true)
                .stderr(true),
        )
        .await
        .map_err(|e| format!("exec in {pod}: {e}"))?;
    let (mut stdout, mut stderr) = (String::new(), String::new());
    if let Some(mut out) = process.stdout() {
        out.read_to_string(&mut stdout)
            .await
            .map_err(|e| e.to_string())?;
    }
    if let Some(mut err) = process.stderr() {
        err.read_to_string(&mut stderr)
            .await
            .map_err(|e| e.to_string())?;
    }
    let status = match process.take_status() {
        Some(status) => status.await,
        None => None,
    };
    if status.as_ref().and_then(|s| s.status.as_deref()) != Some("Success") {
        return Err(format!(
            "storefleet user add in {pod}: {status:?}\n{stderr}"
        ));
    }
    stdout
        .lines()
        .last()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .ok_or(format!("storefleet user add printed no token: {stderr}"))
}

/// The in-cluster API, through its Service's cluster IP (kube-proxy routes the host to it).
pub async fn api(client: &kube::Client, token: String) -> Result<Api_, String> {
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let service = services
        .get(&format!("{RELEASE}-api"))
        .await
        .map_err(|e| e.to_string())?;
    let spec = service.spec.unwrap_or_default();
    let ip = spec.cluster_ip.ok_or("API Service without a cluster IP")?;
    let port = spec
        .ports
        .and_then(|p| p.first().map(|p| p.port))
        .unwrap_or(80);
    Ok(Api_ {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?,
        base: format!("http://{ip}:{port}/api/v1"),
        token,
    })
}

/// Poll the store until it is ready; the store as the API shows it.
pub async fn wait_ready(api: &Api_, id: &str) -> Result<Value, String> {
    let started = Instant::now();
    loop {
        let (_, store) = api
            .call(reqwest::Method::GET, &format!("/stores/{id}"), None)
            .await;
        match store["phase"].as_str() {
            Some("ready") => return Ok(store),
            Some("failed") => return Err(format!("store failed: {store}")),
            _ if started.elapsed() > READY_WITHIN => {
                return Err(format!("not ready within {READY_WITHIN:?}: {store}"))
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// Place a real order through the store's Service from the host, as the orchestrator's order
/// check does, and confirm it in the engine: the store still works.
pub async fn order_through_store(
    api: &Api_,
    client: &kube::Client,
    id: &str,
    namespace: &str,
    engine: &str,
) -> Result<String, String> {
    let engine_kind: storefleet_domain::Engine = engine
        .parse()
        .map_err(|e| format!("engine {engine}: {e:?}"))?;
    let (service, port) = storefleet_cluster::storefront_service(engine_kind);
    let ip = Api::<Service>::namespaced(client.clone(), namespace)
        .get(&service)
        .await
        .map_err(|e| e.to_string())?
        .spec
        .and_then(|s| s.cluster_ip)
        .ok_or("storefront Service without a cluster IP")?;
    let credentials = api.credentials(id).await?;
    let publishable_key = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(ENGINE_OUTPUTS_SECRET)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|s| s.data)
        .and_then(|d| {
            d.get(key::PUBLISHABLE_KEY)
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        });
    let text = |key: &str| credentials[key].as_str().map(str::to_owned);
    let target = storefleet_ordercheck::Target::new(
        engine_kind,
        format!("http://{ip}:{port}"),
        storefleet_ordercheck::StoreCredentials {
            publishable_key,
            admin_email: text("admin_email"),
            admin_password: text("admin_password"),
        },
    );
    let report = storefleet_ordercheck::place_test_order(&api.http, &target)
        .await
        .map_err(|e| format!("order through the store: {e}"))?;
    confirm_order_in_engine(api, client, id, namespace, engine, &report.order_id).await?;
    Ok(report.order_id)
}

/// The whole run: install, admin, a store to Ready with a real order, upgrade, rollback,
/// delete. Returns what it measured.
pub async fn run(node: &RealNode, helm_bin: &Path, engine: &str) -> Result<String, String> {
    let client = storefleet_testkit::kubelet::client(&node.cluster.kubeconfig).await?;
    let reference = load_platform_image(node, helm_bin)?;
    let started = Instant::now();
    let release = install(node, &client, helm_bin).await?;
    wait_for_platform_image(&client, &reference).await?;
    let install_took = started.elapsed();
    check_hardening(&client).await?;
    let token = add_admin(&client).await?;
    let api = api(&client, token).await?;
    wait_api_answers(&api).await?;

    let started = Instant::now();
    let (id, namespace) = create_store(&api, "in-cluster", engine).await?;
    let store = wait_ready(&api, &id).await?;
    let to_ready = started.elapsed();
    let order_id = super::order_id_of(&store).ok_or_else(|| format!("no order id in {store}"))?;
    confirm_order_in_engine(&api, &client, &id, &namespace, engine, &order_id).await?;

    let started = Instant::now();
    upgrade_to(&release, UPGRADE_TAG)?;
    let upgraded = format!("{REPOSITORY}:{UPGRADE_TAG}");
    wait_for_platform_image(&client, &upgraded).await?;
    let upgrade_took = started.elapsed();
    let after_upgrade = still_ready_and_ordering(&api, &client, &id, &namespace, engine).await?;

    let started = Instant::now();
    roll_back(&release)?;
    wait_for_platform_image(&client, &reference).await?;
    let rollback_took = started.elapsed();
    let revisions = history(&release)?;
    if revisions.len() != 3
        || revisions.last().map(|r| r["status"].clone()) != Some(json!("deployed"))
    {
        return Err(format!(
            "helm history after install, upgrade, rollback: {revisions:?}"
        ));
    }
    let after_rollback = still_ready_and_ordering(&api, &client, &id, &namespace, engine).await?;

    let delete_took = delete_and_wait(&api, &id).await?;
    leaves_nothing(&client, &namespace).await?;
    drop(release);
    Ok(format!(
        "in-cluster platform ({engine}): installed and rolled out in {:.1} s; store ready with order {order_id} \
         (confirmed in the engine) in {:.1} s; upgraded to {UPGRADE_TAG} in {:.1} s (order {after_upgrade} after); \
         rolled back in {:.1} s (order {after_rollback} after); deleted, nothing left, in {:.1} s",
        install_took.as_secs_f64(),
        to_ready.as_secs_f64(),
        upgrade_took.as_secs_f64(),
        rollback_took.as_secs_f64(),
        delete_took.as_secs_f64(),
    ))
}

/// After an upgrade or a rollback: the platform still shows the store ready, and the store
/// still takes a real order.
async fn still_ready_and_ordering(
    api: &Api_,
    client: &kube::Client,
    id: &str,
    namespace: &str,
    engine: &str,
) -> Result<String, String> {
    wait_api_answers(api).await?;
    let (status, store) = api
        .call(reqwest::Method::GET, &format!("/stores/{id}"), None)
        .await;
    if status != 200 || store["phase"] != "ready" {
        return Err(format!(
            "store after the rollout answered {status}: {store}"
        ));
    }
    order_through_store(api, client, id, namespace, engine).await
}

/// The last log lines of every platform pod, for a failure message.
pub async fn pod_logs(node: &RealNode) -> String {
    let Ok(client) = storefleet_testkit::kubelet::client(&node.cluster.kubeconfig).await else {
        return "(no client)".into();
    };
    let pods: Api<Pod> = Api::namespaced(client, NAMESPACE);
    let Ok(list) = pods.list(&ListParams::default()).await else {
        return "(pods not listed)".into();
    };
    let mut out = String::new();
    for pod in list.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        out.push_str(&format!("--- {name} ({phase})\n"));
        for container in pod.spec.map(|s| s.containers).unwrap_or_default() {
            let params = kube::api::LogParams {
                container: Some(container.name.clone()),
                tail_lines: Some(15),
                ..Default::default()
            };
            match pods.logs(&name, &params).await {
                Ok(text) => out.push_str(&text),
                Err(e) => out.push_str(&format!("({}: {e})\n", container.name)),
            }
        }
    }
    out
}

/// Wait until the API's Service answers `/healthz` (its endpoints follow a rollout by a moment).
async fn wait_api_answers(api: &Api_) -> Result<(), String> {
    let health = api.base.replace("/api/v1", "/healthz");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match api.http.get(&health).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            outcome if Instant::now() > deadline => {
                return Err(format!("{health} did not answer within 60 s: {outcome:?}"))
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
