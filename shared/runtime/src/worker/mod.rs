//! The step pipeline: one clear sequence of named stages that every step message goes
//! through. Policy, budget and approval gates slot in between `prepare` and `execute`.
//!
//! ```text
//! decode -> load -> claim -> prepare -> guard -> execute (+heartbeat) -> decide -> commit | retry
//!                                                       `-> suspend (an agent step waits for its child runs)
//! ```
//!
//! The stages that end a step (`suspend`, `decide`, `commit`) are in `worker/end.rs`.
//!
//! Exactly-once in effect: a step's end (checkpoint, run update, claim completion, next
//! message, ack) is one atomic commit. A redelivered message finds the checkpoint and
//! stops. A worker that died mid-step leaves an expiring claim: pure, idempotent and
//! keyed skills are re-run after it expires; non-idempotent ones are not (at most
//! once) and the step fails with `ERR_EFFECT_UNCERTAIN`.

mod end;

pub use end::{notify_parent, MAX_VALUE_BYTES};

use crate::agent::{AgentLimits, AgentStep, AgentSteps, PlannerDefaults};
use crate::clock::now_ms;
use crate::ports::{
    BeginOutcome, BeginStep, BreakerStore, KvStore, Queue, Received, RunRecord, RunStore, SecretMeta, StepMessage,
    StoreError, StoreResult, TenantSecrets,
};
use crate::secrets::StepSecrets;
use crate::sfn::{SfnTask, SfnTasks};
use crate::skills::{IdempotencyClass, SkillContext, SkillRegistry};
use crate::workflows::{WorkflowMessage, WorkflowService};
use aos_core::breaker::Admission;
use aos_core::determinism::step_seed;
use aos_core::template::{references, resolve, Reference, Scope};
use aos_core::{ErrorCode, StructuredOutcome};
use std::collections::BTreeMap;
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
}

impl Claimed {
    fn new(msg: StepMessage, run: RunRecord, attempt: u32, taken_over: bool, claim: String) -> Self {
        Self { msg, run, attempt, taken_over, claim, lost: Arc::default() }
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
        }
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
        let Some((msg, run)) = self.load(msg, received).await? else {
            return Ok(Handled::Done);
        };
        let claimed = match self.claim(msg, run, received).await? {
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
            let (outcome, seed) = match self.prepare(&claimed) {
                Err(outcome) => (outcome, step_seed(claimed.run.base_seed, claimed.msg.step_index)),
                Ok((ctx, input)) => {
                    let seed = ctx.seed;
                    match self.execute(&claimed, ctx, input, &received).await {
                        AgentStep::Done(outcome) => (outcome, seed),
                        AgentStep::Waiting(recheck) => {
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
            match self.decide(claimed, outcome, seed, &received, chain).await? {
                Some((next, next_received)) => {
                    claimed = next;
                    received = next_received;
                }
                None => return Ok(Handled::Done),
            }
        }
        Ok(Handled::Done)
    }

    /// Stage `load`: the run. Acknowledges messages of unknown or finished runs and of
    /// steps that are not due. A redelivered message whose step is already done means
    /// the worker that carried the run on from it (a chain of steps, or a commit whose
    /// next message was lost) died: the run resumes at its next step. Claims make sure
    /// that resuming never runs a step twice.
    async fn load(
        &self,
        msg: StepMessage,
        received: &Received,
    ) -> Result<Option<(StepMessage, RunRecord)>, StoreError> {
        let run = self.store.run(&msg.tenant, &msg.run_id).await?;
        let Some(run) = run else {
            tracing::warn!(run = %msg.run_id, "step message for an unknown run dropped");
            self.queue.delete(&received.receipt).await?;
            return Ok(None);
        };
        if msg.step_index > run.next_step {
            // Not due: only the commit of the step before creates this step's message.
            tracing::warn!(run = %run.id, step = msg.step_index, next = run.next_step, "step message ahead of the run dropped");
            self.queue.delete(&received.receipt).await?;
            return Ok(None);
        }
        if run.status.is_terminal() {
            // The worker that ended the run may have died before telling whoever waits
            // for it (adapters that send the wake-up after the commit), or before a
            // cancelled agent's whole tree was cancelled: do both again (both are
            // idempotent), then drop the message.
            if let Some(sfn) = &self.sfn {
                sfn.answer(&run).await?;
            }
            if let Some(body) = notify_parent(&run) {
                self.queue.send(&body, Duration::ZERO).await?;
            }
            if run.status == aos_core::RunStatus::Cancelled {
                crate::runs::cancel_descendants(self.store.as_ref(), &run.tenant, &run).await?;
            }
            self.queue.delete(&received.receipt).await?;
            return Ok(None);
        }
        if msg.step_index < run.next_step && received.receive_count <= 1 {
            self.queue.delete(&received.receipt).await?;
            return Ok(None);
        }
        let msg = StepMessage { step_index: run.next_step, ..msg };
        Ok(Some((msg, run)))
    }

    /// Stage `claim`: take the step's claim (durably for non-idempotent skills).
    async fn claim(
        &self,
        msg: StepMessage,
        run: RunRecord,
        received: &Received,
    ) -> Result<Result<Claimed, Handled>, StoreError> {
        let step = run.plan.step(msg.step_index).cloned();
        let Some(step) = step else {
            tracing::warn!(run = %run.id, step = msg.step_index, "step index beyond the plan dropped");
            self.queue.delete(&received.receipt).await?;
            return Ok(Err(Handled::Done));
        };
        let class = self.skills.descriptor(&step.skill).map(|d| d.idempotency);
        let now = now_ms();
        let claim = crate::clock::unique_suffix();
        let begin = BeginStep {
            tenant: msg.tenant.clone(),
            run_id: msg.run_id.clone(),
            step_index: msg.step_index,
            claim: claim.clone(),
            // A lease, not a deadline: heartbeats extend it while the skill runs, so a
            // dead worker's step is taken over one visibility timeout after it died.
            claim_until_ms: now + millis(self.config.visibility),
            durable: class == Some(IdempotencyClass::NonIdempotent),
            now_ms: now,
        };
        Ok(match self.store.begin_step(&begin).await? {
            BeginOutcome::Claimed { attempt, taken_over } => Ok(Claimed::new(msg, run, attempt, taken_over, claim)),
            BeginOutcome::AlreadyDone => {
                self.queue.delete(&received.receipt).await?;
                Err(Handled::Done)
            }
            BeginOutcome::Busy { until_ms } => {
                let wait = Duration::from_millis(until_ms.saturating_sub(now)).max(Duration::from_secs(1));
                self.queue.change_visibility(&received.receipt, wait).await?;
                Err(Handled::Busy)
            }
        })
    }

    fn step_timeout(&self, run: &RunRecord, index: u32) -> Duration {
        let step = run.plan.step(index);
        let default = step.and_then(|s| self.skills.descriptor(&s.skill)).map_or(30_000, |d| d.timeout_ms);
        let declared = Duration::from_millis(step.and_then(|s| s.timeout_ms).unwrap_or(default));
        self.config.max_step.map_or(declared, |max| declared.min(max))
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

    /// Stage `prepare`: refuse interrupted non-idempotent steps and exhausted attempts,
    /// resolve input references, build the skill context.
    fn prepare(&self, c: &Claimed) -> Result<(SkillContext, serde_json::Value), StructuredOutcome> {
        let step = c.run.plan.step(c.msg.step_index).expect("claimed steps exist in the plan");
        let class = self.skills.descriptor(&step.skill).map(|d| d.idempotency);
        if c.taken_over && class == Some(IdempotencyClass::NonIdempotent) {
            return Err(StructuredOutcome::failure(
                ErrorCode::EffectUncertain,
                format!("attempt {} of non-idempotent skill {} was interrupted after it may have had its effect; AOS does not run it twice", c.attempt - 1, step.skill),
            ));
        }
        if c.attempt > step.attempts_allowed() {
            return Err(StructuredOutcome::failure(
                ErrorCode::AttemptsExhausted,
                format!(
                    "step was started {} times without finishing (max_attempts {})",
                    c.attempt - 1,
                    step.attempts_allowed()
                ),
            ));
        }
        Ok((
            SkillContext {
                tenant: c.msg.tenant.clone(),
                run_id: c.msg.run_id.clone(),
                step_index: c.msg.step_index,
                step_id: c.run.plan.step_id(c.msg.step_index).to_owned(),
                attempt: c.attempt,
                seed: step_seed(c.run.base_seed, c.msg.step_index),
                idempotency_key: format!("aos-{}-{}", c.msg.run_id, c.msg.step_index),
                timeout: self.step_timeout(&c.run, c.msg.step_index),
                kv: Arc::clone(&self.kv),
                secrets: Arc::clone(&self.secrets),
            },
            step.input.clone(),
        ))
    }

    /// Stage `execute`: resolve references against earlier outputs, run the skill with a
    /// heartbeat that keeps the message hidden and the claim alive.
    async fn execute(
        &self,
        c: &Claimed,
        ctx: SkillContext,
        input: serde_json::Value,
        received: &Received,
    ) -> AgentStep {
        let step = c.run.plan.step(c.msg.step_index).expect("claimed steps exist in the plan");
        // An agent step's child plans are resolved by the children, not here.
        let mut input = input;
        let held = aos_core::agent::hold_child_parts(&step.skill, &mut input);
        let referenced = referenced_steps(&c.run.plan, &input);
        let outputs = if referenced.is_empty() {
            BTreeMap::new()
        } else {
            match self.store.step_outputs(&c.msg.tenant, &c.msg.run_id, &referenced).await {
                Ok(o) => o,
                Err(e) => {
                    return StructuredOutcome::failure(ErrorCode::Internal, format!("could not load step outputs: {e}"))
                        .into()
                }
            }
        };
        // The secrets the authored input names, read now and never stored: the skill gets
        // their values, its outcome gets them redacted.
        let secrets = match StepSecrets::load(self.secrets.as_ref(), &c.msg.tenant, &input).await {
            Ok(s) => s,
            Err(outcome) => return outcome.into(),
        };
        if !secrets.is_empty() && aos_core::agent::is_agent_skill(&step.skill) {
            return StructuredOutcome::failure(
                ErrorCode::ValidationFailed,
                format!(
                    "{} cannot take ${{secrets.…}}: give secrets to the skills of its child plans, never to a planner",
                    step.skill
                ),
            )
            .into();
        }
        let scope = Scope { secrets: Some(secrets.scope()), ..Scope::new(&c.run.input, &outputs) };
        let mut input = match resolve(&input, &scope) {
            Ok(v) => v,
            Err(e) => return StructuredOutcome::failure(ErrorCode::UnresolvedReference, e.to_string()).into(),
        };
        aos_core::agent::restore_child_parts(&step.skill, &mut input, held);
        // Stage `guard`: the target's circuit breaker (an open one refuses without calling).
        let breaker = match (&self.breakers, self.skills.breaker_target(&step.skill, &input)) {
            (Some(store), Some(target)) => Some((store, format!("{}:{target}", step.skill))),
            _ => None,
        };
        if let Some((store, key)) = &breaker {
            match store.admit(&c.msg.tenant, key, now_ms(), &self.config.breaker).await {
                Ok(Admission::Refuse { retry_after_ms }) => {
                    return StructuredOutcome::failure(
                        ErrorCode::CircuitOpen,
                        format!(
                            "calls to {key} are paused: it failed {} times in a row; retrying in {} ms",
                            self.config.breaker.threshold, retry_after_ms
                        ),
                    )
                    .with_details(serde_json::json!({"retry_after_ms": retry_after_ms, "breaker": key}))
                    .into();
                }
                Ok(_) => {}
                // A breaker that cannot be read must not stop work: call, and say so.
                Err(e) => tracing::warn!(error = %e, breaker = key, "circuit breaker unavailable; calling anyway"),
            }
        }
        let outcome = if aos_core::agent::is_agent_skill(&step.skill) {
            // Agent steps need the run store: the worker runs them itself.
            let agents = AgentSteps {
                store: &self.store,
                skills: &self.skills,
                limits: &self.config.agents,
                defaults: &self.config.planner,
            };
            // Agent steps run here, not through the registry: the step's timeout holds
            // for them all the same (a planner's model calls, its repairs included).
            let limit = ctx.timeout;
            let work = tokio::time::timeout(limit, agents.run(&step.skill, &c.run, c.msg.step_index, &ctx, input));
            match self.with_heartbeat(c, work, received).await {
                Ok(AgentStep::Done(outcome)) => outcome,
                Ok(waiting) => return waiting,
                Err(_) => StructuredOutcome::failure(
                    ErrorCode::Timeout,
                    format!("{} did not finish within {} ms", step.skill, limit.as_millis()),
                ),
            }
        } else {
            let outcome = self.with_heartbeat(c, self.skills.execute(&step.skill, &ctx, input), received).await;
            secrets.redact(outcome)
        };
        if let Some((store, key)) = &breaker {
            if let Err(e) =
                store.record(&c.msg.tenant, key, counts_against_breaker(&outcome), now_ms(), &self.config.breaker).await
            {
                tracing::warn!(error = %e, breaker = key, "could not record a call in its circuit breaker");
            }
        }
        AgentStep::Done(outcome)
    }

    /// Runs `work` (a skill call) while heartbeating the step's message and claim.
    async fn with_heartbeat<T>(
        &self,
        c: &Claimed,
        work: impl std::future::Future<Output = T>,
        received: &Received,
    ) -> T {
        // The heartbeat shares this task with the skill: no spawn, no thread hop.
        let run = work;
        tokio::pin!(run);
        let mut beat =
            tokio::time::interval_at(tokio::time::Instant::now() + self.config.heartbeat, self.config.heartbeat);
        loop {
            tokio::select! {
                outcome = &mut run => return outcome,
                _ = beat.tick() => {
                    if !self.heartbeat(c, &received.receipt).await {
                        c.lost.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }
    }

    /// One heartbeat: the task token, the message and the claim. Returns false when the
    /// claim is gone (another worker took the step over).
    async fn heartbeat(&self, c: &Claimed, receipt: &str) -> bool {
        let (run, msg) = (&c.run, &c.msg);
        if let (Some(sfn), Some(token)) = (&self.sfn, run.parent.as_ref().and_then(|p| p.task_token.as_deref())) {
            if let Err(e) = sfn.tokens().heartbeat(token).await {
                tracing::warn!(error = %e, "heartbeat could not reach Step Functions");
            }
        }
        let until = now_ms() + millis(self.config.visibility);
        if let Err(e) = self.queue.change_visibility(receipt, self.config.visibility).await {
            tracing::warn!(error = %e, "heartbeat could not extend the message");
        }
        match self.store.extend_claim(&msg.tenant, &msg.run_id, msg.step_index, &c.claim, until).await {
            Ok(held) => {
                if !held {
                    tracing::warn!(run = %msg.run_id, step = msg.step_index, "heartbeat found the step's claim taken over");
                }
                held
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat could not extend the claim");
                true
            }
        }
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

/// Whether an outcome is an upstream failure a circuit breaker counts: retryable
/// failures (timeouts, 5xx, refused connections), not throttling (it has its own
/// Retry-After) and not the caller's own mistakes.
fn counts_against_breaker(outcome: &StructuredOutcome) -> bool {
    let Some(e) = &outcome.error else { return false };
    e.retryable
        && !matches!(
            e.code,
            ErrorCode::Http429
                | ErrorCode::LlmRateLimit
                | ErrorCode::RateLimitInternal
                | ErrorCode::RateLimitConcurrent
                | ErrorCode::CircuitOpen
        )
}

/// Indexes of the earlier steps whose outputs `input` references.
fn referenced_steps(plan: &aos_core::Plan, input: &serde_json::Value) -> Vec<u32> {
    let Ok(refs) = references(input) else { return Vec::new() };
    let mut out: Vec<u32> = refs
        .iter()
        .filter_map(|r| match r {
            Reference::StepOutput(id, _) => (0..plan.len()).find(|&i| plan.step_id(i) == id),
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
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
