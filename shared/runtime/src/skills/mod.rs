//! The typed skill registry and the built-in skills.
//!
//! A skill declares its name, version, JSON Schemas for input and output, idempotency
//! class and timeout. The registry validates inputs before and outputs after every
//! execution and turns panics and timeouts into outcomes, so `execute` is total.

mod email_send;
pub(crate) mod http_call;
mod json_transform;
mod kv_store;
mod llm_invoke;
mod notify;
mod voyage_embed;

pub use email_send::{message as email_message, Email, EmailSendSkill, Mailer, SmtpMailer};
pub use http_call::{HttpCallConfig, HttpCallSkill};
pub use json_transform::JsonTransformSkill;
pub use kv_store::KvStoreSkill;
pub use llm_invoke::{LlmInvokeSkill, CACHE_PREFIX as LLM_CACHE_PREFIX};
pub use notify::{standard_webhook_signature, Outbound, SlackSendSkill, WebhookSendSkill};
pub use voyage_embed::{VoyageEmbedSkill, VOYAGE_URL};

use crate::ports::KvStore;
use aos_core::{ErrorCode, RunId, StructuredOutcome, TenantId};
use async_trait::async_trait;
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The registry every AOS process starts with: `http_call` (under `policy`),
/// `json_transform` and `kv_store`. Fails only if the HTTP client cannot be built.
pub fn default_registry(policy: crate::net::AddressPolicy) -> Result<SkillRegistry, DefaultRegistryError> {
    let mut registry = SkillRegistry::new();
    registry.register(Arc::new(HttpCallSkill::new(HttpCallConfig::new(policy))?))?;
    registry.register(Arc::new(JsonTransformSkill))?;
    registry.register(Arc::new(KvStoreSkill))?;
    Ok(registry)
}

/// What a step worker's skills need beyond the outbound policy.
pub struct WorkerSkills {
    /// Secrets (provider keys, signing keys, webhook URLs, SMTP password).
    pub secrets: Arc<dyn crate::ports::SecretStore>,
    /// LLM providers and prices.
    pub llm: crate::llm::LlmConfig,
    /// Bedrock, from the AWS adapters.
    pub bedrock: Option<Arc<dyn crate::llm::LlmProvider>>,
    /// Where `email_send` delivers (SMTP or SES); `None` refuses with a hint.
    pub mailer: Option<Arc<dyn Mailer>>,
}

impl WorkerSkills {
    /// Reads `AOS_LLM_*` and, when `AOS_SMTP_URL` is set, an SMTP mailer (password secret
    /// `AOS_SMTP_PASSWORD_SECRET`, default `SMTP_PASSWORD`); `mailer` is the fallback
    /// (SES on AWS).
    pub fn from_env(
        secrets: Arc<dyn crate::ports::SecretStore>,
        policy: &crate::net::AddressPolicy,
        bedrock: Option<Arc<dyn crate::llm::LlmProvider>>,
        mailer: Option<Arc<dyn Mailer>>,
    ) -> Result<Self, String> {
        let llm = crate::llm::LlmConfig::from_env().map_err(|e| e.to_string())?;
        let smtp = match std::env::var("AOS_SMTP_URL") {
            Ok(url) if !url.trim().is_empty() => {
                let secret = std::env::var("AOS_SMTP_PASSWORD_SECRET").unwrap_or_else(|_| "SMTP_PASSWORD".to_owned());
                let m = SmtpMailer::new(&url, Some(secret), Arc::clone(&secrets), Arc::new(policy.clone()))?;
                Some(Arc::new(m) as Arc<dyn Mailer>)
            }
            _ => None,
        };
        Ok(Self { secrets, llm, bedrock, mailer: smtp.or(mailer) })
    }
}

/// What a step worker runs: the default skills plus `llm_invoke`, `webhook_send`,
/// `slack_send`, `voyage_embed` and `email_send`, every outbound call under `policy`.
pub fn worker_registry(
    policy: crate::net::AddressPolicy,
    w: WorkerSkills,
) -> Result<SkillRegistry, DefaultRegistryError> {
    let shared = Arc::new(policy.clone());
    let mut registry = default_registry(policy)?;
    let outbound = Arc::new(Outbound::new(Arc::clone(&w.secrets), Arc::clone(&shared)));
    let mut skill = LlmInvokeSkill::new(w.llm, w.secrets, shared);
    if let Some(b) = w.bedrock {
        skill = skill.with_provider(crate::llm::ProviderKind::Bedrock, b);
    }
    registry.register(Arc::new(skill))?;
    registry.register(Arc::new(WebhookSendSkill(Arc::clone(&outbound))))?;
    registry.register(Arc::new(SlackSendSkill(Arc::clone(&outbound))))?;
    let base_url = std::env::var("AOS_VOYAGE_URL").unwrap_or_else(|_| VOYAGE_URL.to_owned());
    registry.register(Arc::new(VoyageEmbedSkill { outbound, base_url }))?;
    let default_from = std::env::var("AOS_EMAIL_FROM").ok().filter(|f| !f.trim().is_empty());
    registry.register(Arc::new(EmailSendSkill { mailer: w.mailer, default_from }))?;
    crate::agent::declare(&mut registry)?;
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_schema_compiles() {
        let registry = default_registry(crate::net::AddressPolicy::default()).expect("registry");
        registry.check_schemas().expect("schemas compile");
        assert_eq!(registry.descriptors().len(), 3);
    }

    #[test]
    fn the_declared_registry_declares_exactly_the_worker_skills() {
        struct NoSecrets;
        #[async_trait]
        impl crate::ports::SecretStore for NoSecrets {
            async fn secret(&self, _name: &str) -> crate::ports::StoreResult<Option<secrecy::SecretString>> {
                Ok(None)
            }
        }
        let skills = WorkerSkills {
            secrets: Arc::new(NoSecrets),
            llm: crate::llm::LlmConfig::default(),
            bedrock: None,
            mailer: None,
        };
        let full = worker_registry(crate::net::AddressPolicy::default(), skills).expect("registry");
        full.check_schemas().expect("schemas compile");
        let declared = declared_registry();
        let json = |r: &SkillRegistry| serde_json::to_value(r.descriptors()).expect("json");
        assert_eq!(json(&declared), json(&full));
        assert!(declared.validate_input("kv_store", &serde_json::json!({"op": "nope", "key": "k"})).is_err());
    }
}

/// The default registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DefaultRegistryError {
    /// The HTTP client of `http_call` failed to build (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// A built-in skill was refused (a bug).
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The built-in skills' declarations without their code: what an API process needs to
/// validate plans and list skills. Such a process never executes a skill (workers do), so
/// it does not link the HTTP client; executing a declared-only skill is refused.
pub fn declared_registry() -> SkillRegistry {
    let mut registry = SkillRegistry::new();
    for d in [
        http_call::descriptor(),
        json_transform::descriptor(),
        kv_store::descriptor(),
        llm_invoke::descriptor(),
        notify::webhook_descriptor(),
        notify::slack_descriptor(),
        voyage_embed::descriptor(),
        email_send::descriptor(),
    ]
    .into_iter()
    .chain(crate::agent::descriptors())
    {
        // Names are distinct, so registration cannot fail.
        let _ = registry.register(Arc::new(Declared(d)));
    }
    registry
}

/// A skill known by its declaration only: API processes validate against it; the agent
/// steps are declared this way in workers too, which run them themselves.
pub(crate) struct Declared(pub(crate) SkillDescriptor);

#[async_trait]
impl Skill for Declared {
    fn descriptor(&self) -> SkillDescriptor {
        self.0.clone()
    }

    async fn execute(&self, _ctx: &SkillContext, _input: Value) -> StructuredOutcome {
        StructuredOutcome::failure(
            ErrorCode::SkillDisabled,
            "this process only declares skills; step workers execute them",
        )
    }
}

/// What running a skill twice does, which decides how AOS recovers a step whose worker
/// died after the skill may have had its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdempotencyClass {
    /// No effect outside its output (e.g. `json_transform`): always safe to re-run.
    Pure,
    /// Re-running has the same effect as running once (e.g. `kv_store` put of a value).
    Idempotent,
    /// The skill sends a stable per-step `Idempotency-Key` so the target can drop the
    /// repeat (e.g. `http_call`). Re-run on recovery.
    Keyed,
    /// Running twice may double the effect. Never re-run after an interrupted attempt:
    /// the step fails with `ERR_EFFECT_UNCERTAIN` (at most once).
    NonIdempotent,
}

impl IdempotencyClass {
    /// Its wire name (`pure`, `idempotent`, `keyed`, `non_idempotent`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pure => "pure",
            Self::Idempotent => "idempotent",
            Self::Keyed => "keyed",
            Self::NonIdempotent => "non_idempotent",
        }
    }
}

/// The declaration of a skill, as listed by `GET /v1/skills`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkillDescriptor {
    /// Unique name used in plans.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// One line on what it does.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: Value,
    /// JSON Schema of the output.
    pub output_schema: Value,
    /// See [`IdempotencyClass`].
    pub idempotency: IdempotencyClass,
    /// Default per-attempt timeout in milliseconds.
    pub timeout_ms: u64,
}

/// What a skill knows about the step it runs in.
#[derive(Clone)]
pub struct SkillContext {
    /// Owner of the run.
    pub tenant: TenantId,
    /// The run.
    pub run_id: RunId,
    /// Step position.
    pub step_index: u32,
    /// Step id from the plan.
    pub step_id: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Deterministic seed of the step.
    pub seed: u64,
    /// Stable across attempts of the same step: `aos-<run id>-<step index>`.
    pub idempotency_key: String,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Tenant-scoped key-value storage.
    pub kv: Arc<dyn KvStore>,
    /// The tenants' secrets; a skill reads only `tenant`'s.
    pub secrets: Arc<dyn crate::ports::TenantSecrets>,
}

impl SkillContext {
    /// The value of the run's tenant's secret `name`; a missing one is the step's
    /// `ERR_SECRET_NOT_FOUND`.
    pub async fn tenant_secret(&self, name: &str) -> Result<secrecy::SecretString, StructuredOutcome> {
        match self.secrets.get(&self.tenant, name).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(crate::secrets::missing(name)),
            Err(e) => Err(StructuredOutcome::failure(ErrorCode::Internal, format!("secrets: {e}"))),
        }
    }
}

/// A skill. Implementations must not panic; if one does, the registry reports
/// `ERR_INTERNAL` instead of crashing the worker.
#[async_trait]
pub trait Skill: Send + Sync {
    /// The skill's declaration.
    fn descriptor(&self) -> SkillDescriptor;
    /// Runs the skill on an input that already passed the input schema.
    async fn execute(&self, ctx: &SkillContext, input: Value) -> StructuredOutcome;

    /// The upstream a call goes to, for its circuit breaker (`host:port`, a provider);
    /// `None` for skills that call nothing outside AOS.
    fn breaker_target(&self, _input: &Value) -> Option<String> {
        None
    }
}

/// `host:port` of a URL in a skill's input, the usual breaker target.
pub(crate) fn url_target(url: Option<&str>) -> Option<String> {
    let u = url::Url::parse(url?).ok()?;
    Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
}

struct Entry {
    descriptor: SkillDescriptor,
    // Compiled on first use: a Lambda that never validates pays nothing at cold start.
    input: OnceLock<Result<jsonschema::Validator, String>>,
    output: OnceLock<Result<jsonschema::Validator, String>>,
    skill: Arc<dyn Skill>,
}

impl Entry {
    fn validator(&self, output: bool) -> Result<&jsonschema::Validator, String> {
        let (cell, schema) = if output {
            (&self.output, &self.descriptor.output_schema)
        } else {
            (&self.input, &self.descriptor.input_schema)
        };
        cell.get_or_init(|| jsonschema::validator_for(schema).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| format!("skill {} declares an invalid schema: {e}", self.descriptor.name))
    }
}

/// A registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A skill with that name is already registered.
    #[error("skill {0:?} is already registered")]
    Duplicate(String),
    /// A declared schema is not a valid JSON Schema.
    #[error("skill {0:?} declares an invalid {1} schema: {2}")]
    BadSchema(String, &'static str, String),
}

/// The registered skills, by name.
#[derive(Default)]
pub struct SkillRegistry {
    entries: BTreeMap<String, Entry>,
}

/// The first violations of `value` against `v` (at most five), each with where it is
/// (`/field: …`, `(root): …`); `None` when it conforms.
pub fn schema_errors(v: &jsonschema::Validator, value: &Value) -> Option<String> {
    // The common case first: a valid value needs no error iterator.
    if v.is_valid(value) {
        return None;
    }
    let errors: Vec<String> = v
        .iter_errors(value)
        .take(5)
        .map(|e| {
            let path = e.instance_path.to_string();
            let at = if path.is_empty() { "(root)".to_owned() } else { path };
            format!("{at}: {e}")
        })
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

impl aos_core::workflow::SkillCatalog for SkillRegistry {
    fn check(&self, skill: &str, static_input: Option<&Value>) -> Result<(), String> {
        if self.descriptor(skill).is_none() {
            let known: Vec<&str> = self.each_descriptor().map(|d| d.name.as_str()).collect();
            return Err(format!("unknown skill {skill:?}; registered skills: {}", known.join(", ")));
        }
        match static_input {
            Some(input) => self.validate_input(skill, input).map_err(|e| format!("input of {skill}: {e}")),
            None => Ok(()),
        }
    }
}

impl SkillRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a skill. Fails on a duplicate name. Its schemas are compiled on first
    /// use; [`SkillRegistry::check_schemas`] compiles them all up front.
    pub fn register(&mut self, skill: Arc<dyn Skill>) -> Result<(), RegistryError> {
        let d = skill.descriptor();
        if self.entries.contains_key(&d.name) {
            return Err(RegistryError::Duplicate(d.name));
        }
        let entry = Entry { descriptor: d, input: OnceLock::new(), output: OnceLock::new(), skill };
        self.entries.insert(entry.descriptor.name.clone(), entry);
        Ok(())
    }

    /// Compiles every schema now; fails naming the first skill whose schema is invalid.
    pub fn check_schemas(&self) -> Result<(), RegistryError> {
        for e in self.entries.values() {
            for (output, which) in [(false, "input"), (true, "output")] {
                e.validator(output).map_err(|m| RegistryError::BadSchema(e.descriptor.name.clone(), which, m))?;
            }
        }
        Ok(())
    }

    /// Every descriptor, sorted by name.
    pub fn descriptors(&self) -> Vec<SkillDescriptor> {
        self.each_descriptor().cloned().collect()
    }

    /// Every registered skill's descriptor, in name order, without copying them.
    pub fn each_descriptor(&self) -> impl Iterator<Item = &SkillDescriptor> {
        self.entries.values().map(|e| &e.descriptor)
    }

    /// The descriptor of `name`, if registered.
    pub fn descriptor(&self, name: &str) -> Option<&SkillDescriptor> {
        self.entries.get(name).map(|e| &e.descriptor)
    }

    /// The breaker target of a call of `name` with `input` (see [`Skill::breaker_target`]).
    pub fn breaker_target(&self, name: &str, input: &Value) -> Option<String> {
        self.entries.get(name)?.skill.breaker_target(input)
    }

    /// Checks `input` against the skill's input schema. `Err` names each failing field.
    pub fn validate_input(&self, name: &str, input: &Value) -> Result<(), String> {
        let entry = self.entries.get(name).ok_or_else(|| format!("unknown skill {name:?}"))?;
        schema_errors(entry.validator(false)?, input).map_or(Ok(()), Err)
    }

    /// Runs `name` on `input`, total: unknown skill, invalid input, panic, timeout and an
    /// output that breaks the output schema all come back as failed outcomes. The
    /// outcome's duration is measured here.
    pub async fn execute(&self, name: &str, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let started = Instant::now();
        let mut outcome = self.execute_inner(name, ctx, input).await;
        outcome.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        outcome
    }

    async fn execute_inner(&self, name: &str, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let Some(entry) = self.entries.get(name) else {
            return StructuredOutcome::failure(ErrorCode::SkillNotFound, format!("unknown skill {name:?}"));
        };
        let validator = match entry.validator(false) {
            Ok(v) => v,
            Err(m) => return StructuredOutcome::failure(ErrorCode::Internal, m).with_retryable(false),
        };
        if let Some(errors) = schema_errors(validator, &input) {
            return StructuredOutcome::failure(
                ErrorCode::ValidationFailed,
                format!("input of {name} does not match its schema: {errors}"),
            );
        }
        // Run in this task (no spawn: a fast skill costs no thread hop); a panic is
        // caught and becomes an outcome instead of taking the worker down.
        let run = std::panic::AssertUnwindSafe(entry.skill.execute(ctx, input)).catch_unwind();
        let outcome = match tokio::time::timeout(ctx.timeout, run).await {
            Err(_) => {
                return StructuredOutcome::failure(
                    ErrorCode::Timeout,
                    format!("{name} did not finish within {} ms", ctx.timeout.as_millis()),
                )
            }
            Ok(Err(_panic)) => {
                tracing::error!(skill = name, "skill panicked");
                return StructuredOutcome::failure(ErrorCode::Internal, format!("{name} crashed; see the worker log"))
                    .with_retryable(false);
            }
            Ok(Ok(outcome)) => outcome,
        };
        if let Some(output) = outcome.output.as_ref().filter(|_| outcome.ok) {
            let errors = match entry.validator(true) {
                Ok(v) => schema_errors(v, output),
                Err(m) => Some(m),
            };
            if let Some(errors) = errors {
                return StructuredOutcome::failure(
                    ErrorCode::SchemaMismatch,
                    format!("output of {name} does not match its schema: {errors}"),
                )
                .with_cost(outcome.cost_cents);
            }
        }
        outcome
    }
}
