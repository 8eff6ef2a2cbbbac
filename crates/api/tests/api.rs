//! Black-box API tests: each test spawns the app on port 0 with a fresh database, on both backends.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

mod common;

use chrono::Utc;
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};
use std::num::NonZeroU32;
use std::time::Duration;
use storefleet_api::{auth, ApiConfig};
use storefleet_state::{OwnerCredentials, PlatformKey, StateStore};

struct TestApp {
    base: String,
    client: Client,
    state: StateStore,
    admin: String,
    alice: String,
    bob: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    async fn start(state: StateStore, dir: Option<tempfile::TempDir>, config: ApiConfig) -> Self {
        let spawned = common::spawn_app(state, config).await;
        Self {
            base: spawned.base,
            client: Client::new(),
            state: spawned.state,
            admin: spawned.admin,
            alice: spawned.alice,
            bob: spawned.bob,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn create(&self, token: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/api/v1/stores"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, token: &str, id: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .delete(self.url(&format!("/api/v1/stores/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Open a store's live event stream (`Accept: text/event-stream`).
    async fn event_stream(&self, token: &str, id: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/api/v1/stores/{id}/events")))
            .bearer_auth(token)
            .header(header::ACCEPT, "text/event-stream")
            .send()
            .await
            .expect("send")
    }
}

async fn sqlite(config: ApiConfig) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/api.db", dir.path().display());
    let state = StateStore::connect(&url).await.expect("sqlite");
    TestApp::start(state, Some(dir), config).await
}

async fn postgres(config: ApiConfig) -> Option<TestApp> {
    let url =
        storefleet_testkit::postgres_or_skip(storefleet_testkit::postgres::fresh_database().await)?;
    let state = StateStore::connect(&url).await.expect("postgres");
    Some(TestApp::start(state, None, config).await)
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        on_both_backends!(config => sqlite, postgres: $($name),*);
    };
    // Tests that need their own settings: `config_fn => sqlite_module, postgres_module: tests`.
    ($config:ident => $sqlite:ident, $postgres:ident: $($name:ident),* $(,)?) => {
        mod $sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::sqlite(super::$config()).await).await; })*
        }
        mod $postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(app) = super::postgres(super::$config()).await else { return };
                super::$name(app).await;
            })*
        }
    };
}

/// The platform key of every test app (base64 of 32 bytes, 0x00..0x1f).
const TEST_PLATFORM_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn platform_key() -> PlatformKey {
    PlatformKey::from_base64(TEST_PLATFORM_KEY).expect("test key")
}

/// The platform's own host in every test app: `fleet` is reserved under the default domain.
const PLATFORM_HOST: &str = "fleet.127.0.0.1.nip.io";

fn config() -> ApiConfig {
    ApiConfig {
        hosts: storefleet_domain::StoreHosts::new(
            storefleet_domain::StoreDomain::default(),
            false,
            &[PLATFORM_HOST.to_owned()],
        ),
        rate_per_user_per_minute: NonZeroU32::new(1000).expect("nonzero"),
        rate_per_ip_per_minute: NonZeroU32::new(1000).expect("nonzero"),
        platform_key: Some(platform_key()),
        ..ApiConfig::default()
    }
}

on_both_backends!(
    health_readiness_and_metrics_answer,
    a_store_can_be_created_listed_read_and_deleted,
    a_retry_with_the_same_idempotency_key_returns_the_same_store,
    a_hundred_concurrent_creates_with_one_key_create_one_store,
    fifty_concurrent_creates_against_a_quota_of_five_create_exactly_five,
    reusing_a_key_with_another_body_is_refused_and_changes_nothing,
    every_bad_input_gets_a_json_error_and_changes_nothing,
    missing_and_unknown_tokens_are_401_and_non_admins_get_403,
    other_tenants_stores_are_invisible_but_admins_see_all,
    events_are_served_as_json_and_as_a_live_stream,
    the_list_follows_every_change_at_once_despite_its_cache,
    a_stream_ends_on_delete_only_after_the_deleted_event,
    only_the_owner_reads_credentials_and_only_while_a_copy_exists,
    a_live_stream_ends_when_its_token_is_rotated,
    a_live_name_and_its_host_belong_to_one_tenant_until_its_store_is_deleted,
    reserved_names_are_refused_and_change_nothing,
    a_failed_store_is_retried_by_its_owner_or_an_admin_only_from_failed,
    admins_list_add_and_remove_users_and_tenants_get_403,
    admins_filter_and_page_the_audit_log_and_read_platform_numbers,
);
on_both_backends!(strangers_config => sqlite_strangers, postgres_strangers:
    strangers_cannot_spend_the_budget_of_tenants);
on_both_backends!(streams_config => sqlite_streams, postgres_streams:
    live_streams_are_capped_per_user);
on_both_backends!(lifetime_config => sqlite_lifetime, postgres_lifetime:
    live_streams_end_at_their_lifetime);

async fn health_readiness_and_metrics_answer(app: TestApp) {
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("send");
    assert_eq!(ready.status(), StatusCode::OK);
    app.get(&app.alice, "/api/v1/stores").await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("storefleet_http_requests_total{"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/api/v1/stores\""), "{metrics}");
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(doc["paths"]["/api/v1/stores"]["post"].is_object());
}

async fn a_store_can_be_created_listed_read_and_deleted(app: TestApp) {
    let (status, store) = app
        .create(&app.alice, json!({"name": "shop-one", "engine": "medusa"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{store}");
    assert_eq!(store["phase"], "requested");
    assert_eq!(store["plan"], "small");
    assert_eq!(store["owner"], "alice");
    let id = store["id"].as_str().expect("id").to_owned();
    assert!(store["namespace"]
        .as_str()
        .expect("ns")
        .starts_with("store-shop-one-"));

    let (status, list) = app.get(&app.alice, "/api/v1/stores").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (status, one) = app.get(&app.alice, &format!("/api/v1/stores/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], id.as_str());

    for _ in 0..2 {
        let (status, body) = app.delete(&app.alice, &id).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body["phase"], "deleting");
        assert_eq!(
            body["generation"], 2,
            "a second delete must not bump the generation"
        );
    }
    let (_, audit) = app.get(&app.admin, "/api/v1/audit").await;
    let actions: Vec<_> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(actions, vec![json!("store.delete"), json!("store.create")]);
    assert_eq!(audit["items"][0]["actor"], "alice");
    assert_eq!(audit["items"][0]["source_ip"], "127.0.0.1");
    assert!(audit["items"][0]["request_id"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
}

async fn a_retry_with_the_same_idempotency_key_returns_the_same_store(app: TestApp) {
    let send = || {
        app.client
            .post(app.url("/api/v1/stores"))
            .bearer_auth(&app.alice)
            .header("Idempotency-Key", "key-1")
            .json(&json!({"name": "shop", "engine": "woocommerce", "plan": "small"}))
            .send()
    };
    let first = send().await.expect("send");
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    let second = send().await.expect("send");
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(
        second
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let second: Value = second.json().await.expect("json");
    assert_eq!(first["id"], second["id"]);

    // Once the store is deleted the key no longer answers 201 with it, nor makes another.
    let id = first["id"].as_str().expect("id");
    assert_eq!(app.delete(&app.alice, id).await.0, StatusCode::ACCEPTED);
    let after_delete = send().await.expect("send");
    assert_eq!(after_delete.status(), StatusCode::CONFLICT);
    let body: Value = after_delete.json().await.expect("json");
    assert_eq!(body["error"]["code"], "idempotency_key_store_deleted");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(id) && m.contains("use a new key")),
        "{body}"
    );
    assert_eq!(
        app.state
            .list_stores(None, None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
}

async fn a_hundred_concurrent_creates_with_one_key_create_one_store(app: TestApp) {
    let requests = (0..100).map(|_| {
        app.client
            .post(app.url("/api/v1/stores"))
            .bearer_auth(&app.alice)
            .header("Idempotency-Key", "same-key")
            .json(&json!({"name": "shop", "engine": "medusa"}))
            .send()
    });
    let responses = futures::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    for response in responses {
        let response = response.expect("send");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        ids.insert(body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(
        app.state
            .list_stores(None, None, 200)
            .await
            .expect("list")
            .len(),
        1
    );
}

async fn fifty_concurrent_creates_against_a_quota_of_five_create_exactly_five(app: TestApp) {
    let requests = (0..50).map(|i| {
        app.client
            .post(app.url("/api/v1/stores"))
            .bearer_auth(&app.bob)
            .json(&json!({"name": format!("shop-{i}"), "engine": "medusa"}))
            .send()
    });
    let statuses: Vec<_> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.expect("send").status())
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        5
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::FORBIDDEN)
            .count(),
        45
    );
    assert_eq!(
        app.state
            .list_stores(Some("bob"), None, 100)
            .await
            .expect("list")
            .len(),
        5
    );
    let (_, body) = app
        .create(&app.bob, json!({"name": "one-more", "engine": "medusa"}))
        .await;
    assert_eq!(body["error"]["code"], "quota_exceeded");
}

async fn reusing_a_key_with_another_body_is_refused_and_changes_nothing(app: TestApp) {
    let post = |name: &'static str| {
        app.client
            .post(app.url("/api/v1/stores"))
            .bearer_auth(&app.alice)
            .header("Idempotency-Key", "k")
            .json(&json!({"name": name, "engine": "medusa"}))
            .send()
    };
    assert_eq!(
        post("first").await.expect("send").status(),
        StatusCode::CREATED
    );
    let before = app.state.row_counts().await.expect("counts");
    let refused = post("second").await.expect("send");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
    assert_eq!(app.state.row_counts().await.expect("counts"), before);
}

async fn every_bad_input_gets_a_json_error_and_changes_nothing(app: TestApp) {
    let before = app.state.row_counts().await.expect("counts");
    let json_cases: Vec<(Value, StatusCode, &str, Option<&str>)> = vec![
        (
            json!({"name": "ab", "engine": "medusa"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("name"),
        ),
        (
            json!({"name": "Shop!", "engine": "medusa"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("name"),
        ),
        (
            json!({"name": "../../etc", "engine": "medusa"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("name"),
        ),
        (
            json!({"name": "shop", "engine": "shopify"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("engine"),
        ),
        (
            json!({"name": "shop", "engine": "medusa", "plan": "huge"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("plan"),
        ),
        (
            json!({"name": "shop", "engine": "medusa", "ttl_seconds": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("ttl_seconds"),
        ),
        (
            json!({"name": "shop", "engine": "medusa", "admin": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            None,
        ),
        (
            json!({"engine": "medusa"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            None,
        ),
        (
            json!({"name": 7, "engine": "medusa"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            None,
        ),
    ];
    for (body, status, code, field) in json_cases {
        let (got, error) = app.create(&app.alice, body.clone()).await;
        assert_eq!(got, status, "{body} -> {error}");
        assert_eq!(error["error"]["code"], code, "{body} -> {error}");
        assert!(error["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        if let Some(field) = field {
            assert_eq!(error["error"]["field"], field, "{body}");
        }
    }
    let name_error = app
        .create(&app.alice, json!({"name": "ab", "engine": "medusa"}))
        .await
        .1;
    assert!(
        name_error["error"]["message"]
            .as_str()
            .expect("message")
            .contains("allowed"),
        "{name_error}"
    );

    let raw_cases: Vec<(Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            b"{not json".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            b"{\"name\":\"shop\"".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'],
            "application/json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            b"name=shop".to_vec(),
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            format!(
                "{{\"name\":\"{}\",\"engine\":\"medusa\"}}",
                "a".repeat(20_000)
            )
            .into_bytes(),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (body, content_type, status, code) in raw_cases {
        let response = app
            .client
            .post(app.url("/api/v1/stores"))
            .bearer_auth(&app.alice)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), status, "{content_type}");
        let error: Value = response.json().await.expect("json error body");
        assert_eq!(error["error"]["code"], code);
    }
    let bad_key = app
        .client
        .post(app.url("/api/v1/stores"))
        .bearer_auth(&app.alice)
        .header("Idempotency-Key", "x".repeat(300))
        .json(&json!({"name": "shop", "engine": "medusa"}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad_key.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for path in [
        "/api/v1/stores/not-a-uuid",
        "/api/v1/stores/..%2F..%2Fetc",
        "/api/v1/nothing",
    ] {
        let (status, error) = app.get(&app.alice, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error["error"]["code"], "not_found", "{path}");
    }
    let (status, error) = app.get(&app.alice, "/api/v1/stores?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "limit");
    let (status, _) = app.get(&app.alice, "/api/v1/stores?bogus=1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let put = app
        .client
        .put(app.url("/api/v1/stores"))
        .bearer_auth(&app.alice)
        .send()
        .await
        .expect("send");
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        app.state.row_counts().await.expect("counts"),
        before,
        "a refused request changed rows"
    );
}

async fn missing_and_unknown_tokens_are_401_and_non_admins_get_403(app: TestApp) {
    let none = app
        .client
        .get(app.url("/api/v1/stores"))
        .send()
        .await
        .expect("send");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let body: Value = none.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthenticated");
    let (status, _) = app.get("sf_not-a-real-token", "/api/v1/stores").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let basic = app
        .client
        .get(app.url("/api/v1/stores"))
        .header(header::AUTHORIZATION, "Basic YWxpY2U6cHc=")
        .send()
        .await
        .expect("send");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = app.get(&app.alice, "/api/v1/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = app.get(&app.admin, "/api/v1/audit").await;
    assert_eq!(status, StatusCode::OK);
}

async fn other_tenants_stores_are_invisible_but_admins_see_all(app: TestApp) {
    let (_, store) = app
        .create(
            &app.alice,
            json!({"name": "alice-shop", "engine": "medusa"}),
        )
        .await;
    app.create(&app.bob, json!({"name": "bob-shop", "engine": "medusa"}))
        .await;
    let id = store["id"].as_str().expect("id");
    let (status, _) = app.get(&app.bob, &format!("/api/v1/stores/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&app.bob, id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, bobs) = app.get(&app.bob, "/api/v1/stores").await;
    assert_eq!(bobs["items"].as_array().map(Vec::len), Some(1));
    let (_, all) = app.get(&app.admin, "/api/v1/stores").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2));
    let (_, page) = app.get(&app.admin, "/api/v1/stores?limit=1").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let next = page["next_after"].as_str().expect("a next page");
    let (_, rest) = app
        .get(&app.admin, &format!("/api/v1/stores?limit=1&after={next}"))
        .await;
    // Newest first by default: the second page holds the older store.
    assert_eq!(page["items"][0]["name"], "bob-shop");
    assert_eq!(rest["items"][0]["name"], "alice-shop");
    let (_, oldest) = app
        .get(&app.admin, "/api/v1/stores?limit=1&order=oldest")
        .await;
    assert_eq!(oldest["items"][0]["name"], "alice-shop");

    // Filters: owner (admins only; a tenant may name only themselves), name, engine, phase.
    let (_, alices) = app.get(&app.admin, "/api/v1/stores?owner=alice").await;
    assert_eq!(alices["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(alices["items"][0]["owner"], "alice");
    let (status, refused) = app.get(&app.bob, "/api/v1/stores?owner=alice").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, _) = app.get(&app.bob, "/api/v1/stores?owner=bob").await;
    assert_eq!(status, StatusCode::OK);
    let (_, named) = app.get(&app.admin, "/api/v1/stores?name=bob-shop").await;
    assert_eq!(named["items"].as_array().map(Vec::len), Some(1));
    let (_, woo) = app
        .get(&app.admin, "/api/v1/stores?engine=woocommerce")
        .await;
    assert_eq!(woo["items"].as_array().map(Vec::len), Some(0));
    let (status, bad) = app.get(&app.admin, "/api/v1/stores?phase=gone").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("allowed: live, all"),
        "{bad}"
    );
    let (status, _) = app.delete(&app.alice, id).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, deleting) = app.get(&app.admin, "/api/v1/stores?phase=deleting").await;
    assert_eq!(deleting["items"][0]["name"], "alice-shop");
}

/// A store's host is `<name>.<store domain>`: tenant B cannot take tenant A's live name (the
/// 409 does not say whose it is), and the name is free once A's store is deleted.
async fn a_live_name_and_its_host_belong_to_one_tenant_until_its_store_is_deleted(app: TestApp) {
    let body = json!({"name": "corner-shop", "engine": "medusa"});
    let (status, store) = app.create(&app.alice, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{store}");
    // The address is known from the first answer on, before anything exists in a cluster.
    assert_eq!(store["host"], "corner-shop.127.0.0.1.nip.io");
    assert_eq!(store["url"], "http://corner-shop.127.0.0.1.nip.io/");
    let id = store["id"].as_str().expect("id").to_owned();
    let (_, read) = app.get(&app.alice, &format!("/api/v1/stores/{id}")).await;
    assert_eq!(read["host"], store["host"]);

    let (status, refused) = app.create(&app.bob, body.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "conflict");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("\"corner-shop\" is taken"), "{message}");
    assert!(
        !message.contains("alice"),
        "the holder is not named: {message}"
    );
    let (status, mine) = app.create(&app.alice, body.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        mine["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("you already have"),
        "{mine}"
    );
    let (_, bobs) = app.get(&app.bob, "/api/v1/stores").await;
    assert_eq!(bobs["items"].as_array().map(Vec::len), Some(0));

    // Deleting is not enough: the store still holds its host until it is gone.
    let (status, _) = app.delete(&app.alice, &id).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = app.create(&app.bob, body.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    orchestrator_records(&app, storefleet_domain::Phase::Deleted, vec![]).await;
    let (status, taken) = app.create(&app.bob, body).await;
    assert_eq!(status, StatusCode::CREATED, "{taken}");
    assert_eq!(taken["owner"], "bob");
    assert_eq!(taken["host"], "corner-shop.127.0.0.1.nip.io");
}

async fn reserved_names_are_refused_and_change_nothing(app: TestApp) {
    let before = app.state.row_counts().await.expect("counts");
    // Built-in names, and the platform's own host under the store domain.
    for name in ["www", "api", "admin", "storefleet", "status", "fleet"] {
        let (status, body) = app
            .create(&app.alice, json!({"name": name, "engine": "medusa"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(body["error"]["field"], "name", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("reserved"),
            "{body}"
        );
    }
    assert_eq!(app.state.row_counts().await.expect("counts"), before);
    let (status, _) = app
        .create(
            &app.alice,
            json!({"name": "fleet-shop", "engine": "medusa"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "only the exact label is reserved"
    );
}

async fn events_are_served_as_json_and_as_a_live_stream(app: TestApp) {
    use futures::StreamExt;
    let (_, store) = app
        .create(&app.alice, json!({"name": "shop", "engine": "medusa"}))
        .await;
    let id = store["id"].as_str().expect("id").to_owned();
    let (status, events) = app
        .get(&app.alice, &format!("/api/v1/stores/{id}/events"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events["items"][0]["reason"], "Requested");

    let response = app.event_stream(&app.alice, &id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .expect("ct")
        .starts_with("text/event-stream"));
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    let store_id = storefleet_domain::StoreId::parse_str(&id).expect("uuid");
    let state = app.state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let event = storefleet_state::NewEvent::normal("NamespaceReady", "namespace created");
        state
            .record_events(store_id, &[event], Utc::now())
            .await
            .expect("record");
    });
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("NamespaceReady") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("event in time");
        seen.push_str(&String::from_utf8_lossy(
            &chunk.expect("chunk").expect("bytes"),
        ));
    }
    assert!(seen.contains("event: store-event"));
    assert!(seen.contains("\"reason\":\"Requested\""), "{seen}");
}

#[tokio::test]
async fn mutations_over_the_rate_limit_get_429_with_retry_after() {
    let config = ApiConfig {
        rate_per_user_per_minute: NonZeroU32::new(3).expect("nonzero"),
        ..ApiConfig::default()
    };
    let app = sqlite(config).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let (status, _) = app
            .create(
                &app.alice,
                json!({"name": format!("shop-{i}"), "engine": "medusa"}),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses[..3], [StatusCode::CREATED; 3]);
    let limited = app
        .client
        .post(app.url("/api/v1/stores"))
        .bearer_auth(&app.alice)
        .json(&json!({"name": "shop-x", "engine": "medusa"}))
        .send()
        .await
        .expect("send");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!(retry >= 1);
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    let (status, _) = app.get(&app.alice, "/api/v1/stores").await;
    assert_eq!(status, StatusCode::OK, "reads are not rate limited");
    let (status, _) = app
        .create(&app.bob, json!({"name": "bobs", "engine": "medusa"}))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another user has a budget of their own"
    );
}

/// A stranger's anonymous POSTs (and bad tokens) spend only the anonymous budget of their
/// address: every tenant behind the same ingress address still creates and deletes.
async fn strangers_cannot_spend_the_budget_of_tenants(app: TestApp) {
    let mut anonymous = Vec::new();
    for i in 0..8 {
        let request = app
            .client
            .post(app.url("/api/v1/stores"))
            .json(&json!({"name": format!("x{i}"), "engine": "medusa"}));
        let request = if i % 2 == 0 {
            request
        } else {
            request.bearer_auth("sf_not_a_real_token")
        };
        anonymous.push(request.send().await.expect("send").status());
    }
    assert_eq!(
        anonymous[..3],
        [StatusCode::UNAUTHORIZED; 3],
        "{anonymous:?}"
    );
    assert!(
        anonymous[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "strangers are limited: {anonymous:?}"
    );
    for (token, name) in [(&app.alice, "alices"), (&app.bob, "bobs")] {
        let (status, store) = app
            .create(token, json!({"name": name, "engine": "medusa"}))
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "a tenant is not locked out: {store}"
        );
        let id = store["id"].as_str().expect("id");
        let (status, _) = app.delete(token, id).await;
        assert!(status.is_success(), "deletes still work: {status}");
    }
}

fn strangers_config() -> ApiConfig {
    ApiConfig {
        rate_per_ip_per_minute: NonZeroU32::new(3).expect("nonzero"),
        ..config()
    }
}

/// Behind a trusted proxy the client is the rightmost hop the proxy did not write: a forged
/// leftmost entry neither escapes the limit nor lands in the audit log.
#[tokio::test]
async fn behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_hop() {
    let config = ApiConfig {
        rate_per_ip_per_minute: NonZeroU32::new(2).expect("nonzero"),
        trusted_proxies: storefleet_api::client_ip::TrustedProxies::parse(&["127.0.0.0/8"])
            .expect("proxies"),
        ..config()
    };
    let app = sqlite(config).await;
    let anonymous = |forwarded: String| {
        app.client
            .post(app.url("/api/v1/stores"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"name": "x", "engine": "medusa"}))
            .send()
    };
    let mut statuses = Vec::new();
    for i in 0..5 {
        // A new forged address each time; the proxy appended the attacker's real one.
        let response = anonymous(format!("9.9.9.{i}, 203.0.113.7"))
            .await
            .expect("send");
        statuses.push(response.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "forged entries must not buy new budgets"
    );
    let other = anonymous("203.0.113.7, 198.51.100.1".to_owned())
        .await
        .expect("send");
    assert_eq!(
        other.status(),
        StatusCode::UNAUTHORIZED,
        "another client (naming the attacker on the left) keeps its own budget"
    );

    let created = app
        .client
        .post(app.url("/api/v1/stores"))
        .bearer_auth(&app.alice)
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.9")
        .json(&json!({"name": "shop", "engine": "medusa"}))
        .send()
        .await
        .expect("send");
    assert_eq!(created.status(), StatusCode::CREATED);
    let (status, audit) = app.get(&app.admin, "/api/v1/audit").await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entry = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["action"] == "store.create")
        .expect("create audited");
    assert_eq!(entry["source_ip"], "198.51.100.9", "{entry}");
}

/// A client that never finishes its request headers is disconnected after the header-read
/// timeout instead of holding a connection (and its task) forever.
#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = sqlite(config()).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: storefleet\r\nX-Slow: ")
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(_)) | Ok(Err(_))),
        "the connection was still open after 30 s"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(5),
        "closed too early for a slow but honest client: {:?}",
        started.elapsed()
    );
    let (status, _) = app.get(&app.alice, "/api/v1/stores").await;
    assert_eq!(status, StatusCode::OK, "the server still serves others");
}

/// A client-chosen request id is kept only when short and plain; a 300,000-byte one is
/// replaced by a UUID before it reaches the audit log or the response.
#[tokio::test]
async fn an_oversized_request_id_is_replaced_before_it_is_stored() {
    let app = sqlite(config()).await;
    let create = |id: String, name: &'static str| {
        app.client
            .post(app.url("/api/v1/stores"))
            .bearer_auth(&app.alice)
            .header("x-request-id", id)
            .json(&json!({"name": name, "engine": "medusa"}))
            .send()
    };
    let huge = "r".repeat(300_000);
    let response = create(huge.clone(), "huge").await.expect("send");
    assert_eq!(response.status(), StatusCode::CREATED);
    let answered = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(answered.len(), 36, "a fresh UUID answers: {answered}");
    let kept = create("ci-run-42.7".to_owned(), "plain")
        .await
        .expect("send");
    assert_eq!(kept.headers()["x-request-id"], "ci-run-42.7");

    let (_, audit) = app.get(&app.admin, "/api/v1/audit").await;
    let ids: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "store.create")
        .map(|e| e["request_id"].as_str().expect("request id"))
        .collect();
    assert_eq!(ids.len(), 2, "{audit}");
    assert!(ids.contains(&answered.as_str()), "{ids:?}");
    assert!(ids.contains(&"ci-run-42.7"), "{ids:?}");
    assert!(ids.iter().all(|id| id.len() <= 64), "{ids:?}");
}

/// Invented HTTP methods all count under one `other` label instead of a series each.
#[tokio::test]
async fn invented_methods_share_one_metrics_label() {
    let app = sqlite(config()).await;
    for i in 0..20 {
        let method =
            reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).expect("method");
        app.client
            .request(method, app.url("/api/v1/stores"))
            .send()
            .await
            .expect("send");
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(!metrics.contains("INVENTED"), "{metrics}");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

/// Credential reads (audited each) have a per-user budget, so a loop cannot grow the audit
/// log at request speed; another owner's reads are untouched.
#[tokio::test]
async fn credential_reads_are_rate_limited_per_user() {
    let app = sqlite(ApiConfig {
        credential_reads_per_minute: NonZeroU32::new(3).expect("nonzero"),
        ..config()
    })
    .await;
    let (_, alices) = app
        .create(&app.alice, json!({"name": "alices", "engine": "medusa"}))
        .await;
    let (_, bobs) = app
        .create(&app.bob, json!({"name": "bobs", "engine": "medusa"}))
        .await;
    let credentials_of = |store: &Value| {
        format!(
            "/api/v1/stores/{}/credentials",
            store["id"].as_str().expect("id")
        )
    };
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get(&app.alice, &credentials_of(&alices)).await.0);
    }
    assert_ne!(statuses[0], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        statuses[3..],
        [StatusCode::TOO_MANY_REQUESTS; 2],
        "{statuses:?}"
    );
    assert_ne!(
        app.get(&app.bob, &credentials_of(&bobs)).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "another owner has a budget of their own"
    );
}

/// One user cannot hold more than their share of live streams; others still open theirs.
async fn live_streams_are_capped_per_user(app: TestApp) {
    let (_, alices) = app
        .create(&app.alice, json!({"name": "alices", "engine": "medusa"}))
        .await;
    let (_, bobs) = app
        .create(&app.bob, json!({"name": "bobs", "engine": "medusa"}))
        .await;
    let alices = alices["id"].as_str().expect("id");
    let mut open = Vec::new();
    for _ in 0..2 {
        let stream = app.event_stream(&app.alice, alices).await;
        assert_eq!(stream.status(), StatusCode::OK);
        open.push(stream);
    }
    let refused = app.event_stream(&app.alice, alices).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_many_streams", "{body}");
    let bobs = app
        .event_stream(&app.bob, bobs["id"].as_str().expect("id"))
        .await;
    assert_eq!(
        bobs.status(),
        StatusCode::OK,
        "another user has slots of their own"
    );
}

fn streams_config() -> ApiConfig {
    ApiConfig {
        max_streams_per_user: 2,
        ..config()
    }
}

/// Read a live stream until it ends; how long that took.
async fn until_the_stream_ends(mut stream: reqwest::Response, within: Duration) -> Duration {
    let started = std::time::Instant::now();
    tokio::time::timeout(within, async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await
    .expect("the stream was still open");
    started.elapsed()
}

/// A stream ends at its maximum lifetime; the client reconnects and is authenticated again.
async fn live_streams_end_at_their_lifetime(app: TestApp) {
    let (_, store) = app
        .create(&app.alice, json!({"name": "shop", "engine": "medusa"}))
        .await;
    let id = store["id"].as_str().expect("id");
    let stream = app.event_stream(&app.alice, id).await;
    assert_eq!(stream.status(), StatusCode::OK);
    let lasted = until_the_stream_ends(stream, Duration::from_secs(20)).await;
    assert!(
        lasted >= Duration::from_millis(1500),
        "ended before its lifetime: {lasted:?}"
    );
}

/// A stream opened with a token ends once that token is rotated away.
async fn a_live_stream_ends_when_its_token_is_rotated(app: TestApp) {
    let (_, store) = app
        .create(&app.alice, json!({"name": "shop", "engine": "medusa"}))
        .await;
    let stream = app
        .event_stream(&app.alice, store["id"].as_str().expect("id"))
        .await;
    assert_eq!(stream.status(), StatusCode::OK);
    let audit = storefleet_state::AuditEntry {
        target: Some("alice".to_owned()),
        ..storefleet_state::fixtures::audit_entry("cli", "user.rotate_token")
    };
    app.state
        .rotate_token(
            "alice",
            &auth::hash_token(&auth::generate_token()),
            &audit,
            Utc::now(),
        )
        .await
        .expect("rotate")
        .expect("alice exists");
    // The token cache forgets within its TTL (10 s) even without a notification.
    let lasted = until_the_stream_ends(stream, Duration::from_secs(20)).await;
    assert!(lasted < Duration::from_secs(15), "{lasted:?}");
}

fn lifetime_config() -> ApiConfig {
    ApiConfig {
        stream_max_lifetime: Duration::from_secs(2),
        ..config()
    }
}

/// A path that does not decode to UTF-8 gets the API's JSON error, like every other failure.
#[tokio::test]
async fn an_undecodable_path_gets_the_json_error_shape() {
    let app = sqlite(config()).await;
    for path in [
        "/api/v1/stores/%FF%FE",
        "/api/v1/stores/%C3%28/events",
        "/api/v1/stores/%80/credentials",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&app.alice)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(body["error"]["code"], "invalid_path", "{path}: {body}");
    }
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = storefleet_api::openapi::document();
    if std::env::var("STOREFLEET_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date; run STOREFLEET_UPDATE_OPENAPI=1 cargo test -p storefleet-api --test api"
    );
}

/// Do what an orchestrator pass does to the one due store: claim it, then record it in `phase`
/// with `events` (one transaction) and give the lease back.
async fn orchestrator_records(
    app: &TestApp,
    phase: storefleet_domain::Phase,
    events: Vec<storefleet_state::NewEvent>,
) {
    let now = Utc::now();
    let work = app
        .state
        .claim("orchestrator", now, now + chrono::Duration::seconds(30), 1)
        .await
        .expect("claim")
        .remove(0);
    let mut next = work.store.clone();
    next.status.phase = phase;
    let progress = storefleet_state::Progress {
        id: next.id,
        status: next.status,
        events,
        next_attempt_at: now,
        attempts: 0,
    };
    assert!(app
        .state
        .save_progress("orchestrator", work.store.generation, &progress, now, true)
        .await
        .expect("save"));
}

/// `GET /stores` is answered from a cache; a create, the orchestrator's progress and a delete
/// must each show on the very next request (no waiting out the cache's time-to-live).
async fn the_list_follows_every_change_at_once_despite_its_cache(app: TestApp) {
    let phases = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|s| s["phase"].as_str().expect("phase").to_owned())
            .collect()
    };
    for view in ["/api/v1/stores", "/api/v1/stores?limit=10"] {
        let (status, list) = app.get(&app.alice, view).await;
        assert_eq!(status, StatusCode::OK);
        assert!(phases(&list).is_empty());
    }
    let (status, created) = app
        .create(&app.alice, json!({"name": "cached", "engine": "medusa"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, list) = app.get(&app.alice, "/api/v1/stores").await;
    assert_eq!(phases(&list), ["requested"], "{list}");
    let (_, admin_list) = app.get(&app.admin, "/api/v1/stores").await;
    assert_eq!(phases(&admin_list), ["requested"], "{admin_list}");

    // The orchestrator records progress through the same state store handle.
    orchestrator_records(&app, storefleet_domain::Phase::Provisioning, vec![]).await;
    let (_, list) = app.get(&app.alice, "/api/v1/stores").await;
    assert_eq!(phases(&list), ["provisioning"], "{list}");

    let id = created["id"].as_str().expect("id");
    let (status, _) = app.delete(&app.alice, id).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, list) = app.get(&app.alice, "/api/v1/stores?limit=10").await;
    assert_eq!(phases(&list), ["deleting"], "{list}");
    // Bob's view never contained Alice's store, cached or not.
    let (_, list) = app.get(&app.bob, "/api/v1/stores").await;
    assert!(phases(&list).is_empty(), "{list}");
}

/// A live stream ends once the store is deleted; it must never end before it has sent the
/// `Deleted` event. The orchestrator commits the phase and that event together, often while the
/// stream is still busy with the `DeleteRequested` wake-up, so repeat the delete a few times.
async fn a_stream_ends_on_delete_only_after_the_deleted_event(app: TestApp) {
    use futures::StreamExt;
    for round in 0..15 {
        let (status, store) = app
            .create(
                &app.alice,
                json!({"name": format!("gone-{round}"), "engine": "medusa"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{store}");
        let id = store["id"].as_str().expect("id").to_owned();
        let response = app.event_stream(&app.alice, &id).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.bytes_stream();

        let (status, _) = app.delete(&app.alice, &id).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        // What the orchestrator does for a store that never reached a cluster.
        orchestrator_records(
            &app,
            storefleet_domain::Phase::Deleted,
            vec![storefleet_state::NewEvent::normal(
                "Deleted",
                "nothing was created in the cluster",
            )],
        )
        .await;

        let mut seen = String::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Some(chunk) = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("the stream ends in time")
        {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("bytes")));
        }
        assert!(seen.contains("event: end"), "round {round}: {seen}");
        assert!(
            seen.contains("\"reason\":\"Deleted\""),
            "round {round}: the stream ended without the Deleted event: {seen}"
        );
    }
}

/// The owner's credential view: the owner reads the copy the orchestrator sealed; other users
/// do not see the store, admins are refused; before setup and after delete there is nothing.
async fn only_the_owner_reads_credentials_and_only_while_a_copy_exists(app: TestApp) {
    let (_, store) = app
        .create(&app.alice, json!({"name": "shop", "engine": "medusa"}))
        .await;
    let id = store["id"].as_str().expect("id").to_owned();
    let store_id = storefleet_domain::StoreId::parse_str(&id).expect("uuid");
    let path = format!("/api/v1/stores/{id}/credentials");

    let (status, body) = app.get(&app.alice, &path).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "credentials_not_available");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("requested"),
        "{body}"
    );

    let credentials = OwnerCredentials {
        admin_user: None,
        admin_email: Some("admin@shop.example".to_owned()),
        admin_password: Some("pw-Zq81-not-in-logs".to_owned()),
        publishable_key: Some("pk_0123456789".to_owned()),
    };
    let sealed = platform_key().seal_credentials(store_id, &credentials);
    assert!(app
        .state
        .save_credentials(store_id, &sealed, Utc::now())
        .await
        .expect("save"));

    let (status, body) = app.get(&app.bob, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another user: {body}");
    assert!(!body.to_string().contains("pw-Zq81"));
    let (status, body) = app.get(&app.admin, &path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an admin: {body}");
    assert!(!body.to_string().contains("pw-Zq81"));

    let response = app
        .client
        .get(app.url(&path))
        .bearer_auth(&app.alice)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["store_id"], id);
    assert_eq!(body["engine"], "medusa");
    assert_eq!(body["admin_email"], "admin@shop.example");
    assert_eq!(body["admin_password"], "pw-Zq81-not-in-logs");
    assert_eq!(body["publishable_key"], "pk_0123456789");
    assert_eq!(body["admin_user"], Value::Null);

    // Each read and each refusal is audited, without the secret.
    let (_, audit) = app.get(&app.admin, "/api/v1/audit").await;
    let reads: Vec<(String, String)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "store.credentials.read")
        .map(|e| {
            (
                e["actor"].as_str().expect("actor").to_owned(),
                e["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        reads,
        [
            ("alice".to_owned(), "succeeded".to_owned()),
            ("admin".to_owned(), "denied".to_owned())
        ],
        "{audit}"
    );
    assert!(!audit.to_string().contains("pw-Zq81"));

    // A copy sealed with another key (the platform key was changed) is reported, not shown.
    let other_key = PlatformKey::from_base64(&PlatformKey::generate_base64()).expect("key");
    let foreign = other_key.seal_credentials(store_id, &credentials);
    app.state
        .save_credentials(store_id, &foreign, Utc::now())
        .await
        .expect("save");
    let (status, body) = app.get(&app.alice, &path).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "credentials_unreadable");

    let (status, _) = app.delete(&app.alice, &id).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = app.get(&app.alice, &path).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("being deleted"),
        "{body}"
    );

    let (status, body) = app
        .get(&app.alice, "/api/v1/stores/not-a-uuid/credentials")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("UUID"),
        "{body}"
    );
}

#[tokio::test]
async fn without_a_platform_key_the_credential_view_says_so() {
    let app = sqlite(ApiConfig {
        platform_key: None,
        ..config()
    })
    .await;
    let (_, store) = app
        .create(&app.alice, json!({"name": "shop", "engine": "woocommerce"}))
        .await;
    let id = store["id"].as_str().expect("id");
    let (status, body) = app
        .get(&app.alice, &format!("/api/v1/stores/{id}/credentials"))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "not_configured");
    assert!(body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("STOREFLEET_ENCRYPTION_KEY"));
}

/// Record `id` as failed, the way the orchestrator does after a permanent error.
async fn fail_store(state: &StateStore, id: &str) {
    let failed = storefleet_state::fixtures::record_failed(state, store_id(id), "chart not found")
        .await
        .expect("record");
    assert!(failed, "the store was due");
}

async fn a_failed_store_is_retried_by_its_owner_or_an_admin_only_from_failed(app: TestApp) {
    let retry = |token: &str, id: &str| {
        app.client
            .post(app.url(&format!("/api/v1/stores/{id}/retry")))
            .bearer_auth(token)
            .send()
    };
    let (_, store) = app
        .create(&app.alice, json!({"name": "shop", "engine": "medusa"}))
        .await;
    let id = store["id"].as_str().expect("id").to_owned();

    let not_failed = retry(&app.alice, &id).await.expect("send");
    assert_eq!(not_failed.status(), StatusCode::CONFLICT);
    let body: Value = not_failed.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_failed");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("this one is requested")),
        "{body}"
    );

    fail_store(&app.state, &id).await;
    let before = app
        .state
        .get_store(store_id(&id))
        .await
        .expect("get")
        .expect("exists");
    let stranger = retry(&app.bob, &id).await.expect("send");
    assert_eq!(
        stranger.status(),
        StatusCode::NOT_FOUND,
        "another tenant's store is invisible"
    );

    let retried = retry(&app.alice, &id).await.expect("send");
    assert_eq!(retried.status(), StatusCode::ACCEPTED);
    let view: Value = retried.json().await.expect("json");
    assert_eq!(view["phase"], "provisioning");
    let after = app
        .state
        .get_store(store_id(&id))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(after.generation, before.generation + 1);
    assert!(
        after.deadline_at > before.deadline_at,
        "the deadline starts over"
    );
    assert_eq!(after.status.message, None);
    let now = Utc::now() + chrono::Duration::seconds(1);
    let due = app
        .state
        .claim("another", now, now + chrono::Duration::seconds(30), 10)
        .await
        .expect("claim");
    assert!(
        due.iter()
            .any(|w| w.store.id == after.id && w.attempts == 0),
        "the orchestrator picks it up again with a clean attempt count"
    );
    app.state
        .release_lease(after.id, "another")
        .await
        .expect("release");

    let (_, events) = app
        .get(&app.alice, &format!("/api/v1/stores/{id}/events"))
        .await;
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert_eq!(reasons.last(), Some(&"RetryRequested"), "{reasons:?}");
    let (_, audit) = app.get(&app.admin, "/api/v1/audit").await;
    let entry = &audit["items"][0];
    assert_eq!(entry["action"], "store.retry");
    assert_eq!(entry["actor"], "alice");
    assert_eq!(entry["target"], id.as_str());

    // An admin may retry anyone's failed store.
    fail_store(&app.state, &id).await;
    let by_admin = retry(&app.admin, &id).await.expect("send");
    assert_eq!(by_admin.status(), StatusCode::ACCEPTED);
}

fn store_id(id: &str) -> storefleet_domain::StoreId {
    id.parse().expect("uuid")
}

async fn admins_list_add_and_remove_users_and_tenants_get_403(app: TestApp) {
    let add = |token: &str, body: Value| {
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let remove = |token: &str, name: &str| {
        app.client
            .delete(app.url(&format!("/api/v1/users/{name}")))
            .bearer_auth(token)
            .send()
    };
    let before = app.state.row_counts().await.expect("counts");
    assert_eq!(
        app.get(&app.alice, "/api/v1/users").await.0,
        StatusCode::FORBIDDEN
    );
    let refused = add(&app.alice, json!({"name": "mallory", "admin": true}))
        .await
        .expect("send");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused = add(&app.alice, json!({"bogus": 1})).await.expect("send");
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "403 before the body is looked at"
    );
    assert_eq!(
        remove(&app.alice, "bob").await.expect("send").status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.state.row_counts().await.expect("counts"),
        before,
        "tenants change nothing"
    );

    let (status, list) = app.get(&app.admin, "/api/v1/users").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["admin", "alice", "bob"]);

    let bad = add(&app.admin, json!({"name": "Carol"}))
        .await
        .expect("send");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["error"]["field"], "name");

    let added = add(&app.admin, json!({"name": "carol"}))
        .await
        .expect("send");
    assert_eq!(added.status(), StatusCode::CREATED);
    assert_eq!(added.headers()[header::CACHE_CONTROL], "no-store");
    let added: Value = added.json().await.expect("json");
    assert_eq!(added["user"]["role"], "user");
    let token = added["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("sf_"), "{added}");
    let (status, _) = app.get(&token, "/api/v1/stores").await;
    assert_eq!(status, StatusCode::OK, "the returned token works");
    let (_, list) = app.get(&app.admin, "/api/v1/users").await;
    assert!(
        !list.to_string().contains(&token),
        "the token is shown only once"
    );
    let again = add(&app.admin, json!({"name": "carol"}))
        .await
        .expect("send");
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // Refused while carol owns a live store; then removed, and her token stops at once.
    let (_, store) = app
        .create(&token, json!({"name": "shop", "engine": "medusa"}))
        .await;
    let owns = remove(&app.admin, "carol").await.expect("send");
    assert_eq!(owns.status(), StatusCode::CONFLICT);
    let body: Value = owns.json().await.expect("json");
    assert_eq!(body["error"]["code"], "owns_stores");
    let id = store["id"].as_str().expect("id");
    app.delete(&token, id).await;
    storefleet_state::fixtures::record_deleted(&app.state, store_id(id))
        .await
        .expect("record");
    let removed = remove(&app.admin, "carol").await.expect("send");
    assert_eq!(removed.status(), StatusCode::OK);
    let (status, _) = app.get(&token, "/api/v1/stores").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a removed user's token stops working"
    );
    assert_eq!(
        remove(&app.admin, "carol").await.expect("send").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        remove(&app.admin, "admin").await.expect("send").status(),
        StatusCode::CONFLICT,
        "not yourself"
    );

    let (_, audit) = app.get(&app.admin, "/api/v1/audit").await;
    let actions: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("user.")))
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["actor"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(actions, [("user.remove", "admin"), ("user.add", "admin")]);
}

async fn admins_filter_and_page_the_audit_log_and_read_platform_numbers(app: TestApp) {
    for (token, name) in [
        (&app.alice, "shop-a"),
        (&app.bob, "shop-b"),
        (&app.alice, "shop-c"),
    ] {
        assert_eq!(
            app.create(token, json!({"name": name, "engine": "medusa"}))
                .await
                .0,
            StatusCode::CREATED
        );
    }
    let (status, _) = app.get(&app.alice, "/api/v1/stats").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, stats) = app.get(&app.admin, "/api/v1/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["window_hours"], 24);
    assert_eq!(stats["created"], 3);
    assert_eq!(stats["provisioning"], 3);
    assert_eq!(
        stats["by_phase"][0],
        json!({"phase": "requested", "count": 3})
    );
    assert_eq!(stats["time_to_ready_p50_seconds"], Value::Null);

    let (status, page) = app
        .get(
            &app.admin,
            "/api/v1/audit?actor=alice&action=store.create&limit=1",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["actor"], "alice");
    let before = page["next_before"].as_i64().expect("a next page");
    let (_, next) = app
        .get(
            &app.admin,
            &format!("/api/v1/audit?actor=alice&action=store.create&limit=1&before={before}"),
        )
        .await;
    assert_eq!(next["items"][0]["actor"], "alice");
    assert!(next["items"][0]["id"].as_i64() < Some(before));
    let (_, last) = app
        .get(
            &app.admin,
            &format!(
                "/api/v1/audit?actor=alice&limit=1&before={}",
                next["items"][0]["id"]
            ),
        )
        .await;
    assert_eq!(last["items"].as_array().map(Vec::len), Some(0));
    assert!(last.get("next_before").is_none(), "{last}");

    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, none) = app
        .get(
            &app.admin,
            &format!("/api/v1/audit?since={}", future.replace('+', "%2B")),
        )
        .await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0), "{none}");
    let (status, bad) = app.get(&app.admin, "/api/v1/audit?since=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
}
