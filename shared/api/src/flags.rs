//! `PUT/GET /v1/flags/{key}`, `GET /v1/flags` and `GET /v1/flags/{key}/evaluate`: a
//! tenant's feature flags and what one says for a stable key.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::AppState;
use aos_core::flags::FlagSpec;
use aos_core::ErrorCode;
use aos_runtime::clock::now_ms;
use aos_runtime::flags::FlagError;
use aos_runtime::ports::FlagRecord;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

impl From<FlagError> for ApiError {
    fn from(e: FlagError) -> Self {
        match e {
            FlagError::Store(s) => s.into(),
            FlagError::NotFound(_) => ApiError::not_found("flag"),
            other => Self::new(other.code(), other.to_string()),
        }
    }
}

fn view(f: &FlagRecord) -> Value {
    json!({
        "key": f.key,
        "version": f.version,
        "description": f.spec.description,
        "enabled": f.spec.enabled,
        "rollout_percent": f.spec.rollout_percent,
        "environments": f.spec.environments,
        "rules": f.spec.rules,
        "skill": f.spec.skill,
        "webhook_url": f.spec.webhook_url,
        "updated_by": f.updated_by,
        "updated_at_ms": f.updated_at_ms,
    })
}

/// The body of `PUT /v1/flags/{key}`: the spec, and the version it was written against.
#[derive(Deserialize)]
pub(crate) struct SetFlag {
    #[serde(flatten)]
    spec: FlagSpec,
    #[serde(default)]
    base_version: Option<u32>,
}

/// `PUT /v1/flags/{key}`: 201 when made, 200 when changed.
pub(crate) async fn put(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(key): Path<String>,
    Body(req): Body<Value>,
) -> Result<Response, ApiError> {
    // Parsed here (not by the extractor) so an unknown field is named: flatten would
    // otherwise let it by.
    let known =
        ["description", "enabled", "rollout_percent", "environments", "rules", "skill", "webhook_url", "base_version"];
    if let Some(unknown) = req.as_object().and_then(|o| o.keys().find(|k| !known.contains(&k.as_str()))) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!("unknown field {unknown:?}; a flag takes {}", known.join(", ")),
        ));
    }
    let req: SetFlag = serde_json::from_value(req)
        .map_err(|e| ApiError::new(ErrorCode::ValidationFailed, format!("not a flag: {e}")))?;
    if let Some(skill) = &req.spec.skill {
        if s.runs.skills().descriptor(skill).is_none() {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("skill {skill:?} is not one of this deployment's skills (GET /v1/skills)"),
            ));
        }
    }
    let flag = s.flags.set(&p.tenant, &key, req.spec, req.base_version, &p.actor(), now_ms()).await?;
    let status = if flag.version == 1 { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(view(&flag))).into_response())
}

/// `GET /v1/flags`.
pub(crate) async fn list(State(s): State<AppState>, Caller(p): Caller) -> Result<Json<Value>, ApiError> {
    let flags = s.flags.list(&p.tenant).await?;
    Ok(Json(json!({"flags": flags.iter().map(view).collect::<Vec<_>>(), "environment": s.flags.environment()})))
}

/// `GET /v1/flags/{key}`.
pub(crate) async fn get(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&s.flags.get(&p.tenant, &key).await?)))
}

/// `GET /v1/flags/{key}/evaluate?id=<stable key>&environment=…&<attribute>=…`.
pub(crate) async fn evaluate(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(key): Path<String>,
    q: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(mut q) = q.map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.body_text()))?;
    let id = q.remove("id").filter(|v| !v.is_empty() && v.len() <= 256).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ValidationFailed,
            "id (the stable key the rollout buckets, such as a run id; 1-256 bytes) is required",
        )
    })?;
    let environment = q.remove("environment");
    if q.len() > 32 {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "at most 32 attributes"));
    }
    if let Some(bad) = q.keys().find(|k| aos_core::flags::check_key(k).is_err() && !k.starts_with('_')) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!("attribute {bad:?} must be 1-64 of a-z, 0-9, '_', '-', '.', starting with a letter"),
        ));
    }
    q.entry("run_id".to_owned()).or_insert_with(|| id.clone());
    let (flag, answer) = s.flags.evaluate(&p.tenant, &key, environment.as_deref(), &id, &q).await?;
    Ok(Json(json!({
        "key": flag.key,
        "version": flag.version,
        "environment": environment.as_deref().unwrap_or(s.flags.environment()),
        "id": id,
        "value": answer.value,
        "reason": answer.reason,
        "bucket": answer.bucket,
        "threshold": answer.threshold,
    })))
}
