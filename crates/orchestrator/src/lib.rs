//! Storefleet's orchestrator: level-triggered, lease-based, bounded.
//!
//! For every store whose desired state differs from what was last observed, it takes the next
//! idempotent step. Stores are claimed under leases, so any number of replicas share the work
//! and a crashed replica's stores are resumed once its leases expire.

pub mod backoff;
pub mod metrics;
pub mod reconcile;
pub mod steps;
pub mod sweep;
pub mod tenant_reason;
pub mod transition;

use chrono::Utc;
use metrics::{OrchestratorMetrics, StepLabels, TaskLabels};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use steps::StepOutcome;
use storefleet_cluster::{ClusterDriver, ClusterSettings};
use storefleet_ordercheck::OrderCheck;
use storefleet_state::{PlatformKey, StateStore, WorkSignal};
use tokio::sync::{watch, Semaphore};

/// Settings of one orchestrator replica.
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// This replica's identity in leases; unique per process.
    pub owner: String,
    /// Stores worked on at once by this replica.
    pub concurrency: usize,
    pub lease: Duration,
    /// Longest sleep between looks at the state store, even with no wake-up.
    pub resync: Duration,
    /// How often TTL expiry and the orphan-namespace sweep run; the first run waits this long
    /// too, so an orchestrator started against the wrong cluster can be stopped before it acts.
    pub sweep_every: Duration,
    /// Also delete labelled namespaces of stores this database has never seen (an operator's
    /// explicit choice, e.g. after restoring an old backup); off by default.
    pub sweep_unknown_namespaces: bool,
    /// Seals the copy of each store's credentials kept for its owner's credential view;
    /// `None`: no copy is kept.
    pub platform_key: Option<PlatformKey>,
    /// The Kubernetes API server the driver talks to, named in every cluster error logged (not
    /// in store events: tenants need not know the platform's address).
    pub cluster_address: Option<String>,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            owner: format!(
                "orchestrator-{}-{}",
                std::process::id(),
                uuid::Uuid::now_v7().simple()
            ),
            concurrency: 8,
            lease: Duration::from_secs(30),
            resync: Duration::from_secs(10),
            sweep_every: Duration::from_secs(60),
            sweep_unknown_namespaces: false,
            platform_key: None,
            cluster_address: None,
        }
    }
}

/// What the orchestrator talks to: the state store, the cluster, and stores' storefronts
/// (for the order check). Tests hand in fakes for the last two.
pub struct Parts {
    pub state: StateStore,
    pub driver: Arc<dyn ClusterDriver>,
    pub settings: ClusterSettings,
    pub order_check: Arc<dyn OrderCheck>,
}

/// What every pass needs. Cheap to share.
pub struct Context {
    pub state: StateStore,
    pub driver: Arc<dyn ClusterDriver>,
    pub settings: ClusterSettings,
    pub owner: String,
    pub lease: Duration,
    pub metrics: OrchestratorMetrics,
    /// Places the order check's test orders (one connection pool shared by all passes).
    pub order_check: Arc<dyn OrderCheck>,
    /// Wakes this replica's loop (a store became due early).
    pub signal: WorkSignal,
    pub platform_key: Option<PlatformKey>,
    /// The Kubernetes API server, for logs ("-" when there is none).
    pub cluster_address: String,
}

impl Context {
    /// Everything a pass needs, for this replica's `config`; [`reconcile::reconcile`] takes it
    /// directly, so a test can drive a store without the loop.
    pub fn new(
        parts: Parts,
        config: &OrchestratorConfig,
        signal: WorkSignal,
        metrics: OrchestratorMetrics,
    ) -> Self {
        Self {
            state: parts.state,
            driver: parts.driver,
            settings: parts.settings,
            owner: config.owner.clone(),
            lease: config.lease,
            metrics,
            order_check: parts.order_check,
            signal,
            platform_key: config.platform_key.clone(),
            cluster_address: config
                .cluster_address
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
        }
    }

    fn observe(&self, step: &'static str, outcome: &StepOutcome, started: Instant) {
        let labels = StepLabels {
            step: step.to_owned(),
            outcome: outcome.label().to_owned(),
        };
        self.metrics.steps.get_or_create(&labels).inc();
        self.metrics
            .step_seconds
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
}

pub struct Orchestrator {
    ctx: Arc<Context>,
    config: OrchestratorConfig,
    signal: WorkSignal,
}

impl Orchestrator {
    pub fn new(
        parts: Parts,
        config: OrchestratorConfig,
        signal: WorkSignal,
        metrics: OrchestratorMetrics,
    ) -> Self {
        let ctx = Context::new(parts, &config, signal.clone(), metrics);
        Self {
            ctx: Arc::new(ctx),
            config,
            signal,
        }
    }

    /// Run until `shutdown` turns true, restarting the loop if it ever crashes.
    pub async fn run_until_shutdown(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        loop {
            let worker = tokio::spawn({
                let this = this.clone();
                let shutdown = shutdown.clone();
                async move { this.work_loop(shutdown).await }
            });
            match worker.await {
                Ok(()) => return,
                Err(e) => {
                    this.ctx
                        .metrics
                        .task_restarts
                        .get_or_create(&TaskLabels {
                            task: "work_loop".to_owned(),
                        })
                        .inc();
                    tracing::error!(error = %e, "orchestrator loop crashed; restarting it");
                    if *shutdown.borrow_and_update() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn work_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut next_sweep = Instant::now() + self.config.sweep_every;
        tracing::info!(owner = %self.config.owner, concurrency = self.config.concurrency, "orchestrator started");
        while !*shutdown.borrow() {
            if Instant::now() >= next_sweep {
                sweep::expire_and_delete_orphans(&self.ctx, self.config.sweep_unknown_namespaces)
                    .await;
                next_sweep = Instant::now() + self.config.sweep_every;
            }
            let free = slots.available_permits();
            if free > 0 {
                self.claim_and_spawn(&slots, free).await;
            }
            let sleep = self.sleep_for().await;
            tokio::select! {
                _ = self.signal.woken() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Let passes in flight finish their current step; their leases cover the rest.
        let all = u32::try_from(self.config.concurrency).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(Duration::from_secs(30), slots.acquire_many(all)).await;
        tracing::info!(owner = %self.config.owner, "orchestrator stopped");
    }

    async fn claim_and_spawn(&self, slots: &Arc<Semaphore>, free: usize) {
        let now = Utc::now();
        let lease_until = now
            + chrono::Duration::from_std(self.config.lease)
                .unwrap_or(chrono::Duration::seconds(30));
        let limit = i64::try_from(free).unwrap_or(i64::MAX);
        let claimed = match self
            .ctx
            .state
            .claim(&self.config.owner, now, lease_until, limit)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "claiming work failed; will retry");
                return;
            }
        };
        for work in claimed {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            self.ctx.metrics.claimed.inc();
            self.ctx.metrics.in_flight.inc();
            let ctx = self.ctx.clone();
            let signal = self.signal.clone();
            tokio::spawn(async move {
                let store_id = work.store.id;
                let pass = tokio::spawn(pass_under_lease(ctx.clone(), work));
                if let Err(e) = pass.await {
                    ctx.metrics
                        .task_restarts
                        .get_or_create(&TaskLabels {
                            task: "pass".to_owned(),
                        })
                        .inc();
                    tracing::error!(store = %store_id, error = %e, "a pass crashed; the store is retried when its lease expires");
                }
                ctx.metrics.in_flight.dec();
                drop(permit);
                // A slot is free: look for more work now.
                signal.wake();
            });
        }
    }

    /// Sleep until the earliest store wants attention, but never past the resync interval.
    async fn sleep_for(&self) -> Duration {
        let resync = self.config.resync;
        match self.ctx.state.next_wake().await {
            Ok(Some(at)) => (at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(20), resync),
            Ok(None) => resync,
            Err(_) => Duration::from_secs(1),
        }
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One pass with a lease renewer beside it; the renewer flags a lost lease so the pass stops.
async fn pass_under_lease(ctx: Arc<Context>, work: storefleet_state::Work) {
    let lost = Arc::new(AtomicBool::new(false));
    let store_id = work.store.id;
    // Dropped on every way out of this pass — a panic included — so a crashed pass never keeps
    // renewing its lease (the store would be stuck with no one working on it).
    let _renewer = AbortOnDrop(tokio::spawn({
        let ctx = ctx.clone();
        let lost = lost.clone();
        async move {
            let every = ctx.lease / 3;
            loop {
                tokio::time::sleep(every).await;
                let until = Utc::now()
                    + chrono::Duration::from_std(ctx.lease)
                        .unwrap_or(chrono::Duration::seconds(30));
                match ctx.state.renew_lease(store_id, &ctx.owner, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(store = %store_id, error = %e, "lease renewal failed; retrying")
                    }
                }
            }
        }
    }));
    match reconcile::reconcile(&ctx, work, &lost).await {
        Ok(reconcile::PassEnd::Waiting { watch: Some(wait) }) => {
            tokio::spawn(wake_on_change(ctx.clone(), wait));
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(store = %store_id, error = %e, "recording progress failed; the store is retried after its lease expires")
        }
    }
}

/// Watch what a waiting store waits on, without holding a slot, and make the store due as
/// soon as it changes instead of at its next poll. Gone by the time the poll is due; a failed
/// watch only costs latency (the poll still comes).
async fn wake_on_change(ctx: Arc<Context>, wait: Box<reconcile::WaitFor>) {
    let store_id = wait.store.id;
    match ctx
        .driver
        .wait_for_change(&wait.store, wait.what, wait.until)
        .await
    {
        Ok(true) => match ctx.state.make_due(store_id, Utc::now()).await {
            Ok(true) => {
                ctx.metrics.early_wakes.inc();
                ctx.signal.wake();
            }
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(store = %store_id, error = %e, "could not bring the store forward; it is polled")
            }
        },
        Ok(false) => {}
        Err(e) => {
            tracing::debug!(store = %store_id, what = ?wait.what, error = %e, "watch failed; the store is polled")
        }
    }
}

/// Forward PostgreSQL notifications on the work channel to the in-process signal, reconnecting
/// with a pause when the connection drops, until `shutdown`. Missed notifications only cost
/// latency: a wake after every reconnect makes the resync find the work.
pub async fn forward_notifications(
    database_url: String,
    signal: WorkSignal,
    shutdown: watch::Receiver<bool>,
) {
    storefleet_state::listen(
        database_url,
        &[storefleet_state::WORK_CHANNEL],
        |_| signal.wake(),
        shutdown,
    )
    .await;
}
