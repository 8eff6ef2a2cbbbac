//! Rate limits on mutating calls, per user and per source IP, with the `governor` crate.

use crate::auth::{bearer, hash_token, session_token, source_ip};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
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
    per_ip: DefaultKeyedRateLimiter<String>,
}

impl RateLimits {
    /// `per_minute` requests per key and minute, with bursts of the same size.
    pub fn new(per_user_per_minute: NonZeroU32, per_ip_per_minute: NonZeroU32) -> Self {
        Self {
            per_user: RateLimiter::keyed(Quota::per_minute(per_user_per_minute)),
            per_ip: RateLimiter::keyed(Quota::per_minute(per_ip_per_minute)),
        }
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

/// Middleware: reads are free, every other method counts against both limits.
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
    if let Some(ip) = source_ip(&parts, app.config().trust_forwarded_for) {
        if let Err(e) = RateLimits::check(&limits.per_ip, ip) {
            return e.into_response();
        }
    }
    // The dashboard's session cookie carries the same token: one budget per user either way.
    if let Some(token) = bearer(&parts).or_else(|| session_token(&parts)) {
        if let Err(e) = RateLimits::check(&limits.per_user, hash_token(token)) {
            return e.into_response();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}
