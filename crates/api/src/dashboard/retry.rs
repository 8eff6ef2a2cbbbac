//! The Retry button of a failed store's page: the API's own retry, then back to the page.

use super::pages::CsrfForm;
use super::session::Session;
use super::PageError;
use crate::error::ApiError;
use crate::retry::retry_for;
use crate::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

pub(crate) async fn retry(
    State(app): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    session.check_form(&headers, form.csrf.as_deref())?;
    let store = retry_for(&app, &session.caller, &id).await?;
    Ok(Redirect::to(&format!("/stores/{}", store.id)).into_response())
}
