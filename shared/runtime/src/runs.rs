//! Run use cases: submit (idempotent), get, list, steps, cancel.

use crate::clock::{now_ms, unique_suffix};
use crate::ports::{
    ClaimOutcome, IdempotencyCompletion, IdempotencyStore, RunFilter, RunRecord, RunStore, StepMessage, StepProgress,
    StoreError,
};
use crate::skills::SkillRegistry;
use aos_core::determinism::content_hash;
use aos_core::template::references;
use aos_core::{Checkpoint, ErrorCode, Plan, PlanStep, RunId, TenantId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// How long a completed `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_MS: u64 = 24 * 3600 * 1000;
/// How long an in-progress `Idempotency-Key` blocks a repeat before it can be taken over.
pub const IN_PROGRESS_TTL_MS: u64 = 60 * 1000;
/// Largest page of `GET /v1/runs`.
pub const MAX_PAGE: u32 = 100;

/// The body of `POST /v1/runs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRun {
    /// The steps.
    pub plan: Vec<PlanStep>,
    /// Run input, referenced as `${input...}`.
    #[serde(default)]
    pub input: Value,
    /// Base of the step seeds; random when absent.
    #[serde(default)]
    pub base_seed: Option<u64>,
}

/// What claiming a request's Idempotency-Key found.
pub(crate) enum KeyClaim {
    /// First use (or no key): go ahead, then complete the key with the result.
    Fresh,
    /// An earlier request with the same body completed; its stored result.
    Done(Value),
}

/// Claims `key` for a request whose canonical body hashes to `payload_hash`: the one
/// Idempotency-Key rule of every POST that creates something. A different body or a
/// request still in progress is refused with its code and a message that says what to do.
pub(crate) async fn claim_key(
    idempotency: &dyn IdempotencyStore,
    tenant: &TenantId,
    key: Option<&str>,
    payload_hash: &str,
    now: u64,
) -> Result<Result<KeyClaim, (ErrorCode, String)>, StoreError> {
    let Some(key) = key else { return Ok(Ok(KeyClaim::Fresh)) };
    Ok(match idempotency.claim(tenant, key, payload_hash, now + IN_PROGRESS_TTL_MS, now).await? {
        ClaimOutcome::Claimed => Ok(KeyClaim::Fresh),
        ClaimOutcome::Completed(result) => Ok(KeyClaim::Done(result)),
        ClaimOutcome::Conflict => Err((
            ErrorCode::IdempotencyConflict,
            "this Idempotency-Key was used with a different request body; use a new key".to_owned(),
        )),
        ClaimOutcome::InProgress { .. } => Err((
            ErrorCode::IdempotencyInProgress,
            "a request with this Idempotency-Key is still in progress; retry shortly".to_owned(),
        )),
    })
}

/// A run use case failed; each variant maps to one stable code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The request is invalid; the code and message say what to fix.
    #[error("{1}")]
    Invalid(ErrorCode, String),
    /// No such run for this tenant.
    #[error("run not found")]
    NotFound,
    /// The request conflicts with stored state (idempotency, illegal transition).
    #[error("{1}")]
    Conflict(ErrorCode, String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RunError {
    /// The stable error code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(c, _) | Self::Conflict(c, _) => *c,
            Self::NotFound => ErrorCode::NotFound,
            Self::Store(_) => ErrorCode::Internal,
        }
    }
}

/// A run plus whether this request created it.
pub struct Submitted {
    /// The run as stored.
    pub run: RunRecord,
    /// False when an earlier request with the same Idempotency-Key created it.
    pub created: bool,
}

/// Run use cases over the ports.
#[derive(Clone)]
pub struct RunService {
    store: Arc<dyn RunStore>,
    idempotency: Arc<dyn IdempotencyStore>,
    skills: Arc<SkillRegistry>,
}

impl RunService {
    /// Wires the use cases.
    pub fn new(store: Arc<dyn RunStore>, idempotency: Arc<dyn IdempotencyStore>, skills: Arc<SkillRegistry>) -> Self {
        Self { store, idempotency, skills }
    }

    /// The skill registry.
    pub fn skills(&self) -> &SkillRegistry {
        &self.skills
    }

    fn validate(&self, req: SubmitRun) -> Result<(Plan, Value, Option<u64>), RunError> {
        let plan = Plan::new(req.plan).map_err(|e| RunError::Invalid(ErrorCode::InvalidPlan, e.0))?;
        for (i, step) in plan.steps().iter().enumerate() {
            let at = format!("plan[{i}] ({})", step.id.as_deref().unwrap_or(""));
            if self.skills.descriptor(&step.skill).is_none() {
                let known: Vec<String> = self.skills.descriptors().into_iter().map(|d| d.name).collect();
                return Err(RunError::Invalid(
                    ErrorCode::SkillNotFound,
                    format!("{at}: unknown skill {:?}; registered skills: {}", step.skill, known.join(", ")),
                ));
            }
            // Inputs with references are checked when the step runs, once they resolve.
            let has_refs = references(&step.input).map(|r| !r.is_empty()).unwrap_or(true);
            if !has_refs {
                self.skills.validate_input(&step.skill, &step.input).map_err(|e| {
                    RunError::Invalid(ErrorCode::ValidationFailed, format!("{at}: input of {}: {e}", step.skill))
                })?;
            }
        }
        let input = if req.input.is_null() { json!({}) } else { req.input };
        Ok((plan, input, req.base_seed))
    }

    /// Validates and stores a run and enqueues its first step. With an Idempotency-Key,
    /// a repeat with the same body returns the same run; a different body is a conflict.
    /// Nothing is stored for a refused request.
    pub async fn submit(&self, tenant: &TenantId, req: SubmitRun, key: Option<&str>) -> Result<Submitted, RunError> {
        let (plan, input, seed) = self.validate(req)?;
        let payload_hash = content_hash(&json!({"plan": plan.to_value(), "input": input, "base_seed": seed}));
        let now = now_ms();
        match claim_key(self.idempotency.as_ref(), tenant, key, &payload_hash, now).await? {
            Ok(KeyClaim::Fresh) => {}
            Ok(KeyClaim::Done(result)) => return self.replay(tenant, &result).await,
            Err((code, message)) => return Err(RunError::Conflict(code, message)),
        }
        let base_seed = seed.unwrap_or_else(rand::random);
        let id = RunId::from_suffix(&unique_suffix()).expect("uuid suffix is a valid id");
        let run = RunRecord::queued(tenant.clone(), id, plan, input, base_seed, None, now);
        let first = StepMessage { tenant: tenant.clone(), run_id: run.id.clone(), step_index: 0 };
        let completion = key.map(|k| IdempotencyCompletion {
            key: k.to_owned(),
            payload_hash,
            result: json!({"run_id": run.id}),
            expires_at_ms: now + IDEMPOTENCY_TTL_MS,
        });
        if let Err(e) = self.store.insert_run(&run, &first, completion.as_ref()).await {
            if let Some(k) = key {
                if let Err(release) = self.idempotency.release(tenant, k).await {
                    tracing::warn!(error = %release, "could not release an idempotency claim");
                }
            }
            return Err(e.into());
        }
        Ok(Submitted { run, created: true })
    }

    async fn replay(&self, tenant: &TenantId, result: &Value) -> Result<Submitted, RunError> {
        let id = result["run_id"]
            .as_str()
            .and_then(|s| RunId::parse(s).ok())
            .ok_or_else(|| StoreError::Backend("stored idempotency result has no run id".to_owned()))?;
        let run = self.get(tenant, &id).await?;
        Ok(Submitted { run, created: false })
    }

    /// The run, or `NotFound` (also for another tenant's run).
    pub async fn get(&self, tenant: &TenantId, id: &RunId) -> Result<RunRecord, RunError> {
        self.store.run(tenant, id).await?.ok_or(RunError::NotFound)
    }

    /// A page of runs, newest first; `limit` is clamped to 1..=100 (default 20).
    pub async fn list(&self, tenant: &TenantId, mut filter: RunFilter) -> Result<Vec<RunRecord>, RunError> {
        filter.limit = if filter.limit == 0 { 20 } else { filter.limit.min(MAX_PAGE) };
        Ok(self.store.list_runs(tenant, &filter).await?)
    }

    /// The run's checkpoints and the progress of unfinished steps.
    pub async fn steps(
        &self,
        tenant: &TenantId,
        id: &RunId,
    ) -> Result<(RunRecord, Vec<Checkpoint>, Vec<StepProgress>), RunError> {
        let run = self.get(tenant, id).await?;
        let cps = self.store.checkpoints(tenant, id).await?;
        let progress = self.store.step_progress(tenant, id).await?;
        Ok((run, cps, progress))
    }

    /// Cancels a run that has not finished; a finished run is a conflict.
    pub async fn cancel(&self, tenant: &TenantId, id: &RunId) -> Result<RunRecord, RunError> {
        let run = self.get(tenant, id).await?;
        if run.status.is_terminal() {
            return Err(RunError::Conflict(
                ErrorCode::IllegalTransition,
                format!("run is already {}; only queued or running runs can be cancelled", run.status),
            ));
        }
        match self.store.cancel_run(tenant, id, now_ms()).await {
            Ok(run) => Ok(run),
            Err(StoreError::Conflict(m)) => Err(RunError::Conflict(ErrorCode::IllegalTransition, m)),
            Err(e) => Err(e.into()),
        }
    }
}
