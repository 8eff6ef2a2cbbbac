//! The store list with the create form, and the create post: a refused create shows the list
//! again with the form as submitted and the API's message.

use super::view::StoreRow;
use crate::dashboard::session::{Session, UserView};
use crate::dashboard::{api_status, render, PageError};
use crate::error::ApiError;
use crate::stores::{self, CreateStoreRequest};
use crate::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use storefleet_domain::{ConditionType, Engine, Phase, Plan};
use uuid::Uuid;

/// Stores per list page.
const PAGE: i64 = 100;
/// Time-to-live choices of the create form, in seconds (the API takes any from 300 s to 30 days).
const TTL_CHOICES: [(&str, &str); 6] = [
    ("", "Keep until deleted"),
    ("3600", "1 hour"),
    ("28800", "8 hours"),
    ("86400", "1 day"),
    ("604800", "7 days"),
    ("2592000", "30 days"),
];

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
        .list_stores(owner, after.map(storefleet_domain::StoreId::from), PAGE)
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
        visible_stores: stores
            .iter()
            .filter(|s| s.status.phase != Phase::Deleted)
            .count(),
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
