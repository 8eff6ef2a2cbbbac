//! The real node itself: a non-root database pod on a node-local volume behind a Service,
//! found by a Job through the cluster DNS and by the host through kube-proxy; deleting the
//! namespace leaves no volume behind.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim, Service};
use kube::api::{Api, DeleteParams, PostParams};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::{Duration, Instant};
use storefleet_testkit::node::{real_node_or_skip, RealNode};

const NS: &str = "node-smoke";

fn object<T: DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("valid object")
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, node: &RealNode, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} not within {limit:?}\nkubelet:\n{}\nservices:\n{}",
            node.log_tail("kubelet", 30),
            node.log_tail("services", 10)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_non_root_database_on_a_node_volume_is_reached_by_service_name_and_leaves_nothing() {
    let Some(node) = real_node_or_skip() else {
        return;
    };
    if !storefleet_testkit::node::image_built("postgres") {
        storefleet_testkit::skip(
            "no real node (postgres image not built: scripts/build-images.sh)",
        );
        return;
    }
    let client = storefleet_testkit::kubelet::client(&node.cluster.kubeconfig)
        .await
        .expect("client");
    let started = Instant::now();
    let pp = PostParams::default();
    Api::<Namespace>::all(client.clone())
        .create(&pp, &object(json!({"metadata": {"name": NS}})))
        .await
        .expect("namespace");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    claims
        .create(
            &pp,
            &object(json!({"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})),
        )
        .await
        .expect("claim");
    let labels = json!({"app": "db"});
    Api::<Deployment>::namespaced(client.clone(), NS)
        .create(&pp, &object(json!({
            "metadata": {"name": "db"},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsUser": 70, "runAsGroup": 70, "fsGroup": 70, "runAsNonRoot": true,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "postgres", "image": "postgres:15.19-alpine", "imagePullPolicy": "IfNotPresent",
                        "env": [{"name": "POSTGRES_USER", "value": "smoke"}, {"name": "POSTGRES_PASSWORD", "value": "smoke-pw"},
                                {"name": "POSTGRES_DB", "value": "smoke"},
                                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
                        "ports": [{"name": "postgres", "containerPort": 5432}],
                        "readinessProbe": {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", "smoke"]}, "periodSeconds": 2},
                        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                         {"name": "run", "mountPath": "/var/run/postgresql"}]
                    }],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                                {"name": "run", "emptyDir": {}}]
                }}}
        })))
        .await
        .expect("deployment");
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    services
        .create(
            &pp,
            &object(json!({"metadata": {"name": "db"}, "spec": {
            "selector": labels, "ports": [{"port": 5432, "targetPort": "postgres"}]}})),
        )
        .await
        .expect("service");
    // A Job that finds the database by its Service's DNS name.
    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    jobs.create(&pp, &object(json!({
        "metadata": {"name": "probe"},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsUser": 70, "runAsNonRoot": true},
            "containers": [{"name": "probe", "image": "postgres:15.19-alpine", "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "for i in $(seq 1 120); do pg_isready -h db.node-smoke.svc.cluster.local -p 5432 && exit 0; sleep 1; done; exit 1"]}]
        }}}
    })))
    .await
    .expect("job");
    wait_until(
        "the probe Job complete",
        Duration::from_secs(180),
        &node,
        || async {
            jobs.get("probe")
                .await
                .is_ok_and(|j| j.status.and_then(|s| s.succeeded).unwrap_or(0) >= 1)
        },
    )
    .await;
    let to_job = started.elapsed();
    // The host reaches the ClusterIP through kube-proxy, with the password the pod initialised.
    let ip = services
        .get("db")
        .await
        .expect("service")
        .spec
        .and_then(|s| s.cluster_ip)
        .expect("cluster ip");
    let psql = std::process::Command::new("psql")
        .arg(format!("postgres://smoke:smoke-pw@{ip}:5432/smoke"))
        .args(["-tAc", "select current_user"])
        .output()
        .expect("psql");
    assert_eq!(
        String::from_utf8_lossy(&psql.stdout).trim(),
        "smoke",
        "psql via the ClusterIP: {}",
        String::from_utf8_lossy(&psql.stderr)
    );
    let volume = claims
        .get("data")
        .await
        .expect("claim")
        .spec
        .and_then(|s| s.volume_name)
        .expect("bound claim");
    Api::<Namespace>::all(client.clone())
        .delete(NS, &DeleteParams::default())
        .await
        .expect("delete namespace");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    wait_until(
        "namespace and volume gone",
        Duration::from_secs(120),
        &node,
        || async {
            namespaces.get_opt(NS).await.is_ok_and(|n| n.is_none())
                && volumes.get_opt(&volume).await.is_ok_and(|v| v.is_none())
        },
    )
    .await;
    println!(
        "real node: database pod ready and found by DNS in {:.1} s; namespace and volume removed after {:.1} s",
        to_job.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
