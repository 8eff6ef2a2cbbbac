//! Decoding stored rows back into domain types.

use crate::StateError;
use chrono::{DateTime, Utc};
use sqlx::{any::AnyRow, Row};
use storefleet_domain::{Conditions, Store, StoreId, StoreName, StoreSpec, StoreStatus, UserName};
use uuid::Uuid;

/// Every column of `stores`, in the order [`store_from_row`] reads them by name.
pub(crate) const STORE_COLUMNS: &str =
    "id, name, owner, engine, plan, phase, conditions, namespace, \
    cluster, message, storefront_url, admin_url, expires_at, deadline_at, created_at, updated_at, \
    generation, observed_generation, touched_cluster, deletion_done, attempts";

pub(crate) fn time(ms: i64) -> Result<DateTime<Utc>, StateError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StateError::Corrupt(format!("time {ms}")))
}

pub(crate) fn uuid(text: &str) -> Result<Uuid, StateError> {
    Uuid::parse_str(text).map_err(|e| StateError::Corrupt(format!("id {text:?}: {e}")))
}

pub(crate) fn store_id(text: &str) -> Result<StoreId, StateError> {
    uuid(text).map(StoreId::from)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn store_from_row(row: &AnyRow) -> Result<Store, StateError> {
    let id: String = row.try_get("id")?;
    let name: String = row.try_get("name")?;
    let owner: String = row.try_get("owner")?;
    let engine: String = row.try_get("engine")?;
    let plan: String = row.try_get("plan")?;
    let phase: String = row.try_get("phase")?;
    let conditions: String = row.try_get("conditions")?;
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    Ok(Store {
        id: store_id(&id)?,
        spec: StoreSpec {
            name: StoreName::parse(&name).map_err(|e| corrupt("name", e))?,
            owner: UserName::parse(&owner).map_err(|e| corrupt("owner", e))?,
            engine: engine.parse().map_err(|e| corrupt("engine", e))?,
            plan: plan.parse().map_err(|e| corrupt("plan", e))?,
            expires_at: expires_at.map(time).transpose()?,
        },
        status: StoreStatus {
            phase: phase.parse().map_err(|e| corrupt("phase", e))?,
            conditions: serde_json::from_str::<Conditions>(&conditions)
                .map_err(|e| corrupt("conditions", e))?,
            message: row.try_get("message")?,
            storefront_url: row.try_get("storefront_url")?,
            admin_url: row.try_get("admin_url")?,
            observed_generation: row.try_get("observed_generation")?,
            touched_cluster: row.try_get::<i64, _>("touched_cluster")? != 0,
            deletion_done: row
                .try_get::<Option<String>, _>("deletion_done")?
                .map(|step| step.parse().map_err(|e| corrupt("deletion_done", e)))
                .transpose()?,
        },
        namespace: row.try_get("namespace")?,
        cluster: row.try_get("cluster")?,
        deadline_at: time(row.try_get("deadline_at")?)?,
        created_at: time(row.try_get("created_at")?)?,
        updated_at: time(row.try_get("updated_at")?)?,
        generation: row.try_get("generation")?,
    })
}

pub(crate) fn conditions_json(conditions: &Conditions) -> Result<String, StateError> {
    serde_json::to_string(conditions).map_err(|e| corrupt("conditions", e))
}
