//! Circuit breakers in DynamoDB: `TENANT#t` / `BREAKER#<skill>:<target>`, the state as JSON
//! and a version; changes are conditional puts on the version (retried on a race), so
//! every Lambda applies the same rules to the same state.

use crate::dynamo::{get_n, get_s, n, s, sdk_err, tenant_pk};
use aos_core::breaker::{Admission, BreakerPolicy, BreakerState};
use aos_core::TenantId;
use aos_runtime::ports::{BreakerStore, StoreError, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

/// Breakers in the AOS table.
pub struct DynamoBreakers {
    client: Client,
    table: String,
}

impl DynamoBreakers {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    async fn load(&self, tenant: &TenantId, key: &str) -> StoreResult<(BreakerState, u64)> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(format!("BREAKER#{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        match out.item {
            None => Ok((BreakerState::default(), 0)),
            Some(item) => {
                let state = serde_json::from_str(get_s(&item, "state")?)
                    .map_err(|e| StoreError::Backend(format!("corrupt breaker: {e}")))?;
                Ok((state, get_n(&item, "ver")?))
            }
        }
    }

    /// Stores `state` if the version is still `ver`; false on a race.
    async fn store(&self, tenant: &TenantId, key: &str, state: &BreakerState, ver: u64, now: u64) -> StoreResult<bool> {
        let raw = serde_json::to_string(state).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant.as_str())))
            .item("sk", s(format!("BREAKER#{key}")))
            .item("state", s(raw))
            .item("ver", n(ver + 1))
            // A breaker nobody changes for a week is stale: DynamoDB's TTL deletes it.
            .item("ttl", crate::dynamo::ttl(now + aos_runtime::ports::BREAKER_IDLE_MS));
        put = if ver == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("ver = :ver").expression_attribute_values(":ver", n(ver))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }
}

#[async_trait]
impl BreakerStore for DynamoBreakers {
    async fn admit(&self, tenant: &TenantId, key: &str, now: u64, policy: &BreakerPolicy) -> StoreResult<Admission> {
        let (state, ver) = self.load(tenant, key).await?;
        let (admission, next) = state.admit(now, policy);
        if next == state {
            return Ok(admission);
        }
        // Claiming the probe: only one caller's conditional write wins.
        if self.store(tenant, key, &next, ver, now).await? {
            Ok(admission)
        } else {
            Ok(Admission::Refuse { retry_after_ms: 1000 })
        }
    }

    async fn record(
        &self,
        tenant: &TenantId,
        key: &str,
        failed: bool,
        now: u64,
        policy: &BreakerPolicy,
    ) -> StoreResult<()> {
        for _ in 0..5 {
            let (state, ver) = self.load(tenant, key).await?;
            let next = state.record(failed, now, policy);
            if next == state || self.store(tenant, key, &next, ver, now).await? {
                return Ok(());
            }
        }
        Err(StoreError::Conflict(format!("breaker {key}: too many concurrent updates")))
    }

    async fn forget_idle(&self, _before_ms: u64) -> StoreResult<u64> {
        // Every write sets the item's TTL a week ahead.
        Ok(0)
    }
}
