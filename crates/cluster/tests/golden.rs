//! Golden tests: the guardrail objects of a fixed store, as YAML, compared with committed files.
//! `STOREFLEET_UPDATE_GOLDEN=1 cargo test -p storefleet-cluster --test golden` rewrites them.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use storefleet_cluster::build::{self, Credentials};
use storefleet_cluster::{web_port, ClusterSettings};
use storefleet_domain::fixtures::StoreBuilder;
use storefleet_domain::secrets::key;
use storefleet_domain::{Engine, Phase, Plan, Store};

fn store(plan: Plan) -> Store {
    let id = storefleet_domain::StoreId::parse_str("01930000-0000-7000-8000-0000c0ffee01")
        .expect("uuid");
    StoreBuilder::new("demo-shop")
        .id(id)
        .owner("alice")
        .plan(plan)
        .phase(Phase::Provisioning)
        .touched_cluster()
        .build()
}

fn render(plan: Plan) -> String {
    let store = store(plan);
    let settings = ClusterSettings::default();
    let mut docs = vec![
        serde_yaml_ng::to_string(&build::namespace(&store, &settings)),
        serde_yaml_ng::to_string(&build::role_binding(&store, &settings)),
        serde_yaml_ng::to_string(&build::deployer_role(&store)),
        serde_yaml_ng::to_string(&build::deployer_role_binding(&store, &settings)),
        serde_yaml_ng::to_string(&build::resource_quota(&store)),
        serde_yaml_ng::to_string(&build::limit_range(&store)),
    ];
    for policy in build::network_policies(&store, &settings) {
        docs.push(serde_yaml_ng::to_string(&policy));
    }
    docs.push(serde_yaml_ng::to_string(&build::helm_values(
        &store, &settings,
    )));
    docs.into_iter()
        .map(|d| d.expect("yaml"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn check(plan: Plan) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{plan}.yaml"));
    let rendered = render(plan);
    if std::env::var("STOREFLEET_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &rendered).expect("write golden");
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        golden == rendered,
        "{} differs from the built objects:\n{rendered}",
        path.display()
    );
}

#[test]
fn small_plan_guardrails_match_the_golden_file() {
    check(Plan::Small);
}

#[test]
fn medium_plan_guardrails_match_the_golden_file() {
    check(Plan::Medium);
}

#[test]
fn the_namespace_carries_the_labels_admission_policies_key_on() {
    let ns = build::namespace(&store(Plan::Small), &ClusterSettings::default());
    let labels = ns.metadata.labels.expect("labels");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "storefleet");
    assert_eq!(
        labels["storefleet.io/store-id"],
        "01930000-0000-7000-8000-0000c0ffee01"
    );
    assert_eq!(labels["storefleet.io/owner"], "alice");
    assert_eq!(ns.metadata.name.as_deref(), Some("store-demo-shop-ffee01"));
    assert!(
        !labels.contains_key("storefleet.io/installation"),
        "no id known, none written"
    );
}

#[test]
fn the_namespace_carries_its_installation_id_for_the_sweep() {
    let settings = ClusterSettings {
        installation: "3f1c0d9e8a7b6c5d4e3f2a1b0c9d8e7f".to_owned(),
        ..ClusterSettings::default()
    };
    let ns = build::namespace(&store(Plan::Small), &settings);
    let labels = ns.metadata.labels.expect("labels");
    assert_eq!(
        labels["storefleet.io/installation"],
        "3f1c0d9e8a7b6c5d4e3f2a1b0c9d8e7f"
    );
}

#[test]
fn egress_to_private_ranges_and_metadata_is_not_allowed() {
    let policies = build::network_policies(&store(Plan::Small), &ClusterSettings::default());
    let allow = serde_json::to_value(&policies[1]).expect("json");
    let except = &allow["spec"]["egress"][2]["to"][0]["ipBlock"]["except"];
    for range in ["10.0.0.0/8", "169.254.0.0/16", "192.168.0.0/16"] {
        assert!(
            except
                .as_array()
                .expect("except")
                .iter()
                .any(|r| r == range),
            "{range} must be excluded"
        );
    }
    let deny = serde_json::to_value(&policies[0]).expect("json");
    assert_eq!(
        deny["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert!(deny["spec"].get("ingress").is_none() && deny["spec"].get("egress").is_none());
}

/// The peers of every ipBlock in every egress rule of `policies`.
fn ip_blocks(policies: &[NetworkPolicy]) -> Vec<(String, Vec<String>)> {
    policies
        .iter()
        .flat_map(|p| p.spec.iter().flat_map(|s| s.egress.iter().flatten()))
        .flat_map(|rule| rule.to.iter().flatten())
        .filter_map(|peer| peer.ip_block.as_ref())
        .map(|b| (b.cidr.clone(), b.except.clone().unwrap_or_default()))
        .collect()
}

fn net(cidr: &str) -> ipnet::IpNet {
    cidr.parse().expect("cidr")
}

#[test]
fn no_egress_rule_reaches_a_cloud_metadata_address() {
    let v6_metadata = ["fd00:ec2::254/128", "fd00:ec2::23/128", "fd20:ce::254/128"];
    for kube_api_cidrs in [
        vec![],
        vec!["0.0.0.0/0".to_owned()],
        vec!["10.43.0.1/32".to_owned(), "192.168.5.2/32".to_owned()],
    ] {
        let settings = ClusterSettings {
            kube_api_cidrs: kube_api_cidrs.clone(),
            ..ClusterSettings::default()
        };
        for engine in Engine::ALL {
            let store = StoreBuilder::new("demo-shop").engine(engine).build();
            let blocks = ip_blocks(&build::network_policies(&store, &settings));
            assert!(!blocks.is_empty());
            let addresses = build::CLOUD_METADATA.iter().copied().chain(v6_metadata);
            for metadata in addresses.map(net) {
                for (cidr, except) in &blocks {
                    if !net(cidr).contains(&metadata) {
                        continue;
                    }
                    assert!(
                        except.iter().any(|e| net(e).contains(&metadata)),
                        "{metadata} reachable through {cidr} (except {except:?}), API ranges {kube_api_cidrs:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn only_the_ingress_controller_and_the_orchestrator_reach_a_store_and_only_its_web_port() {
    let settings = ClusterSettings::default();
    for engine in Engine::ALL {
        let store = StoreBuilder::new("demo-shop").engine(engine).build();
        let policies = build::network_policies(&store, &settings);
        let allow = policies[1].spec.as_ref().expect("spec");
        let rules = allow.ingress.as_ref().expect("ingress rules");
        for rule in rules {
            let peers = rule.from.as_ref().expect("from");
            let same_namespace = peers.len() == 1
                && peers[0].namespace_selector.is_none()
                && peers[0].ip_block.is_none();
            if same_namespace {
                continue;
            }
            let ports: Vec<_> = rule
                .ports
                .iter()
                .flatten()
                .map(|p| p.port.clone())
                .collect();
            assert_eq!(
                ports,
                vec![Some(IntOrString::Int(i32::from(web_port(engine))))],
                "{engine}: outside peers reach only the web port"
            );
            for peer in peers {
                assert!(
                    peer.ip_block.is_none(),
                    "{engine}: no address range gets in"
                );
                let namespaces = peer.namespace_selector.as_ref().expect("a namespace");
                assert!(
                    namespaces
                        .match_expressions
                        .iter()
                        .flatten()
                        .all(|e| e.values.as_ref().is_some_and(|v| v.len() == 1)),
                    "{engine}: one namespace per peer"
                );
                let pods = peer
                    .pod_selector
                    .as_ref()
                    .and_then(|p| p.match_labels.as_ref());
                assert!(
                    pods.is_some_and(|labels| !labels.is_empty()),
                    "{engine}: a whole namespace is let in: {peer:?}"
                );
            }
            assert_eq!(
                peers.len(),
                settings.ingress_from.len() + 1,
                "ingress controllers and the orchestrator"
            );
        }
    }
}

#[test]
fn the_kube_api_rule_names_the_api_server_s_addresses_when_known() {
    let settings = ClusterSettings {
        kube_api_cidrs: vec!["10.43.0.1/32".to_owned(), "192.168.5.2/32".to_owned()],
        ..ClusterSettings::default()
    };
    let policies = build::network_policies(&store(Plan::Small), &settings);
    let blocks = ip_blocks(&policies[2..]);
    assert_eq!(
        blocks,
        vec![
            ("10.43.0.1/32".to_owned(), vec![]),
            ("192.168.5.2/32".to_owned(), vec![])
        ]
    );
}

#[test]
fn the_deployer_may_not_touch_the_isolation_objects() {
    let role = build::deployer_role(&store(Plan::Small));
    for rule in role.rules.expect("rules") {
        for resource in rule.resources.expect("resources") {
            assert!(
                ![
                    "networkpolicies",
                    "resourcequotas",
                    "limitranges",
                    "pods",
                    "*"
                ]
                .contains(&resource.as_str()),
                "the deployer may write {resource}"
            );
        }
        assert!(!rule
            .verbs
            .iter()
            .any(|v| ["*", "escalate", "bind", "impersonate"].contains(&v.as_str())));
    }
}

#[test]
fn generated_credentials_are_random_and_never_printed() {
    let s = store(Plan::Small);
    let a = Credentials::generate(&s);
    let b = Credentials::generate(&s);
    assert_ne!(a.admin_password, b.admin_password);
    assert_eq!(a.admin_password.len(), 24);
    assert!(!format!("{a:?}").contains(&a.admin_password));
    let secret = build::credentials_secret(&s, &a);
    assert_eq!(
        secret.string_data.expect("data")[key::ADMIN_PASSWORD],
        a.admin_password
    );
}
