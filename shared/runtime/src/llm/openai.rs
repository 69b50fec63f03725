//! The OpenAI Chat Completions API (`POST {base}/chat/completions`): OpenAI itself and
//! the servers that speak it (Ollama, vLLM, llama.cpp).

use super::{missing, post_json, LlmProvider, LlmRequest, LlmResponse, Role, Usage};
use aos_core::StructuredOutcome;
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;

/// The Chat Completions protocol.
pub struct OpenAiCompatible;

/// The request body: the system prompt as the first message (OpenAI caches long stable
/// prefixes by itself), `seed` where given.
pub(crate) fn body(req: &LlmRequest) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(json!({"role": role, "content": m.content}));
    }
    let mut body = json!({"model": req.model, "messages": messages, "max_tokens": req.max_tokens});
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(seed) = req.seed {
        body["seed"] = json!(seed);
    }
    if !req.stop.is_empty() {
        body["stop"] = json!(req.stop);
    }
    body
}

pub(crate) fn parse(v: &Value) -> Result<LlmResponse, StructuredOutcome> {
    let choice = v["choices"].get(0).ok_or_else(|| missing("choices"))?;
    let u = &v["usage"];
    let cached = u["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
    let prompt = u["prompt_tokens"].as_u64().ok_or_else(|| missing("usage.prompt_tokens"))?;
    Ok(LlmResponse {
        text: choice["message"]["content"].as_str().ok_or_else(|| missing("choices[0].message.content"))?.to_owned(),
        model: v["model"].as_str().ok_or_else(|| missing("model"))?.to_owned(),
        finish_reason: choice["finish_reason"].as_str().unwrap_or("unknown").to_owned(),
        usage: Usage {
            input_tokens: prompt.saturating_sub(cached),
            output_tokens: u["completion_tokens"].as_u64().ok_or_else(|| missing("usage.completion_tokens"))?,
            cache_read_tokens: cached,
            cache_write_tokens: 0,
        },
    })
}

#[async_trait]
impl LlmProvider for OpenAiCompatible {
    async fn complete(
        &self,
        http: &crate::net::GuardedHttp,
        req: &LlmRequest,
        key: Option<&SecretString>,
        timeout: Duration,
        base_url: &str,
    ) -> Result<LlmResponse, StructuredOutcome> {
        let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        let headers: Vec<(&str, String)> =
            key.map(|k| ("authorization", format!("Bearer {}", k.expose_secret()))).into_iter().collect();
        let answer = post_json(http, &url, &headers, &body(req), timeout).await?;
        parse(&answer)
    }
}
