//! Extractors whose rejections speak the API's JSON error format.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use storefleet_domain::StoreId;

/// `axum::Json`, but a malformed body gets our error body with the serde reason.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let (code, message) = match &rejection {
        JsonRejection::MissingJsonContentType(_) => (
            "unsupported_media_type",
            "send the body as JSON with 'Content-Type: application/json'".to_owned(),
        ),
        JsonRejection::JsonSyntaxError(e) => (
            "malformed_json",
            format!("body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ("invalid_body", e.body_text()),
        _ if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            "request body is larger than the server accepts".to_owned(),
        ),
        _ => ("bad_request", rejection.body_text()),
    };
    ApiError::Rejected {
        status,
        code,
        message,
    }
}

/// `axum::extract::Path`, but a path segment that does not decode (invalid percent-encoded
/// UTF-8, for one) gets our JSON error body instead of axum's plain text.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::Rejected {
                status: rejection.status(),
                code: "invalid_path",
                message: format!("the URL path does not decode: {}", rejection.body_text()),
            }),
        }
    }
}

/// Parse a store id from the path, with a clear message for anything that is not one.
pub fn store_id(raw: &str) -> Result<StoreId, ApiError> {
    StoreId::parse_str(raw).map_err(|_| ApiError::NotFound("no store with this id; ids are UUIDs"))
}
