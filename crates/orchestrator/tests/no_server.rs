//! A store driven all the way through its life with no server at all: a real SQLite state
//! store, a scripted cluster (`FakeCluster`) and a scripted order check. The reconcile is called
//! directly, one pass at a time, so each test reads as the passes the orchestrator would make.
//! What a real API server and helm do is proven in `cluster.rs`; here it is the orchestrator's
//! own decisions, in milliseconds.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use chrono::Utc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use storefleet_cluster::fake::{healthy_secrets, FakeCluster, Method};
use storefleet_cluster::{ClusterError, ClusterSettings, OrderCheckVia, Readiness, Watched};
use storefleet_domain::secrets::key;
use storefleet_domain::{ConditionType, Engine, Phase, Store};
use storefleet_orchestrator::metrics::OrchestratorMetrics;
use storefleet_orchestrator::reconcile::{reconcile, PassEnd};
use storefleet_orchestrator::{Context, OrchestratorConfig, Parts};
use storefleet_ordercheck::fake::{refused, FakeOrderCheck};
use storefleet_state::fixtures::{audit_entry, new_store, ROOMY};
use storefleet_state::{NewStore, PlatformKey, StateStore, WorkSignal};

struct Harness {
    state: StateStore,
    ctx: Context,
    cluster: Arc<FakeCluster>,
    orders: Arc<FakeOrderCheck>,
    key: PlatformKey,
    _dir: tempfile::TempDir,
}

async fn harness_with(settings: ClusterSettings) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = StateStore::connect(&format!("sqlite://{}/state.db", dir.path().display()))
        .await
        .expect("state");
    let cluster = Arc::new(FakeCluster::healthy());
    let orders = Arc::new(FakeOrderCheck::default());
    let key = PlatformKey::from_base64(&PlatformKey::generate_base64()).expect("key");
    let config = OrchestratorConfig {
        platform_key: Some(key.clone()),
        ..OrchestratorConfig::default()
    };
    let parts = Parts {
        state: state.clone(),
        driver: cluster.clone(),
        settings,
        order_check: orders.clone(),
    };
    let ctx = Context::new(
        parts,
        &config,
        WorkSignal::default(),
        OrchestratorMetrics::unregistered(),
    );
    Harness {
        state,
        ctx,
        cluster,
        orders,
        key,
        _dir: dir,
    }
}

async fn harness() -> Harness {
    harness_with(ClusterSettings::default()).await
}

impl Harness {
    async fn create_new(&self, new: NewStore) -> Store {
        self.state
            .create_store(
                new,
                ROOMY,
                &audit_entry("tester", "store.create"),
                Utc::now(),
            )
            .await
            .expect("create")
            .store
    }

    async fn create(&self, name: &str) -> Store {
        self.create_new(new_store(name, Engine::Medusa)).await
    }

    async fn delete(&self, store: &Store) {
        self.state
            .request_delete(store.id, &audit_entry("tester", "store.delete"), Utc::now())
            .await
            .expect("delete")
            .expect("found");
    }

    /// One pass, as the loop would make it once the store is due; `None` when nothing is due
    /// at all (a settled store). Claiming "an hour from now" skips the wait of a waiting store
    /// the way a watch event would bring it forward.
    async fn pass(&self) -> Option<PassEnd> {
        let due = Utc::now() + chrono::Duration::hours(1);
        let lease = due + chrono::Duration::seconds(30);
        let work = self
            .state
            .claim(&self.ctx.owner, due, lease, 1)
            .await
            .expect("claim")
            .pop()?;
        let lease_lost = AtomicBool::new(false);
        Some(
            reconcile(&self.ctx, work, &lease_lost)
                .await
                .expect("recorded"),
        )
    }

    async fn get(&self, store: &Store) -> Store {
        self.state
            .get_store(store.id)
            .await
            .expect("get")
            .expect("exists")
    }

    async fn reasons(&self, store: &Store) -> Vec<String> {
        let events = self.state.events(store.id, 0, 1000).await.expect("events");
        events.into_iter().map(|e| e.reason).collect()
    }
}

fn settled(end: Option<PassEnd>) -> bool {
    matches!(end, Some(PassEnd::Settled))
}

fn waiting_on(end: Option<PassEnd>) -> Option<Watched> {
    match end {
        Some(PassEnd::Waiting { watch }) => watch.map(|w| w.what),
        other => panic!("expected the store to wait, the pass ended {other:?}"),
    }
}

#[tokio::test]
async fn a_store_reaches_ready_and_is_deleted_with_no_server() {
    let h = harness().await;
    let store = h.create("shop").await;

    assert!(
        settled(h.pass().await),
        "one pass takes a healthy store to ready"
    );
    let ready = h.get(&store).await;
    assert_eq!(ready.status.phase, Phase::Ready);
    for kind in ConditionType::ORDER {
        assert!(
            ready.status.conditions.is_true(kind),
            "{kind:?} should be True"
        );
    }
    assert_eq!(ready.status.observed_generation, ready.generation);
    assert_eq!(
        ready.status.storefront_url.as_deref(),
        Some("http://shop.127.0.0.1.nip.io/")
    );
    assert_eq!(
        h.cluster.methods(),
        vec![
            Method::EnsureNamespace,
            Method::ApplyGuardrails,
            Method::InstallRelease,
            Method::Workloads,
            Method::Jobs,
            Method::StoreSecrets, // the owner's credential copy
            Method::StoreSecrets, // the order check's credentials
        ]
    );
    assert!(h
        .cluster
        .calls()
        .iter()
        .all(|c| c.namespace == store.namespace));
    let targets = h.orders.targets();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].base_url, "http://shop.127.0.0.1.nip.io");
    assert_eq!(
        targets[0].credentials.publishable_key,
        healthy_secrets().get(key::PUBLISHABLE_KEY).cloned()
    );
    let sealed = h
        .state
        .sealed_credentials(store.id)
        .await
        .expect("read")
        .expect("a credential copy is kept for the owner");
    let copy = h
        .key
        .open_credentials(store.id, &sealed)
        .expect("opens with the platform key");
    assert_eq!(copy.admin_email.as_deref(), Some("admin@example.com"));
    assert_eq!(
        h.reasons(&store).await[1..],
        [
            "Provisioning",
            "NamespaceCreated",
            "GuardrailsApplied",
            "ReleaseInstalled",
            "WorkloadsReady",
            "SetupComplete",
            "OrderPlaced",
            "Ready"
        ]
    );
    assert!(h.pass().await.is_none(), "a ready store is not due again");

    h.delete(&store).await;
    assert!(
        settled(h.pass().await),
        "a gone namespace ends the deletion at once"
    );
    let deleted = h.get(&store).await;
    assert_eq!(deleted.status.phase, Phase::Deleted);
    assert_eq!(deleted.status.observed_generation, deleted.generation);
    assert_eq!(
        h.cluster.methods()[7..],
        [Method::DeleteNamespace, Method::NamespaceExists]
    );
    assert!(h.cluster.namespaces().is_empty());
    let reasons = h.reasons(&store).await;
    assert_eq!(
        reasons[reasons.len() - 3..],
        ["DeleteRequested", "NamespaceDeleting", "Deleted"]
    );
    assert_eq!(
        h.state.sealed_credentials(store.id).await.expect("read"),
        None
    );
    assert!(h.pass().await.is_none(), "a deleted store is not due again");
}

#[tokio::test]
async fn waiting_steps_hand_the_store_back_with_what_to_watch_and_go_on_later() {
    let h = harness().await;
    let store = h.create("patient").await;
    let pods = |m: &str| Ok(Readiness::Waiting(m.to_owned()));
    h.cluster
        .script_workloads([pods("0/2 ready"), pods("0/2 ready"), pods("1/2 ready")]);
    h.cluster
        .script_jobs([Ok(Readiness::Waiting("setup running".into()))]);

    assert_eq!(waiting_on(h.pass().await), Some(Watched::Workloads));
    let waiting = h.get(&store).await;
    assert_eq!(waiting.status.phase, Phase::Provisioning);
    assert_eq!(waiting.status.message.as_deref(), Some("0/2 ready"));
    assert_eq!(waiting_on(h.pass().await), Some(Watched::Workloads));
    assert_eq!(waiting_on(h.pass().await), Some(Watched::Workloads));
    assert_eq!(waiting_on(h.pass().await), Some(Watched::Jobs));
    assert!(settled(h.pass().await));
    assert_eq!(h.get(&store).await.status.phase, Phase::Ready);
    let waits: Vec<_> = h
        .reasons(&store)
        .await
        .into_iter()
        .filter(|r| r.starts_with("WaitingFor"))
        .collect();
    assert_eq!(
        waits,
        [
            "WaitingForWorkloads",
            "WaitingForWorkloads",
            "WaitingForSetup"
        ],
        "the same message twice in a row is one event"
    );
}

#[tokio::test]
async fn a_transient_error_backs_off_and_the_next_pass_goes_on() {
    let h = harness().await;
    let store = h.create("flaky").await;
    let down = || Err(ClusterError::Unavailable("connection refused".into()));
    h.cluster.script_apply_guardrails([down(), down()]);

    assert_eq!(
        waiting_on(h.pass().await),
        None,
        "a backoff watches nothing"
    );
    let first = h.get(&store).await;
    assert!(first
        .status
        .conditions
        .is_true(ConditionType::NamespaceReady));
    let message = first.status.message.clone().unwrap_or_default();
    assert!(
        message.contains("guardrails failed") && message.contains("attempt 1, retrying in 1 s"),
        "{message}"
    );
    assert_eq!(waiting_on(h.pass().await), None);
    let second = h.get(&store).await.status.message.unwrap_or_default();
    assert!(second.contains("attempt 2, retrying in 2 s"), "{second}");
    assert!(settled(h.pass().await));
    assert_eq!(h.get(&store).await.status.phase, Phase::Ready);
    let failures = h
        .reasons(&store)
        .await
        .iter()
        .filter(|r| *r == "StepFailed")
        .count();
    assert_eq!(failures, 2, "each failed attempt is an event");
}

/// What the API serves of a store (its message, conditions and events) holds a classified
/// reason; the API server's own text, naming the orchestrator's service account and the
/// quota's numbers, stays in the orchestrator's log.
#[tokio::test]
async fn a_refused_step_shows_the_tenant_a_classified_reason_never_the_cluster_s_text() {
    let h = harness().await;
    let store = h.create("quota-bound").await;
    let raw = "resourcequotas \"store\" is forbidden: exceeded quota: store, requested: \
               limits.memory=4Gi, used: limits.memory=1Gi, limited: limits.memory=2Gi; \
               User \"system:serviceaccount:storefleet:storefleet-orchestrator\"";
    h.cluster
        .script_apply_guardrails([Err(ClusterError::Rejected(raw.into()))]);
    assert_eq!(waiting_on(h.pass().await), None);

    let seen = h.get(&store).await;
    let events = h.state.events(store.id, 0, 1000).await.expect("events");
    let failed = events
        .iter()
        .find(|e| e.reason == "StepFailed")
        .expect("a StepFailed event");
    assert_eq!(
        failed.message,
        "guardrails failed: the store's resource quota does not allow it; attempt 1, retrying in 1 s"
    );
    let condition = seen
        .status
        .conditions
        .get(ConditionType::GuardrailsApplied)
        .expect("condition")
        .message
        .clone();
    let mut shown: Vec<String> = events.into_iter().map(|e| e.message).collect();
    shown.extend([seen.status.message.unwrap_or_default(), condition]);
    for text in shown {
        for fragment in ["serviceaccount", "4Gi", "limits.memory", "resourcequotas"] {
            assert!(
                !text.contains(fragment),
                "{fragment:?} reached the tenant: {text}"
            );
        }
    }
}

#[tokio::test]
async fn a_permanent_error_fails_the_store_and_nothing_more_is_tried() {
    let h = harness().await;
    let store = h.create("doomed").await;
    h.cluster
        .script_install_release([Err(ClusterError::Permanent(
            "chart medusa not found".into(),
        ))]);

    assert!(settled(h.pass().await));
    let failed = h.get(&store).await;
    assert_eq!(failed.status.phase, Phase::Failed);
    // The operator's path stays in the log; the tenant is told what kind of failure it is.
    assert_eq!(
        failed.status.message.as_deref(),
        Some("release failed: the platform cannot install this engine; its operator has been told")
    );
    assert_eq!(
        failed
            .status
            .conditions
            .reason_of(ConditionType::ReleaseInstalled),
        Some("ReleaseImpossible")
    );
    assert_eq!(h.cluster.methods().last(), Some(&Method::InstallRelease));
    assert!(h.pass().await.is_none(), "a failed store is not retried");
}

#[tokio::test]
async fn a_retried_failed_store_provisions_again_from_the_step_that_failed() {
    let h = harness().await;
    let store = h.create("second-go").await;
    h.cluster
        .script_install_release([Err(ClusterError::Permanent(
            "chart medusa not found".into(),
        ))]);
    assert!(settled(h.pass().await));
    let failed = h.get(&store).await;
    assert_eq!(failed.status.phase, Phase::Failed);

    let now = Utc::now();
    let deadline = now + chrono::Duration::minutes(10);
    let retried = h
        .state
        .retry_store(
            store.id,
            deadline,
            &audit_entry("tester", "store.retry"),
            now,
        )
        .await
        .expect("retry")
        .expect("found");
    let retried = match retried {
        storefleet_state::RetryOutcome::Retried(store) => store,
        other => panic!("a failed store is retried: {other:?}"),
    };
    assert_eq!(retried.status.phase, Phase::Provisioning);
    assert_eq!(retried.generation, failed.generation + 1);
    assert_eq!(
        retried.deadline_at.timestamp_millis(),
        deadline.timestamp_millis()
    );
    let calls_before = h.cluster.methods().len();

    // The cause is gone (the fake installs this time): the next pass finishes the store.
    assert!(settled(h.pass().await), "the retried store is picked up");
    let ready = h.get(&store).await;
    assert_eq!(ready.status.phase, Phase::Ready);
    assert_eq!(
        h.cluster.methods()[calls_before],
        Method::InstallRelease,
        "the namespace and guardrails, already done, are not redone"
    );
    let reasons = h.reasons(&store).await;
    let retry_at = reasons
        .iter()
        .position(|r| r == "RetryRequested")
        .expect("a RetryRequested event");
    assert_eq!(reasons.last().map(String::as_str), Some("Ready"));
    assert!(reasons[..retry_at].contains(&"ReleaseImpossible".to_owned()));

    // Only a failed store: retrying a ready one changes nothing.
    let again = h
        .state
        .retry_store(
            store.id,
            deadline,
            &audit_entry("tester", "store.retry"),
            Utc::now(),
        )
        .await
        .expect("retry")
        .expect("found");
    assert!(matches!(
        again,
        storefleet_state::RetryOutcome::NotFailed(_)
    ));
    assert!(h.pass().await.is_none(), "a ready store is not due again");
}

#[tokio::test]
async fn a_failing_order_check_keeps_the_store_provisioning_with_the_engine_s_reason() {
    let h = harness().await;
    let store = h.create("no-cod").await;
    h.orders.script([Err(refused(
        "checkout",
        400,
        "The cod payment gateway is not available.",
    ))]);

    assert_eq!(waiting_on(h.pass().await), None);
    let waiting = h.get(&store).await;
    assert_eq!(
        waiting.status.phase,
        Phase::Provisioning,
        "no order, not ready"
    );
    assert_eq!(
        waiting
            .status
            .conditions
            .reason_of(ConditionType::OrderCheckPassed),
        Some("OrderCheckFailed")
    );
    let message = waiting.status.message.unwrap_or_default();
    assert!(
        message.contains("checkout returned 400: The cod payment gateway is not available."),
        "{message}"
    );
    assert!(settled(h.pass().await), "the next check goes through");
    assert_eq!(h.get(&store).await.status.phase, Phase::Ready);
    assert_eq!(h.orders.targets().len(), 2);
}

#[tokio::test]
async fn from_the_node_the_order_check_goes_to_the_service_s_cluster_ip() {
    let h = harness_with(ClusterSettings {
        order_check_via: OrderCheckVia::ServiceIp,
        ..ClusterSettings::default()
    })
    .await;
    h.create("on-node").await;
    assert!(settled(h.pass().await));
    assert!(h.cluster.methods().contains(&Method::ServiceClusterIp));
    assert_eq!(h.orders.targets()[0].base_url, "http://10.96.0.10:9000");
}

#[tokio::test]
async fn deletion_waits_until_the_namespace_is_gone() {
    let h = harness().await;
    let store = h.create("lingering").await;
    assert!(settled(h.pass().await));
    h.cluster.script_namespace_exists([Ok(true), Ok(true)]);
    h.delete(&store).await;

    assert_eq!(waiting_on(h.pass().await), Some(Watched::NamespaceGone));
    assert_eq!(h.get(&store).await.status.phase, Phase::Deleting);
    assert_eq!(waiting_on(h.pass().await), Some(Watched::NamespaceGone));
    assert!(settled(h.pass().await));
    assert_eq!(h.get(&store).await.status.phase, Phase::Deleted);
    let deletes = h
        .cluster
        .methods()
        .iter()
        .filter(|m| **m == Method::DeleteNamespace)
        .count();
    assert_eq!(deletes, 1, "the namespace is deleted once, then waited for");
    let terminating = h
        .reasons(&store)
        .await
        .iter()
        .filter(|r| *r == "NamespaceTerminating")
        .count();
    assert_eq!(terminating, 1, "the same wait twice is one event");
}

#[tokio::test]
async fn a_store_deleted_before_any_step_needs_no_cluster() {
    let h = harness().await;
    let store = h.create("never-built").await;
    h.delete(&store).await;
    assert!(settled(h.pass().await));
    assert_eq!(h.get(&store).await.status.phase, Phase::Deleted);
    assert!(h.cluster.calls().is_empty(), "{:?}", h.cluster.calls());
}

#[tokio::test]
async fn past_its_deadline_a_store_fails_without_a_cluster_call() {
    let h = harness().await;
    let late = NewStore {
        deadline_at: Utc::now() - chrono::Duration::seconds(1),
        ..new_store("late", Engine::Woocommerce)
    };
    let store = h.create_new(late).await;
    assert!(settled(h.pass().await));
    let failed = h.get(&store).await;
    assert_eq!(failed.status.phase, Phase::Failed);
    assert!(failed
        .status
        .message
        .unwrap_or_default()
        .starts_with("provisioning did not finish before its deadline"));
    assert!(h.cluster.calls().is_empty());
}

#[tokio::test]
async fn a_pass_whose_lease_was_lost_records_nothing() {
    let h = harness().await;
    let store = h.create("taken").await;
    let now = Utc::now();
    let work = h
        .state
        .claim(&h.ctx.owner, now, now + chrono::Duration::seconds(30), 1)
        .await
        .expect("claim")
        .pop()
        .expect("due");
    let lost = AtomicBool::new(true);
    let end = reconcile(&h.ctx, work, &lost).await.expect("no error");
    assert!(matches!(end, PassEnd::LeaseLost), "{end:?}");
    assert_eq!(h.get(&store).await.status.phase, Phase::Requested);
    assert!(h.cluster.calls().is_empty());
}
