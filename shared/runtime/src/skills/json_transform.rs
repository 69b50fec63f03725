//! `json_transform`: evaluates a JMESPath expression over JSON data.

use super::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use aos_core::{ErrorCode, StructuredOutcome};
use async_trait::async_trait;
use serde_json::{json, Value};

/// The `json_transform` skill (pure).
#[derive(Debug, Default)]
pub struct JsonTransformSkill;

fn transform(expression: &str, data: &Value) -> Result<Value, String> {
    let expr = jmespath::compile(expression).map_err(|e| format!("invalid expression: {e}"))?;
    let result = expr.search(data).map_err(|e| format!("evaluation failed: {e}"))?;
    serde_json::to_value(&*result).map_err(|e| e.to_string())
}

/// The declaration of `json_transform`.
pub(super) fn descriptor() -> SkillDescriptor {
    SkillDescriptor {
        name: "json_transform".to_owned(),
        version: "1.0.0".to_owned(),
        description: "Applies a JMESPath expression to `data` and returns the result.".to_owned(),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["expression", "data"],
            "properties": {
                "expression": {"type": "string", "minLength": 1, "maxLength": 4096},
                "data": {}
            }
        }),
        output_schema: json!({"type": "object", "required": ["result"], "properties": {"result": {}}}),
        idempotency: IdempotencyClass::Pure,
        timeout_ms: 5_000,
    }
}

#[async_trait]
impl Skill for JsonTransformSkill {
    fn descriptor(&self) -> SkillDescriptor {
        descriptor()
    }

    async fn execute(&self, _ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let expression = input["expression"].as_str().unwrap_or_default();
        match transform(expression, &input["data"]) {
            Ok(result) => StructuredOutcome::success(json!({ "result": result })),
            Err(message) => StructuredOutcome::failure(ErrorCode::JsonTransformFailed, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jmespath_projections_and_errors() {
        let data = json!({"items": [{"n": "a", "p": 3}, {"n": "b", "p": 9}]});
        assert_eq!(transform("items[?p > `5`].n", &data), Ok(json!(["b"])));
        assert_eq!(transform("max_by(items, &p).p", &data), Ok(json!(9)));
        assert!(transform("items[?", &data).is_err());
    }
}
