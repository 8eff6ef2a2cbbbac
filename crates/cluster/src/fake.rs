//! A scriptable cluster for tests (feature `test-support`): each method answers from its own
//! script, or like a healthy cluster once the script is used up, and every call is logged.
//!
//! The fake keeps the namespaces it was asked to create, so deleting one makes it gone and
//! the orphan sweep sees what it would see on a real cluster. It is for tests of the
//! orchestrator's decisions; what a real API server does is proven in this crate's
//! envtest-style tests.

use crate::{ClusterDriver, ClusterError, ManagedNamespace, Readiness, Watched};
use async_trait::async_trait;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use storefleet_domain::secrets::key;
use storefleet_domain::Store;

/// The driver methods, as they appear in the call log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    EnsureNamespace,
    ApplyGuardrails,
    InstallRelease,
    Workloads,
    Jobs,
    DeleteNamespace,
    WaitForChange,
    NamespaceExists,
    ManagedNamespaces,
    ServiceClusterIp,
    StoreSecrets,
}

/// One call the fake answered: which method, for which namespace (empty for a cluster-wide
/// call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: Method,
    pub namespace: String,
}

type Reply<T> = VecDeque<Result<T, ClusterError>>;

#[derive(Default)]
struct Scripts {
    ensure_namespace: Reply<()>,
    apply_guardrails: Reply<()>,
    install_release: Reply<String>,
    workloads: Reply<Readiness>,
    jobs: Reply<Readiness>,
    delete_namespace: Reply<()>,
    wait_for_change: Reply<bool>,
    namespace_exists: Reply<bool>,
    managed_namespaces: Reply<Vec<ManagedNamespace>>,
    service_cluster_ip: Reply<String>,
    store_secrets: Reply<BTreeMap<String, String>>,
}

#[derive(Default)]
struct Inner {
    scripts: Scripts,
    calls: Vec<Call>,
    /// Namespace name → the store it was made for.
    namespaces: BTreeMap<String, String>,
}

/// A cluster that does what its scripts say and remembers what it was asked.
#[derive(Default)]
pub struct FakeCluster {
    inner: Mutex<Inner>,
}

/// The keys a healthy fake cluster's store Secrets hold.
pub fn healthy_secrets() -> BTreeMap<String, String> {
    [
        (key::ADMIN_EMAIL, "admin@example.com"),
        (key::ADMIN_PASSWORD, "fake-admin-password"),
        (key::PUBLISHABLE_KEY, "pk_fake"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl FakeCluster {
    /// A cluster where every call succeeds and every workload is ready at once.
    pub fn healthy() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock has failed already; keep answering.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn answer<T>(
        &self,
        method: Method,
        namespace: &str,
        script: impl FnOnce(&mut Scripts) -> &mut Reply<T>,
        healthy: impl FnOnce(&mut Inner) -> Result<T, ClusterError>,
    ) -> Result<T, ClusterError> {
        let mut inner = self.lock();
        inner.calls.push(Call {
            method,
            namespace: namespace.to_owned(),
        });
        match script(&mut inner.scripts).pop_front() {
            Some(reply) => reply,
            None => healthy(&mut inner),
        }
    }

    pub fn script_ensure_namespace(
        &self,
        replies: impl IntoIterator<Item = Result<(), ClusterError>>,
    ) {
        self.lock().scripts.ensure_namespace.extend(replies);
    }

    pub fn script_apply_guardrails(
        &self,
        replies: impl IntoIterator<Item = Result<(), ClusterError>>,
    ) {
        self.lock().scripts.apply_guardrails.extend(replies);
    }

    pub fn script_install_release(
        &self,
        replies: impl IntoIterator<Item = Result<String, ClusterError>>,
    ) {
        self.lock().scripts.install_release.extend(replies);
    }

    pub fn script_workloads(
        &self,
        replies: impl IntoIterator<Item = Result<Readiness, ClusterError>>,
    ) {
        self.lock().scripts.workloads.extend(replies);
    }

    pub fn script_jobs(&self, replies: impl IntoIterator<Item = Result<Readiness, ClusterError>>) {
        self.lock().scripts.jobs.extend(replies);
    }

    pub fn script_delete_namespace(
        &self,
        replies: impl IntoIterator<Item = Result<(), ClusterError>>,
    ) {
        self.lock().scripts.delete_namespace.extend(replies);
    }

    /// What `namespace_exists` answers before it says what the fake knows.
    pub fn script_namespace_exists(
        &self,
        replies: impl IntoIterator<Item = Result<bool, ClusterError>>,
    ) {
        self.lock().scripts.namespace_exists.extend(replies);
    }

    /// What `wait_for_change` answers; unscripted, it never wakes early (as a failed watch).
    pub fn script_wait_for_change(
        &self,
        replies: impl IntoIterator<Item = Result<bool, ClusterError>>,
    ) {
        self.lock().scripts.wait_for_change.extend(replies);
    }

    pub fn script_managed_namespaces(
        &self,
        replies: impl IntoIterator<Item = Result<Vec<ManagedNamespace>, ClusterError>>,
    ) {
        self.lock().scripts.managed_namespaces.extend(replies);
    }

    pub fn script_service_cluster_ip(
        &self,
        replies: impl IntoIterator<Item = Result<String, ClusterError>>,
    ) {
        self.lock().scripts.service_cluster_ip.extend(replies);
    }

    pub fn script_store_secrets(
        &self,
        replies: impl IntoIterator<Item = Result<BTreeMap<String, String>, ClusterError>>,
    ) {
        self.lock().scripts.store_secrets.extend(replies);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The methods called so far, in order.
    pub fn methods(&self) -> Vec<Method> {
        self.lock().calls.iter().map(|c| c.method).collect()
    }

    /// Namespaces that exist now.
    pub fn namespaces(&self) -> Vec<String> {
        self.lock().namespaces.keys().cloned().collect()
    }
}

#[async_trait]
impl ClusterDriver for FakeCluster {
    async fn ensure_namespace(&self, store: &Store) -> Result<(), ClusterError> {
        let id = store.id.to_string();
        self.answer(
            Method::EnsureNamespace,
            &store.namespace,
            |s| &mut s.ensure_namespace,
            |inner| {
                inner.namespaces.insert(store.namespace.clone(), id);
                Ok(())
            },
        )
    }

    async fn apply_guardrails(&self, store: &Store) -> Result<(), ClusterError> {
        self.answer(
            Method::ApplyGuardrails,
            &store.namespace,
            |s| &mut s.apply_guardrails,
            |_| Ok(()),
        )
    }

    async fn install_release(&self, store: &Store) -> Result<String, ClusterError> {
        self.answer(
            Method::InstallRelease,
            &store.namespace,
            |s| &mut s.install_release,
            |_| Ok(format!("release store installed in {}", store.namespace)),
        )
    }

    async fn workloads(&self, store: &Store) -> Result<Readiness, ClusterError> {
        self.answer(
            Method::Workloads,
            &store.namespace,
            |s| &mut s.workloads,
            |_| Ok(Readiness::Ready("all workloads ready".to_owned())),
        )
    }

    async fn jobs(&self, store: &Store) -> Result<Readiness, ClusterError> {
        self.answer(
            Method::Jobs,
            &store.namespace,
            |s| &mut s.jobs,
            |_| Ok(Readiness::Ready("setup complete".to_owned())),
        )
    }

    async fn delete_namespace(&self, namespace: &str) -> Result<(), ClusterError> {
        self.answer(
            Method::DeleteNamespace,
            namespace,
            |s| &mut s.delete_namespace,
            |inner| {
                inner.namespaces.remove(namespace);
                Ok(())
            },
        )
    }

    async fn wait_for_change(
        &self,
        store: &Store,
        _what: Watched,
        _timeout: Duration,
    ) -> Result<bool, ClusterError> {
        self.answer(
            Method::WaitForChange,
            &store.namespace,
            |s| &mut s.wait_for_change,
            |_| Ok(false),
        )
    }

    async fn namespace_exists(&self, namespace: &str) -> Result<bool, ClusterError> {
        self.answer(
            Method::NamespaceExists,
            namespace,
            |s| &mut s.namespace_exists,
            |inner| Ok(inner.namespaces.contains_key(namespace)),
        )
    }

    async fn managed_namespaces(&self) -> Result<Vec<ManagedNamespace>, ClusterError> {
        self.answer(
            Method::ManagedNamespaces,
            "",
            |s| &mut s.managed_namespaces,
            |inner| {
                Ok(inner
                    .namespaces
                    .iter()
                    .map(|(name, id)| ManagedNamespace {
                        name: name.clone(),
                        store_id: Some(id.clone()),
                        terminating: false,
                    })
                    .collect())
            },
        )
    }

    async fn service_cluster_ip(
        &self,
        store: &Store,
        _service: &str,
    ) -> Result<String, ClusterError> {
        self.answer(
            Method::ServiceClusterIp,
            &store.namespace,
            |s| &mut s.service_cluster_ip,
            |_| Ok("10.96.0.10".to_owned()),
        )
    }

    async fn store_secrets(&self, store: &Store) -> Result<BTreeMap<String, String>, ClusterError> {
        self.answer(
            Method::StoreSecrets,
            &store.namespace,
            |s| &mut s.store_secrets,
            |_| Ok(healthy_secrets()),
        )
    }
}
