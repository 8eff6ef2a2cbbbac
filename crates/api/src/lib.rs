//! Storefleet's REST API: `fn app(state) -> Router`, one router per feature module.
//!
//! The API writes intent (rows) and reads state. It holds no Kubernetes credentials; the
//! orchestrator does the cluster work.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod client_ip;
pub mod credentials;
pub mod dashboard;
pub mod error;
mod event_view;
mod extract;
pub mod health;
mod live;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod retry;
mod serve;
pub mod stats;
pub mod stores;
pub mod users;

use axum::http::{header, HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use error::ApiError;
use metrics::HttpMetrics;
use prometheus_client::registry::Registry;
use ratelimit::RateLimits;
use std::num::NonZeroU32;
use std::sync::Arc;
use storefleet_state::{CreateLimits, PlatformKey, StateStore, WorkSignal};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Settings of the API process.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub limits: CreateLimits,
    /// Name of the cluster new stores are placed on.
    pub cluster_name: String,
    /// Where stores are served (each store's host and URL) and which names are reserved.
    pub hosts: storefleet_domain::StoreHosts,
    pub provisioning_deadline: chrono::Duration,
    pub max_body_bytes: usize,
    /// Mutating calls per authenticated user and minute.
    pub rate_per_user_per_minute: NonZeroU32,
    /// Mutating calls per minute from one client address that carry no valid credential
    /// (strangers, bad tokens); authenticated users never spend this budget.
    pub rate_per_ip_per_minute: NonZeroU32,
    /// Credential reads per user and minute (each one is audited).
    pub credential_reads_per_minute: NonZeroU32,
    /// Proxies whose `X-Forwarded-For` names the client; empty: the peer is the client.
    pub trusted_proxies: client_ip::TrustedProxies,
    /// Live event streams one user may hold open at once.
    pub max_streams_per_user: usize,
    /// A live event stream ends after this long; the client reconnects (and is authenticated
    /// again) with `Last-Event-ID`.
    pub stream_max_lifetime: std::time::Duration,
    /// Opens the sealed copies of store credentials for their owners; `None`: the installation
    /// keeps no copy and the credential view says so.
    pub platform_key: Option<PlatformKey>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            limits: CreateLimits {
                per_user: 5,
                total: 100,
            },
            cluster_name: "local".to_owned(),
            hosts: storefleet_domain::StoreHosts::default(),
            provisioning_deadline: chrono::Duration::minutes(10),
            max_body_bytes: 16 * 1024,
            rate_per_user_per_minute: NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
            rate_per_ip_per_minute: NonZeroU32::new(120).unwrap_or(NonZeroU32::MIN),
            credential_reads_per_minute: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
            max_streams_per_user: 8,
            stream_max_lifetime: std::time::Duration::from_secs(15 * 60),
            trusted_proxies: client_ip::TrustedProxies::default(),
            platform_key: None,
        }
    }
}

struct Inner {
    state: StateStore,
    config: ApiConfig,
    signal: Option<WorkSignal>,
    rate_limits: RateLimits,
    http_metrics: HttpMetrics,
    caches: cache::ReadCaches,
    streams: Arc<live::StreamSlots>,
}

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    pub fn new(
        state: StateStore,
        config: ApiConfig,
        signal: Option<WorkSignal>,
        http_metrics: HttpMetrics,
    ) -> Self {
        let rate_limits = RateLimits::new(
            config.rate_per_user_per_minute,
            config.rate_per_ip_per_minute,
            config.credential_reads_per_minute,
        );
        let caches = cache::ReadCaches::new(state.changes().clone());
        Self(Arc::new(Inner {
            caches,
            streams: Arc::default(),
            state,
            config,
            signal,
            rate_limits,
            http_metrics,
        }))
    }

    pub fn state(&self) -> &StateStore {
        &self.0.state
    }

    pub fn config(&self) -> &ApiConfig {
        &self.0.config
    }

    pub(crate) fn rate_limits(&self) -> &RateLimits {
        &self.0.rate_limits
    }

    pub(crate) fn http_metrics(&self) -> &HttpMetrics {
        &self.0.http_metrics
    }

    pub(crate) fn streams(&self) -> &Arc<live::StreamSlots> {
        &self.0.streams
    }

    pub(crate) fn caches(&self) -> &cache::ReadCaches {
        &self.0.caches
    }

    /// A user's token changed elsewhere: stop trusting remembered token owners.
    pub fn forget_tokens(&self) {
        self.0.caches.forget_tokens();
    }

    /// Wake an orchestrator in this process; other processes hear PostgreSQL's NOTIFY.
    pub(crate) fn wake_orchestrator(&self) {
        if let Some(signal) = &self.0.signal {
            signal.wake();
        }
    }
}

/// The whole HTTP surface: `/api/v1`, the OpenAPI document, health and metrics.
pub fn app(app_state: AppState, registry: Arc<Registry>) -> Router {
    app_with(app_state, Some(registry))
}

/// [`app`], with `/metrics` on this port only when `registry` is given (otherwise it is served
/// on a port of its own, see [`health::metrics_router`]).
pub fn app_with(app_state: AppState, registry: Option<Arc<Registry>>) -> Router {
    let x_request_id = HeaderName::from_static(request_id::HEADER);
    let api = Router::new()
        .merge(stores::router())
        .merge(credentials::router())
        .merge(audit::router())
        .merge(retry::router())
        .merge(users::router())
        .merge(stats::router())
        .route_layer(axum::middleware::from_fn_with_state(
            app_state.clone(),
            ratelimit::limit_mutations,
        ))
        .fallback(|| async { ApiError::NotFound("no such API route") })
        .method_not_allowed_fallback(|| async {
            ApiError::Rejected {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "this route does not accept that method".to_owned(),
            }
        });
    Router::new()
        .nest("/api/v1", api)
        .route("/api/openapi.json", get(openapi_json))
        .merge(dashboard::router(app_state.clone()))
        .layer(axum::middleware::from_fn_with_state(app_state.clone(), metrics::record))
        .layer(axum::extract::DefaultBodyLimit::max(app_state.config().max_body_bytes))
        .with_state(app_state.clone())
        .merge(health::router(app_state.state().clone(), registry))
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal("handler panicked".to_owned()).into_response()))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            // Method, path and request id only: headers (tokens) and query strings are never logged.
            let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        // Outermost: an unacceptable client id is gone before anything logs or stores it.
        .layer(axum::middleware::from_fn(request_id::replace_unacceptable))
}

async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
}

pub use serve::serve;
