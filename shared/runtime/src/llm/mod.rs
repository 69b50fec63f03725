//! LLM providers behind one trait, their configuration (endpoints, secret names, a price
//! table), and the wire-independent request and response.
//!
//! Keys come from the secrets port, never from a step's input; prompts and keys are never
//! logged.

mod anthropic;
mod openai;

use crate::net::GuardedHttp;
use crate::skills::http_call::{send_outcome, transport_outcome};
use aos_core::{ErrorCode, StructuredOutcome};
use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use anthropic::Anthropic;
pub use openai::OpenAiCompatible;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The user (or the agent loop).
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

/// A completion request, the same for every provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    /// Provider's model id.
    pub model: String,
    /// System prompt (the stable prefix a planner repeats: cached where the provider can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature; the provider's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Sampling seed, where the provider takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Ask the provider to cache the system prompt (Anthropic `cache_control`).
    #[serde(default)]
    pub prompt_cache: bool,
}

impl LlmRequest {
    /// Whether the same request gives the same answer (temperature 0 or a seed): only
    /// such requests are served from AOS's response cache.
    pub fn is_deterministic(&self) -> bool {
        self.temperature == Some(0.0) || self.seed.is_some()
    }
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens billed at the input price (cache reads and writes excluded).
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
}

impl Usage {
    /// Every token of the call.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

/// A completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmResponse {
    /// The generated text.
    pub text: String,
    /// The model that answered (as the provider names it).
    pub model: String,
    /// Why generation stopped (`stop`, `max_tokens`, …, as the provider says).
    pub finish_reason: String,
    /// Token counts.
    pub usage: Usage,
}

/// A provider's wire protocol.
#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// Sends `req`; failures come back as failed outcomes with AOS error codes
    /// (`ERR_LLM_RATE_LIMIT` with `retry_after_ms`, `ERR_HTTP_400`, …).
    async fn complete(
        &self,
        http: &GuardedHttp,
        req: &LlmRequest,
        key: Option<&SecretString>,
        timeout: Duration,
        base_url: &str,
    ) -> Result<LlmResponse, StructuredOutcome>;
}

/// Wire protocol of a configured provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The Anthropic Messages API.
    Anthropic,
    /// The OpenAI Chat Completions API (OpenAI, Ollama, vLLM, llama.cpp servers).
    OpenAi,
    /// Amazon Bedrock Converse (AWS credentials; `base_url` empty for the region's
    /// endpoint). Provided by the AWS adapters.
    Bedrock,
}

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// Its protocol.
    pub kind: ProviderKind,
    /// Base URL (`https://api.anthropic.com`, `https://api.openai.com/v1`,
    /// `http://127.0.0.1:11434/v1` for Ollama, …).
    pub base_url: String,
    /// Name of the secret holding its key; `None` for servers that need none.
    pub secret: Option<String>,
}

impl ProviderConfig {
    /// A provider of `kind` at `base_url`, its key in the secret named `secret` (if any).
    pub fn at(kind: ProviderKind, base_url: impl Into<String>, secret: Option<&str>) -> Self {
        Self { kind, base_url: base_url.into(), secret: secret.map(str::to_owned) }
    }
}

/// Price of a model, in cents per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
}

/// LLM settings: providers by name, prices by model (longest matching prefix wins;
/// `default` otherwise), the response cache's TTL.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Providers by the name steps use.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Prices by model id prefix.
    pub prices: BTreeMap<String, Price>,
    /// How long a cached deterministic response is served.
    pub cache_ttl: Duration,
}

impl Default for LlmConfig {
    fn default() -> Self {
        let providers = [
            (
                "anthropic",
                ProviderConfig::at(ProviderKind::Anthropic, "https://api.anthropic.com", Some("ANTHROPIC_API_KEY")),
            ),
            ("openai", ProviderConfig::at(ProviderKind::OpenAi, "https://api.openai.com/v1", Some("OPENAI_API_KEY"))),
            ("bedrock", ProviderConfig::at(ProviderKind::Bedrock, "", None)),
            ("local", ProviderConfig::at(ProviderKind::OpenAi, "http://127.0.0.1:11434/v1", None)),
        ]
        .into_iter()
        .map(|(name, p)| (name.to_owned(), p))
        .collect();
        let price = |input: f64, output: f64| Price { input, output };
        let prices = [
            ("claude-opus-4", price(1500.0, 7500.0)),
            ("claude-sonnet-4", price(300.0, 1500.0)),
            ("claude-3-5-haiku", price(80.0, 400.0)),
            ("claude-3-5-sonnet", price(300.0, 1500.0)),
            ("gpt-4o-mini", price(15.0, 60.0)),
            ("anthropic.claude-3-5-sonnet", price(300.0, 1500.0)),
            ("anthropic.claude-3-5-haiku", price(80.0, 400.0)),
            ("gpt-4o", price(250.0, 1000.0)),
            ("default", price(300.0, 1500.0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self { providers, prices, cache_ttl: Duration::from_secs(3600) }
    }
}

/// Settings could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LlmConfigError(String);

impl LlmConfig {
    /// Defaults, then the environment: `AOS_LLM_<NAME>_URL` moves a provider
    /// (`AOS_LLM_LOCAL_URL=http://127.0.0.1:8000/v1` for a vLLM server),
    /// `AOS_LLM_PROVIDERS` (JSON `{name: {kind, base_url, secret}}`) adds or replaces
    /// providers, `AOS_LLM_PRICES` (JSON `{model_prefix: {input, output}}`, cents per
    /// million tokens) adds prices, `AOS_LLM_CACHE_TTL_S` sets the cache TTL.
    pub fn from_env() -> Result<Self, LlmConfigError> {
        let mut config = Self::default();
        for (name, provider) in &mut config.providers {
            if let Ok(url) = std::env::var(format!("AOS_LLM_{}_URL", name.to_ascii_uppercase())) {
                provider.base_url = url;
            }
        }
        if let Ok(raw) = std::env::var("AOS_LLM_PROVIDERS") {
            let extra: BTreeMap<String, ProviderConfig> =
                serde_json::from_str(&raw).map_err(|e| LlmConfigError(format!("AOS_LLM_PROVIDERS: {e}")))?;
            config.providers.extend(extra);
        }
        if let Ok(raw) = std::env::var("AOS_LLM_PRICES") {
            let extra: BTreeMap<String, Price> =
                serde_json::from_str(&raw).map_err(|e| LlmConfigError(format!("AOS_LLM_PRICES: {e}")))?;
            config.prices.extend(extra);
        }
        if let Ok(raw) = std::env::var("AOS_LLM_CACHE_TTL_S") {
            let s: u64 = raw.parse().map_err(|_| LlmConfigError("AOS_LLM_CACHE_TTL_S must be seconds".to_owned()))?;
            config.cache_ttl = Duration::from_secs(s);
        }
        Ok(config)
    }

    /// The price of `model`: the longest configured prefix, else `default`.
    pub fn price(&self, model: &str) -> Price {
        self.prices
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .or_else(|| self.prices.get_key_value("default"))
            .map_or(Price { input: 300.0, output: 1500.0 }, |(_, p)| *p)
    }

    /// Cost of a call in cents (fractional): cache reads at a tenth of the input price,
    /// cache writes at 1.25 times it.
    pub fn cost(&self, model: &str, usage: &Usage) -> f64 {
        let p = self.price(model);
        (usage.input_tokens as f64 * p.input
            + usage.output_tokens as f64 * p.output
            + usage.cache_read_tokens as f64 * p.input * 0.1
            + usage.cache_write_tokens as f64 * p.input * 1.25)
            / 1_000_000.0
    }
}

/// Whole cents charged for a call: rounded up, at least one cent if any token was used.
pub fn charged_cents(cost: f64, usage: &Usage) -> u64 {
    if usage.total() == 0 {
        0
    } else {
        (cost.ceil() as u64).max(1)
    }
}

/// The protocol implementation of a provider kind built into the runtime (Bedrock comes
/// from the AWS adapters).
pub fn provider_for(kind: ProviderKind) -> Option<Arc<dyn LlmProvider>> {
    match kind {
        ProviderKind::Anthropic => Some(Arc::new(Anthropic)),
        ProviderKind::OpenAi => Some(Arc::new(OpenAiCompatible)),
        ProviderKind::Bedrock => None,
    }
}

/// Posts JSON and maps transport and HTTP failures to outcomes with AOS codes.
pub async fn post_json(
    http: &GuardedHttp,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
    timeout: Duration,
) -> Result<Value, StructuredOutcome> {
    let parsed = url::Url::parse(url)
        .map_err(|e| StructuredOutcome::failure(ErrorCode::InvalidUrl, format!("provider url {url:?}: {e}")))?;
    let mut req =
        http.request(reqwest::Method::POST, parsed).map_err(|e| send_outcome(&e))?.timeout(timeout).json(body);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = http.send(req).await.map_err(|e| send_outcome(&e))?;
    let status = resp.status().as_u16();
    let retry_after_ms = resp
        .headers()
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or_else(|| {
            resp.headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|s| (s * 1000.0) as u64)
        });
    let text = resp.text().await.map_err(|e| transport_outcome(&e))?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&text).map_err(|e| {
            StructuredOutcome::failure(ErrorCode::LlmInvalidResponse, format!("the provider answered non-JSON: {e}"))
        });
    }
    // The provider's own message says what is wrong; it never contains the prompt or key.
    let message: String = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(300).collect());
    let code = match status {
        429 => ErrorCode::LlmRateLimit,
        400 | 413 if message.to_ascii_lowercase().contains("context") => ErrorCode::LlmContextLength,
        400 | 422 => ErrorCode::Http400,
        401 => ErrorCode::Http401,
        403 => ErrorCode::Http403,
        404 => ErrorCode::Http404,
        408 | 500..=599 => ErrorCode::LlmApiError,
        _ => ErrorCode::Http4xx,
    };
    Err(StructuredOutcome::failure(code, format!("the provider answered {status}: {message}"))
        .with_details(json!({"upstream_status": status, "retry_after_ms": retry_after_ms})))
}

/// Parses a provider's answer, refusing shapes that are not a completion.
pub fn missing(field: &str) -> StructuredOutcome {
    StructuredOutcome::failure(ErrorCode::LlmInvalidResponse, format!("the provider's answer has no {field}"))
}
