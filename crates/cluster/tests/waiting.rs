//! A step waiting on a store's Jobs wakes when what it would report changes, not at every change
//! to the objects (each wake-up costs the API server a list and a watch), on a real API server.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use chrono::Utc;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use std::path::PathBuf;
use std::time::Duration;
use storefleet_cluster::helm::Helm;
use storefleet_cluster::kube_driver::KubeDriver;
use storefleet_cluster::{ClusterDriver, ClusterSettings, Watched};
use storefleet_domain::fixtures::StoreBuilder;
use storefleet_domain::Phase;
use storefleet_testkit::rig::cluster_rig_or_skip;

/// A Job that never starts a pod (suspended), so only the test changes it.
fn suspended_job() -> Job {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": "setup" },
        "spec": {
            "suspend": true,
            "template": { "spec": {
                "restartPolicy": "Never",
                "containers": [{ "name": "setup", "image": "setup:never-pulled" }]
            }}
        }
    }))
    .expect("job")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_on_jobs_ends_when_the_answer_changes_not_at_every_update() {
    let Some(rig) = cluster_rig_or_skip(Duration::from_millis(300)).await else {
        return;
    };
    let helm = Helm::new(
        rig.helm.clone(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts"),
        Some(rig.cluster.kubeconfig.clone()),
        1,
    );
    let driver = KubeDriver::new(rig.client.clone(), ClusterSettings::default(), helm);
    let store = StoreBuilder::new("waiting")
        .phase(Phase::Provisioning)
        .times(Utc::now())
        .touched_cluster()
        .build();
    driver.ensure_namespace(&store).await.expect("namespace");
    let jobs: Api<Job> = Api::namespaced(rig.client.clone(), &store.namespace);
    jobs.create(&PostParams::default(), &suspended_job())
        .await
        .expect("job");

    let waiting = {
        let driver = std::sync::Arc::new(driver);
        let store = store.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let changed = driver
                .wait_for_change(&store, Watched::Jobs, Duration::from_secs(30))
                .await
                .expect("wait");
            (changed, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Updates that leave the answer as it was ("waiting for job setup"): the wait goes on.
    for n in 0..3 {
        let patch = serde_json::json!({ "metadata": { "labels": { "touched": n.to_string() } } });
        jobs.patch("setup", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("label");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    if waiting.is_finished() {
        let outcome = waiting.await;
        panic!("three updates that do not change the answer ended the wait: {outcome:?}");
    }

    // The Job goes away: the answer changes (no setup left to wait for), the wait ends at once.
    let removed_at = std::time::Instant::now();
    jobs.delete("setup", &DeleteParams::background())
        .await
        .expect("delete");
    let (changed, _) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the wait ended within 10 s of the change")
        .expect("task");
    assert!(changed, "the wait reported a change");
    assert!(
        removed_at.elapsed() < Duration::from_secs(5),
        "the wait ended {:?} after the change",
        removed_at.elapsed()
    );
}
