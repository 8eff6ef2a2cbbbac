//! Filtered pages of the audit log, newest first: by actor, action and time range, with the
//! id of the last entry seen as the cursor to older ones.

use crate::audit::{audit_from_row, AuditAction, AuditRecord};
use crate::{millis, StateError, StateStore};
use chrono::{DateTime, Utc};

/// One page of a filtered audit log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Exact actor (a user name, `cli`, `system:ttl`).
    pub actor: Option<String>,
    /// Exact action (`store.create`, `user.remove` …).
    pub action: Option<AuditAction>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this id (the last one of the previous page).
    pub before: Option<i64>,
    pub limit: i64,
}

/// A value bound to a placeholder: the filters mix text and numbers.
enum Value {
    Text(String),
    Number(i64),
}

impl StateStore {
    /// The page of audit entries `query` asks for, newest first.
    pub async fn find_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StateError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let mut bind = |condition: &str, value: Value| {
            values.push(value);
            conditions.push(condition.replace('?', &format!("${}", values.len())));
        };
        if let Some(actor) = &query.actor {
            bind("actor = ?", Value::Text(actor.clone()));
        }
        if let Some(action) = &query.action {
            bind("action = ?", Value::Text(action.as_str().to_owned()));
        }
        if let Some(since) = query.since {
            bind("at >= ?", Value::Number(millis(since)));
        }
        if let Some(until) = query.until {
            bind("at < ?", Value::Number(millis(until)));
        }
        if let Some(before) = query.before {
            bind("id < ?", Value::Number(before));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT id, at, actor, action, target, source_ip, request_id, outcome, detail \
             FROM audit_log {filter} ORDER BY id DESC LIMIT ${}",
            values.len() + 1
        );
        let mut statement = sqlx::query(&sql);
        for value in values {
            statement = match value {
                Value::Text(text) => statement.bind(text),
                Value::Number(number) => statement.bind(number),
            };
        }
        let rows = statement.bind(query.limit).fetch_all(self.pool()).await?;
        rows.iter().map(audit_from_row).collect()
    }
}
