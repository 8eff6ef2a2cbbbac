//! Bearer-token authentication: tokens are random, only their SHA-256 is stored.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use storefleet_state::{AuditEntry, Role, User};

/// Prefix that makes a Storefleet token recognisable to secret scanners.
const TOKEN_PREFIX: &str = "sf_";

/// A new random API token (256 bits), shown to its owner once.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// What is stored for a token. Tokens carry 256 random bits, so a fast hash is enough.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The bearer token of a request, if it has a well-formed one.
pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

/// The caller's address: the peer, or the first `X-Forwarded-For` hop when configured to trust it.
pub(crate) fn source_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// An authenticated caller, with what the audit log needs to know about the request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("this needs the admin role"))
        }
    }

    /// An audit entry for an action by this caller; the outcome is filled in by the caller.
    pub fn audit(
        &self,
        action: &str,
        target: Option<String>,
        outcome: &str,
        detail: Option<String>,
    ) -> AuditEntry {
        AuditEntry {
            actor: self.user.name.clone(),
            action: action.to_owned(),
            target,
            source_ip: self.source_ip.clone(),
            request_id: self.request_id.clone(),
            outcome: outcome.to_owned(),
            detail,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthenticated(
            "missing or malformed Authorization header; send 'Authorization: Bearer <token>'",
        ))?;
        let user = app
            .state()
            .user_by_token_hash(&hash_token(token))
            .await?
            .ok_or(ApiError::Unauthenticated("unknown API token"))?;
        Ok(Caller {
            user,
            source_ip: source_ip(parts, app.config().trust_forwarded_for),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_stably() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), a);
    }
}
