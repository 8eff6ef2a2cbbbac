//! A store's page (its conditions and events, live from the last event shown) and the delete
//! post.

use super::view::{condition_name, failing_step, time, StoreRow};
use crate::dashboard::session::{Session, UserView};
use crate::dashboard::{render, PageError};
use crate::error::ApiError;
use crate::stores;
use crate::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::{Deserialize, Serialize};
use storefleet_domain::{Condition, ConditionStatus, ConditionType, Phase};
use storefleet_state::StoreEvent;

/// Events rendered with a store's page; the live stream goes on from the last of them.
const EVENTS_ON_PAGE: i64 = 1000;

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
    let owns = store.spec.owner == session.caller.user.name;
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
        observed_generation: store.status.observed_generation,
        conditions: ConditionType::ORDER
            .into_iter()
            .map(|kind| {
                store
                    .status
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
        provisioning: matches!(store.status.phase, Phase::Requested | Phase::Provisioning),
        failed: store.status.phase == Phase::Failed,
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
