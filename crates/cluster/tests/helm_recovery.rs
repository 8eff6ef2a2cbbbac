//! A Helm release left in `pending-install` by a process that died is detected and recovered,
//! on a real API server with the real helm. The stuck state is made the way a killed helm leaves
//! it: the release record in its Secret says `pending-install`, with an old timestamp.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use base64::Engine as _;
use chrono::Utc;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, ListParams, PostParams};
use std::io::{Read, Write};
use std::path::PathBuf;
use storefleet_cluster::helm::Helm;
use storefleet_cluster::kube_driver::KubeDriver;
use storefleet_cluster::{ClusterDriver, ClusterSettings};
use storefleet_domain::{namespace_for, Conditions, Engine, Phase, Plan, Store, StoreName};

fn store() -> Store {
    let id = uuid::Uuid::now_v7();
    let name = StoreName::parse("stuck").expect("name");
    Store {
        id,
        namespace: namespace_for(&name, id),
        name,
        owner: "tester".into(),
        engine: Engine::Medusa,
        plan: Plan::Small,
        phase: Phase::Provisioning,
        conditions: Conditions::default(),
        cluster: "test".into(),
        message: None,
        storefront_url: None,
        admin_url: None,
        expires_at: None,
        deadline_at: Utc::now(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        generation: 1,
        observed_generation: 0,
        touched_cluster: true,
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_stuck_in_pending_install_is_recovered() {
    let Some(cluster) = storefleet_testkit::kube::cluster_or_skip() else {
        return;
    };
    let Some(helm) = storefleet_testkit::helm_binary() else {
        return storefleet_testkit::skip("no helm binary (PATH or STOREFLEET_TEST_HELM)");
    };
    let client = storefleet_testkit::kubelet::client(&cluster.kubeconfig)
        .await
        .expect("client");
    let helm = Helm::new(
        helm,
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../orchestrator/tests/charts"),
        Some(cluster.kubeconfig.clone()),
        2,
    );
    let driver = KubeDriver::new(client.clone(), ClusterSettings::default(), helm.clone());
    let store = store();
    driver.ensure_namespace(&store).await.expect("namespace");
    driver.apply_guardrails(&store).await.expect("guardrails");
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
    let refused = helm.upgrade_install(&store.namespace, "medusa", &serde_json::json!({"store": {"id": store.id.to_string()}, "credentials": {"secretName": "store-credentials"}})).await;
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
