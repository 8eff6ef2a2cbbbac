//! The usual setup of a cluster test: a real API server, helm, a client and the kubelet
//! stand-in, or a `skipped:` line saying which is missing.

use crate::kube::TestCluster;
use std::path::PathBuf;
use std::time::Duration;

pub struct ClusterRig {
    pub cluster: TestCluster,
    pub helm: PathBuf,
    pub client: ::kube::Client,
    kubelet: tokio::task::JoinHandle<()>,
}

impl Drop for ClusterRig {
    fn drop(&mut self) {
        self.kubelet.abort();
    }
}

/// The test cluster with helm and a kubelet stand-in marking workloads ready every
/// `kubelet_interval`; `None` (after saying why) when there is no API server or no helm.
pub async fn cluster_rig_or_skip(kubelet_interval: Duration) -> Option<ClusterRig> {
    let cluster = crate::kube::cluster_or_skip()?;
    let Some(helm) = crate::helm_binary() else {
        crate::skip("no helm binary (PATH or STOREFLEET_TEST_HELM)");
        return None;
    };
    let client = match crate::kubelet::client(&cluster.kubeconfig).await {
        Ok(client) => client,
        // The API server exists and started: failing to talk to it is a failure, not a skip.
        Err(e) => panic!("no client for the test cluster: {e}"),
    };
    let kubelet = crate::kubelet::spawn(client.clone(), kubelet_interval);
    Some(ClusterRig {
        cluster,
        helm,
        client,
        kubelet,
    })
}
