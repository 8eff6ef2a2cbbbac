//! A stand-in for the kubelet and the workload controllers, for clusters that have no nodes:
//! it writes the status a healthy node would produce on Deployments, StatefulSets and Jobs in
//! store namespaces, so tests can follow a store past "workloads ready". It proves nothing about
//! the engines themselves; that is what the engine tests are for.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::Client;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A kube client for a kubeconfig file.
pub async fn client(kubeconfig: &std::path::Path) -> Result<Client, String> {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| e.to_string())?;
    let config =
        kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    Client::try_from(config).map_err(|e| e.to_string())
}

/// How long a setup Job "runs" before the stand-in marks it complete, so a store is seen with
/// its workloads ready and its setup still running, as on a real cluster.
pub const JOB_RUN: Duration = Duration::from_secs(1);

/// Mark every workload in namespaces starting with `store-` ready, every `interval`, and every
/// Job complete [`JOB_RUN`] after it was first seen, until dropped.
pub fn spawn(client: Client, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut jobs_seen = HashMap::new();
        loop {
            let _ = mark_ready(&client, &mut jobs_seen).await;
            tokio::time::sleep(interval).await;
        }
    })
}

async fn mark_ready(
    client: &Client,
    jobs_seen: &mut HashMap<(String, String), Instant>,
) -> Result<(), kube::Error> {
    let lp = ListParams::default();
    let pp = PatchParams::default();
    for d in Api::<Deployment>::all(client.clone()).list(&lp).await? {
        let (Some(ns), Some(name)) = (d.metadata.namespace.as_deref(), d.metadata.name.as_deref())
        else {
            continue;
        };
        if !ns.starts_with("store-")
            || d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
        {
            continue;
        }
        let n = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = json!({"status": {"observedGeneration": d.metadata.generation, "replicas": n,
            "readyReplicas": n, "availableReplicas": n, "updatedReplicas": n}});
        Api::<Deployment>::namespaced(client.clone(), ns)
            .patch_status(name, &pp, &Patch::Merge(status))
            .await?;
    }
    for s in Api::<StatefulSet>::all(client.clone()).list(&lp).await? {
        let (Some(ns), Some(name)) = (s.metadata.namespace.as_deref(), s.metadata.name.as_deref())
        else {
            continue;
        };
        if !ns.starts_with("store-")
            || s.status.as_ref().and_then(|s| s.observed_generation) == s.metadata.generation
        {
            continue;
        }
        let n = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = json!({"status": {"observedGeneration": s.metadata.generation, "replicas": n,
            "readyReplicas": n, "availableReplicas": n, "currentReplicas": n, "updatedReplicas": n}});
        Api::<StatefulSet>::namespaced(client.clone(), ns)
            .patch_status(name, &pp, &Patch::Merge(status))
            .await?;
    }
    for j in Api::<Job>::all(client.clone()).list(&lp).await? {
        let (Some(ns), Some(name)) = (j.metadata.namespace.as_deref(), j.metadata.name.as_deref())
        else {
            continue;
        };
        // A suspended Job starts no pod on a real cluster, so it never completes either.
        let suspended = j.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false);
        if !ns.starts_with("store-")
            || suspended
            || j.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) > 0
        {
            continue;
        }
        let first_seen = *jobs_seen
            .entry((ns.to_owned(), name.to_owned()))
            .or_insert_with(Instant::now);
        if first_seen.elapsed() < JOB_RUN {
            continue;
        }
        let now = chrono_now();
        let status = json!({"status": {"succeeded": 1, "startTime": now, "completionTime": now, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now}]}});
        Api::<Job>::namespaced(client.clone(), ns)
            .patch_status(name, &pp, &Patch::Merge(status))
            .await?;
    }
    Ok(())
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
