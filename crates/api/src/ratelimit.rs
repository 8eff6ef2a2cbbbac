//! Rate limits on mutating calls with the `governor` crate: one budget per authenticated user,
//! and a separate budget per client address for requests without a valid credential, so
//! strangers (who may share one address with every tenant behind an ingress) can only spend
//! their own.

use crate::auth::{bearer, hash_token, session_token, source_ip, Credential};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// Keys kept before stale ones are pruned, so an attacker cycling IPs cannot grow memory forever.
const PRUNE_ABOVE: usize = 10_000;

pub struct RateLimits {
    per_user: DefaultKeyedRateLimiter<String>,
    anonymous_per_ip: DefaultKeyedRateLimiter<String>,
    /// Credential reads are GETs (free elsewhere) but each writes an audit entry.
    credential_reads: DefaultKeyedRateLimiter<String>,
}

impl RateLimits {
    /// `per_minute` requests per key and minute, with bursts of the same size.
    pub fn new(
        per_user_per_minute: NonZeroU32,
        anonymous_per_ip_per_minute: NonZeroU32,
        credential_reads_per_minute: NonZeroU32,
    ) -> Self {
        Self {
            per_user: RateLimiter::keyed(Quota::per_minute(per_user_per_minute)),
            anonymous_per_ip: RateLimiter::keyed(Quota::per_minute(anonymous_per_ip_per_minute)),
            credential_reads: RateLimiter::keyed(Quota::per_minute(credential_reads_per_minute)),
        }
    }

    /// Spend one of user `name`'s credential reads.
    pub(crate) fn charge_credential_read(&self, name: &str) -> Result<(), ApiError> {
        Self::check(&self.credential_reads, name.to_owned())
    }

    /// Spend one call of user `name`'s budget.
    pub(crate) fn charge_user(&self, name: &str) -> Result<(), ApiError> {
        Self::check(&self.per_user, name.to_owned())
    }

    /// Spend one call of the budget of unauthenticated callers at `ip` (unknown: one shared key).
    pub(crate) fn charge_anonymous(&self, ip: Option<String>) -> Result<(), ApiError> {
        Self::check(&self.anonymous_per_ip, ip.unwrap_or_default())
    }

    fn check(limiter: &DefaultKeyedRateLimiter<String>, key: String) -> Result<(), ApiError> {
        if limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
        }
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }
}

/// The user a request's bearer token or session cookie belongs to, if it is a valid one.
/// Token owners are cached, so the handler's own lookup right after is free.
pub(crate) async fn authenticated_user(app: &AppState, parts: &Parts) -> Option<String> {
    let credential = match (bearer(parts), session_token(parts)) {
        (Some(token), _) => Credential::Token(hash_token(token)),
        (None, Some(session)) => Credential::Session(hash_token(session)),
        (None, None) => return None,
    };
    let user = crate::auth::user_for(app, &credential).await.ok()?;
    Some(user.name.to_string())
}

/// Middleware: reads are free; every other call counts against its user's budget, or, without
/// a valid credential, against the anonymous budget of its client address.
pub async fn limit_mutations(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let limits = app.rate_limits();
    // A dashboard session and an API token of one user share that user's budget.
    let charged = match authenticated_user(&app, &parts).await {
        Some(user) => limits.charge_user(&user),
        None => limits.charge_anonymous(source_ip(&parts, &app.config().trusted_proxies)),
    };
    if let Err(e) = charged {
        return e.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
