//! Outbound notifications: `webhook_send` (signed per the Standard Webhooks
//! specification) and `slack_send` (an incoming webhook whose URL is a secret). Both call
//! out through the same SSRF-guarded client as `http_call`, and both take their secret
//! from the run's tenant (`PUT /v1/secrets/{name}`), never from the deployment's: one
//! tenant cannot sign with another's key, post to the operator's Slack, or get an HMAC
//! under a provider key.

use super::http_call::{read_response, send_outcome};
use super::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use crate::net::{AddressPolicy, GuardedHttp, SystemLookup};
use crate::ports::SecretStore;
use aos_core::{ErrorCode, StructuredOutcome};
use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::Arc;

/// What the outbound skills share: the deployment's secrets (provider keys) and guarded
/// outbound HTTP.
pub struct Outbound {
    secrets: Arc<dyn SecretStore>,
    http: GuardedHttp,
}

impl Outbound {
    /// Outbound calls under `policy`, secrets from `secrets`.
    pub fn new(secrets: Arc<dyn SecretStore>, policy: Arc<AddressPolicy>) -> Self {
        Self { secrets, http: GuardedHttp::new(policy, Arc::new(SystemLookup), None) }
    }

    /// Guarded outbound HTTP.
    pub(crate) fn http(&self) -> &GuardedHttp {
        &self.http
    }

    pub(crate) async fn secret(&self, name: &str, what: &str) -> Result<secrecy::SecretString, StructuredOutcome> {
        match self.secrets.secret(name).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(StructuredOutcome::failure(
                ErrorCode::SecretNotFound,
                format!("{what} needs the secret {name:?}: set AOS_SECRET_{name} (or <data-dir>/secrets.json) for aos dev, or create it in Secrets Manager under the stack's prefix"),
            )),
            Err(e) => Err(StructuredOutcome::failure(ErrorCode::Internal, format!("secrets: {e}"))),
        }
    }

    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(String, String)],
        ctx: &SkillContext,
    ) -> StructuredOutcome {
        let url = match url::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return StructuredOutcome::failure(ErrorCode::InvalidUrl, format!("url: {e}")),
        };
        let mut req = match self.http.request(reqwest::Method::POST, url) {
            Ok(r) => r.timeout(ctx.timeout).header("content-type", "application/json").body(body),
            Err(e) => return send_outcome(&e),
        };
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match self.http.send(req).await {
            Ok(resp) => read_response(resp, 64 * 1024).await,
            Err(e) => send_outcome(&e),
        }
    }
}

/// Signs a Standard Webhooks message: `v1,` + base64 of HMAC-SHA256 over
/// `"{id}.{timestamp}.{body}"`, keyed with the secret (`whsec_` + base64, or raw bytes).
pub fn standard_webhook_signature(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key =
        secret.strip_prefix("whsec_").and_then(|k| b64.decode(k).ok()).unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

/// The `webhook_send` skill.
pub struct WebhookSendSkill(pub Arc<Outbound>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookInput {
    url: String,
    payload: Value,
    #[serde(default = "default_webhook_secret")]
    secret: String,
}

fn default_webhook_secret() -> String {
    "WEBHOOK_SIGNING_SECRET".to_owned()
}

pub(super) fn webhook_descriptor() -> SkillDescriptor {
    SkillDescriptor {
        name: "webhook_send".to_owned(),
        version: "1.0.0".to_owned(),
        description: "POSTs a JSON payload signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature); the id is stable across retries so receivers can drop repeats.".to_owned(),
        input_schema: json!({
            "type": "object", "additionalProperties": false, "required": ["url", "payload"],
            "properties": {
                "url": {"type": "string", "minLength": 1, "maxLength": 4096},
                "payload": {},
                "secret": {"type": "string", "minLength": 1, "maxLength": 200, "description": "name of the tenant secret holding the signing key (default WEBHOOK_SIGNING_SECRET)"}
            }
        }),
        output_schema: json!({"type": "object", "required": ["status", "webhook_id"], "properties": {
            "status": {"type": "integer"}, "webhook_id": {"type": "string"}, "timestamp": {"type": "integer"}, "body": {}
        }}),
        idempotency: IdempotencyClass::Keyed,
        timeout_ms: 30_000,
    }
}

#[async_trait]
impl Skill for WebhookSendSkill {
    fn descriptor(&self) -> SkillDescriptor {
        webhook_descriptor()
    }

    fn breaker_target(&self, input: &Value) -> Option<String> {
        super::url_target(input["url"].as_str())
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let input: WebhookInput = match serde_json::from_value(input) {
            Ok(i) => i,
            Err(e) => return StructuredOutcome::failure(ErrorCode::ValidationFailed, e.to_string()),
        };
        let secret = match ctx.tenant_secret(&input.secret).await {
            Ok(s) => s,
            Err(o) => return o,
        };
        // The id is the step's: every attempt of the step sends the same one.
        let id = format!("msg_{}", &aos_core::determinism::content_hash(&json!(ctx.idempotency_key))[..32]);
        let timestamp = crate::clock::now_ms() / 1000;
        let body = serde_json::to_vec(&input.payload).expect("JSON values serialize");
        let signature = standard_webhook_signature(secret.expose_secret(), &id, timestamp, &body);
        let headers = vec![
            ("webhook-id".to_owned(), id.clone()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            ("webhook-signature".to_owned(), signature),
        ];
        let outcome = self.0.post(&input.url, body, &headers, ctx).await;
        if !outcome.ok {
            return outcome;
        }
        let sent = outcome.output.unwrap_or_default();
        StructuredOutcome::success(
            json!({"status": sent["status"], "webhook_id": id, "timestamp": timestamp, "body": sent["body"]}),
        )
    }
}

/// The `slack_send` skill.
pub struct SlackSendSkill(pub Arc<Outbound>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackInput {
    text: String,
    #[serde(default)]
    blocks: Option<Value>,
    #[serde(default = "default_slack_secret")]
    webhook_secret: String,
}

fn default_slack_secret() -> String {
    "SLACK_WEBHOOK_URL".to_owned()
}

pub(super) fn slack_descriptor() -> SkillDescriptor {
    SkillDescriptor {
        name: "slack_send".to_owned(),
        version: "1.0.0".to_owned(),
        description:
            "Posts a message to a Slack incoming webhook whose URL is a tenant secret (default SLACK_WEBHOOK_URL)."
                .to_owned(),
        input_schema: json!({
            "type": "object", "additionalProperties": false, "required": ["text"],
            "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": 40000},
                "blocks": {"type": "array"},
                "webhook_secret": {"type": "string", "minLength": 1, "maxLength": 200}
            }
        }),
        output_schema: json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "integer"}, "body": {}}}),
        // Slack does not drop repeats: never re-run after an interrupted attempt.
        idempotency: IdempotencyClass::NonIdempotent,
        timeout_ms: 15_000,
    }
}

#[async_trait]
impl Skill for SlackSendSkill {
    fn descriptor(&self) -> SkillDescriptor {
        slack_descriptor()
    }

    fn breaker_target(&self, input: &Value) -> Option<String> {
        // The URL is a secret; its name identifies the target.
        Some(input["webhook_secret"].as_str().unwrap_or("SLACK_WEBHOOK_URL").to_owned())
    }

    async fn execute(&self, ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let input: SlackInput = match serde_json::from_value(input) {
            Ok(i) => i,
            Err(e) => return StructuredOutcome::failure(ErrorCode::ValidationFailed, e.to_string()),
        };
        let url = match ctx.tenant_secret(&input.webhook_secret).await {
            Ok(s) => s,
            Err(o) => return o,
        };
        let mut message = json!({"text": input.text});
        if let Some(blocks) = input.blocks {
            message["blocks"] = blocks;
        }
        let body = serde_json::to_vec(&message).expect("JSON values serialize");
        let outcome = self.0.post(url.expose_secret(), body, &[], ctx).await;
        if !outcome.ok {
            // The URL is a secret: keep it out of the error.
            return outcome;
        }
        let sent = outcome.output.unwrap_or_default();
        StructuredOutcome::success(json!({"status": sent["status"], "body": sent["body"]}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The specification's example: secret, id, timestamp, payload and signature.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            standard_webhook_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
