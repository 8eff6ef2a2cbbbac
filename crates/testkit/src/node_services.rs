//! What a real cluster's add-ons do for the test node, in one loop: cluster DNS records for
//! every Service (the hosts files dnsmasq serves) and node-local volumes for claims of the
//! default StorageClass, created on demand and removed once released (a `local`
//! PersistentVolume, unlike `hostPath`, gets the pod's `fsGroup`, so non-root pods can write).

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::Client;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Label on the volumes this loop made, so it removes only its own.
const VOLUME_LABEL: &str = "storefleet.io/test-node-volume";

/// Create the default StorageClass, write the first DNS records, then keep both up to date
/// every 500 ms on a thread of its own for the rest of the test process.
/// The default StorageClass the harness provisions node-local volumes for.
pub const STORAGE_CLASS: &str = "storefleet-local";

/// The node's name, which every volume is pinned to.
pub const NODE_NAME: &str = "storefleet-node";

pub(crate) fn spawn(kubeconfig: &std::path::Path, dir: &std::path::Path) -> Result<(), String> {
    let kubeconfig = kubeconfig.to_owned();
    let dir = dir.to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = runtime.block_on(async {
        let client = crate::kubelet::client(&kubeconfig).await?;
        create_storage_class(&client).await?;
        sync_once(&client, &dir).await?;
        Ok::<_, String>(client)
    })?;
    std::thread::Builder::new()
        .name("test-node-services".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    if let Err(e) = sync_once(&client, &dir).await {
                        log(&dir, &e);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn create_storage_class(client: &Client) -> Result<(), String> {
    let class: StorageClass = serde_json::from_value(json!({
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}
        },
        "provisioner": "storefleet.io/test-node",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate"
    }))
    .map_err(|e| e.to_string())?;
    match Api::<StorageClass>::all(client.clone())
        .create(&PostParams::default(), &class)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(format!("create StorageClass: {e}")),
    }
}

async fn sync_once(client: &Client, dir: &Path) -> Result<(), String> {
    write_dns_records(client, dir).await?;
    provision_volumes(client, dir).await?;
    remove_released_volumes(client, dir).await
}

/// `<svc>.<ns>.svc.cluster.local` → ClusterIP; for headless Services, → each ready endpoint,
/// and `<hostname>.<svc>.<ns>.svc.cluster.local` for endpoints that have a hostname.
async fn write_dns_records(client: &Client, dir: &Path) -> Result<(), String> {
    let services = Api::<Service>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("list Services: {e}"))?;
    let slices = Api::<EndpointSlice>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("list EndpointSlices: {e}"))?;
    let mut lines = BTreeSet::new();
    for service in &services {
        let (Some(name), Some(namespace)) = (&service.metadata.name, &service.metadata.namespace)
        else {
            continue;
        };
        let fqdn = format!("{name}.{namespace}.svc.cluster.local");
        match service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) {
            Some(ip) if ip != "None" && !ip.is_empty() => {
                lines.insert(format!("{ip} {fqdn}"));
            }
            _ => {
                for slice in slices.iter().filter(|s| {
                    s.metadata.namespace.as_deref() == Some(namespace)
                        && s.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get("kubernetes.io/service-name"))
                            == Some(name)
                }) {
                    for endpoint in &slice.endpoints {
                        for ip in &endpoint.addresses {
                            lines.insert(format!("{ip} {fqdn}"));
                            if let Some(host) = &endpoint.hostname {
                                lines.insert(format!("{ip} {host}.{fqdn}"));
                            }
                        }
                    }
                }
            }
        }
    }
    let text: String = lines.into_iter().map(|l| l + "\n").collect();
    let target = dir.join("dns/services");
    if std::fs::read_to_string(&target).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    // dnsmasq watches the directory: replace the file in one rename.
    let staging = dir.join("services.new");
    std::fs::write(&staging, text).map_err(|e| e.to_string())?;
    std::fs::rename(&staging, &target).map_err(|e| e.to_string())
}

fn volume_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join("volumes").join(name)
}

/// A volume for every pending claim of the default class: a directory on the node and a
/// `local` PersistentVolume pre-bound to the claim.
async fn provision_volumes(client: &Client, dir: &Path) -> Result<(), String> {
    let claims = Api::<PersistentVolumeClaim>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("list PVCs: {e}"))?;
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for claim in claims {
        let spec = claim.spec.clone().unwrap_or_default();
        let pending = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
        if !pending
            || spec.volume_name.is_some()
            || spec.storage_class_name.as_deref() != Some(STORAGE_CLASS)
            || claim.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let (Some(uid), Some(name), Some(namespace)) = (
            claim.metadata.uid.clone(),
            claim.metadata.name.clone(),
            claim.metadata.namespace.clone(),
        ) else {
            continue;
        };
        let volume_name = format!("pvc-{uid}");
        let path = volume_dir(dir, &volume_name);
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let size = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.clone())
            .unwrap_or_else(|| "1Gi".into());
        let volume: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": volume_name, "labels": {VOLUME_LABEL: "true"}},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": spec.access_modes.clone().unwrap_or_else(|| vec!["ReadWriteOnce".into()]),
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": STORAGE_CLASS,
                "volumeMode": "Filesystem",
                "local": {"path": path.display().to_string()},
                "claimRef": {"namespace": namespace, "name": name, "uid": uid},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE_NAME]}
                ]}]}}
            }
        }))
        .map_err(|e| e.to_string())?;
        match volumes.create(&PostParams::default(), &volume).await {
            Ok(_) => log(dir, &format!("volume {volume_name} for {namespace}/{name}")),
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(format!("create PV for {namespace}/{name}: {e}")),
        }
    }
    Ok(())
}

/// Volumes whose claim is gone (Released, or Failed to be reclaimed) are deleted with their data,
/// as a dynamic provisioner's reclaim policy `Delete` would.
async fn remove_released_volumes(client: &Client, dir: &Path) -> Result<(), String> {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let ours = volumes
        .list(&ListParams::default().labels(VOLUME_LABEL))
        .await
        .map_err(|e| format!("list PVs: {e}"))?;
    for volume in ours {
        let phase = volume.status.as_ref().and_then(|s| s.phase.as_deref());
        if !matches!(phase, Some("Released") | Some("Failed")) {
            continue;
        }
        let Some(name) = volume.metadata.name.clone() else {
            continue;
        };
        match volumes.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(format!("delete PV {name}: {e}")),
        }
        let path = volume_dir(dir, &name);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        log(dir, &format!("volume {name} released and removed"));
    }
    Ok(())
}

fn log(dir: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("services.log"))
    {
        let _ = writeln!(file, "{} {line}", chrono::Utc::now().to_rfc3339());
    }
}
