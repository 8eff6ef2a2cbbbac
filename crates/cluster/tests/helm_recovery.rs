//! A Helm release left in `pending-install` by a process that died is detected and recovered,
//! on a real API server with the real helm. The stuck state is made the way a killed helm leaves
//! it: the release record in its Secret says `pending-install`, with an old timestamp. And a
//! release helm itself recorded as `failed` (an admission policy refused its Deployment) installs
//! once the cause is gone.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use base64::Engine as _;
use chrono::Utc;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, ListParams, PostParams};
use std::io::{Read, Write};
use std::path::PathBuf;
use storefleet_cluster::helm::Helm;
use storefleet_cluster::kube_driver::KubeDriver;
use storefleet_cluster::{ClusterDriver, ClusterSettings};
use storefleet_domain::fixtures::StoreBuilder;
use storefleet_domain::secrets::CREDENTIALS_SECRET;
use storefleet_domain::{Phase, Store};
use storefleet_testkit::rig::{cluster_rig_or_skip, ClusterRig};

fn store() -> Store {
    StoreBuilder::new("stuck")
        .phase(Phase::Provisioning)
        .times(Utc::now())
        .touched_cluster()
        .build()
}

/// Helm keeps a release as base64(gzip(JSON)) in the Secret's `release` key.
fn decode(secret: &Secret) -> serde_json::Value {
    let raw = &secret.data.as_ref().expect("data")["release"].0;
    let gz = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .expect("base64");
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .expect("gzip");
    serde_json::from_str(&json).expect("json")
}

fn encode(release: &serde_json::Value) -> ByteString {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(release.to_string().as_bytes()).expect("gzip");
    ByteString(
        base64::engine::general_purpose::STANDARD
            .encode(gz.finish().expect("gzip"))
            .into_bytes(),
    )
}

/// A store namespace with its guardrails on the test cluster, and the driver and helm to work
/// on it (the rig keeps the cluster's kubelet stand-in running); `None` (after saying why)
/// without an API server or helm.
async fn namespace_with_guardrails() -> Option<(ClusterRig, Helm, KubeDriver, Store)> {
    let rig = cluster_rig_or_skip(std::time::Duration::from_millis(300)).await?;
    let helm = Helm::new(
        rig.helm.clone(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../orchestrator/tests/charts"),
        Some(rig.cluster.kubeconfig.clone()),
        2,
    );
    let client = rig.client.clone();
    let driver = KubeDriver::new(client.clone(), ClusterSettings::default(), helm.clone());
    let store = store();
    driver.ensure_namespace(&store).await.expect("namespace");
    driver.apply_guardrails(&store).await.expect("guardrails");
    Some((rig, helm, driver, store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_stuck_in_pending_install_is_recovered() {
    let Some((rig, helm, driver, store)) = namespace_with_guardrails().await else {
        return;
    };
    let client = rig.client.clone();
    driver.install_release(&store).await.expect("first install");

    // Turn revision 1 into what a helm killed mid-install leaves behind.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &store.namespace);
    let releases = secrets
        .list(&ListParams::default().labels("owner=helm,name=store"))
        .await
        .expect("list");
    assert_eq!(releases.items.len(), 1);
    let mut secret = releases.items[0].clone();
    let mut release = decode(&secret);
    release["info"]["status"] = "pending-install".into();
    release["info"]["last_deployed"] = "2020-01-01T00:00:00Z".into();
    secret
        .data
        .as_mut()
        .expect("data")
        .insert("release".into(), encode(&release));
    secret
        .metadata
        .labels
        .as_mut()
        .expect("labels")
        .insert("status".into(), "pending-install".into());
    let name = secret.metadata.name.clone().expect("name");
    secrets
        .replace(&name, &PostParams::default(), &secret)
        .await
        .expect("make it stuck");
    let stuck = helm
        .status(&store.namespace)
        .await
        .expect("status")
        .expect("release");
    assert_eq!(
        stuck.status, "pending-install",
        "the release must look stuck to helm itself"
    );
    // Plain helm refuses to touch it.
    let refused = helm.upgrade_install(&store.namespace, "medusa", &serde_json::json!({"store": {"id": store.id.to_string()}, "credentials": {"secretName": CREDENTIALS_SECRET}})).await;
    assert!(
        refused.is_err(),
        "helm alone should refuse a release with an operation in progress"
    );

    let outcome = driver
        .install_release(&store)
        .await
        .expect("recovered install");
    println!("recovery: {outcome}");
    let status = helm
        .status(&store.namespace)
        .await
        .expect("status")
        .expect("release");
    assert_eq!(status.status, "deployed");
    driver
        .delete_namespace(&store.namespace)
        .await
        .expect("cleanup");
}

/// A real helm failure: the API server refuses the release's Deployment (an admission policy
/// denies it), so helm records the release as `failed`. Once the cause is gone, the next attempt
/// installs it; nothing is left twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_failed_installs_once_the_cause_is_gone() {
    let Some((rig, helm, driver, store)) = namespace_with_guardrails().await else {
        return;
    };
    let client = rig.client.clone();

    // Deny Deployments in this store's namespace only.
    let name = format!("deny-deployments-{}", store.id.simple());
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(client.clone());
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                "operations": ["CREATE"], "resources": ["deployments"]}]},
            "validations": [{"expression": "false", "message": "deployments are refused by this test"}]
        }
    }))
    .expect("policy");
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"storefleet.io/store-id": store.id.to_string()}}}
        }
    }))
    .expect("binding");
    policies
        .create(&PostParams::default(), &policy)
        .await
        .expect("policy");
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    // The API server applies a new policy once its informer has seen it.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let failed = driver.install_release(&store).await;
    let message = format!(
        "{:?}",
        failed.expect_err("the install must fail while the policy denies Deployments")
    );
    println!("refused: {message}");
    assert!(message.contains("refused by this test"), "{message}");
    let status = helm
        .status(&store.namespace)
        .await
        .expect("status")
        .expect("a release record");
    assert_eq!(status.status, "failed", "helm itself recorded the failure");

    bindings
        .delete(&name, &Default::default())
        .await
        .expect("remove the cause");
    policies
        .delete(&name, &Default::default())
        .await
        .expect("remove the policy");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let outcome = driver
        .install_release(&store)
        .await
        .expect("installed after the cause is gone");
    println!("recovery: {outcome}");
    let status = helm
        .status(&store.namespace)
        .await
        .expect("status")
        .expect("release");
    assert_eq!(status.status, "deployed");
    let deployments = Api::<Deployment>::namespaced(client.clone(), &store.namespace)
        .list(&ListParams::default())
        .await
        .expect("deployments");
    assert_eq!(deployments.items.len(), 1, "exactly one Deployment");
    driver
        .delete_namespace(&store.namespace)
        .await
        .expect("cleanup");
}
