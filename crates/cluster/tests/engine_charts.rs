//! The engine charts, rendered by the real helm for every plan: lint clean, every object parses
//! into its k8s-openapi type, and the sum of all containers' requests and limits (setup Job
//! included) fits the plan's ResourceQuota, so the quota never blocks its own store.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, PodSpec, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use std::path::{Path, PathBuf};
use std::process::Command;
use storefleet_domain::secrets::{key, CREDENTIALS_SECRET, CREDENTIAL_KEYS, ENGINE_OUTPUTS_SECRET};
use storefleet_domain::{Engine, Plan};

fn chart(engine: Engine) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../charts")
        .join(engine.as_str())
}

/// The values the orchestrator writes, for a sample store on `plan`.
fn values_file(plan: Plan, dir: &Path) -> PathBuf {
    let values = serde_json::json!({
        "store": {"id": "01930000-0000-7000-8000-0000c0ffee01", "name": "demo-shop"},
        "plan": plan.as_str(),
        "ingress": {"enabled": true, "host": "demo-shop.127.0.0.1.nip.io", "className": "", "tlsIssuer": ""},
        "credentials": {"secretName": CREDENTIALS_SECRET},
    });
    let path = dir.join(format!("values-{plan}.json"));
    std::fs::write(&path, values.to_string()).expect("values");
    path
}

/// CPU in millicores, memory in bytes, from a Kubernetes quantity.
fn quantity(q: &str) -> f64 {
    let units = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("m", 1e-3),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().expect("number") * factor;
        }
    }
    q.parse().expect("number")
}

#[derive(Default, Debug)]
struct Totals {
    requests_cpu: f64,
    requests_memory: f64,
    limits_cpu: f64,
    limits_memory: f64,
    storage: f64,
    pvcs: usize,
    pods: usize,
}

impl Totals {
    fn add_pod(&mut self, spec: &PodSpec, replicas: i32) {
        let n = f64::from(replicas);
        self.pods += usize::try_from(replicas).unwrap_or(0);
        // Init containers run before the main ones; quota charges the larger of the two.
        let sum =
            |containers: &[k8s_openapi::api::core::v1::Container], kind: &str, res: &str| -> f64 {
                containers
                    .iter()
                    .map(|c| {
                        let r = c
                            .resources
                            .as_ref()
                            .unwrap_or_else(|| panic!("container {} has no resources", c.name));
                        let map = if kind == "requests" {
                            r.requests.as_ref()
                        } else {
                            r.limits.as_ref()
                        };
                        let v = map
                            .and_then(|m| m.get(res))
                            .unwrap_or_else(|| panic!("container {} has no {kind}.{res}", c.name));
                        quantity(&v.0)
                    })
                    .sum()
            };
        let init = spec.init_containers.clone().unwrap_or_default();
        let max_init = |kind: &str, res: &str| {
            init.iter()
                .map(|c| sum(std::slice::from_ref(c), kind, res))
                .fold(0.0, f64::max)
        };
        let pick =
            |kind: &str, res: &str| sum(&spec.containers, kind, res).max(max_init(kind, res)) * n;
        self.requests_cpu += pick("requests", "cpu");
        self.requests_memory += pick("requests", "memory");
        self.limits_cpu += pick("limits", "cpu");
        self.limits_memory += pick("limits", "memory");
    }

    fn add_claim(&mut self, pvc: &PersistentVolumeClaim, replicas: i32) {
        let storage = pvc
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .expect("pvc requests")["storage"]
            .0
            .clone();
        self.storage += quantity(&storage) * f64::from(replicas);
        self.pvcs += usize::try_from(replicas).unwrap_or(0);
    }
}

fn render(helm: &Path, engine: Engine, plan: Plan, dir: &Path) -> String {
    let values = values_file(plan, dir);
    let lint = Command::new(helm)
        .arg("lint")
        .arg(chart(engine))
        .arg("--strict")
        .arg("-f")
        .arg(&values)
        .output()
        .expect("helm lint");
    assert!(
        lint.status.success(),
        "helm lint {engine} {plan}: {}",
        String::from_utf8_lossy(&lint.stdout)
    );
    let out = Command::new(helm)
        .args(["template", "store"])
        .arg(chart(engine))
        .args(["--namespace", "store-demo-shop-ffee01", "-f"])
        .arg(&values)
        .output()
        .expect("helm template");
    assert!(
        out.status.success(),
        "helm template {engine} {plan}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn totals(rendered: &str) -> Totals {
    let mut totals = Totals::default();
    for doc in serde_yaml_ng::Deserializer::from_str(rendered) {
        let value = serde_yaml_ng::Value::deserialize(doc).expect("yaml");
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().expect("kind").to_owned();
        let parse = |what: &str| -> Box<dyn std::any::Any> {
            let v = value.clone();
            match what {
                "Deployment" => Box::new(serde_yaml_ng::from_value::<Deployment>(v).expect("Deployment")),
                "StatefulSet" => Box::new(serde_yaml_ng::from_value::<StatefulSet>(v).expect("StatefulSet")),
                "Job" => Box::new(serde_yaml_ng::from_value::<Job>(v).expect("Job")),
                "Service" => Box::new(serde_yaml_ng::from_value::<Service>(v).expect("Service")),
                "Ingress" => Box::new(serde_yaml_ng::from_value::<Ingress>(v).expect("Ingress")),
                "ConfigMap" => Box::new(serde_yaml_ng::from_value::<ConfigMap>(v).expect("ConfigMap")),
                "Secret" => Box::new(serde_yaml_ng::from_value::<Secret>(v).expect("Secret")),
                "PersistentVolumeClaim" => Box::new(serde_yaml_ng::from_value::<PersistentVolumeClaim>(v).expect("PVC")),
                "ServiceAccount" => Box::new(serde_yaml_ng::from_value::<ServiceAccount>(v).expect("ServiceAccount")),
                "Role" => Box::new(serde_yaml_ng::from_value::<Role>(v).expect("Role")),
                "RoleBinding" => Box::new(serde_yaml_ng::from_value::<RoleBinding>(v).expect("RoleBinding")),
                // Every kind above is namespaced and lives in the store's namespace: deleting
                // the namespace removes the whole release, which is why deleting a store runs
                // no `helm uninstall`. A cluster-scoped kind here would change that.
                other => panic!("the chart renders a {other}, which the store-admin role and this test do not know"),
            }
        };
        let object = parse(&kind);
        if let Some(d) = object.downcast_ref::<Deployment>() {
            let spec = d.spec.as_ref().expect("spec");
            totals.add_pod(
                spec.template.spec.as_ref().expect("pod"),
                spec.replicas.unwrap_or(1),
            );
        } else if let Some(s) = object.downcast_ref::<StatefulSet>() {
            let spec = s.spec.as_ref().expect("spec");
            let replicas = spec.replicas.unwrap_or(1);
            totals.add_pod(spec.template.spec.as_ref().expect("pod"), replicas);
            for claim in spec.volume_claim_templates.iter().flatten() {
                totals.add_claim(claim, replicas);
            }
        } else if let Some(j) = object.downcast_ref::<Job>() {
            totals.add_pod(
                j.spec
                    .as_ref()
                    .expect("spec")
                    .template
                    .spec
                    .as_ref()
                    .expect("pod"),
                1,
            );
        } else if let Some(pvc) = object.downcast_ref::<PersistentVolumeClaim>() {
            totals.add_claim(pvc, 1);
        }
    }
    totals
}

use serde::Deserialize as _;

#[test]
fn engine_charts_lint_render_to_typed_objects_and_fit_their_plan_s_quota() {
    let Some(helm) = storefleet_testkit::helm_binary() else {
        return storefleet_testkit::skip("no helm binary (PATH or STOREFLEET_TEST_HELM)");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for engine in Engine::ALL {
        for plan in Plan::ALL {
            let t = totals(&render(&helm, engine, plan, dir.path()));
            let quota = plan.limits();
            println!(
                "{engine:<12} {plan:<7} requests {:.0}m/{:.0}Mi  limits {:.0}m/{:.0}Mi  storage {:.0}Gi in {} PVCs  {} pods  (quota requests {}/{} limits {}/{})",
                t.requests_cpu * 1000.0, t.requests_memory / 1048576.0, t.limits_cpu * 1000.0, t.limits_memory / 1048576.0,
                t.storage / 1073741824.0, t.pvcs, t.pods, quota.requests_cpu, quota.requests_memory, quota.limits_cpu, quota.limits_memory
            );
            let fits = |what: &str, used: f64, hard: &str| {
                assert!(
                    used <= quantity(hard) + 1e-9,
                    "{engine} {plan}: {what} {used} exceeds the quota {hard}"
                )
            };
            fits("requests.cpu", t.requests_cpu, quota.requests_cpu);
            fits("requests.memory", t.requests_memory, quota.requests_memory);
            fits("limits.cpu", t.limits_cpu, quota.limits_cpu);
            fits("limits.memory", t.limits_memory, quota.limits_memory);
            fits("requests.storage", t.storage, quota.requests_storage);
            fits(
                "persistentvolumeclaims",
                t.pvcs as f64,
                quota.persistent_volume_claims,
            );
            fits("pods", t.pods as f64, quota.pods);
            if plan == Plan::Small {
                // The targets for a small store.
                let (cpu, memory) = match engine {
                    Engine::Woocommerce => (0.5, 1024.0 * 1048576.0),
                    Engine::Medusa => (1.0, 1536.0 * 1048576.0),
                };
                assert!(
                    t.requests_cpu <= cpu && t.requests_memory <= memory,
                    "{engine} small requests exceed the target"
                );
            }
        }
    }
}

#[test]
fn quantities_parse_like_kubernetes() {
    assert_eq!(quantity("500m"), 0.5);
    assert_eq!(quantity("2"), 2.0);
    assert_eq!(quantity("1Gi"), 1073741824.0);
    assert_eq!(quantity("64Mi"), 67108864.0);
}

/// The API group and plural resource of a kind the engine charts render.
fn resource_of(api_version: &str, kind: &str) -> (String, String) {
    let group = api_version
        .rsplit_once('/')
        .map_or("", |(g, _)| g)
        .to_owned();
    let plural = match kind {
        "Ingress" => "ingresses".to_owned(),
        "NetworkPolicy" => "networkpolicies".to_owned(),
        other => format!("{}s", other.to_lowercase()),
    };
    (group, plural)
}

#[test]
fn the_store_deployer_may_create_every_kind_an_engine_renders_and_web_pods_serve_the_web_port() {
    let Some(helm) = storefleet_testkit::helm_binary() else {
        return storefleet_testkit::skip("no helm binary (PATH or STOREFLEET_TEST_HELM)");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let store = storefleet_domain::fixtures::StoreBuilder::new("demo-shop").build();
    let rules = storefleet_cluster::build::deployer_role(&store)
        .rules
        .expect("rules");
    for engine in Engine::ALL {
        let rendered = render(&helm, engine, Plan::Small, dir.path());
        let mut web_ports = Vec::new();
        for doc in serde_yaml_ng::Deserializer::from_str(&rendered) {
            let value = serde_json::Value::deserialize(doc).expect("yaml");
            if !value.is_object() {
                continue;
            }
            let kind = value["kind"].as_str().expect("kind");
            let (group, resource) =
                resource_of(value["apiVersion"].as_str().expect("apiVersion"), kind);
            let allowed = rules.iter().any(|r| {
                r.api_groups.iter().flatten().any(|g| *g == group)
                    && r.resources.iter().flatten().any(|res| *res == resource)
                    && ["create", "patch", "update", "delete", "get"]
                        .iter()
                        .all(|v| r.verbs.iter().any(|have| have == v))
            });
            assert!(
                allowed,
                "{engine}: the store deployer may not manage {kind} ({group}/{resource})"
            );
            let containers = value
                .pointer("/spec/template/spec/containers")
                .and_then(|c| c.as_array())
                .cloned()
                .unwrap_or_default();
            for container in containers {
                for port in container["ports"].as_array().cloned().unwrap_or_default() {
                    if port["name"] == "http" {
                        web_ports.push(port["containerPort"].as_u64().expect("port"));
                    }
                }
            }
        }
        web_ports.dedup();
        assert_eq!(
            web_ports,
            vec![u64::from(storefleet_cluster::web_port(engine))],
            "{engine}: the web pods' `http` port is the one store NetworkPolicies open"
        );
    }
}

/// Every `secretKeyRef` under `value`, as (Secret name, key).
fn secret_key_refs(value: &serde_json::Value, found: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(r) = map.get("secretKeyRef") {
                found.push((
                    r["name"].as_str().expect("secretKeyRef name").to_owned(),
                    r["key"].as_str().expect("secretKeyRef key").to_owned(),
                ));
            }
            map.values().for_each(|v| secret_key_refs(v, found));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| secret_key_refs(v, found)),
        _ => {}
    }
}

#[test]
fn the_engine_charts_read_exactly_the_secret_keys_the_orchestrator_writes() {
    let Some(helm) = storefleet_testkit::helm_binary() else {
        return storefleet_testkit::skip("no helm binary (PATH or STOREFLEET_TEST_HELM)");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut used = std::collections::BTreeSet::new();
    for engine in Engine::ALL {
        let rendered = render(&helm, engine, Plan::Small, dir.path());
        let mut refs = Vec::new();
        let mut secrets = Vec::new();
        for doc in serde_yaml_ng::Deserializer::from_str(&rendered) {
            let value = serde_json::Value::deserialize(doc).expect("yaml");
            if !value.is_object() {
                continue;
            }
            if value["kind"] == "Secret" {
                secrets.push(value["metadata"]["name"].as_str().expect("name").to_owned());
            }
            secret_key_refs(&value, &mut refs);
        }
        assert!(!refs.is_empty(), "{engine}: the chart reads no Secret key");
        for (secret, key) in refs {
            assert_eq!(
                secret, CREDENTIALS_SECRET,
                "{engine}: a pod reads Secret {secret}"
            );
            assert!(
                CREDENTIAL_KEYS.contains(&key.as_str()),
                "{engine}: a pod reads key {key}, which the orchestrator does not write"
            );
            used.insert(key);
        }
        if engine == Engine::Medusa {
            // The setup Job fills the outputs Secret the chart makes; the order check reads it.
            assert_eq!(secrets, vec![ENGINE_OUTPUTS_SECRET.to_owned()], "{engine}");
            let seed = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../images/medusa/src/scripts/seed.ts"),
            )
            .expect("the Medusa seed script");
            assert!(
                seed.contains(&format!("\"{}\":", key::PUBLISHABLE_KEY)),
                "the Medusa seed script writes no {} key",
                key::PUBLISHABLE_KEY
            );
        }
    }
    // No key is written that no engine reads.
    assert_eq!(
        used,
        CREDENTIAL_KEYS.iter().map(|k| k.to_string()).collect(),
        "the keys the engines read, together"
    );
}
