//! `PUT/GET/DELETE /v1/secrets`: a tenant's own secrets. Values go in and never come
//! back out: every answer carries names and times only.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::Shared;
use aos_runtime::clock::now_ms;
use aos_runtime::secrets::SecretError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

/// The body of `PUT /v1/secrets/{name}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewValue {
    /// The secret's value (never shown again, never logged).
    value: String,
}

/// A secret as stored (never its value).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretWritten {
    /// Its name.
    pub name: String,
    /// Whether this call created it (else it replaced its value).
    pub created: bool,
    /// When, ms since the epoch.
    pub updated_at_ms: u64,
}

/// A tenant's secrets, by name.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretList {
    /// The names and times, never the values.
    pub secrets: Vec<aos_runtime::ports::SecretMeta>,
    /// The most a tenant may keep.
    pub limit: usize,
}

/// `PUT /v1/secrets/{name}`: 201 when created, 200 when its value was replaced.
pub(crate) async fn put(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(name): Path<String>,
    Body(req): Body<NewValue>,
) -> Result<Response, ApiError> {
    let value = SecretString::from(req.value);
    let now = now_ms();
    let created = s.secrets.put(&p.tenant, &name, &value, now, &p.actor()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(SecretWritten { name, created, updated_at_ms: now })).into_response())
}

/// `GET /v1/secrets`: the tenant's secrets by name, without values.
pub(crate) async fn list(State(s): State<Shared>, Caller(p): Caller) -> Result<Json<SecretList>, ApiError> {
    let all = s.secrets.list(&p.tenant).await?;
    Ok(Json(SecretList { secrets: all, limit: aos_runtime::secrets::MAX_SECRETS }))
}

/// `DELETE /v1/secrets/{name}`: 204, or 404 if there is none.
pub(crate) async fn delete(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.secrets.delete(&p.tenant, &name, &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
