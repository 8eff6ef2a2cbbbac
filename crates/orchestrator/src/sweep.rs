//! Periodic housekeeping: delete stores whose time-to-live ran out, and namespaces labelled as
//! ours that no live store owns (left by a crash between creating a namespace and recording it,
//! or by someone deleting rows by hand).

use crate::Context;
use chrono::Utc;
use std::collections::HashSet;

pub async fn expire_and_delete_orphans(ctx: &Context) {
    match ctx.state.expire_stores(Utc::now()).await {
        Ok(expired) if !expired.is_empty() => {
            tracing::info!(count = expired.len(), "stores expired; deleting")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "expiring stores failed"),
    }
    if let Err(e) = delete_orphans(ctx).await {
        tracing::debug!(error = %e, "orphan namespace sweep skipped");
    }
}

async fn delete_orphans(ctx: &Context) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Read the cluster first: a store created after this read cannot be mistaken for an orphan.
    let namespaces = ctx.driver.managed_namespaces().await?;
    let live: HashSet<String> = ctx.state.live_store_ids().await?.into_iter().collect();
    for ns in namespaces {
        if ns.terminating || ns.store_id.as_ref().is_some_and(|id| live.contains(id)) {
            continue;
        }
        tracing::warn!(namespace = %ns.name, store = ?ns.store_id, "deleting a namespace no live store owns");
        ctx.driver.delete_namespace(&ns.name).await?;
        ctx.metrics.orphans_deleted.inc();
    }
    Ok(())
}
