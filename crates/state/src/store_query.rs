//! Filtered, ordered pages of stores for the API's list: by phase (live = not deleted, by
//! default), engine, owner and name, newest or oldest first, with a cursor that follows the order.

use crate::rows::{store_from_row, STORE_COLUMNS};
use crate::{StateError, StateStore};
use storefleet_domain::{Engine, Phase, Store, StoreId};

/// Which phases a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PhaseFilter {
    /// Every store that is not deleted (deleting ones included): what a list shows by default.
    #[default]
    Live,
    /// Deleted ones too.
    All,
    /// One phase only.
    Only(Phase),
}

/// One page of a filtered list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreQuery {
    /// Only this owner's stores (always set for a non-admin caller).
    pub owner: Option<String>,
    pub phase: PhaseFilter,
    pub engine: Option<Engine>,
    /// Exact store name.
    pub name: Option<String>,
    /// Newest first (the default) or oldest first.
    pub newest_first: bool,
    /// Continue after this store, in the chosen order.
    pub after: Option<StoreId>,
    pub limit: i64,
}

impl StateStore {
    /// The page of stores `query` asks for. Ids are time-ordered (UUIDv7), so id order is
    /// creation order and the cursor is an id.
    pub async fn find_stores(&self, query: &StoreQuery) -> Result<Vec<Store>, StateError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut bind = |condition: &str, value: String| {
            values.push(value);
            conditions.push(condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(owner) = &query.owner {
            bind("owner = ?", owner.clone());
        }
        match query.phase {
            PhaseFilter::Live => bind("phase <> ?", Phase::Deleted.as_str().to_owned()),
            PhaseFilter::All => {}
            PhaseFilter::Only(phase) => bind("phase = ?", phase.as_str().to_owned()),
        }
        if let Some(engine) = query.engine {
            bind("engine = ?", engine.as_str().to_owned());
        }
        if let Some(name) = &query.name {
            bind("name = ?", name.clone());
        }
        if let Some(after) = query.after {
            let condition = if query.newest_first {
                "id < ?"
            } else {
                "id > ?"
            };
            bind(condition, after.to_string());
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let order = if query.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {STORE_COLUMNS} FROM stores {filter} ORDER BY id {order} LIMIT ${}",
            values.len() + 1
        );
        let mut statement = sqlx::query(&sql);
        for value in values {
            statement = statement.bind(value);
        }
        let rows = statement.bind(query.limit).fetch_all(self.pool()).await?;
        rows.iter().map(store_from_row).collect()
    }
}
