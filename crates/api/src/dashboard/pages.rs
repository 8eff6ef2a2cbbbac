//! The store list (with the create form), a store's page, and the create and delete posts.
//! Creates and deletes go through the API's own functions, so quotas, idempotency, audit
//! and error messages are the same whichever way a person takes.

use super::session::{Session, UserView};
use super::{api_status, render, PageError};
use crate::credentials;
use crate::error::ApiError;
use crate::stores::{self, CreateStoreRequest};
use crate::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use storefleet_domain::{
    Condition, ConditionStatus, ConditionType, Engine, Phase, Plan, Store, StoreHosts,
};
use storefleet_state::StoreEvent;
use uuid::Uuid;

/// Stores per list page.
const PAGE: i64 = 100;
/// Events rendered with a store's page; the live stream goes on from the last of them.
const EVENTS_ON_PAGE: i64 = 1000;
/// Time-to-live choices of the create form, in seconds (the API takes any from 300 s to 30 days).
const TTL_CHOICES: [(&str, &str); 6] = [
    ("", "Keep until deleted"),
    ("3600", "1 hour"),
    ("28800", "8 hours"),
    ("86400", "1 day"),
    ("604800", "7 days"),
    ("2592000", "30 days"),
];

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Only web addresses become links; anything else (`javascript:`…) is never clickable.
fn web_url(url: Option<String>) -> Option<String> {
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

fn condition_name(kind: ConditionType) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// "done/total", then the first condition that is not yet true and why (the script does the same).
fn progress(conditions: &[Condition]) -> String {
    let done = conditions
        .iter()
        .filter(|c| c.status == ConditionStatus::True)
        .count();
    let total = ConditionType::ORDER.len();
    match conditions
        .iter()
        .find(|c| c.status != ConditionStatus::True)
    {
        Some(c) => format!("{done}/{total} · {}: {}", condition_name(c.kind), c.reason),
        None => format!("{done}/{total}"),
    }
}

/// The step being retried after failing, as "Step: message", while the store is provisioning:
/// what makes a store look like it keeps failing.
fn failing_step(store: &Store) -> Option<String> {
    if store.phase != Phase::Provisioning {
        return None;
    }
    store
        .conditions
        .0
        .iter()
        .find(|c| c.status == ConditionStatus::False && c.reason == "Retrying")
        .map(|c| format!("{}: {}", condition_name(c.kind), c.message))
}

#[derive(Serialize)]
struct StoreRow {
    id: String,
    name: String,
    /// Where the store is served, known from creation.
    host: String,
    owner: String,
    engine: &'static str,
    plan: &'static str,
    phase: &'static str,
    progress: String,
    message: Option<String>,
    storefront_url: Option<String>,
    admin_url: Option<String>,
    created: String,
    created_iso: String,
    expires: Option<String>,
    deletable: bool,
}

impl StoreRow {
    fn new(s: &Store, hosts: &StoreHosts) -> Self {
        let gone = s.phase == Phase::Deleted;
        Self {
            id: s.id.to_string(),
            host: hosts.host(&s.name),
            name: s.name.to_string(),
            owner: s.owner.clone(),
            engine: s.engine.as_str(),
            plan: s.plan.as_str(),
            phase: s.phase.as_str(),
            // A deleted store has no live links, no "retrying" and no stale conditions.
            progress: if gone {
                String::new()
            } else {
                progress(&s.conditions.0)
            },
            message: if gone { None } else { s.message.clone() },
            storefront_url: web_url(s.storefront_url.clone()).filter(|_| !gone),
            admin_url: web_url(s.admin_url.clone()).filter(|_| !gone),
            created: time(s.created_at),
            created_iso: s.created_at.to_rfc3339(),
            expires: s.expires_at.map(time),
            deletable: !matches!(s.phase, Phase::Deleting | Phase::Deleted),
        }
    }
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: String,
}

/// The create form as last submitted, with the API's error when it was refused.
#[derive(Serialize, Default)]
struct CreateFormView {
    name: String,
    engine: String,
    plan: String,
    ttl_seconds: String,
    error: Option<String>,
    field: Option<&'static str>,
}

#[derive(Serialize)]
struct ListPage {
    page: &'static str,
    user: UserView,
    stores: Vec<StoreRow>,
    next_after: Option<String>,
    form: CreateFormView,
    /// A fresh key per rendered form, so a double submit creates one store.
    idempotency_key: String,
    engines: Vec<Choice>,
    plans: Vec<Choice>,
    ttls: Vec<Choice>,
    /// The phases the list can be filtered by.
    phases: Vec<&'static str>,
    /// Rows shown before any filter is touched: deleted stores are hidden by default.
    visible_stores: usize,
    conditions_total: usize,
}

fn engine_label(engine: Engine) -> String {
    match engine {
        Engine::Woocommerce => "WooCommerce".to_owned(),
        Engine::Medusa => "Medusa".to_owned(),
    }
}

fn plan_label(plan: Plan) -> String {
    let limits = plan.limits();
    format!(
        "{} · {} CPU, {} memory",
        plan.as_str(),
        limits.requests_cpu,
        limits.requests_memory
    )
}

fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    after: Option<Uuid>,
}

async fn list_page(
    app: &AppState,
    session: &Session,
    after: Option<Uuid>,
    form: CreateFormView,
    status: StatusCode,
) -> Result<Response, PageError> {
    let caller = &session.caller;
    let owner = (!caller.is_admin()).then_some(caller.user.name.as_str());
    let stores = app
        .state()
        .list_stores(owner, after, PAGE)
        .await
        .map_err(ApiError::from)?;
    let next_after = (stores.len() as i64 == PAGE)
        .then(|| stores.last().map(|s| s.id.to_string()))
        .flatten();
    let page = ListPage {
        page: "list",
        user: session.user(),
        stores: stores
            .iter()
            .map(|s| StoreRow::new(s, &app.config().hosts))
            .collect(),
        next_after,
        form,
        idempotency_key: new_idempotency_key(),
        engines: Engine::ALL
            .into_iter()
            .map(|e| Choice {
                value: e.as_str(),
                label: engine_label(e),
            })
            .collect(),
        plans: Plan::ALL
            .into_iter()
            .map(|p| Choice {
                value: p.as_str(),
                label: plan_label(p),
            })
            .collect(),
        ttls: TTL_CHOICES
            .into_iter()
            .map(|(value, label)| Choice {
                value,
                label: label.to_owned(),
            })
            .collect(),
        phases: Phase::ALL.into_iter().map(Phase::as_str).collect(),
        visible_stores: stores.iter().filter(|s| s.phase != Phase::Deleted).count(),
        conditions_total: ConditionType::ORDER.len(),
    };
    Ok(render(status, "list.html", &page))
}

pub(crate) async fn list(
    State(app): State<AppState>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let form = CreateFormView {
        plan: Plan::default().as_str().to_owned(),
        ..CreateFormView::default()
    };
    list_page(&app, &session, query.after, form, StatusCode::OK).await
}

#[derive(Deserialize)]
pub(crate) struct CreateForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    engine: String,
    #[serde(default)]
    plan: String,
    #[serde(default)]
    ttl_seconds: String,
    #[serde(default)]
    idempotency_key: String,
}

impl CreateForm {
    /// The API's request body; an empty select means "the default", as an absent field does.
    fn request(&self) -> Result<CreateStoreRequest, ApiError> {
        let ttl_seconds = match self.ttl_seconds.trim() {
            "" => None,
            ttl => Some(ttl.parse::<u64>().map_err(|_| {
                ApiError::invalid(
                    "ttl_seconds",
                    "ttl_seconds must be a whole number of seconds",
                )
            })?),
        };
        Ok(CreateStoreRequest {
            name: self.name.clone(),
            engine: self.engine.clone(),
            plan: (!self.plan.is_empty()).then(|| self.plan.clone()),
            ttl_seconds,
        })
    }

    /// The key the form was rendered with; the dashboard only ever makes 32 hex digits.
    fn key(&self) -> Result<Option<String>, ApiError> {
        match self.idempotency_key.as_str() {
            "" => Ok(None),
            key if key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(Some(key.to_owned()))
            }
            _ => Err(ApiError::invalid(
                "idempotency_key",
                "the form's key was changed; reload the page",
            )),
        }
    }
}

pub(crate) async fn create(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
    form: Result<Form<CreateForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    session.check_form(&headers, form.csrf.as_deref())?;
    let created = match (form.request(), form.key()) {
        (Ok(request), Ok(key)) => stores::create_for(&app, &session.caller, &request, key).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match created {
        Ok(outcome) => Ok(Redirect::to(&format!("/#store-{}", outcome.store.id)).into_response()),
        // The database being down is not a form error: the error page says so.
        Err(error @ (ApiError::Internal(_) | ApiError::Unavailable)) => Err(error.into()),
        Err(error) => {
            let field = match &error {
                ApiError::Invalid { field, .. } => *field,
                _ => None,
            };
            let (status, message) = api_status(error);
            let view = CreateFormView {
                name: form.name,
                engine: form.engine,
                plan: form.plan,
                ttl_seconds: form.ttl_seconds,
                error: Some(message),
                field,
            };
            list_page(&app, &session, None, view, status).await
        }
    }
}

#[derive(Serialize)]
struct ConditionRow {
    kind: String,
    status: &'static str,
    reason: String,
    message: String,
    since: String,
}

impl From<&Condition> for ConditionRow {
    fn from(c: &Condition) -> Self {
        Self {
            kind: condition_name(c.kind),
            status: match c.status {
                ConditionStatus::True => "True",
                ConditionStatus::False => "False",
                ConditionStatus::Unknown => "Unknown",
            },
            reason: c.reason.clone(),
            message: c.message.clone(),
            since: time(c.last_transition_time),
        }
    }
}

impl ConditionRow {
    /// A step the orchestrator has not reached yet.
    fn pending(kind: ConditionType) -> Self {
        Self {
            kind: condition_name(kind),
            status: "Pending",
            reason: String::new(),
            message: String::new(),
            since: String::new(),
        }
    }
}

#[derive(Serialize)]
struct EventRow {
    id: i64,
    at: String,
    kind: String,
    reason: String,
    message: String,
}

impl From<StoreEvent> for EventRow {
    fn from(e: StoreEvent) -> Self {
        Self {
            id: e.id,
            at: time(e.at),
            kind: e.kind,
            reason: e.reason,
            message: e.message,
        }
    }
}

#[derive(Serialize)]
struct DetailPage {
    page: &'static str,
    user: UserView,
    store: StoreRow,
    namespace: String,
    cluster: String,
    deadline: String,
    updated: String,
    generation: i64,
    observed_generation: i64,
    conditions: Vec<ConditionRow>,
    events: Vec<EventRow>,
    last_event_id: i64,
    /// Only the owner is offered the credentials (an admin viewing the store is not).
    owns: bool,
    /// Whether a copy of the credentials exists yet (setup complete): only then are they offered.
    credentials_ready: bool,
    /// The step being retried after failing, if any.
    failing: Option<String>,
    /// Times for the relative "elapsed" and "deadline" the script keeps current.
    created_iso: String,
    deadline_iso: String,
    /// Whether the store is still working towards ready (the deadline matters).
    provisioning: bool,
    /// Whether the store failed (then a Retry button is offered).
    failed: bool,
}

pub(crate) async fn detail(
    State(app): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let store = stores::visible_store(&app, &session.caller, &id).await?;
    let events = app
        .state()
        .events(store.id, 0, EVENTS_ON_PAGE)
        .await
        .map_err(ApiError::from)?;
    let owns = store.owner == session.caller.user.name;
    let credentials_ready = owns
        && app
            .state()
            .sealed_credentials(store.id)
            .await
            .map_err(ApiError::from)?
            .is_some();
    let page = DetailPage {
        page: "detail",
        user: session.user(),
        store: StoreRow::new(&store, &app.config().hosts),
        namespace: store.namespace.clone(),
        cluster: store.cluster.clone(),
        deadline: time(store.deadline_at),
        updated: time(store.updated_at),
        generation: store.generation,
        observed_generation: store.observed_generation,
        conditions: ConditionType::ORDER
            .into_iter()
            .map(|kind| {
                store
                    .conditions
                    .get(kind)
                    .map_or_else(|| ConditionRow::pending(kind), ConditionRow::from)
            })
            .collect(),
        last_event_id: events.last().map_or(0, |e| e.id),
        events: events.into_iter().map(EventRow::from).collect(),
        owns,
        credentials_ready,
        failing: failing_step(&store),
        created_iso: store.created_at.to_rfc3339(),
        deadline_iso: store.deadline_at.to_rfc3339(),
        provisioning: matches!(store.phase, Phase::Requested | Phase::Provisioning),
        failed: store.phase == Phase::Failed,
    };
    Ok(render(StatusCode::OK, "detail.html", &page))
}

#[derive(Deserialize)]
pub(crate) struct DeleteForm {
    csrf: Option<String>,
    /// `detail` to come back to the store's page; the list otherwise.
    #[serde(default)]
    back: String,
}

pub(crate) async fn delete(
    State(app): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    session.check_form(&headers, form.csrf.as_deref())?;
    let store = stores::delete_for(&app, &session.caller, &id).await?;
    let to = if form.back == "detail" {
        format!("/stores/{}", store.id)
    } else {
        format!("/#store-{}", store.id)
    };
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_true_conditions_and_names_the_first_blocker() {
        let at = Utc::now();
        let condition = |kind, status, reason: &str| Condition {
            kind,
            status,
            reason: reason.to_owned(),
            message: String::new(),
            last_transition_time: at,
        };
        assert_eq!(progress(&[]), "0/6");
        let conditions = [
            condition(
                ConditionType::NamespaceReady,
                ConditionStatus::True,
                "Created",
            ),
            condition(
                ConditionType::GuardrailsApplied,
                ConditionStatus::False,
                "Retrying",
            ),
        ];
        assert_eq!(progress(&conditions), "1/6 · GuardrailsApplied: Retrying");
    }

    #[test]
    fn only_web_addresses_become_links() {
        assert_eq!(
            web_url(Some("https://shop.example".to_owned())),
            Some("https://shop.example".to_owned())
        );
        assert_eq!(web_url(Some("javascript:alert(1)".to_owned())), None);
    }
}

/// A form that carries only this session's CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: Option<String>,
}

#[derive(Serialize)]
struct CredentialsPage {
    page: &'static str,
    user: UserView,
    id: String,
    name: String,
    engine: &'static str,
    storefront_url: Option<String>,
    admin_url: Option<String>,
    admin_user: Option<String>,
    admin_email: Option<String>,
    admin_password: Option<String>,
    publishable_key: Option<String>,
}

/// The owner's credential view as a page. A form post (with this session's CSRF token), never a
/// link: nothing prefetches or bookmarks it, and the page, like every page, is `no-store`.
pub(crate) async fn credentials(
    State(app): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    session.check_form(&headers, form.csrf.as_deref())?;
    let view = credentials::credentials_for(&app, &session.caller, &id).await?;
    let page = CredentialsPage {
        page: "credentials",
        user: session.user(),
        id: view.store_id.to_string(),
        name: view.name,
        engine: view.engine.as_str(),
        storefront_url: web_url(view.storefront_url),
        admin_url: web_url(view.admin_url),
        admin_user: view.admin_user,
        admin_email: view.admin_email,
        admin_password: view.admin_password,
        publishable_key: view.publishable_key,
    };
    Ok(render(StatusCode::OK, "credentials.html", &page))
}
