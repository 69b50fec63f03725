//! `PUT/GET /v1/flags/{key}`, `GET /v1/flags` and `GET /v1/flags/{key}/evaluate`: a
//! tenant's feature flags and what one says for a stable key.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::Shared;
use aos_core::flags::FlagSpec;
use aos_core::ErrorCode;
use aos_runtime::clock::now_ms;
use aos_runtime::flags::FlagError;
use aos_runtime::ports::FlagRecord;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

impl From<FlagError> for ApiError {
    fn from(e: FlagError) -> Self {
        match e {
            FlagError::Store(s) => s.into(),
            FlagError::NotFound(_) => ApiError::not_found("flag"),
            other => Self::new(other.code(), other.to_string()),
        }
    }
}

/// A feature flag.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagView {
    /// Its key.
    pub key: String,
    /// 1 when made, one more per change.
    pub version: u32,
    /// What it is for.
    pub description: String,
    /// Whether it serves `true` to anyone.
    pub enabled: bool,
    /// The share of stable keys it serves `true` to, 0-100.
    pub rollout_percent: f64,
    /// Overrides per environment.
    pub environments: BTreeMap<String, aos_core::flags::EnvOverride>,
    /// Attribute rules, first match wins.
    pub rules: Vec<aos_core::flags::Rule>,
    /// The skill it gates, if any.
    pub skill: Option<String>,
    /// Where its changes are announced.
    pub webhook_url: Option<String>,
    /// The key that changed it last.
    pub updated_by: String,
    /// When, ms since the epoch.
    pub updated_at_ms: u64,
}

/// A tenant's flags.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagList {
    /// The flags.
    pub flags: Vec<FlagView>,
    /// The deployment's environment (what an evaluation uses by default).
    pub environment: String,
}

/// What a flag says for a stable key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagEvaluation {
    /// The flag.
    pub key: String,
    /// Its version.
    pub version: u32,
    /// The environment judged in.
    pub environment: String,
    /// The stable key.
    pub id: String,
    /// What it serves.
    pub value: bool,
    /// Why.
    pub reason: String,
    /// The key's rollout bucket, 0-9999.
    pub bucket: Option<u32>,
    /// The bucket below which it serves `true`.
    pub threshold: Option<u32>,
}

fn view(f: &FlagRecord) -> FlagView {
    FlagView {
        key: f.key.clone(),
        version: f.version,
        description: f.spec.description.clone(),
        enabled: f.spec.enabled,
        rollout_percent: f.spec.rollout_percent,
        environments: f.spec.environments.clone(),
        rules: f.spec.rules.clone(),
        skill: f.spec.skill.clone(),
        webhook_url: f.spec.webhook_url.clone(),
        updated_by: f.updated_by.clone(),
        updated_at_ms: f.updated_at_ms,
    }
}

/// The body of `PUT /v1/flags/{key}`: the spec, and the version it was written against.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SetFlag {
    #[serde(flatten)]
    spec: FlagSpec,
    /// The version this change was written against (a newer one is a 409).
    #[serde(default)]
    base_version: Option<u32>,
}

/// `PUT /v1/flags/{key}`: 201 when made, 200 when changed.
pub(crate) async fn put(
    State(s): State<Shared>,
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
pub(crate) async fn list(State(s): State<Shared>, Caller(p): Caller) -> Result<Json<FlagList>, ApiError> {
    let flags = s.flags.list(&p.tenant).await?;
    Ok(Json(FlagList { flags: flags.iter().map(view).collect(), environment: s.flags.environment().to_owned() }))
}

/// `GET /v1/flags/{key}`.
pub(crate) async fn get(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(key): Path<String>,
) -> Result<Json<FlagView>, ApiError> {
    Ok(Json(view(&s.flags.get(&p.tenant, &key).await?)))
}

/// The parameters of `GET /v1/flags/{key}/evaluate` the API description names (the
/// handler reads the query as a map: any other parameter is an attribute).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct EvaluateQuery {
    /// The stable key the rollout buckets (a run id, a user id), 1-256 bytes.
    id: String,
    /// The environment to judge in (default: the deployment's).
    environment: Option<String>,
}

/// `GET /v1/flags/{key}/evaluate?id=<stable key>&environment=…&<attribute>=…`.
pub(crate) async fn evaluate(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(key): Path<String>,
    q: Result<Query<BTreeMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FlagEvaluation>, ApiError> {
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
    Ok(Json(FlagEvaluation {
        key: flag.key,
        version: flag.version,
        environment: environment.unwrap_or_else(|| s.flags.environment().to_owned()),
        id,
        value: answer.value,
        reason: answer.reason,
        bucket: answer.bucket,
        threshold: answer.threshold,
    }))
}
