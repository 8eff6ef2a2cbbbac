//! `/api/v1/users`: admins list, add and remove users. A new user's token is in the answer to
//! its creation and nowhere else (only its hash is kept). Every change is audited; tenants get 403.

use crate::auth::{generate_token, hash_token, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storefleet_state::{AuditAction, AuditOutcome, Role, User, UserError};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(add_user))
        .route("/users/{name}", delete(remove_user))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub name: String,
    /// `user` or `admin`.
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id.into(),
            name: u.name.to_string(),
            role: u.role.as_str().to_owned(),
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserList {
    pub items: Vec<UserView>,
}

/// Who to add.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUserRequest {
    /// 1-63 characters: a-z, 0-9 and '-', not starting or ending with '-'.
    #[schema(
        min_length = 1,
        max_length = 63,
        pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
    )]
    pub name: String,
    /// Whether the user is an admin (default false).
    #[serde(default)]
    pub admin: bool,
}

/// The new user and its API token: shown this once, never again.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddedUser {
    pub user: UserView,
    pub token: String,
}

/// Every user, oldest first (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_users(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<UserList>, ApiError> {
    caller.require_admin()?;
    let users = app.state().list_users().await?;
    Ok(Json(UserList {
        items: users.into_iter().map(UserView::from).collect(),
    }))
}

/// Add a user (admins). The answer holds its token, once; it is `no-store`.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = AddUserRequest,
    responses((status = 201, body = AddedUser),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "A user with this name exists", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_user(
    State(app): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<AddUserRequest>, ApiError>,
) -> Result<Response, ApiError> {
    // Admin first: a tenant learns nothing about what a valid body would be.
    caller.require_admin()?;
    let ApiJson(req) = body?;
    let name = storefleet_domain::UserName::parse(&req.name)
        .map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let role = if req.admin { Role::Admin } else { Role::User };
    let token = generate_token();
    let audit = caller.audit(
        AuditAction::UserAdd,
        Some(req.name.clone()),
        AuditOutcome::Succeeded,
        Some(role.to_string()),
    );
    let user = app
        .state()
        .add_user(&name, role, &hash_token(&token), &audit, Utc::now())
        .await
        .map_err(user_error)?;
    let body = AddedUser {
        user: user.into(),
        token,
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
}

/// Remove a user (admins): its token stops working at once. Refused while it owns a live store,
/// and for yourself (an admin cannot lock the platform out by accident).
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, description = "Removed", body = UserView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The user owns live stores, or is you", body = ErrorBody)),
    security(("bearer" = [])))]
async fn remove_user(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<UserView>, ApiError> {
    caller.require_admin()?;
    if name == caller.user.name {
        return Err(ApiError::Conflict(
            "you cannot remove yourself; another admin can".to_owned(),
        ));
    }
    let audit = caller.audit(
        AuditAction::UserRemove,
        Some(name.clone()),
        AuditOutcome::Succeeded,
        None,
    );
    let user = app
        .state()
        .remove_user(&name, &audit, Utc::now())
        .await
        .map_err(user_error)?;
    // This process forgets the token now; others hear of it (NOTIFY / data_version).
    app.forget_tokens();
    Ok(Json(user.into()))
}

fn user_error(e: UserError) -> ApiError {
    match e {
        UserError::Exists(_) => ApiError::Conflict(e.to_string()),
        UserError::NotFound(_) => ApiError::NotFound("no user with this name"),
        UserError::OwnsStores { .. } => ApiError::Rejected {
            status: StatusCode::CONFLICT,
            code: "owns_stores",
            message: e.to_string(),
        },
        UserError::State(state) => state.into(),
    }
}
