//! One step against the cluster for one store, and what came of it. Only this module calls the driver.

use crate::Context;
use std::time::Duration;
use storefleet_cluster::{storefront_service, ClusterError, OrderCheckVia, Readiness};
use storefleet_domain::{Action, ConditionType, Store};
use storefleet_ordercheck::{StoreCredentials, Target};
use storefleet_state::OwnerCredentials;

/// How often a store waiting on its pods, its setup Job or its namespace's removal is looked
/// at again. A watch brings it forward as soon as what it waits on changes
/// (`wake_on_change`), so the poll is only the fallback when watching fails.
pub const POLL_WORKLOADS: Duration = Duration::from_secs(2);
pub const POLL_NAMESPACE_GONE: Duration = Duration::from_secs(2);
/// How often a failing order check is tried again, until the store's deadline.
pub const RETRY_ORDER_CHECK: Duration = Duration::from_secs(5);
/// Longest one whole order check may take.
pub const ORDER_CHECK_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug)]
pub enum StepOutcome {
    /// The step's goal holds now; `reason` and `message` describe it.
    Done {
        reason: &'static str,
        message: String,
    },
    /// Not there yet; look again after `retry_after`.
    Waiting {
        reason: &'static str,
        message: String,
        retry_after: Duration,
    },
    /// The step failed; retry with backoff, or fail the store when the error is permanent.
    Error(ClusterError),
    /// Waiting will not help: the store fails.
    Fatal {
        reason: &'static str,
        message: String,
    },
}

impl StepOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            StepOutcome::Done { .. } => "done",
            StepOutcome::Waiting { .. } => "waiting",
            StepOutcome::Error(_) => "error",
            StepOutcome::Fatal { .. } => "fatal",
        }
    }
}

/// The metric and log name of an action.
pub fn step_name(action: Action) -> &'static str {
    match action {
        Action::Provision(ConditionType::NamespaceReady) => "namespace",
        Action::Provision(ConditionType::GuardrailsApplied) => "guardrails",
        Action::Provision(ConditionType::ReleaseInstalled) => "release",
        Action::Provision(ConditionType::WorkloadsReady) => "workloads",
        Action::Provision(ConditionType::StoreConfigured) => "configure",
        Action::Provision(ConditionType::OrderCheckPassed) => "order_check",
        Action::MarkReady => "mark_ready",
        Action::DeleteNamespace => "delete_namespace",
        Action::AwaitNamespaceGone => "await_namespace_gone",
        Action::MarkDeleted => "mark_deleted",
        Action::Nothing => "nothing",
    }
}

fn readiness(
    r: Result<Readiness, ClusterError>,
    done: &'static str,
    waiting: &'static str,
    failed: &'static str,
) -> StepOutcome {
    match r {
        Ok(Readiness::Ready(message)) => StepOutcome::Done {
            reason: done,
            message,
        },
        Ok(Readiness::Waiting(message)) => StepOutcome::Waiting {
            reason: waiting,
            message,
            retry_after: POLL_WORKLOADS,
        },
        Ok(Readiness::Failed(message)) => StepOutcome::Fatal {
            reason: failed,
            message,
        },
        Err(e) => StepOutcome::Error(e),
    }
}

fn done_or_error(r: Result<(), ClusterError>, reason: &'static str, message: &str) -> StepOutcome {
    match r {
        Ok(()) => StepOutcome::Done {
            reason,
            message: message.to_owned(),
        },
        Err(e) => StepOutcome::Error(e),
    }
}

/// Place a real test order through the store's own storefront API. A store that cannot take an
/// order yet is not ready: the check is retried, with its reason visible, until the deadline.
async fn order_check(store: &Store, ctx: &Context) -> StepOutcome {
    let secrets = match ctx.driver.store_secrets(store).await {
        Ok(secrets) => secrets,
        Err(e) => return StepOutcome::Error(e),
    };
    let credentials = StoreCredentials {
        publishable_key: secrets.get("publishable-key").cloned(),
        admin_email: secrets.get("admin-email").cloned(),
        admin_password: secrets.get("admin-password").cloned(),
    };
    let cluster_ip = if ctx.settings.order_check_via == OrderCheckVia::ServiceIp {
        let (service, _) = storefront_service(store.engine);
        match ctx.driver.service_cluster_ip(store, &service).await {
            Ok(ip) => Some(ip),
            Err(e) => return StepOutcome::Error(e),
        }
    } else {
        None
    };
    let target = Target::new(
        store.engine,
        ctx.settings.order_check_url(store, cluster_ip.as_deref()),
        credentials,
    );
    let waiting = |message: String| StepOutcome::Waiting {
        reason: "OrderCheckFailed",
        message,
        retry_after: RETRY_ORDER_CHECK,
    };
    match tokio::time::timeout(
        ORDER_CHECK_TIMEOUT,
        ctx.order_check.place_test_order(&target),
    )
    .await
    {
        Ok(Ok(report)) => StepOutcome::Done {
            reason: "OrderPlaced",
            message: format!(
                "test order {} placed through {} in {} ms",
                report.order_id,
                target.base_url,
                report.total.as_millis()
            ),
        },
        Ok(Err(e)) => waiting(format!(
            "test order through {} failed: {e}",
            target.base_url
        )),
        Err(_) => waiting(format!(
            "test order through {} took longer than {} s",
            target.base_url,
            ORDER_CHECK_TIMEOUT.as_secs()
        )),
    }
}

/// Once setup is complete (Medusa's publishable key exists only then), keep the owner's
/// credentials in the state store, sealed with the platform key, so the credential view needs
/// no cluster access. Without a platform key no copy is kept. Repeating it replaces the copy.
async fn copy_credentials(
    store: &Store,
    ctx: &Context,
    reason: &'static str,
    message: String,
) -> StepOutcome {
    let Some(key) = ctx.platform_key.as_ref() else {
        return StepOutcome::Done { reason, message };
    };
    let secrets = match ctx.driver.store_secrets(store).await {
        Ok(secrets) => secrets,
        Err(e) => return StepOutcome::Error(e),
    };
    let sealed = key.seal_credentials(store.id, &OwnerCredentials::from_secret_keys(&secrets));
    match ctx
        .state
        .save_credentials(store.id, &sealed, chrono::Utc::now())
        .await
    {
        Ok(_) => StepOutcome::Done {
            reason,
            message: format!("{message}; credentials copied for the owner"),
        },
        // The state store is down or busy: setup stays done in the cluster; look again soon.
        Err(e) => StepOutcome::Waiting {
            reason: "CredentialsNotCopied",
            message: format!("setup is complete but the credential copy could not be kept: {e}"),
            retry_after: POLL_WORKLOADS,
        },
    }
}

/// Take one step. Each is idempotent: repeating it after a crash finds what is already there.
pub async fn run(action: Action, store: &Store, ctx: &Context) -> StepOutcome {
    let driver = ctx.driver.as_ref();
    match action {
        Action::Provision(ConditionType::NamespaceReady) => done_or_error(
            driver.ensure_namespace(store).await,
            "NamespaceCreated",
            &format!("namespace {} is ready", store.namespace),
        ),
        Action::Provision(ConditionType::GuardrailsApplied) => done_or_error(
            driver.apply_guardrails(store).await,
            "GuardrailsApplied",
            &format!("quota, limit range, network policies, role binding and credentials for plan {} applied", store.plan),
        ),
        Action::Provision(ConditionType::ReleaseInstalled) => match driver.install_release(store).await {
            Ok(message) => StepOutcome::Done { reason: "ReleaseInstalled", message },
            Err(ClusterError::Permanent(message)) => StepOutcome::Fatal { reason: "ReleaseImpossible", message },
            Err(e) => StepOutcome::Error(e),
        },
        Action::Provision(ConditionType::WorkloadsReady) => {
            readiness(driver.workloads(store).await, "WorkloadsReady", "WaitingForWorkloads", "WorkloadsFailed")
        }
        Action::Provision(ConditionType::StoreConfigured) => {
            match readiness(driver.jobs(store).await, "SetupComplete", "WaitingForSetup", "SetupFailed") {
                StepOutcome::Done { reason, message } => copy_credentials(store, ctx, reason, message).await,
                other => other,
            }
        }
        Action::Provision(ConditionType::OrderCheckPassed) => order_check(store, ctx).await,
        Action::DeleteNamespace => done_or_error(
            driver.delete_namespace(&store.namespace).await,
            "NamespaceDeleting",
            &format!("namespace {} is being deleted", store.namespace),
        ),
        Action::AwaitNamespaceGone => match driver.namespace_exists(&store.namespace).await {
            Ok(false) => StepOutcome::Done { reason: "NamespaceGone", message: format!("namespace {} is gone", store.namespace) },
            Ok(true) => StepOutcome::Waiting {
                reason: "NamespaceTerminating",
                message: format!("waiting for namespace {} to be removed", store.namespace),
                retry_after: POLL_NAMESPACE_GONE,
            },
            Err(e) => StepOutcome::Error(e),
        },
        Action::MarkReady | Action::MarkDeleted | Action::Nothing => {
            StepOutcome::Done { reason: "NoClusterWork", message: String::new() }
        }
    }
}
