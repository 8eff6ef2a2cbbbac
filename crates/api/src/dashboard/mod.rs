//! The dashboard: server-rendered HTML at `/` for people, over the same state store, tokens and
//! create/delete paths as `/api/v1`. No build step: the templates are compiled into the binary
//! and one small script adds the live parts (the list polls the JSON list, a store's page
//! follows its events over Server-Sent Events).

mod admin;
mod pages;
mod retry;
mod session;

use crate::error::ApiError;
use crate::{ratelimit, AppState};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::sync::LazyLock;

/// Same origin only; no inline script or style at all, so no nonce is needed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const TEMPLATES: [(&str, &str); 8] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("list.html", include_str!("templates/list.html")),
    ("detail.html", include_str!("templates/detail.html")),
    ("error.html", include_str!("templates/error.html")),
    ("admin.html", include_str!("templates/admin.html")),
    ("audit.html", include_str!("templates/audit.html")),
    (
        "credentials.html",
        include_str!("templates/credentials.html"),
    ),
];

/// Templates are auto-escaped as HTML (by their `.html` names); a missing variable is an error.
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "dashboard template does not compile");
        }
    }
    env
});

pub fn router(app: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(pages::list))
        .route("/stores", post(pages::create))
        .route("/stores/{id}", get(pages::detail))
        .route("/stores/{id}/delete", post(pages::delete))
        .route("/stores/{id}/retry", post(retry::retry))
        .route("/admin", get(admin::overview))
        .route("/admin/audit", get(admin::audit))
        .route("/stores/{id}/credentials", post(pages::credentials))
        .route("/logout", post(session::logout))
        // Form posts spend the user's budget, or the anonymous one of their address; reads are
        // free.
        .route_layer(from_fn_with_state(app, ratelimit::limit_mutations))
        // Login charges its own budget once it knows whether the token is valid, so strangers
        // posting bad tokens cannot keep a tenant from logging in.
        .route("/login", get(session::login_page).post(session::login))
        .route("/dashboard.css", get(css))
        .route("/dashboard.js", get(js))
        .route("/favicon.svg", get(favicon))
        .layer(from_fn(security_headers))
}

/// Headers on every dashboard response; pages also say `no-store` (they hold CSRF tokens).
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        // The rate limiter answers in the API's JSON; a person gets a page.
        let retry = response.headers().get(header::RETRY_AFTER).cloned();
        response = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many changes in a short time; wait a minute and try again.",
        );
        if let Some(retry) = retry {
            response.headers_mut().insert(header::RETRY_AFTER, retry);
        }
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/dashboard.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/dashboard.js"),
    )
}

async fn favicon() -> Response {
    asset("image/svg+xml", include_str!("assets/favicon.svg"))
}

/// Render `template` with `context`; a template bug becomes a plain 500, never a half page.
fn render(status: StatusCode, template: &str, context: &impl Serialize) -> Response {
    let html = ENVIRONMENT
        .get_template(template)
        .and_then(|t| t.render(Serde(context)));
    match html {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "dashboard page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>internal error</p>"),
            )
                .into_response()
        }
    }
}

#[derive(Serialize)]
struct ErrorPage<'a> {
    page: &'static str,
    user: Option<()>,
    status: u16,
    title: &'a str,
    message: &'a str,
}

fn error_page(status: StatusCode, message: &str) -> Response {
    render(
        status,
        "error.html",
        &ErrorPage {
            page: "error",
            user: None,
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message,
        },
    )
}

/// Why a dashboard request was not served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    /// No session, or its token is no longer valid: off to the login page.
    #[error("not logged in")]
    LoggedOut,
    /// A form post without this session's CSRF token, or from another site.
    #[error("this form did not come from this dashboard; reload the page and try again")]
    Forgery,
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The status and message the API gives for `error`; internal details are logged, not shown.
fn api_status(error: ApiError) -> (StatusCode, String) {
    let message = error.to_string();
    // The API's own mapping decides the status (and logs internal errors once).
    (error.into_response().status(), message)
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::LoggedOut => {
                let mut response = Redirect::to("/login").into_response();
                for clear in session::clear_session_cookies() {
                    response.headers_mut().append(header::SET_COOKIE, clear);
                }
                response
            }
            PageError::Forgery => error_page(StatusCode::FORBIDDEN, &self.to_string()),
            PageError::Api(error) => {
                let (status, message) = api_status(error);
                error_page(status, &message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(ENVIRONMENT.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn error_pages_escape_their_message() {
        let page = ErrorPage {
            page: "error",
            user: None,
            status: 400,
            title: "Bad Request",
            message: "<script>x</script>",
        };
        let html = ENVIRONMENT
            .get_template("error.html")
            .and_then(|t| t.render(Serde(&page)))
            .expect("renders");
        assert!(html.contains("&lt;script&gt;x&lt;"), "{html}");
        assert!(!html.contains("<script>x"), "{html}");
    }
}
