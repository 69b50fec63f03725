//! Idempotency records in DynamoDB (`TENANT#t` / `IDEM#key`) with Powertools semantics:
//! one conditional put claims a new or expired key; on failure the old item, returned
//! with the condition failure, says whether the key is in progress, completed (with its
//! result) or used with another payload.

use crate::dynamo::{get_n, get_s, n, s, sdk_err, tenant_pk, ttl, Item};
use aos_core::TenantId;
use aos_runtime::ports::{ClaimOutcome, IdempotencyCompletion, IdempotencyStore, StoreError, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use aws_sdk_dynamodb::Client;

/// Idempotency keys in the AOS table.
pub struct DynamoIdempotency {
    client: Client,
    table: String,
}

impl DynamoIdempotency {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn sk(key: &str) -> String {
    format!("IDEM#{key}")
}

fn existing(item: &Item, payload_hash: &str) -> Result<ClaimOutcome, StoreError> {
    if get_s(item, "payload_hash")? != payload_hash {
        return Ok(ClaimOutcome::Conflict);
    }
    if get_s(item, "status")? == "in_progress" {
        return Ok(ClaimOutcome::InProgress { until_ms: get_n(item, "expires_at_ms")? });
    }
    let result = serde_json::from_str(get_s(item, "result")?).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(ClaimOutcome::Completed(result))
}

#[async_trait]
impl IdempotencyStore for DynamoIdempotency {
    async fn claim(
        &self,
        tenant: &TenantId,
        key: &str,
        payload_hash: &str,
        until_ms: u64,
        now_ms: u64,
    ) -> StoreResult<ClaimOutcome> {
        // Marks this claim: a put the SDK re-sent after a lost answer finds it its own.
        let claim_id = uuid::Uuid::new_v4().simple().to_string();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant.as_str())))
            .item("sk", s(sk(key)))
            .item("status", s("in_progress"))
            .item("claim_id", s(&claim_id))
            .item("payload_hash", s(payload_hash))
            .item("expires_at_ms", n(until_ms))
            .item("ttl", ttl(until_ms))
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms <= :now")
            .expression_attribute_values(":now", n(now_ms))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let item = failed
                        .item
                        .ok_or_else(|| StoreError::Backend("condition failed without the item".to_owned()))?;
                    if get_s(&item, "claim_id").is_ok_and(|c| c == claim_id) {
                        return Ok(ClaimOutcome::Claimed);
                    }
                    existing(&item, payload_hash)
                }
                other => Err(sdk_err(other)),
            },
        }
    }

    async fn complete(&self, tenant: &TenantId, done: &IdempotencyCompletion) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant.as_str())))
            .item("sk", s(sk(&done.key)))
            .item("status", s("completed"))
            .item("payload_hash", s(&done.payload_hash))
            .item("result", s(done.result.to_string()))
            .item("expires_at_ms", n(done.expires_at_ms))
            .item("ttl", ttl(done.expires_at_ms))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn release(&self, tenant: &TenantId, key: &str) -> StoreResult<()> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(sk(key)))
            .condition_expression("#st = :in_progress")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk_err(e)),
        }
    }
}
