//! Orchestrator metrics in the shared registry; error kinds become labels.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub step: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    pub task: String,
}

#[derive(Clone)]
pub struct OrchestratorMetrics {
    pub steps: Family<StepLabels, Counter>,
    pub step_seconds: Family<StepLabels, Histogram>,
    pub claimed: Counter,
    pub in_flight: Gauge,
    pub lost_leases: Counter,
    pub orphans_deleted: Counter,
    pub task_restarts: Family<TaskLabels, Counter>,
    /// Waiting stores brought forward by a watch event instead of their next poll.
    pub early_wakes: Counter,
}

impl OrchestratorMetrics {
    /// Metrics not exposed anywhere (tests, tools).
    pub fn unregistered() -> Self {
        Self {
            steps: Family::default(),
            step_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
            claimed: Counter::default(),
            in_flight: Gauge::default(),
            lost_leases: Counter::default(),
            orphans_deleted: Counter::default(),
            task_restarts: Family::default(),
            early_wakes: Counter::default(),
        }
    }

    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        registry.register(
            "orchestrator_steps",
            "Provisioning and deletion steps taken, by outcome",
            metrics.steps.clone(),
        );
        registry.register(
            "orchestrator_step_duration_seconds",
            "Time one step took",
            metrics.step_seconds.clone(),
        );
        registry.register(
            "orchestrator_claimed",
            "Stores claimed under a lease",
            metrics.claimed.clone(),
        );
        registry.register(
            "orchestrator_in_flight",
            "Stores being worked on now",
            metrics.in_flight.clone(),
        );
        registry.register(
            "orchestrator_lost_leases",
            "Passes abandoned because the lease was lost",
            metrics.lost_leases.clone(),
        );
        registry.register(
            "orchestrator_early_wakes",
            "Waiting stores looked at again because a watch saw a change, before their next poll",
            metrics.early_wakes.clone(),
        );
        registry.register(
            "orchestrator_orphans_deleted",
            "Namespaces deleted because no live store owned them",
            metrics.orphans_deleted.clone(),
        );
        registry.register(
            "orchestrator_task_restarts",
            "Background tasks that crashed and were restarted",
            metrics.task_restarts.clone(),
        );
        metrics
    }
}
