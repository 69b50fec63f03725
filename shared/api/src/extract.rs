//! A JSON body extractor whose rejections use AOS error codes.

use crate::error::ApiError;
use aos_core::ErrorCode;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Like `axum::Json` (and only objects), but malformed, mistyped, oversized or non-JSON bodies become
/// `ERR_MALFORMED_REQUEST`, `ERR_VALIDATION_FAILED`, `ERR_PAYLOAD_TOO_LARGE` or
/// `ERR_UNSUPPORTED_MEDIA_TYPE` with the parser's explanation.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|media| {
            let media = media.to_ascii_lowercase();
            media.starts_with("application/json") || (media.starts_with("application/") && media.contains("+json"))
        });
        if !json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::new(ErrorCode::MalformedRequest, e.body_text())
            }
        })?;
        // Every body is an object: serde would also take a struct from an array (`[]`
        // for a request whose fields all have defaults), which no client means.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
            && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok()
        {
            return Err(ApiError::new(ErrorCode::ValidationFailed, "the body must be a JSON object"));
        }
        // The plain parse first: the parse that tracks where it is, for the message that
        // names the field at fault, costs about twice as much and is needed only then.
        if let Ok(v) = serde_json::from_slice::<T>(&bytes) {
            return Ok(Self(v));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(map_rejection(&rejection)),
        }
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("body exceeds the limit of {} bytes", crate::routes::MAX_BODY_BYTES),
    )
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
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        other => ApiError::new(ErrorCode::MalformedRequest, other.body_text()),
    }
}
