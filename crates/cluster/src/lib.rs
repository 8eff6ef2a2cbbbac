//! The cluster driver: everything Storefleet does to a Kubernetes cluster, behind one trait.
//!
//! Guardrail objects are built by pure functions ([`build`]) and applied with server-side
//! apply under one field manager ([`kube_driver`]); store workloads are a Helm release of an
//! engine chart ([`helm`]).

pub mod build;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod helm;
mod ingress_peer;
pub mod kube_driver;
mod latest;

pub use ingress_peer::IngressPeer;

use async_trait::async_trait;
use storefleet_domain::Store;

/// Field manager of every object Storefleet applies.
pub const FIELD_MANAGER: &str = "storefleet";
/// Label on everything Storefleet creates; admission policies key on it.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "storefleet");
pub const STORE_ID_LABEL: &str = "storefleet.io/store-id";
pub const OWNER_LABEL: &str = "storefleet.io/owner";
/// Which Storefleet installation made a namespace: two installs on one cluster never sweep each other's.
pub const INSTANCE_LABEL: &str = "storefleet.io/instance";
/// Which installation (database) made a namespace: a random id kept in the state store, so the
/// sweep of one installation never deletes another's namespaces even when their instance names
/// match. Unlike the instance name it cannot be guessed.
pub const INSTALLATION_LABEL: &str = "storefleet.io/installation";
/// The Helm release name inside each store namespace (one release per namespace).
pub const RELEASE: &str = "store";
/// The store Secrets' names live in the domain crate with their keys; re-exported for the
/// driver's users.
pub use storefleet_domain::secrets::{CREDENTIALS_SECRET, ENGINE_OUTPUTS_SECRET};

/// Platform settings the driver needs to build a store's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// Name of this installation, written on every namespace it creates.
    pub instance: String,
    /// This installation's id from its state store ([`INSTALLATION_LABEL`]); empty: unknown,
    /// so namespaces are not labelled with one and the orphan sweep deletes nothing.
    pub installation: String,
    /// Base domain; a store is served at `<name>.<domain>`.
    pub store_domain: String,
    pub ingress_class: Option<String>,
    /// cert-manager ClusterIssuer for store TLS; none means plain HTTP.
    pub tls_issuer: Option<String>,
    /// The orchestrator's service account, bound to the store-admin role in each store namespace.
    pub orchestrator_service_account: (String, String),
    /// ClusterRole the orchestrator binds in each store namespace.
    pub store_admin_role: String,
    /// Namespace of the platform, allowed into store namespaces (order checks).
    pub platform_namespace: String,
    /// The ingress controller's pods: the only pods outside the store and the platform that
    /// may reach a store, and only on its web port.
    pub ingress_from: Vec<IngressPeer>,
    /// The Kubernetes API server's addresses (CIDRs), the only private addresses a store pod
    /// that needs the API (label [`build::KUBE_API_ACCESS_LABEL`]) may reach. Empty: not
    /// known, that pod may reach any address but the cloud metadata ones on the API ports.
    pub kube_api_cidrs: Vec<String>,
    /// The user helm impersonates in store namespaces: the engine charts run with only the
    /// rights of [`build::deployer_role`], never the orchestrator's.
    pub store_deployer: String,
    /// How the orchestrator reaches a store for its test order.
    pub order_check_via: OrderCheckVia,
}

/// The address the order check uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderCheckVia {
    /// The store's public URL through the ingress, as a customer would (an orchestrator outside
    /// the cluster, e.g. `serve` on a laptop with k3d).
    #[default]
    Ingress,
    /// The engine's Service inside the cluster (an orchestrator running in the cluster).
    Service,
    /// The engine Service's cluster IP, read from the API: an orchestrator outside the cluster
    /// on a host that routes the Service network (the node itself, e.g. `serve` on a single
    /// k3s node, where no DNS resolves Service names).
    ServiceIp,
}

/// The port the engine's web pods listen on (the container port behind
/// [`storefront_service`]): the only port the ingress controller and the platform may reach.
pub fn web_port(engine: storefleet_domain::Engine) -> u16 {
    match engine {
        storefleet_domain::Engine::Woocommerce => 80,
        storefleet_domain::Engine::Medusa => 9000,
    }
}

/// The engine's Service that serves its storefront API, and its port.
pub fn storefront_service(engine: storefleet_domain::Engine) -> (String, u16) {
    match engine {
        storefleet_domain::Engine::Woocommerce => (format!("{RELEASE}-wordpress"), 80),
        storefleet_domain::Engine::Medusa => (format!("{RELEASE}-medusa"), 9000),
    }
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            instance: "storefleet".to_owned(),
            installation: String::new(),
            store_domain: "127.0.0.1.nip.io".to_owned(),
            ingress_class: None,
            tls_issuer: None,
            orchestrator_service_account: (
                "storefleet".to_owned(),
                "storefleet-orchestrator".to_owned(),
            ),
            store_admin_role: "storefleet-store-admin".to_owned(),
            platform_namespace: "storefleet".to_owned(),
            ingress_from: IngressPeer::defaults(),
            kube_api_cidrs: Vec::new(),
            store_deployer: "storefleet-store-deployer".to_owned(),
            order_check_via: OrderCheckVia::default(),
        }
    }
}

impl ClusterSettings {
    pub fn store_host(&self, store: &Store) -> String {
        format!("{}.{}", store.spec.name, self.store_domain)
    }

    pub fn storefront_url(&self, store: &Store) -> String {
        let scheme = if self.tls_issuer.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/", self.store_host(store))
    }

    /// Base URL of the store's storefront API for the order check; `cluster_ip` is the engine
    /// Service's address, which only [`OrderCheckVia::ServiceIp`] uses (the caller reads it).
    pub fn order_check_url(&self, store: &Store, cluster_ip: Option<&str>) -> String {
        let (service, port) = storefront_service(store.spec.engine);
        let port = if port == 80 {
            String::new()
        } else {
            format!(":{port}")
        };
        match (self.order_check_via, cluster_ip) {
            (OrderCheckVia::Ingress, _) => {
                self.storefront_url(store).trim_end_matches('/').to_owned()
            }
            (OrderCheckVia::ServiceIp, Some(ip)) => format!("http://{ip}{port}"),
            (OrderCheckVia::Service | OrderCheckVia::ServiceIp, _) => {
                format!(
                    "http://{service}.{}.svc.cluster.local{port}",
                    store.namespace
                )
            }
        }
    }

    pub fn admin_url(&self, store: &Store) -> String {
        let path = match store.spec.engine {
            storefleet_domain::Engine::Woocommerce => "wp-admin/",
            // The store image ships without Medusa's admin UI: its admin is the Admin API.
            storefleet_domain::Engine::Medusa => "admin",
        };
        format!("{}{path}", self.storefront_url(store))
    }
}

/// How far a set of workloads has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready(String),
    Waiting(String),
    /// It will not get there by waiting (a Job ran out of retries).
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The cluster could not be reached or answered with a server error: retry with backoff.
    #[error("Kubernetes API unavailable: {0}")]
    Unavailable(String),
    /// The API server refused a request (forbidden, invalid, conflict): retry, it may be transient.
    #[error("Kubernetes API refused the request: {0}")]
    Rejected(String),
    #[error("helm failed: {0}")]
    Helm(String),
    /// Waiting will not help (a chart that does not exist): fail the store.
    #[error("{0}")]
    Permanent(String),
}

impl ClusterError {
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterError::Unavailable(_) => "unavailable",
            ClusterError::Rejected(_) => "rejected",
            ClusterError::Helm(_) => "helm",
            ClusterError::Permanent(_) => "permanent",
        }
    }
}

impl From<kube::Error> for ClusterError {
    fn from(e: kube::Error) -> Self {
        match &e {
            kube::Error::Api(response) if response.code < 500 => {
                ClusterError::Rejected(response.message.clone())
            }
            _ => ClusterError::Unavailable(e.to_string()),
        }
    }
}

/// A namespace Storefleet created, with the store it was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedNamespace {
    pub name: String,
    pub store_id: Option<String>,
    pub terminating: bool,
}

/// What a waiting step waits on, for [`ClusterDriver::wait_for_change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// The namespace's Deployments and StatefulSets (WorkloadsReady).
    Workloads,
    /// The namespace's Jobs (StoreConfigured).
    Jobs,
    /// The namespace itself, until it is gone (deletion).
    NamespaceGone,
}

/// Everything the orchestrator asks of a cluster. Every method is idempotent.
#[async_trait]
pub trait ClusterDriver: Send + Sync {
    /// False when no cluster is configured: nothing can have been written anywhere.
    fn is_configured(&self) -> bool {
        true
    }
    async fn ensure_namespace(&self, store: &Store) -> Result<(), ClusterError>;
    /// RoleBinding, ResourceQuota, LimitRange, NetworkPolicies and the credentials Secret.
    async fn apply_guardrails(&self, store: &Store) -> Result<(), ClusterError>;
    async fn install_release(&self, store: &Store) -> Result<String, ClusterError>;
    /// Deployments and StatefulSets of the namespace.
    async fn workloads(&self, store: &Store) -> Result<Readiness, ClusterError>;
    /// Jobs of the namespace (the engine's setup Job).
    async fn jobs(&self, store: &Store) -> Result<Readiness, ClusterError>;
    async fn delete_namespace(&self, namespace: &str) -> Result<(), ClusterError>;
    /// Wait, at most `timeout`, for a change to what a waiting step looks at; true when
    /// something changed (or the goal already holds), false at the timeout. Lets a waiting
    /// store be looked at again as soon as it can move on instead of at its next poll; polling
    /// alone stays correct, so a driver that cannot watch answers false at once.
    async fn wait_for_change(
        &self,
        _store: &Store,
        _what: Watched,
        _timeout: std::time::Duration,
    ) -> Result<bool, ClusterError> {
        Ok(false)
    }
    async fn namespace_exists(&self, namespace: &str) -> Result<bool, ClusterError>;
    /// Namespaces labelled as made by this installation: its instance name and its id (none
    /// when the id is unknown), for the orphan sweep.
    async fn managed_namespaces(&self) -> Result<Vec<ManagedNamespace>, ClusterError>;
    /// The cluster IP of one of the store's Services (for an order check from the node).
    async fn service_cluster_ip(
        &self,
        store: &Store,
        service: &str,
    ) -> Result<String, ClusterError> {
        let _ = (store, service);
        Err(ClusterError::Unavailable(
            "this cluster driver cannot read Services".to_owned(),
        ))
    }
    /// Keys of the store's credentials Secret and of the engine's outputs Secret (when the
    /// engine writes one), for the order check. Never logged.
    async fn store_secrets(
        &self,
        store: &Store,
    ) -> Result<std::collections::BTreeMap<String, String>, ClusterError>;
}

/// Stands in when no cluster is configured: every call says so, and stores wait for one.
pub struct NoCluster(pub String);

#[async_trait]
impl ClusterDriver for NoCluster {
    fn is_configured(&self) -> bool {
        false
    }
    async fn ensure_namespace(&self, _: &Store) -> Result<(), ClusterError> {
        Err(self.unavailable())
    }
    async fn apply_guardrails(&self, _: &Store) -> Result<(), ClusterError> {
        Err(self.unavailable())
    }
    async fn install_release(&self, _: &Store) -> Result<String, ClusterError> {
        Err(self.unavailable())
    }
    async fn workloads(&self, _: &Store) -> Result<Readiness, ClusterError> {
        Err(self.unavailable())
    }
    async fn jobs(&self, _: &Store) -> Result<Readiness, ClusterError> {
        Err(self.unavailable())
    }
    async fn delete_namespace(&self, _: &str) -> Result<(), ClusterError> {
        Err(self.unavailable())
    }
    async fn namespace_exists(&self, _: &str) -> Result<bool, ClusterError> {
        Err(self.unavailable())
    }
    async fn managed_namespaces(&self) -> Result<Vec<ManagedNamespace>, ClusterError> {
        Err(self.unavailable())
    }
    async fn store_secrets(
        &self,
        _: &Store,
    ) -> Result<std::collections::BTreeMap<String, String>, ClusterError> {
        Err(self.unavailable())
    }
}

impl NoCluster {
    fn unavailable(&self) -> ClusterError {
        ClusterError::Unavailable(format!(
            "no Kubernetes cluster configured ({}); set KUBECONFIG or run inside a cluster",
            self.0
        ))
    }
}
