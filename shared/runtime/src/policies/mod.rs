//! Tenants' policy sets: applying a new version (compiled and validated first, so a set
//! that does not validate is never stored), reading the current and past versions, and
//! the gate's question — what the tenant's current policies say of one step.
//!
//! Warm workers keep each tenant's compiled set for [`CACHE_TTL`]: a step reads the
//! store only when its tenant's set is older than that (at most one read per tenant per
//! 10 s per process), and a version applied through the same service is seen at once.

use crate::ports::{PolicyStore, PolicyVersion, StoreError};
use crate::skills::SkillRegistry;
use aos_core::{ErrorCode, TenantId};
pub use aos_governance::{
    ApiFacts, Decision, DefaultDecision, Evaluation, Policies, PolicyError, StepFacts, Violation,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a process keeps a tenant's compiled policy set before reading it again.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// The plan policies see for tenants without one.
pub const DEFAULT_PLAN: &str = "default";
/// Largest policy text a tenant may apply (bytes).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A policy change or question that cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum PolicyServiceError {
    /// The text does not compile or validate; where and what to fix.
    #[error("the policies do not validate: {0}")]
    Invalid(PolicyError),
    /// A bad request; the message says what to fix.
    #[error("{0}")]
    Refused(String),
    /// Another change got there first.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PolicyServiceError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) | Self::Refused(_) => ErrorCode::ValidationFailed,
            Self::Conflict(_) => ErrorCode::IllegalTransition,
            Self::Store(_) => ErrorCode::Internal,
        }
    }
}

/// A new version of a tenant's policy set.
#[derive(Debug, Clone)]
pub struct ApplyPolicies {
    /// The Cedar text.
    pub text: String,
    /// Refuse a step no policy applies to.
    pub default_deny: bool,
    /// Let a policy that forbids everything in.
    pub allow_deny_all: bool,
    /// When given, the version this change was written against: a newer current version
    /// is a conflict instead of being replaced unseen.
    pub base_version: Option<u32>,
}

/// A tenant's policy set as the gate uses it.
#[derive(Debug)]
pub struct CurrentPolicies {
    /// Its version (0: the tenant never applied one, and the default allows).
    pub version: u32,
    /// The compiled set.
    pub policies: Policies,
}

struct Cached {
    at: Instant,
    current: Arc<CurrentPolicies>,
}

/// The policy use cases.
#[derive(Clone)]
pub struct PolicyService {
    store: Arc<dyn PolicyStore>,
    cache: Arc<Mutex<HashMap<TenantId, Cached>>>,
    ttl: Duration,
}

fn compile(text: &str, default_deny: bool, allow_deny_all: bool) -> Result<Policies, PolicyError> {
    let default = if default_deny { DefaultDecision::Deny } else { DefaultDecision::Allow };
    Policies::compile(text, default, allow_deny_all)
}

impl PolicyService {
    /// The service over `store`.
    pub fn new(store: Arc<dyn PolicyStore>) -> Self {
        Self { store, cache: Arc::default(), ttl: CACHE_TTL }
    }

    /// The same service keeping compiled sets for `ttl` (tests use zero).
    #[must_use]
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Checks and stores `req` as the tenant's next version. A retry of a change whose
    /// answer was lost finds it stored and gets it back.
    pub async fn apply(
        &self,
        tenant: &TenantId,
        req: &ApplyPolicies,
        by: &aos_core::audit::Actor,
        now_ms: u64,
    ) -> Result<PolicyVersion, PolicyServiceError> {
        let actor = by.key_id.as_deref().unwrap_or("aos");
        if req.text.len() > MAX_TEXT_BYTES {
            return Err(PolicyServiceError::Refused(format!(
                "the policy text is {} bytes; at most {MAX_TEXT_BYTES} are accepted",
                req.text.len()
            )));
        }
        let compiled = compile(&req.text, req.default_deny, req.allow_deny_all).map_err(PolicyServiceError::Invalid)?;
        let same = |v: &PolicyVersion| {
            v.text == req.text
                && v.default_deny == req.default_deny
                && v.allow_deny_all == req.allow_deny_all
                && v.created_by == actor
        };
        let stale = |number: u32| {
            PolicyServiceError::Conflict(format!(
                "the current policy version is {number}, not {}: read it (GET /v1/policies) and apply again on top of it",
                req.base_version.unwrap_or_default()
            ))
        };
        for _ in 0..3 {
            let current = self.store.current(tenant).await?;
            let number = current.as_ref().map_or(0, |c| c.version);
            if let Some(base) = req.base_version {
                match current {
                    // A retry of this very change, which was stored.
                    Some(c) if c.version == base + 1 && same(&c) => return Ok(c),
                    _ if number != base => return Err(stale(number)),
                    _ => {}
                }
            }
            let version = PolicyVersion {
                tenant: tenant.clone(),
                version: number + 1,
                text: req.text.clone(),
                default_deny: req.default_deny,
                allow_deny_all: req.allow_deny_all,
                policies: u32::try_from(compiled.len()).unwrap_or(u32::MAX),
                created_by: actor.to_owned(),
                created_at_ms: now_ms,
            };
            let event =
                aos_core::audit::AuditEvent::new(tenant, by.clone(), "policy.apply", "policies", "applied", now_ms)
                    .because(vec![format!("version {} with {} policies", version.version, version.policies)])
                    .with_details(serde_json::json!({
                        "version": version.version,
                        "policies": version.policies,
                        "default_deny": version.default_deny,
                        "allow_deny_all": version.allow_deny_all,
                        "text_hash": aos_core::determinism::sha256_hex(version.text.as_bytes()),
                    }));
            match self.store.put_version(&version, &[event]).await {
                Ok(()) => {
                    self.remember(tenant, version.version, compiled);
                    return Ok(version);
                }
                // Ours, whose answer was lost and which the store's retry found there, or
                // a rival's: the next round tells them apart.
                Err(StoreError::Conflict(_)) => {
                    if let Some(stored) = self.store.current(tenant).await?.filter(|c| c.version == version.version) {
                        if same(&stored) {
                            self.remember(tenant, stored.version, compiled);
                            return Ok(stored);
                        }
                        if req.base_version.is_some() {
                            return Err(stale(stored.version));
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(PolicyServiceError::Conflict(
            "the policies kept changing while this change was applied; try again".to_owned(),
        ))
    }

    fn remember(&self, tenant: &TenantId, version: u32, policies: Policies) {
        let current = Arc::new(CurrentPolicies { version, policies });
        self.cache.lock().expect("policy cache").insert(tenant.clone(), Cached { at: Instant::now(), current });
    }

    /// The tenant's current version, if any.
    pub async fn current(&self, tenant: &TenantId) -> Result<Option<PolicyVersion>, PolicyServiceError> {
        Ok(self.store.current(tenant).await?)
    }

    /// Up to `limit` versions, newest first, older than `before` when given.
    pub async fn versions(
        &self,
        tenant: &TenantId,
        before: Option<u32>,
        limit: u32,
    ) -> Result<Vec<PolicyVersion>, PolicyServiceError> {
        Ok(self.store.versions(tenant, before, limit).await?)
    }

    /// The tenant's compiled current set, from the cache while it is fresh. A stored
    /// version that no longer compiles (the schema changed under it) refuses every step
    /// rather than letting everything through.
    pub async fn compiled(&self, tenant: &TenantId) -> Result<Arc<CurrentPolicies>, StoreError> {
        if let Some(c) = self.cache.lock().expect("policy cache").get(tenant) {
            if c.at.elapsed() < self.ttl {
                return Ok(Arc::clone(&c.current));
            }
        }
        let current = match self.store.current(tenant).await? {
            None => CurrentPolicies { version: 0, policies: compile("", false, false).expect("no policies compile") },
            Some(v) => {
                let policies = compile(&v.text, v.default_deny, v.allow_deny_all).unwrap_or_else(|e| {
                    tracing::error!(tenant = %tenant, version = v.version, error = %e, "stored policies no longer compile; every step is refused");
                    compile("@id(\"stored-policies-invalid\") forbid(principal, action, resource);", false, true)
                        .expect("the refuse-all set compiles")
                });
                CurrentPolicies { version: v.version, policies }
            }
        };
        let current = Arc::new(current);
        self.cache
            .lock()
            .expect("policy cache")
            .insert(tenant.clone(), Cached { at: Instant::now(), current: Arc::clone(&current) });
        Ok(current)
    }

    /// A dry run: what the tenant's current policies (or `text`, not stored) say of `facts`.
    pub async fn evaluate(
        &self,
        tenant: &TenantId,
        facts: &StepFacts,
        text: Option<(&str, bool)>,
    ) -> Result<(Evaluation, Option<u32>), PolicyServiceError> {
        match text {
            Some((text, default_deny)) => {
                let set = compile(text, default_deny, true).map_err(PolicyServiceError::Invalid)?;
                Ok((set.evaluate(facts), None))
            }
            None => {
                let current = self.compiled(tenant).await?;
                Ok((current.policies.evaluate(facts), Some(current.version)))
            }
        }
    }

    /// A dry run of an API request: what the tenant's current policies (or `text`, not
    /// stored) say of `facts`.
    pub async fn evaluate_api(
        &self,
        tenant: &TenantId,
        facts: &ApiFacts,
        text: Option<&str>,
    ) -> Result<(Evaluation, Option<u32>), PolicyServiceError> {
        match text {
            Some(text) => {
                let set = compile(text, false, true).map_err(PolicyServiceError::Invalid)?;
                Ok((set.evaluate_api(facts), None))
            }
            None => {
                let current = self.compiled(tenant).await?;
                Ok((current.policies.evaluate_api(facts), Some(current.version)))
            }
        }
    }
}

/// What the policies about API operations are told of `operation` (at `method`, `path`)
/// called now by key `key_id` of `tenant` holding `grant`, under the default plan.
pub fn api_facts(
    tenant: &TenantId,
    key_id: &str,
    grant: &aos_core::roles::Grant,
    operation: &str,
    (method, path): (&str, &str),
) -> ApiFacts {
    ApiFacts {
        tenant: tenant.to_string(),
        key_id: key_id.to_owned(),
        role: grant.role.as_str().to_owned(),
        approval_level: grant.approval_level(),
        permissions: grant.permissions().into_iter().map(|x| x.as_str().to_owned()).collect(),
        operation: operation.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        now_ms: crate::clock::now_ms(),
        plan: DEFAULT_PLAN.to_owned(),
    }
}

/// The kind of a step, as policies see it (`context.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// A step of a submitted plan.
    PlanStep,
    /// A workflow node's run.
    WorkflowNode,
    /// A workflow's compensation.
    Compensation,
    /// A step an agent's planner decided.
    PlannerStep,
    /// A step of a run an agent started (`agent_spawn`, `agent_invoke`).
    ChildRun,
}

impl StepKind {
    /// Every kind.
    pub const ALL: [StepKind; 5] =
        [Self::PlanStep, Self::WorkflowNode, Self::Compensation, Self::PlannerStep, Self::ChildRun];

    /// Its name in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlanStep => "plan_step",
            Self::WorkflowNode => "workflow_node",
            Self::Compensation => "compensation",
            Self::PlannerStep => "planner_step",
            Self::ChildRun => "child_run",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a step is, for its facts.
#[derive(Debug, Clone)]
pub struct StepSubject<'a> {
    /// The run's tenant.
    pub tenant: &'a TenantId,
    /// The run.
    pub run_id: &'a str,
    /// The skill called.
    pub skill: &'a str,
    /// Its resolved input.
    pub input: &'a serde_json::Value,
    /// What kind of step it is.
    pub kind: StepKind,
    /// 0 for a top-level run.
    pub depth: u32,
    /// Whether the run is an agent's.
    pub agent: bool,
    /// The workflow ("" when none).
    pub workflow: &'a str,
    /// Spent by the run so far and this step's estimate, cents.
    pub spent_cents: i64,
    /// This step's estimate, cents.
    pub estimated_cents: i64,
    /// The tenant's plan.
    pub plan: &'a str,
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// The facts policies judge a step by; its outbound target is read from the input's
/// `url` (the skills that call out take one). `None`: the skill is not registered.
pub fn step_facts(skills: &SkillRegistry, s: &StepSubject<'_>) -> Option<StepFacts> {
    let descriptor = skills.descriptor(s.skill)?;
    let target = s.input.get("url").and_then(|u| u.as_str()).and_then(|u| url::Url::parse(u).ok());
    let host = target.as_ref().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let port = target.as_ref().and_then(url::Url::port_or_known_default).unwrap_or(0);
    Some(StepFacts {
        tenant: s.tenant.as_str().to_owned(),
        run_id: s.run_id.to_owned(),
        depth: s.depth,
        agent: s.agent,
        workflow: s.workflow.to_owned(),
        skill: s.skill.to_owned(),
        idempotency: descriptor.idempotency.as_str().to_owned(),
        kind: s.kind.as_str().to_owned(),
        host,
        port,
        input: s.input.clone(),
        spent_cents: s.spent_cents,
        estimated_cents: s.estimated_cents,
        now_ms: s.now_ms,
        plan: s.plan.to_owned(),
    })
}
