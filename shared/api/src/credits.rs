//! `GET /v1/credits`, `GET /v1/credits/ledger`, `POST /v1/credits/grants` (operators) and
//! CostSim: `POST /v1/runs/simulate`, `POST /v1/workflows/{name}/simulate`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::{AppState, Shared};
use aos_core::costsim::MAX_ITERATIONS;
use aos_core::credits::{
    Account, Book, Cause, GrantKind, GrantSpec, GrantState, Millicredits, PendingState, Transfer, TransferKind,
    MAX_AMOUNT, MILLI,
};
use aos_core::page::PageLimit;
use aos_core::workflow::NodeType;
use aos_core::{ErrorCode, TenantId};
use aos_runtime::clock::now_ms;
use aos_runtime::credits::{refusal_code, Planned, SimulationAnswer, WorkflowVersionRef};
use aos_runtime::policies::{step_facts, Decision, StepKind, StepSubject, DEFAULT_PLAN};
use aos_runtime::ports::CreditError;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

impl From<CreditError> for ApiError {
    fn from(e: CreditError) -> Self {
        match e {
            CreditError::Store(s) => s.into(),
            CreditError::Refused(r) => Self::new(refusal_code(&r), r.to_string()),
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, message)
}

/// A tenant's credits: its balance, its grants and its ledger's accounts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BookView {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Whether its steps are charged (it has had a grant).
    pub metered: bool,
    /// What it may still reserve.
    pub available_cents: f64,
    /// What its pending reservations hold.
    pub reserved_cents: f64,
    /// Its credits posted (granted less spent and expired).
    pub posted_cents: f64,
    /// What it has spent.
    pub spent_cents: f64,
    /// What its grants left unspent when they expired.
    pub expired_cents: f64,
    /// Whether it is suspended (its steps reserve nothing).
    pub suspended: bool,
    /// Its grants, in the order they are spent (soonest to expire first).
    pub grants: Vec<GrantView>,
    /// Each account of its ledger (`credits`, `grants`, `spent`, `expired`).
    pub accounts: BTreeMap<String, AccountView>,
}

/// An account's balance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// Debits posted.
    pub debits_posted_cents: f64,
    /// Credits posted.
    pub credits_posted_cents: f64,
    /// Debits pending.
    pub debits_pending_cents: f64,
    /// Credits pending.
    pub credits_pending_cents: f64,
}

/// A grant and what is left of it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    /// Its id.
    pub id: String,
    /// `paid` or `promotional`.
    pub kind: GrantKind,
    /// Where it stands.
    pub state: GrantState,
    /// Granted.
    pub amount_cents: f64,
    /// Spent of it.
    pub used_cents: f64,
    /// Lost when it expired.
    pub forfeited_cents: f64,
    /// Left to spend.
    pub remaining_cents: f64,
    /// When it takes effect, ms since the epoch.
    pub effective_at_ms: u64,
    /// When it expires, if it does.
    pub expires_at_ms: Option<u64>,
    /// Among grants expiring together, the higher is spent first.
    pub priority: i32,
}

/// A ledger transfer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferView {
    /// Its id, derived from its cause.
    pub id: String,
    /// What it is.
    pub kind: TransferKind,
    /// The account debited.
    pub debit: Account,
    /// The account credited.
    pub credit: Account,
    /// How much.
    pub amount_cents: f64,
    /// The reservation it resolves.
    pub follows: Option<String>,
    /// A reservation's state.
    pub state: Option<PendingState>,
    /// When a pending reservation returns by itself.
    pub timeout_at_ms: Option<u64>,
    /// The grant it concerns.
    pub grant: Option<String>,
    /// What caused it (run, step, attempt).
    pub cause: Option<Cause>,
    /// When, ms since the epoch.
    pub at_ms: u64,
}

/// A page of a tenant's ledger, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerPage {
    /// The transfers.
    pub transfers: Vec<TransferView>,
    /// Pass as `after` for the next page (`null`: the last page).
    pub next_after: Option<String>,
}

/// A grant made (or repeated).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantMade {
    /// The grant's id.
    pub grant_id: String,
    /// The transfers it made (none for a repeat).
    pub transfers: Vec<TransferView>,
    /// The tenant's credits after it.
    pub credits: BookView,
}

pub(crate) fn book_view(tenant: &TenantId, book: &Book) -> BookView {
    let accounts = Account::ALL
        .iter()
        .map(|a| {
            let b = book.balance(*a);
            let v = AccountView {
                debits_posted_cents: b.debits_posted.cents(),
                credits_posted_cents: b.credits_posted.cents(),
                debits_pending_cents: b.debits_pending.cents(),
                credits_pending_cents: b.credits_pending.cents(),
            };
            (a.as_str().to_owned(), v)
        })
        .collect();
    let credits = book.balance(Account::Credits);
    let grants = book
        .by_grant()
        .iter()
        .map(|g| GrantView {
            id: g.spec.id.clone(),
            kind: g.spec.kind,
            state: g.state,
            amount_cents: g.spec.amount.cents(),
            used_cents: g.used.cents(),
            forfeited_cents: g.forfeited.cents(),
            remaining_cents: g.remaining().cents(),
            effective_at_ms: g.spec.effective_ms,
            expires_at_ms: g.spec.expires_ms,
            priority: g.spec.priority,
        })
        .collect();
    BookView {
        tenant_id: tenant.clone(),
        metered: !book.grants.is_empty(),
        available_cents: book.available().cents(),
        reserved_cents: book.reserved().cents(),
        posted_cents: credits.credits_posted.saturating_sub(credits.debits_posted).cents(),
        spent_cents: book.balance(Account::Spent).credits_posted.cents(),
        expired_cents: book.balance(Account::Expired).credits_posted.cents(),
        suspended: book.suspended,
        grants,
        accounts,
    }
}

fn transfer_view(t: &Transfer) -> TransferView {
    TransferView {
        id: t.id.as_str().to_owned(),
        kind: t.kind,
        debit: t.debit,
        credit: t.credit,
        amount_cents: t.amount.cents(),
        follows: t.follows.as_ref().map(|f| f.as_str().to_owned()),
        state: t.state,
        timeout_at_ms: t.timeout_ms,
        grant: t.grant.clone(),
        cause: t.cause.clone(),
        at_ms: t.at_ms,
    }
}

/// `GET /v1/credits`: the caller's tenant's balance and grants.
pub(crate) async fn get(State(s): State<Shared>, Caller(p): Caller) -> Result<Json<BookView>, ApiError> {
    let book = s.credits.balance(&p.tenant, now_ms()).await?;
    Ok(Json(book_view(&p.tenant, &book)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LedgerQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// A page's `next_after`.
    after: Option<String>,
}

/// `GET /v1/credits/ledger`: the tenant's transfers, oldest first.
pub(crate) async fn ledger(
    State(s): State<Shared>,
    Caller(p): Caller,
    q: Result<Query<LedgerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LedgerPage>, ApiError> {
    let Query(q) = q.map_err(|e| invalid(e.body_text()))?;
    let limit = PageLimit::new(q.limit).map_err(invalid)?;
    if q.after.as_ref().is_some_and(|a| a.is_empty() || a.len() > 512) {
        return Err(invalid("after must be a page's next_after"));
    }
    let page = match s.credits.ledger(&p.tenant, q.after.as_deref(), limit.get()).await {
        Ok(page) => page,
        // The stores refuse a cursor they did not make as a conflict.
        Err(CreditError::Store(aos_runtime::StoreError::Conflict(_))) => {
            return Err(invalid("after must be a page's next_after"));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(LedgerPage { transfers: page.transfers.iter().map(transfer_view).collect(), next_after: page.next }))
}

/// The body of `POST /v1/credits/grants`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewGrant {
    /// The tenant granted.
    tenant_id: String,
    /// The grant's id (a repeat with the same id grants nothing more); made up when absent.
    #[serde(default)]
    id: Option<String>,
    /// `paid` (default) or `promotional`.
    #[serde(default)]
    kind: Option<String>,
    /// Whole cents, at least 1.
    #[schema(value_type = u64, minimum = 1)]
    amount_cents: serde_json::Number,
    /// When it takes effect (default: now), ms since the epoch.
    #[serde(default)]
    effective_at_ms: Option<u64>,
    /// When what is left of it expires, ms since the epoch.
    #[serde(default)]
    expires_at_ms: Option<u64>,
    /// Among grants expiring together, the higher is spent first (default 0).
    #[serde(default)]
    priority: Option<i32>,
}

/// The amount of a grant: whole cents, 1 to [`MAX_AMOUNT`] millicredits.
fn grant_amount(n: &serde_json::Number) -> Result<Millicredits, ApiError> {
    let most = MAX_AMOUNT / MILLI;
    match n.as_u64() {
        Some(c @ 1..) if c <= most => Ok(Millicredits::from_credits(c)),
        _ => Err(invalid(format!("amount_cents must be a whole number of cents from 1 to {most}, got {n}"))),
    }
}

/// `POST /v1/credits/grants` (operators): credits for a tenant. 201 with the transfers it
/// made; 200 with none for a repeat of the same grant.
pub(crate) async fn grant(
    State(s): State<Shared>,
    Caller(p): Caller,
    Body(req): Body<NewGrant>,
) -> Result<Response, ApiError> {
    let tenant = TenantId::parse(&req.tenant_id).map_err(|_| ApiError::not_found("tenant"))?;
    s.tenants.tenant(&tenant).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    let kind = match req.kind.as_deref().unwrap_or("paid") {
        "paid" => GrantKind::Paid,
        "promotional" => GrantKind::Promotional,
        other => return Err(invalid(format!("kind must be paid or promotional, got {other:?}"))),
    };
    let id = match req.id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) =>
        {
            id
        }
        Some(id) => return Err(invalid(format!("id must be 1-128 letters, digits, '_', '-' or '.', got {id:?}"))),
        None => format!("grant_{}", aos_runtime::clock::unique_suffix()),
    };
    let now = now_ms();
    // Without a date the grant is effective now; a repeat of it (the same id) keeps the
    // first one's, so that it is the same grant.
    let effective_ms = match req.effective_at_ms {
        Some(at) => at,
        None => {
            let book = s.credits.balance(&tenant, now).await?;
            book.grants.iter().find(|g| g.spec.id == id).map_or(now, |g| g.spec.effective_ms)
        }
    };
    let spec = GrantSpec {
        id,
        kind,
        amount: grant_amount(&req.amount_cents)?,
        effective_ms,
        expires_ms: req.expires_at_ms,
        priority: req.priority.unwrap_or(0),
    };
    let made = s.credits.grant(&tenant, &spec, p.actor(), now).await?;
    let book = s.credits.balance(&tenant, now).await?;
    let status = if made.is_empty() { StatusCode::OK } else { StatusCode::CREATED };
    let body = GrantMade {
        grant_id: spec.id,
        transfers: made.iter().map(transfer_view).collect(),
        credits: book_view(&tenant, &book),
    };
    Ok((status, Json(body)).into_response())
}

/// The fields of a plan step besides `iterations`, which a simulation ignores.
const STEP_FIELDS: [&str; 6] = ["id", "skill", "input", "max_attempts", "timeout_ms", "backoff_ms"];

fn iterations(v: Option<&Value>, at: &str) -> Result<u32, ApiError> {
    match v {
        None => Ok(1),
        Some(v) => match v.as_u64() {
            Some(n @ 1..) if n <= u64::from(MAX_ITERATIONS) => Ok(u32::try_from(n).unwrap_or(1)),
            _ => Err(invalid(format!("{at}: iterations must be a whole number from 1 to {MAX_ITERATIONS}, got {v}"))),
        },
    }
}

fn budget(v: Option<f64>) -> Result<Option<f64>, ApiError> {
    match v {
        Some(b) if !b.is_finite() || b < 0.0 => {
            Err(invalid(format!("budget_cents must be a number of cents of 0 or more, got {b}")))
        }
        other => Ok(other),
    }
}

/// The body of `POST /v1/runs/simulate`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimulateRun {
    /// The steps: as in a run's plan, each with `iterations` (how many times it runs,
    /// default 1).
    plan: Option<Vec<Value>>,
    /// A goal (refused: a goal's steps are decided while it runs).
    #[serde(default)]
    goal: Option<String>,
    /// The budget to judge the plan against, in cents.
    #[serde(default)]
    budget_cents: Option<f64>,
}

fn planned_steps(plan: &[Value]) -> Result<Vec<Planned>, ApiError> {
    if plan.is_empty() || plan.len() > 1000 {
        return Err(invalid("plan must have 1 to 1000 steps"));
    }
    plan.iter()
        .enumerate()
        .map(|(i, step)| {
            let at = format!("plan[{i}]");
            let obj = step.as_object().ok_or_else(|| invalid(format!("{at} must be an object")))?;
            if let Some(k) = obj.keys().find(|k| *k != "iterations" && !STEP_FIELDS.contains(&k.as_str())) {
                return Err(invalid(format!(
                    "{at}: unknown field {k:?}; a step takes {} and iterations",
                    STEP_FIELDS.join(", ")
                )));
            }
            let skill = obj
                .get("skill")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| invalid(format!("{at}: skill (a skill name) is required")))?;
            Ok(Planned {
                skill: skill.to_owned(),
                input: obj.get("input").cloned().unwrap_or_else(|| json!({})),
                iterations: iterations(obj.get("iterations"), &at)?,
            })
        })
        .collect()
}

/// What the tenant's policies say of each step as planned (before its references are
/// resolved): the steps they deny are permission gaps; those that need an approval are
/// warnings.
async fn policy_view(
    s: &AppState,
    tenant: &TenantId,
    steps: &[Planned],
    kind: StepKind,
    workflow: &str,
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let current = s.policies.compiled(tenant).await?;
    let (mut gaps, mut warnings) = (Vec::new(), Vec::new());
    if current.version == 0 {
        return Ok((gaps, warnings));
    }
    let now = now_ms();
    for (i, step) in steps.iter().enumerate() {
        let subject = StepSubject {
            tenant,
            run_id: "",
            skill: &step.skill,
            input: &step.input,
            kind,
            depth: 0,
            agent: false,
            workflow,
            spent_cents: 0,
            estimated_cents: 0,
            plan: DEFAULT_PLAN,
            now_ms: now,
        };
        let Some(facts) = step_facts(s.runs.skills(), &subject) else { continue };
        let judged = current.policies.evaluate(&facts);
        let named: Vec<String> = judged.violations.iter().map(|v| v.policy.clone()).collect();
        match judged.decision {
            Decision::Deny => gaps.push(format!("step {i} ({}): denied by {}", step.skill, named.join(", "))),
            Decision::RequiresApproval => {
                warnings.push(format!("step {i} ({}): waits for an approval ({})", step.skill, named.join(", ")));
            }
            Decision::Allow => {}
        }
    }
    Ok((gaps, warnings))
}

fn with_warnings(mut answer: SimulationAnswer, more: Vec<String>) -> SimulationAnswer {
    answer.simulation.warnings.extend(more);
    answer
}

/// `POST /v1/runs/simulate`: CostSim's cost, latency, risk and verdict for a plan.
pub(crate) async fn simulate_run(
    State(s): State<Shared>,
    Caller(p): Caller,
    Body(req): Body<SimulateRun>,
) -> Result<Json<SimulationAnswer>, ApiError> {
    let Some(plan) = req.plan else {
        let why = if req.goal.is_some() {
            "a goal's steps are decided while it runs, so they cannot be simulated; simulate a plan"
        } else {
            "plan (the steps to simulate) is required"
        };
        return Err(invalid(why));
    };
    let steps = planned_steps(&plan)?;
    let budget = budget(req.budget_cents)?;
    let (gaps, warnings) = policy_view(&s, &p.tenant, &steps, StepKind::PlanStep, "").await?;
    Ok(Json(with_warnings(s.credits.simulate(&steps, budget, gaps), warnings)))
}

/// The body of `POST /v1/workflows/{name}/simulate`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimulateWorkflow {
    /// The version (default: the latest).
    #[serde(default)]
    version: Option<u32>,
    /// The budget to judge it against, in cents.
    #[serde(default)]
    budget_cents: Option<f64>,
    /// Elements of each map node (default 1).
    #[serde(default)]
    map_items: BTreeMap<String, u32>,
}

/// `POST /v1/workflows/{name}/simulate`: CostSim for a stored workflow's task and map
/// nodes (a map's skill once per element; every branch of a choice counts).
pub(crate) async fn simulate_workflow(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(name): Path<String>,
    Body(req): Body<SimulateWorkflow>,
) -> Result<Json<SimulationAnswer>, ApiError> {
    let flows = crate::flows::service(&s)?;
    let record = flows.get(&p.tenant, &name, req.version).await?;
    let budget = budget(req.budget_cents)?;
    let mut warnings = Vec::new();
    if let Some(unknown) =
        req.map_items.keys().find(|k| !record.spec.nodes.iter().any(|n| &n.id == *k && n.kind == NodeType::Map))
    {
        return Err(invalid(format!("map_items names {unknown:?}, which is not a map node of {name}")));
    }
    let mut steps = Vec::new();
    for node in &record.spec.nodes {
        let Some(skill) = node.skill.clone().filter(|_| matches!(node.kind, NodeType::Task | NodeType::Map)) else {
            continue;
        };
        let n = if node.kind == NodeType::Map {
            req.map_items.get(&node.id).copied().unwrap_or_else(|| {
                warnings.push(format!(
                    "map node {}: counted as one element; pass map_items {{\"{}\": n}}",
                    node.id, node.id
                ));
                1
            })
        } else {
            1
        };
        if n == 0 || n > MAX_ITERATIONS {
            return Err(invalid(format!("map_items.{}: 1 to {MAX_ITERATIONS} elements, got {n}", node.id)));
        }
        steps.push(Planned { skill, input: node.input.clone().unwrap_or_else(|| json!({})), iterations: n });
    }
    if record.spec.nodes.iter().any(|n| n.kind == NodeType::Choice) {
        warnings.push("every branch of a choice is counted: the figures are an upper bound".to_owned());
    }
    if steps.is_empty() {
        return Err(invalid(format!("workflow {name} has no task or map node to simulate")));
    }
    let (gaps, more) = policy_view(&s, &p.tenant, &steps, StepKind::WorkflowNode, &name).await?;
    warnings.extend(more);
    let mut answer = with_warnings(s.credits.simulate(&steps, budget, gaps), warnings);
    answer.workflow = Some(WorkflowVersionRef { name: record.name, version: record.version });
    Ok(Json(answer))
}
