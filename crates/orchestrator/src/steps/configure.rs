//! StoreConfigured: every Job of the release completed (the engine's setup Job); then the
//! owner's credentials are copied, sealed, into the state store.

use super::{readiness, Definition, StepOutcome, POLL_WORKLOADS};
use crate::Context;
use async_trait::async_trait;
use storefleet_cluster::Watched;
use storefleet_domain::{ConditionType, Step, Store};
use storefleet_state::OwnerCredentials;

pub struct Configure;

#[async_trait]
impl Definition for Configure {
    fn step(&self) -> Step {
        Step::Provision(ConditionType::StoreConfigured)
    }

    fn name(&self) -> &'static str {
        "configure"
    }

    fn waits_on(&self) -> Option<Watched> {
        Some(Watched::Jobs)
    }

    async fn act(&self, store: &Store, ctx: &Context) -> StepOutcome {
        match readiness(
            ctx.driver.jobs(store).await,
            "SetupComplete",
            "WaitingForSetup",
            "SetupFailed",
        ) {
            StepOutcome::Done { reason, message } => {
                copy_credentials(store, ctx, reason, message).await
            }
            other => other,
        }
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
