//! `/api/v1/audit`: the audit log, for admins: newest first, filtered by actor, action and time
//! range, a page at a time.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storefleet_state::{AuditAction, AuditQuery};

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list_audit))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Return entries older than this id (newest first).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Only entries by this actor (a user name, `cli`, `system:ttl`).
    pub actor: Option<String>,
    /// Only entries of this action (`store.create`, `store.delete`, `store.retry`, `user.add` …).
    pub action: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_audit(
    State(app): State<AppState>,
    caller: Caller,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    caller.require_admin()?;
    let Query(params) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    if params.before.is_some_and(|b| b < 1) {
        return Err(ApiError::invalid(
            "before",
            "before must be an audit entry id, 1 or more",
        ));
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit is {limit}; allowed: 1 to 500"),
        ));
    }
    let query = AuditQuery {
        actor: params.actor.filter(|a| !a.is_empty()),
        action: params
            .action
            .filter(|a| !a.is_empty())
            .map(AuditAction::from),
        since: params.since,
        until: params.until,
        before: params.before,
        limit,
    };
    let records = app.state().find_audit(&query).await?;
    let next_before = (records.len() as i64 == limit)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let items = records
        .into_iter()
        .map(|r| AuditView {
            id: r.id,
            at: r.at,
            actor: r.entry.actor,
            action: r.entry.action.as_str().to_owned(),
            target: r.entry.target,
            source_ip: r.entry.source_ip,
            request_id: r.entry.request_id,
            outcome: r.entry.outcome.as_str().to_owned(),
            detail: r.entry.detail,
        })
        .collect();
    Ok(Json(AuditList { items, next_before }))
}
