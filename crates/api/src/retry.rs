//! `POST /api/v1/stores/{id}/retry`: send a failed store back to provisioning without deleting
//! it (its owner or an admin). The deadline and attempt count start over; steps already done
//! are not redone.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiPath;
use crate::stores::{visible_store, StoreView};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use storefleet_domain::Store;
use storefleet_state::{AuditAction, AuditOutcome, RetryOutcome};

pub fn router() -> Router<AppState> {
    Router::new().route("/stores/{id}/retry", post(retry_store))
}

/// Retry a failed store: it provisions again from its first unfinished step, with a new deadline.
#[utoipa::path(post, path = "/api/v1/stores/{id}/retry", tag = "stores",
    params(("id" = Uuid, Path, description = "Store id")),
    responses((status = 202, description = "The store is provisioning again", body = StoreView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The store is not failed", body = ErrorBody),
        (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
async fn retry_store(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<StoreView>), ApiError> {
    let store = retry_for(&app, &caller, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StoreView::new(store, &app.config().hosts)),
    ))
}

/// Retry a store `caller` may see; shared by the API and the dashboard.
pub(crate) async fn retry_for(
    app: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<Store, ApiError> {
    let store = visible_store(app, caller, raw_id).await?;
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 3);
    let audit = caller.audit(
        AuditAction::StoreRetry,
        Some(store.id.to_string()),
        AuditOutcome::Succeeded,
        None,
    );
    let deadline = now + app.config().provisioning_deadline;
    match app
        .state()
        .retry_store(store.id, deadline, &audit, now)
        .await?
    {
        Some(RetryOutcome::Retried(store)) => {
            app.wake_orchestrator();
            Ok(store)
        }
        Some(RetryOutcome::NotFailed(store)) => Err(ApiError::Rejected {
            status: StatusCode::CONFLICT,
            code: "not_failed",
            message: format!(
                "only a failed store can be retried; this one is {}",
                store.status.phase.as_str()
            ),
        }),
        None => Err(ApiError::NotFound("no store with this id")),
    }
}
