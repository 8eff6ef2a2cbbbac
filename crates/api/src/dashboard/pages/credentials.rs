//! The owner's credential page, opened by a form post that carries the session's CSRF token.

use super::view::web_url;
use crate::credentials;
use crate::dashboard::session::{Session, UserView};
use crate::dashboard::{render, PageError};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::{Deserialize, Serialize};

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
