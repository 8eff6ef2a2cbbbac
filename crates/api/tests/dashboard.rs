//! Black-box dashboard tests: each spawns the whole app on port 0 with a fresh SQLite database
//! and talks to it like a browser would (forms, cookies, redirects), without following redirects.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use chrono::Utc;
use reqwest::header::{self, HeaderMap};
use reqwest::{redirect, Client, Response, StatusCode};
use serde_json::{json, Value};
use std::num::NonZeroU32;
use storefleet_api::{auth, ApiConfig, AppState};
use storefleet_state::{CreateLimits, NewEvent, OwnerCredentials, PlatformKey, StateStore};

struct Dash {
    base: String,
    client: Client,
    state: StateStore,
    admin: String,
    alice: String,
    bob: String,
    /// The running app, to tell it what `serve` learns from the database's notifications.
    app: AppState,
    _dir: tempfile::TempDir,
}

/// A logged-in browser: its session cookie and the CSRF token its pages carry.
struct Browser {
    cookie: String,
    csrf: String,
}

fn config() -> ApiConfig {
    ApiConfig {
        rate_per_user_per_minute: NonZeroU32::new(1000).expect("nonzero"),
        rate_per_ip_per_minute: NonZeroU32::new(1000).expect("nonzero"),
        ..ApiConfig::default()
    }
}

async fn start(config: ApiConfig) -> Dash {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/dash.db", dir.path().display());
    let state = StateStore::connect(&url).await.expect("sqlite");
    let spawned = common::spawn_app(state, config).await;
    Dash {
        base: spawned.base,
        client: Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .expect("client"),
        state: spawned.state,
        admin: spawned.admin,
        alice: spawned.alice,
        bob: spawned.bob,
        app: spawned.app,
        _dir: dir,
    }
}

/// The value of the hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').expect("closing quote");
    html[start..start + end].to_owned()
}

/// Every `Set-Cookie` of a response.
fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

fn location(response: &Response) -> String {
    response.headers()[header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// The same HTML escaping as the templates (MiniJinja's).
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

impl Dash {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The login form's double-submit cookie (`name=value`) and its hidden field.
    async fn login_form(&self) -> (String, String) {
        let response = self
            .client
            .get(self.url("/login"))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = set_cookies(&response)
            .into_iter()
            .find(|c| c.starts_with("storefleet_login="))
            .expect("login cookie");
        let pair = cookie.split(';').next().expect("pair").to_owned();
        let html = response.text().await.expect("html");
        (pair, hidden(&html, "csrf"))
    }

    async fn post_login(&self, token: &str, extra: &[(&str, &str)]) -> Response {
        let (cookie, csrf) = self.login_form().await;
        let mut request = self
            .client
            .post(self.url("/login"))
            .header(header::COOKIE, cookie)
            .form(&[("token", token), ("csrf", csrf.as_str())]);
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        request.send().await.expect("send")
    }

    async fn login(&self, token: &str) -> Browser {
        let response = self.post_login(token, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = set_cookies(&response)
            .into_iter()
            .find(|c| c.starts_with("storefleet_session="))
            .expect("session cookie");
        let cookie = cookie.split(';').next().expect("pair").to_owned();
        let (status, html) = self.page(&cookie, "/").await;
        assert_eq!(status, StatusCode::OK, "{html}");
        Browser {
            csrf: hidden(&html, "csrf"),
            cookie,
        }
    }

    async fn page(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(self.url(path))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .expect("send");
        let status = response.status();
        (status, response.text().await.expect("text"))
    }

    async fn post(&self, cookie: &str, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .header(header::COOKIE, cookie)
            .form(form)
            .send()
            .await
            .expect("send")
    }

    async fn api_create(&self, token: &str, name: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/api/v1/stores"))
            .bearer_auth(token)
            .json(&json!({"name": name, "engine": "medusa"}))
            .send()
            .await
            .expect("send");
        let status = response.status();
        (status, response.json().await.expect("json"))
    }

    async fn count(&self, table: &str) -> i64 {
        self.state
            .row_counts()
            .await
            .expect("counts")
            .into_iter()
            .find(|(t, _)| *t == table)
            .expect("table")
            .1
    }
}

/// Failed logins spend the anonymous budget of their address; a valid token still logs in
/// from that same address, so strangers cannot lock tenants out of the dashboard.
#[tokio::test]
async fn failed_logins_by_strangers_do_not_lock_a_tenant_out() {
    let dash = start(ApiConfig {
        rate_per_ip_per_minute: NonZeroU32::new(2).expect("nonzero"),
        ..config()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(dash.post_login("sf_guessed", &[]).await.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    dash.login(&dash.alice).await;
}

#[tokio::test]
async fn a_bad_token_shows_the_api_error_and_sets_no_session() {
    let dash = start(config()).await;
    let response = dash.post_login("sf_not-a-real-token", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookies(&response)
        .iter()
        .all(|c| !c.starts_with("storefleet_session=")));
    let html = response.text().await.expect("html");
    assert!(html.contains("unknown API token"), "{html}");
    assert!(!html.contains("sf_not-a-real-token"), "the token is echoed");

    let empty = dash.post_login("  ", &[]).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let injected = dash.post_login("sf_x; Domain=evil.example", &[]).await;
    assert_eq!(injected.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookies(&injected).iter().all(|c| !c.contains("evil")));
}

#[tokio::test]
async fn logging_in_sets_an_http_only_strict_cookie_and_logging_out_clears_it() {
    let dash = start(config()).await;
    let anonymous = dash.client.get(dash.url("/")).send().await.expect("send");
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&anonymous), "/login");

    let response = dash.post_login(&dash.alice, &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/", "the token never goes in a URL");
    let cookie = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("storefleet_session="))
        .expect("session cookie");
    // A random session id, never the API token it was opened with.
    assert!(cookie.starts_with("storefleet_session=ss_"), "{cookie}");
    assert!(
        !cookie.contains(&dash.alice),
        "the token is in the cookie: {cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/;"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    let over_https = dash
        .post_login(&dash.alice, &[("x-forwarded-proto", "https")])
        .await;
    let cookies = set_cookies(&over_https);
    let secure = cookies
        .iter()
        .find(|c| c.starts_with("__Host-storefleet_session="))
        .unwrap_or_else(|| panic!("a __Host- session cookie over HTTPS: {cookies:?}"));
    assert!(secure.contains("; Secure"), "{secure}");
    assert!(
        secure.contains("Path=/;") && !secure.contains("Domain"),
        "{secure}"
    );
    let session_id = secure
        .trim_start_matches("__Host-storefleet_session=")
        .split(';')
        .next()
        .expect("value");
    // Over HTTPS a bare-named cookie (which a sibling subdomain could plant) is not a session.
    for (cookie, expected) in [
        (
            format!("__Host-storefleet_session={session_id}"),
            StatusCode::OK,
        ),
        (
            format!("storefleet_session={session_id}"),
            StatusCode::SEE_OTHER,
        ),
    ] {
        let page = dash
            .client
            .get(dash.url("/"))
            .header(header::COOKIE, cookie.as_str())
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .expect("send");
        assert_eq!(page.status(), expected, "{cookie}");
    }

    let browser = dash.login(&dash.alice).await;
    let (status, html) = dash.page(&browser.cookie, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("alice"));
    assert!(!html.contains(&dash.alice), "the token is in the page");
    let (status, _) = dash.page(&browser.cookie, "/login").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "already logged in");

    let logout = dash
        .post(&browser.cookie, "/logout", &[("csrf", &browser.csrf)])
        .await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&logout), "/login");
    let cleared = set_cookies(&logout).join("\n");
    assert!(
        cleared.contains("storefleet_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // The session ended on the server: a copy of the cookie kept elsewhere no longer works.
    let (status, _) = dash.page(&browser.cookie, "/").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "a logged-out session is gone"
    );
}

/// The cookie holds a session, not the token: the token itself in the cookie is no session,
/// and rotating the token ends every session opened with it (pages and the cookie-read API).
#[tokio::test]
async fn sessions_live_on_the_server_and_end_when_the_token_is_rotated() {
    let dash = start(config()).await;
    let (status, _) = dash
        .page(&format!("storefleet_session={}", dash.alice), "/")
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "a token is not a session id");

    let first = dash.login(&dash.alice).await;
    let second = dash.login(&dash.alice).await;
    assert_ne!(first.cookie, second.cookie, "each login is its own session");
    let bob = dash.login(&dash.bob).await;
    let counts = dash.state.row_counts().await.expect("counts");
    assert_eq!(
        counts
            .iter()
            .find(|(table, _)| *table == "sessions")
            .map(|(_, n)| *n),
        Some(3)
    );

    dash.state
        .rotate_token(
            "alice",
            &auth::hash_token(&auth::generate_token()),
            &storefleet_state::AuditEntry {
                target: Some("alice".to_owned()),
                ..storefleet_state::fixtures::audit_entry("admin", "user.rotate_token")
            },
            chrono::Utc::now(),
        )
        .await
        .expect("rotate")
        .expect("alice exists");
    // This process would hear NOTIFY (PostgreSQL) or poll data_version (SQLite) in `serve`;
    // here the test tells the API as those would.
    dash.app.forget_tokens();
    for browser in [&first, &second] {
        let (status, _) = dash.page(&browser.cookie, "/").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "alice's sessions ended");
        let api = dash
            .client
            .get(dash.url("/api/v1/stores"))
            .header(header::COOKIE, &browser.cookie)
            .send()
            .await
            .expect("send");
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    }
    let (status, _) = dash.page(&bob.cookie, "/").await;
    assert_eq!(status, StatusCode::OK, "bob's session is his own");
}

#[tokio::test]
async fn the_list_shows_only_your_own_stores_and_admins_see_all() {
    let dash = start(config()).await;
    dash.api_create(&dash.alice, "alice-shop").await;
    dash.api_create(&dash.bob, "bob-shop").await;
    let alice = dash.login(&dash.alice).await;
    let (_, html) = dash.page(&alice.cookie, "/").await;
    assert!(html.contains("alice-shop"));
    assert!(!html.contains("bob-shop"));
    assert!(html.contains(">requested<"), "{html}");
    let admin = dash.login(&dash.admin).await;
    let (_, html) = dash.page(&admin.cookie, "/").await;
    assert!(html.contains("alice-shop") && html.contains("bob-shop"));
}

#[tokio::test]
async fn the_create_form_creates_exactly_one_store_even_when_submitted_twice() {
    let dash = start(config()).await;
    let alice = dash.login(&dash.alice).await;
    let (_, html) = dash.page(&alice.cookie, "/").await;
    let key = hidden(&html, "idempotency_key");
    let (stores, audit) = (dash.count("stores").await, dash.count("audit_log").await);
    let form = [
        ("csrf", alice.csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("name", "my-shop"),
        ("engine", "woocommerce"),
        ("plan", "medium"),
        ("ttl_seconds", "3600"),
    ];
    let first = dash.post(&alice.cookie, "/stores", &form).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let target = location(&first);
    assert!(target.starts_with("/#store-"), "{target}");
    let again = dash.post(&alice.cookie, "/stores", &form).await;
    assert_eq!(location(&again), target, "a double submit replays");
    assert_eq!(dash.count("stores").await, stores + 1);
    assert_eq!(dash.count("audit_log").await, audit + 1);

    let stores = dash
        .state
        .list_stores(Some("alice"), None, 10)
        .await
        .expect("list");
    let store = &stores[0];
    assert_eq!(
        (
            store.spec.name.as_str(),
            store.spec.engine.as_str(),
            store.spec.plan.as_str()
        ),
        ("my-shop", "woocommerce", "medium")
    );
    assert!(store.spec.expires_at.is_some());
    let records = dash.state.list_audit(None, 10).await.expect("audit");
    assert!(records
        .iter()
        .any(|r| r.entry.action == "store.create" && r.entry.actor == "alice"));
    let (_, html) = dash.page(&alice.cookie, "/").await;
    assert!(html.contains("my-shop"));
}

#[tokio::test]
async fn a_bad_name_is_refused_with_the_api_message_and_changes_nothing() {
    let dash = start(config()).await;
    let alice = dash.login(&dash.alice).await;
    let before = dash.state.row_counts().await.expect("counts");
    for name in ["Shop!", "ab", "", "../../etc"] {
        let (status, api) = dash.api_create(&dash.alice, name).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let message = api["error"]["message"].as_str().expect("message");
        let response = dash
            .post(
                &alice.cookie,
                "/stores",
                &[("csrf", &alice.csrf), ("name", name), ("engine", "medusa")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}"
        );
        let html = response.text().await.expect("html");
        assert!(html.contains(&escaped(message)), "{message} not in {html}");
        assert!(
            html.contains("aria-invalid=\"true\""),
            "the name field is marked"
        );
    }
    let response = dash
        .post(
            &alice.cookie,
            "/stores",
            &[
                ("csrf", &alice.csrf),
                ("name", "shop"),
                ("engine", "shopify"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("html");
    assert!(html.contains("unknown engine"), "{html}");
    assert_eq!(dash.state.row_counts().await.expect("counts"), before);
}

#[tokio::test]
async fn the_quota_applies_to_the_form_with_the_api_message_and_an_audit_entry() {
    let dash = start(ApiConfig {
        limits: CreateLimits {
            per_user: 1,
            total: 100,
        },
        ..config()
    })
    .await;
    let alice = dash.login(&dash.alice).await;
    let create = |name: &'static str| {
        let form = [
            ("csrf", alice.csrf.clone()),
            ("name", name.to_owned()),
            ("engine", "medusa".to_owned()),
        ];
        let request = dash
            .client
            .post(dash.url("/stores"))
            .header(header::COOKIE, &alice.cookie)
            .form(&form);
        async move { request.send().await.expect("send") }
    };
    assert_eq!(create("first").await.status(), StatusCode::SEE_OTHER);
    let refused = create("second").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let html = refused.text().await.expect("html");
    let (_, api) = dash.api_create(&dash.alice, "third").await;
    let message = api["error"]["message"].as_str().expect("message");
    assert!(html.contains(&escaped(message)), "{message} not in {html}");
    assert!(
        html.contains("value=\"second\""),
        "the form keeps its values"
    );
    assert_eq!(dash.count("stores").await, 1);
    let records = dash.state.list_audit(None, 10).await.expect("audit");
    assert!(records
        .iter()
        .any(|r| r.entry.action == "store.create" && r.entry.outcome == "denied"));
}

#[tokio::test]
async fn form_posts_without_this_sessions_csrf_token_are_refused() {
    let dash = start(config()).await;
    let alice = dash.login(&dash.alice).await;
    let bob = dash.login(&dash.bob).await;
    let (_, store) = dash.api_create(&dash.alice, "shop").await;
    let id = store["id"].as_str().expect("id");
    let before = dash.state.row_counts().await.expect("counts");
    let create = [("name", "new-shop"), ("engine", "medusa")];
    for csrf in [None, Some(""), Some("0000"), Some(bob.csrf.as_str())] {
        let mut form = create.to_vec();
        let mut delete = Vec::new();
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
            delete.push(("csrf", csrf));
        }
        let response = dash.post(&alice.cookie, "/stores", &form).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "create with {csrf:?}"
        );
        let path = format!("/stores/{id}/delete");
        let response = dash.post(&alice.cookie, &path, &delete).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "delete with {csrf:?}"
        );
        let response = dash.post(&alice.cookie, "/logout", &delete).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "logout with {csrf:?}"
        );
    }
    // The right token from a page of another site (a store on a sibling subdomain) is refused too.
    for site in ["cross-site", "same-site"] {
        let response = dash
            .client
            .post(dash.url("/stores"))
            .header(header::COOKIE, &alice.cookie)
            .header("sec-fetch-site", site)
            .form(&[
                ("csrf", alice.csrf.as_str()),
                ("name", "x-shop"),
                ("engine", "medusa"),
            ])
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{site}");
    }
    // A login post needs the login form's own cookie.
    let login = dash
        .client
        .post(dash.url("/login"))
        .form(&[
            ("token", dash.bob.as_str()),
            ("csrf", "0123456789abcdef0123456789abcdef"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    assert!(set_cookies(&login).is_empty());
    assert_eq!(dash.state.row_counts().await.expect("counts"), before);
}

#[tokio::test]
async fn hostile_values_are_escaped_in_every_page() {
    let dash = start(config()).await;
    let alice = dash.login(&dash.alice).await;
    let (_, store) = dash.api_create(&dash.alice, "shop").await;
    let id = store["id"].as_str().expect("id");
    let hostile = "<script>alert(\"owned\")</script><img src=x onerror=alert(1)>";
    let event = NewEvent::warning("<b>Bad</b>", hostile);
    dash.state
        .record_events(
            uuid::Uuid::parse_str(id).expect("uuid").into(),
            &[event],
            Utc::now(),
        )
        .await
        .expect("record");
    let (status, html) = dash.page(&alice.cookie, &format!("/stores/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&escaped(hostile)), "{html}");
    assert!(html.contains("&lt;b&gt;Bad&lt;&#x2f;b&gt;"), "{html}");
    for raw in ["<script>alert", "<img src=x", "<b>Bad"] {
        assert!(!html.contains(raw), "{raw} reached the page");
    }
    let response = dash
        .post(
            &alice.cookie,
            "/stores",
            &[
                ("csrf", &alice.csrf),
                ("name", hostile),
                ("engine", "medusa"),
            ],
        )
        .await;
    let html = response.text().await.expect("html");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
}

#[tokio::test]
async fn the_session_cookie_reads_the_api_but_cannot_change_it() {
    let dash = start(config()).await;
    let alice = dash.login(&dash.alice).await;
    let (_, store) = dash.api_create(&dash.alice, "shop").await;
    let id = store["id"].as_str().expect("id");
    let list = dash
        .client
        .get(dash.url("/api/v1/stores"))
        .header(header::COOKIE, &alice.cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(list.status(), StatusCode::OK);
    let body: Value = list.json().await.expect("json");
    assert_eq!(body["items"][0]["name"], "shop");
    let stream = dash
        .client
        .get(dash.url(&format!("/api/v1/stores/{id}/events")))
        .header(header::COOKIE, &alice.cookie)
        .header(header::ACCEPT, "text/event-stream")
        .send()
        .await
        .expect("send");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()[header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .starts_with("text/event-stream"));
    drop(stream);

    let before = dash.state.row_counts().await.expect("counts");
    let create = dash
        .client
        .post(dash.url("/api/v1/stores"))
        .header(header::COOKIE, &alice.cookie)
        .json(&json!({"name": "cookie-shop", "engine": "medusa"}))
        .send()
        .await
        .expect("send");
    assert_eq!(create.status(), StatusCode::UNAUTHORIZED);
    let delete = dash
        .client
        .delete(dash.url(&format!("/api/v1/stores/{id}")))
        .header(header::COOKIE, &alice.cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(delete.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(dash.state.row_counts().await.expect("counts"), before);
    // A bad Authorization header is not rescued by the cookie.
    let mixed = dash
        .client
        .get(dash.url("/api/v1/stores"))
        .header(header::COOKIE, &alice.cookie)
        .header(header::AUTHORIZATION, "Basic YWxpY2U6cHc=")
        .send()
        .await
        .expect("send");
    assert_eq!(mixed.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleting_through_the_form_requests_deletion_only_for_your_own_store() {
    let dash = start(config()).await;
    let alice = dash.login(&dash.alice).await;
    let bob = dash.login(&dash.bob).await;
    let (_, store) = dash.api_create(&dash.alice, "shop").await;
    let id = store["id"].as_str().expect("id");
    let path = format!("/stores/{id}/delete");
    let (status, _) = dash.page(&bob.cookie, &format!("/stores/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = dash.post(&bob.cookie, &path, &[("csrf", &bob.csrf)]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = dash
        .post(
            &alice.cookie,
            &path,
            &[("csrf", &alice.csrf), ("back", "detail")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/stores/{id}"));
    let (_, html) = dash.page(&alice.cookie, &format!("/stores/{id}")).await;
    assert!(html.contains(">deleting<"), "{html}");
    assert!(html.contains("DeleteRequested"), "{html}");
    assert!(
        !html.contains("id=\"delete-form\""),
        "no second delete button"
    );
    let records = dash.state.list_audit(None, 10).await.expect("audit");
    assert!(records
        .iter()
        .any(|r| r.entry.action == "store.delete" && r.entry.actor == "alice"));
}

#[tokio::test]
async fn a_failed_store_s_page_offers_retry_and_the_button_provisions_it_again() {
    let dash = start(config()).await;
    let alice = dash.login(&dash.alice).await;
    let bob = dash.login(&dash.bob).await;
    let (_, store) = dash.api_create(&dash.alice, "shop").await;
    let id = store["id"].as_str().expect("id");
    let page = format!("/stores/{id}");
    let (_, html) = dash.page(&alice.cookie, &page).await;
    assert!(
        html.contains("id=\"retry-form\" hidden"),
        "a store that has not failed shows no Retry: {html}"
    );

    let failed = storefleet_state::fixtures::record_failed(
        &dash.state,
        id.parse().expect("uuid"),
        "chart not found",
    )
    .await
    .expect("record");
    assert!(failed);
    let (_, html) = dash.page(&alice.cookie, &page).await;
    assert!(html.contains("id=\"retry-form\">"), "{html}");
    assert!(html.contains(">Retry</button>"), "{html}");

    let path = format!("/stores/{id}/retry");
    let response = dash.post(&bob.cookie, &path, &[("csrf", &bob.csrf)]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = dash.post(&alice.cookie, &path, &[("csrf", "forged")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = dash
        .post(&alice.cookie, &path, &[("csrf", &alice.csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), page);
    let (_, html) = dash.page(&alice.cookie, &page).await;
    assert!(html.contains(">provisioning<"), "{html}");
    assert!(html.contains("RetryRequested"), "{html}");
    assert!(html.contains("id=\"retry-form\" hidden"), "{html}");

    // A second press (the page was stale) says why it changed nothing.
    let response = dash
        .post(&alice.cookie, &path, &[("csrf", &alice.csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.expect("html");
    assert!(
        html.contains("only a failed store can be retried"),
        "{html}"
    );
}

#[tokio::test]
async fn admin_pages_show_numbers_users_and_a_filtered_audit_log_to_admins_only() {
    let dash = start(config()).await;
    let admin = dash.login(&dash.admin).await;
    let alice = dash.login(&dash.alice).await;
    dash.api_create(&dash.alice, "shop").await;
    dash.api_create(&dash.bob, "cafe").await;

    for path in ["/admin", "/admin/audit"] {
        let (status, html) = dash.page(&alice.cookie, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {html}");
        assert!(html.contains("this needs the admin role"), "{html}");
    }
    let (_, list) = dash.page(&alice.cookie, "/").await;
    assert!(
        !list.contains("href=\"/admin\""),
        "no admin link for tenants"
    );
    let (_, list) = dash.page(&admin.cookie, "/").await;
    assert!(list.contains("href=\"/admin\""), "admins get the link");

    let (status, html) = dash.page(&admin.cookie, "/admin").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("data-field=\"created\">2<"), "{html}");
    assert!(html.contains("data-field=\"provisioning\">2<"), "{html}");
    assert!(html.contains("data-phase=\"requested\">2<"), "{html}");
    for user in ["admin", "alice", "bob"] {
        assert!(html.contains(&format!("data-user=\"{user}\"")), "{html}");
    }

    let (status, html) = dash
        .page(
            &admin.cookie,
            "/admin/audit?actor=alice&action=store.create",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(">alice<"), "{html}");
    assert!(!html.contains(">bob<"), "filtered by actor: {html}");
    let (_, html) = dash
        .page(
            &admin.cookie,
            "/admin/audit?since=2000-01-01&until=2000-01-02T00%3A00",
        )
        .await;
    assert!(html.contains("No entries match."), "{html}");
    let (status, html) = dash
        .page(&admin.cookie, "/admin/audit?since=yesterday")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("is not a date"), "{html}");
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_no_inline_script_or_style() {
    let dash = start(config()).await;
    let alice = dash.login(&dash.alice).await;
    let (_, store) = dash.api_create(&dash.alice, "shop").await;
    let id = store["id"].as_str().expect("id");
    for (path, cookie) in [
        ("/login".to_owned(), ""),
        ("/".to_owned(), alice.cookie.as_str()),
        (format!("/stores/{id}"), alice.cookie.as_str()),
        (
            format!("/stores/{}", uuid::Uuid::nil()),
            alice.cookie.as_str(),
        ),
    ] {
        let response = dash
            .client
            .get(dash.url(&path))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .expect("send");
        let headers: HeaderMap = response.headers().clone();
        let csp = headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html"));
        let html = response.text().await.expect("html");
        assert!(!html.contains(" style="), "{path}: inline style");
        assert!(!html.contains("<style"), "{path}: inline style");
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=\"/dashboard.js\" defer></script>")
                .count(),
            "{path}: inline script"
        );
    }
    for (path, kind) in [
        ("/dashboard.js", "text/javascript"),
        ("/dashboard.css", "text/css"),
    ] {
        let response = dash.client.get(dash.url(path)).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with(kind));
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
    }
}

#[tokio::test]
async fn a_revoked_or_forged_session_goes_back_to_the_login_page() {
    let dash = start(config()).await;
    let response = dash
        .client
        .get(dash.url("/"))
        .header(header::COOKIE, "storefleet_session=sf_forged")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
    assert!(set_cookies(&response)
        .iter()
        .any(|c| c.starts_with("storefleet_session=;") && c.contains("Max-Age=0")));
}

#[tokio::test]
async fn only_the_owner_is_offered_and_shown_the_credentials() {
    let key = PlatformKey::from_base64(&PlatformKey::generate_base64()).expect("key");
    let dash = start(ApiConfig {
        platform_key: Some(key.clone()),
        ..config()
    })
    .await;
    let alice = dash.login(&dash.alice).await;
    let bob = dash.login(&dash.bob).await;
    let admin = dash.login(&dash.admin).await;
    let (_, store) = dash.api_create(&dash.alice, "shop").await;
    let id = store["id"].as_str().expect("id");
    let detail = format!("/stores/{id}");
    let path = format!("/stores/{id}/credentials");

    let (_, html) = dash.page(&alice.cookie, &detail).await;
    assert!(
        !html.contains("id=\"credentials-form\"") && html.contains("id=\"credentials-pending\""),
        "before setup the owner is told when they come, not offered an empty view: {html}"
    );
    let (_, html) = dash.page(&admin.cookie, &detail).await;
    assert!(
        !html.contains("credentials-form"),
        "an admin is not: {html}"
    );

    // Before setup there is no copy; the page says why.
    let response = dash
        .post(&alice.cookie, &path, &[("csrf", &alice.csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.expect("html");
    assert!(
        html.contains(&escaped("copied once the store's setup is complete")),
        "{html}"
    );

    let store_id = storefleet_domain::StoreId::parse_str(id).expect("uuid");
    let credentials = OwnerCredentials {
        admin_user: Some("shop-admin".to_owned()),
        admin_email: Some("admin@shop.example".to_owned()),
        admin_password: Some("pw<b>Zq81</b>".to_owned()),
        publishable_key: None,
    };
    dash.state
        .save_credentials(
            store_id,
            &key.seal_credentials(store_id, &credentials),
            Utc::now(),
        )
        .await
        .expect("save");

    let (_, html) = dash.page(&alice.cookie, &detail).await;
    assert!(
        html.contains("id=\"credentials-form\""),
        "once they exist the owner is offered them"
    );
    let (_, html) = dash.page(&admin.cookie, &detail).await;
    assert!(
        !html.contains("credentials-form"),
        "an admin still is not: {html}"
    );

    for (who, browser, csrf, want) in [
        ("no CSRF token", &alice, "", StatusCode::FORBIDDEN),
        (
            "another user",
            &bob,
            bob.csrf.as_str(),
            StatusCode::NOT_FOUND,
        ),
        (
            "an admin",
            &admin,
            admin.csrf.as_str(),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let response = dash.post(&browser.cookie, &path, &[("csrf", csrf)]).await;
        assert_eq!(response.status(), want, "{who}");
        let html = response.text().await.expect("html");
        assert!(!html.contains("Zq81"), "{who} saw the password");
    }

    let response = dash
        .post(&alice.cookie, &path, &[("csrf", &alice.csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let html = response.text().await.expect("html");
    assert!(
        html.contains("shop-admin") && html.contains("admin@shop.example"),
        "{html}"
    );
    assert!(
        html.contains("pw&lt;b&gt;Zq81&lt;&#x2f;b&gt;"),
        "escaped: {html}"
    );
    assert!(!html.contains("<b>Zq81"), "never raw HTML");
    assert!(
        html.contains("<details id=\"password-reveal\"><summary>Reveal</summary><code data-field=\"admin_password\""),
        "the password stays hidden until revealed: {html}"
    );
    assert!(
        html.contains("data-copy=\"admin_password\"") && html.contains("data-copy=\"admin_email\""),
        "each credential has a copy button"
    );
    assert!(
        !html.contains("Publishable key"),
        "absent fields are left out"
    );
}
