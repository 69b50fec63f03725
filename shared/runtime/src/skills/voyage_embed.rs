//! `voyage_embed`: embeddings from the Voyage AI API (`POST {base}/v1/embeddings`), the
//! key from the secrets port (`VOYAGE_API_KEY`), through the SSRF guard.

use super::notify::Outbound;
use super::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use crate::llm::{missing, post_json};
use aos_core::{ErrorCode, StructuredOutcome};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};

/// Default endpoint.
pub const VOYAGE_URL: &str = "https://api.voyageai.com";

/// The `voyage_embed` skill.
pub struct VoyageEmbedSkill {
    /// Secrets, policy and client.
    pub outbound: std::sync::Arc<Outbound>,
    /// Base URL (`AOS_VOYAGE_URL`, default the public API).
    pub base_url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    input: Value,
    #[serde(default = "default_model")]
    model: String,
    #[serde(default)]
    input_type: Option<String>,
    #[serde(default = "default_secret")]
    secret: String,
}

fn default_model() -> String {
    "voyage-3".to_owned()
}

fn default_secret() -> String {
    "VOYAGE_API_KEY".to_owned()
}

pub(super) fn descriptor() -> SkillDescriptor {
    SkillDescriptor {
        name: "voyage_embed".to_owned(),
        version: "1.0.0".to_owned(),
        description: "Embeds one text or a list of texts with a Voyage AI model.".to_owned(),
        input_schema: json!({
            "type": "object", "additionalProperties": false, "required": ["input"],
            "properties": {
                "input": {"oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "string", "minLength": 1}}
                ]},
                "model": {"type": "string", "minLength": 1, "maxLength": 100},
                "input_type": {"enum": ["query", "document"]},
                "secret": {"type": "string", "minLength": 1, "maxLength": 200}
            }
        }),
        output_schema: json!({"type": "object", "required": ["embeddings", "model", "dimensions"], "properties": {
            "embeddings": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "model": {"type": "string"}, "dimensions": {"type": "integer"}, "usage": {"type": "object"}
        }}),
        idempotency: IdempotencyClass::Pure,
        timeout_ms: 60_000,
    }
}

#[async_trait]
impl Skill for VoyageEmbedSkill {
    fn descriptor(&self) -> SkillDescriptor {
        descriptor()
    }

    fn breaker_target(&self, _input: &Value) -> Option<String> {
        Some("voyage".to_owned())
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let input: Input = match serde_json::from_value(input) {
            Ok(i) => i,
            Err(e) => return StructuredOutcome::failure(ErrorCode::ValidationFailed, e.to_string()),
        };
        let key = match self.outbound.secret(&input.secret, "voyage_embed").await {
            Ok(k) => k,
            Err(o) => return o,
        };
        let mut body = json!({"input": input.input, "model": input.model});
        if let Some(t) = &input.input_type {
            body["input_type"] = json!(t);
        }
        let url = format!("{}/v1/embeddings", self.base_url.trim_end_matches('/'));
        let headers = [("authorization", format!("Bearer {}", key.expose_secret()))];
        let answer = match post_json(self.outbound.http(), &url, &headers, &body, ctx.timeout).await {
            Ok(a) => a,
            Err(o) => return o,
        };
        let Some(data) = answer["data"].as_array() else { return missing("data") };
        let mut rows: Vec<(u64, Value)> =
            data.iter().map(|d| (d["index"].as_u64().unwrap_or(0), d["embedding"].clone())).collect();
        rows.sort_by_key(|(i, _)| *i);
        let embeddings: Vec<Value> = rows.into_iter().map(|(_, e)| e).collect();
        if embeddings.iter().any(|e| !e.is_array()) {
            return missing("data[].embedding");
        }
        let dimensions = embeddings.first().and_then(Value::as_array).map_or(0, Vec::len);
        StructuredOutcome::success(json!({
            "embeddings": embeddings,
            "model": answer["model"].as_str().unwrap_or(&input.model),
            "dimensions": dimensions,
            "usage": answer["usage"],
        }))
    }
}
