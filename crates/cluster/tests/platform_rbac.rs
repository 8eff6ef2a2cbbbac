//! Issue 4 proof on a real API server (envtest convention; skipped without one or without helm).
//!
//! The platform chart's RBAC and ValidatingAdmissionPolicies are rendered with helm and applied
//! to a kube-apiserver that authorizes with RBAC. Then:
//! 1. SubjectAccessReviews ask what the orchestrator's service account may do: inside a store
//!    namespace it provisioned (through the RoleBinding `build::role_binding` makes), in
//!    `default`, `kube-system`, another tenant's namespace, and cluster-wide. The matrix is
//!    printed and every row asserted.
//! 2. Impersonating that service account, the test tries what RBAC alone would allow (binding
//!    the store-admin role in `kube-system`, deleting `default`, creating an unlabelled
//!    namespace, ...) and expects the admission policies to refuse it; then it provisions and
//!    deletes a store namespace with the orchestrator's own `KubeDriver`, which must still work.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use chrono::Utc;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::Client;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use storefleet_cluster::build;
use storefleet_cluster::helm::Helm;
use storefleet_cluster::kube_driver::KubeDriver;
use storefleet_cluster::{ClusterDriver, ClusterSettings, FIELD_MANAGER, MANAGED_BY};
use storefleet_domain::fixtures::StoreBuilder;
use storefleet_domain::{Engine, Phase, Store};

const PLATFORM_NS: &str = "storefleet";
const STORE_NS: &str = "store-rbac-aaaaaa";
const STORE_NS_2: &str = "store-rbac-bbbbbb";
const UNLABELLED_NS: &str = "store-rbac-cccccc";
const OTHER_TENANT_NS: &str = "tenant-other";
const STORE_ADMIN: &str = "storefleet-store-admin";
const DEPLOYER: &str = "storefleet-store-deployer";
const TEST_MANAGER: &str = "storefleet-platform-rbac-test";

/// The kinds of the chart this test applies: identities, RBAC and admission. Workloads,
/// Services, Secrets and NetworkPolicies need no API server to be judged.
const SECURITY_KINDS: [&str; 8] = [
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "Namespace",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `helm template` of the platform chart with the local values, as JSON documents.
fn render_chart(helm: &Path) -> Vec<serde_json::Value> {
    let chart = repo_root().join("charts/storefleet");
    let out = Command::new(helm)
        .arg("template")
        .arg("storefleet")
        .arg(&chart)
        .args(["--namespace", PLATFORM_NS, "-f"])
        .arg(chart.join("values-local.yaml"))
        .output()
        .expect("run helm template");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("rendered YAML"))
        .filter(|doc| doc.is_object())
        .collect()
}

fn str_at<'a>(doc: &'a serde_json::Value, pointer: &str) -> &'a str {
    doc.pointer(pointer)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

/// The orchestrator's ServiceAccount (namespace, name), from the chart's ClusterRoleBinding.
fn orchestrator_service_account(docs: &[serde_json::Value]) -> (String, String) {
    let binding = docs
        .iter()
        .find(|d| str_at(d, "/kind") == "ClusterRoleBinding")
        .expect("the chart renders a ClusterRoleBinding for the orchestrator");
    let subjects = binding["subjects"].as_array().expect("subjects");
    assert_eq!(
        subjects.len(),
        1,
        "one subject in the orchestrator's ClusterRoleBinding"
    );
    assert_eq!(str_at(&subjects[0], "/kind"), "ServiceAccount");
    let sa = (
        str_at(&subjects[0], "/namespace").to_owned(),
        str_at(&subjects[0], "/name").to_owned(),
    );
    assert!(
        docs.iter()
            .any(|d| str_at(d, "/kind") == "ServiceAccount" && str_at(d, "/metadata/name") == sa.1),
        "the chart renders the ServiceAccount {}",
        sa.1
    );
    sa
}

/// Server-side apply one rendered object, resolving its resource through discovery.
async fn apply(client: &Client, doc: &serde_json::Value) -> String {
    let (group, version) = match str_at(doc, "/apiVersion").split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), str_at(doc, "/apiVersion").to_owned()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, str_at(doc, "/kind"));
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discovery of {gvk:?}: {e}"));
    let name = str_at(doc, "/metadata/name").to_owned();
    let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
        let ns = Some(str_at(doc, "/metadata/namespace"))
            .filter(|ns| !ns.is_empty())
            .unwrap_or(PLATFORM_NS);
        Api::namespaced_with(client.clone(), ns, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    api.patch(
        &name,
        &PatchParams::apply(TEST_MANAGER).force(),
        &Patch::Apply(doc),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {} {name}: {e}", gvk.kind));
    format!("{}/{name}", gvk.kind)
}

fn store(name: &str, namespace: &str) -> Store {
    StoreBuilder::new(name)
        .namespace(namespace)
        .owner("rbac-tester")
        .engine(Engine::Woocommerce)
        .phase(Phase::Provisioning)
        .times(Utc::now())
        .touched_cluster()
        .build()
}

fn plain_namespace(name: &str, labels: Option<BTreeMap<String, String>>) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels,
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

async fn ensure_created(api: &Api<Namespace>, namespace: &Namespace) {
    match api.create(&PostParams::default(), namespace).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("create namespace: {e}"),
    }
}

/// A kube client that acts as `user` (with `groups`) through impersonation by the admin.
async fn impersonating(kubeconfig: &Path, user: &str, groups: &[String]) -> Client {
    let file = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let mut config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
    config.auth_info.impersonate = Some(user.to_owned());
    config.auth_info.impersonate_groups = Some(groups.to_vec());
    Client::try_from(config).expect("impersonating client")
}

struct Row {
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    name: Option<&'static str>,
    /// None: cluster-scoped (or, for a namespaced resource, every namespace).
    namespace: Option<&'static str>,
    allowed: bool,
}

const fn row(
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    namespace: Option<&'static str>,
    allowed: bool,
) -> Row {
    Row {
        verb,
        group,
        resource,
        name: None,
        namespace,
        allowed,
    }
}

fn matrix() -> Vec<Row> {
    let store = Some(STORE_NS);
    let mut rows = vec![
        // Inside the store namespace it provisioned: through the store-admin RoleBinding.
        row("create", "", "secrets", store, true),
        row("patch", "", "secrets", store, true),
        row("get", "", "secrets", store, true),
        row("list", "", "secrets", store, true),
        row("create", "apps", "deployments", store, true),
        row("create", "apps", "statefulsets", store, true),
        row("create", "batch", "jobs", store, true),
        row("patch", "", "resourcequotas", store, true),
        row("create", "", "limitranges", store, true),
        row(
            "create",
            "networking.k8s.io",
            "networkpolicies",
            store,
            true,
        ),
        row("create", "networking.k8s.io", "ingresses", store, true),
        row("create", "rbac.authorization.k8s.io", "roles", store, true),
        row("list", "", "pods", store, true),
        // ... but not beyond what the role lists.
        row("create", "", "pods", store, false),
        row("create", "", "pods/exec", store, false),
        row("delete", "", "resourcequotas", store, false),
        row(
            "escalate",
            "rbac.authorization.k8s.io",
            "roles",
            store,
            false,
        ),
        // Secrets anywhere else.
        row("get", "", "secrets", Some("default"), false),
        row("list", "", "secrets", Some("default"), false),
        row("get", "", "secrets", Some("kube-system"), false),
        row("list", "", "secrets", Some("kube-system"), false),
        row("get", "", "secrets", Some(OTHER_TENANT_NS), false),
        row("list", "", "secrets", Some(OTHER_TENANT_NS), false),
        row("list", "", "secrets", None, false),
        row("get", "", "secrets", Some(PLATFORM_NS), false),
        // Another tenant's namespace it did not create.
        row(
            "create",
            "apps",
            "deployments",
            Some(OTHER_TENANT_NS),
            false,
        ),
        row("create", "", "secrets", Some(OTHER_TENANT_NS), false),
        row("delete", "", "configmaps", Some(OTHER_TENANT_NS), false),
        row("create", "apps", "deployments", Some("kube-system"), false),
        // Cluster-scoped kinds other than namespaces.
        row("list", "", "nodes", None, false),
        row(
            "create",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            false,
        ),
        row(
            "create",
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            None,
            false,
        ),
        row("create", "", "persistentvolumes", None, false),
        row(
            "create",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            false,
        ),
        row(
            "create",
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies",
            None,
            false,
        ),
        row(
            "delete",
            "admissionregistration.k8s.io",
            "validatingadmissionpolicybindings",
            None,
            false,
        ),
        row("create", "storage.k8s.io", "storageclasses", None, false),
        // Namespaces: cluster-wide RBAC (the admission policies fence it, see step 4).
        row("create", "", "namespaces", None, true),
        row("delete", "", "namespaces", None, true),
        row("patch", "", "namespaces", None, true),
        row("list", "", "namespaces", None, true),
        row("update", "", "namespaces", None, false),
        row("update", "", "namespaces/finalize", None, false),
        // RoleBindings anywhere: RBAC allows it, admission must refuse it (step 4).
        row(
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            Some("kube-system"),
            true,
        ),
        // ... but it cannot read the cluster's RoleBindings outside its store namespaces.
        row(
            "get",
            "rbac.authorization.k8s.io",
            "rolebindings",
            Some("kube-system"),
            false,
        ),
        row(
            "list",
            "rbac.authorization.k8s.io",
            "rolebindings",
            None,
            false,
        ),
        row(
            "get",
            "rbac.authorization.k8s.io",
            "rolebindings",
            store,
            true,
        ),
        row("impersonate", "", "serviceaccounts", None, false),
        row("impersonate", "", "groups", None, false),
        row(
            "create",
            "",
            "serviceaccounts/token",
            Some("kube-system"),
            false,
        ),
    ];
    rows.push(Row {
        name: Some("default"),
        ..row("delete", "", "namespaces", None, true)
    });
    rows.push(Row {
        name: Some(STORE_ADMIN),
        ..row(
            "bind",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            true,
        )
    });
    // helm's identity in store namespaces, and no other user.
    rows.push(Row {
        name: Some(DEPLOYER),
        ..row("impersonate", "", "users", None, true)
    });
    rows.push(Row {
        name: Some("admin"),
        ..row("impersonate", "", "users", None, false)
    });
    rows.push(Row {
        name: Some("cluster-admin"),
        ..row(
            "bind",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            false,
        )
    });
    rows.push(Row {
        name: Some(STORE_ADMIN),
        ..row(
            "escalate",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            false,
        )
    });
    rows
}

async fn can_i(client: &Client, user: &str, groups: &[String], r: &Row) -> (bool, String) {
    let (resource, subresource) = match r.resource.split_once('/') {
        Some((res, sub)) => (res, Some(sub.to_owned())),
        None => (r.resource, None),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_owned()),
            groups: Some(groups.to_vec()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(r.verb.to_owned()),
                group: Some(r.group.to_owned()),
                resource: Some(resource.to_owned()),
                subresource,
                name: r.name.map(str::to_owned),
                namespace: r.namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SubjectAccessReview");
    let status = answer.status.expect("SubjectAccessReview status");
    let why = status
        .reason
        .or(status.evaluation_error)
        .unwrap_or_default();
    (status.allowed && status.denied != Some(true), why)
}

/// Ask every row for `user`, print the table, return the rows with the wrong answer.
async fn review_table(client: &Client, user: &str, groups: &[String], rows: &[Row]) -> Vec<String> {
    println!(
        "{:<12} {:<62} {:<18} {:<8} {:<8} {:<4} reason",
        "verb", "resource", "namespace", "expected", "actual", ""
    );
    let mut wrong = Vec::new();
    for r in rows {
        let (allowed, why) = can_i(client, user, groups, r).await;
        let resource = match (r.group, r.name) {
            ("", None) => r.resource.to_owned(),
            ("", Some(n)) => format!("{}/{n}", r.resource),
            (g, None) => format!("{}.{g}", r.resource),
            (g, Some(n)) => format!("{}.{g}/{n}", r.resource),
        };
        let namespace = match r.namespace {
            Some(ns) => ns.to_owned(),
            None if matches!(r.resource, "secrets" | "rolebindings") => {
                "(all namespaces)".to_owned()
            }
            None => "(cluster)".to_owned(),
        };
        let word = |b: bool| if b { "allow" } else { "deny" };
        let ok = allowed == r.allowed;
        println!(
            "{:<12} {:<62} {:<18} {:<8} {:<8} {:<4} {}",
            r.verb,
            resource,
            namespace,
            word(r.allowed),
            word(allowed),
            if ok { "ok" } else { "FAIL" },
            why
        );
        if !ok {
            wrong.push(format!(
                "{user}: {} {resource} in {namespace}: expected {}, got {}",
                r.verb,
                word(r.allowed),
                word(allowed)
            ));
        }
    }
    wrong
}

/// Poll until `attempt` yields an error whose message contains `needle`.
async fn wait_until_refused<F, Fut>(what: &str, needle: &str, attempt: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    let start = Instant::now();
    loop {
        let last = match attempt().await {
            Err(kube::Error::Api(e)) if e.message.contains(needle) => {
                println!(
                    "{what}: refused after {:.1} s ({})",
                    start.elapsed().as_secs_f64(),
                    e.message
                );
                return;
            }
            Ok(()) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        };
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: still not refused after 60 s (needle {needle:?}); last answer: {last}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

enum Expect {
    /// Refused by this ValidatingAdmissionPolicy.
    Policy(&'static str),
    /// Refused by the API server before the admission policies run (named layer).
    RefusedBy(&'static str, &'static str),
    Allowed,
}

struct Attempt {
    what: String,
    expect: Expect,
    answer: Result<(), (u16, String)>,
}

impl Attempt {
    fn new<T>(what: impl Into<String>, expect: Expect, result: Result<T, kube::Error>) -> Self {
        let answer = match result {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) => Err((e.code, e.message)),
            Err(e) => Err((0, e.to_string())),
        };
        let attempt = Self {
            what: what.into(),
            expect,
            answer,
        };
        attempt.print();
        attempt
    }

    fn from_driver(
        what: impl Into<String>,
        result: Result<(), storefleet_cluster::ClusterError>,
    ) -> Self {
        let answer = result.map_err(|e| (0, e.to_string()));
        let attempt = Self {
            what: what.into(),
            expect: Expect::Allowed,
            answer,
        };
        attempt.print();
        attempt
    }

    fn passed(&self) -> bool {
        match (&self.expect, &self.answer) {
            (Expect::Allowed, answer) => answer.is_ok(),
            (Expect::Policy(policy), Err((code, message))) => {
                matches!(code, 403 | 422)
                    && message.contains("ValidatingAdmissionPolicy")
                    && message.contains(&format!("'{policy}'"))
            }
            (Expect::RefusedBy(_, needle), Err((code, message))) => {
                *code == 403 && message.contains(needle)
            }
            (_, Ok(())) => false,
        }
    }

    fn print(&self) {
        let expected = match &self.expect {
            Expect::Policy(p) => format!("refused by policy {p}"),
            Expect::RefusedBy(layer, _) => format!("refused by {layer}"),
            Expect::Allowed => "allowed".to_owned(),
        };
        let answer = match &self.answer {
            Ok(()) => "OK".to_owned(),
            Err((code, message)) => format!("HTTP {code}: {message}"),
        };
        println!(
            "[{}] {}\n       expected: {expected}\n       API server: {answer}",
            if self.passed() { "pass" } else { "FAIL" },
            self.what
        );
    }
}

/// Inside a store namespace the orchestrator provisioned ({STORE_NS_2}): nobody else, not a
/// cluster admin and not helm's deployer identity, changes its isolation objects.
async fn fence_attempts(kubeconfig: &Path, admin: &Client, attempts: &mut Vec<Attempt>) {
    let isolation = "storefleet-store-isolation";
    let pod_security = "storefleet-store-pod-security";
    let open = NetworkPolicy {
        metadata: ObjectMeta {
            name: Some("allow-everything".to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            ingress: Some(vec![NetworkPolicyIngressRule::default()]),
            ..NetworkPolicySpec::default()
        }),
    };
    let admin_policies: Api<NetworkPolicy> = Api::namespaced(admin.clone(), STORE_NS_2);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    wait_until_refused(
        &format!("policy {isolation} active"),
        &format!("ValidatingAdmissionPolicy '{isolation}'"),
        || async { admin_policies.create(&dry_run, &open).await.map(|_| ()) },
    )
    .await;
    attempts.push(Attempt::new(
        format!("cluster admin adds an allow-all NetworkPolicy in {STORE_NS_2}"),
        Expect::Policy(isolation),
        admin_policies.create(&PostParams::default(), &open).await,
    ));
    attempts.push(Attempt::new(
        format!("cluster admin deletes the NetworkPolicy storefleet-allow in {STORE_NS_2}"),
        Expect::Policy(isolation),
        admin_policies
            .delete("storefleet-allow", &DeleteParams::default())
            .await,
    ));
    let lift = serde_json::json!({"spec": {"hard": {"pods": "1000"}}});
    attempts.push(Attempt::new(
        format!("cluster admin lifts the ResourceQuota of {STORE_NS_2}"),
        Expect::Policy(isolation),
        Api::<ResourceQuota>::namespaced(admin.clone(), STORE_NS_2)
            .patch("store-quota", &PatchParams::default(), &Patch::Merge(&lift))
            .await,
    ));
    let grant = RoleBinding {
        metadata: ObjectMeta {
            name: Some("grant-edit".to_owned()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "ClusterRole".to_owned(),
            name: "edit".to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "User".to_owned(),
            name: "mallory".to_owned(),
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            ..Subject::default()
        }]),
    };
    attempts.push(Attempt::new(
        format!("cluster admin binds ClusterRole edit to User mallory in {STORE_NS_2}"),
        Expect::Policy(isolation),
        Api::<RoleBinding>::namespaced(admin.clone(), STORE_NS_2)
            .create(&PostParams::default(), &grant)
            .await,
    ));
    let relax = serde_json::json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}});
    let namespaces = Api::<Namespace>::all(admin.clone());
    // Each policy comes into force on its own: a loaded API server took longer for this one
    // than for the isolation policy (seen once in CI), so wait for it too, with a dry run.
    let dry_patch = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    wait_until_refused(
        &format!("policy {pod_security} active"),
        &format!("ValidatingAdmissionPolicy '{pod_security}'"),
        || async {
            namespaces
                .patch(STORE_NS_2, &dry_patch, &Patch::Merge(&relax))
                .await
                .map(|_| ())
        },
    )
    .await;
    attempts.push(Attempt::new(
        format!("cluster admin relaxes {STORE_NS_2} to Pod Security privileged"),
        Expect::Policy(pod_security),
        namespaces
            .patch(STORE_NS_2, &PatchParams::default(), &Patch::Merge(&relax))
            .await,
    ));
    // helm's identity: RBAC alone refuses it, before any policy.
    let deployer = impersonating(kubeconfig, DEPLOYER, &["system:authenticated".to_owned()]).await;
    attempts.push(Attempt::new(
        format!("store deployer (helm) adds an allow-all NetworkPolicy in {STORE_NS_2}"),
        Expect::RefusedBy("RBAC", "cannot create resource \"networkpolicies\""),
        Api::<NetworkPolicy>::namespaced(deployer.clone(), STORE_NS_2)
            .create(&PostParams::default(), &open)
            .await,
    ));
    attempts.push(Attempt::new(
        format!("store deployer (helm) creates a Secret in {STORE_NS_2}"),
        Expect::Allowed,
        Api::<Secret>::namespaced(deployer, STORE_NS_2)
            .create(
                &PostParams::default(),
                &Secret {
                    metadata: ObjectMeta {
                        name: Some("deployer-probe".to_owned()),
                        ..ObjectMeta::default()
                    },
                    ..Secret::default()
                },
            )
            .await,
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_rights_are_fenced_by_chart_rbac_and_admission_policies() {
    let started = Instant::now();
    let Some(cluster) = storefleet_testkit::kube::cluster_or_skip() else {
        return;
    };
    let Some(helm) = storefleet_testkit::helm_binary() else {
        storefleet_testkit::skip("no helm binary (PATH or STOREFLEET_TEST_HELM)");
        return;
    };
    let admin = storefleet_testkit::kubelet::client(&cluster.kubeconfig)
        .await
        .expect("admin client");
    println!(
        "control plane ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 1. The chart's identities, RBAC and admission policies.
    let docs = render_chart(&helm);
    let (sa_ns, sa_name) = orchestrator_service_account(&docs);
    assert_eq!(
        sa_ns, PLATFORM_NS,
        "the orchestrator's SA lives in the release namespace"
    );
    assert!(
        docs.iter()
            .any(|d| str_at(d, "/kind") == "ClusterRole"
                && str_at(d, "/metadata/name") == STORE_ADMIN),
        "the chart renders the ClusterRole {STORE_ADMIN}"
    );
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    ensure_created(&namespaces, &plain_namespace(PLATFORM_NS, None)).await;
    let mut applied = Vec::new();
    for doc in docs.iter().filter(|d| {
        SECURITY_KINDS.contains(&str_at(d, "/kind"))
            && [PLATFORM_NS, ""].contains(&str_at(d, "/metadata/namespace"))
    }) {
        applied.push(apply(&admin, doc).await);
    }
    println!("applied from the chart: {}", applied.join(", "));
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ] {
        assert!(
            applied.iter().any(|a| a.starts_with(&format!("{kind}/"))),
            "the chart renders no {kind}"
        );
    }

    let user = format!("system:serviceaccount:{sa_ns}:{sa_name}");
    // What a real token of that ServiceAccount authenticates as.
    let groups = vec![
        "system:serviceaccounts".to_owned(),
        format!("system:serviceaccounts:{sa_ns}"),
        "system:authenticated".to_owned(),
    ];
    let orchestrator = impersonating(&cluster.kubeconfig, &user, &groups).await;
    let ns_policy = "storefleet-orchestrator-namespaces";
    let rb_policy = "storefleet-orchestrator-rolebindings";
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    // The API server loads new policies asynchronously: wait until each one bites.
    let orchestrator_namespaces: Api<Namespace> = Api::all(orchestrator.clone());
    wait_until_refused(
        &format!("policy {ns_policy} active"),
        &format!("ValidatingAdmissionPolicy '{ns_policy}'"),
        || async {
            orchestrator_namespaces
                .create(&dry_run, &plain_namespace("storefleet-policy-probe", None))
                .await
                .map(|_| ())
        },
    )
    .await;
    let settings = ClusterSettings {
        orchestrator_service_account: (sa_ns.clone(), sa_name.clone()),
        store_admin_role: STORE_ADMIN.to_owned(),
        platform_namespace: PLATFORM_NS.to_owned(),
        instance: "rbac-test".to_owned(),
        // Without an installation id the driver lists (so sweeps) nothing.
        installation: "0123456789abcdef0123456789abcdef".to_owned(),
        ..ClusterSettings::default()
    };
    let kube_system_binding = build::role_binding(&store("intruder", "kube-system"), &settings);
    let kube_system_rolebindings: Api<RoleBinding> =
        Api::namespaced(orchestrator.clone(), "kube-system");
    wait_until_refused(
        &format!("policy {rb_policy} active"),
        &format!("ValidatingAdmissionPolicy '{rb_policy}'"),
        || async {
            kube_system_rolebindings
                .create(&dry_run, &kube_system_binding)
                .await
                .map(|_| ())
        },
    )
    .await;

    // 2. Provision a store namespace the way the orchestrator does (here as admin), and
    // another tenant's namespace Storefleet never created.
    let store_a = store("rbac", STORE_NS);
    let namespace_a = build::namespace(&store_a, &settings);
    assert_eq!(
        namespace_a
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(MANAGED_BY.0))
            .map(String::as_str),
        Some(MANAGED_BY.1)
    );
    let apply_params = PatchParams::apply(FIELD_MANAGER).force();
    namespaces
        .patch(STORE_NS, &apply_params, &Patch::Apply(&namespace_a))
        .await
        .expect("apply store namespace");
    let binding_a = build::role_binding(&store_a, &settings);
    // As the orchestrator: in a store namespace only it may write Storefleet's bindings.
    Api::<RoleBinding>::namespaced(orchestrator.clone(), STORE_NS)
        .patch(
            binding_a.metadata.name.as_deref().expect("binding name"),
            &apply_params,
            &Patch::Apply(&binding_a),
        )
        .await
        .expect("apply store role binding");
    ensure_created(&namespaces, &plain_namespace(OTHER_TENANT_NS, None)).await;
    // A leftover from an earlier run against a reused cluster must be gone first.
    let deadline = Instant::now() + Duration::from_secs(90);
    while namespaces.get_opt(STORE_NS_2).await.expect("get").is_some() {
        let _ = namespaces
            .delete(STORE_NS_2, &DeleteParams::default())
            .await;
        assert!(
            Instant::now() < deadline,
            "{STORE_NS_2} left over and not going away"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // 3. SubjectAccessReview matrix. RBAC's caches fill asynchronously too.
    let rows = matrix();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !can_i(&admin, &user, &groups, &rows[0]).await.0 {
        assert!(
            Instant::now() < deadline,
            "the store RoleBinding never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("\nSubjectAccessReview for {user}\n  groups {groups:?}\n");
    let mut wrong = review_table(&admin, &user, &groups, &rows).await;

    // The API's ServiceAccount has no binding at all (and its pods mount no token).
    let api_sa = docs
        .iter()
        .filter(|d| str_at(d, "/kind") == "ServiceAccount")
        .map(|d| str_at(d, "/metadata/name"))
        .find(|name| *name != sa_name)
        .expect("the API's ServiceAccount");
    let api_user = format!("system:serviceaccount:{sa_ns}:{api_sa}");
    println!("\nSubjectAccessReview for {api_user} (same groups)\n");
    let api_rows = [
        row("list", "", "namespaces", None, false),
        row("create", "", "namespaces", None, false),
        row("get", "", "secrets", Some(PLATFORM_NS), false),
        row("list", "", "pods", Some(PLATFORM_NS), false),
        row("get", "", "secrets", Some(STORE_NS), false),
        row(
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            Some(STORE_NS),
            false,
        ),
    ];
    wrong.extend(review_table(&admin, &api_user, &groups, &api_rows).await);
    assert!(
        wrong.is_empty(),
        "RBAC matrix mismatches:\n{}",
        wrong.join("\n")
    );

    // 4. As the orchestrator itself (impersonated): what RBAC allows, admission must refuse.
    println!("\nAs {user} (impersonated):\n");
    let mut attempts = Vec::new();
    attempts.push(Attempt::new(
        "create RoleBinding of ClusterRole storefleet-store-admin in kube-system",
        Expect::Policy(rb_policy),
        kube_system_rolebindings
            .create(&PostParams::default(), &kube_system_binding)
            .await,
    ));
    let default_binding = build::role_binding(&store("intruder", "default"), &settings);
    attempts.push(Attempt::new(
        "create RoleBinding of ClusterRole storefleet-store-admin in default",
        Expect::Policy(rb_policy),
        Api::<RoleBinding>::namespaced(orchestrator.clone(), "default")
            .create(&PostParams::default(), &default_binding)
            .await,
    ));
    let tenant_binding = build::role_binding(&store("intruder", OTHER_TENANT_NS), &settings);
    attempts.push(Attempt::new(
        format!("server-side apply RoleBinding of storefleet-store-admin in {OTHER_TENANT_NS}"),
        Expect::Policy(rb_policy),
        Api::<RoleBinding>::namespaced(orchestrator.clone(), OTHER_TENANT_NS)
            .patch(
                "storefleet-orchestrator",
                &apply_params,
                &Patch::Apply(&tenant_binding),
            )
            .await,
    ));
    // `default`, `kube-system` and `kube-public` are immortal: the NamespaceLifecycle
    // admission plugin refuses their deletion for everyone, before any policy runs.
    attempts.push(Attempt::new(
        "delete namespace default",
        Expect::RefusedBy(
            "the NamespaceLifecycle admission plugin (immortal namespace)",
            "this namespace may not be deleted",
        ),
        orchestrator_namespaces
            .delete("default", &DeleteParams::default())
            .await,
    ));
    // Any other namespace it did not create is the policy's to protect.
    attempts.push(Attempt::new(
        "delete namespace kube-node-lease",
        Expect::Policy(ns_policy),
        orchestrator_namespaces
            .delete("kube-node-lease", &DeleteParams::default())
            .await,
    ));
    attempts.push(Attempt::new(
        format!("delete namespace {OTHER_TENANT_NS} (another tenant's)"),
        Expect::Policy(ns_policy),
        orchestrator_namespaces
            .delete(OTHER_TENANT_NS, &DeleteParams::default())
            .await,
    ));
    attempts.push(Attempt::new(
        format!("create unlabelled namespace {UNLABELLED_NS}"),
        Expect::Policy(ns_policy),
        orchestrator_namespaces
            .create(
                &PostParams::default(),
                &plain_namespace(UNLABELLED_NS, None),
            )
            .await,
    ));
    let managed_label = serde_json::json!({
        "metadata": {"labels": {MANAGED_BY.0: MANAGED_BY.1}}
    });
    attempts.push(Attempt::new(
        format!(
            "adopt {OTHER_TENANT_NS} by adding {}={}",
            MANAGED_BY.0, MANAGED_BY.1
        ),
        Expect::Policy(ns_policy),
        orchestrator_namespaces
            .patch(
                OTHER_TENANT_NS,
                &PatchParams::default(),
                &Patch::Merge(&managed_label),
            )
            .await,
    ));
    attempts.push(Attempt::new(
        format!("adopt default by adding {}={}", MANAGED_BY.0, MANAGED_BY.1),
        Expect::Policy(ns_policy),
        orchestrator_namespaces
            .patch(
                "default",
                &PatchParams::default(),
                &Patch::Merge(&managed_label),
            )
            .await,
    ));
    let drop_label = serde_json::json!({"metadata": {"labels": {MANAGED_BY.0: null}}});
    attempts.push(Attempt::new(
        format!("remove {} from {STORE_NS}", MANAGED_BY.0),
        Expect::Policy(ns_policy),
        orchestrator_namespaces
            .patch(
                STORE_NS,
                &PatchParams::default(),
                &Patch::Merge(&drop_label),
            )
            .await,
    ));
    let store_rolebindings: Api<RoleBinding> = Api::namespaced(orchestrator.clone(), STORE_NS);
    let mut to_someone_else = build::role_binding(&store_a, &settings);
    to_someone_else.metadata.name = Some("hand-over".to_owned());
    to_someone_else.subjects = Some(vec![Subject {
        kind: "User".to_owned(),
        name: "mallory".to_owned(),
        api_group: Some("rbac.authorization.k8s.io".to_owned()),
        ..Subject::default()
    }]);
    attempts.push(Attempt::new(
        format!("bind storefleet-store-admin to User mallory in {STORE_NS}"),
        Expect::Policy(rb_policy),
        store_rolebindings
            .create(&PostParams::default(), &to_someone_else)
            .await,
    ));
    let mut cluster_admin = build::role_binding(&store_a, &settings);
    cluster_admin.metadata.name = Some("take-over".to_owned());
    cluster_admin.role_ref = RoleRef {
        api_group: "rbac.authorization.k8s.io".to_owned(),
        kind: "ClusterRole".to_owned(),
        name: "cluster-admin".to_owned(),
    };
    attempts.push(Attempt::new(
        format!("bind ClusterRole cluster-admin to itself in {STORE_NS}"),
        Expect::RefusedBy(
            "RBAC's escalation check",
            "is attempting to grant RBAC permissions not currently held",
        ),
        store_rolebindings
            .create(&PostParams::default(), &cluster_admin)
            .await,
    ));
    attempts.push(Attempt::new(
        "list secrets in kube-system",
        Expect::RefusedBy("RBAC", "cannot list resource \"secrets\""),
        Api::<Secret>::namespaced(orchestrator.clone(), "kube-system")
            .list(&ListParams::default())
            .await,
    ));

    // What the orchestrator must still be able to do: its own driver, as that account.
    let driver = KubeDriver::new(
        orchestrator.clone(),
        settings.clone(),
        Helm::new(helm.clone(), repo_root().join("charts"), None, 1),
    );
    let store_b = store("rbac-b", STORE_NS_2);
    attempts.push(Attempt::from_driver(
        format!("KubeDriver::ensure_namespace: server-side apply labelled namespace {STORE_NS_2}"),
        driver.ensure_namespace(&store_b).await,
    ));
    // The RoleBinding goes first and grants the rest; RBAC's cache may take a moment to
    // see it, which the orchestrator rides out by retrying the step.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tries = 0;
    let guardrails = loop {
        tries += 1;
        let result = driver.apply_guardrails(&store_b).await;
        if result.is_ok() || Instant::now() > deadline {
            break result;
        }
        println!(
            "       (apply_guardrails try {tries}: {})",
            result.unwrap_err()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    attempts.push(Attempt::from_driver(
        format!(
            "KubeDriver::apply_guardrails in {STORE_NS_2}: RoleBinding of storefleet-store-admin, \
             ResourceQuota, LimitRange, NetworkPolicies, credentials Secret \
             (attempts: {tries})"
        ),
        guardrails,
    ));
    attempts.push(Attempt::from_driver(
        format!(
            "KubeDriver::workloads and jobs in {STORE_NS_2} (list deployments, statefulsets, jobs)"
        ),
        match driver.workloads(&store_b).await {
            Ok(_) => driver.jobs(&store_b).await.map(|_| ()),
            Err(e) => Err(e),
        },
    ));
    attempts.push(Attempt::from_driver(
        "KubeDriver::managed_namespaces (list namespaces by label)",
        driver.managed_namespaces().await.map(|found| {
            assert!(found.iter().any(|n| n.name == STORE_NS_2), "{found:?}");
        }),
    ));
    attempts.push(Attempt::new(
        format!("create a Secret in {STORE_NS} (through the per-store RoleBinding)"),
        Expect::Allowed,
        Api::<Secret>::namespaced(orchestrator.clone(), STORE_NS)
            .create(
                &PostParams::default(),
                &Secret {
                    metadata: ObjectMeta {
                        name: Some("rbac-probe".to_owned()),
                        ..ObjectMeta::default()
                    },
                    ..Secret::default()
                },
            )
            .await,
    ));
    fence_attempts(&cluster.kubeconfig, &admin, &mut attempts).await;
    attempts.push(Attempt::from_driver(
        format!("KubeDriver::delete_namespace {STORE_NS_2}"),
        driver.delete_namespace(STORE_NS_2).await,
    ));
    // The namespace controller empties it despite the isolation policy.
    if cluster.deletes_namespaces {
        let deadline = Instant::now() + Duration::from_secs(60);
        while namespaces.get_opt(STORE_NS_2).await.expect("get").is_some() {
            assert!(
                Instant::now() < deadline,
                "{STORE_NS_2} was not removed within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let gone_or_terminating = namespaces
        .get_opt(STORE_NS_2)
        .await
        .expect("get")
        .is_none_or(|ns| ns.metadata.deletion_timestamp.is_some());
    assert!(gone_or_terminating, "{STORE_NS_2} is not being deleted");

    // Nothing the refused requests aimed at changed.
    for name in ["default", "kube-node-lease", OTHER_TENANT_NS] {
        let ns = namespaces.get(name).await.expect("namespace still there");
        assert!(
            ns.metadata.deletion_timestamp.is_none(),
            "{name} is terminating"
        );
    }
    let tenant = namespaces.get(OTHER_TENANT_NS).await.expect("tenant");
    assert!(
        !tenant
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key(MANAGED_BY.0),
        "{OTHER_TENANT_NS} was adopted"
    );
    assert!(namespaces
        .get_opt(UNLABELLED_NS)
        .await
        .expect("get")
        .is_none());

    let failed: Vec<_> = attempts
        .iter()
        .filter(|a| !a.passed())
        .map(|a| a.what.clone())
        .collect();
    println!(
        "\n{} matrix rows, {} impersonated attempts, {:.1} s",
        rows.len(),
        attempts.len(),
        started.elapsed().as_secs_f64()
    );
    // Leave a reused cluster as it was found (a throw-away control plane just goes away).
    for name in [STORE_NS, OTHER_TENANT_NS] {
        let _ = namespaces.delete(name, &DeleteParams::default()).await;
    }
    assert!(
        failed.is_empty(),
        "attempts with the wrong answer:\n{}",
        failed.join("\n")
    );
}
