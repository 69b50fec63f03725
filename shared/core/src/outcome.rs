//! `StructuredOutcome`: what every skill execution returns. A skill never panics or
//! throws to the step loop; it answers ok with an output, or an error with a stable
//! code, and always reports its cost and duration.

use crate::error_code::{ErrorCategory, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The error half of an outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomeError {
    /// Stable code from the AOS taxonomy.
    pub code: ErrorCode,
    /// Category of the code (redundant with `code`, kept on the wire for readers).
    pub category: ErrorCategory,
    /// Whether the step loop may try again.
    pub retryable: bool,
    /// Human-readable explanation; not part of any hash.
    pub message: String,
    /// Structured hints such as `upstream_status` or `retry_after_ms`; not hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// The result of one skill execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StructuredOutcome {
    /// True when the skill succeeded and `output` is set.
    pub ok: bool,
    /// The skill's output when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The failure when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OutcomeError>,
    /// Cost charged for this execution, in cents.
    pub cost_cents: u64,
    /// Wall-clock duration; not part of any hash.
    pub duration_ms: u64,
}

impl StructuredOutcome {
    /// A successful outcome with `output`.
    pub fn success(output: Value) -> Self {
        Self { ok: true, output: Some(output), error: None, cost_cents: 0, duration_ms: 0 }
    }

    /// A failed outcome with the code's default retryability.
    pub fn failure(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            ok: false,
            output: None,
            error: Some(OutcomeError {
                code,
                category: code.category(),
                retryable: code.retryable(),
                message: message.into(),
                details: None,
            }),
            cost_cents: 0,
            duration_ms: 0,
        }
    }

    /// Adds structured details to a failure (no effect on a success).
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        if let Some(e) = self.error.as_mut() {
            e.details = Some(details);
        }
        self
    }

    /// Overrides the retry flag of a failure (no effect on a success).
    #[must_use]
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        if let Some(e) = self.error.as_mut() {
            e.retryable = retryable;
        }
        self
    }

    /// Sets the cost in cents.
    #[must_use]
    pub fn with_cost(mut self, cents: u64) -> Self {
        self.cost_cents = cents;
        self
    }

    /// The error code, if this is a failure.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error.as_ref().map(|e| e.code)
    }

    /// Whether the step loop may retry this outcome.
    pub fn is_retryable(&self) -> bool {
        self.error.as_ref().is_some_and(|e| e.retryable)
    }

    /// Hash over what the step produced: ok, output or error code/category/retryable,
    /// and cost. Messages, details and durations are excluded, so two executions that
    /// produced the same thing hash the same.
    pub fn content_hash(&self) -> String {
        self.canonical().hash()
    }

    /// The canonical JSON the hash covers, written field by field (the output is not
    /// cloned into an object): `{cost_cents, ok: true, output}` for a success,
    /// `{category, code, cost_cents, ok: false, retryable}` for a failure.
    fn canonical(&self) -> crate::determinism::CanonicalObject {
        let object = crate::determinism::CanonicalObject::new();
        match &self.error {
            None => object
                .scalar("cost_cents", &self.cost_cents)
                .scalar("ok", &true)
                .value("output", self.output.as_ref().unwrap_or(&Value::Null)),
            Some(e) => object
                .scalar("category", &e.category)
                .scalar("code", &e.code)
                .scalar("cost_cents", &self.cost_cents)
                .scalar("ok", &false)
                .scalar("retryable", &e.retryable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcome_hash_ignores_messages_and_durations() {
        let mut a = StructuredOutcome::failure(ErrorCode::Http503, "first message");
        a.duration_ms = 5;
        let mut b = StructuredOutcome::failure(ErrorCode::Http503, "another message");
        b.duration_ms = 900;
        assert_eq!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), StructuredOutcome::failure(ErrorCode::Http502, "x").content_hash());
        let ok = StructuredOutcome::success(json!({"n": 1}));
        assert_ne!(ok.content_hash(), StructuredOutcome::success(json!({"n": 2})).content_hash());
    }

    /// The hash is written field by field: its bytes are the canonical JSON of the object
    /// form it always hashed, for a success (with and without output) and a failure.
    #[test]
    fn an_outcome_hashes_as_the_canonical_json_of_its_object_form() {
        use crate::determinism::{canonical_json, content_hash};
        let object = |o: &StructuredOutcome| match &o.error {
            None => json!({"ok": true, "output": o.output, "cost_cents": o.cost_cents}),
            Some(e) => json!({"ok": false, "code": e.code, "category": e.category, "retryable": e.retryable,
                              "cost_cents": o.cost_cents}),
        };
        let mut paid = StructuredOutcome::success(json!({"z": [1, {"b": "\"", "a": null}], "a": 1.5}));
        paid.cost_cents = 42;
        let bare = StructuredOutcome { output: None, ..StructuredOutcome::success(Value::Null) };
        let failed = StructuredOutcome::failure(ErrorCode::BudgetExceeded, "over").with_retryable(false);
        for o in [&paid, &bare, &failed] {
            let text = String::from_utf8(o.canonical().finish()).expect("utf-8");
            assert_eq!(text, canonical_json(&object(o)));
            assert_eq!(o.content_hash(), content_hash(&object(o)));
        }
        assert_eq!(
            String::from_utf8(failed.canonical().finish()).expect("utf-8"),
            r#"{"category":"policy","code":"ERR_BUDGET_EXCEEDED","cost_cents":0,"ok":false,"retryable":false}"#
        );
        assert_eq!(
            String::from_utf8(paid.canonical().finish()).expect("utf-8"),
            r#"{"cost_cents":42,"ok":true,"output":{"a":1.5,"z":[1,{"a":null,"b":"\""}]}}"#
        );
    }

    #[test]
    fn failures_carry_category_and_default_retryability() {
        let o = StructuredOutcome::failure(ErrorCode::HttpTimeout, "slow");
        let e = o.error.as_ref().expect("failure");
        assert_eq!(e.category, ErrorCategory::Transient);
        assert!(o.is_retryable());
        assert!(!o.clone().with_retryable(false).is_retryable());
        let wire = serde_json::to_value(&o).expect("json");
        assert_eq!(wire["error"]["code"], "ERR_HTTP_TIMEOUT");
        assert_eq!(wire["error"]["category"], "transient");
    }
}
