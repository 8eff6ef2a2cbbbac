//! The owner's credential view: a store's engine login, opened from the state store's sealed
//! copy with the platform key. Only the owner may read it; every read is audited, and reads
//! have a budget of their own per user so the audit log cannot be grown at request speed.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiPath;
use crate::stores::visible_store;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use storefleet_domain::{Engine, Phase};
use storefleet_state::{AuditAction, AuditOutcome};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/stores/{id}/credentials", get(store_credentials))
}

/// What the owner needs to run the store. Sent with `Cache-Control: no-store`.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialsView {
    pub store_id: Uuid,
    pub name: String,
    pub engine: Engine,
    pub storefront_url: Option<String>,
    pub admin_url: Option<String>,
    /// Admin login name (WooCommerce); Medusa logs in by e-mail.
    pub admin_user: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    /// Medusa's publishable API key, for storefront clients.
    pub publishable_key: Option<String>,
}

/// The store's credentials, for its owner only (admins see the store, not its secrets).
#[utoipa::path(get, path = "/api/v1/stores/{id}/credentials", tag = "stores",
    params(("id" = Uuid, Path, description = "Store id")),
    responses((status = 200, body = CredentialsView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not the store's owner", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "No copy yet (setup not complete) or no more (being deleted)", body = ErrorBody),
        (status = 429, description = "Too many credential reads; see Retry-After", body = ErrorBody),
        (status = 503, description = "This installation keeps no copy (no platform key)", body = ErrorBody)),
    security(("bearer" = [])))]
async fn store_credentials(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let view = credentials_for(&app, &caller, &id).await?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(view),
    )
        .into_response())
}

/// Open the credential copy of a store for `caller`, who must own it; shared by the API and
/// the dashboard so both refuse, audit and explain alike.
pub(crate) async fn credentials_for(
    app: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<CredentialsView, ApiError> {
    app.rate_limits()
        .charge_credential_read(&caller.user.name)?;
    let store = visible_store(app, caller, raw_id).await?;
    let target = Some(store.id.to_string());
    if store.spec.owner != caller.user.name {
        let denied = caller.audit(
            AuditAction::StoreCredentialsRead,
            target,
            AuditOutcome::Denied,
            None,
        );
        app.state().record_audit(&denied, Utc::now()).await?;
        return Err(ApiError::Forbidden(
            "only the store's owner may read its credentials",
        ));
    }
    let Some(key) = app.config().platform_key.as_ref() else {
        return Err(ApiError::Rejected {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "not_configured",
            message: "this installation keeps no copy of store credentials: it has no platform \
                      key (STOREFLEET_ENCRYPTION_KEY); read the store-credentials Secret in the \
                      store's namespace instead"
                .to_owned(),
        });
    };
    let Some(sealed) = app.state().sealed_credentials(store.id).await? else {
        let message = match store.status.phase {
            Phase::Deleting | Phase::Deleted => {
                "the store is being deleted; its credentials were removed".to_owned()
            }
            phase => format!(
                "the credentials are copied once the store's setup is complete; the store is {}",
                phase.as_str()
            ),
        };
        return Err(ApiError::Rejected {
            status: StatusCode::CONFLICT,
            code: "credentials_not_available",
            message,
        });
    };
    let credentials = key.open_credentials(store.id, &sealed).map_err(|e| {
        // The reason names no secret; the key and the ciphertext stay out of logs.
        tracing::error!(store = %store.id, error = %e, "stored credentials do not open");
        ApiError::Rejected {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "credentials_unreadable",
            message: "the stored credentials do not open with this installation's platform key \
                      (was STOREFLEET_ENCRYPTION_KEY changed?)"
                .to_owned(),
        }
    })?;
    let read = caller.audit(
        AuditAction::StoreCredentialsRead,
        target,
        AuditOutcome::Succeeded,
        None,
    );
    app.state().record_audit(&read, Utc::now()).await?;
    Ok(CredentialsView {
        store_id: store.id.into(),
        name: store.spec.name.to_string(),
        engine: store.spec.engine,
        storefront_url: store.status.storefront_url,
        admin_url: store.status.admin_url,
        admin_user: credentials.admin_user,
        admin_email: credentials.admin_email,
        admin_password: credentials.admin_password,
        publishable_key: credentials.publishable_key,
    })
}
