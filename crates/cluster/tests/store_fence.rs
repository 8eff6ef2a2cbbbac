//! Inside a store's namespace (issue 10, item 6), on a real API server (envtest convention;
//! skipped without one or without helm):
//! 1. the namespace enforces the Pod Security level of its engine: a privileged pod is
//!    refused, and every pod the real engine chart would start is admitted at that level;
//! 2. helm runs as the store deployer, not the orchestrator: a chart that brings a
//!    NetworkPolicy, a ResourceQuota or a RoleBinding of a ClusterRole is refused, while the
//!    real engine charts (Medusa's Role and RoleBinding included) still install.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use chrono::Utc;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Container, Namespace, Pod, PodSpec, PodTemplateSpec, SecurityContext,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::Client;
use serde::Deserialize as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use storefleet_cluster::build;
use storefleet_cluster::helm::Helm;
use storefleet_cluster::kube_driver::KubeDriver;
use storefleet_cluster::{ClusterDriver, ClusterSettings};
use storefleet_domain::fixtures::StoreBuilder;
use storefleet_domain::{Engine, Phase, Store};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn store(name: &str, engine: Engine) -> Store {
    StoreBuilder::new(name)
        .owner("fence-tester")
        .engine(engine)
        .phase(Phase::Provisioning)
        .times(Utc::now())
        .touched_cluster()
        .build()
}

struct Rig {
    client: Client,
    helm: PathBuf,
    kubeconfig: PathBuf,
}

async fn rig() -> Option<Rig> {
    let cluster = storefleet_testkit::kube::cluster_or_skip()?;
    let Some(helm) = storefleet_testkit::helm_binary() else {
        storefleet_testkit::skip("no helm binary (PATH or STOREFLEET_TEST_HELM)");
        return None;
    };
    let client = storefleet_testkit::kubelet::client(&cluster.kubeconfig)
        .await
        .expect("admin client");
    Some(Rig {
        client,
        helm,
        kubeconfig: cluster.kubeconfig,
    })
}

/// The orchestrator's driver (here with the admin's credentials), its charts from `charts`.
fn driver(rig: &Rig, charts: PathBuf) -> KubeDriver {
    let settings = ClusterSettings {
        instance: "fence-test".to_owned(),
        ..ClusterSettings::default()
    };
    let helm = Helm::new(rig.helm.clone(), charts, Some(rig.kubeconfig.clone()), 2);
    KubeDriver::new(rig.client.clone(), settings, helm)
}

/// `helm template` of an engine chart with the values the orchestrator writes for `store`.
fn render_engine(helm: &Path, store: &Store, extra: &[&str]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let values = dir.path().join("values.json");
    let settings = ClusterSettings::default();
    std::fs::write(&values, build::helm_values(store, &settings).to_string()).expect("values");
    let out = Command::new(helm)
        .args(["template", "store"])
        .arg(repo_root().join("charts").join(store.spec.engine.as_str()))
        .args(["--namespace", &store.namespace, "-f"])
        .arg(&values)
        .args(extra)
        .output()
        .expect("helm template");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("yaml"))
        .filter(|doc| doc.is_object())
        .collect()
}

/// Every pod template of the rendered workloads, named after its workload.
fn pod_templates(docs: &[serde_json::Value]) -> Vec<(String, PodTemplateSpec)> {
    let mut pods = Vec::new();
    for doc in docs {
        let name = format!(
            "{}/{}",
            doc["kind"].as_str().unwrap_or_default(),
            doc["metadata"]["name"].as_str().unwrap_or_default()
        );
        let template = match doc["kind"].as_str() {
            Some("Deployment") => serde_json::from_value::<Deployment>(doc.clone())
                .expect("Deployment")
                .spec
                .map(|s| s.template),
            Some("StatefulSet") => serde_json::from_value::<StatefulSet>(doc.clone())
                .expect("StatefulSet")
                .spec
                .map(|s| s.template),
            Some("Job") => serde_json::from_value::<Job>(doc.clone())
                .expect("Job")
                .spec
                .map(|s| s.template),
            _ => None,
        };
        if let Some(template) = template {
            pods.push((name, template));
        }
    }
    pods
}

/// Create `template` as a Pod with `dryRun=All`: admission (Pod Security) judges it, nothing
/// is stored. Its service account is left out: that is not what Pod Security judges, and the
/// chart's own accounts do not exist here.
async fn admit(pods: &Api<Pod>, name: &str, template: PodTemplateSpec) -> Result<(), String> {
    let mut spec = template.spec.expect("pod spec");
    spec.service_account_name = None;
    spec.automount_service_account_token = Some(false);
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some("psa-probe-".to_owned()),
            labels: template.metadata.and_then(|m| m.labels),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        ..Pod::default()
    };
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    pods.create(&dry_run, &pod)
        .await
        .map(drop)
        .map_err(|e| format!("{name}: {e}"))
}

fn privileged_pod() -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some("privileged".to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            host_network: Some(true),
            containers: vec![Container {
                name: "root".to_owned(),
                image: Some("registry.k8s.io/pause:3.10".to_owned()),
                security_context: Some(SecurityContext {
                    privileged: Some(true),
                    ..SecurityContext::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

async fn delete_namespace(client: &Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::background())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_namespace_enforces_the_strictest_pod_security_level_its_engine_passes() {
    let Some(rig) = rig().await else {
        return;
    };
    let driver = driver(&rig, repo_root().join("charts"));
    let mut failures = Vec::new();
    for (name, engine) in [
        ("psa-woo", Engine::Woocommerce),
        ("psa-medusa", Engine::Medusa),
    ] {
        let store = store(name, engine);
        driver.ensure_namespace(&store).await.expect("namespace");
        let labels = Api::<Namespace>::all(rig.client.clone())
            .get(&store.namespace)
            .await
            .expect("namespace")
            .metadata
            .labels
            .expect("labels");
        let level = build::pod_security_level(engine);
        assert_eq!(
            level, "restricted",
            "{engine}: the strictest level is restricted"
        );
        for mode in ["enforce", "warn", "audit"] {
            assert_eq!(
                labels
                    .get(&format!("pod-security.kubernetes.io/{mode}"))
                    .map(String::as_str),
                Some(level),
                "{engine}: {mode} label"
            );
        }
        let pods: Api<Pod> = Api::namespaced(rig.client.clone(), &store.namespace);
        let refused = pods.create(&PostParams::default(), &privileged_pod()).await;
        match refused {
            Err(kube::Error::Api(e))
                if e.code == 403 && e.message.contains("violates PodSecurity") =>
            {
                println!("{engine}: privileged pod refused: {}", e.message);
            }
            other => failures.push(format!(
                "{engine}: a privileged pod was not refused by Pod Security: {other:?}"
            )),
        }
        let templates = pod_templates(&render_engine(&rig.helm, &store, &[]));
        assert!(
            templates.len() >= 3,
            "{engine}: workloads rendered: {}",
            templates.len()
        );
        for (what, template) in templates {
            match admit(&pods, &what, template).await {
                Ok(()) => println!("{engine}: {what} admitted at {level}"),
                Err(e) => failures.push(format!("{engine}: refused at {level}: {e}")),
            }
        }
        // The check can tell: WordPress in the chart's root mode is below `restricted`.
        if engine == Engine::Woocommerce {
            let rootful = render_engine(&rig.helm, &store, &["--set", "wordpress.rootless=false"]);
            let (what, template) = pod_templates(&rootful)
                .into_iter()
                .find(|(what, _)| what.contains("wordpress"))
                .expect("the wordpress Deployment");
            match admit(&pods, &what, template).await {
                Err(e) if e.contains("violates PodSecurity") => {
                    println!("{engine}: rootless=false refused at {level}: {e}");
                }
                other => failures.push(format!(
                    "{engine}: WordPress as root (rootless=false) was not refused at {level}: {other:?}"
                )),
            }
        }
        delete_namespace(&rig.client, &store.namespace).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Install through the driver, again while a refusal may be RBAC's cache catching up with
/// the bindings just applied (forbidden, but not about `what`, which is final).
async fn install(driver: &KubeDriver, store: &Store, what: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match driver.install_release(store).await {
            Ok(message) => return Ok(message),
            Err(e)
                if e.to_string().contains(what)
                    || !e.to_string().contains("forbidden")
                    || Instant::now() > deadline =>
            {
                return Err(e.to_string())
            }
            Err(e) => {
                println!("  (retrying: {e})");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_cannot_open_the_fence_lift_the_quota_or_grant_itself_more_but_engines_install() {
    let Some(rig) = rig().await else {
        return;
    };
    let hostile = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/charts");
    let mut failures = Vec::new();
    for (kind, resource) in [
        ("networkpolicy", "networkpolicies"),
        ("resourcequota", "resourcequotas"),
        ("rolebinding", "rolebindings"),
    ] {
        let driver = driver(&rig, hostile.join(kind));
        let store = store(&format!("hostile-{kind}"), Engine::Woocommerce);
        driver.ensure_namespace(&store).await.expect("namespace");
        driver.apply_guardrails(&store).await.expect("guardrails");
        match install(&driver, &store, resource).await {
            Err(e) if e.contains("forbidden") && e.contains(resource) => {
                println!("{kind}: refused: {e}");
            }
            other => failures.push(format!("a chart with a {kind} was not refused: {other:?}")),
        }
        let policies = Api::<NetworkPolicy>::namespaced(rig.client.clone(), &store.namespace)
            .list(&ListParams::default())
            .await
            .expect("policies");
        let names: Vec<_> = policies
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        assert_eq!(names.len(), 3, "only the guardrail policies: {names:?}");
        let bindings = Api::<RoleBinding>::namespaced(rig.client.clone(), &store.namespace)
            .list(&ListParams::default())
            .await
            .expect("bindings");
        assert!(
            bindings
                .iter()
                .all(|b| b.metadata.name.as_deref() != Some("take-over")),
            "the chart's RoleBinding exists"
        );
        delete_namespace(&rig.client, &store.namespace).await;
    }
    // The real engine charts need nothing the deployer lacks.
    let driver = driver(&rig, repo_root().join("charts"));
    for (name, engine) in [
        ("fenced-woo", Engine::Woocommerce),
        ("fenced-medusa", Engine::Medusa),
    ] {
        let store = store(name, engine);
        driver.ensure_namespace(&store).await.expect("namespace");
        driver.apply_guardrails(&store).await.expect("guardrails");
        match install(&driver, &store, "never matches a refusal").await {
            Ok(message) => println!("{engine}: {message} as the store deployer"),
            Err(e) => failures.push(format!("{engine}: the engine chart did not install: {e}")),
        }
        if engine == Engine::Medusa {
            let binding = Api::<RoleBinding>::namespaced(rig.client.clone(), &store.namespace)
                .get("store-setup-outputs")
                .await;
            if binding.is_err() {
                failures.push(format!(
                    "medusa: the setup RoleBinding is missing: {binding:?}"
                ));
            }
        }
        delete_namespace(&rig.client, &store.namespace).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
