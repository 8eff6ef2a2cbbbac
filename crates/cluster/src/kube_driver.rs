//! The real driver: kube-rs with server-side apply for guardrails, the helm CLI for releases.

use crate::build::{self, Credentials};
use crate::helm::{Helm, STALE_PENDING};
use crate::latest::{self, Latest};
use crate::{
    ClusterDriver, ClusterError, ClusterSettings, ManagedNamespace, Readiness, Watched,
    CREDENTIALS_SECRET, MANAGED_BY, STORE_ID_LABEL,
};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{
    Api, DeleteParams, ListParams, ObjectList, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::{Client, Resource};
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;
use storefleet_domain::Store;

pub struct KubeDriver {
    client: Client,
    settings: ClusterSettings,
    helm: Helm,
}

impl KubeDriver {
    /// Helm acts as `settings.store_deployer` (impersonated), never with this client's rights.
    pub fn new(client: Client, settings: ClusterSettings, helm: Helm) -> Self {
        let helm = helm.impersonating(&settings.store_deployer);
        Self {
            client,
            settings,
            helm,
        }
    }

    async fn list_workloads(
        &self,
        namespace: &str,
    ) -> Result<(ObjectList<Deployment>, ObjectList<StatefulSet>), ClusterError> {
        let lp = ListParams::default();
        let deployments = Api::<Deployment>::namespaced(self.client.clone(), namespace)
            .list(&lp)
            .await?;
        let statefulsets = Api::<StatefulSet>::namespaced(self.client.clone(), namespace)
            .list(&lp)
            .await?;
        Ok((deployments, statefulsets))
    }

    /// Delete the namespace's Deployments, StatefulSets and Jobs, their pods in the background.
    async fn delete_workloads(&self, namespace: &str) -> Result<(), ClusterError> {
        let (deployments, statefulsets) = self.list_workloads(namespace).await?;
        let jobs = self.list_jobs(namespace).await?;
        self.delete_each(namespace, deployments.items).await?;
        self.delete_each(namespace, statefulsets.items).await?;
        self.delete_each(namespace, jobs.items).await
    }

    async fn delete_each<K>(&self, namespace: &str, objects: Vec<K>) -> Result<(), ClusterError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api = Api::<K>::namespaced(self.client.clone(), namespace);
        for name in objects.iter().filter_map(|o| o.meta().name.as_deref()) {
            match api.delete(name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn list_jobs(&self, namespace: &str) -> Result<ObjectList<Job>, ClusterError> {
        Ok(Api::<Job>::namespaced(self.client.clone(), namespace)
            .list(&ListParams::default())
            .await?)
    }

    async fn apply<K>(&self, object: &K) -> Result<(), ClusterError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        let name = object.meta().name.clone().unwrap_or_default();
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        api.patch(
            &name,
            &PatchParams::apply(crate::FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .await?;
        Ok(())
    }

    /// Create the credentials once: re-applying would replace passwords the engine already uses.
    /// Creating without looking first costs one request; an existing Secret answers 409.
    async fn ensure_credentials(&self, store: &Store) -> Result<(), ClusterError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &store.namespace);
        let secret = build::credentials_secret(store, &Credentials::generate(store));
        match api
            .create(
                &PostParams {
                    field_manager: Some(crate::FIELD_MANAGER.to_owned()),
                    ..PostParams::default()
                },
                &secret,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The API server's addresses as a pod reaches them: the `kubernetes` Service's cluster IP and
/// its endpoints (most CNIs match egress after the Service's DNAT), as /32 or /128 ranges.
/// Empty, with a warning, when they cannot be read (an in-cluster orchestrator has no right to
/// read `default`: the platform chart passes them in `--kube-api-cidrs`).
pub async fn kube_api_addresses(client: &Client) -> Vec<String> {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let service = Api::<Service>::namespaced(client.clone(), "default")
        .get("kubernetes")
        .await;
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels("kubernetes.io/service-name=kubernetes"))
        .await;
    let (service, slices) = match (service, slices) {
        (Ok(service), Ok(slices)) => (service, slices),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot read the API server's addresses; store setup Jobs may reach any address but cloud metadata on ports 443/6443 (set --kube-api-cidrs)");
            return Vec::new();
        }
    };
    let mut addresses: Vec<String> = service.spec.and_then(|s| s.cluster_ips).unwrap_or_default();
    for slice in slices.items {
        for endpoint in slice.endpoints {
            addresses.extend(endpoint.addresses);
        }
    }
    let mut cidrs: Vec<String> = addresses
        .iter()
        .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
        .map(|ip| match ip {
            std::net::IpAddr::V4(_) => format!("{ip}/32"),
            std::net::IpAddr::V6(_) => format!("{ip}/128"),
        })
        .collect();
    cidrs.sort();
    cidrs.dedup();
    cidrs
}

fn deployment_ready(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = &d.status else {
        return false;
    };
    status.observed_generation >= d.metadata.generation
        && status.updated_replicas.unwrap_or(0) >= want
        && status.available_replicas.unwrap_or(0) >= want
}

fn statefulset_ready(s: &StatefulSet) -> bool {
    let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = &s.status else {
        return false;
    };
    status.observed_generation >= s.metadata.generation
        && status.ready_replicas.unwrap_or(0) >= want
}

fn workload_readiness<'a>(
    deployments: impl ExactSizeIterator<Item = &'a Deployment>,
    statefulsets: impl ExactSizeIterator<Item = &'a StatefulSet>,
) -> Readiness {
    let total = deployments.len() + statefulsets.len();
    if total == 0 {
        return Readiness::Waiting("no Deployments or StatefulSets yet".to_owned());
    }
    let mut waiting: Vec<String> = deployments
        .filter(|d| !deployment_ready(d))
        .map(|d| format!("deployment/{}", d.metadata.name.as_deref().unwrap_or("?")))
        .collect();
    waiting.extend(
        statefulsets
            .filter(|s| !statefulset_ready(s))
            .map(|s| format!("statefulset/{}", s.metadata.name.as_deref().unwrap_or("?"))),
    );
    if waiting.is_empty() {
        Readiness::Ready(format!("{total} workloads ready"))
    } else {
        Readiness::Waiting(format!(
            "{}/{total} ready; waiting for {}",
            total - waiting.len(),
            waiting.join(", ")
        ))
    }
}

fn job_readiness<'a>(jobs: impl ExactSizeIterator<Item = &'a Job> + Clone) -> Readiness {
    let total = jobs.len();
    if let Some(failure) = jobs.clone().find_map(job_failure) {
        return Readiness::Failed(failure);
    }
    let pending: Vec<_> = jobs
        .filter(|j| !job_complete(j))
        .map(|j| j.metadata.name.clone().unwrap_or_default())
        .collect();
    if pending.is_empty() {
        Readiness::Ready(format!("{total} setup jobs complete"))
    } else {
        Readiness::Waiting(format!("waiting for job {}", pending.join(", ")))
    }
}

/// True at the first change to the watched objects after `version`; false at `deadline`. A
/// watch the server ends early is opened again from the last version seen.
async fn next_change<K>(
    api: Api<K>,
    params: WatchParams,
    mut version: String,
    deadline: tokio::time::Instant,
) -> Result<bool, ClusterError>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let watch = async {
        loop {
            let seconds = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .as_secs()
                .clamp(1, 290);
            let params = params
                .clone()
                .timeout(u32::try_from(seconds).unwrap_or(290));
            let mut events = api.watch_metadata(&params, &version).await?.boxed();
            while let Some(event) = events.try_next().await? {
                match event {
                    WatchEvent::Bookmark(mark) => version = mark.metadata.resource_version,
                    // A change; or an error such as 410 Gone (the version is too old), after
                    // which a fresh look is due anyway.
                    _ => return Ok(true),
                }
            }
        }
    };
    match tokio::time::timeout_at(deadline, watch).await {
        Ok(result) => result,
        Err(_) => Ok(false),
    }
}

fn job_failure(job: &Job) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Failed" && c.status == "True")
        .map(|c| {
            format!(
                "job {} failed: {}",
                job.metadata.name.as_deref().unwrap_or("?"),
                c.message
                    .as_deref()
                    .or(c.reason.as_deref())
                    .unwrap_or("no reason given")
            )
        })
}

fn job_complete(job: &Job) -> bool {
    job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) >= 1
}

#[async_trait]
impl ClusterDriver for KubeDriver {
    async fn ensure_namespace(&self, store: &Store) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let namespace = build::namespace(store, &self.settings);
        api.patch(
            &store.namespace,
            &PatchParams::apply(crate::FIELD_MANAGER).force(),
            &Patch::Apply(&namespace),
        )
        .await?;
        Ok(())
    }

    async fn apply_guardrails(&self, store: &Store) -> Result<(), ClusterError> {
        // The RoleBinding first: in a least-privilege install it is what grants the rest.
        self.apply::<RoleBinding>(&build::role_binding(store, &self.settings))
            .await?;
        // What helm may do here, as the impersonated deployer: before the release, after the
        // binding that lets the orchestrator grant it (RBAC's escalation check).
        self.apply::<Role>(&build::deployer_role(store)).await?;
        self.apply::<RoleBinding>(&build::deployer_role_binding(store, &self.settings))
            .await?;
        self.apply::<ResourceQuota>(&build::resource_quota(store))
            .await?;
        self.apply::<LimitRange>(&build::limit_range(store)).await?;
        for policy in build::network_policies(store, &self.settings) {
            self.apply::<NetworkPolicy>(&policy).await?;
        }
        self.ensure_credentials(store).await
    }

    async fn install_release(&self, store: &Store) -> Result<String, ClusterError> {
        let namespace = &store.namespace;
        let engine = store.spec.engine.as_str();
        self.helm.chart_path(engine)?;
        let values = build::helm_values(store, &self.settings);
        // The common case costs one helm process; the release is examined only when helm refuses.
        let refusal = match self.helm.upgrade_install(namespace, engine, &values).await {
            Ok(()) => return Ok(format!("installed chart {engine}")),
            Err(ClusterError::Helm(message)) => message,
            Err(e) => return Err(e),
        };
        match self.helm.status(namespace).await? {
            Some(s) if s.status.starts_with("pending-") => {
                let stale = s
                    .age_seconds
                    .is_none_or(|age| age >= STALE_PENDING.as_secs() as i64);
                if !stale {
                    return Err(ClusterError::Helm(format!(
                        "release is {} since {} s; waiting for that operation before recovering",
                        s.status,
                        s.age_seconds.unwrap_or(0)
                    )));
                }
                tracing::warn!(namespace, status = %s.status, "recovering a release stuck in a pending state");
                if s.status == "pending-install" {
                    self.helm.uninstall(namespace).await?;
                } else {
                    self.helm.rollback(namespace).await?;
                }
            }
            Some(s) if s.status == "failed" => self.helm.uninstall(namespace).await?,
            // Nothing to recover: the refusal stands.
            _ => return Err(ClusterError::Helm(refusal)),
        }
        self.helm
            .upgrade_install(namespace, engine, &values)
            .await?;
        Ok(format!(
            "installed chart {engine} after recovering the release"
        ))
    }

    async fn workloads(&self, store: &Store) -> Result<Readiness, ClusterError> {
        let (deployments, statefulsets) = self.list_workloads(&store.namespace).await?;
        Ok(workload_readiness(
            deployments.items.iter(),
            statefulsets.items.iter(),
        ))
    }

    async fn jobs(&self, store: &Store) -> Result<Readiness, ClusterError> {
        let jobs = self.list_jobs(&store.namespace).await?;
        Ok(job_readiness(jobs.items.iter()))
    }

    async fn wait_for_change(
        &self,
        store: &Store,
        what: Watched,
        timeout: Duration,
    ) -> Result<bool, ClusterError> {
        let ns = &store.namespace;
        let client = &self.client;
        let deadline = tokio::time::Instant::now() + timeout;
        // List first: the goal may hold already, and the watch starts at the list's
        // resourceVersion so a change between the pass's look and this one is not missed. The
        // wait ends when the step would report something new, not at every status update.
        match what {
            Watched::Workloads => {
                let deployments = Latest::list(Api::<Deployment>::namespaced(client.clone(), ns));
                let statefulsets = Latest::list(Api::<StatefulSet>::namespaced(client.clone(), ns));
                let (deployments, statefulsets) = tokio::try_join!(deployments, statefulsets)?;
                let judge = |d: &Latest<Deployment>, s: Option<&Latest<StatefulSet>>| match s {
                    Some(s) => workload_readiness(d.items(), s.items()),
                    None => workload_readiness(d.items(), std::iter::empty()),
                };
                if !matches!(
                    judge(&deployments, Some(&statefulsets)),
                    Readiness::Waiting(_)
                ) {
                    return Ok(true);
                }
                latest::until_judged_differently(deployments, Some(statefulsets), judge, deadline)
                    .await
            }
            Watched::Jobs => {
                let jobs = Latest::list(Api::<Job>::namespaced(client.clone(), ns)).await?;
                let judge = |j: &Latest<Job>, _: Option<&Latest<Job>>| job_readiness(j.items());
                if !matches!(judge(&jobs, None), Readiness::Waiting(_)) {
                    return Ok(true);
                }
                latest::until_judged_differently(jobs, None, judge, deadline).await
            }
            Watched::NamespaceGone => {
                let api = Api::<Namespace>::all(client.clone());
                let field = format!("metadata.name={ns}");
                let found = api
                    .list_metadata(&ListParams::default().fields(&field))
                    .await?;
                if found.items.is_empty() {
                    return Ok(true);
                }
                let version = found.metadata.resource_version.clone().unwrap_or_default();
                next_change(
                    api,
                    WatchParams::default().fields(&field),
                    version,
                    deadline,
                )
                .await
            }
        }
    }

    async fn delete_namespace(&self, namespace: &str) -> Result<(), ClusterError> {
        // Workloads first: the namespace controller, finding pods still running, waits out its
        // own estimate before it looks again, which took a namespace 10.6 s to remove instead
        // of 5.6 s when its Deployments, StatefulSets and Jobs were deleted just before
        // (measured on the bench's control plane with node-sim). A few deletes cost ~10 ms.
        self.delete_workloads(namespace).await?;
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.delete(namespace, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn namespace_exists(&self, namespace: &str) -> Result<bool, ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        Ok(api.get_opt(namespace).await?.is_some())
    }

    async fn service_cluster_ip(
        &self,
        store: &Store,
        service: &str,
    ) -> Result<String, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(self.client.clone(), &store.namespace);
        let found = api.get_opt(service).await?;
        found
            .and_then(|s| s.spec)
            .and_then(|spec| spec.cluster_ip)
            .filter(|ip| !ip.is_empty() && ip != "None")
            .ok_or_else(|| {
                ClusterError::Unavailable(format!(
                    "Service {}/{service} has no cluster IP yet",
                    store.namespace
                ))
            })
    }

    async fn store_secrets(
        &self,
        store: &Store,
    ) -> Result<std::collections::BTreeMap<String, String>, ClusterError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &store.namespace);
        let mut values = std::collections::BTreeMap::new();
        for name in [CREDENTIALS_SECRET, crate::ENGINE_OUTPUTS_SECRET] {
            let Some(secret) = api.get_opt(name).await? else {
                continue;
            };
            for (key, value) in secret.data.unwrap_or_default() {
                values.insert(key, String::from_utf8_lossy(&value.0).into_owned());
            }
        }
        Ok(values)
    }

    async fn managed_namespaces(&self) -> Result<Vec<ManagedNamespace>, ClusterError> {
        // Without this installation's id nothing can be proven ours: list nothing.
        if self.settings.installation.is_empty() {
            return Ok(Vec::new());
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let selector = format!(
            "{}={},{}={},{}={}",
            MANAGED_BY.0,
            MANAGED_BY.1,
            crate::INSTANCE_LABEL,
            self.settings.instance,
            crate::INSTALLATION_LABEL,
            self.settings.installation
        );
        let list = api.list(&ListParams::default().labels(&selector)).await?;
        Ok(list
            .items
            .into_iter()
            .map(|ns| ManagedNamespace {
                store_id: ns
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(STORE_ID_LABEL).cloned()),
                terminating: ns.metadata.deletion_timestamp.is_some(),
                name: ns.metadata.name.unwrap_or_default(),
            })
            .collect())
    }
}
