//! `email_send`: one email through a mailer — SMTP (lettre) for `aos dev`, Amazon SES v2
//! on AWS. The SMTP server's address passes the same outbound policy as `http_call`; its
//! password, if any, is a secret.

use super::{IdempotencyClass, Skill, SkillContext, SkillDescriptor};
use crate::net::{AddressPolicy, Lookup, SystemLookup};
use crate::ports::SecretStore;
use aos_core::{ErrorCode, StructuredOutcome};
use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// An email to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// Sender (`Name <addr>` or `addr`); the mailer's default when absent.
    #[serde(default)]
    pub from: Option<String>,
    /// Recipients.
    pub to: Vec<String>,
    /// Copies.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Blind copies.
    #[serde(default)]
    pub bcc: Vec<String>,
    /// Reply address.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Subject.
    pub subject: String,
    /// Plain text body.
    #[serde(default)]
    pub text: Option<String>,
    /// HTML body.
    #[serde(default)]
    pub html: Option<String>,
}

/// Something that delivers email.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `email` from `from`; returns the message id.
    async fn send(&self, email: &Email, from: &str) -> Result<String, StructuredOutcome>;
    /// The breaker target (the server or service).
    fn target(&self) -> String;
}

/// SMTP through lettre: `smtp://host:port` (no TLS, for local catchers such as
/// MailHog), `smtp+starttls://host:port` or `smtps://host:port`; user and password
/// secret optional.
pub struct SmtpMailer {
    url: url::Url,
    user: Option<String>,
    password_secret: Option<String>,
    secrets: Arc<dyn SecretStore>,
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn Lookup>,
}

impl SmtpMailer {
    /// A mailer for `url` (see the type's docs).
    pub fn new(
        url: &str,
        password_secret: Option<String>,
        secrets: Arc<dyn SecretStore>,
        policy: Arc<AddressPolicy>,
    ) -> Result<Self, String> {
        let url = url::Url::parse(url).map_err(|e| format!("AOS_SMTP_URL: {e}"))?;
        if !matches!(url.scheme(), "smtp" | "smtps" | "smtp+starttls") || url.host_str().is_none() {
            return Err("AOS_SMTP_URL must be smtp://host:port, smtp+starttls://host:port or smtps://host:port".into());
        }
        let user = (!url.username().is_empty()).then(|| url.username().to_owned());
        Ok(Self { url, user, password_secret, secrets, policy, lookup: Arc::new(SystemLookup) })
    }
}

fn mailbox(raw: &str, what: &str) -> Result<Mailbox, StructuredOutcome> {
    raw.parse().map_err(|e| StructuredOutcome::failure(ErrorCode::ValidationFailed, format!("{what} {raw:?}: {e}")))
}

/// The email as a MIME message.
pub fn message(email: &Email, from: &str) -> Result<Message, StructuredOutcome> {
    let mut b = Message::builder().from(mailbox(from, "from")?).subject(&email.subject);
    for t in &email.to {
        b = b.to(mailbox(t, "to")?);
    }
    for t in &email.cc {
        b = b.cc(mailbox(t, "cc")?);
    }
    for t in &email.bcc {
        b = b.bcc(mailbox(t, "bcc")?);
    }
    if let Some(r) = &email.reply_to {
        b = b.reply_to(mailbox(r, "reply_to")?);
    }
    let built = match (&email.text, &email.html) {
        (Some(t), Some(h)) => b.multipart(MultiPart::alternative_plain_html(t.clone(), h.clone())),
        (None, Some(h)) => b.singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(h.clone())),
        (t, None) => b.singlepart(SinglePart::plain(t.clone().unwrap_or_default())),
    };
    built.map_err(|e| StructuredOutcome::failure(ErrorCode::ValidationFailed, format!("email: {e}")))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email, from: &str) -> Result<String, StructuredOutcome> {
        let host = self.url.host_str().unwrap_or_default().to_owned();
        let port = self.url.port().unwrap_or(if self.url.scheme() == "smtps" { 465 } else { 25 });
        // The server must be an address the outbound policy allows (resolved here).
        let ips = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .lookup
                .lookup(&host)
                .await
                .map_err(|e| StructuredOutcome::failure(ErrorCode::DnsFailure, format!("SMTP host {host}: {e}")))?,
        };
        self.policy.check_endpoint(&host, port, &ips).map_err(|r| super::http_call::refused_outcome(&r))?;
        let mut transport = match self.url.scheme() {
            "smtps" => AsyncSmtpTransport::<Tokio1Executor>::relay(&host),
            "smtp+starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host),
            _ => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)),
        }
        .map_err(|e| StructuredOutcome::failure(ErrorCode::SslError, format!("SMTP TLS: {e}")))?
        .port(port);
        if let (Some(user), Some(secret)) = (&self.user, &self.password_secret) {
            let password = match self.secrets.secret(secret).await {
                Ok(Some(p)) => p,
                Ok(None) => {
                    return Err(StructuredOutcome::failure(
                        ErrorCode::SecretNotFound,
                        format!("the SMTP server needs the secret {secret:?} (its password)"),
                    ))
                }
                Err(e) => return Err(StructuredOutcome::failure(ErrorCode::Internal, format!("secrets: {e}"))),
            };
            transport = transport.credentials((user.clone(), password.expose_secret().to_owned()).into());
        }
        let message = message(email, from)?;
        let id = message.headers().get_raw("Message-ID").map(str::to_owned).unwrap_or_default();
        match transport.build().send(message).await {
            Ok(resp) if resp.is_positive() => Ok(id),
            Ok(resp) => Err(StructuredOutcome::failure(ErrorCode::Http5xx, format!("SMTP answered {}", resp.code()))),
            Err(e) if e.is_permanent() => {
                Err(StructuredOutcome::failure(ErrorCode::Http4xx, format!("SMTP refused the message: {e}")))
            }
            Err(e) => Err(StructuredOutcome::failure(ErrorCode::ConnectionRefused, format!("SMTP: {e}"))),
        }
    }

    fn target(&self) -> String {
        format!("{}:{}", self.url.host_str().unwrap_or_default(), self.url.port().unwrap_or(25))
    }
}

/// The `email_send` skill.
pub struct EmailSendSkill {
    /// Where mail goes; `None`: refused with a message saying how to configure one.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Sender when the step names none (`AOS_EMAIL_FROM`).
    pub default_from: Option<String>,
}

pub(super) fn descriptor() -> SkillDescriptor {
    let addresses =
        json!({"type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 320}, "maxItems": 50});
    SkillDescriptor {
        name: "email_send".to_owned(),
        version: "1.0.0".to_owned(),
        description: "Sends one email (SMTP for aos dev, Amazon SES v2 on AWS).".to_owned(),
        input_schema: json!({
            "type": "object", "additionalProperties": false, "required": ["to", "subject"],
            "anyOf": [{"required": ["text"]}, {"required": ["html"]}],
            "properties": {
                "from": {"type": "string", "minLength": 3, "maxLength": 320},
                "to": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "string", "minLength": 3, "maxLength": 320}},
                "cc": addresses, "bcc": addresses,
                "reply_to": {"type": "string", "minLength": 3, "maxLength": 320},
                "subject": {"type": "string", "minLength": 1, "maxLength": 998},
                "text": {"type": "string", "maxLength": 1000000},
                "html": {"type": "string", "maxLength": 1000000}
            }
        }),
        output_schema: json!({"type": "object", "required": ["message_id", "recipients"], "properties": {
            "message_id": {"type": "string"}, "recipients": {"type": "array"}
        }}),
        // Mail servers do not drop repeats: never re-sent after an interrupted attempt.
        idempotency: IdempotencyClass::NonIdempotent,
        timeout_ms: 30_000,
    }
}

#[async_trait]
impl Skill for EmailSendSkill {
    fn descriptor(&self) -> SkillDescriptor {
        descriptor()
    }

    fn breaker_target(&self, _input: &Value) -> Option<String> {
        self.mailer.as_ref().map(|m| m.target())
    }

    async fn execute(&self, _ctx: &SkillContext, input: Value) -> StructuredOutcome {
        let email: Email = match serde_json::from_value(input) {
            Ok(e) => e,
            Err(e) => return StructuredOutcome::failure(ErrorCode::ValidationFailed, e.to_string()),
        };
        let Some(mailer) = &self.mailer else {
            return StructuredOutcome::failure(
                ErrorCode::SkillDisabled,
                "no mail server: set AOS_SMTP_URL (aos dev) or run on the AWS backend (Amazon SES)",
            );
        };
        let Some(from) = email.from.clone().or_else(|| self.default_from.clone()) else {
            return StructuredOutcome::failure(
                ErrorCode::ValidationFailed,
                "no sender: give `from` or set AOS_EMAIL_FROM",
            );
        };
        match mailer.send(&email, &from).await {
            Ok(id) => {
                let recipients: Vec<&String> = email.to.iter().chain(&email.cc).chain(&email.bcc).collect();
                StructuredOutcome::success(json!({"message_id": id, "recipients": recipients}))
            }
            Err(o) => o,
        }
    }
}
