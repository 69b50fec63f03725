//! `llm_invoke`: one completion from a configured provider (Anthropic Messages, OpenAI
//! Chat Completions and compatible servers), with the provider's key from the secrets
//! port, its cost from the price table, and AOS's response cache for deterministic
//! requests (temperature 0 or a seed): the tenant's store keeps the answer for the TTL,
//! so a repeat costs nothing and says how many tokens it saved.

use super::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use crate::llm::{charged_cents, provider_for, LlmConfig, LlmRequest, LlmResponse, Message};
use crate::net::{AddressPolicy, GuardedHttp, Lookup, SystemLookup};
use crate::ports::SecretStore;
use aos_core::determinism::content_hash;
use aos_core::{ErrorCode, StructuredOutcome};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Provider kinds by wire name (a map key).
type ProviderKindKey = &'static str;

fn kind_key(kind: crate::llm::ProviderKind) -> ProviderKindKey {
    match kind {
        crate::llm::ProviderKind::Anthropic => "anthropic",
        crate::llm::ProviderKind::OpenAi => "open_ai",
        crate::llm::ProviderKind::Bedrock => "bedrock",
    }
}

/// Key prefix of cached responses in the tenant's key-value store.
pub const CACHE_PREFIX: &str = "_aos/llm-cache/";

/// The `llm_invoke` skill.
pub struct LlmInvokeSkill {
    config: LlmConfig,
    extra: std::collections::BTreeMap<ProviderKindKey, Arc<dyn crate::llm::LlmProvider>>,
    secrets: Arc<dyn SecretStore>,
    policy: Arc<AddressPolicy>,
    http: GuardedHttp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    provider: String,
    model: String,
    #[serde(default)]
    system: Option<String>,
    messages: Vec<Message>,
    #[serde(default = "default_max_tokens")]
    max_tokens: u32,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    stop: Vec<String>,
    #[serde(default = "yes")]
    cache: bool,
    #[serde(default = "yes")]
    prompt_cache: bool,
}

fn default_max_tokens() -> u32 {
    1024
}

fn yes() -> bool {
    true
}

impl LlmInvokeSkill {
    /// The skill over `config`, reading keys from `secrets`, calling out under `policy`.
    pub fn new(config: LlmConfig, secrets: Arc<dyn SecretStore>, policy: Arc<AddressPolicy>) -> Self {
        Self {
            config,
            extra: std::collections::BTreeMap::new(),
            secrets,
            http: GuardedHttp::new(Arc::clone(&policy), Arc::new(SystemLookup), None),
            policy,
        }
    }

    /// Adds the implementation of a provider kind the runtime does not build in
    /// (Bedrock, from the AWS adapters).
    #[must_use]
    pub fn with_provider(mut self, kind: crate::llm::ProviderKind, provider: Arc<dyn crate::llm::LlmProvider>) -> Self {
        self.extra.insert(kind_key(kind), provider);
        self
    }

    /// Replaces name resolution (tests).
    #[must_use]
    pub fn with_lookup(mut self, lookup: Arc<dyn Lookup>) -> Self {
        self.http = GuardedHttp::new(Arc::clone(&self.policy), lookup, None);
        self
    }

    async fn invoke(&self, ctx: &SkillContext, input: Input) -> StructuredOutcome {
        let Some(provider) = self.config.providers.get(&input.provider) else {
            let known: Vec<&String> = self.config.providers.keys().collect();
            return StructuredOutcome::failure(
                ErrorCode::ValidationFailed,
                format!("unknown provider {:?}; configured providers: {known:?}", input.provider),
            );
        };
        let req = LlmRequest {
            model: input.model,
            system: input.system,
            messages: input.messages,
            max_tokens: input.max_tokens,
            temperature: input.temperature,
            seed: input.seed,
            stop: input.stop,
            prompt_cache: input.prompt_cache,
        };
        let cacheable = input.cache && req.is_deterministic();
        let key = content_hash(&json!({
            "provider": input.provider, "base_url": provider.base_url, "model": req.model, "system": req.system,
            "messages": req.messages, "max_tokens": req.max_tokens, "temperature": req.temperature,
            "seed": req.seed, "stop": req.stop,
        }));
        let cache_key = format!("{CACHE_PREFIX}{key}");
        let now = crate::clock::now_ms();
        if cacheable {
            if let Ok(Some(hit)) = ctx.kv.get(&ctx.tenant, &cache_key).await {
                if hit["expires_at_ms"].as_u64().is_some_and(|t| t > now) {
                    if let Ok(resp) = serde_json::from_value::<LlmResponse>(hit["response"].clone()) {
                        let saved = resp.usage.total();
                        return StructuredOutcome::success(output(
                            &resp,
                            0.0,
                            json!({
                                "hit": true, "key": key, "tokens_saved": saved,
                            }),
                        ));
                    }
                }
            }
        }
        let secret = match &provider.secret {
            None => None,
            Some(name) => match self.secrets.secret(name).await {
                Ok(Some(s)) => Some(s),
                Ok(None) => {
                    return StructuredOutcome::failure(
                        ErrorCode::SecretNotFound,
                        format!(
                            "provider {:?} needs the secret {name:?}: set AOS_SECRET_{name} (or <data-dir>/secrets.json) for aos dev, or create it in Secrets Manager under the stack's prefix",
                            input.provider
                        ),
                    )
                }
                Err(e) => return StructuredOutcome::failure(ErrorCode::Internal, format!("secrets: {e}")),
            },
        };
        let timeout = ctx.timeout;
        let Some(wire) = provider_for(provider.kind).or_else(|| self.extra.get(kind_key(provider.kind)).cloned())
        else {
            return StructuredOutcome::failure(
                ErrorCode::SkillDisabled,
                format!(
                    "provider {:?} needs the AWS adapters (Bedrock), which this process does not have",
                    input.provider
                ),
            );
        };
        let resp = match wire.complete(&self.http, &req, secret.as_ref(), timeout, &provider.base_url).await {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        let cost = self.config.cost(&resp.model, &resp.usage);
        if cacheable {
            let expires = now + u64::try_from(self.config.cache_ttl.as_millis()).unwrap_or(u64::MAX);
            let entry = json!({"response": resp, "expires_at_ms": expires});
            if let Err(e) = ctx.kv.put_expiring(&ctx.tenant, &cache_key, &entry, expires).await {
                tracing::warn!(error = %e, "could not store an LLM response in the cache");
            }
        }
        let cache = json!({"hit": false, "key": cacheable.then_some(key), "tokens_saved": 0});
        StructuredOutcome::success(output(&resp, cost, cache)).with_cost(charged_cents(cost, &resp.usage))
    }
}

fn output(resp: &LlmResponse, cost: f64, cache: Value) -> Value {
    let mut out = json!({
        "text": resp.text,
        "model": resp.model,
        "finish_reason": resp.finish_reason,
        "usage": resp.usage,
        "cost_cents_exact": cost,
    });
    out["cache"] = cache;
    out
}

/// The declaration of `llm_invoke`.
pub(super) fn descriptor() -> SkillDescriptor {
    SkillDescriptor {
        name: "llm_invoke".to_owned(),
        version: "1.0.0".to_owned(),
        description: "One completion from a configured LLM provider (Anthropic, OpenAI or an OpenAI-compatible server); deterministic requests are cached.".to_owned(),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["provider", "model", "messages"],
            "properties": {
                "provider": {"type": "string", "minLength": 1, "maxLength": 64},
                "model": {"type": "string", "minLength": 1, "maxLength": 200},
                "system": {"type": "string", "maxLength": 200000},
                "messages": {
                    "type": "array", "minItems": 1, "maxItems": 500,
                    "items": {
                        "type": "object", "additionalProperties": false, "required": ["role", "content"],
                        "properties": {"role": {"enum": ["user", "assistant"]}, "content": {"type": "string"}}
                    }
                },
                "max_tokens": {"type": "integer", "minimum": 1, "maximum": 64000},
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "seed": {"type": "integer", "minimum": 0},
                "stop": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
                "cache": {"type": "boolean"},
                "prompt_cache": {"type": "boolean"}
            }
        }),
        output_schema: json!({
            "type": "object",
            "required": ["text", "model", "usage", "cache"],
            "properties": {
                "text": {"type": "string"},
                "model": {"type": "string"},
                "finish_reason": {"type": "string"},
                "usage": {"type": "object"},
                "cost_cents_exact": {"type": "number"},
                "cache": {"type": "object"}
            }
        }),
        idempotency: IdempotencyClass::Idempotent,
        timeout_ms: 120_000,
    }
}

#[async_trait]
impl Skill for LlmInvokeSkill {
    fn descriptor(&self) -> SkillDescriptor {
        descriptor()
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        match serde_json::from_value::<Input>(input) {
            Ok(input) => self.invoke(ctx, input).await,
            Err(e) => StructuredOutcome::failure(ErrorCode::ValidationFailed, e.to_string()),
        }
    }

    fn breaker_target(&self, input: &Value) -> Option<String> {
        input["provider"].as_str().map(str::to_owned)
    }
}
