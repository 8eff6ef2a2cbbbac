//! The JSON view of a store's event, shared by the event list and the live stream.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storefleet_state::StoreEvent;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: i64,
    pub store_id: Uuid,
    pub at: DateTime<Utc>,
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    pub message: String,
}

impl From<StoreEvent> for EventView {
    fn from(e: StoreEvent) -> Self {
        Self {
            id: e.id,
            store_id: e.store_id.into(),
            at: e.at,
            kind: e.kind,
            reason: e.reason,
            message: e.message,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventList {
    pub items: Vec<EventView>,
}
