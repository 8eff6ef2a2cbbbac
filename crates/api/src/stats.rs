//! `GET /api/v1/stats`: the platform's numbers at a glance, for admins: stores by phase, the
//! last 24 hours (created, failed, time to ready) and what is provisioning now.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use storefleet_state::PlatformStats;

/// The window "the last day" numbers cover.
pub const WINDOW_HOURS: i64 = 24;

pub fn router() -> Router<AppState> {
    Router::new().route("/stats", get(platform_stats))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhaseCount {
    pub phase: String,
    pub count: i64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatsView {
    /// Hours covered by `created`, `failed` and the times to ready.
    pub window_hours: i64,
    /// Every phase in lifecycle order, zeros included.
    pub by_phase: Vec<PhaseCount>,
    /// Stores requested in the window.
    pub created: i64,
    /// Stores that are failed now and last changed in the window.
    pub failed: i64,
    /// Stores requested or provisioning now.
    pub provisioning: i64,
    /// Median seconds from request to ready, of the window's stores that became ready.
    pub time_to_ready_p50_seconds: Option<f64>,
    /// 95th percentile (nearest rank) of the same.
    pub time_to_ready_p95_seconds: Option<f64>,
    /// How many stores the times to ready are taken from.
    pub ready_samples: usize,
}

impl From<PlatformStats> for StatsView {
    fn from(s: PlatformStats) -> Self {
        let seconds = |d: Option<chrono::Duration>| d.map(|d| d.num_milliseconds() as f64 / 1000.0);
        Self {
            window_hours: WINDOW_HOURS,
            by_phase: s
                .by_phase
                .into_iter()
                .map(|(phase, count)| PhaseCount {
                    phase: phase.as_str().to_owned(),
                    count,
                })
                .collect(),
            created: s.created,
            failed: s.failed,
            provisioning: s.provisioning,
            time_to_ready_p50_seconds: seconds(s.time_to_ready_p50),
            time_to_ready_p95_seconds: seconds(s.time_to_ready_p95),
            ready_samples: s.ready_samples,
        }
    }
}

/// The platform's numbers (admins).
#[utoipa::path(get, path = "/api/v1/stats", tag = "admin",
    responses((status = 200, body = StatsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn platform_stats(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<StatsView>, ApiError> {
    caller.require_admin()?;
    Ok(Json(stats_view(&app).await?))
}

/// The numbers as of now; shared by the API and the dashboard's admin page.
pub(crate) async fn stats_view(app: &AppState) -> Result<StatsView, ApiError> {
    let since = Utc::now() - chrono::Duration::hours(WINDOW_HOURS);
    Ok(app.state().platform_stats(since).await?.into())
}
