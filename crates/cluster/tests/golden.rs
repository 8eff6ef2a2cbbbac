//! Golden tests: the guardrail objects of a fixed store, as YAML, compared with committed files.
//! `STOREFLEET_UPDATE_GOLDEN=1 cargo test -p storefleet-cluster --test golden` rewrites them.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use storefleet_cluster::build::{self, Credentials};
use storefleet_cluster::ClusterSettings;
use storefleet_domain::fixtures::StoreBuilder;
use storefleet_domain::{Phase, Plan, Store};

fn store(plan: Plan) -> Store {
    let id = uuid::Uuid::parse_str("01930000-0000-7000-8000-0000c0ffee01").expect("uuid");
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
        secret.string_data.expect("data")["admin-password"],
        a.admin_password
    );
}
