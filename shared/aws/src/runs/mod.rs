//! Runs, checkpoints and step claims in DynamoDB, with the step queue on SQS. This file
//! holds submission and the reads; `items.rs` the layout; `claims.rs` the claims
//! (claim, heartbeat, retry, park); `steps.rs` the commits; `cancel.rs` the cancel.
//!
//! Layout: every run is a partition of its own, `TENANT#t#RUN#<id>`. Its run item is `RUN`
//! (immutable `spec` JSON plus the mutable `status`, `next_step`, `last_hash`, `output`,
//! `error`); each step is `STEP#<index>`: its claim (status, attempts, lease) and, once
//! it ends, its checkpoint. The `status` index lists a tenant's runs by status (keys and
//! `since_ms` only, so a step that keeps its run's status writes nothing there). A step's
//! claim is one conditional update; its end is one `TransactWriteItems` of the step item
//! and the run item (the two must change together, and live in the same partition),
//! followed by the SQS send of the next step and the delete of the current message. If
//! the send is lost, the redelivered message finds the step done and sends the next step
//! again.

use crate::dynamo::{get_n, get_s, n, query_between, query_prefix, s, sdk_err, tenant_pk, Item, STATUS};
use crate::queue::SqsQueue;
use crate::txn::Txn;
use aos_core::{Checkpoint, ErrorCode, OutcomeError, RunId, RunStatus, StructuredOutcome, TenantId};
use aos_runtime::ports::{
    BeginOutcome, BeginStep, BlobStore, Committed, IdempotencyCompletion, Queue, Received, RunFilter, RunMutable,
    RunRecord, RunSpec, RunStore, StepCommit, StepMessage, StepProgress, StepRetry, StepSuspend, StoreError,
    StoreResult,
};
use aos_runtime::worker::encode;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Runs in the AOS table, steps enqueued on the step queue, values too big for an item
/// in the blob store.
pub struct DynamoRunStore {
    client: Client,
    table: String,
    queue: SqsQueue,
    blobs: Option<std::sync::Arc<dyn BlobStore>>,
    /// The tenants' ledgers, whose reservations step commits settle.
    credits: crate::DynamoCredits,
}

/// Values (a checkpoint, a run's output, an agent's plan, a run's spec with its input)
/// longer than this, as JSON, go
/// to the blob store; the item keeps a reference (a map attribute `{blob, bytes}` where
/// an inline value is a string, so the two can never be confused).
pub const INLINE_MAX_BYTES: usize = 64 * 1024;

mod cancel;
mod claims;
mod items;
mod steps;

use items::*;

impl DynamoRunStore {
    /// The store over `table`, enqueueing steps on `queue`.
    pub fn new(client: Client, table: impl Into<String>, queue: SqsQueue) -> Self {
        let table = table.into();
        let credits = crate::DynamoCredits::new(client.clone(), table.clone());
        Self { client, table, queue, blobs: None, credits }
    }

    /// Keeps values over [`INLINE_MAX_BYTES`] in `blobs` (without one, they fail to write).
    #[must_use]
    pub fn with_blobs(mut self, blobs: std::sync::Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// The run item with its spec: one query of the run's partition for `RUN` and
    /// `RUN#SPEC`, read consistently.
    async fn run_item(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Option<Item>> {
        let items = query_prefix(&self.client, &self.table, run_pk(tenant.as_str(), id.as_str()), RUN_SK).await?;
        Ok(with_spec(items))
    }

    async fn step_items(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Vec<Item>> {
        query_prefix(&self.client, &self.table, run_pk(tenant.as_str(), id.as_str()), "STEP#").await
    }

    /// Up to `limit` runs of the tenant's `status` partition of the index whose
    /// `since_ms` is in `[from_ms, to_ms)`, reading at most ten pages of keys.
    async fn status_scan(
        &self,
        tenant: &TenantId,
        status: RunStatus,
        (from_ms, to_ms): (u64, u64),
        limit: u32,
    ) -> StoreResult<Vec<RunRecord>> {
        let mut keys = Vec::new();
        let mut start = None;
        for _ in 0..10 {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(STATUS.name)
                .key_condition_expression("gsi3pk = :pk")
                .filter_expression("since_ms >= :from AND since_ms < :to")
                .expression_attribute_values(":pk", s(status_pk(tenant.as_str(), status)))
                .expression_attribute_values(":from", n(from_ms))
                .expression_attribute_values(":to", n(to_ms))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            keys.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() || keys.len() >= limit as usize {
                break;
            }
        }
        keys.truncate(limit as usize);
        self.runs_at(tenant, &keys, Some(status)).await
    }

    /// The runs whose index entries are `keys`, in their order. A run whose status is no
    /// longer `status` (the index lags the table) is left out.
    async fn runs_at(
        &self,
        tenant: &TenantId,
        keys: &[Item],
        status: Option<RunStatus>,
    ) -> StoreResult<Vec<RunRecord>> {
        // Each run's item and its spec's, read together.
        let mut wanted = Vec::with_capacity(keys.len() * 2);
        for key in keys {
            let pk = get_s(key, "pk")?;
            for sk in [RUN_SK, SPEC_SK] {
                wanted.push(Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))]));
            }
        }
        let mut found = crate::dynamo::batch_get(&self.client, &self.table, &wanted).await?.into_iter().peekable();
        let mut runs = Vec::with_capacity(keys.len());
        while let Some(first) = found.next() {
            let pk = get_s(&first, "pk")?.to_owned();
            let mut items = vec![first];
            while let Some(next) = found.next_if(|i| get_s(i, "pk").is_ok_and(|p| p == pk)) {
                items.push(next);
            }
            let Some(item) = with_spec(items) else { continue };
            let run = self.compose_full(tenant, item).await?;
            if status.is_none_or(|st| st == run.status) {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// Sends a run's first message, again after a failure (the SDK has retried already).
    async fn send_first(&self, first: &StepMessage) -> StoreResult<()> {
        let body = encode(first);
        let mut last = None;
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            match self.queue.send(&body, Duration::ZERO).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Backend("first message not sent".to_owned())))
    }

    /// Deletes a run that never started and its Idempotency-Key record, in one
    /// transaction (only while the run is still queued).
    async fn withdraw(&self, run: &RunRecord, idem: Option<&IdempotencyCompletion>) -> StoreResult<()> {
        let t = run.tenant.as_str();
        let del = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, run.id.as_str())))
            .key("sk", s(RUN_SK))
            .condition_expression("#st = :queued")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":queued", s(RunStatus::Queued.as_str()))
            .build()
            .map_err(sdk_err)?;
        let spec = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, run.id.as_str())))
            .key("sk", s(SPEC_SK))
            .build()
            .map_err(sdk_err)?;
        let mut items =
            vec![TransactWriteItem::builder().delete(del).build(), TransactWriteItem::builder().delete(spec).build()];
        if let Some(done) = idem {
            let del = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key("pk", s(tenant_pk(t)))
                .key("sk", s(format!("IDEM#{}", done.key)))
                .build()
                .map_err(sdk_err)?;
            items.push(TransactWriteItem::builder().delete(del).build());
        }
        // A run no longer queued has a message after all (it started): keep it.
        crate::txn::transact(&self.client, items).await.map(|_| ())
    }
}

#[async_trait]
impl RunStore for DynamoRunStore {
    async fn insert_run(
        &self,
        run: &RunRecord,
        first: &StepMessage,
        idem: Option<&IdempotencyCompletion>,
    ) -> StoreResult<()> {
        let t = run.tenant.as_str();
        // A workflow node's run carries its resolved input, which may be large; its item
        // keeps up to SPEC_INLINE_MAX_BYTES of it, so a submitted run's stays inline.
        let spec = Put::builder()
            .table_name(&self.table)
            .item("pk", s(run_pk(t, run.id.as_str())))
            .item("sk", s(SPEC_SK))
            .item("spec", self.value_attr_within(t, run.id.as_str(), &run.spec(), SPEC_INLINE_MAX_BYTES).await?)
            .build()
            .map_err(sdk_err)?;
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(run_pk(t, run.id.as_str())))
            .item("sk", s(RUN_SK))
            .item("status", s(run.status.as_str()))
            .item("next_step", n(u64::from(run.next_step)))
            .item("last_hash", s(&run.last_hash))
            .item("updated_at_ms", n(run.updated_at_ms))
            .item("gsi3pk", s(status_pk(t, run.status)))
            .item("gsi3sk", s(run.id.as_str()))
            .item("since_ms", n(run.updated_at_ms))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(sdk_err)?;
        let mut items =
            vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().put(spec).build()];
        if let Some(done) = idem {
            let put = Put::builder()
                .table_name(&self.table)
                .item("pk", s(tenant_pk(t)))
                .item("sk", s(format!("IDEM#{}", done.key)))
                .item("status", s("completed"))
                .item("payload_hash", s(&done.payload_hash))
                .item("result", s(done.result.to_string()))
                .item("expires_at_ms", n(done.expires_at_ms))
                .item("ttl", crate::dynamo::ttl(done.expires_at_ms))
                .build()
                .map_err(sdk_err)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        if let Txn::ConditionFailed(_) = crate::txn::transact(&self.client, items).await? {
            // The run exists: this submission's own write whose answer was lost (same
            // genesis and creation time), or an id taken by another.
            let mine = self.run(&run.tenant, &run.id).await?.is_some_and(|stored| {
                stored.genesis_hash == run.genesis_hash && stored.created_at_ms == run.created_at_ms
            });
            if !mine {
                return Err(StoreError::Conflict(format!("run {} exists", run.id)));
            }
        }
        if let Err(e) = self.send_first(first).await {
            // Without its first message the run would never start: take the run back
            // together with its Idempotency-Key record, so the key points at nothing.
            self.withdraw(run, idem).await?;
            return Err(e);
        }
        Ok(())
    }

    async fn live_runs(&self, tenant: &TenantId, at_most: u32) -> StoreResult<u32> {
        // A count on the status index (eventually consistent: a run that just started
        // may be missed for a moment), at most `at_most` items read.
        let mut count = 0u32;
        for status in [RunStatus::Queued, RunStatus::Running, RunStatus::Waiting] {
            let mut start = None;
            loop {
                if count >= at_most {
                    return Ok(count);
                }
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(STATUS.name)
                    .key_condition_expression("gsi3pk = :pk")
                    .expression_attribute_values(":pk", s(status_pk(tenant.as_str(), status)))
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .limit(i32::try_from(at_most - count).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                count += u32::try_from(out.count).unwrap_or(0);
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(count.min(at_most))
    }

    async fn run(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Option<RunRecord>> {
        match self.run_item(tenant, id).await? {
            Some(item) => Ok(Some(self.compose_full(tenant, item).await?)),
            None => Ok(None),
        }
    }

    async fn list_runs(&self, tenant: &TenantId, f: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        // Each status is a partition of the status index, newest run first: a listing of
        // every status merges the six, below the cursor.
        let statuses = f.status.map_or_else(|| RunStatus::ALL.to_vec(), |st| vec![st]);
        let before = f.before.as_ref().map_or("~", RunId::as_str);
        let mut keys = Vec::new();
        for status in statuses {
            let pk = status_pk(tenant.as_str(), status);
            keys.extend(
                crate::dynamo::query_index_below(&self.client, &self.table, &STATUS, pk, before, f.limit).await?,
            );
        }
        let id = |k: &Item| get_s(k, "gsi3sk").map(str::to_owned).unwrap_or_default();
        keys.sort_by_key(|k| std::cmp::Reverse(id(k)));
        // A run that changed status between two queries can be in both.
        keys.dedup_by_key(|k| id(k));
        keys.truncate(f.limit as usize);
        self.runs_at(tenant, &keys, f.status).await
    }

    async fn checkpoints_from(&self, tenant: &TenantId, id: &RunId, from: u32) -> StoreResult<Vec<Checkpoint>> {
        let pk = run_pk(tenant.as_str(), id.as_str());
        let items = query_between(&self.client, &self.table, pk, &step_sk(from), "STEP#~").await?;
        let mut checkpoints = Vec::new();
        for item in items {
            if let Some(cp) = opt_json::<Checkpoint>(&self.hydrate(tenant, item).await?, "checkpoint")? {
                checkpoints.push(cp);
            }
        }
        Ok(checkpoints)
    }

    async fn step_progress(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Vec<StepProgress>> {
        let items = self.step_items(tenant, id).await?;
        items
            .iter()
            .filter(|i| !i.contains_key("checkpoint"))
            .map(|i| {
                let index = get_s(i, "sk")?
                    .trim_start_matches("STEP#")
                    .parse()
                    .map_err(|_| StoreError::Backend("bad step key".to_owned()))?;
                let running = get_s(i, "claim_status")? == "running";
                Ok(StepProgress {
                    step_index: index,
                    attempts: u32::try_from(get_n(i, "attempts")?).unwrap_or(u32::MAX),
                    last_error: opt_json::<OutcomeError>(i, "last_error")?,
                    claim_until_ms: if running { get_n(i, "claim_until")? } else { 0 },
                })
            })
            .collect()
    }

    async fn step_outputs(&self, tenant: &TenantId, id: &RunId, steps: &[u32]) -> StoreResult<BTreeMap<String, Value>> {
        let mut outputs = BTreeMap::new();
        for &index in steps {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(run_pk(tenant.as_str(), id.as_str())))
                .key("sk", s(step_sk(index)))
                .consistent_read(true)
                .send()
                .await
                .map_err(sdk_err)?;
            let item = match out.item {
                Some(i) => Some(self.hydrate(tenant, i).await?),
                None => None,
            };
            let cp = item.as_ref().map(|i| opt_json::<Checkpoint>(i, "checkpoint")).transpose()?.flatten();
            if let Some(cp) = cp {
                if let Some(output) = cp.outcome.output.filter(|_| cp.outcome.ok) {
                    outputs.insert(cp.step_id, output);
                }
            }
        }
        Ok(outputs)
    }

    async fn begin_step(&self, req: &BeginStep) -> StoreResult<BeginOutcome> {
        self.begin(req).await
    }

    async fn extend_claim(
        &self,
        tenant: &TenantId,
        run_id: &RunId,
        step_index: u32,
        claim: &str,
        until_ms: u64,
    ) -> StoreResult<bool> {
        self.extend(tenant, run_id, step_index, claim, until_ms).await
    }

    async fn commit_step(&self, commit: &StepCommit) -> StoreResult<Committed> {
        self.commit(commit).await
    }

    async fn retry_step(&self, retry: &StepRetry) -> StoreResult<()> {
        self.retry(retry).await
    }

    async fn suspend_step(&self, suspend: &StepSuspend) -> StoreResult<()> {
        self.suspend(suspend).await
    }

    async fn queued_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<RunRecord>> {
        // Queued runs are few unless workers are far behind: the filter reads the
        // tenant's queued partition of the index, a page at a time.
        // (Nothing goes back to queued: a queued run is at step 0.)
        self.status_scan(tenant, RunStatus::Queued, (0, before_ms), limit).await
    }

    async fn cancelled_between(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
        limit: u32,
    ) -> StoreResult<Vec<RunRecord>> {
        self.status_scan(tenant, RunStatus::Cancelled, (from_ms, to_ms), limit).await
    }

    async fn cancel_run(
        &self,
        tenant: &TenantId,
        id: &RunId,
        now_ms: u64,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<RunRecord> {
        self.cancel(tenant, id, now_ms, audit).await
    }

    async fn ended_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<RunId>> {
        let pk = ended_pk(tenant.as_str());
        let found = crate::dynamo::ends_before(&self.client, &self.table, pk, before_ms, limit).await?;
        found.iter().map(|(_, id)| RunId::parse(id.as_str()).map_err(|e| StoreError::Backend(e.to_string()))).collect()
    }

    async fn delete_run(&self, tenant: &TenantId, id: &RunId) -> StoreResult<bool> {
        let Some(run) = self.run(tenant, id).await? else { return Ok(false) };
        if !run.status.is_terminal() {
            return Err(StoreError::Conflict(format!("run {id} is {}; only finished runs are deleted", run.status)));
        }
        // The steps first, the run last: a pass that dies half-way finds the run again.
        let steps = query_prefix(&self.client, &self.table, run_pk(tenant.as_str(), id.as_str()), "STEP#").await?;
        crate::dynamo::delete_keys(&self.client, &self.table, steps).await?;
        if let Some(blobs) = &self.blobs {
            blobs.delete_prefix(&run_blob_prefix(tenant.as_str(), id.as_str())).await?;
        }
        let terminal: Vec<RunStatus> =
            [RunStatus::Succeeded, RunStatus::Failed, RunStatus::Cancelled].into_iter().collect();
        let names: Vec<String> = (0..terminal.len()).map(|i| format!(":t{i}")).collect();
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(tenant.as_str(), id.as_str())))
            .key("sk", s(RUN_SK))
            .condition_expression(format!("#st IN ({})", names.join(", ")))
            .expression_attribute_names("#st", "status");
        let delete =
            names.iter().zip(&terminal).fold(delete, |d, (n, st)| d.expression_attribute_values(n, s(st.as_str())));
        let spec = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(tenant.as_str(), id.as_str())))
            .key("sk", s(SPEC_SK))
            .build()
            .map_err(sdk_err)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete.build().map_err(sdk_err)?).build(),
            TransactWriteItem::builder().delete(spec).build(),
        ];
        match crate::txn::transact(&self.client, items).await? {
            Txn::Committed => Ok(true),
            Txn::ConditionFailed(_) => Ok(self.run(tenant, id).await?.is_none()),
        }
    }
}
