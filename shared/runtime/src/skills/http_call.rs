//! `http_call`: one HTTP request through the SSRF guard, with a timeout, a response size
//! cap and a stable `Idempotency-Key` header so targets can drop repeats.

use super::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use crate::net::{AddressPolicy, DialObserver, GuardedHttp, Lookup, Refused, SendError, SystemLookup};
use aos_core::{ErrorCode, StructuredOutcome};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Largest response cap a step may ask for.
pub(crate) const MAX_RESPONSE_CAP: usize = 10 * 1024 * 1024;

/// Settings of the `http_call` skill.
#[derive(Clone)]
pub struct HttpCallConfig {
    /// Outbound address policy.
    pub policy: Arc<AddressPolicy>,
    /// Name resolution (the system resolver in production).
    pub lookup: Arc<dyn Lookup>,
    /// Optional tripwire that sees every address handed to the connector.
    pub observer: Option<DialObserver>,
    /// Response cap when the step sets none.
    pub default_max_response_bytes: usize,
}

impl HttpCallConfig {
    /// Production settings: system resolver, 1 MiB default cap.
    pub fn new(policy: AddressPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            lookup: Arc::new(SystemLookup),
            observer: None,
            default_max_response_bytes: 1024 * 1024,
        }
    }
}

/// The `http_call` skill.
pub struct HttpCallSkill {
    http: GuardedHttp,
    default_max_response_bytes: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default = "default_method")]
    method: String,
    url: String,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    max_response_bytes: Option<usize>,
}

fn default_method() -> String {
    "GET".to_owned()
}

impl HttpCallSkill {
    /// Builds the skill (its HTTP clients are built on first use: functions that never
    /// call out pay nothing at cold start).
    pub fn new(config: HttpCallConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: GuardedHttp::new(config.policy, config.lookup, config.observer),
            default_max_response_bytes: config.default_max_response_bytes,
        })
    }

    async fn call(&self, ctx: &SkillContext, input: Input) -> StructuredOutcome {
        let url = match Url::parse(&input.url) {
            Ok(u) => u,
            Err(e) => return StructuredOutcome::failure(ErrorCode::InvalidUrl, format!("url {:?}: {e}", input.url)),
        };
        let Ok(method) = reqwest::Method::from_bytes(input.method.to_ascii_uppercase().as_bytes()) else {
            return StructuredOutcome::failure(ErrorCode::ValidationFailed, "unknown method");
        };
        let timeout = input.timeout_ms.map_or(ctx.timeout, Duration::from_millis).min(ctx.timeout);
        let mut req = match self.http.request(method, url) {
            Ok(r) => r.timeout(timeout),
            Err(e) => return send_outcome(&e),
        };
        let mut has_key = false;
        for (name, value) in &input.headers {
            has_key |= name.eq_ignore_ascii_case("idempotency-key");
            if let Some(v) = value.as_str() {
                req = req.header(name.as_str(), v);
            }
        }
        if !has_key {
            req = req.header("Idempotency-Key", &ctx.idempotency_key);
        }
        req = match input.body {
            None | Some(Value::Null) => req,
            Some(Value::String(text)) => req.body(text),
            Some(other) => req.json(&other),
        };
        let cap = input.max_response_bytes.unwrap_or(self.default_max_response_bytes).min(MAX_RESPONSE_CAP);
        match self.http.send(req).await {
            Ok(resp) => read_response(resp, cap).await,
            Err(e) => send_outcome(&e),
        }
    }
}

/// The outcome of a guarded request that got no answer.
pub(crate) fn send_outcome(e: &SendError) -> StructuredOutcome {
    match e {
        SendError::Refused(r) => refused_outcome(r),
        SendError::TooManyRedirects => {
            StructuredOutcome::failure(ErrorCode::Http4xx, e.to_string()).with_retryable(false)
        }
        SendError::Client(m) => StructuredOutcome::failure(ErrorCode::Internal, m.clone()),
        SendError::Transport(t) => transport_outcome(t),
    }
}

pub(crate) fn refused_outcome(refused: &Refused) -> StructuredOutcome {
    match refused {
        Refused::InvalidUrl(m) => StructuredOutcome::failure(ErrorCode::InvalidUrl, m.clone()),
        Refused::Blocked { .. } => StructuredOutcome::failure(ErrorCode::BlockedAddress, refused.to_string()),
    }
}

fn find_in_chain<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(hit) = err.downcast_ref::<T>() {
            return Some(hit);
        }
        cur = err.source();
    }
    None
}

pub(crate) fn transport_outcome(e: &reqwest::Error) -> StructuredOutcome {
    if let Some(refused) = find_in_chain::<Refused>(e) {
        return refused_outcome(refused);
    }
    if e.is_timeout() {
        return StructuredOutcome::failure(ErrorCode::HttpTimeout, "the request timed out");
    }
    if e.is_redirect() {
        return StructuredOutcome::failure(ErrorCode::Http4xx, "too many redirects").with_retryable(false);
    }
    if let Some(io) = find_in_chain::<std::io::Error>(e) {
        let code = match io.kind() {
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset => ErrorCode::ConnectionRefused,
            _ if e.is_connect() => ErrorCode::DnsFailure,
            _ => ErrorCode::ConnectionRefused,
        };
        return StructuredOutcome::failure(code, format!("connection failed: {io}"));
    }
    if e.is_connect() {
        return StructuredOutcome::failure(ErrorCode::ConnectionRefused, "could not connect");
    }
    StructuredOutcome::failure(ErrorCode::ConnectionRefused, "the request failed in transit")
}

pub(crate) async fn read_response(mut resp: reqwest::Response, cap: usize) -> StructuredOutcome {
    let status = resp.status().as_u16();
    let retry_after_ms = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s.saturating_mul(1000));
    let is_json = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let mut headers = Map::new();
    // `date` changes on every call; leaving it out keeps outcome hashes of identical
    // responses identical.
    for (name, value) in resp.headers().iter().filter(|(n, _)| *n != reqwest::header::DATE) {
        if let Ok(v) = value.to_str() {
            headers.insert(name.as_str().to_owned(), Value::String(v.to_owned()));
        }
    }
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > cap {
                    return StructuredOutcome::failure(
                        ErrorCode::ResponseTooLarge,
                        format!("response exceeds max_response_bytes ({cap})"),
                    );
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return transport_outcome(&e),
        }
    }
    let body = if is_json {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    };
    match ErrorCode::for_http_status(status) {
        None => StructuredOutcome::success(json!({"status": status, "headers": headers, "body": body})),
        Some(code) => {
            let preview: String = String::from_utf8_lossy(&bytes).chars().take(512).collect();
            StructuredOutcome::failure(code, format!("upstream answered {status}")).with_details(
                json!({"upstream_status": status, "retry_after_ms": retry_after_ms, "body_preview": preview}),
            )
        }
    }
}

/// The declaration of `http_call`.
pub(super) fn descriptor() -> SkillDescriptor {
    SkillDescriptor {
        name: "http_call".to_owned(),
        version: "1.0.0".to_owned(),
        description:
            "One HTTP request to a public address (or an allow-listed host), with a timeout and a response size cap."
                .to_owned(),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["url"],
            "properties": {
                "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "get", "head", "post", "put", "patch", "delete"]},
                "url": {"type": "string", "minLength": 1, "maxLength": 4096},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "body": {},
                "timeout_ms": {"type": "integer", "minimum": 1, "maximum": 900000},
                "max_response_bytes": {"type": "integer", "minimum": 1, "maximum": MAX_RESPONSE_CAP}
            }
        }),
        output_schema: json!({
            "type": "object",
            "required": ["status", "headers", "body"],
            "properties": {
                "status": {"type": "integer"},
                "headers": {"type": "object"},
                "body": {}
            }
        }),
        idempotency: IdempotencyClass::Keyed,
        timeout_ms: 30_000,
    }
}

#[async_trait]
impl Skill for HttpCallSkill {
    fn descriptor(&self) -> SkillDescriptor {
        descriptor()
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        match serde_json::from_value::<Input>(input) {
            Ok(input) => self.call(ctx, input).await,
            Err(e) => StructuredOutcome::failure(ErrorCode::ValidationFailed, e.to_string()),
        }
    }

    fn breaker_target(&self, input: &Value) -> Option<String> {
        super::url_target(input["url"].as_str())
    }
}
