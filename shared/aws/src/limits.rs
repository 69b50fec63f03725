//! Request rates shared by every Lambda: one GCRA bucket per tenant in DynamoDB
//! (`TENANT#t` / `RATE`, its theoretical arrival time `tat` in µs since the epoch), taken
//! with conditional updates so instances never let more through together than the plan
//! allows. A request does not always cost a write: an instance takes a second's worth of
//! its tenant's allowance at once (free 1, dev 5, pro 20, enterprise 100 requests) and
//! answers from that lease for up to a second; what it does not use is lost, so the
//! shared limit is never passed, only approached more slowly by a quiet instance.

use crate::dynamo::{get_n, n, s, sdk_err, tenant_pk};
use aos_core::limits::PlanName;
use aos_core::TenantId;
use aos_runtime::limits::{gcra_decision, RateDecision, RateLimiter};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a lease of requests may be used.
const LEASE: Duration = Duration::from_secs(1);

/// A minute, the plans' window and burst, µs.
const MINUTE_US: u64 = 60_000_000;

struct Lease {
    left: u32,
    until: Instant,
    /// What the bucket said when the lease was taken.
    decision: RateDecision,
}

/// The shared limiter of the route Lambdas.
pub struct DynamoRateLimiter {
    client: Client,
    table: String,
    leases: Mutex<HashMap<(TenantId, PlanName), Lease>>,
}

/// What one take from the bucket came to.
enum Took {
    /// Taken: the bucket's arrival time after it.
    Yes(u64),
    /// Refused: the bucket's arrival time as it stands.
    No(u64),
}

impl DynamoRateLimiter {
    /// The limiter over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), leases: Mutex::default() }
    }

    /// Takes `count` requests of `tenant` from its bucket at `now_us`, at one request
    /// every `interval` µs: one conditional write (two when the bucket was idle).
    async fn take(&self, tenant: &TenantId, interval: u64, count: u32, now_us: u64) -> Result<Took, String> {
        let cost = interval * u64::from(count);
        let Some(latest) = (now_us + MINUTE_US).checked_sub(cost) else { return Ok(Took::No(now_us)) };
        let ttl = n((now_us + MINUTE_US) / 1_000_000 + 120);
        for _ in 0..3 {
            // A busy bucket: push its arrival time on, while it stays within a minute.
            let busy = self
                .update(tenant)
                .update_expression("SET tat = tat + :cost, #ttl = :ttl")
                .condition_expression("tat >= :now AND tat <= :latest")
                .expression_attribute_values(":cost", n(cost))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":latest", n(latest))
                .expression_attribute_values(":ttl", ttl.clone())
                .send()
                .await;
            let old = match busy {
                Ok(out) => return Ok(Took::Yes(out.attributes.and_then(|a| get_n(&a, "tat").ok()).unwrap_or(now_us))),
                Err(e) => match e.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(f) => f.item.and_then(|i| get_n(&i, "tat").ok()),
                    other => return Err(sdk_err(other).to_string()),
                },
            };
            if let Some(tat) = old.filter(|t| *t >= now_us) {
                return Ok(Took::No(tat));
            }
            // An idle (or new) bucket: start it from now.
            let fresh = now_us + cost;
            let idle = self
                .update(tenant)
                .update_expression("SET tat = :fresh, #ttl = :ttl")
                .condition_expression("attribute_not_exists(tat) OR tat < :now")
                .expression_attribute_values(":fresh", n(fresh))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":ttl", ttl.clone())
                .send()
                .await;
            match idle {
                Ok(_) => return Ok(Took::Yes(fresh)),
                Err(e) => match e.into_service_error() {
                    // Another instance woke it meanwhile: take from it as a busy one.
                    UpdateItemError::ConditionalCheckFailedException(_) => {}
                    other => return Err(sdk_err(other).to_string()),
                },
            }
        }
        Err("the tenant's request bucket kept changing under this instance".to_owned())
    }

    fn update(&self, tenant: &TenantId) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s("RATE"))
            .expression_attribute_names("#ttl", "ttl")
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }

    /// Requests one instance takes at once: a second's worth of the plan's rate.
    fn lease_size(limit: u32) -> u32 {
        (limit / 60).max(1)
    }
}

fn now_us() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros())
        .unwrap_or(u64::MAX)
}

#[async_trait::async_trait]
impl RateLimiter for DynamoRateLimiter {
    async fn check(&self, tenant: &TenantId, plan: PlanName) -> Option<RateDecision> {
        let limit = plan.requests_per_minute()?;
        let key = (tenant.clone(), plan);
        if let Ok(mut leases) = self.leases.lock() {
            if let Some(lease) = leases.get_mut(&key).filter(|l| l.left > 0 && Instant::now() < l.until) {
                lease.left -= 1;
                let mut d = lease.decision;
                d.remaining = d.remaining.saturating_sub(1);
                return Some(d);
            }
        }
        let interval = MINUTE_US / u64::from(limit);
        let now = now_us();
        let mut size = Self::lease_size(limit);
        loop {
            match self.take(tenant, interval, size, now).await {
                Ok(Took::Yes(tat)) => {
                    let decision = gcra_decision(limit, tat, now, true);
                    if let Ok(mut leases) = self.leases.lock() {
                        leases.insert(key, Lease { left: size - 1, until: Instant::now() + LEASE, decision });
                    }
                    return Some(decision);
                }
                // Less than a lease left: one request may still fit.
                Ok(Took::No(_)) if size > 1 => size = 1,
                Ok(Took::No(tat)) => return Some(gcra_decision(limit, tat, now, false)),
                Err(e) => {
                    // A limiter that cannot reach its bucket does not take the API down.
                    tracing::warn!(tenant = %tenant, error = %e, "the request rate could not be checked; letting the request by");
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_the_plans_rate_is_leased_at_once() {
        assert_eq!(
            [60, 300, 1_200, 6_000].map(DynamoRateLimiter::lease_size),
            [1, 5, 20, 100],
            "free, dev, pro, enterprise"
        );
    }
}
