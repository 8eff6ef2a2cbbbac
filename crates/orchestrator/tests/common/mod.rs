//! Shared setup of the orchestrator's real-API-server tests: an orchestrator on a fresh SQLite
//! state store, driving the test control plane with the real helm.

#![allow(dead_code)] // each test binary uses its own subset

use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use storefleet_cluster::helm::Helm;
use storefleet_cluster::kube_driver::KubeDriver;
use storefleet_cluster::ClusterSettings;
use storefleet_domain::{Engine, Store};
use storefleet_orchestrator::metrics::OrchestratorMetrics;
use storefleet_orchestrator::{Orchestrator, OrchestratorConfig, Parts};
use storefleet_ordercheck::HttpOrderCheck;
use storefleet_state::fixtures::{audit_entry, new_store, ROOMY};
use storefleet_state::{PlatformKey, StateStore, WorkSignal};
use tokio::sync::watch;

pub struct Env {
    pub state: StateStore,
    pub client: kube::Client,
    pub settings: ClusterSettings,
    pub shutdown: watch::Sender<bool>,
    pub signal: WorkSignal,
    pub metrics: OrchestratorMetrics,
    pub cluster: storefleet_testkit::kube::TestCluster,
    /// Seals the credential copies this orchestrator keeps.
    pub platform_key: PlatformKey,
    /// Keeps the kubelet stand-in running (300 ms) for as long as the test holds the env.
    _rig: storefleet_testkit::rig::ClusterRig,
    _dir: tempfile::TempDir,
}

pub fn fixture_charts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/charts")
}

pub fn engine_charts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts")
}

/// Start an orchestrator on a fresh SQLite state store against the test cluster, or say why not.
pub async fn env(test: &str) -> Option<Env> {
    env_with_charts(test, fixture_charts()).await
}

pub async fn env_with_charts(test: &str, charts_dir: PathBuf) -> Option<Env> {
    let rig = storefleet_testkit::rig::cluster_rig_or_skip(Duration::from_millis(300)).await?;
    let (cluster, client) = (rig.cluster.clone(), rig.client.clone());
    let dir = tempfile::tempdir().expect("temp dir");
    let state = StateStore::connect(&format!("sqlite://{}/state.db", dir.path().display()))
        .await
        .expect("state");
    let settings = ClusterSettings {
        instance: format!("test-{test}"),
        installation: state.installation_id().await.expect("installation id"),
        ..ClusterSettings::default()
    };
    let helm = Helm::new(
        rig.helm.clone(),
        charts_dir,
        Some(cluster.kubeconfig.clone()),
        storefleet_cluster::helm::DEFAULT_MAX_PROCESSES,
    );
    let driver = Arc::new(KubeDriver::new(client.clone(), settings.clone(), helm));
    let (shutdown, rx) = watch::channel(false);
    let signal = WorkSignal::default();
    let platform_key =
        PlatformKey::from_base64(&PlatformKey::generate_base64()).expect("platform key");
    let config = OrchestratorConfig {
        lease: Duration::from_secs(6),
        sweep_every: Duration::from_secs(2),
        platform_key: Some(platform_key.clone()),
        ..OrchestratorConfig::default()
    };
    let metrics = OrchestratorMetrics::unregistered();
    let orchestrator = Orchestrator::new(
        Parts {
            state: state.clone(),
            driver,
            settings: settings.clone(),
            order_check: Arc::new(HttpOrderCheck::default()),
        },
        config,
        signal.clone(),
        metrics.clone(),
    );
    tokio::spawn(orchestrator.run_until_shutdown(rx));
    Some(Env {
        state,
        client,
        settings,
        shutdown,
        signal,
        metrics,
        cluster,
        platform_key,
        _rig: rig,
        _dir: dir,
    })
}

pub async fn create(env: &Env, name: &str) -> Store {
    create_engine(env, name, Engine::Medusa).await
}

pub async fn create_engine(env: &Env, name: &str, engine: Engine) -> Store {
    let store = env
        .state
        .create_store(
            new_store(name, engine),
            ROOMY,
            &audit_entry("tester", "store.create"),
            Utc::now(),
        )
        .await
        .expect("create")
        .store;
    env.signal.wake();
    store
}

pub async fn wait_for(
    env: &Env,
    id: storefleet_domain::StoreId,
    what: &str,
    done: impl Fn(&Store) -> bool,
) -> Store {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let store = env.state.get_store(id).await.expect("get").expect("exists");
        if done(&store) {
            return store;
        }
        if tokio::time::Instant::now() > deadline {
            let events = env.state.events(id, 0, 100).await.expect("events");
            let log: Vec<_> = events
                .iter()
                .map(|e| format!("{} {}: {}", e.kind, e.reason, e.message))
                .collect();
            panic!(
                "timed out waiting for {what}; phase {:?}, message {:?}\n{}",
                store.status.phase,
                store.status.message,
                log.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
