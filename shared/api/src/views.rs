//! Response bodies: typed, so that each is serialized and described (in the OpenAPI
//! document) from one definition. Only what clients need, never secrets or key hashes.

use aos_core::agent::CallerLink;
use aos_core::checkpoint::verify_chain;
use aos_core::credits::Millicredits;
use aos_core::roles::{Permission, Role};
use aos_core::{ApiKeyId, Checkpoint, ExecutionId, OutcomeError, PlanStep, RunId, RunStatus, StepStatus, TenantId};
use aos_runtime::ports::{ApiKeyRecord, RunRecord, StepProgress};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use utoipa::{PartialSchema, ToSchema};

/// A run.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// The run's id.
    pub id: RunId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Where it is in its lifecycle.
    pub status: RunStatus,
    /// Its steps (a goal-driven run's grow as its planner decides).
    #[schema(value_type = Vec<PlanStep>)]
    pub plan: aos_core::Plan,
    /// The run input that step inputs reference as `${input...}`.
    pub input: Value,
    /// Base of the step seeds.
    pub base_seed: u64,
    /// Steps in the plan.
    pub steps_total: u32,
    /// Steps finished.
    pub steps_done: u32,
    /// The last step's output, once succeeded.
    pub output: Option<Value>,
    /// Why it failed or was cancelled.
    pub error: Option<OutcomeError>,
    /// Hash the checkpoint chain starts from.
    pub genesis_hash: String,
    /// Hash of the last checkpoint.
    pub last_hash: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Last change, ms since the epoch.
    pub updated_at_ms: u64,
    /// The workflow execution a node's run belongs to (never its task token).
    pub parent: Option<ParentView>,
    /// The agent step that started this run and waits for it.
    pub caller: Option<CallerLink>,
    /// The most it may spend, in cents (credits).
    pub budget_cents: Option<f64>,
    /// What its steps were charged, in cents.
    pub spent_cents: f64,
    /// A goal-driven run's goal.
    pub goal: Option<Value>,
}

/// The workflow execution a run belongs to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ParentView {
    /// The execution.
    pub execution_id: ExecutionId,
    /// Its node the run is for.
    pub node: String,
    /// The element of a map node.
    pub item: Option<u32>,
    /// Whether the run is the node's compensation.
    pub compensation: bool,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    /// The runs.
    pub runs: Vec<RunView>,
    /// Pass as `before` for the next page (`null`: the last page).
    pub next_before: Option<String>,
}

/// A run's steps and whether its checkpoint chain verifies.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StepsView {
    /// The run.
    pub run_id: RunId,
    /// Its status.
    pub status: RunStatus,
    /// Hash the chain starts from.
    pub genesis_hash: String,
    /// Whether every checkpoint links to the one before.
    pub chain_valid: bool,
    /// Where and why the chain breaks.
    pub chain_error: Option<String>,
    /// Every step of the plan, in order.
    pub steps: Vec<StepView>,
}

/// A step: its checkpoint when it finished, else its progress.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StepView {
    /// A finished step.
    Finished(Box<FinishedStep>),
    /// A step not finished.
    Unfinished(UnfinishedStep),
}

/// A finished step: its checkpoint's fields (so a client can verify the chain) and its
/// status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FinishedStep {
    /// The checkpoint.
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    /// `succeeded` or `failed`.
    pub status: StepStatus,
}

/// A step not finished (nothing else: a finished step's fields do not fit it).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnfinishedStep {
    /// Position in the plan.
    pub step_index: u32,
    /// Its id in the plan.
    pub step_id: Option<String>,
    /// Its skill.
    pub skill: String,
    /// `queued`, `running`, `waiting` or `cancelled`.
    pub status: StepStatus,
    /// Attempts begun.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<OutcomeError>,
}

impl utoipa::PartialSchema for StepView {
    /// Either shape (a finished step has its checkpoint's fields too, so it is described
    /// as `anyOf`, not `oneOf`).
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name("FinishedStep"))
            .item(utoipa::openapi::Ref::from_schema_name("UnfinishedStep"))
            .description(Some("A step: its checkpoint when it finished, else its progress."))
            .into()
    }
}

impl ToSchema for StepView {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        for (name, schema) in [
            ("FinishedStep", <FinishedStep as utoipa::PartialSchema>::schema()),
            ("UnfinishedStep", UnfinishedStep::schema()),
        ] {
            schemas.push((name.to_owned(), schema));
        }
        FinishedStep::schemas(schemas);
        UnfinishedStep::schemas(schemas);
    }
}

pub(crate) fn run(r: &RunRecord) -> RunView {
    RunView {
        id: r.id.clone(),
        tenant_id: r.tenant.clone(),
        status: r.status,
        plan: r.plan.clone(),
        input: r.input.clone(),
        base_seed: r.base_seed,
        steps_total: r.plan.len(),
        steps_done: r.next_step,
        output: r.output.clone(),
        error: r.error.clone(),
        genesis_hash: r.genesis_hash.clone(),
        last_hash: r.last_hash.clone(),
        created_at_ms: r.created_at_ms,
        updated_at_ms: r.updated_at_ms,
        parent: r.parent.as_ref().map(|p| ParentView {
            execution_id: p.execution.clone(),
            node: p.slot.node.clone(),
            item: p.slot.item,
            compensation: p.slot.compensation,
        }),
        caller: r.caller.clone(),
        budget_cents: r.budget_mc.map(|b| Millicredits(b).cents()),
        spent_cents: Millicredits(r.spent_mc).cents(),
        goal: r.plan.step(0).filter(|s| s.skill == aos_core::agent::PLAN_SKILL).map(|s| s.input["goal"].clone()),
    }
}

pub(crate) fn steps(r: &RunRecord, cps: &[Checkpoint], progress: &[StepProgress]) -> StepsView {
    let chain = verify_chain(&r.genesis_hash, cps);
    let steps = r
        .plan
        .steps()
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            if let Some(cp) = cps.iter().find(|c| c.step_index == index) {
                let status = if cp.outcome.ok { StepStatus::Succeeded } else { StepStatus::Failed };
                return StepView::Finished(Box::new(FinishedStep { checkpoint: cp.clone(), status }));
            }
            let p = progress.iter().find(|p| p.step_index == index);
            let status = match (r.status, p) {
                (RunStatus::Cancelled, _) => StepStatus::Cancelled,
                (_, Some(p)) if p.claim_until_ms > 0 => StepStatus::Running,
                (_, Some(_)) => StepStatus::Waiting,
                _ => StepStatus::Queued,
            };
            StepView::Unfinished(UnfinishedStep {
                step_index: index,
                step_id: step.id.clone(),
                skill: step.skill.clone(),
                status,
                attempts: p.map_or(0, |p| p.attempts),
                last_error: p.and_then(|p| p.last_error.clone()),
            })
        })
        .collect();
    StepsView {
        run_id: r.id.clone(),
        status: r.status,
        genesis_hash: r.genesis_hash.clone(),
        chain_valid: chain.is_ok(),
        chain_error: chain.err().map(|e| e.to_string()),
        steps,
    }
}

/// An API key (never its secret or hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    /// Its public id.
    pub id: ApiKeyId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// What it may do.
    pub role: Role,
    /// The permissions it is limited to (`null`: all of its role's).
    pub scopes: Option<BTreeSet<Permission>>,
    /// What it may do, all told.
    pub permissions: BTreeSet<Permission>,
    /// The level it decides approvals at.
    pub approval_level: u8,
    /// Free text.
    pub label: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// When it stops working, if ever.
    pub expires_at_ms: Option<u64>,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<u64>,
}

pub(crate) fn key(k: &ApiKeyRecord) -> KeyView {
    KeyView {
        id: k.id.clone(),
        tenant_id: k.tenant.clone(),
        role: k.role,
        scopes: k.scopes.clone(),
        permissions: k.grant().permissions(),
        approval_level: k.grant().approval_level(),
        label: k.label.clone(),
        created_at_ms: k.created_at_ms,
        expires_at_ms: k.expires_at_ms,
        revoked_at_ms: k.revoked_at_ms,
    }
}
