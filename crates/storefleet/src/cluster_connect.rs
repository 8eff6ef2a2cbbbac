//! Finding the Kubernetes cluster for `serve` and `orchestrator`: the driver, the API server's
//! address (named in every cluster error the process logs), and a first probe at startup, so a
//! cluster that is down or a kubeconfig that points elsewhere is said at once, with the address
//! that was tried, instead of surfacing later as stores that wait.

use crate::cli::ServerArgs;
use std::sync::Arc;
use std::time::Duration;
use storefleet_cluster::helm::Helm;
use storefleet_cluster::kube_driver::KubeDriver;
use storefleet_cluster::{ClusterDriver, ClusterSettings, NoCluster};

/// How long the startup probe waits for the API server to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The driver, and the API server it talks to (`None` without a cluster).
pub struct Cluster {
    pub driver: Arc<dyn ClusterDriver>,
    pub address: Option<String>,
}

/// The cluster found the usual way (KUBECONFIG, ~/.kube/config, in-cluster). Without one the
/// orchestrator still runs and stores wait, each saying why.
pub async fn connect(args: &ServerArgs, mut settings: ClusterSettings) -> Cluster {
    let config = match kube::Config::infer().await {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(error = %e, looked_at = %where_we_looked(), "no Kubernetes cluster configured; stores will wait for one");
            return no_cluster("no kubeconfig found and not running in a cluster", None);
        }
    };
    let address = config.cluster_url.to_string();
    let client = match kube::Client::try_from(config) {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(api_server = %address, error = %e, "could not make a client for the Kubernetes API server at {address}; stores will wait");
            return no_cluster(
                "the platform's Kubernetes client could not be set up",
                Some(address),
            );
        }
    };
    tokio::spawn(probe(client.clone(), address.clone()));
    if settings.kube_api_cidrs.is_empty() {
        // The addresses a Medusa setup Job may reach the API server at, when the operator did
        // not name them: what the `kubernetes` Service and its EndpointSlices say.
        settings.kube_api_cidrs =
            storefleet_cluster::kube_driver::kube_api_addresses(&client).await;
    }
    // Outside a pod helm reads the same kubeconfig we did; inside one it needs a file naming
    // the service account, or impersonation sends it to localhost (see in_cluster_kubeconfig).
    let helm_kubeconfig = if kube::config::Kubeconfig::read().is_ok() {
        None
    } else {
        match storefleet_cluster::helm::in_cluster_kubeconfig(&std::env::temp_dir()) {
            Ok(path) => path,
            Err(e) => {
                tracing::warn!(error = %e, "helm gets no kubeconfig; releases will fail");
                None
            }
        }
    };
    let helm = Helm::new(
        args.helm.clone(),
        args.charts_dir.clone(),
        helm_kubeconfig,
        usize::from(args.helm_processes),
    );
    Cluster {
        driver: Arc::new(KubeDriver::new(client, settings, helm)),
        address: Some(address),
    }
}

fn no_cluster(why: &str, address: Option<String>) -> Cluster {
    Cluster {
        driver: Arc::new(NoCluster(why.to_owned())),
        address,
    }
}

/// Ask the API server its version once: a warning naming the address when it does not answer.
async fn probe(client: kube::Client, address: String) {
    match tokio::time::timeout(PROBE_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(version)) => {
            tracing::info!(api_server = %address, version = %version.git_version, "Kubernetes API server answers");
        }
        Ok(Err(e)) => {
            tracing::warn!(api_server = %address, error = %e, "the Kubernetes API server at {address} did not answer; stores wait until it does");
        }
        Err(_) => {
            tracing::warn!(api_server = %address, "the Kubernetes API server at {address} did not answer within {} s; stores wait until it does", PROBE_TIMEOUT.as_secs());
        }
    }
}

/// Where a kubeconfig was looked for, for the warning when none was found.
fn where_we_looked() -> String {
    let file = std::env::var("KUBECONFIG")
        .map(|k| format!("KUBECONFIG={k}"))
        .unwrap_or_else(|_| "~/.kube/config".to_owned());
    format!("{file}, and the in-cluster service account (KUBERNETES_SERVICE_HOST unset)")
}

/// The Kubernetes API server this process would act on, for the startup banner: the
/// kubeconfig's current context and its server, or the in-cluster service account.
pub fn description() -> String {
    if let Ok(config) = kube::config::Kubeconfig::read() {
        let context = config.current_context.clone().unwrap_or_default();
        let server = config
            .contexts
            .iter()
            .find(|c| c.name == context)
            .and_then(|c| c.context.as_ref())
            .and_then(|c| config.clusters.iter().find(|k| k.name == c.cluster))
            .and_then(|k| k.cluster.as_ref())
            .and_then(|k| k.server.clone());
        if let Some(server) = server {
            return format!("context {context} at {server}");
        }
    }
    match std::env::var("KUBERNETES_SERVICE_HOST") {
        Ok(host) => format!("in-cluster at https://{host}"),
        Err(_) => "none (no kubeconfig, not in a cluster): stores wait for one".to_owned(),
    }
}
