//! The one error namespace of AOS.
//!
//! Every failure a skill, the step loop or the API reports carries one of these stable
//! codes. Codes never change meaning once released; `docs/error-codes.md` is generated
//! from this table (`aos errors --markdown`) and a test keeps the two identical.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Broad class of a failure; drives default retry behaviour and dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    /// Likely to succeed if tried again (timeouts, brief outages).
    Transient,
    /// The request itself is wrong; retrying the same request cannot help.
    Client,
    /// AOS's own infrastructure or the network path failed.
    Infra,
    /// Refused by policy, budget, quota or permission.
    Policy,
    /// Refused for safety reasons.
    Safety,
    /// An upstream provider failed or throttled.
    ThirdParty,
}

impl ErrorCategory {
    /// Wire name of the category.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Client => "client",
            Self::Infra => "infra",
            Self::Policy => "policy",
            Self::Safety => "safety",
            Self::ThirdParty => "third_party",
        }
    }
}

impl utoipa::PartialSchema for ErrorCode {
    /// Every code, from the same table as `docs/error-codes.md`.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let table: String = Self::ALL
            .iter()
            .map(|c| format!("- `{}` ({}): {}\n", c.as_str(), c.http_status(), c.description()))
            .collect();
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::ALL.iter().map(|c| c.as_str())))
            .description(Some(format!("A stable AOS error code (the HTTP status the API answers it with):\n\n{table}")))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $cat:ident, $retry:literal, $http:literal, $doc:literal; )+) => {
        /// A stable AOS error code. See `docs/error-codes.md` for the full table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( #[doc = $doc] $variant, )+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The stable wire form, e.g. `ERR_HTTP_TIMEOUT`.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code,)+ }
            }

            /// The category of this code.
            pub fn category(self) -> ErrorCategory {
                match self { $(Self::$variant => ErrorCategory::$cat,)+ }
            }

            /// Whether the step loop retries a step that failed with this code by default.
            pub fn retryable(self) -> bool {
                match self { $(Self::$variant => $retry,)+ }
            }

            /// HTTP status used when this code is returned by the API.
            pub fn http_status(self) -> u16 {
                match self { $(Self::$variant => $http,)+ }
            }

            /// What the code means and what to do about it.
            pub fn description(self) -> &'static str {
                match self { $(Self::$variant => $doc,)+ }
            }
        }
    };
}

codes! {
    HttpTimeout = "ERR_HTTP_TIMEOUT", Transient, true, 504, "The upstream did not answer within the step's timeout. Retried with back-off; raise `timeout_ms` if the upstream is slow.";
    Http4xx = "ERR_HTTP_4XX", Client, false, 502, "The upstream answered with a 4xx status not listed separately. Fix the request (url, headers, body).";
    Http400 = "ERR_HTTP_400", Client, false, 502, "The upstream rejected the request as malformed (400). Fix the request body or parameters.";
    Http401 = "ERR_HTTP_401", Client, false, 502, "The upstream needs credentials (401). Configure the secret the step uses.";
    Http403 = "ERR_HTTP_403", Client, false, 502, "The upstream refused the credentials (403). Check the key's permissions.";
    Http404 = "ERR_HTTP_404", Client, false, 502, "The upstream resource does not exist (404). Check the url.";
    Http429 = "ERR_HTTP_429", ThirdParty, true, 502, "The upstream throttled the call (429). Retried after its Retry-After or back-off.";
    RateLimitInternal = "ERR_RATE_LIMIT_INTERNAL", Policy, true, 429, "AOS's own rate limit for the tenant was reached. Slow down or raise the tenant's limit.";
    RateLimitConcurrent = "ERR_RATE_LIMIT_CONCURRENT", Policy, true, 429, "Too many concurrent runs for the tenant. Wait for running ones to finish.";
    Http5xx = "ERR_HTTP_5XX", ThirdParty, true, 502, "The upstream failed with a 5xx status not listed separately. Retried with back-off.";
    Http500 = "ERR_HTTP_500", ThirdParty, true, 502, "The upstream failed (500). Retried with back-off.";
    Http502 = "ERR_HTTP_502", ThirdParty, true, 502, "The upstream's gateway failed (502). Retried with back-off.";
    Http503 = "ERR_HTTP_503", ThirdParty, true, 502, "The upstream is unavailable (503). Retried with back-off.";
    Http504 = "ERR_HTTP_504", ThirdParty, true, 502, "The upstream's gateway timed out (504). Retried with back-off.";
    DnsFailure = "ERR_DNS_FAILURE", Infra, true, 502, "The host name did not resolve. Check the url's host.";
    ConnectionRefused = "ERR_CONNECTION_REFUSED", Infra, true, 502, "The upstream refused or dropped the connection. Check that it is running.";
    SslError = "ERR_SSL_ERROR", Infra, false, 502, "TLS failed (certificate or protocol). Fix the upstream's certificate.";
    LlmRateLimit = "ERR_LLM_RATE_LIMIT", ThirdParty, true, 502, "The model provider throttled the call. Retried after back-off.";
    LlmInvalidResponse = "ERR_LLM_INVALID_RESPONSE", ThirdParty, false, 502, "The model's reply was not usable (not JSON or not matching the schema).";
    LlmContextLength = "ERR_LLM_CONTEXT_LENGTH", Client, false, 422, "The prompt exceeds the model's context window. Shorten it.";
    LlmContentFilter = "ERR_LLM_CONTENT_FILTER", Safety, false, 422, "The provider's content filter blocked the request or reply.";
    LlmApiError = "ERR_LLM_API_ERROR", ThirdParty, true, 502, "The model provider failed. Retried with back-off.";
    ValidationFailed = "ERR_VALIDATION_FAILED", Client, false, 422, "Input failed validation. The message names the field to fix.";
    SchemaMismatch = "ERR_SCHEMA_MISMATCH", Client, false, 422, "A skill's output did not match its declared output schema.";
    PolicyViolation = "ERR_POLICY_VIOLATION", Policy, false, 403, "A policy refused the step. See the policy named in the message.";
    BudgetExceeded = "ERR_BUDGET_EXCEEDED", Policy, false, 402, "The run's or tenant's credit budget would be exceeded.";
    QuotaExceeded = "ERR_QUOTA_EXCEEDED", Policy, false, 429, "A tenant quota was reached.";
    PermissionDenied = "ERR_PERMISSION_DENIED", Policy, false, 403, "The API key's role does not allow this operation.";
    SafetyRejected = "ERR_SAFETY_REJECTED", Safety, false, 422, "A safety check refused the content.";
    PromptInjection = "ERR_PROMPT_INJECTION", Safety, false, 422, "The input looks like a prompt-injection attempt.";
    Internal = "ERR_INTERNAL", Infra, true, 500, "An internal error; the cause is logged server-side. Retried by the step loop.";
    StorageQuotaExceeded = "ERR_STORAGE_QUOTA_EXCEEDED", Infra, false, 507, "The store is out of space or over its quota.";
    SkillNotFound = "ERR_SKILL_NOT_FOUND", Client, false, 422, "No skill with that name (and version) is registered. See GET /v1/skills.";
    SkillDisabled = "ERR_SKILL_DISABLED", Policy, false, 403, "The skill exists but is disabled for this tenant.";
    SerializationFailed = "ERR_SERIALIZATION_FAILED", Client, false, 422, "A value could not be serialized to JSON.";
    DeserializationFailed = "ERR_DESERIALIZATION_FAILED", Client, false, 422, "A value could not be parsed (for example a response declared JSON that is not).";
    Timeout = "ERR_TIMEOUT", Transient, true, 504, "The step exceeded its timeout. Retried; raise the step's `timeout_ms` if needed.";
    Unknown = "ERR_UNKNOWN", Infra, false, 500, "An error AOS could not classify. Report it with the run id.";
    BlockedAddress = "ERR_BLOCKED_ADDRESS", Safety, false, 422, "The url resolves to a loopback, private, link-local or metadata address. An operator may allow a host with AOS_HTTP_ALLOW_HOSTS.";
    InvalidUrl = "ERR_INVALID_URL", Client, false, 422, "The url is not an absolute http(s) url.";
    ResponseTooLarge = "ERR_RESPONSE_TOO_LARGE", Client, false, 422, "The upstream response exceeds the step's `max_response_bytes` cap.";
    JsonTransformFailed = "ERR_JSON_TRANSFORM_FAILED", Client, false, 422, "The JMESPath expression is invalid or failed on the input.";
    UnresolvedReference = "ERR_UNRESOLVED_REFERENCE", Client, false, 422, "A `${...}` reference in a step input names nothing (unknown step, missing field).";
    EffectUncertain = "ERR_EFFECT_UNCERTAIN", Infra, false, 500, "A non-idempotent step was interrupted after it may have had its effect; AOS does not run it twice. Check the target, then resubmit.";
    AttemptsExhausted = "ERR_ATTEMPTS_EXHAUSTED", Transient, false, 500, "The step failed on every allowed attempt; the last outcome is recorded.";
    RunCancelled = "ERR_RUN_CANCELLED", Client, false, 409, "The run was cancelled; no further steps run.";
    ValueTooLarge = "ERR_VALUE_TOO_LARGE", Client, false, 422, "A step's output or an agent's plan exceeds the per-value cap (16 MiB of JSON). Ask the upstream for less (`max_response_bytes`, a JMESPath projection) or split the work over steps.";
    SecretNotFound = "ERR_SECRET_NOT_FOUND", Client, false, 422, "A secret the step needs does not exist for the run's tenant. Set it with `PUT /v1/secrets/{name}`; provider keys are the operator's (secrets file, environment or Secrets Manager).";
    MalformedRequest = "ERR_MALFORMED_REQUEST", Client, false, 400, "The request body is not valid JSON or misses required fields. The message says where.";
    PayloadTooLarge = "ERR_PAYLOAD_TOO_LARGE", Client, false, 413, "The request body exceeds the size limit.";
    UnsupportedMediaType = "ERR_UNSUPPORTED_MEDIA_TYPE", Client, false, 415, "Send the body as `Content-Type: application/json`.";
    Unauthenticated = "ERR_UNAUTHENTICATED", Client, false, 401, "No valid API key. Send `Authorization: Bearer <key>` or `x-api-key: <key>`.";
    NotFound = "ERR_NOT_FOUND", Client, false, 404, "No such resource for this tenant.";
    InvalidPlan = "ERR_INVALID_PLAN", Client, false, 422, "The plan is invalid (empty, duplicate step ids, bad references). The message names the step.";
    IdempotencyConflict = "ERR_IDEMPOTENCY_CONFLICT", Client, false, 409, "The Idempotency-Key was already used with a different request body. Use a new key.";
    IdempotencyInProgress = "ERR_IDEMPOTENCY_IN_PROGRESS", Transient, true, 409, "A request with this Idempotency-Key is still being processed. Retry shortly.";
    InvalidWorkflow = "ERR_INVALID_WORKFLOW", Client, false, 422, "The workflow spec is invalid (cycle, unknown node or skill, bad input, unreachable node). The message names the node and what to fix.";
    ApprovalRejected = "ERR_APPROVAL_REJECTED", Policy, false, 409, "A human rejected the approval: the step a policy held back fails, or the workflow fails and its completed nodes are compensated.";
    ApprovalTimedOut = "ERR_APPROVAL_TIMED_OUT", Policy, false, 408, "Nobody decided the approval before its timeout (and its escalation's, when a policy gives one), or the approval node has no `on_timeout` path.";
    ApprovalNotPending = "ERR_APPROVAL_NOT_PENDING", Client, false, 409, "The approval was already decided, timed out or cancelled; nothing was changed.";
    CircuitOpen = "ERR_CIRCUIT_OPEN", Infra, true, 503, "The skill's target failed 5 times in a row, so calls to it pause for 60 s (circuit breaker); the step is retried after the cooldown, when one probe call decides whether the target is back.";
    FeatureUnavailable = "ERR_FEATURE_UNAVAILABLE", Infra, false, 501, "This deployment does not offer the feature (yet); the message says which backend does.";
    ExecutionCancelled = "ERR_EXECUTION_CANCELLED", Client, false, 409, "The workflow execution was cancelled; no further nodes run.";
    PlannerInvalidPlan = "ERR_PLANNER_INVALID_PLAN", ThirdParty, false, 502, "The planner's model kept answering with steps that are not valid JSON or do not match the skills' schemas, after being shown the error twice. The last error is in the details; try a stronger model or narrow `agent.skills`.";
    AgentStepLimit = "ERR_AGENT_STEP_LIMIT", Policy, false, 422, "The agent used all its `agent.max_steps` skill steps without finishing. Raise the limit or make the goal narrower.";
    AgentLlmBudget = "ERR_AGENT_LLM_BUDGET", Policy, false, 402, "The agent's planner used all its `agent.max_llm_calls` model calls without finishing. Raise the budget or make the goal narrower.";
    AgentDepthExceeded = "ERR_AGENT_DEPTH_EXCEEDED", Policy, false, 422, "A child run would be nested deeper than the deployment allows (default 3 levels); nothing was started.";
    AgentFanOutExceeded = "ERR_AGENT_FAN_OUT_EXCEEDED", Policy, false, 422, "A step would start more child runs than allowed (default 10 per step, 50 per run); nothing was started.";
    AgentChildFailed = "ERR_AGENT_CHILD_FAILED", Client, false, 422, "The child run of `agent_invoke` failed, was cancelled or timed out; its error is in the details.";
    ReplayExhausted = "ERR_REPLAY_EXHAUSTED", Client, false, 422, "The replay planner ran out of recorded decisions: the recorded run made fewer planner decisions than this run asks for (or it is not an agent run).";
    IllegalTransition = "ERR_ILLEGAL_TRANSITION", Client, false, 409, "The resource is in a state that does not allow this (for example cancelling a finished run).";
}

impl ErrorCode {
    /// Looks a code up by its wire form.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The code for an upstream HTTP status (4xx/5xx); `None` for 1xx-3xx.
    pub fn for_http_status(status: u16) -> Option<Self> {
        let specific = match status {
            400 => Self::Http400,
            401 => Self::Http401,
            403 => Self::Http403,
            404 => Self::Http404,
            429 => Self::Http429,
            500 => Self::Http500,
            502 => Self::Http502,
            503 => Self::Http503,
            504 => Self::Http504,
            _ if (400..500).contains(&status) => Self::Http4xx,
            _ if (500..600).contains(&status) => Self::Http5xx,
            _ => return None,
        };
        Some(specific)
    }

    /// The markdown table of every code (the source of `docs/error-codes.md`).
    pub fn markdown_table() -> String {
        let mut out =
            String::from("| code | category | retryable | HTTP | meaning and what to do |\n|---|---|---|---|---|\n");
        for c in Self::ALL {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                c.as_str(),
                c.category().as_str(),
                c.retryable(),
                c.http_status(),
                c.description()
            ));
        }
        out
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown error code {s}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn there_are_at_least_forty_unique_well_formed_codes() {
        assert!(ErrorCode::ALL.len() >= 40);
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "codes must be unique");
        for c in ErrorCode::ALL {
            assert!(c.as_str().starts_with("ERR_"));
            assert!(c.as_str().bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
            assert!((400..=599).contains(&c.http_status()));
        }
    }

    #[test]
    fn upstream_statuses_map_to_specific_then_generic_codes() {
        assert_eq!(ErrorCode::for_http_status(404), Some(ErrorCode::Http404));
        assert_eq!(ErrorCode::for_http_status(418), Some(ErrorCode::Http4xx));
        assert_eq!(ErrorCode::for_http_status(599), Some(ErrorCode::Http5xx));
        assert_eq!(ErrorCode::for_http_status(302), None);
        assert!(ErrorCode::Http503.retryable());
        assert!(!ErrorCode::Http400.retryable());
    }

    #[test]
    fn the_documented_table_matches_the_code() {
        let doc = include_str!("../../../docs/error-codes.md");
        assert!(
            doc.contains(&ErrorCode::markdown_table()),
            "docs/error-codes.md is stale: regenerate its table with `aos errors --markdown`"
        );
    }
}
