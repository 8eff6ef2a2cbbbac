//! Bearer-token authentication: tokens are random, only their SHA-256 is stored.

use crate::client_ip::TrustedProxies;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts, HeaderMap, Method};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use storefleet_state::{AuditAction, AuditEntry, AuditOutcome, Role, User};

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

/// Cookie holding a dashboard session: a random session id, never the API token (HttpOnly,
/// SameSite=Strict).
pub const SESSION_COOKIE: &str = "storefleet_session";

/// Prefix of a dashboard session id.
const SESSION_PREFIX: &str = "ss_";

/// A new random dashboard session id (256 bits). The database keeps only its [`hash_token`].
pub fn generate_session_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SESSION_PREFIX}{}", hex::encode(bytes))
}

/// What a request authenticated with, by hash: checked again during a long response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// An API token (`Authorization: Bearer`).
    Token(String),
    /// A dashboard session id (the session cookie).
    Session(String),
}

/// The value of cookie `name`, if the request carries a non-empty one.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The session cookie's name over HTTPS. Browsers take a `__Host-` cookie only from this exact
/// host, `Secure`, with `Path=/` and no `Domain`, so a store on a sibling subdomain (a tenant's
/// code) cannot plant or overwrite it ("cookie tossing" a session onto another tenant).
pub const SECURE_SESSION_COOKIE: &str = "__Host-storefleet_session";

/// The session cookie's name: `__Host-` prefixed over HTTPS; plain HTTP (a laptop) cannot
/// carry a `Secure` cookie, so it keeps the bare name.
pub(crate) fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// Whether the browser reached us over HTTPS (TLS ends at the ingress, which says so).
pub(crate) fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The dashboard session id of a request, if it has the cookie. Over HTTPS only the
/// `__Host-` cookie counts: a bare-named one may have been set by a sibling subdomain.
pub(crate) fn session_token(parts: &Parts) -> Option<&str> {
    cookie(
        &parts.headers,
        session_cookie_name(is_https(&parts.headers)),
    )
}

/// The caller's address: the peer, or the client behind it when the peer is a trusted proxy.
pub(crate) fn source_ip(parts: &Parts, proxies: &TrustedProxies) -> Option<String> {
    client_address(&parts.headers, &parts.extensions, proxies)
}

/// [`source_ip`] from a request's headers and extensions (where the server put the peer).
pub(crate) fn client_address(
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
    proxies: &TrustedProxies,
) -> Option<String> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| proxies.client(addr.ip(), headers).to_string())
}

/// An authenticated caller, with what the audit log needs to know about the request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    /// What the request came with, to check it again during a long response.
    pub(crate) credential: Credential,
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
        action: AuditAction,
        target: Option<String>,
        outcome: AuditOutcome,
        detail: Option<String>,
    ) -> AuditEntry {
        AuditEntry {
            actor: self.user.name.to_string(),
            action,
            target,
            source_ip: self.source_ip.clone(),
            request_id: self.request_id.clone(),
            outcome,
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
        let token = match bearer(parts) {
            Some(token) => token,
            None if parts.headers.contains_key(header::AUTHORIZATION) => {
                return Err(ApiError::Unauthenticated(
                    "missing or malformed Authorization header; send 'Authorization: Bearer <token>'",
                ))
            }
            // The dashboard's session cookie is good for reads only (its live event stream and
            // list refresh): a browser attaches cookies on its own, so a write authorised by
            // the cookie alone would be open to cross-site request forgery.
            None => match session_token(parts) {
                Some(session) if matches!(parts.method, Method::GET | Method::HEAD) => {
                    return Caller::from_session(parts, app, session).await
                }
                Some(_) => {
                    return Err(ApiError::Unauthenticated(
                        "a dashboard session cookie only allows reads; send 'Authorization: Bearer <token>'",
                    ))
                }
                None => {
                    return Err(ApiError::Unauthenticated(
                        "missing or malformed Authorization header; send 'Authorization: Bearer <token>'",
                    ))
                }
            },
        };
        Caller::from_token(parts, app, token).await
    }
}

impl Caller {
    /// The caller owning `token`, with the request's address and id for the audit log.
    pub(crate) async fn from_token(
        parts: &Parts,
        app: &AppState,
        token: &str,
    ) -> Result<Self, ApiError> {
        Self::from_credential(parts, app, Credential::Token(hash_token(token))).await
    }

    /// The caller whose dashboard session has this id.
    pub(crate) async fn from_session(
        parts: &Parts,
        app: &AppState,
        session_id: &str,
    ) -> Result<Self, ApiError> {
        Self::from_credential(parts, app, Credential::Session(hash_token(session_id))).await
    }

    async fn from_credential(
        parts: &Parts,
        app: &AppState,
        credential: Credential,
    ) -> Result<Self, ApiError> {
        let user = user_for(app, &credential)
            .await
            .map_err(Arc::unwrap_or_clone)?;
        Ok(Caller {
            user,
            credential,
            source_ip: source_ip(parts, &app.config().trusted_proxies),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        })
    }
}

/// The user a credential belongs to, remembered for a few seconds (and forgotten at once when a
/// token changes or a session ends).
pub(crate) async fn user_for(
    app: &AppState,
    credential: &Credential,
) -> Result<User, Arc<ApiError>> {
    match credential {
        Credential::Token(hash) => user_by_token_hash(app, hash).await,
        Credential::Session(hash) => {
            // Its own key space in the cache: a session id is never taken for a token.
            let key = format!("session:{hash}");
            app.caches()
                .user(&key, async {
                    app.state()
                        .user_by_session_hash(hash, chrono::Utc::now())
                        .await?
                        .ok_or(ApiError::Unauthenticated(
                            "the dashboard session has ended; log in again",
                        ))
                })
                .await
        }
    }
}

/// The user owning the token with this hash, remembered for a few seconds (and forgotten at
/// once when a token changes).
pub(crate) async fn user_by_token_hash(
    app: &AppState,
    token_hash: &str,
) -> Result<User, Arc<ApiError>> {
    app.caches()
        .user(token_hash, async {
            app.state()
                .user_by_token_hash(token_hash)
                .await?
                .ok_or(ApiError::Unauthenticated("unknown API token"))
        })
        .await
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

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "other_storefleet_session=x; storefleet_session=sf_abc; empty="
                .parse()
                .expect("header"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("sf_abc"));
        assert_eq!(cookie(&headers, "empty"), None);
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
