//! `StructuredOutcome`: what every skill execution returns. A skill never panics or
//! throws to the step loop; it answers ok with an output, or an error with a stable
//! code, and always reports its cost and duration.

use crate::determinism::content_hash;
use crate::error_code::{ErrorCategory, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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
        let body = match &self.error {
            None => json!({"ok": true, "output": self.output, "cost_cents": self.cost_cents}),
            Some(e) => json!({
                "ok": false,
                "code": e.code,
                "category": e.category,
                "retryable": e.retryable,
                "cost_cents": self.cost_cents,
            }),
        };
        content_hash(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
