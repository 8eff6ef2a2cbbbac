//! Admin pages: the platform's numbers and its users (`/admin`), and the audit log with filters
//! (`/admin/audit`). Admins only: anyone else gets the 403 page, and no link to them.

use super::session::{Session, UserView};
use super::{render, PageError};
use crate::error::ApiError;
use crate::stats::{stats_view, StatsView};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use storefleet_state::{AuditAction, AuditQuery};

/// Audit entries per page.
const AUDIT_PAGE: i64 = 50;

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "42 s", "3 min 5 s", "—" for none.
fn duration(seconds: Option<f64>) -> String {
    match seconds {
        None => "—".to_owned(),
        Some(s) if s < 60.0 => format!("{s:.0} s"),
        Some(s) => format!("{} min {} s", (s / 60.0).floor(), (s % 60.0).round()),
    }
}

#[derive(Serialize)]
struct UserRow {
    name: String,
    role: &'static str,
    created: String,
}

#[derive(Serialize)]
struct AdminPage {
    page: &'static str,
    user: UserView,
    stats: StatsView,
    p50: String,
    p95: String,
    users: Vec<UserRow>,
}

pub(crate) async fn overview(
    State(app): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    session.caller.require_admin()?;
    let stats = stats_view(&app).await?;
    let users = app
        .state()
        .list_users()
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|u| UserRow {
            name: u.name.to_string(),
            role: u.role.as_str(),
            created: time(u.created_at),
        })
        .collect();
    let page = AdminPage {
        page: "admin",
        user: session.user(),
        p50: duration(stats.time_to_ready_p50_seconds),
        p95: duration(stats.time_to_ready_p95_seconds),
        stats,
        users,
    };
    Ok(render(StatusCode::OK, "admin.html", &page))
}

/// The audit filters as the form sends them: empty fields mean no filter.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct AuditFilters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (a date or datetime-local input), in UTC.
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default, skip_serializing)]
    before: Option<i64>,
}

/// A date or datetime-local value, read as UTC; empty is none.
fn parse_time(field: &'static str, value: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let parsed = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    match parsed {
        Some(at) => Ok(Some(at.and_utc())),
        None => Err(ApiError::invalid(
            field,
            format!("{field} {value:?} is not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM), UTC"),
        )),
    }
}

/// `value` for a query string: every byte but unreserved ones percent-encoded.
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Serialize)]
struct AuditRow {
    at: String,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    detail: String,
    source_ip: String,
}

#[derive(Serialize)]
struct AuditPage {
    page: &'static str,
    user: UserView,
    filters: AuditFilters,
    entries: Vec<AuditRow>,
    /// The query string of the next (older) page, if there is one.
    older: Option<String>,
}

pub(crate) async fn audit(
    State(app): State<AppState>,
    session: Session,
    filters: Result<Query<AuditFilters>, QueryRejection>,
) -> Result<Response, PageError> {
    session.caller.require_admin()?;
    let Query(filters) = filters.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let query = AuditQuery {
        actor: non_empty(&filters.actor),
        action: non_empty(&filters.action).map(AuditAction::from),
        since: parse_time("since", &filters.since)?,
        until: parse_time("until", &filters.until)?,
        before: filters.before,
        limit: AUDIT_PAGE,
    };
    let records = app
        .state()
        .find_audit(&query)
        .await
        .map_err(ApiError::from)?;
    let older = (records.len() as i64 == AUDIT_PAGE)
        .then(|| records.last().map(|r| r.id))
        .flatten()
        .map(|before| {
            let mut pairs: Vec<(&str, String)> = vec![
                ("actor", filters.actor.clone()),
                ("action", filters.action.clone()),
                ("since", filters.since.clone()),
                ("until", filters.until.clone()),
            ];
            pairs.retain(|(_, v)| !v.is_empty());
            pairs.push(("before", before.to_string()));
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", query_escape(v)))
                .collect::<Vec<_>>()
                .join("&")
        });
    let entries = records
        .into_iter()
        .map(|r| AuditRow {
            at: time(r.at),
            actor: r.entry.actor,
            action: r.entry.action.as_str().to_owned(),
            target: r.entry.target.unwrap_or_default(),
            outcome: r.entry.outcome.as_str().to_owned(),
            detail: r.entry.detail.unwrap_or_default(),
            source_ip: r.entry.source_ip.unwrap_or_default(),
        })
        .collect();
    let page = AuditPage {
        page: "audit",
        user: session.user(),
        filters,
        entries,
        older,
    };
    Ok(render(StatusCode::OK, "audit.html", &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_dates_or_datetime_local_values_in_utc() {
        let at = |s| {
            parse_time("since", s)
                .ok()
                .flatten()
                .map(|t| t.to_rfc3339())
        };
        assert_eq!(at(""), None);
        assert_eq!(
            at("2026-11-30").as_deref(),
            Some("2026-11-30T00:00:00+00:00")
        );
        assert_eq!(
            at("2026-11-30T17:05").as_deref(),
            Some("2026-11-30T17:05:00+00:00")
        );
        assert!(parse_time("since", "yesterday").is_err());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_escape("store.create"), "store.create");
        assert_eq!(query_escape("a b&c=d"), "a%20b%26c%3Dd");
    }

    #[test]
    fn durations_read_as_seconds_or_minutes() {
        assert_eq!(duration(None), "—");
        assert_eq!(duration(Some(42.4)), "42 s");
        assert_eq!(duration(Some(185.0)), "3 min 5 s");
    }
}
