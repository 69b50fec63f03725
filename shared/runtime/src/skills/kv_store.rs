//! `kv_store`: tenant-scoped get / put / delete of JSON values.

use super::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use aos_core::{ErrorCode, StructuredOutcome};
use async_trait::async_trait;
use serde_json::{json, Value};

/// The `kv_store` skill. A put of the same value twice leaves the same state, so it is
/// idempotent; the store is always the run's tenant's.
#[derive(Debug, Default)]
pub struct KvStoreSkill;

/// The declaration of `kv_store`.
pub(super) fn descriptor() -> SkillDescriptor {
    SkillDescriptor {
        name: "kv_store".to_owned(),
        version: "1.0.0".to_owned(),
        description: "Gets, puts or deletes a JSON value under a key in the tenant's store.".to_owned(),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["op", "key"],
            "properties": {
                "op": {"type": "string", "enum": ["get", "put", "delete"]},
                "key": {"type": "string", "minLength": 1, "maxLength": 512},
                "value": {}
            },
            "if": {"properties": {"op": {"const": "put"}}},
            "then": {"required": ["value"]}
        }),
        output_schema: json!({
            "type": "object",
            "required": ["key", "found"],
            "properties": {"key": {"type": "string"}, "found": {"type": "boolean"}, "value": {}}
        }),
        idempotency: IdempotencyClass::Idempotent,
        timeout_ms: 5_000,
    }
}

#[async_trait]
impl Skill for KvStoreSkill {
    fn descriptor(&self) -> SkillDescriptor {
        descriptor()
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let key = input["key"].as_str().unwrap_or_default().to_owned();
        let result = match input["op"].as_str() {
            Some("get") => ctx.kv.get(&ctx.tenant, &key).await.map(|v| match v {
                Some(value) => json!({"key": key, "found": true, "value": value}),
                None => json!({"key": key, "found": false}),
            }),
            Some("put") => ctx
                .kv
                .put(&ctx.tenant, &key, &input["value"])
                .await
                .map(|()| json!({"key": key, "found": true, "value": input["value"]})),
            Some("delete") => ctx.kv.delete(&ctx.tenant, &key).await.map(|found| json!({"key": key, "found": found})),
            _ => return StructuredOutcome::failure(ErrorCode::ValidationFailed, "op must be get, put or delete"),
        };
        match result {
            Ok(output) => StructuredOutcome::success(output),
            Err(e) => {
                tracing::error!(error = %e, "kv_store failed");
                StructuredOutcome::failure(ErrorCode::Internal, "the key-value store is unavailable")
            }
        }
    }
}
