//! `PUT/GET /v1/policies` and `POST /v1/policies/evaluate`: a tenant's versioned Cedar
//! policy set, and a dry run of what it says of one step.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::{AppState, Shared};
use aos_core::ErrorCode;
use aos_runtime::clock::now_ms;
use aos_runtime::policies::Evaluation;
use aos_runtime::policies::{step_facts, ApplyPolicies, PolicyServiceError, StepKind, StepSubject};
use aos_runtime::ports::PolicyVersion;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

impl From<PolicyServiceError> for ApiError {
    fn from(e: PolicyServiceError) -> Self {
        match e {
            PolicyServiceError::Invalid(p) => {
                Self::new(ErrorCode::ValidationFailed, format!("the policies do not validate at {p}"))
                    .with_details(json!({"line": p.line, "column": p.column}))
            }
            PolicyServiceError::Store(s) => s.into(),
            other => Self::new(other.code(), other.to_string()),
        }
    }
}

/// A version of a tenant's policy set.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// 1 for the first, then one more per change.
    pub version: u32,
    /// The Cedar text, as applied.
    pub text: String,
    /// How many policies it holds.
    pub policies: u32,
    /// Whether a step no policy applies to is refused.
    pub default_deny: bool,
    /// Whether a policy forbidding everything was allowed in.
    pub allow_deny_all: bool,
    /// The key that applied it.
    pub created_by: String,
    /// When, ms since the epoch.
    pub created_at_ms: u64,
}

/// A tenant's policy versions, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyList {
    /// The version in force (`null`: none).
    pub current: Option<PolicyView>,
    /// This page of versions.
    pub versions: Vec<PolicyView>,
    /// Pass as `before` for the next page (`null`: the last page).
    pub next_before: Option<u32>,
}

/// What the policies say of a sample step or API request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EvaluationView {
    /// The decision, reasons, approval level and violations.
    #[serde(flatten)]
    pub evaluation: Evaluation,
    /// The version that judged (`null`: no policies, or the ones sent).
    pub policy_version: Option<u32>,
    /// When it was judged, ms since the epoch.
    pub timestamp_ms: u64,
    /// For an API request: whether the role itself may call the route, before any policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_allows: Option<bool>,
}

fn view(v: &PolicyVersion) -> PolicyView {
    PolicyView {
        version: v.version,
        text: v.text.clone(),
        policies: v.policies,
        default_deny: v.default_deny,
        allow_deny_all: v.allow_deny_all,
        created_by: v.created_by.clone(),
        created_at_ms: v.created_at_ms,
    }
}

/// The body of `PUT /v1/policies`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPolicies {
    /// The Cedar text (empty: no policies).
    text: String,
    /// Refuse steps no policy applies to.
    #[serde(default)]
    default_deny: bool,
    /// Accept a policy that forbids every step.
    #[serde(default)]
    allow_deny_all: bool,
    /// The version this change was written against (a newer one is a 409).
    #[serde(default)]
    base_version: Option<u32>,
}

/// `PUT /v1/policies`: 201 with the new version.
pub(crate) async fn put(
    State(s): State<Shared>,
    Caller(p): Caller,
    Body(req): Body<NewPolicies>,
) -> Result<Response, ApiError> {
    let apply = ApplyPolicies {
        text: req.text,
        default_deny: req.default_deny,
        allow_deny_all: req.allow_deny_all,
        base_version: req.base_version,
    };
    let version = s.policies.apply(&p.tenant, &apply, &p.actor(), now_ms()).await?;
    Ok((StatusCode::CREATED, Json(view(&version))).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionsQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// A page's `next_before`: the versions older than that one.
    before: Option<u32>,
}

/// `GET /v1/policies`: the current version and the past ones, newest first.
pub(crate) async fn list(
    State(s): State<Shared>,
    Caller(p): Caller,
    q: Result<Query<VersionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PolicyList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.body_text()))?;
    let limit = aos_core::page::PageLimit::new(q.limit).map_err(|m| ApiError::new(ErrorCode::ValidationFailed, m))?;
    let versions = s.policies.versions(&p.tenant, q.before, limit.get() + 1).await?;
    let more = versions.len() > limit.get() as usize;
    let shown: Vec<&PolicyVersion> = versions.iter().take(limit.get() as usize).collect();
    let current = match q.before {
        None => versions.first().map(view),
        Some(_) => s.policies.current(&p.tenant).await?.as_ref().map(view),
    };
    Ok(Json(PolicyList {
        current,
        versions: shown.iter().map(|v| view(v)).collect(),
        next_before: if more { shown.last().map(|v| v.version) } else { None },
    }))
}

/// The body of `POST /v1/policies/evaluate`: a sample step (`skill`, …) or a sample API
/// request (`operation`, `role`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SampleStep {
    #[serde(default)]
    skill: String,
    /// An API operation (`secrets.put`) instead of a step.
    #[serde(default)]
    operation: Option<String>,
    /// With `operation`: the calling key's role (default: the caller's).
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    depth: u32,
    #[serde(default)]
    agent: bool,
    #[serde(default)]
    workflow: String,
    #[serde(default)]
    spent_cents: i64,
    #[serde(default)]
    estimated_cents: i64,
    #[serde(default)]
    plan: Option<String>,
    /// When the step would run (default: now).
    #[serde(default)]
    at_ms: Option<u64>,
    /// Policies to judge by instead of the tenant's current ones (nothing is stored).
    #[serde(default)]
    policies: Option<String>,
    /// With `policies`: deny by default.
    #[serde(default)]
    default_deny: bool,
}

/// `POST /v1/policies/evaluate`: decision, reasons, policy version, approval level
/// required and violations for a sample step; nothing runs and nothing is stored.
pub(crate) async fn evaluate(
    State(s): State<Shared>,
    Caller(p): Caller,
    Body(req): Body<SampleStep>,
) -> Result<Json<EvaluationView>, ApiError> {
    if let Some(operation) = &req.operation {
        return evaluate_operation(&s, &p, operation, &req).await;
    }
    if req.skill.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "give the sample step's skill, or an API operation (operation, role) to judge",
        ));
    }
    let kind = match req.kind.as_deref() {
        None => StepKind::PlanStep,
        Some(k) => StepKind::parse(k).ok_or_else(|| {
            let kinds: Vec<&str> = StepKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::new(
                ErrorCode::ValidationFailed,
                format!("kind {k:?} is not a step kind; kinds: {}", kinds.join(", ")),
            )
        })?,
    };
    let now = now_ms();
    let subject = StepSubject {
        tenant: &p.tenant,
        run_id: "run_sample",
        skill: &req.skill,
        input: &req.input,
        kind,
        depth: req.depth,
        agent: req.agent,
        workflow: &req.workflow,
        spent_cents: req.spent_cents,
        estimated_cents: req.estimated_cents,
        plan: req.plan.as_deref().unwrap_or(aos_runtime::policies::DEFAULT_PLAN),
        now_ms: req.at_ms.unwrap_or(now),
    };
    let facts = step_facts(s.runs.skills(), &subject).ok_or_else(|| {
        ApiError::new(ErrorCode::SkillNotFound, format!("skill {:?} is not registered; see GET /v1/skills", req.skill))
    })?;
    let text = req.policies.as_deref().map(|t| (t, req.default_deny));
    let (evaluation, version) = s.policies.evaluate(&p.tenant, &facts, text).await?;
    Ok(answer(&evaluation, version, now))
}

/// The dry run of an API request: `operation` called by a key of `req.role`.
async fn evaluate_operation(
    s: &AppState,
    p: &aos_runtime::auth::Principal,
    operation: &str,
    req: &SampleStep,
) -> Result<Json<EvaluationView>, ApiError> {
    let invalid = |m: String| ApiError::new(ErrorCode::ValidationFailed, m);
    if !req.skill.is_empty() {
        return Err(invalid(
            "give a skill (a sample step) or an operation (a sample API request), not both".to_owned(),
        ));
    }
    let Some(route) = crate::routes::Route::ALL.into_iter().find(|r| r.operation() == Some(operation)) else {
        let known: Vec<&str> = aos_core::roles::API_OPERATIONS.iter().map(|(n, _)| *n).collect();
        return Err(invalid(format!(
            "operation {operation:?} is not an API operation; operations: {}",
            known.join(", ")
        )));
    };
    let role = match req.role.as_deref() {
        None => p.role(),
        Some(r) => aos_core::roles::Role::parse(r).ok_or_else(|| {
            let roles: Vec<&str> = aos_core::roles::Role::ALL.iter().map(|r| r.as_str()).collect();
            invalid(format!("role {r:?} is not a role; roles: {}", roles.join(", ")))
        })?,
    };
    let grant = aos_core::roles::Grant::of(role);
    let (method, path) = route.method_and_path();
    let now = now_ms();
    let mut facts = aos_runtime::policies::api_facts(&p.tenant, "key_sample", &grant, operation, (method, path));
    facts.now_ms = req.at_ms.unwrap_or(now);
    if let Some(plan) = &req.plan {
        facts.plan.clone_from(plan);
    }
    let (evaluation, version) = s.policies.evaluate_api(&p.tenant, &facts, req.policies.as_deref()).await?;
    let mut body = answer(&evaluation, version, now).0;
    // Whether the role itself may call the route, before any policy.
    body.role_allows = Some(route.permission().is_none_or(|needed| grant.allows(needed)));
    Ok(Json(body))
}

fn answer(evaluation: &Evaluation, version: Option<u32>, now: u64) -> Json<EvaluationView> {
    Json(EvaluationView {
        evaluation: evaluation.clone(),
        policy_version: version,
        timestamp_ms: now,
        role_allows: None,
    })
}
