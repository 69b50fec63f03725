//! The step queue on SQS: visibility timeout, `ApproximateReceiveCount`, change visibility
//! as the heartbeat, and dead-lettering by the queue's redrive policy.
//! SQS counts time in whole seconds: durations are rounded up (delays and visibility)
//! or down (long-poll waits) and clamped to SQS's limits.

use crate::dynamo::sdk_err;
use aos_runtime::ports::{Queue, Received, StoreResult};
use async_trait::async_trait;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;
use std::time::Duration;

/// An SQS queue behind the queue port.
pub struct SqsQueue {
    client: Client,
    url: String,
}

fn secs_up(d: Duration, max: u64) -> i32 {
    let s = d.as_millis().div_ceil(1000);
    i32::try_from(u64::try_from(s).unwrap_or(u64::MAX).min(max)).unwrap_or(i32::MAX)
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<()> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(secs_up(delay, 900))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> StoreResult<Vec<Received>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .visibility_timeout(secs_up(visibility, 43_200))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Some(Received::new(m.receipt_handle?, m.body.unwrap_or_default(), receive_count))
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        match self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_receipt_handle_is_invalid()) => Ok(()),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> StoreResult<bool> {
        let out = self
            .client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs_up(visibility, 43_200))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_receipt_handle_is_invalid() || se.is_message_not_inflight()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }
}
