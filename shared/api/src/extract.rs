//! A JSON body extractor whose rejections use AOS error codes.

use crate::error::ApiError;
use aos_core::ErrorCode;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Like `axum::Json`, but malformed, mistyped, oversized or non-JSON bodies become
/// `ERR_MALFORMED_REQUEST`, `ERR_VALIDATION_FAILED`, `ERR_PAYLOAD_TOO_LARGE` or
/// `ERR_UNSUPPORTED_MEDIA_TYPE` with the parser's explanation.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(map_rejection(&rejection)),
        }
    }
}

fn map_rejection(r: &JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::new(ErrorCode::MalformedRequest, format!("body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => ApiError::new(
            ErrorCode::ValidationFailed,
            format!("body does not have the expected shape: {}", e.body_text()),
        ),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "send the body with `Content-Type: application/json`")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("body exceeds the limit of {} bytes", crate::routes::MAX_BODY_BYTES),
        ),
        other => ApiError::new(ErrorCode::MalformedRequest, other.body_text()),
    }
}
