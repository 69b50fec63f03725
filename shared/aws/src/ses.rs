//! Amazon SES v2 as the mailer of `email_send` on AWS.

use crate::dynamo::sdk_err;
use aos_core::{ErrorCode, StructuredOutcome};
use aos_runtime::skills::{Email, Mailer};
use async_trait::async_trait;
use aws_sdk_sesv2::error::ProvideErrorMetadata;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

/// SES v2 `SendEmail` (simple content).
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
}

impl SesMailer {
    /// The mailer over an SES v2 client.
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }
}

fn content(data: &str) -> Result<Content, StructuredOutcome> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| StructuredOutcome::failure(ErrorCode::ValidationFailed, e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email, from: &str) -> Result<String, StructuredOutcome> {
        let mut body = Body::builder();
        if let Some(t) = &email.text {
            body = body.text(content(t)?);
        }
        if let Some(h) = &email.html {
            body = body.html(content(h)?);
        }
        let message = Message::builder().subject(content(&email.subject)?).body(body.build()).build();
        let destination = Destination::builder()
            .set_to_addresses(Some(email.to.clone()))
            .set_cc_addresses((!email.cc.is_empty()).then(|| email.cc.clone()))
            .set_bcc_addresses((!email.bcc.is_empty()).then(|| email.bcc.clone()))
            .build();
        let mut call = self
            .client
            .send_email()
            .from_email_address(from)
            .destination(destination)
            .content(EmailContent::builder().simple(message).build());
        if let Some(r) = &email.reply_to {
            call = call.reply_to_addresses(r);
        }
        match call.send().await {
            Ok(out) => Ok(out.message_id.unwrap_or_default()),
            Err(e) => {
                let code = match e.code() {
                    Some("MessageRejected" | "MailFromDomainNotVerifiedException" | "BadRequestException") => {
                        ErrorCode::Http4xx
                    }
                    Some("TooManyRequestsException" | "LimitExceededException") => ErrorCode::Http429,
                    Some("AccountSuspendedException" | "SendingPausedException") => ErrorCode::Http403,
                    _ => return Err(StructuredOutcome::failure(ErrorCode::Http5xx, sdk_err(e).to_string())),
                };
                Err(StructuredOutcome::failure(code, format!("SES: {}", e.message().unwrap_or("refused"))))
            }
        }
    }

    fn target(&self) -> String {
        "ses".to_owned()
    }
}
