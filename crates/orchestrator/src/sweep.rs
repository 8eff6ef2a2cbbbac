//! Periodic housekeeping: delete stores whose time-to-live ran out, and namespaces labelled as
//! ours whose store this database knows but no longer keeps live. A labelled namespace of a
//! store this database has never seen is left alone: labels are not proof of ownership, and an
//! orchestrator on an empty or wrong database pointed at a real cluster must not delete other
//! installations' stores (unless an operator asks, `--sweep-unknown-namespaces`).

use crate::Context;
use chrono::Utc;
use std::collections::HashSet;

pub async fn expire_and_delete_orphans(ctx: &Context, sweep_unknown: bool) {
    match ctx.state.expire_stores(Utc::now()).await {
        Ok(expired) if !expired.is_empty() => {
            tracing::info!(count = expired.len(), "stores expired; deleting")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "expiring stores failed"),
    }
    if let Err(e) = delete_orphans(ctx, sweep_unknown).await {
        tracing::debug!(error = %e, api_server = %ctx.cluster_address, "orphan namespace sweep skipped");
    }
}

async fn delete_orphans(
    ctx: &Context,
    sweep_unknown: bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Read the cluster first: a store created after this read cannot be mistaken for an orphan.
    let namespaces = ctx.driver.managed_namespaces().await?;
    let live: HashSet<String> = ctx.state.live_store_ids().await?.into_iter().collect();
    for ns in namespaces {
        if ns.terminating || ns.store_id.as_ref().is_some_and(|id| live.contains(id)) {
            continue;
        }
        if !sweep_unknown && !known_here(ctx, ns.store_id.as_deref()).await? {
            tracing::warn!(
                namespace = %ns.name,
                store = ?ns.store_id,
                "a namespace labelled as a store this database has never seen: left alone \
                 (another installation's? --sweep-unknown-namespaces deletes such namespaces)"
            );
            continue;
        }
        tracing::warn!(namespace = %ns.name, store = ?ns.store_id, "deleting a namespace no live store owns");
        ctx.driver.delete_namespace(&ns.name).await?;
        ctx.metrics.orphans_deleted.inc();
    }
    Ok(())
}

/// Whether this database has ever held the store a namespace is labelled with (in any phase).
async fn known_here(
    ctx: &Context,
    store_id: Option<&str>,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let Some(id) = store_id.and_then(|id| storefleet_domain::StoreId::parse_str(id).ok()) else {
        return Ok(false);
    };
    Ok(ctx.state.get_store(id).await?.is_some())
}
