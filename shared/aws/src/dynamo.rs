//! Helpers shared by the DynamoDB adapters: key layout and attribute access.
//!
//! One table, `pk` / `sk` strings, every key starting from the tenant so no query can
//! cross tenants; `ttl` (epoch seconds) lets DynamoDB expire records.

use aos_runtime::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// An item as the SDK returns it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// Partition key of everything a tenant owns directly.
pub(crate) fn tenant_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}")
}

/// A string attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub(crate) fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Reads a string attribute.
pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Backend(format!("item lacks string attribute {name}"))),
    }
}

/// Reads a number attribute.
pub(crate) fn get_n(item: &Item, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => {
            v.parse().map_err(|_| StoreError::Backend(format!("attribute {name} is not a u64")))
        }
        _ => Err(StoreError::Backend(format!("item lacks number attribute {name}"))),
    }
}

/// A store error from any SDK error, with its full context for the logs.
pub(crate) fn sdk_err<E: std::error::Error>(e: E) -> StoreError {
    StoreError::Backend(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
}

/// The pause before sending again what a batch call left unprocessed: none before the
/// first send, then 50 ms doubling to 800 ms.
async fn unprocessed_pause(attempt: u32) {
    if attempt > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(5))).await;
    }
}

/// Deletes the items with these keys (`pk`, `sk`), 25 to a batch, sending again what the
/// service leaves unprocessed.
pub(crate) async fn delete_keys(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: Vec<Item>,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
    for chunk in keys.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|k| {
                let key =
                    k.iter().filter(|(name, _)| *name == "pk" || *name == "sk").map(|(a, b)| (a.clone(), b.clone()));
                DeleteRequest::builder()
                    .set_key(Some(key.collect()))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(sdk_err)
            })
            .collect::<Result<_, _>>()?;
        for attempt in 0..8u32 {
            if requests.is_empty() {
                break;
            }
            unprocessed_pause(attempt).await;
            let out = client
                .batch_write_item()
                .request_items(table, std::mem::take(&mut requests))
                .send()
                .await
                .map_err(sdk_err)?;
            requests = out.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
        }
        if !requests.is_empty() {
            return Err(StoreError::Backend(format!("{} deletes left unprocessed after retries", requests.len())));
        }
    }
    Ok(())
}

/// Up to `limit` keys of partition `pk` of the `ends` index whose time (the `gsi2sk`
/// prefix, ms) is before `before_ms`, oldest first, each with the id after its `#`.
pub(crate) async fn ends_before(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: String,
    before_ms: u64,
    limit: u32,
) -> Result<Vec<(Item, String)>, StoreError> {
    let out = client
        .query()
        .table_name(table)
        .index_name(crate::ENDS_INDEX)
        .key_condition_expression("gsi2pk = :pk AND gsi2sk < :before")
        .expression_attribute_values(":pk", s(pk))
        .expression_attribute_values(":before", s(format!("{before_ms:013}")))
        .limit(i32::try_from(limit).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(sdk_err)?;
    let mut found = Vec::new();
    for item in out.items.unwrap_or_default() {
        let sk = get_s(&item, "gsi2sk")?;
        let id = sk.split_once('#').map_or(sk, |(_, id)| id).to_owned();
        found.push((item, id));
    }
    Ok(found)
}

/// DynamoDB's TTL attribute (seconds) for an expiry in milliseconds.
pub(crate) fn ttl(expires_at_ms: u64) -> AttributeValue {
    n(expires_at_ms.div_ceil(1000))
}

/// A global secondary index of the table, with its key attributes.
pub(crate) struct Index {
    pub(crate) name: &'static str,
    pub(crate) pk: &'static str,
    pub(crate) sk: &'static str,
}

/// The listing index (`gsi1`, every attribute projected): tenants, approvals, the ledger's
/// transfers. Runs are not in it: a run changes at every step, and an index that holds
/// all of a run's attributes would be written at every step too.
pub(crate) const LISTING: Index = Index { name: "gsi1", pk: "gsi1pk", sk: "gsi1sk" };

/// Runs by status (`gsi3pk` = `TENANT#<t>#STATUS#<status>`, `gsi3sk` = run id): keys and
/// `since_ms` only, so a step that leaves its run's status as it was writes nothing here.
pub(crate) const STATUS: Index = Index { name: crate::STATUS_INDEX, pk: "gsi3pk", sk: "gsi3sk" };

/// Up to `limit` items of partition `pk` of `index` whose sort key is below `before`,
/// highest first.
pub(crate) async fn query_index_below(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    index: &Index,
    pk: String,
    before: &str,
    limit: u32,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    while items.len() < limit as usize {
        let out = client
            .query()
            .table_name(table)
            .index_name(index.name)
            .key_condition_expression("#ipk = :pk AND #isk < :before")
            .expression_attribute_names("#ipk", index.pk)
            .expression_attribute_names("#isk", index.sk)
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":before", s(before))
            .scan_index_forward(false)
            .limit(i32::try_from(limit as usize - items.len()).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_err)?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(items)
}

/// The items with these keys (`pk`, `sk`), read consistently, 100 to a request, asking
/// again for what the service leaves unprocessed. In the order of `keys`; a key with no
/// item is left out.
pub(crate) async fn batch_get(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: &[Item],
) -> Result<Vec<Item>, StoreError> {
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    let key_of = |i: &Item| -> Result<(String, String), StoreError> {
        Ok((get_s(i, "pk")?.to_owned(), get_s(i, "sk")?.to_owned()))
    };
    let mut found: HashMap<(String, String), Item> = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        let mut pending: Vec<Item> = chunk
            .iter()
            .map(|k| k.iter().filter(|(a, _)| *a == "pk" || *a == "sk").map(|(a, v)| (a.clone(), v.clone())).collect())
            .collect();
        for attempt in 0..8u32 {
            if pending.is_empty() {
                break;
            }
            unprocessed_pause(attempt).await;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(sdk_err)?;
            let out = client.batch_get_item().request_items(table, request).send().await.map_err(sdk_err)?;
            for item in out.responses.and_then(|mut r| r.remove(table)).unwrap_or_default() {
                found.insert(key_of(&item)?, item);
            }
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(table)).map(|k| k.keys).unwrap_or_default();
        }
        if !pending.is_empty() {
            return Err(StoreError::Backend(format!("{} reads left unprocessed after retries", pending.len())));
        }
    }
    let mut items = Vec::with_capacity(found.len());
    for k in keys {
        if let Some(item) = found.remove(&key_of(k)?) {
            items.push(item);
        }
    }
    Ok(items)
}

/// Every item of partition `pk` whose sort key starts with `prefix`, following pages
/// (strongly consistent reads).
pub(crate) async fn query_prefix(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: String,
    prefix: &str,
) -> Result<Vec<Item>, StoreError> {
    query_sk(client, table, pk, "begins_with(sk, :a)", &[(":a", prefix)]).await
}

/// Every item of partition `pk` whose sort key is from `from` to `to` (both included),
/// in sort key order: consistent reads, all pages.
pub(crate) async fn query_between(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: String,
    from: &str,
    to: &str,
) -> Result<Vec<Item>, StoreError> {
    query_sk(client, table, pk, "sk BETWEEN :a AND :b", &[(":a", from), (":b", to)]).await
}

/// Every item of partition `pk` whose sort key meets `condition` (over `values`).
async fn query_sk(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: String,
    condition: &str,
    values: &[(&str, &str)],
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let mut query = client
            .query()
            .table_name(table)
            .key_condition_expression(format!("pk = :pk AND {condition}"))
            .expression_attribute_values(":pk", s(pk.clone()));
        for (name, value) in values {
            query = query.expression_attribute_values(*name, s(*value));
        }
        let out = query.consistent_read(true).set_exclusive_start_key(start).send().await.map_err(sdk_err)?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}
