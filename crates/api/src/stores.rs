//! `/api/v1/stores`: create, list, read, delete and watch stores.

use crate::auth::Caller;
use crate::cache::ListKey;
use crate::error::{ApiError, ErrorBody};
pub use crate::event_view::{EventList, EventView};
use crate::extract::{store_id, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use storefleet_domain::{
    Condition, Engine, Phase, Plan, Store, StoreHosts, StoreId, StoreName, Ttl,
};
use storefleet_state::{
    AuditAction, AuditOutcome, CreateOutcome, DeleteOutcome, NewStore, PhaseFilter,
};
use uuid::Uuid;

const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/stores", get(list_stores).post(create_store))
        .route("/stores/{id}", get(get_store).delete(delete_store))
        .route("/stores/{id}/events", get(store_events))
}

/// What a caller sends to create a store.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStoreRequest {
    /// 3-30 characters: a-z, 0-9 and '-', starting with a letter, not ending with '-'.
    #[schema(min_length = 3, max_length = 30, pattern = "^[a-z][a-z0-9-]*[a-z0-9]$")]
    pub name: String,
    /// `woocommerce` or `medusa`.
    #[schema(value_type = Engine)]
    pub engine: String,
    /// `small` (default) or `medium`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Plan>)]
    pub plan: Option<String>,
    /// Delete the store automatically after this many seconds (300 to 2592000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 300, maximum = 2592000)]
    pub ttl_seconds: Option<u64>,
}

/// A store as the API shows it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreView {
    pub id: Uuid,
    pub name: String,
    /// The host the store is served at, `<name>.<store domain>`: known from creation, answering
    /// once the store is ready. A live store's name, and so its host, is unique on the platform.
    pub host: String,
    /// The storefront's address at `host`, known from creation (`storefront_url` is set once
    /// the store's release is installed).
    pub url: String,
    pub owner: String,
    pub engine: Engine,
    pub plan: Plan,
    pub phase: Phase,
    pub conditions: Vec<Condition>,
    pub namespace: String,
    pub cluster: String,
    pub message: Option<String>,
    pub storefront_url: Option<String>,
    pub admin_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub deadline_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub generation: i64,
    pub observed_generation: i64,
}

impl StoreView {
    /// The view of `s`, its host and URL made by `hosts`.
    pub fn new(s: Store, hosts: &StoreHosts) -> Self {
        Self {
            id: s.id.into(),
            host: hosts.host(&s.spec.name),
            url: hosts.url(&s.spec.name),
            name: s.spec.name.to_string(),
            owner: s.spec.owner.to_string(),
            engine: s.spec.engine,
            plan: s.spec.plan,
            phase: s.status.phase,
            conditions: s.status.conditions.0,
            namespace: s.namespace,
            cluster: s.cluster,
            message: s.status.message,
            storefront_url: s.status.storefront_url,
            admin_url: s.status.admin_url,
            expires_at: s.spec.expires_at,
            deadline_at: s.deadline_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
            generation: s.generation,
            observed_generation: s.status.observed_generation,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreList {
    pub items: Vec<StoreView>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<Uuid>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Continue after this store id, in the list's order (the previous page's `next_after`).
    pub after: Option<Uuid>,
    /// `live` (default: every store not deleted), `all`, or one phase.
    #[param(pattern = "^(live|all|requested|provisioning|ready|failed|deleting|deleted)$")]
    pub phase: Option<String>,
    /// Only stores of this engine.
    pub engine: Option<Engine>,
    /// Only this owner's stores (admins; anyone else may name only themselves).
    pub owner: Option<String>,
    /// Only the store(s) with exactly this name.
    pub name: Option<String>,
    /// `newest` first (default) or `oldest` first.
    #[param(pattern = "^(newest|oldest)$")]
    pub order: Option<String>,
}

/// The phases a `phase=` value selects.
fn phase_filter(raw: Option<&str>) -> Result<PhaseFilter, ApiError> {
    match raw {
        None | Some("live") => Ok(PhaseFilter::Live),
        Some("all") => Ok(PhaseFilter::All),
        Some(other) => Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == other)
            .map(PhaseFilter::Only)
            .ok_or_else(|| {
                ApiError::invalid(
                    "phase",
                    format!(
                        "phase is {other:?}; allowed: live, all, {}",
                        Phase::ALL.map(Phase::as_str).join(", ")
                    ),
                )
            }),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Return events with an id above this one.
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

/// A validated create request.
struct Validated {
    name: StoreName,
    engine: Engine,
    plan: Plan,
    ttl: Option<Ttl>,
}

fn validate(req: &CreateStoreRequest, hosts: &StoreHosts) -> Result<Validated, ApiError> {
    let name = StoreName::parse(&req.name).map_err(|e| ApiError::invalid("name", e.to_string()))?;
    hosts
        .check(&name)
        .map_err(|e| ApiError::invalid("name", e.to_string()))?;
    let engine = req
        .engine
        .parse()
        .map_err(|e: storefleet_domain::engine::UnknownEngine| {
            ApiError::invalid("engine", e.to_string())
        })?;
    let plan = match &req.plan {
        Some(plan) => plan
            .parse()
            .map_err(|e: storefleet_domain::plan::UnknownPlan| {
                ApiError::invalid("plan", e.to_string())
            })?,
        None => Plan::default(),
    };
    let ttl = req
        .ttl_seconds
        .map(Ttl::from_seconds)
        .transpose()
        .map_err(|e| ApiError::invalid("ttl_seconds", e.to_string()))?;
    Ok(Validated {
        name,
        engine,
        plan,
        ttl,
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty()
                && k.len() <= MAX_IDEMPOTENCY_KEY_LEN
                && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| ApiError::Invalid {
            code: "invalid_header",
            message: format!(
                "Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ),
            field: Some("Idempotency-Key"),
        })?;
    Ok(Some(key.to_owned()))
}

/// Create a store. Only intent is written; the orchestrator does the rest.
#[utoipa::path(post, path = "/api/v1/stores", tag = "stores",
    request_body = CreateStoreRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key: the same key and body return the same store for 24 h (then the key is forgotten); a key whose store was deleted answers 409", min_length = 1, max_length = 200, pattern = "^[!-~]+$")),
    responses(
        (status = 201, description = "Store requested (or replayed for a repeated Idempotency-Key)", body = StoreView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "Quota exceeded", body = ErrorBody),
        (status = 409, description = "Name taken: a live store (of any user) has it; or the Idempotency-Key's store has been deleted", body = ErrorBody),
        (status = 422, description = "Invalid or reserved value", body = ErrorBody),
        (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_store(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateStoreRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let outcome = create_for(&app, &caller, &req, key).await?;
    let mut response = (
        StatusCode::CREATED,
        Json(StoreView::new(outcome.store, &app.config().hosts)),
    )
        .into_response();
    if outcome.replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            header::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// Create a store for `caller`: the one path the API and the dashboard share, so both apply
/// the same validation, quotas, idempotency and audit rules.
pub(crate) async fn create_for(
    app: &AppState,
    caller: &Caller,
    req: &CreateStoreRequest,
    key: Option<String>,
) -> Result<CreateOutcome, ApiError> {
    let valid = validate(req, &app.config().hosts)?;
    // Times are stored in milliseconds: truncate now so this answer matches later reads.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 3);
    // The hash covers the request as understood (defaults applied), so equivalent bodies match.
    let canonical = serde_json::json!({
        "name": valid.name.as_str(), "engine": valid.engine, "plan": valid.plan,
        "ttl_seconds": valid.ttl.map(Ttl::seconds),
    });
    let request_hash = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
    let new = NewStore {
        name: valid.name,
        owner: caller.user.name.clone(),
        engine: valid.engine,
        plan: valid.plan,
        cluster: app.config().cluster_name.clone(),
        expires_at: valid.ttl.map(|t| t.expiry_from(now)),
        deadline_at: now + app.config().provisioning_deadline,
        idempotency: key.map(|k| (k, request_hash)),
    };
    let limits = app.config().limits;
    match app
        .state()
        .create_store(
            new,
            limits,
            &caller.audit(
                AuditAction::StoreCreate,
                None,
                AuditOutcome::Succeeded,
                None,
            ),
            now,
        )
        .await
    {
        Ok(outcome) => {
            if !outcome.replayed {
                app.wake_orchestrator();
            }
            Ok(outcome)
        }
        Err(e) => {
            let error = ApiError::from(e);
            if let ApiError::QuotaExceeded(reason) | ApiError::Conflict(reason) = &error {
                let entry = caller.audit(
                    AuditAction::StoreCreate,
                    None,
                    AuditOutcome::Denied,
                    Some(reason.clone()),
                );
                app.state().record_audit(&entry, now).await?;
            }
            Err(error)
        }
    }
}

/// List your stores (admins see every store), oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/stores", tag = "stores", params(ListParams),
    responses((status = 200, body = StoreList), (status = 401, body = ErrorBody),
        (status = 403, description = "Another user's stores asked for by a non-admin", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_stores(
    State(app): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit is {limit}; allowed: 1 to {MAX_PAGE}"),
        ));
    }
    let owner = match (caller.is_admin(), params.owner) {
        (true, owner) => owner,
        (false, Some(owner)) if owner != caller.user.name => {
            return Err(ApiError::Forbidden("only admins list other users' stores"))
        }
        (false, _) => Some(caller.user.name.to_string()),
    };
    let newest_first = match params.order.as_deref() {
        None | Some("newest") => true,
        Some("oldest") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                "order",
                format!("order is {other:?}; allowed: newest, oldest"),
            ))
        }
    };
    let key = ListKey {
        owner,
        phase: phase_filter(params.phase.as_deref())?,
        engine: params.engine,
        name: params.name,
        newest_first,
        after: params.after.map(StoreId::from),
        limit,
    };
    let body = app
        .caches()
        .list(key.clone(), async {
            let stores = app.state().find_stores(&key).await?;
            let next_after = (stores.len() as i64 == limit)
                .then(|| stores.last().map(|s| s.id))
                .flatten();
            let list = StoreList {
                items: stores
                    .into_iter()
                    .map(|s| StoreView::new(s, &app.config().hosts))
                    .collect(),
                next_after: next_after.map(Uuid::from),
            };
            serde_json::to_vec(&list)
                .map(Bytes::from)
                .map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await
        .map_err(std::sync::Arc::unwrap_or_clone)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The store with this id, if the caller may see it (its owner, or an admin).
pub(crate) async fn visible_store(
    app: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<Store, ApiError> {
    let id = store_id(raw_id)?;
    match app.state().get_store(id).await? {
        Some(store) if caller.is_admin() || store.spec.owner == caller.user.name => Ok(store),
        // Someone else's store is reported as missing, so ids of other tenants leak nothing.
        _ => Err(ApiError::NotFound("no store with this id")),
    }
}

#[utoipa::path(get, path = "/api/v1/stores/{id}", tag = "stores",
    params(("id" = Uuid, Path, description = "Store id")),
    responses((status = 200, body = StoreView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_store(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<StoreView>, ApiError> {
    let store = visible_store(&app, &caller, &id).await?;
    Ok(Json(StoreView::new(store, &app.config().hosts)))
}

/// Delete a store. Idempotent: deleting a store already being deleted answers the same.
#[utoipa::path(delete, path = "/api/v1/stores/{id}", tag = "stores",
    params(("id" = Uuid, Path, description = "Store id")),
    responses((status = 202, description = "Deletion requested", body = StoreView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_store(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<StoreView>), ApiError> {
    let store = delete_for(&app, &caller, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StoreView::new(store, &app.config().hosts)),
    ))
}

/// Ask for the deletion of a store `caller` may see; shared by the API and the dashboard.
pub(crate) async fn delete_for(
    app: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<Store, ApiError> {
    let store = visible_store(app, caller, raw_id).await?;
    let audit = caller.audit(
        AuditAction::StoreDelete,
        Some(store.id.to_string()),
        AuditOutcome::Succeeded,
        None,
    );
    let outcome = app
        .state()
        .request_delete(store.id, &audit, Utc::now())
        .await?;
    match outcome {
        Some(DeleteOutcome::Requested(store)) => {
            app.wake_orchestrator();
            Ok(store)
        }
        Some(DeleteOutcome::AlreadyDeleting(store)) => Ok(store),
        None => Err(ApiError::NotFound("no store with this id")),
    }
}

/// A store's events: JSON by default, a live Server-Sent Events stream with `Accept: text/event-stream`.
#[utoipa::path(get, path = "/api/v1/stores/{id}/events", tag = "stores",
    params(("id" = Uuid, Path, description = "Store id"), EventParams),
    responses((status = 200, description = "Events, oldest first (JSON or text/event-stream)", body = EventList),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Too many live streams open for this user", body = ErrorBody)),
    security(("bearer" = [])))]
async fn store_events(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    params: Result<Query<EventParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    if params.after.is_some_and(|a| a < 0) {
        return Err(ApiError::invalid(
            "after",
            "after must be an event id, 0 or more",
        ));
    }
    let store = visible_store(&app, &caller, &id).await?;
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let resume_from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = resume_from.or(params.after).unwrap_or(0);
    if !wants_stream {
        let events = app.state().events(store.id, after, 1000).await?;
        return Ok(Json(EventList {
            items: events.into_iter().map(EventView::from).collect(),
        })
        .into_response());
    }
    let slot = app
        .streams()
        .take(&caller.user.name, app.config().max_streams_per_user)?;
    let viewer = crate::live::Viewer {
        user: caller.user.name.to_string(),
        credential: caller.credential.clone(),
    };
    Ok(Sse::new(crate::live::event_stream(
        app, store.id, after, viewer, slot,
    ))
    .keep_alive(KeepAlive::default())
    .into_response())
}
