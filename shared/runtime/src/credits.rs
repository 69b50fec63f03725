//! Tenants' credits: their balance and ledger, grants (an operator's), what a step is
//! estimated to cost before it runs and charged after, and CostSim's answer for a plan.
//!
//! A step's charge is its skill's price ([`PriceTable`]) plus, for a model call, its
//! tokens at the model's price ([`LlmConfig::price`]): before it runs, the prompt's
//! characters (four to a token) and its `max_tokens`; after, what the call reported.

use crate::llm::LlmConfig;
use crate::ports::{CreditError, CreditResult, CreditStore, TransferPage};
use aos_core::audit::{Actor, AuditEvent};
use aos_core::costsim::{self, SimStep, Simulation, Source};
use aos_core::credits::{Book, GrantSpec, LedgerError, Millicredits, PriceTable, Transfer};
use aos_core::{ErrorCode, TenantId};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Characters of prompt per token, for estimates.
const CHARS_PER_TOKEN: usize = 4;

/// The `max_tokens` of a model call that names none (`llm_invoke`'s default).
const DEFAULT_MAX_TOKENS: u64 = 1024;

/// The credits' use cases.
#[derive(Clone)]
pub struct CreditService {
    store: Arc<dyn CreditStore>,
    prices: Arc<PriceTable>,
    llm: Arc<LlmConfig>,
    /// Tenants known to be metered (for good: grants are never taken back) or, for the
    /// cache period, not.
    metered: Arc<Mutex<HashMap<TenantId, (Instant, bool)>>>,
}

impl CreditService {
    /// Credits over `store`, priced by the seed's table and the models' prices as
    /// configured (`AOS_LLM_PRICES`; the defaults when it cannot be read).
    pub fn new(store: Arc<dyn CreditStore>) -> Self {
        let llm = LlmConfig::from_env().unwrap_or_default();
        Self { store, prices: Arc::new(PriceTable::seed()), llm: Arc::new(llm), metered: Arc::default() }
    }

    /// Whether the tenant's steps reserve and settle credits: from its first grant on
    /// (a tenant without grants is counted, not charged). A tenant not metered yet is
    /// looked at again after [`crate::policies::CACHE_TTL`].
    pub async fn metered(&self, tenant: &TenantId, now_ms: u64) -> CreditResult<bool> {
        if let Some((at, known)) = self.metered.lock().expect("metered cache").get(tenant) {
            if *known || at.elapsed() < crate::policies::CACHE_TTL {
                return Ok(*known);
            }
        }
        let known = !self.store.book(tenant, now_ms).await?.grants.is_empty();
        self.metered.lock().expect("metered cache").insert(tenant.clone(), (Instant::now(), known));
        Ok(known)
    }

    /// The same service pricing model calls by `llm`'s prices.
    #[must_use]
    pub fn with_llm(mut self, llm: LlmConfig) -> Self {
        self.llm = Arc::new(llm);
        self
    }

    /// The ledger.
    pub fn store(&self) -> &Arc<dyn CreditStore> {
        &self.store
    }

    /// The tenant's book as of `now_ms`.
    pub async fn balance(&self, tenant: &TenantId, now_ms: u64) -> CreditResult<Book> {
        self.store.book(tenant, now_ms).await
    }

    /// A page of the tenant's ledger.
    pub async fn ledger(&self, tenant: &TenantId, after: Option<&str>, limit: u32) -> CreditResult<TransferPage> {
        self.store.transfers(tenant, after, limit).await
    }

    /// Grants credits to `tenant`, on its audit log in the same write; a repeat of the
    /// same grant answers no transfers and writes nothing.
    pub async fn grant(
        &self,
        tenant: &TenantId,
        spec: &GrantSpec,
        actor: Actor,
        now_ms: u64,
    ) -> CreditResult<Vec<Transfer>> {
        let audit = AuditEvent::new(tenant, actor, "credits.grant", format!("grant:{}", spec.id), "granted", now_ms)
            .with_details(json!({
                "kind": spec.kind, "amount_cents": spec.amount.cents(),
                "effective_at_ms": spec.effective_ms, "expires_at_ms": spec.expires_ms, "priority": spec.priority,
            }));
        let made = self.store.grant(tenant, spec, &[audit], now_ms).await?;
        self.metered.lock().expect("metered cache").insert(tenant.clone(), (Instant::now(), true));
        Ok(made)
    }

    /// The price of a step of `skill` with `input`: its skill's credits (an
    /// `agent_spawn` also its tasks'), before any model call's tokens.
    pub fn price(&self, skill: &str, input: &Value) -> Millicredits {
        self.prices.step(skill, job_items(input))
    }

    /// What a step of `skill` with `input` is estimated to cost before it runs: its
    /// price, plus for a model call its prompt and `max_tokens` at the model's price.
    pub fn estimate(&self, skill: &str, input: &Value) -> Millicredits {
        let base = self.price(skill, input);
        if skill != "llm_invoke" {
            return base;
        }
        let model = input.get("model").and_then(Value::as_str).unwrap_or("default");
        let price = self.llm.price(model);
        #[allow(clippy::cast_precision_loss)]
        let input_tokens = prompt_chars(input).div_ceil(CHARS_PER_TOKEN) as f64;
        #[allow(clippy::cast_precision_loss)]
        let output_tokens = input.get("max_tokens").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_TOKENS) as f64;
        let cents = (input_tokens * price.input + output_tokens * price.output) / 1_000_000.0;
        base.checked_add(Millicredits::from_cents_f64(cents)).unwrap_or(base)
    }

    /// CostSim's answer for `steps` against `budget_cents`, with the steps' permission
    /// gaps as the policy gate found them. The cost, latency and risk are the seed's V1
    /// table's; `credits` adds what AOS's price table would reserve for each step.
    pub fn simulate(&self, steps: &[Planned], budget_cents: Option<f64>, gaps: Vec<String>) -> SimulationAnswer {
        let sim: Vec<SimStep> = steps
            .iter()
            .map(|s| SimStep {
                skill: s.skill.clone(),
                iterations: s.iterations,
                prompt_chars: prompt_chars(&s.input),
                profile: costsim::seed_profile(&s.skill),
            })
            .collect();
        let simulation: Simulation = costsim::simulate(&sim, budget_cents, gaps);
        let per_call: Vec<Millicredits> = steps.iter().map(|s| self.estimate(&s.skill, &s.input)).collect();
        let mut total = Millicredits::ZERO;
        let mut priced = Vec::with_capacity(steps.len());
        for (i, (s, one)) in steps.iter().zip(&per_call).enumerate() {
            let all = Millicredits(one.0.saturating_mul(u64::from(s.iterations)));
            total = total.checked_add(all).unwrap_or(total);
            priced.push(PricedStep {
                step_index: u32::try_from(i).unwrap_or(u32::MAX),
                skill: s.skill.clone(),
                iterations: s.iterations,
                per_call_cents: one.cents(),
                cents: all.cents(),
            });
        }
        let credits = CreditEstimate {
            source: Source::PriceTable,
            note: "what AOS reserves before each step: its skill's price, and for a model call its prompt and max_tokens at the model's price",
            estimated_cents: total.cents(),
            steps: priced,
        };
        SimulationAnswer { simulation, credits, workflow: None }
    }
}

/// CostSim's answer (`POST /v1/runs/simulate`, `POST /v1/workflows/{name}/simulate`):
/// the seed's figures, and what AOS's price table would reserve.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SimulationAnswer {
    /// Cost, latency, risk and verdict by the seed's V1 table.
    #[serde(flatten)]
    pub simulation: Simulation,
    /// What AOS's price table would reserve.
    pub credits: CreditEstimate,
    /// The workflow simulated, for a workflow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowVersionRef>,
}

/// What AOS's price table would reserve for a plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreditEstimate {
    /// `price_table`.
    pub source: Source,
    /// What the figures mean.
    #[schema(value_type = String)]
    pub note: &'static str,
    /// All the steps' reservations together.
    pub estimated_cents: f64,
    /// Per step.
    pub steps: Vec<PricedStep>,
}

/// One step's reservation by the price table.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PricedStep {
    /// Its position.
    pub step_index: u32,
    /// Its skill.
    pub skill: String,
    /// How many times it runs.
    pub iterations: u32,
    /// One call's reservation.
    pub per_call_cents: f64,
    /// All its calls'.
    pub cents: f64,
}

/// A stored workflow's version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkflowVersionRef {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: u32,
}

/// The items of an `agent_spawn` step: its child tasks.
fn job_items(input: &Value) -> u64 {
    input.get("tasks").and_then(Value::as_array).map_or(0, |t| t.len() as u64)
}

/// One step to simulate: its skill, its input and how many times it runs.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The skill.
    pub skill: String,
    /// Its input (a model call's prompt is read from it).
    pub input: Value,
    /// 1 to [`costsim::MAX_ITERATIONS`].
    pub iterations: u32,
}

/// The characters of a model call's prompt: its system text and messages' contents.
fn prompt_chars(input: &Value) -> usize {
    let system = input.get("system").and_then(Value::as_str).map_or(0, str::len);
    let messages = input
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |m| m.iter().map(|msg| msg.get("content").and_then(Value::as_str).map_or(0, str::len)).sum());
    let prompt = input.get("prompt").and_then(Value::as_str).map_or(0, str::len);
    system + messages + prompt
}

/// The stable code of a refused ledger operation.
pub fn refusal_code(e: &LedgerError) -> ErrorCode {
    match e {
        LedgerError::BadAmount(_) | LedgerError::BadGrant(_) => ErrorCode::ValidationFailed,
        LedgerError::Insufficient { .. } | LedgerError::Suspended => ErrorCode::BudgetExceeded,
        LedgerError::Unknown(_) => ErrorCode::NotFound,
        LedgerError::OverSettle { .. }
        | LedgerError::Resolved { .. }
        | LedgerError::NotDue(_)
        | LedgerError::IdTaken(_) => ErrorCode::IllegalTransition,
    }
}

/// Returns every tenant's reservations whose timeout passed by `now_ms` (those of steps
/// that never ended: their worker died and no later attempt took them back); how many.
pub async fn expire_due(
    tenants: &dyn crate::ports::TenantStore,
    store: &dyn CreditStore,
    now_ms: u64,
) -> crate::ports::StoreResult<u32> {
    const PAGE: u32 = 100;
    let mut expired = 0u32;
    let mut after = None;
    loop {
        let page = tenants.tenant_ids(after.as_ref(), PAGE).await?;
        for tenant in &page {
            loop {
                let n = match store.expire_due(tenant, now_ms, PAGE).await {
                    Ok(n) => n,
                    Err(CreditError::Store(e)) => return Err(e),
                    Err(CreditError::Refused(e)) => {
                        tracing::warn!(tenant = %tenant, error = %e, "due reservations could not be returned");
                        0
                    }
                };
                expired = expired.saturating_add(n);
                if n < PAGE {
                    break;
                }
            }
        }
        if page.len() < PAGE as usize {
            return Ok(expired);
        }
        after = page.last().cloned();
    }
}

/// Returns due reservations every `every` until `shutdown` turns true.
pub async fn expiry_loop(
    tenants: Arc<dyn crate::ports::TenantStore>,
    store: Arc<dyn CreditStore>,
    every: std::time::Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    crate::sweep::periodically(every, shutdown, "return of due reservations", |now| {
        let (tenants, store) = (Arc::clone(&tenants), Arc::clone(&store));
        async move { expire_due(tenants.as_ref(), store.as_ref(), now).await }
    })
    .await;
}
