//! The Anthropic Messages API (`POST {base}/v1/messages`).

use super::{missing, post_json, LlmProvider, LlmRequest, LlmResponse, Usage};
use aos_core::{ErrorCode, StructuredOutcome};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;

/// API version header sent with every request.
const VERSION: &str = "2023-06-01";

/// The Anthropic Messages protocol.
pub struct Anthropic;

/// The request body: the system prompt as a text block marked `cache_control:
/// ephemeral` when prompt caching is asked for, so a planner's stable prefix is cached.
pub(crate) fn body(req: &LlmRequest) -> Value {
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens,
        "messages": req.messages,
    });
    if let Some(system) = &req.system {
        let mut block = json!({"type": "text", "text": system});
        if req.prompt_cache {
            block["cache_control"] = json!({"type": "ephemeral"});
        }
        body["system"] = json!([block]);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if !req.stop.is_empty() {
        body["stop_sequences"] = json!(req.stop);
    }
    body
}

pub(crate) fn parse(v: &Value) -> Result<LlmResponse, StructuredOutcome> {
    let blocks = v["content"].as_array().ok_or_else(|| missing("content"))?;
    let text: String = blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect();
    let u = &v["usage"];
    Ok(LlmResponse {
        text,
        model: v["model"].as_str().ok_or_else(|| missing("model"))?.to_owned(),
        finish_reason: v["stop_reason"].as_str().unwrap_or("unknown").to_owned(),
        usage: Usage {
            input_tokens: u["input_tokens"].as_u64().ok_or_else(|| missing("usage.input_tokens"))?,
            output_tokens: u["output_tokens"].as_u64().ok_or_else(|| missing("usage.output_tokens"))?,
            cache_read_tokens: u["cache_read_input_tokens"].as_u64().unwrap_or(0),
            cache_write_tokens: u["cache_creation_input_tokens"].as_u64().unwrap_or(0),
        },
    })
}

#[async_trait]
impl LlmProvider for Anthropic {
    async fn complete(
        &self,
        http: &crate::net::GuardedHttp,
        req: &LlmRequest,
        key: Option<&SecretString>,
        timeout: Duration,
        base_url: &str,
    ) -> Result<LlmResponse, StructuredOutcome> {
        let key =
            key.ok_or_else(|| StructuredOutcome::failure(ErrorCode::SecretNotFound, "the Anthropic API needs a key"))?;
        let url = format!("{}/v1/messages", base_url.trim_end_matches('/'));
        let headers = [("x-api-key", key.expose_secret().to_owned()), ("anthropic-version", VERSION.to_owned())];
        let answer = post_json(http, &url, &headers, &body(req), timeout).await?;
        if answer["type"] == "error" {
            return Err(StructuredOutcome::failure(ErrorCode::LlmApiError, "the provider answered an error object"));
        }
        parse(&answer)
    }
}
