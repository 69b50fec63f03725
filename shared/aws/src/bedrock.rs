//! Amazon Bedrock Converse as an LLM provider: the same request and response as the
//! other providers, cache points after the system prompt for prompt caching.

use aos_core::{ErrorCode, StructuredOutcome};
use aos_runtime::llm::{LlmProvider, LlmRequest, LlmResponse, Role, Usage};
use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message,
    SystemContentBlock,
};
use secrecy::SecretString;
use serde_json::json;
use std::time::Duration;

/// Bedrock Converse through the SDK (credentials and region from the standard chain,
/// loaded on the first call, so processes that never use Bedrock never look for them).
pub struct BedrockConverse {
    sdk: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

impl BedrockConverse {
    /// The provider over an SDK configuration.
    pub fn new(sdk: aws_config::SdkConfig) -> Self {
        Self { sdk: tokio::sync::OnceCell::new_with(Some(sdk)) }
    }

    /// The provider, loading the SDK configuration on first use.
    pub fn lazy() -> Self {
        Self { sdk: tokio::sync::OnceCell::new() }
    }

    async fn client(&self, base_url: &str) -> aws_sdk_bedrockruntime::Client {
        let sdk = self.sdk.get_or_init(crate::sdk_config).await;
        // The step loop owns retries (deterministic back-off, Retry-After, attempt counts).
        let mut conf = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled());
        if !base_url.is_empty() {
            conf = conf.endpoint_url(base_url);
        }
        aws_sdk_bedrockruntime::Client::from_conf(conf.build())
    }
}

fn failure(code: ErrorCode, message: String) -> StructuredOutcome {
    StructuredOutcome::failure(code, message)
}

#[async_trait]
impl LlmProvider for BedrockConverse {
    async fn complete(
        &self,
        _http: &aos_runtime::net::GuardedHttp,
        req: &LlmRequest,
        _key: Option<&SecretString>,
        timeout: Duration,
        base_url: &str,
    ) -> Result<LlmResponse, StructuredOutcome> {
        let bad = |e: aws_sdk_bedrockruntime::error::BuildError| failure(ErrorCode::ValidationFailed, e.to_string());
        let mut call = self.client(base_url).await.converse().model_id(&req.model);
        if let Some(system) = &req.system {
            call = call.system(SystemContentBlock::Text(system.clone()));
            if req.prompt_cache {
                let point = CachePointBlock::builder().r#type(CachePointType::Default).build().map_err(bad)?;
                call = call.system(SystemContentBlock::CachePoint(point));
            }
        }
        for m in &req.messages {
            let role = match m.role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            };
            let msg =
                Message::builder().role(role).content(ContentBlock::Text(m.content.clone())).build().map_err(bad)?;
            call = call.messages(msg);
        }
        let mut inference =
            InferenceConfiguration::builder().max_tokens(i32::try_from(req.max_tokens).unwrap_or(i32::MAX));
        if let Some(t) = req.temperature {
            inference = inference.temperature(t as f32);
        }
        if !req.stop.is_empty() {
            inference = inference.set_stop_sequences(Some(req.stop.clone()));
        }
        let sent = tokio::time::timeout(timeout, call.inference_config(inference.build()).send()).await;
        let out = match sent {
            Err(_) => return Err(failure(ErrorCode::HttpTimeout, "Bedrock did not answer in time".to_owned())),
            Ok(Err(e)) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let retry_after_ms = e
                    .raw_response()
                    .and_then(|r| r.headers().get("retry-after"))
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|s| (s * 1000.0) as u64);
                let code = match (e.code(), status) {
                    (Some("ThrottlingException" | "ServiceQuotaExceededException"), _) | (_, Some(429)) => {
                        ErrorCode::LlmRateLimit
                    }
                    (Some("ValidationException"), _) | (_, Some(400)) => ErrorCode::Http400,
                    (Some("AccessDeniedException"), _) | (_, Some(403)) => ErrorCode::Http403,
                    (Some("ResourceNotFoundException"), _) | (_, Some(404)) => ErrorCode::Http404,
                    (_, Some(s)) if s >= 500 => ErrorCode::LlmApiError,
                    (None, None) => ErrorCode::ConnectionRefused,
                    _ => ErrorCode::LlmApiError,
                };
                let message = format!("Bedrock: {}", e.message().unwrap_or("request failed"));
                return Err(failure(code, message)
                    .with_details(json!({"upstream_status": status, "retry_after_ms": retry_after_ms})));
            }
            Ok(Ok(out)) => out,
        };
        let text = match out.output() {
            Some(ConverseOutput::Message(m)) => m
                .content()
                .iter()
                .filter_map(|b| if let ContentBlock::Text(t) = b { Some(t.as_str()) } else { None })
                .collect::<String>(),
            _ => return Err(failure(ErrorCode::LlmInvalidResponse, "Bedrock answered no message".to_owned())),
        };
        let u = out.usage();
        let n = |v: Option<i32>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
        Ok(LlmResponse {
            text,
            model: req.model.clone(),
            finish_reason: out.stop_reason().as_str().to_owned(),
            usage: Usage {
                input_tokens: n(u.map(|u| u.input_tokens())),
                output_tokens: n(u.map(|u| u.output_tokens())),
                cache_read_tokens: n(u.and_then(|u| u.cache_read_input_tokens())),
                cache_write_tokens: n(u.and_then(|u| u.cache_write_input_tokens())),
            },
        })
    }
}
