//! A pass that crashes (a panic inside a cluster step) is reported and counted, never silently
//! gone: the store is picked up again once its lease expires and provisioning goes on. The
//! cluster is a fake here on purpose — the decision under test is the orchestrator's own.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use async_trait::async_trait;
use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use storefleet_cluster::{
    ClusterDriver, ClusterError, ClusterSettings, ManagedNamespace, Readiness,
};
use storefleet_domain::{ConditionType, Engine, Store};
use storefleet_orchestrator::metrics::{OrchestratorMetrics, TaskLabels};
use storefleet_orchestrator::{Orchestrator, OrchestratorConfig, Parts};
use storefleet_ordercheck::HttpOrderCheck;
use storefleet_state::fixtures::{audit_entry, new_store, ROOMY};
use storefleet_state::{StateStore, WorkSignal};

/// Panics on the first namespace call, then behaves like a healthy cluster.
struct PanicsOnce(AtomicUsize);

#[async_trait]
impl ClusterDriver for PanicsOnce {
    async fn ensure_namespace(&self, _: &Store) -> Result<(), ClusterError> {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("injected crash in the namespace step");
        }
        Ok(())
    }
    async fn apply_guardrails(&self, _: &Store) -> Result<(), ClusterError> {
        Ok(())
    }
    async fn install_release(&self, _: &Store) -> Result<String, ClusterError> {
        Ok("installed".into())
    }
    async fn workloads(&self, _: &Store) -> Result<Readiness, ClusterError> {
        Ok(Readiness::Ready("ready".into()))
    }
    async fn jobs(&self, _: &Store) -> Result<Readiness, ClusterError> {
        Ok(Readiness::Ready("done".into()))
    }
    async fn delete_namespace(&self, _: &str) -> Result<(), ClusterError> {
        Ok(())
    }
    async fn namespace_exists(&self, _: &str) -> Result<bool, ClusterError> {
        Ok(false)
    }
    async fn managed_namespaces(&self) -> Result<Vec<ManagedNamespace>, ClusterError> {
        Ok(Vec::new())
    }
    async fn store_secrets(&self, _: &Store) -> Result<BTreeMap<String, String>, ClusterError> {
        Ok(BTreeMap::new())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_pass_is_counted_and_the_store_is_resumed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = StateStore::connect(&format!("sqlite://{}/s.db", dir.path().display()))
        .await
        .expect("state");
    let metrics = OrchestratorMetrics::unregistered();
    let signal = WorkSignal::default();
    let config = OrchestratorConfig {
        lease: Duration::from_secs(3),
        ..OrchestratorConfig::default()
    };
    let driver = Arc::new(PanicsOnce(AtomicUsize::new(0)));
    let orchestrator = Orchestrator::new(
        Parts {
            state: state.clone(),
            driver: driver.clone(),
            settings: ClusterSettings::default(),
            order_check: Arc::new(HttpOrderCheck::default()),
        },
        config,
        signal.clone(),
        metrics.clone(),
    );
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(orchestrator.run_until_shutdown(rx));

    let store = state
        .create_store(
            new_store("crashy", Engine::Woocommerce),
            ROOMY,
            &audit_entry("tester", "store.create"),
            Utc::now(),
        )
        .await
        .expect("create")
        .store;
    signal.wake();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let current = state
            .get_store(store.id)
            .await
            .expect("get")
            .expect("exists");
        if current
            .status
            .conditions
            .is_true(ConditionType::StoreConfigured)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store was not resumed after the crash: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restarts = metrics
        .task_restarts
        .get_or_create(&TaskLabels {
            task: "pass".into(),
        })
        .get();
    assert_eq!(restarts, 1, "the crash is counted once");
    assert_eq!(
        driver.0.load(Ordering::SeqCst),
        2,
        "the namespace step ran again after the crash"
    );
    let _ = shutdown.send(true);
}
