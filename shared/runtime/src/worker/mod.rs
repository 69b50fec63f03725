//! The step pipeline: one clear sequence of named stages that every step message goes
//! through. Policy, budget and approval gates slot in between `prepare` and `execute`.
//!
//! ```text
//! decode -> load -> claim -> prepare -> gate -> guard -> execute (+heartbeat) -> decide -> commit | retry
//!                                                       `-> suspend (an agent step waits for its child runs)
//! ```
//!
//! This file wires the worker and runs the sequence; the stages that start a step
//! (`load`, `claim`, `prepare`) are in `worker/stages.rs`, the policy `gate` in
//! `worker/gate.rs`, the one that runs it (`guard`, `execute`, the heartbeat) in
//! `worker/execute.rs`, and those that end it (`suspend`,
//! `decide`, `commit`) in `worker/end.rs`.
//!
//! Exactly-once in effect: a step's end (checkpoint, run update, claim completion, next
//! message, ack) is one atomic commit. A redelivered message finds the checkpoint and
//! stops. A worker that died mid-step leaves an expiring claim: pure, idempotent and
//! keyed skills are re-run after it expires; non-idempotent ones are not (at most
//! once) and the step fails with `ERR_EFFECT_UNCERTAIN`.

mod budget;
mod end;
mod execute;
mod gate;
mod limits;
mod stages;

pub use budget::WARNING_SHARE;
pub use end::{notify_parent, MAX_VALUE_BYTES};
pub use gate::{step_approval_id, timed_out};

use crate::agent::{AgentLimits, AgentStep, PlannerDefaults};
use crate::ports::{
    BreakerStore, KvStore, Queue, Received, RunRecord, RunStore, SecretMeta, StepMessage, StoreError, StoreResult,
    TenantSecrets,
};
use crate::sfn::{SfnTask, SfnTasks};
use crate::skills::SkillRegistry;
use crate::workflows::{WorkflowMessage, WorkflowService};
use aos_core::determinism::step_seed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Most steps of one run a worker executes back to back before it lets the queue
/// hand the run to any worker again.
const MAX_CHAIN: u32 = 64;

/// Tunables of the step worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long a received message stays hidden; heartbeats extend it.
    pub visibility: Duration,
    /// How often a running step heartbeats (message visibility and claim).
    pub heartbeat: Duration,
    /// Long-poll wait of an idle worker.
    pub poll_wait: Duration,
    /// First retry delay; doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// Largest retry delay.
    pub backoff_cap: Duration,
    /// How long a worker keeps executing one run's steps back to back before it hands
    /// the run back to the queue (a Lambda sets this well under its timeout).
    pub chain_budget: Duration,
    /// Circuit breaker settings (5 failures, 60 s cooldown, one probe).
    pub breaker: aos_core::breaker::BreakerPolicy,
    /// How deep and wide agents may start child runs.
    pub agents: AgentLimits,
    /// Provider and model of child agents' planners that name none.
    pub planner: PlannerDefaults,
    /// The longest any one step may take here, whatever its own timeout says (a Lambda:
    /// the invocation's remaining time less a margin for the commit). `None`: no cap.
    pub max_step: Option<Duration>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            visibility: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll_wait: Duration::from_secs(1),
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(30),
            chain_budget: Duration::from_secs(60),
            breaker: aos_core::breaker::BreakerPolicy::default(),
            agents: AgentLimits::default(),
            planner: PlannerDefaults::from_env(),
            max_step: None,
        }
    }
}

/// What a hook tells the pipeline to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    /// Carry on.
    Continue,
    /// Stop here as if the worker died (nothing after this point happens).
    Abandon,
}

/// Called after the skill ran and before its checkpoint is committed. Used by crash
/// tests; production wires none.
pub type AfterEffectHook = Arc<dyn Fn(&StepMessage) -> HookAction + Send + Sync>;

/// How a message was handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The step ended (committed, retried or found already done); the message is gone.
    Done,
    /// Another worker holds the step; the message comes back later.
    Busy,
    /// The message is not a step message; it stays and will dead-letter.
    Malformed(String),
    /// A hook abandoned the step mid-way.
    Abandoned,
    /// A store call failed; the message comes back after its visibility timeout.
    Failed(String),
}

/// The step worker: executes one message at a time through the pipeline.
#[derive(Clone)]
pub struct StepWorker {
    store: Arc<dyn RunStore>,
    queue: Arc<dyn Queue>,
    kv: Arc<dyn KvStore>,
    skills: Arc<SkillRegistry>,
    config: WorkerConfig,
    after_effect: Option<AfterEffectHook>,
    workflows: Option<WorkflowService>,
    sfn: Option<SfnTasks>,
    breakers: Option<Arc<dyn BreakerStore>>,
    secrets: Arc<dyn TenantSecrets>,
    policies: Option<crate::policies::PolicyService>,
    approvals: Option<Arc<dyn crate::ports::WorkflowStore>>,
    flags: Option<crate::flags::FlagService>,
    credits: Option<crate::credits::CreditService>,
    quotas: Option<crate::limits::QuotaService>,
    changes: Option<Arc<crate::changes::Changes>>,
    /// Agent runs' checkpoints, as the planner read them last.
    history: Arc<crate::agent::History>,
}

struct Claimed {
    msg: StepMessage,
    run: RunRecord,
    attempt: u32,
    taken_over: bool,
    /// This worker's claim token for the step.
    claim: String,
    /// Set by a heartbeat that found the claim gone: the step must not end here.
    lost: Arc<std::sync::atomic::AtomicBool>,
    /// Handed back by the commit before without a claim written (`StepCommit::defer_next`).
    deferred: bool,
}

impl Claimed {
    fn new(msg: StepMessage, run: RunRecord, attempt: u32, taken_over: bool, claim: String) -> Self {
        Self { msg, run, attempt, taken_over, claim, lost: Arc::default(), deferred: false }
    }

    fn lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl StepWorker {
    /// Wires a worker.
    pub fn new(
        store: Arc<dyn RunStore>,
        queue: Arc<dyn Queue>,
        kv: Arc<dyn KvStore>,
        skills: Arc<SkillRegistry>,
        config: WorkerConfig,
    ) -> Self {
        Self {
            store,
            queue,
            kv,
            skills,
            config,
            after_effect: None,
            workflows: None,
            sfn: None,
            breakers: None,
            secrets: Arc::new(NoTenantSecrets),
            policies: None,
            approvals: None,
            flags: None,
            credits: None,
            quotas: None,
            changes: None,
            history: Arc::default(),
        }
    }

    /// Signals each change of a run it makes (a claim, a commit, a retry, a park) to the
    /// callers of this process waiting for the run.
    #[must_use]
    pub fn with_changes(mut self, changes: Arc<crate::changes::Changes>) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Signals that the run of `msg` changed.
    fn changed(&self, msg: &StepMessage) {
        self.signal(msg, crate::changes::Change::Moved);
    }

    /// Signals that the run of `msg` changed, and whether it ended.
    fn signal(&self, msg: &StepMessage, change: crate::changes::Change) {
        if let Some(changes) = &self.changes {
            changes.changed(&msg.tenant, &msg.run_id, change);
        }
    }

    /// Holds every step to its tenant's plan's spend limits (per request, per UTC hour
    /// and day) in the `budget` stage (with [`Self::with_credits`]). Without it, no
    /// tenant's spend is limited.
    #[must_use]
    pub fn with_quotas(mut self, quotas: crate::limits::QuotaService) -> Self {
        self.quotas = Some(quotas);
        self
    }

    /// Prices every step and holds it to its run's budget and, when its tenant is
    /// metered, to the tenant's credits (the `budget` stage, after the policies).
    /// Without it, nothing is charged.
    #[must_use]
    pub fn with_credits(mut self, credits: crate::credits::CreditService) -> Self {
        self.credits = Some(credits);
        self
    }

    /// Judges every step by its tenant's policies before it runs (the `gate` stage).
    /// Without it, no step is judged.
    #[must_use]
    pub fn with_policies(mut self, policies: crate::policies::PolicyService) -> Self {
        self.policies = Some(policies);
        self
    }

    /// Resolves `${secrets.NAME}` from, and lets skills read, the tenants' secrets.
    /// Without it, every secret a step needs is missing.
    #[must_use]
    pub fn with_secrets(mut self, secrets: Arc<dyn TenantSecrets>) -> Self {
        self.secrets = secrets;
        self
    }

    /// Lets the worker advance workflow executions (their messages share the step
    /// queue). Without it, workflow messages are left to dead-letter.
    #[must_use]
    pub fn with_workflows(mut self, workflows: WorkflowService) -> Self {
        self.workflows = Some(workflows);
        self
    }

    /// Guards every outbound skill call with a circuit breaker per tenant, skill and target.
    #[must_use]
    pub fn with_breakers(mut self, breakers: Arc<dyn BreakerStore>) -> Self {
        self.breakers = Some(breakers);
        self
    }

    /// Lets the tenant's feature flags switch skills off (the `gate` stage asks them
    /// first: a step whose skill a flag disables fails with `ERR_SKILL_DISABLED`).
    #[must_use]
    pub fn with_flags(mut self, flags: crate::flags::FlagService) -> Self {
        self.flags = Some(flags);
        self
    }

    /// Keeps the approvals the gate asks for in `store` (without one, a step that needs an
    /// approval is refused).
    #[must_use]
    pub fn with_approvals(mut self, store: Arc<dyn crate::ports::WorkflowStore>) -> Self {
        self.approvals = Some(store);
        self
    }

    /// Lets the worker answer Step Functions tasks (workflows on AWS).
    #[must_use]
    pub fn with_sfn_tasks(mut self, sfn: SfnTasks) -> Self {
        self.sfn = Some(sfn);
        self
    }

    /// Installs the after-effect hook (tests only).
    #[must_use]
    pub fn with_after_effect_hook(mut self, hook: AfterEffectHook) -> Self {
        self.after_effect = Some(hook);
        self
    }

    /// Hides a received message for `lease` (from now): how long it stays with this
    /// worker unless a heartbeat extends it.
    pub async fn lease(&self, received: &Received, lease: Duration) -> Result<bool, StoreError> {
        self.queue.change_visibility(&received.receipt, lease).await
    }

    /// The worker's configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// Runs one received message through the pipeline.
    pub async fn handle(&self, received: &Received) -> Handled {
        match self.pipeline(received).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "step pipeline store failure");
                Handled::Failed(e.to_string())
            }
        }
    }

    async fn pipeline(&self, received: &Received) -> Result<Handled, StoreError> {
        if let Some(task) = SfnTask::decode(&received.body) {
            return match (task, &self.sfn) {
                (Ok(task), Some(sfn)) => {
                    sfn.handle(&task, received).await?;
                    Ok(Handled::Done)
                }
                (Ok(_), None) => Ok(Handled::Malformed("Step Functions task, but this worker answers none".to_owned())),
                (Err(reason), _) => Ok(Handled::Malformed(reason)),
            };
        }
        if let Some(msg) = WorkflowMessage::decode(&received.body) {
            return self.workflow_message(&msg, received).await;
        }
        let msg = match decode(received) {
            Ok(m) => m,
            Err(reason) => return Ok(Handled::Malformed(reason)),
        };
        let named = msg.step_index;
        let Some((msg, run)) = self.load(msg, received).await? else {
            return Ok(Handled::Done);
        };
        // A message delivered again that names an earlier step resumes its run (`load`).
        let resumed = msg.step_index > named;
        let claimed = match self.claim(msg, run, received, resumed).await? {
            Ok(c) => c,
            Err(h) => return Ok(h),
        };
        self.run_claimed(claimed, received.clone()).await
    }

    /// A workflow message: the execution's state machine advances (the message is
    /// acknowledged in the same write) or, if the message is stale, it is deleted.
    async fn workflow_message(&self, msg: &WorkflowMessage, received: &Received) -> Result<Handled, StoreError> {
        let Some(workflows) = &self.workflows else {
            return Ok(Handled::Malformed("workflow message, but this worker has no workflow executor".to_owned()));
        };
        match workflows.handle(msg, &received.receipt).await {
            Ok(true) => Ok(Handled::Done),
            Ok(false) => {
                self.queue.delete(&received.receipt).await?;
                Ok(Handled::Done)
            }
            Err(crate::workflows::FlowError::Store(e)) => Err(e),
            Err(e) => {
                // A stored workflow that no longer validates (a skill was removed).
                tracing::error!(error = %e, "workflow message could not be applied");
                Ok(Handled::Failed(e.to_string()))
            }
        }
    }

    /// Runs a claimed step through the remaining stages, then keeps going with the
    /// run's next step while the store hands it straight back (at most `MAX_CHAIN`
    /// steps, so one long run cannot hold a worker forever).
    async fn run_claimed(&self, mut claimed: Claimed, mut received: Received) -> Result<Handled, StoreError> {
        let started = std::time::Instant::now();
        for chained in 0..MAX_CHAIN {
            let (outcome, seed, gate, budgeted) = match self.prepare(&claimed) {
                Err(outcome) => (outcome, step_seed(claimed.run.base_seed, claimed.msg.step_index), None, None),
                Ok((ctx, input)) => {
                    let seed = ctx.seed;
                    match self.execute(&claimed, ctx, input, &received).await {
                        (AgentStep::Done(outcome), gate, budgeted) => (outcome, seed, gate, budgeted),
                        (AgentStep::Waiting(recheck), _, _) => {
                            self.suspend(&claimed, &received, recheck).await?;
                            return Ok(Handled::Done);
                        }
                    }
                }
            };
            if let Some(hook) = &self.after_effect {
                if hook(&claimed.msg) == HookAction::Abandon {
                    return Ok(Handled::Abandoned);
                }
            }
            if claimed.lost() {
                // Another worker took the step over while the skill ran: its outcome is
                // that worker's to record (the store would refuse this one's anyway).
                tracing::warn!(run = %claimed.msg.run_id, step = claimed.msg.step_index, "claim lost during the step; not ending it here");
                return Ok(Handled::Busy);
            }
            let chain = chained + 1 < MAX_CHAIN && started.elapsed() < self.config.chain_budget;
            let ended = end::Ended { outcome, seed, gate, budgeted };
            match self.decide(claimed, ended, &received, chain).await? {
                Some((next, next_received)) => {
                    claimed = next;
                    received = next_received;
                }
                None => return Ok(Handled::Done),
            }
        }
        Ok(Handled::Done)
    }

    /// The same worker with every step capped at `max_step` and chains handed back after
    /// `chain_budget`: what one Lambda invocation can still afford.
    #[must_use]
    pub fn within(&self, max_step: Duration, chain_budget: Duration) -> Self {
        let mut w = self.clone();
        w.config.max_step = Some(max_step);
        w.config.chain_budget = chain_budget;
        w
    }

    /// Polls the queue and handles messages until `shutdown` turns true.
    pub async fn run_loop(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let batch = tokio::select! {
                r = self.queue.receive(1, self.config.visibility, self.config.poll_wait) => r,
                _ = shutdown.changed() => return,
            };
            match batch {
                Ok(messages) => {
                    for m in messages {
                        if let Handled::Malformed(reason) = self.handle(&m).await {
                            tracing::warn!(reason, "malformed step message left to dead-letter");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "queue receive failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// The tenant secrets of a worker wired without any: every lookup finds nothing.
struct NoTenantSecrets;

#[async_trait::async_trait]
impl TenantSecrets for NoTenantSecrets {
    async fn put(&self, _: &aos_core::TenantId, _: &str, _: &secrecy::SecretString, _: u64) -> StoreResult<bool> {
        Err(StoreError::Backend("this worker has no tenant secrets store".to_owned()))
    }
    async fn get(&self, _: &aos_core::TenantId, _: &str) -> StoreResult<Option<secrecy::SecretString>> {
        Ok(None)
    }
    async fn list(&self, _: &aos_core::TenantId) -> StoreResult<Vec<SecretMeta>> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: &aos_core::TenantId, _: &str) -> StoreResult<bool> {
        Ok(false)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Encodes a step message as the queue body.
pub fn encode(msg: &StepMessage) -> String {
    serde_json::to_string(msg).expect("step messages serialize")
}

fn decode(received: &Received) -> Result<StepMessage, String> {
    serde_json::from_str(&received.body).map_err(|e| format!("not a step message: {e}"))
}
