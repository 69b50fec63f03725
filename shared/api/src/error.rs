//! The one place where errors become HTTP responses: `{"error": {"code", "message"}}`
//! with the status of the code. 5xx bodies are opaque; their causes are logged.

use aos_core::ErrorCode;
use aos_runtime::auth::AuthError;
use aos_runtime::runs::RunError;
use aos_runtime::workflows::FlowError;
use aos_runtime::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An API error with a stable code and a message that says what to fix.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    node: Option<String>,
    details: Option<Value>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), node: None, details: None }
    }

    /// What a client may act on beyond the message (reported as `error.details`).
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The workflow node the error concerns (reported as `error.node`).
    #[must_use]
    pub fn at_node(mut self, node: Option<String>) -> Self {
        self.node = node;
        self
    }

    /// The 404 every missing or foreign resource gets.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no {what} with that id for this tenant"))
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// What went wrong and what to fix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = if status.is_server_error() {
            tracing::error!(code = %self.code, cause = %self.message, "request failed");
            "internal error; the cause is in the server log".to_owned()
        } else {
            self.message
        };
        let mut error = json!({"code": self.code, "message": message});
        if let Some(node) = self.node {
            error["node"] = Value::String(node);
        }
        if let Some(details) = self.details.filter(|_| !status.is_server_error()) {
            error["details"] = details;
        }
        (status, Json(json!({"error": error}))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::new(ErrorCode::Internal, e.to_string())
    }
}

impl From<aos_runtime::limits::QuotaRefusal> for ApiError {
    fn from(r: aos_runtime::limits::QuotaRefusal) -> Self {
        let details = serde_json::to_value(&r.0).unwrap_or_default();
        Self::new(r.code(), format!("{r}; nothing was stored")).with_details(details)
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::NotFound => Self::not_found("run"),
            RunError::Quota(r) => r.into(),
            other => Self::new(other.code(), other.to_string()),
        }
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::NotFound(what) => Self::not_found(what),
            FlowError::Invalid { code, message, node } => Self::new(code, message).at_node(node),
            other => Self::new(other.code(), other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => Self::new(
                ErrorCode::Unauthenticated,
                "missing, unknown or revoked API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
            ),
            AuthError::Store(s) => s.into(),
        }
    }
}
