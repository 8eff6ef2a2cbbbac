//! Request ids: a client may name its request (`X-Request-Id`) so its logs and our audit log
//! line up, but only with a short, plain id; anything else is replaced by a fresh UUID before
//! it reaches a log line, the audit log or the response.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

/// Longest client-chosen id kept (a UUID is 36, a ULID 26, a W3C trace id 32).
pub const MAX_LEN: usize = 64;

/// Whether a client-chosen id is kept: 1 to [`MAX_LEN`] of `A-Z a-z 0-9 . _ : -`.
pub fn acceptable(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Middleware, outside the layer that sets missing ids: drops every `X-Request-Id` unless
/// there is exactly one and it is acceptable, so the next layer puts a UUID in its place.
pub async fn replace_unacceptable(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let mut ids = headers.get_all(HEADER).iter();
    let keep = matches!((ids.next(), ids.next()), (Some(id), None) if acceptable(id.as_bytes()));
    if !keep {
        headers.remove(HEADER);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        for ok in [
            "0198a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
            "ci-run-42.7",
            "a",
            "trace:span_1",
        ] {
            assert!(acceptable(ok.as_bytes()), "{ok}");
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "",
            long.as_str(),
            "has space",
            "new\nline",
            "quote\"",
            "ünïcode",
            "<script>",
        ] {
            assert!(!acceptable(bad.as_bytes()), "{bad:?}");
        }
    }
}
