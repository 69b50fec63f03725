//! How a run lies in the table: its keys (the run's own partition, which holds the run
//! item and its steps; the status and ends indexes), its attributes and their conversion
//! to and from records, and its large values, kept in S3 with a reference in the item.

use super::*;

/// A run's spec (plan and input) stays inline up to this; a request body is at most 256 KiB.
pub(super) const SPEC_INLINE_MAX_BYTES: usize = 200 * 1024;

/// The attributes that may hold a value or a reference to one.
pub(super) const VALUE_ATTRS: [&str; 4] = ["checkpoint", "output", "plan", "spec"];

/// The partition of one run: its run item and its steps. Every run is its own partition,
/// so a tenant's steps spread over as many partitions as it has runs.
pub(crate) fn run_pk(tenant: &str, run: &str) -> String {
    format!("TENANT#{tenant}#RUN#{run}")
}

/// The sort key of the run item in its partition (its steps are `STEP#<index>`).
pub(crate) const RUN_SK: &str = "RUN";

/// The sort key of the run's spec (plan and input), an item of its own beside the run
/// item: it never changes, and a step's write costs by the size of the items it writes,
/// so the steps of a run with a large input cost what those of a small one do.
pub(crate) const SPEC_SK: &str = "RUN#SPEC";

/// The run item of a run's items (`RUN` and `RUN#SPEC`, any order) with the spec put
/// back in; `None` without a run item. A run item written before the spec had an item of
/// its own carries the spec itself.
pub(super) fn with_spec(items: Vec<Item>) -> Option<Item> {
    let (mut run, mut spec) = (None, None);
    for mut item in items {
        match item.get("sk") {
            Some(AttributeValue::S(sk)) if sk == RUN_SK => run = Some(item),
            Some(AttributeValue::S(sk)) if sk == SPEC_SK => spec = item.remove("spec"),
            _ => {}
        }
    }
    let mut run = run?;
    if let Some(spec) = spec {
        run.insert("spec".to_owned(), spec);
    }
    Some(run)
}

/// The run's id, from the partition key of its item.
fn run_id_of(item: &Item) -> Result<RunId, StoreError> {
    let pk = get_s(item, "pk")?;
    let id = pk.rsplit_once("#RUN#").map(|(_, id)| id).ok_or_else(|| StoreError::Backend(format!("{pk} is no run")))?;
    RunId::parse(id).map_err(|e| StoreError::Backend(e.to_string()))
}

pub(super) fn step_sk(index: u32) -> String {
    format!("STEP#{index:06}")
}

/// The condition that the run's status is one the lifecycle allows moving to `to` from
/// (`aos_core`'s rule, not a copy of it): `#st IN (:from0, ...)` and its values.
pub(super) fn may_become(to: RunStatus) -> (String, Vec<(String, AttributeValue)>) {
    let from = RunStatus::sources_of(to);
    let names: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
    let values = names.iter().zip(&from).map(|(n, st)| (n.clone(), s(st.as_str()))).collect();
    (format!("#st IN ({})", names.join(", ")), values)
}

/// Where a run's large values live in the blob store.
pub(super) fn run_blob_prefix(tenant: &str, run: &str) -> String {
    format!("{tenant}/runs/{run}/")
}

/// The `status` index partition of a tenant's runs in `status` (sorted by run id).
pub(crate) fn status_pk(tenant: &str, status: RunStatus) -> String {
    format!("TENANT#{tenant}#STATUS#{status}")
}

/// The `ends` index partition of a tenant's finished runs.
pub(super) fn ended_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}#ENDED")
}

/// The `ends` index keys of a run that ended at `at_ms`.
pub(super) fn ended_keys(tenant: &str, run: &str, at_ms: u64) -> (AttributeValue, AttributeValue) {
    (s(ended_pk(tenant)), s(format!("{at_ms:013}#{run}")))
}

pub(super) fn json_err(e: &serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt record: {e}"))
}

pub(super) fn opt_json<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => serde_json::from_str(v).map(Some).map_err(|e| json_err(&e)),
        _ => Ok(None),
    }
}

pub(super) fn json_attr<T: serde::Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(v).map(AttributeValue::S).map_err(|e| json_err(&e))
}

pub(super) fn compose(tenant: &TenantId, item: &Item) -> Result<RunRecord, StoreError> {
    let spec: RunSpec = serde_json::from_str(get_s(item, "spec")?).map_err(|e| json_err(&e))?;
    let status =
        RunStatus::parse(get_s(item, "status")?).ok_or_else(|| StoreError::Backend("bad run status".to_owned()))?;
    let state = RunMutable {
        status,
        next_step: u32::try_from(get_n(item, "next_step")?).unwrap_or(u32::MAX),
        last_hash: get_s(item, "last_hash")?.to_owned(),
        output: opt_json(item, "output")?,
        error: opt_json(item, "error")?,
        updated_at_ms: get_n(item, "updated_at_ms")?,
        spent_mc: item.get("spent_mc").map_or(Ok(0), |_| get_n(item, "spent_mc"))?,
        usage: opt_json(item, "usage")?.unwrap_or_default(),
        ahead: opt_json(item, "ahead")?,
    };
    Ok(RunRecord::compose(tenant.clone(), run_id_of(item)?, spec, opt_json(item, "plan")?, state))
}

pub(super) fn is_condition_failure(e: &UpdateItemError) -> bool {
    e.is_conditional_check_failed_exception()
}

impl DynamoRunStore {
    /// The attribute of a value: the JSON inline, or (over [`INLINE_MAX_BYTES`]) a
    /// reference to it in the blob store, under the run's prefix and its content hash (a
    /// transaction sent again writes the same key).
    pub(super) async fn value_attr<T: serde::Serialize>(
        &self,
        tenant: &str,
        run: &str,
        v: &T,
    ) -> StoreResult<AttributeValue> {
        self.value_attr_within(tenant, run, v, INLINE_MAX_BYTES).await
    }

    /// Like `value_attr`, inline up to `inline_max` bytes.
    pub(super) async fn value_attr_within<T: serde::Serialize>(
        &self,
        tenant: &str,
        run: &str,
        v: &T,
        inline_max: usize,
    ) -> StoreResult<AttributeValue> {
        let json = serde_json::to_string(v).map_err(|e| json_err(&e))?;
        if json.len() <= inline_max {
            return Ok(AttributeValue::S(json));
        }
        let blobs = self.blobs.as_ref().ok_or_else(|| {
            StoreError::Backend(format!(
                "a value of {} bytes needs the blob bucket (AOS_BLOB_BUCKET): a DynamoDB item holds 400 KB",
                json.len()
            ))
        })?;
        use sha2::Digest as _;
        let key =
            format!("{}{}.json", run_blob_prefix(tenant, run), hex::encode(sha2::Sha256::digest(json.as_bytes())));
        let bytes = json.len() as u64;
        blobs.put(&key, json.into_bytes()).await?;
        Ok(AttributeValue::M(std::collections::HashMap::from([
            ("blob".to_owned(), s(key)),
            ("bytes".to_owned(), n(bytes)),
        ])))
    }

    /// `item` with every value held in the blob store read back inline.
    pub(super) async fn hydrate(&self, tenant: &TenantId, mut item: Item) -> StoreResult<Item> {
        for name in VALUE_ATTRS {
            let Some(AttributeValue::M(r)) = item.get(name) else { continue };
            let key = match r.get("blob") {
                Some(AttributeValue::S(k)) => k.clone(),
                _ => return Err(StoreError::Backend(format!("attribute {name} is neither a value nor a reference"))),
            };
            // A reference names its own tenant's prefix, nothing else.
            if !key.starts_with(&format!("{tenant}/")) {
                return Err(StoreError::Backend(format!("attribute {name} references another tenant's value")));
            }
            let blobs = self.blobs.as_ref().ok_or_else(|| {
                StoreError::Backend("a value is in the blob store, but none is configured".to_owned())
            })?;
            let body = blobs.get(&key).await?.ok_or_else(|| StoreError::Backend(format!("value {key} is missing")))?;
            let json = String::from_utf8(body).map_err(|_| StoreError::Backend(format!("value {key} is not UTF-8")))?;
            item.insert(name.to_owned(), AttributeValue::S(json));
        }
        Ok(item)
    }

    pub(super) async fn compose_full(&self, tenant: &TenantId, item: Item) -> StoreResult<RunRecord> {
        compose(tenant, &self.hydrate(tenant, item).await?)
    }
}
