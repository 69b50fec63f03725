//! Run use cases: submit (idempotent), get, list, steps, cancel.

use crate::agent::PlannerDefaults;
use crate::clock::{now_ms, unique_suffix};
use crate::ports::{
    ClaimOutcome, IdempotencyCompletion, IdempotencyStore, RunFilter, RunRecord, RunStore, StepMessage, StepProgress,
    StoreError,
};
use crate::skills::SkillRegistry;
use aos_core::agent::{AgentOptions, AgentSpec, PlannerSpec};
use aos_core::determinism::content_hash;
use aos_core::page::{Page, PageLimit};
use aos_core::template::references;
use aos_core::{Checkpoint, ErrorCode, Plan, PlanStep, RunId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// How long a completed `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_MS: u64 = 24 * 3600 * 1000;
/// How long an in-progress `Idempotency-Key` blocks a repeat before it can be taken over.
pub const IN_PROGRESS_TTL_MS: u64 = 60 * 1000;
/// What `GET /v1/runs` asks for: a status, a page size and the cursor to continue after.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only runs in this status.
    pub status: Option<aos_core::RunStatus>,
    /// Page size.
    pub limit: PageLimit,
    /// Continue after this run (runs are listed newest first).
    pub before: Option<RunId>,
}

/// The body of `POST /v1/runs`: a plan, or a goal for an agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRun {
    /// The steps (a run given a plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanStep>>,
    /// What an agent should achieve (a run given a goal and no plan: a planner decides
    /// its steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// The agent's planner and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentOptions>,
    /// Run input, referenced as `${input...}`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub input: Value,
    /// Base of the step seeds; random when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_seed: Option<u64>,
    /// The most the run may spend, in cents (credits): a step whose estimate would take
    /// it past this does not run, and the run fails with `ERR_BUDGET_EXCEEDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_cents: Option<u64>,
    /// Where signed notices about the run go (`budget.warning` as it passes 80 % of its
    /// budget or its tenant's limits), signed per Standard Webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
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
    /// A quota of the tenant's plan is used up (429; nothing was stored).
    #[error(transparent)]
    Quota(crate::limits::QuotaRefusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::limits::AdmitError> for RunError {
    fn from(e: crate::limits::AdmitError) -> Self {
        match e {
            crate::limits::AdmitError::Refused(r) => Self::Quota(r),
            crate::limits::AdmitError::Store(e) => Self::Store(e),
        }
    }
}

impl RunError {
    /// The stable error code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(c, _) | Self::Conflict(c, _) => *c,
            Self::NotFound => ErrorCode::NotFound,
            Self::Quota(r) => r.code(),
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
    planner: PlannerDefaults,
    credits: Option<crate::credits::CreditService>,
    quotas: Option<crate::limits::QuotaService>,
    changes: Option<Arc<crate::changes::Changes>>,
    wait_cap: std::time::Duration,
}

/// The longest a caller waits for a run by default: under API Gateway's 29 s integration
/// timeout, so a long-poll through it answers before the gateway gives up.
pub const WAIT_CAP: std::time::Duration = std::time::Duration::from_secs(25);

/// Checks a run request and gives its plan: the plan as sent (each skill registered,
/// static inputs against their schemas), or for a goal the agent's first planner step
/// (its settings checked, the deployment's default provider and model filled in).
/// `at` prefixes messages (a child run's place in its caller's input).
pub(crate) fn prepare(
    skills: &SkillRegistry,
    defaults: &PlannerDefaults,
    req: SubmitRun,
    at: &str,
) -> Result<(Plan, Value, Option<u64>), RunError> {
    let invalid = |code, m: String| RunError::Invalid(code, format!("{at}{m}"));
    let plan = match (req.plan, req.goal) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(invalid(
                ErrorCode::InvalidPlan,
                "give either `plan` (the steps) or `goal` (an agent decides the steps), not both or neither".to_owned(),
            ))
        }
        (Some(_), None) if req.agent.is_some() => {
            return Err(invalid(
                ErrorCode::InvalidPlan,
                "`agent` settings apply only to a run with a `goal`".to_owned(),
            ))
        }
        (Some(steps), None) => {
            let plan = Plan::new(steps).map_err(|e| invalid(ErrorCode::InvalidPlan, e.0))?;
            for (i, step) in plan.steps().iter().enumerate() {
                let place = format!("plan[{i}] ({})", step.id.as_deref().unwrap_or(""));
                if step.skill == aos_core::agent::PLAN_SKILL {
                    return Err(invalid(
                        ErrorCode::InvalidPlan,
                        format!("{place}: {} is the agent planner; submit a `goal` instead", step.skill),
                    ));
                }
                check_skill(skills, &step.skill, &place).map_err(|m| invalid(ErrorCode::SkillNotFound, m))?;
                // Inputs with references are checked when the step runs, once they resolve.
                let own = aos_core::agent::caller_scope(&step.skill, &step.input);
                let has_refs = references(&own).map(|r| !r.is_empty()).unwrap_or(true);
                if !has_refs {
                    skills.validate_input(&step.skill, &step.input).map_err(|e| {
                        invalid(ErrorCode::ValidationFailed, format!("{place}: input of {}: {e}", step.skill))
                    })?;
                }
            }
            plan
        }
        (None, Some(goal)) => {
            let mut spec = AgentSpec::new(goal, req.agent.unwrap_or_default())
                .map_err(|m| invalid(ErrorCode::ValidationFailed, m))?;
            for (i, skill) in spec.skills.iter().enumerate() {
                check_skill(skills, skill, &format!("agent.skills[{i}]"))
                    .map_err(|m| invalid(ErrorCode::SkillNotFound, m))?;
            }
            defaults.fill(&mut spec.planner);
            if let PlannerSpec::Static { steps } = &spec.planner {
                Plan::new(steps.clone()).map_err(|e| invalid(ErrorCode::InvalidPlan, format!("agent.planner.{e}")))?;
            }
            Plan::new(vec![spec.planner_step(1)]).map_err(|e| invalid(ErrorCode::InvalidPlan, e.0))?
        }
    };
    let input = if req.input.is_null() { json!({}) } else { req.input };
    Ok((plan, input, req.base_seed))
}

fn check_skill(skills: &SkillRegistry, skill: &str, place: &str) -> Result<(), String> {
    if skills.descriptor(skill).is_some() {
        return Ok(());
    }
    let known: Vec<String> = skills.descriptors().into_iter().map(|d| d.name).collect();
    Err(format!("{place}: unknown skill {skill:?}; registered skills: {}", known.join(", ")))
}

impl RunService {
    /// Wires the use cases; the agent planner's default provider and model come from
    /// `AOS_PLANNER_PROVIDER` and `AOS_PLANNER_MODEL`.
    pub fn new(store: Arc<dyn RunStore>, idempotency: Arc<dyn IdempotencyStore>, skills: Arc<SkillRegistry>) -> Self {
        Self {
            store,
            idempotency,
            skills,
            planner: PlannerDefaults::from_env(),
            credits: None,
            quotas: None,
            changes: None,
            wait_cap: WAIT_CAP,
        }
    }

    /// Wakes callers waiting for a run at its changes, as the step workers of this
    /// process signal them (without, a waiter reads the run again at a growing interval).
    #[must_use]
    pub fn with_changes(mut self, changes: Arc<crate::changes::Changes>) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Lets a caller wait for a run (or follow its events in one response) for at most
    /// `cap` ([`WAIT_CAP`] by default).
    #[must_use]
    pub fn with_wait_cap(mut self, cap: std::time::Duration) -> Self {
        self.wait_cap = cap;
        self
    }

    /// The longest a caller may wait for a run in one call.
    pub fn wait_cap(&self) -> std::time::Duration {
        self.wait_cap
    }

    /// A waiter for the run's changes of the kind `watch` until `wait` (at most the cap)
    /// from now.
    pub fn waiter(
        &self,
        tenant: &TenantId,
        id: &RunId,
        watch: crate::changes::Change,
        wait: std::time::Duration,
    ) -> crate::changes::Waiter {
        let deadline = tokio::time::Instant::now() + wait.min(self.wait_cap);
        crate::changes::Waiter::new(self.changes.as_ref(), tenant, id, watch, deadline)
    }

    /// The run once it is finished or `wait` (at most the cap) has passed, whichever
    /// comes first; `NotFound` as [`Self::get`].
    pub async fn wait(&self, tenant: &TenantId, id: &RunId, wait: std::time::Duration) -> Result<RunRecord, RunError> {
        let mut waiter = self.waiter(tenant, id, crate::changes::Change::Ended, wait);
        loop {
            let armed = waiter.arm();
            // The status alone tells whether to wait; the whole run is read once, to answer.
            let status = self.store.run_status(tenant, id).await?.ok_or(RunError::NotFound)?;
            if status.is_terminal() || waiter.expired() {
                return self.get(tenant, id).await;
            }
            if waiter.wait(armed).await {
                // Signalled that it ended: the answer is read at once (a run that has not
                // ended after all is waited for again).
                let run = self.get(tenant, id).await?;
                if run.status.is_terminal() || waiter.expired() {
                    return Ok(run);
                }
            }
        }
    }

    /// Prices runs at submission: a budget below its first step's estimate is refused.
    #[must_use]
    pub fn with_credits(mut self, credits: crate::credits::CreditService) -> Self {
        self.credits = Some(credits);
        self
    }

    /// Holds submissions to the tenants' plans: runs per day, runs at once, tokens per month.
    #[must_use]
    pub fn with_quotas(mut self, quotas: crate::limits::QuotaService) -> Self {
        self.quotas = Some(quotas);
        self
    }

    /// The budget of a run of `plan`, in millicredits: 1 cent to the ledger's largest
    /// amount, and at least what its first step is estimated at.
    fn budget(&self, cents: Option<u64>, plan: &Plan) -> Result<Option<u64>, RunError> {
        let Some(cents) = cents else { return Ok(None) };
        let most = aos_core::credits::MAX_AMOUNT / aos_core::credits::MILLI;
        if cents == 0 || cents > most {
            return Err(RunError::Invalid(
                ErrorCode::ValidationFailed,
                format!("budget_cents must be a whole number of cents from 1 to {most}, got {cents}"),
            ));
        }
        let budget = aos_core::credits::Millicredits::from_credits(cents);
        if let (Some(credits), Some(first)) = (&self.credits, plan.step(0)) {
            let estimate = credits.estimate(&first.skill, &first.input);
            if estimate > budget {
                return Err(RunError::Invalid(
                    ErrorCode::BudgetExceeded,
                    format!(
                        "budget_cents {cents} is below the first step's estimate of {} c ({}); raise the budget",
                        estimate.cents(),
                        first.skill
                    ),
                ));
            }
        }
        Ok(Some(budget.0))
    }

    /// The skill registry.
    pub fn skills(&self) -> &SkillRegistry {
        &self.skills
    }

    fn validate(&self, req: SubmitRun) -> Result<(Plan, Value, Option<u64>), RunError> {
        prepare(&self.skills, &self.planner, req, "")
    }

    /// Replaces the planner defaults (read from the environment by `new`).
    #[must_use]
    pub fn with_planner_defaults(mut self, planner: PlannerDefaults) -> Self {
        self.planner = planner;
        self
    }

    /// Validates and stores a run and enqueues its first step. With an Idempotency-Key,
    /// a repeat with the same body returns the same run; a different body is a conflict.
    /// Nothing is stored for a refused request.
    pub async fn submit(&self, tenant: &TenantId, req: SubmitRun, key: Option<&str>) -> Result<Submitted, RunError> {
        let budget_cents = req.budget_cents;
        let notify_url = crate::notify::check_url(req.notify_url.clone())
            .map_err(|m| RunError::Invalid(ErrorCode::ValidationFailed, m))?;
        let (plan, input, seed) = self.validate(req)?;
        let budget_mc = self.budget(budget_cents, &plan)?;
        // What an Idempotency-Key stands for (nothing to hash without one).
        let payload_hash = key.map_or_else(String::new, |_| {
            let mut payload = json!({"plan": plan.to_value(), "input": input, "base_seed": seed});
            if let Some(b) = budget_cents {
                payload["budget_cents"] = json!(b);
            }
            if let Some(u) = &notify_url {
                payload["notify_url"] = json!(u);
            }
            content_hash(&payload)
        });
        let now = now_ms();
        match claim_key(self.idempotency.as_ref(), tenant, key, &payload_hash, now).await? {
            Ok(KeyClaim::Fresh) => {}
            Ok(KeyClaim::Done(result)) => return self.replay(tenant, &result).await,
            Err((code, message)) => return Err(RunError::Conflict(code, message)),
        }
        let taken = match &self.quotas {
            None => None,
            Some(q) => match q.admit_run(tenant, now).await {
                Ok(taken) => taken,
                Err(refused) => {
                    self.release(tenant, key).await;
                    return Err(refused.into());
                }
            },
        };
        let base_seed = seed.unwrap_or_else(rand::random);
        let id = RunId::from_suffix(&unique_suffix()).expect("uuid suffix is a valid id");
        let run = RunRecord::queued(tenant.clone(), id, plan, input, base_seed, None, now)
            .with_budget(budget_mc)
            .with_notify_url(notify_url);
        let first = StepMessage { tenant: tenant.clone(), run_id: run.id.clone(), step_index: 0 };
        let completion = key.map(|k| IdempotencyCompletion {
            key: k.to_owned(),
            payload_hash,
            result: json!({"run_id": run.id}),
            expires_at_ms: now + IDEMPOTENCY_TTL_MS,
        });
        if let Err(e) = self.store.insert_run(&run, &first, completion.as_ref()).await {
            self.release(tenant, key).await;
            if let (Some(q), Some(t)) = (&self.quotas, taken) {
                q.give_back(t).await;
            }
            return Err(e.into());
        }
        Ok(Submitted { run, created: true })
    }

    /// Lets go of a submission's Idempotency-Key claim (the run was not stored).
    async fn release(&self, tenant: &TenantId, key: Option<&str>) {
        if let Some(k) = key {
            if let Err(release) = self.idempotency.release(tenant, k).await {
                tracing::warn!(error = %release, "could not release an idempotency claim");
            }
        }
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

    /// A page of runs, newest first, after the cursor `query.before` (a run id).
    pub async fn list(&self, tenant: &TenantId, query: RunQuery) -> Result<Page<RunRecord>, RunError> {
        let filter = RunFilter { status: query.status, limit: query.limit.probe(), before: query.before };
        let runs = self.store.list_runs(tenant, &filter).await?;
        Ok(query.limit.cut(runs, |r| r.id.to_string()))
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

    /// Cancels a run that has not finished, on `by`'s request (on the audit record with
    /// the cancel); a finished run is a conflict.
    pub async fn cancel(
        &self,
        tenant: &TenantId,
        id: &RunId,
        by: &aos_core::audit::Actor,
    ) -> Result<RunRecord, RunError> {
        let run = self.get(tenant, id).await?;
        if run.status.is_terminal() {
            return Err(RunError::Conflict(
                ErrorCode::IllegalTransition,
                format!("run is already {}; only queued or running runs can be cancelled", run.status),
            ));
        }
        let now = now_ms();
        let event =
            aos_core::audit::AuditEvent::new(tenant, by.clone(), "run.cancel", format!("run:{id}"), "cancelled", now)
                .with_details(serde_json::json!({"status_before": run.status}));
        let cancelled = match self.store.cancel_run(tenant, id, now, &[event]).await {
            Ok(run) => run,
            Err(StoreError::Conflict(m)) => return Err(RunError::Conflict(ErrorCode::IllegalTransition, m)),
            Err(e) => return Err(e.into()),
        };
        self.cancel_children(tenant, &run).await?;
        if let Some(changes) = &self.changes {
            changes.changed(tenant, id, crate::changes::Change::Ended);
        }
        Ok(cancelled)
    }

    /// Cancels the unfinished child runs an agent step of `run` is waiting for, and
    /// theirs, so cancelling an agent stops the work (and the spending) it started.
    async fn cancel_children(&self, tenant: &TenantId, run: &RunRecord) -> Result<(), RunError> {
        Ok(cancel_descendants(self.store.as_ref(), tenant, run).await?)
    }
}

/// Cancels the unfinished runs `run`'s waiting agent step started, and theirs, down the
/// tree (a cancel, a deadline). Runs that finished meanwhile are left as they are, so it
/// can be repeated after a crash half-way (every later message of a cancelled run does).
pub(crate) async fn cancel_descendants(
    store: &dyn RunStore,
    tenant: &TenantId,
    run: &RunRecord,
) -> crate::ports::StoreResult<()> {
    let mut pending = vec![run.clone()];
    while let Some(parent) = pending.pop() {
        for child in crate::agent::current_children(&parent) {
            let Some(found) = store.run(tenant, &child).await? else { continue };
            if !found.status.is_terminal() {
                let now = now_ms();
                let event = aos_core::audit::AuditEvent::new(
                    tenant,
                    aos_core::audit::Actor::system(),
                    "run.cancel",
                    format!("run:{child}"),
                    "cancelled",
                    now,
                )
                .because(vec![format!("its caller {} was cancelled or ran out of time", parent.id)]);
                match store.cancel_run(tenant, &child, now, &[event]).await {
                    Ok(_) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
                tracing::info!(run = %parent.id, child = %child, "child run cancelled with its caller");
            }
            // A child cancelled earlier may still have unfinished children of its own.
            if !found.status.is_terminal() || found.status == aos_core::RunStatus::Cancelled {
                pending.push(found);
            }
        }
    }
    Ok(())
}
