//! Killing an orchestrator process (SIGKILL) in the middle of provisioning: a second process
//! takes the store over once the lease expires and completes it, and nothing exists twice.
//! Needs a real Kubernetes API server (envtest convention) and helm; skipped without them.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use chrono::Utc;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams};
use std::path::Path;
use std::process::Child;
use std::time::Duration;
use storefleet_domain::{ConditionType, Engine, Phase, Store};
use storefleet_state::fixtures::{audit_entry, new_store, ROOMY};
use storefleet_state::StateStore;

fn spawn_orchestrator(
    db: &str,
    kubeconfig: &Path,
    helm: &Path,
    log: &Path,
    instance: &str,
) -> Child {
    common::spawn_storefleet(
        "orchestrator",
        "127.0.0.1:0",
        db,
        (kubeconfig, helm),
        instance,
        &[],
        log,
    )
}

async fn wait_for(
    state: &StateStore,
    id: storefleet_domain::StoreId,
    what: &str,
    done: impl Fn(&Store) -> bool,
) -> Store {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let store = state.get_store(id).await.expect("get").expect("exists");
        if done(&store) {
            return store;
        }
        if tokio::time::Instant::now() > deadline {
            let events = state.events(id, 0, 200).await.expect("events");
            let log: Vec<_> = events
                .iter()
                .map(|e| format!("{} {}: {}", e.kind, e.reason, e.message))
                .collect();
            panic!(
                "timed out waiting for {what}; phase {:?}\n{}",
                store.status.phase,
                log.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count(
    client: &kube::Client,
    ns: &str,
    store_id: &str,
) -> (usize, usize, usize, usize, usize) {
    let lp = ListParams::default().labels(&format!("storefleet.io/store-id={store_id}"));
    let namespaces = Api::<Namespace>::all(client.clone())
        .list(&lp)
        .await
        .expect("ns")
        .items
        .len();
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("quota")
        .items
        .len();
    let policies = Api::<NetworkPolicy>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("netpol")
        .items
        .len();
    let credentials = Api::<Secret>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .expect("secret")
        .items
        .len();
    let deployed = Api::<Secret>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels("owner=helm,name=store,status=deployed"))
        .await
        .expect("releases")
        .items
        .len();
    (namespaces, quotas, policies, credentials, deployed)
}

/// Kill the first orchestrator once `kill_after` is True (the kill lands at that step or the
/// next one, mid-flight), then let a second process finish and delete the store.
async fn killed_after(kill_after: ConditionType, name: &str) {
    let Some(rig) = storefleet_testkit::rig::cluster_rig_or_skip(Duration::from_millis(300)).await
    else {
        return;
    };
    let (cluster, helm, client) = (&rig.cluster, &rig.helm, rig.client.clone());
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}/state.db", dir.path().display());
    let log = dir.path().join("orchestrators.log");
    let state = StateStore::connect(&db).await.expect("state");
    let store = state
        .create_store(
            new_store(name, Engine::Woocommerce),
            ROOMY,
            &audit_entry("tester", "store.create"),
            Utc::now(),
        )
        .await
        .expect("create")
        .store;

    let instance = format!("test-{name}");
    let mut first = spawn_orchestrator(&db, &cluster.kubeconfig, helm, &log, &instance);
    let mid = wait_for(&state, store.id, "the kill point", |s| {
        s.status.conditions.is_true(kill_after)
    })
    .await;
    first.kill().expect("SIGKILL the first orchestrator");
    first.wait().expect("reap");
    let reached: Vec<_> = ConditionType::ORDER
        .iter()
        .filter(|k| mid.status.conditions.is_true(**k))
        .collect();
    println!("killed the first orchestrator with {reached:?} done");

    let mut second = spawn_orchestrator(&db, &cluster.kubeconfig, helm, &log, &instance);
    let done = wait_for(
        &state,
        store.id,
        "the second orchestrator to finish setup",
        |s| {
            s.status
                .conditions
                .reason_of(ConditionType::OrderCheckPassed)
                == Some("OrderCheckFailed")
        },
    )
    .await;
    for kind in &ConditionType::ORDER[..5] {
        assert!(
            done.status.conditions.is_true(*kind),
            "{kind:?} should be True after the takeover"
        );
    }
    let events = state.events(store.id, 0, 500).await.expect("events");
    let starters: std::collections::HashSet<_> = events
        .iter()
        .filter(|e| e.reason == "Provisioning")
        .map(|e| e.message.clone())
        .collect();
    assert_eq!(
        starters.len(),
        1,
        "provisioning starts once; the second replica resumes: {starters:?}"
    );
    assert_eq!(
        count(&client, &store.namespace, &store.id.to_string()).await,
        (1, 1, 3, 1, 1),
        "(namespaces, quotas, network policies, credential secrets, deployed releases)"
    );

    state
        .request_delete(store.id, &audit_entry("tester", "store.delete"), Utc::now())
        .await
        .expect("delete");
    let deleted = wait_for(&state, store.id, "deletion", |s| {
        s.status.phase == Phase::Deleted
    })
    .await;
    assert_eq!(deleted.status.phase, Phase::Deleted);
    let left = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default().labels(&format!("storefleet.io/store-id={}", store.id)))
        .await
        .expect("list");
    assert!(left.items.is_empty(), "the namespace is gone");
    second.kill().expect("stop the second orchestrator");
    second.wait().expect("reap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_after_the_namespace_the_store_is_completed_by_another_with_nothing_twice() {
    killed_after(ConditionType::NamespaceReady, "killed-ns").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_after_the_guardrails_the_store_is_completed_by_another_with_nothing_twice() {
    killed_after(ConditionType::GuardrailsApplied, "killed-guard").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_after_the_release_the_store_is_completed_by_another_with_nothing_twice() {
    killed_after(ConditionType::ReleaseInstalled, "killed-release").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_after_the_workloads_the_store_is_completed_by_another_with_nothing_twice() {
    killed_after(ConditionType::WorkloadsReady, "killed-work").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_after_the_setup_job_the_store_is_completed_by_another_with_nothing_twice() {
    killed_after(ConditionType::StoreConfigured, "killed-setup").await;
}
