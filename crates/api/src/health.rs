//! `/healthz`, `/readyz` and `/metrics`: served by every Storefleet process. `/metrics` can be
//! moved to a port of its own (`--metrics-listen`) so the public ingress never routes it.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::{Duration, Instant};
use storefleet_state::StateStore;
use tokio::sync::Mutex;

#[derive(Clone)]
struct Health {
    state: StateStore,
    /// The last write probe's time and verdict: `/readyz` is public, so probes are coalesced
    /// to at most one write per [`PROBE_EVERY`] however often it is asked.
    last_probe: Arc<Mutex<Option<Probe>>>,
}

/// When the database was last probed and the verdict: ready, or why not.
type Probe = (Instant, Result<(), &'static str>);

const PROBE_EVERY: Duration = Duration::from_secs(1);

/// `/healthz` and `/readyz`, and `/metrics` when `registry` is given (served on this port).
pub fn router(state: StateStore, registry: Option<Arc<Registry>>) -> Router {
    let health = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(Health {
            state,
            last_probe: Arc::default(),
        });
    match registry {
        Some(registry) => health.merge(metrics_router(registry)),
        None => health,
    }
}

/// `/metrics` alone, for a listener of its own.
pub fn metrics_router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(registry)
}

/// Ready when the database takes a write; a load balancer then stops sending traffic while it
/// is down, full or read-only.
async fn readyz(State(health): State<Health>) -> impl IntoResponse {
    let mut last = health.last_probe.lock().await;
    let verdict = match *last {
        Some((at, verdict)) if at.elapsed() < PROBE_EVERY => verdict,
        _ => {
            let verdict = match health.state.check_writable().await {
                Ok(()) => Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: the database cannot take writes");
                    Err(match e.fault() {
                        Some(storefleet_state::StorageFault::Unreachable) | None => {
                            "database unreachable"
                        }
                        Some(_) => "database cannot take writes",
                    })
                }
            };
            *last = Some((Instant::now(), verdict));
            verdict
        }
    };
    match verdict {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

async fn metrics(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "metrics could not be encoded".to_owned(),
        ),
    }
}
