//! Dashboard sessions: logging in with an API token opens a server-side session (a random id in
//! an HttpOnly, SameSite=Strict cookie; only its hash in the database, with its user and end),
//! so the cookie never holds the permanent token. Logout, a rotated token or a removed user
//! ends it. Every form post must carry a CSRF token derived from the session id.

use super::{render, PageError};
use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Double-submit cookie of the login form (there is no session to derive a token from yet).
const LOGIN_COOKIE: &str = "storefleet_login";
const LOGIN_FORM_SECONDS: u32 = 3600;
/// A dashboard session lasts a working day (cookie and database row alike); the API token it
/// was opened with does not expire.
pub const SESSION_SECONDS: u32 = 8 * 3600;
/// Domain separation: the CSRF token is useless as anything else and reveals nothing of the
/// session id (which carries 256 random bits, so a plain hash cannot be reversed).
const CSRF_CONTEXT: &[u8] = b"storefleet dashboard csrf v1\0";

/// The CSRF token of the session with this id.
pub(crate) fn csrf_token(session_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(CSRF_CONTEXT);
    hasher.update(session_id.as_bytes());
    hex::encode(hasher.finalize())
}

/// A logged-in dashboard user.
pub(crate) struct Session {
    pub caller: Caller,
    pub csrf: String,
}

/// What the page header shows about the user, with the token for its logout form.
#[derive(Serialize)]
pub(crate) struct UserView {
    name: String,
    admin: bool,
    csrf: String,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, PageError> {
        let session_id = auth::session_token(parts).ok_or(PageError::LoggedOut)?;
        let caller = Caller::from_session(parts, app, session_id)
            .await
            .map_err(|e| match e {
                ApiError::Unauthenticated(_) => PageError::LoggedOut,
                other => PageError::Api(other),
            })?;
        Ok(Session {
            caller,
            csrf: csrf_token(session_id),
        })
    }
}

impl Session {
    pub fn user(&self) -> UserView {
        UserView {
            name: self.caller.user.name.to_string(),
            admin: self.caller.is_admin(),
            csrf: self.csrf.clone(),
        }
    }

    /// Refuse a form post that did not come from one of this session's own pages.
    pub fn check_form(
        &self,
        headers: &HeaderMap,
        submitted: Option<&str>,
    ) -> Result<(), PageError> {
        from_this_origin(headers)?;
        match submitted {
            Some(submitted) if same(submitted, &self.csrf) => Ok(()),
            _ => Err(PageError::Forgery),
        }
    }
}

/// Browsers say where a request came from. Stores are served from sibling subdomains, which
/// count as the same *site* (so SameSite cookies go along): only same-origin posts are taken.
fn from_this_origin(headers: &HeaderMap) -> Result<(), PageError> {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(_) => Err(PageError::Forgery),
    }
}

/// Compare without an early exit, so timing does not reveal how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A `Set-Cookie` value; `value` must already be cookie-safe.
fn cookie(name: &str, value: &str, path: &str, max_age: u32, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("storefleet_invalid=; Max-Age=0"))
}

/// `Set-Cookie` values that remove a session cookie under either name (a `__Host-` cookie is
/// only removed by a `Secure` one, which a plain-HTTP browser ignores harmlessly).
pub(crate) fn clear_session_cookies() -> [HeaderValue; 2] {
    [
        cookie(auth::session_cookie_name(false), "", "/", 0, false),
        cookie(auth::session_cookie_name(true), "", "/", 0, true),
    ]
}

/// Tokens are `sf_` and hex; anything else cannot be one and must not reach a cookie header.
fn token_shaped(token: &str) -> bool {
    (1..=200).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn new_login_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[derive(Serialize)]
struct LoginPage<'a> {
    page: &'static str,
    user: Option<UserView>,
    csrf: &'a str,
    error: Option<&'a str>,
}

fn login_form(status: StatusCode, nonce: &str, error: Option<&str>, secure: bool) -> Response {
    let page = LoginPage {
        page: "login",
        user: None,
        csrf: nonce,
        error,
    };
    let mut response = render(status, "login.html", &page);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie(LOGIN_COOKIE, nonce, "/login", LOGIN_FORM_SECONDS, secure),
    );
    response
}

pub(crate) async fn login_page(
    session: Result<Session, PageError>,
    headers: HeaderMap,
) -> Response {
    if session.is_ok() {
        return Redirect::to("/").into_response();
    }
    let nonce = auth::cookie(&headers, LOGIN_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(new_login_nonce, str::to_owned);
    login_form(StatusCode::OK, &nonce, None, auth::is_https(&headers))
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
    csrf: Option<String>,
}

pub(crate) async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    from_this_origin(&headers)?;
    let nonce = match (auth::cookie(&headers, LOGIN_COOKIE), form.csrf.as_deref()) {
        (Some(expected), Some(submitted)) if same(expected, submitted) => expected,
        _ => return Err(PageError::Forgery),
    };
    let secure = auth::is_https(&headers);
    let token = form.token.trim();
    if token.is_empty() {
        let error = Some("paste your API token");
        return Ok(login_form(
            StatusCode::UNPROCESSABLE_ENTITY,
            nonce,
            error,
            secure,
        ));
    }
    let user = if token_shaped(token) {
        app.state()
            .user_by_token_hash(&auth::hash_token(token))
            .await
            .map_err(ApiError::from)?
    } else {
        None
    };
    match &user {
        Some(user) => app.rate_limits().charge_user(&user.name)?,
        None => app.rate_limits().charge_anonymous(auth::client_address(
            &headers,
            &extensions,
            &app.config().trusted_proxies,
        ))?,
    }
    let Some(user) = user else {
        // The API's wording; the token is never echoed back into the page.
        let error = Some("unknown API token");
        return Ok(login_form(StatusCode::UNAUTHORIZED, nonce, error, secure));
    };
    let session_id = auth::generate_session_id();
    let now = chrono::Utc::now();
    app.state()
        .create_session(
            &auth::hash_token(&session_id),
            user.id,
            now,
            now + chrono::Duration::seconds(i64::from(SESSION_SECONDS)),
        )
        .await
        .map_err(ApiError::from)?;
    tracing::info!(user = %user.name, "dashboard login");
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookie(
            auth::session_cookie_name(secure),
            &session_id,
            "/",
            SESSION_SECONDS,
            secure,
        ),
    );
    headers.append(
        header::SET_COOKIE,
        cookie(LOGIN_COOKIE, "", "/login", 0, secure),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    csrf: Option<String>,
}

pub(crate) async fn logout(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    session.check_form(&headers, form.csrf.as_deref())?;
    // The session ends on the server, not only in this browser: a copied cookie dies with it.
    if let auth::Credential::Session(hash) = &session.caller.credential {
        app.state()
            .delete_session(hash)
            .await
            .map_err(ApiError::from)?;
        app.forget_tokens();
    }
    let mut response = Redirect::to("/login").into_response();
    for clear in clear_session_cookies() {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_hide_the_token() {
        let a = csrf_token("sf_aaa");
        assert_eq!(a, csrf_token("sf_aaa"));
        assert_ne!(a, csrf_token("sf_aab"));
        assert!(!a.contains("aaa"));
        assert!(same(&a, &csrf_token("sf_aaa")));
        assert!(!same(&a, &a[1..]));
    }

    #[test]
    fn only_token_shaped_values_reach_a_cookie() {
        assert!(token_shaped(&auth::generate_token()));
        assert!(!token_shaped("sf_x; Domain=evil.example"));
        assert!(!token_shaped(""));
    }

    #[test]
    fn cross_site_and_same_site_posts_are_refused() {
        let mut headers = HeaderMap::new();
        assert!(from_this_origin(&headers).is_ok());
        for (value, ok) in [
            ("same-origin", true),
            ("same-site", false),
            ("cross-site", false),
        ] {
            headers.insert("sec-fetch-site", HeaderValue::from_static(value));
            assert_eq!(from_this_origin(&headers).is_ok(), ok, "{value}");
        }
    }
}
