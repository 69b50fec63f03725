//! Tenants and API keys in DynamoDB. A tenant is `TENANT#t` / `TENANT`; a key is stored
//! twice, written together: `APIKEY#<hash>` / `APIKEY` for authentication by hash and
//! `TENANT#t` / `KEY#<id>` for listing a tenant's keys. Only hashes are stored.

use crate::dynamo::{get_s, n, query_prefix, s, sdk_err, tenant_pk, Item};
use aos_core::limits::{QuotaName, SpendAdjust, SpendWindows};
use aos_core::{ApiKeyId, TenantId};
use aos_runtime::ports::{ApiKeyRecord, StoreError, StoreResult, TenantRecord, TenantStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

/// Tenants and keys in the AOS table.
pub struct DynamoTenants {
    client: Client,
    table: String,
}

/// The listing index partition that holds every tenant.
const TENANTS_PK: &str = "TENANTS";

/// A tenant's meter for a period: `TENANT#t` / `METER#<meter>#<period>`, its count in `v`.
fn meter_sk(meter: &str, period: &str) -> String {
    format!("METER#{meter}#{period}")
}

/// The update that adds `amount` to a meter (a step's commit adds its tokens with it).
pub(crate) fn meter_add(
    table: &str,
    tenant: &str,
    meter: &str,
    period: &str,
    amount: i64,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    aws_sdk_dynamodb::types::Update::builder()
        .table_name(table)
        .key("pk", s(tenant_pk(tenant)))
        .key("sk", s(meter_sk(meter, period)))
        .update_expression("ADD v :a")
        .expression_attribute_values(":a", aws_sdk_dynamodb::types::AttributeValue::N(amount.to_string()))
}

/// The update that adds `adjust` to the tenant's spend windows (`None`: nothing to do).
/// It is blind: a window that turned over between the take and this adds to the new one
/// (a boundary's estimate error, never more).
pub(crate) fn spend_adjust(table: &str, tenant: &str, adjust: &SpendAdjust) -> Option<UpdateBuilder> {
    let parts: Vec<&str> =
        [adjust.hour.as_ref().map(|_| "hv :d"), adjust.day.as_ref().map(|_| "dv :d")].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| {
        aws_sdk_dynamodb::types::Update::builder()
            .table_name(table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(SPEND_SK))
            .update_expression(format!("ADD {}", parts.join(", ")))
            .expression_attribute_values(":d", AttributeValue::N(adjust.delta.to_string()))
    })
}

/// The item of a tenant's spend windows: the hour `h` and its total `hv`, the day `d`
/// and its total `dv` (millicredits).
const SPEND_SK: &str = "SPEND";

/// What a spend item says of `windows`: (hour, day) totals, 0 for a window it is not on.
fn spend_of(item: Option<&Item>, windows: &SpendWindows) -> (u64, u64) {
    let Some(item) = item else { return (0, 0) };
    let on = |period: &str, value: &str, want: &str| {
        if get_s(item, period).ok() == Some(want) {
            crate::dynamo::get_n(item, value).unwrap_or(0)
        } else {
            0
        }
    };
    (on("h", "hv", &windows.hour), on("d", "dv", &windows.day))
}

fn key_pk(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

fn parse_key(item: &Item) -> Result<ApiKeyRecord, StoreError> {
    serde_json::from_str(get_s(item, "body")?).map_err(|e| StoreError::Backend(format!("corrupt key record: {e}")))
}

fn build(put: aws_sdk_dynamodb::types::builders::PutBuilder) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder().put(put.build().map_err(sdk_err)?).build())
}

impl DynamoTenants {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The two puts that store a key; `fresh` adds the conditions of a new key.
    fn key_puts(&self, key: &ApiKeyRecord, fresh: bool) -> Result<Vec<TransactWriteItem>, StoreError> {
        let body = serde_json::to_string(key).map_err(|e| StoreError::Backend(e.to_string()))?;
        let by_hash = Put::builder()
            .table_name(&self.table)
            .item("pk", s(key_pk(&key.hash)))
            .item("sk", s("APIKEY"))
            .item("body", s(&body));
        let by_tenant = Put::builder()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(key.tenant.as_str())))
            .item("sk", s(format!("KEY#{}", key.id)))
            .item("body", s(body));
        let (by_hash, by_tenant) = if fresh {
            (
                by_hash.condition_expression("attribute_not_exists(pk)"),
                by_tenant.condition_expression("attribute_not_exists(pk)"),
            )
        } else {
            (by_hash, by_tenant)
        };
        Ok(vec![build(by_hash)?, build(by_tenant)?])
    }

    /// Conflicts and throttling are retried; a failed condition is `Conflict`. (A lost
    /// answer retried by the SDK reads as a conflict too: creating a tenant or key twice
    /// under the same id is refused, never done twice.)
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        conflict: &str,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<()> {
        match crate::audit::transact_audited(&self.client, &self.table, items, audit).await?.0 {
            crate::txn::Txn::Committed => Ok(()),
            crate::txn::Txn::ConditionFailed(_) => Err(StoreError::Conflict(conflict.to_owned())),
        }
    }
}

#[async_trait]
impl TenantStore for DynamoTenants {
    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        first_key: &ApiKeyRecord,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<()> {
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant.id.as_str())))
            .item("sk", s("TENANT"))
            .item("name", s(&tenant.name))
            .item("created_at_ms", n(tenant.created_at_ms))
            // Every tenant in one listing partition of the index, for sweeps.
            .item("gsi1pk", s(TENANTS_PK))
            .item("gsi1sk", s(tenant.id.as_str()))
            .condition_expression("attribute_not_exists(pk)");
        let put = match tenant.retention_days {
            Some(days) => put.item("retention_days", n(u64::from(days))),
            None => put,
        };
        let put = match tenant.plan {
            Some(plan) => put.item("plan", s(plan.as_str())),
            None => put,
        };
        let mut items = vec![build(put)?];
        items.extend(self.key_puts(first_key, true)?);
        self.transact(items, &format!("tenant {} exists", tenant.id), audit).await
    }

    async fn tenant(&self, id: &TenantId) -> StoreResult<Option<TenantRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(id.as_str())))
            .key("sk", s("TENANT"))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item
            .map(|item| {
                Ok(TenantRecord {
                    id: id.clone(),
                    name: get_s(&item, "name")?.to_owned(),
                    created_at_ms: crate::dynamo::get_n(&item, "created_at_ms")?,
                    retention_days: crate::dynamo::get_n(&item, "retention_days")
                        .ok()
                        .and_then(|d| u32::try_from(d).ok()),
                    plan: match get_s(&item, "plan") {
                        Ok(p) => Some(
                            aos_core::limits::PlanName::parse(p)
                                .ok_or_else(|| StoreError::Backend(format!("tenant {id} has an unknown plan {p:?}")))?,
                        ),
                        Err(_) => None,
                    },
                })
            })
            .transpose()
    }

    async fn set_retention(
        &self,
        id: &TenantId,
        days: Option<u32>,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<Option<TenantRecord>> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(id.as_str())))
            .key("sk", s("TENANT"))
            .condition_expression("attribute_exists(pk)");
        let update = match days {
            Some(d) => {
                update.update_expression("SET retention_days = :d").expression_attribute_values(":d", n(u64::from(d)))
            }
            None => update.update_expression("REMOVE retention_days"),
        };
        let items = vec![TransactWriteItem::builder().update(update.build().map_err(sdk_err)?).build()];
        match crate::audit::transact_audited(&self.client, &self.table, items, audit).await?.0 {
            crate::txn::Txn::Committed => self.tenant(id).await,
            crate::txn::Txn::ConditionFailed(_) => Ok(None),
        }
    }

    async fn set_plan(
        &self,
        id: &TenantId,
        plan: Option<aos_core::limits::PlanName>,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<Option<TenantRecord>> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(id.as_str())))
            .key("sk", s("TENANT"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#plan", "plan");
        let update = match plan {
            Some(p) => update.update_expression("SET #plan = :p").expression_attribute_values(":p", s(p.as_str())),
            None => update.update_expression("REMOVE #plan"),
        };
        let items = vec![TransactWriteItem::builder().update(update.build().map_err(sdk_err)?).build()];
        match crate::audit::transact_audited(&self.client, &self.table, items, audit).await?.0 {
            crate::txn::Txn::Committed => self.tenant(id).await,
            crate::txn::Txn::ConditionFailed(_) => Ok(None),
        }
    }

    async fn meter(&self, tenant: &TenantId, meter: &str, period: &str) -> StoreResult<u64> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(meter_sk(meter, period)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item.and_then(|i| crate::dynamo::get_n(&i, "v").ok()).unwrap_or(0))
    }

    async fn add_to_meter(
        &self,
        tenant: &TenantId,
        meter: &str,
        period: &str,
        amount: i64,
        limit: Option<u64>,
    ) -> StoreResult<Result<u64, u64>> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(meter_sk(meter, period)))
            .update_expression("ADD v :a")
            .expression_attribute_values(":a", aws_sdk_dynamodb::types::AttributeValue::N(amount.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(l) = limit.filter(|_| amount > 0) {
            // Within the limit after the add: one conditional write.
            let Some(room) = l.checked_sub(amount.unsigned_abs()) else {
                return Ok(Err(self.meter(tenant, meter, period).await?));
            };
            req = req
                .condition_expression("attribute_not_exists(v) OR v <= :room")
                .expression_attribute_values(":room", n(room));
        }
        match req.send().await {
            Ok(out) => Ok(Ok(out.attributes.and_then(|a| crate::dynamo::get_n(&a, "v").ok()).unwrap_or(0))),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    Ok(Err(failed.item.and_then(|i| crate::dynamo::get_n(&i, "v").ok()).unwrap_or(0)))
                }
                other => Err(sdk_err(other)),
            },
        }
    }

    async fn take_spend(
        &self,
        tenant: &TenantId,
        windows: &SpendWindows,
        amount: u64,
        limits: (Option<u64>, Option<u64>),
    ) -> StoreResult<Result<(u64, u64), (QuotaName, u64)>> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
        let over = |(hour, day): (u64, u64)| {
            if limits.0.is_some_and(|l| hour.saturating_add(amount) > l) {
                Some((QuotaName::SpendPerHour, hour))
            } else if limits.1.is_some_and(|l| day.saturating_add(amount) > l) {
                Some((QuotaName::SpendPerDay, day))
            } else {
                None
            }
        };
        let mut seen: Option<Item> = None;
        for _ in 0..5 {
            let (hour, day) = spend_of(seen.as_ref(), windows);
            if let Some(refused) = seen.as_ref().and(over((hour, day))) {
                return Ok(Err(refused));
            }
            let req = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(tenant_pk(tenant.as_str())))
                .key("sk", s(SPEND_SK))
                .return_values(ReturnValue::UpdatedNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .expression_attribute_values(":h", s(&windows.hour))
                .expression_attribute_values(":d", s(&windows.day));
            let req = match &seen {
                // First, as if both windows were current and had room: one write.
                None => {
                    let mut cond = vec!["h = :h", "d = :d"];
                    let mut req =
                        req.update_expression("ADD hv :a, dv :a").expression_attribute_values(":a", n(amount));
                    for (limit, clause, name) in
                        [(limits.0, "hv <= :hroom", ":hroom"), (limits.1, "dv <= :droom", ":droom")]
                    {
                        if let Some(l) = limit {
                            let Some(room) = l.checked_sub(amount) else {
                                let current = self.spent(tenant, windows).await?;
                                return Ok(Err(over(current).unwrap_or((QuotaName::SpendPerHour, current.0))));
                            };
                            cond.push(clause);
                            req = req.expression_attribute_values(name, n(room));
                        }
                    }
                    req.condition_expression(cond.join(" AND "))
                }
                // A window turned over (or the item is new): write both totals, on the
                // condition that the item is still as read.
                Some(old) => {
                    let req = req
                        .update_expression("SET h = :h, d = :d, hv = :hv, dv = :dv")
                        .expression_attribute_values(":hv", n(hour + amount))
                        .expression_attribute_values(":dv", n(day + amount));
                    match (get_s(old, "h"), get_s(old, "d")) {
                        (Ok(oh), Ok(od)) => req
                            .condition_expression("h = :oh AND d = :od AND hv = :ohv AND dv = :odv")
                            .expression_attribute_values(":oh", s(oh))
                            .expression_attribute_values(":od", s(od))
                            .expression_attribute_values(":ohv", n(crate::dynamo::get_n(old, "hv").unwrap_or(0)))
                            .expression_attribute_values(":odv", n(crate::dynamo::get_n(old, "dv").unwrap_or(0))),
                        _ => req.condition_expression("attribute_not_exists(h)"),
                    }
                }
            };
            match req.send().await {
                Ok(out) => {
                    let a = out.attributes.unwrap_or_default();
                    let get = |k: &str| crate::dynamo::get_n(&a, k).unwrap_or(0);
                    return Ok(Ok((get("hv"), get("dv"))));
                }
                Err(e) => match e.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(f) => seen = Some(f.item.unwrap_or_default()),
                    other => return Err(sdk_err(other)),
                },
            }
        }
        Err(StoreError::Conflict("the tenant's spend windows kept changing; try again".to_owned()))
    }

    async fn adjust_spend(&self, tenant: &TenantId, adjust: &SpendAdjust) -> StoreResult<()> {
        // The same blind update a step's commit carries, on its own.
        let Some(up) = spend_adjust(&self.table, tenant.as_str(), adjust) else { return Ok(()) };
        let item = TransactWriteItem::builder().update(up.build().map_err(sdk_err)?).build();
        crate::txn::transact(&self.client, vec![item]).await.map(|_| ())
    }

    async fn spent(&self, tenant: &TenantId, windows: &SpendWindows) -> StoreResult<(u64, u64)> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(SPEND_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?
            .item;
        Ok(spend_of(item.as_ref(), windows))
    }

    async fn tenant_ids(&self, after: Option<&TenantId>, limit: u32) -> StoreResult<Vec<TenantId>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .expression_attribute_values(":pk", s(TENANTS_PK))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        let query = match after {
            None => query.key_condition_expression("gsi1pk = :pk"),
            Some(after) => query
                .key_condition_expression("gsi1pk = :pk AND gsi1sk > :after")
                .expression_attribute_values(":after", s(after.as_str())),
        };
        let out = query.send().await.map_err(sdk_err)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|i| TenantId::parse(get_s(i, "gsi1sk")?).map_err(|e| StoreError::Backend(e.to_string())))
            .collect()
    }

    async fn insert_key(&self, key: &ApiKeyRecord, audit: &[aos_core::audit::AuditEvent]) -> StoreResult<()> {
        let tenant_exists = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(key.tenant.as_str())))
            .key("sk", s("TENANT"))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(sdk_err)?;
        let mut items = vec![TransactWriteItem::builder().condition_check(tenant_exists).build()];
        items.extend(self.key_puts(key, true)?);
        self.transact(items, &format!("tenant {} does not exist or the key exists", key.tenant), audit).await
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key_pk(hash)))
            .key("sk", s("APIKEY"))
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(parse_key).transpose()
    }

    async fn keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyRecord>> {
        let items = query_prefix(&self.client, &self.table, tenant_pk(tenant.as_str()), "KEY#").await?;
        items.iter().map(parse_key).collect()
    }

    async fn revoke_key(
        &self,
        tenant: &TenantId,
        id: &ApiKeyId,
        now_ms: u64,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(format!("KEY#{id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        let Some(item) = out.item else { return Ok(None) };
        let mut key = parse_key(&item)?;
        if key.revoked_at_ms.is_none() {
            key.revoked_at_ms = Some(now_ms);
            self.transact(self.key_puts(&key, false)?, "the key changed meanwhile", audit).await?;
        }
        Ok(Some(key))
    }
}
