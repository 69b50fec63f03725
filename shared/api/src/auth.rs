//! API key authentication: `Authorization: Bearer <key>` or `x-api-key: <key>`.

use crate::error::ApiError;
use crate::routes::AppState;
use aos_core::ErrorCode;
use aos_runtime::auth::{authenticate, Principal};
use aos_runtime::ports::Role;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::SecretString;

/// The API key a request presents: `x-api-key: <key>` or `Authorization: Bearer <key>`.
/// The one parser of both headers, used by the routes and by the Lambda authorizer.
pub fn presented_key(headers: &axum::http::HeaderMap) -> Option<SecretString> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(SecretString::from(v.trim().to_owned()));
    }
    let auth = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| SecretString::from(key.trim().to_owned()))
}

/// A caller the API Gateway authorizer already authenticated: the Lambda glue puts it in
/// the request's extensions from the authorizer's context (never from anything the client
/// sent), and the routes trust it instead of looking the key up a second time.
#[derive(Debug, Clone)]
pub struct GatewayPrincipal(pub Principal);

/// The authenticated caller of a request.
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(GatewayPrincipal(p)) = parts.extensions.get::<GatewayPrincipal>() {
            return Ok(Self(p.clone()));
        }
        let key = presented_key(&parts.headers).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
            )
        })?;
        Ok(Self(authenticate(state.tenants.as_ref(), &key).await?))
    }
}

impl Caller {
    /// Refuses callers that are not operators.
    pub(crate) fn require_operator(&self) -> Result<(), ApiError> {
        if self.0.role == Role::Operator {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::PermissionDenied, "this operation needs an operator key"))
        }
    }
}
