//! Runs, checkpoints and step claims in DynamoDB, with the step queue on SQS.
//!
//! Layout: the run is `TENANT#t` / `RUN#<id>` (immutable `spec` JSON plus the mutable
//! `status`, `next_step`, `last_hash`, `output`, `error`; `gsi1` lists a tenant's runs by
//! status). Each step is `TENANT#t#RUN#<id>` / `STEP#<index>`: its claim (status,
//! attempts, lease) and, once it ends, its checkpoint. A step's claim is one conditional
//! update; its end is one `TransactWriteItems` of the step item and the run item (the two
//! must change together), followed by the SQS send of the next step and the delete of the
//! current message. If the send is lost, the redelivered message finds the step done and
//! sends the next step again.

use crate::dynamo::{get_n, get_s, n, query_prefix, s, sdk_err, tenant_pk, Item};
use crate::queue::SqsQueue;
use crate::txn::Txn;
use aos_core::{Checkpoint, ErrorCode, OutcomeError, RunId, RunStatus, StructuredOutcome, TenantId};
use aos_runtime::ports::{
    BeginOutcome, BeginStep, Committed, IdempotencyCompletion, Queue, Received, RunFilter, RunMutable, RunRecord,
    RunSpec, RunStore, StepCommit, StepMessage, StepProgress, StepRetry, StepSuspend, StoreError, StoreResult,
};
use aos_runtime::worker::encode;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Runs in the AOS table, steps enqueued on the step queue.
pub struct DynamoRunStore {
    client: Client,
    table: String,
    queue: SqsQueue,
}

fn run_sk(id: &str) -> String {
    format!("RUN#{id}")
}

fn steps_pk(tenant: &str, run: &str) -> String {
    format!("TENANT#{tenant}#RUN#{run}")
}

fn step_sk(index: u32) -> String {
    format!("STEP#{index:06}")
}

/// The condition that the run's status is one the lifecycle allows moving to `to` from
/// (`aos_core`'s rule, not a copy of it): `#st IN (:from0, ...)` and its values.
fn may_become(to: RunStatus) -> (String, Vec<(String, AttributeValue)>) {
    let from = RunStatus::sources_of(to);
    let names: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
    let values = names.iter().zip(&from).map(|(n, st)| (n.clone(), s(st.as_str()))).collect();
    (format!("#st IN ({})", names.join(", ")), values)
}

fn status_pk(tenant: &str, status: RunStatus) -> String {
    format!("TENANT#{tenant}#STATUS#{status}")
}

fn json_err(e: &serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt record: {e}"))
}

fn opt_json<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => serde_json::from_str(v).map(Some).map_err(|e| json_err(&e)),
        _ => Ok(None),
    }
}

fn json_attr<T: serde::Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(v).map(AttributeValue::S).map_err(|e| json_err(&e))
}

fn compose(tenant: &TenantId, item: &Item) -> Result<RunRecord, StoreError> {
    let spec: RunSpec = serde_json::from_str(get_s(item, "spec")?).map_err(|e| json_err(&e))?;
    let id = get_s(item, "sk")?.trim_start_matches("RUN#");
    let status =
        RunStatus::parse(get_s(item, "status")?).ok_or_else(|| StoreError::Backend("bad run status".to_owned()))?;
    let state = RunMutable {
        status,
        next_step: u32::try_from(get_n(item, "next_step")?).unwrap_or(u32::MAX),
        last_hash: get_s(item, "last_hash")?.to_owned(),
        output: opt_json(item, "output")?,
        error: opt_json(item, "error")?,
        updated_at_ms: get_n(item, "updated_at_ms")?,
    };
    let id = RunId::parse(id).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(RunRecord::compose(tenant.clone(), id, spec, opt_json(item, "plan")?, state))
}

fn is_condition_failure(e: &UpdateItemError) -> bool {
    e.is_conditional_check_failed_exception()
}

impl DynamoRunStore {
    /// The store over `table`, enqueueing steps on `queue`.
    pub fn new(client: Client, table: impl Into<String>, queue: SqsQueue) -> Self {
        Self { client, table: table.into(), queue }
    }

    async fn run_item(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(run_sk(id.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    async fn step_items(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Vec<Item>> {
        query_prefix(&self.client, &self.table, steps_pk(tenant.as_str(), id.as_str()), "STEP#").await
    }

    fn step_update(&self, tenant: &str, run: &str, index: u32) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder().table_name(&self.table).key("pk", s(steps_pk(tenant, run))).key("sk", s(step_sk(index)))
    }

    /// Records the checkpoint alone (the run moved on or was cancelled meanwhile).
    async fn record_checkpoint_only(&self, commit: &StepCommit) -> StoreResult<()> {
        let (t, r) = (commit.tenant.as_str(), commit.run_id.as_str());
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(steps_pk(t, r)))
            .key("sk", s(step_sk(commit.checkpoint.step_index)))
            .update_expression("SET checkpoint = :cp, claim_status = :done, claim_until = :zero")
            .condition_expression("attribute_not_exists(checkpoint)")
            .expression_attribute_values(":cp", json_attr(&commit.checkpoint)?)
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(()),
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// The first claim of a run's first step and the run's move to running, in one
    /// transaction. `None` when the step was claimed before (a retry or a takeover),
    /// which the general claim handles.
    async fn begin_run(&self, req: &BeginStep) -> StoreResult<Option<BeginOutcome>> {
        let (t, r) = (req.tenant.as_str(), req.run_id.as_str());
        let claim = Put::builder()
            .table_name(&self.table)
            .item("pk", s(steps_pk(t, r)))
            .item("sk", s(step_sk(0)))
            .item("claim_status", s("running"))
            .item("claim_until", n(req.claim_until_ms))
            .item("claim_id", s(&req.claim))
            .item("prev_status", s("none"))
            .item("attempts", n(1))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(sdk_err)?;
        let start = Update::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(t)))
            .key("sk", s(run_sk(r)))
            .update_expression("SET #st = :running, gsi1pk = :gsi, updated_at_ms = :now")
            .condition_expression("#st = :queued")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":running", s(RunStatus::Running.as_str()))
            .expression_attribute_values(":queued", s(RunStatus::Queued.as_str()))
            .expression_attribute_values(":gsi", s(status_pk(t, RunStatus::Running)))
            .expression_attribute_values(":now", n(req.now_ms))
            .build()
            .map_err(sdk_err)?;
        let items =
            vec![TransactWriteItem::builder().put(claim).build(), TransactWriteItem::builder().update(start).build()];
        match crate::txn::transact(&self.client, items).await? {
            Txn::Committed => Ok(Some(BeginOutcome::Claimed { attempt: 1, taken_over: false })),
            // Claimed before, or the run is no longer queued: the general claim decides
            // (and recognises this call's own claim if its answer was lost).
            Txn::ConditionFailed(_) => Ok(None),
        }
    }

    /// Up to `limit` runs of the tenant's `status` partition of the index that pass
    /// `filter` (expression and values), reading at most ten pages.
    async fn status_scan(
        &self,
        tenant: &TenantId,
        status: RunStatus,
        filter: (&str, Vec<(&str, AttributeValue)>),
        limit: u32,
    ) -> StoreResult<Vec<RunRecord>> {
        let mut runs = Vec::new();
        let mut start = None;
        for _ in 0..10 {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .filter_expression(filter.0)
                .expression_attribute_values(":pk", s(status_pk(tenant.as_str(), status)))
                .set_exclusive_start_key(start.take());
            let query = filter.1.iter().fold(query, |q, (k, v)| q.expression_attribute_values(*k, v.clone()));
            let out = query.send().await.map_err(sdk_err)?;
            for item in out.items.unwrap_or_default() {
                runs.push(compose(tenant, &item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || runs.len() >= limit as usize {
                break;
            }
        }
        runs.truncate(limit as usize);
        Ok(runs)
    }

    /// A step's item (claim and checkpoint), read consistently.
    async fn step_item(&self, tenant: &str, run: &str, index: u32) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(steps_pk(tenant, run)))
            .key("sk", s(step_sk(index)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    /// The `commit_id` a step's checkpoint was written with, if it has one.
    async fn commit_mark(&self, tenant: &str, run: &str, index: u32) -> StoreResult<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(steps_pk(tenant, run)))
            .key("sk", s(step_sk(index)))
            .consistent_read(true)
            .projection_expression("commit_id")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item.as_ref().and_then(|i| get_s(i, "commit_id").ok()).map(str::to_owned))
    }

    /// What follows a step's transaction: the next step handed back (chaining) or sent,
    /// the wake-up sent, the message acknowledged — in that order, so a crash in between
    /// leaves the message to be redelivered and the run resumed from its commit.
    async fn after_commit(
        &self,
        commit: &StepCommit,
        chained: Option<(&StepMessage, Duration, &String)>,
    ) -> StoreResult<Committed> {
        let state = Committed {
            status: commit.run_status,
            next_step: commit.checkpoint.step_index + 1,
            last_hash: commit.checkpoint.hash.clone(),
            next: None,
        };
        if let Some((next, lease, receipt)) = chained {
            // The next step's claim is this worker's (it was in the transaction). If the
            // message cannot be hidden for longer, a redelivery finds the claim busy; the
            // step's heartbeat tries again.
            if let Err(e) = self.queue.change_visibility(receipt, lease).await {
                tracing::warn!(error = %e, "could not extend the chained message; its claim holds the step");
            }
            let received = Received { receipt: receipt.clone(), body: encode(next), receive_count: 1 };
            return Ok(Committed { next: Some(received), ..state });
        }
        if let Some(next) = &commit.next {
            self.queue.send(&encode(next), Duration::ZERO).await?;
        }
        if let Some(body) = &commit.notify {
            self.queue.send(body, Duration::ZERO).await?;
        }
        if let Some(receipt) = &commit.ack {
            self.queue.delete(receipt).await?;
        }
        Ok(state)
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
            .key("pk", s(tenant_pk(t)))
            .key("sk", s(run_sk(run.id.as_str())))
            .condition_expression("#st = :queued")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":queued", s(RunStatus::Queued.as_str()))
            .build()
            .map_err(sdk_err)?;
        let mut items = vec![TransactWriteItem::builder().delete(del).build()];
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

    async fn committed(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Committed> {
        let item = self.run_item(tenant, id).await?.ok_or_else(|| StoreError::Conflict("run vanished".to_owned()))?;
        let run = compose(tenant, &item)?;
        Ok(Committed { status: run.status, next_step: run.next_step, last_hash: run.last_hash, next: None })
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
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(t)))
            .item("sk", s(run_sk(run.id.as_str())))
            .item("spec", json_attr(&run.spec())?)
            .item("status", s(run.status.as_str()))
            .item("next_step", n(u64::from(run.next_step)))
            .item("last_hash", s(&run.last_hash))
            .item("updated_at_ms", n(run.updated_at_ms))
            .item("gsi1pk", s(status_pk(t, run.status)))
            .item("gsi1sk", s(run.id.as_str()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(sdk_err)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
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

    async fn run(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Option<RunRecord>> {
        self.run_item(tenant, id).await?.map(|item| compose(tenant, &item)).transpose()
    }

    async fn list_runs(&self, tenant: &TenantId, f: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        let want = f.limit as usize;
        let pk = tenant_pk(tenant.as_str());
        // Runs after the cursor, newest first: on the table, the query starts after the
        // cursor's key (which need not exist any more); on the status index, below it.
        let mut start = match (&f.before, f.status) {
            (Some(before), None) => {
                Some(Item::from([("pk".to_owned(), s(&pk)), ("sk".to_owned(), s(run_sk(before.as_str())))]))
            }
            _ => None,
        };
        let mut runs = Vec::with_capacity(want);
        // A page of DynamoDB stops at 1 MB as well as at its limit: go on until `want`.
        while runs.len() < want {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .scan_index_forward(false)
                .limit(i32::try_from(want - runs.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            let query = match f.status {
                Some(status) => query
                    .index_name("gsi1")
                    .key_condition_expression("gsi1pk = :pk AND gsi1sk < :before")
                    .expression_attribute_values(":pk", s(status_pk(tenant.as_str(), status)))
                    .expression_attribute_values(":before", s(f.before.as_ref().map_or("~", RunId::as_str))),
                None => query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :runs)")
                    .expression_attribute_values(":pk", s(&pk))
                    .expression_attribute_values(":runs", s("RUN#")),
            };
            let out = query.send().await.map_err(sdk_err)?;
            for item in out.items.unwrap_or_default() {
                runs.push(compose(tenant, &item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(runs)
    }

    async fn checkpoints(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Vec<Checkpoint>> {
        let items = self.step_items(tenant, id).await?;
        items.iter().filter_map(|i| opt_json::<Checkpoint>(i, "checkpoint").transpose()).collect()
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
                .key("pk", s(steps_pk(tenant.as_str(), id.as_str())))
                .key("sk", s(step_sk(index)))
                .consistent_read(true)
                .send()
                .await
                .map_err(sdk_err)?;
            let cp = out.item.as_ref().map(|i| opt_json::<Checkpoint>(i, "checkpoint")).transpose()?.flatten();
            if let Some(cp) = cp {
                if let Some(output) = cp.outcome.output.filter(|_| cp.outcome.ok) {
                    outputs.insert(cp.step_id, output);
                }
            }
        }
        Ok(outputs)
    }

    async fn begin_step(&self, req: &BeginStep) -> StoreResult<BeginOutcome> {
        if req.step_index == 0 {
            if let Some(outcome) = self.begin_run(req).await? {
                return Ok(outcome);
            }
        }
        let (t, r) = (req.tenant.as_str(), req.run_id.as_str());
        // The claim and the run's state in one transaction: a step never begins in a run
        // that was cancelled or moved on, however close the cancel came.
        let (live, from) = may_become(RunStatus::Running);
        let run = from.into_iter().fold(
            aws_sdk_dynamodb::types::ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", s(tenant_pk(t)))
                .key("sk", s(run_sk(r)))
                .condition_expression(format!("{live} AND next_step = :index"))
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":index", n(u64::from(req.step_index))),
            |b, (k, v)| b.expression_attribute_values(k, v),
        );
        let claim = self
            .step_update(t, r, req.step_index)
            .update_expression(
                "SET prev_status = if_not_exists(claim_status, :none), claim_status = :running, claim_until = :until, \
                 claim_id = :claim, attempts = if_not_exists(attempts, :zero) + :one",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (claim_status <> :done AND (claim_status <> :running OR claim_until <= :now))",
            )
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":until", n(req.claim_until_ms))
            .expression_attribute_values(":now", n(req.now_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":none", s("none"))
            .expression_attribute_values(":claim", s(&req.claim));
        let items = vec![
            TransactWriteItem::builder().condition_check(run.build().map_err(sdk_err)?).build(),
            TransactWriteItem::builder().update(claim.build().map_err(sdk_err)?).build(),
        ];
        let outcome = crate::txn::transact(&self.client, items).await?;
        if outcome.failed(0) {
            return Ok(BeginOutcome::AlreadyDone);
        }
        let item = self.step_item(t, r, req.step_index).await?.unwrap_or_default();
        if outcome == Txn::Committed || get_s(&item, "claim_id").is_ok_and(|c| c == req.claim) {
            // Claimed (or this call's own claim, its first answer lost).
            let attempt = u32::try_from(get_n(&item, "attempts").unwrap_or(1)).unwrap_or(u32::MAX);
            let taken_over = get_s(&item, "prev_status").is_ok_and(|st| st == "running");
            return Ok(BeginOutcome::Claimed { attempt, taken_over });
        }
        if get_s(&item, "claim_status").is_ok_and(|st| st == "done") {
            return Ok(BeginOutcome::AlreadyDone);
        }
        Ok(BeginOutcome::Busy { until_ms: get_n(&item, "claim_until").unwrap_or(req.now_ms) })
    }

    async fn extend_claim(
        &self,
        tenant: &TenantId,
        run_id: &RunId,
        step_index: u32,
        claim: &str,
        until_ms: u64,
    ) -> StoreResult<bool> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(steps_pk(tenant.as_str(), run_id.as_str())))
            .key("sk", s(step_sk(step_index)))
            .update_expression("SET claim_until = :until")
            // Fenced by the claim alone: a repeat of the same extension (a lost answer)
            // still holds it.
            .condition_expression("claim_status = :running AND claim_id = :claim")
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":claim", s(claim))
            .expression_attribute_values(":until", n(until_ms))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn commit_step(&self, commit: &StepCommit) -> StoreResult<Committed> {
        let (t, r) = (commit.tenant.as_str(), commit.run_id.as_str());
        let index = commit.checkpoint.step_index;
        // Marks this commit: a transaction re-sent after a lost answer finds its own mark.
        let commit_id = uuid::Uuid::new_v4().simple().to_string();
        let step = self
            .step_update(t, r, index)
            .update_expression("SET checkpoint = :cp, claim_status = :done, claim_until = :zero, commit_id = :cid")
            // Fenced by the claim: a worker whose claim was taken over cannot commit.
            .condition_expression("attribute_not_exists(checkpoint) AND claim_id = :claim")
            .expression_attribute_values(":claim", s(&commit.claim))
            .expression_attribute_values(":cid", s(&commit_id))
            .expression_attribute_values(":cp", json_attr(&commit.checkpoint)?)
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(sdk_err)?;
        let mut set =
            "SET #st = :status, next_step = :next, last_hash = :hash, updated_at_ms = :now, gsi1pk = :gsi".to_owned();
        let (advance, from) = may_become(commit.run_status);
        let run = Update::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(t)))
            .key("sk", s(run_sk(r)))
            .condition_expression(format!("next_step = :index AND {advance}"))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":status", s(commit.run_status.as_str()))
            .expression_attribute_values(":next", n(u64::from(index) + 1))
            .expression_attribute_values(":hash", s(&commit.checkpoint.hash))
            .expression_attribute_values(":now", n(commit.now_ms))
            .expression_attribute_values(":gsi", s(status_pk(t, commit.run_status)))
            .expression_attribute_values(":index", n(u64::from(index)));
        let mut run = from.into_iter().fold(run, |b, (k, v)| b.expression_attribute_values(k, v));
        if let Some(output) = &commit.run_output {
            set.push_str(", #out = :output");
            run = run
                .expression_attribute_names("#out", "output")
                .expression_attribute_values(":output", json_attr(output)?);
        }
        if let Some(plan) = &commit.plan {
            // An agent's planner extended the plan (the spec keeps the plan it started with).
            set.push_str(", #plan = :plan");
            run =
                run.expression_attribute_names("#plan", "plan").expression_attribute_values(":plan", json_attr(plan)?);
        }
        if let Some(error) = &commit.run_error {
            set.push_str(", #err = :error");
            run = run
                .expression_attribute_names("#err", "error")
                .expression_attribute_values(":error", json_attr(error)?);
        }
        let run = run.update_expression(set).build().map_err(sdk_err)?;
        let mut items =
            vec![TransactWriteItem::builder().update(step).build(), TransactWriteItem::builder().update(run).build()];
        // Chaining: claim the next step in the same write, and keep the current message
        // as the run's lease (its redelivery resumes the run if this worker dies).
        let chained = match (&commit.next, commit.lease_next, &commit.ack) {
            (Some(next), Some(lease), Some(receipt)) => {
                let until = commit.now_ms + u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
                let claim = Put::builder()
                    .table_name(&self.table)
                    .item("pk", s(steps_pk(t, r)))
                    .item("sk", s(step_sk(next.step_index)))
                    .item("claim_status", s("running"))
                    .item("claim_until", n(until))
                    .item("claim_id", s(&commit.next_claim))
                    .item("prev_status", s("none"))
                    .item("attempts", n(1))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(sdk_err)?;
                items.push(TransactWriteItem::builder().put(claim).build());
                Some((next, lease, receipt))
            }
            _ => None,
        };
        let outcome = crate::txn::transact(&self.client, items).await?;
        // The step had a checkpoint already: this commit's own (an earlier attempt landed
        // and its answer was lost) or another worker's.
        let landed = match &outcome {
            Txn::Committed => true,
            f if f.failed(0) => self.commit_mark(t, r, index).await?.as_deref() == Some(commit_id.as_str()),
            Txn::ConditionFailed(_) => false,
        };
        if landed {
            return self.after_commit(commit, chained).await;
        }
        if outcome.failed(0) {
            // Another worker ended this step: nothing of this one's to write.
            if let Some(receipt) = &commit.ack {
                self.queue.delete(receipt).await?;
            }
            return self.committed(&commit.tenant, &commit.run_id).await;
        }
        if outcome.failed(1) {
            // The run was cancelled or moved on: keep the checkpoint, never advance the run.
            self.record_checkpoint_only(commit).await?;
            if let Some(receipt) = &commit.ack {
                self.queue.delete(receipt).await?;
            }
            return self.committed(&commit.tenant, &commit.run_id).await;
        }
        if chained.is_some() && outcome.failed(2) {
            // The next step was claimed already (a resumed duplicate): end this step
            // without chaining.
            let plain = StepCommit { lease_next: None, ..commit.clone() };
            return Box::pin(self.commit_step(&plain)).await;
        }
        Err(StoreError::Backend(format!("step commit cancelled without a failed condition: {outcome:?}")))
    }

    async fn retry_step(&self, retry: &StepRetry) -> StoreResult<()> {
        let (t, r) = (retry.tenant.as_str(), retry.run_id.as_str());
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(steps_pk(t, r)))
            .key("sk", s(step_sk(retry.step_index)))
            .update_expression("SET claim_status = :waiting, claim_until = :zero, last_error = :err")
            // Fenced by the claim: a worker whose claim was taken over schedules nothing.
            .condition_expression("claim_id = :claim AND claim_status = :running")
            .expression_attribute_values(":claim", s(&retry.claim))
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":waiting", s("waiting"))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":err", json_attr(&retry.last_error)?)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        if let Err(e) = out {
            let UpdateItemError::ConditionalCheckFailedException(f) = e.into_service_error() else {
                return Err(StoreError::Backend("the retry of a step could not be recorded".to_owned()));
            };
            let item = f.item.unwrap_or_default();
            let mine = get_s(&item, "claim_id").is_ok_and(|c| c == retry.claim);
            if !(mine && get_s(&item, "claim_status").is_ok_and(|st| st == "waiting")) {
                // Another claim holds the step: its holder decides what comes next.
                tracing::warn!(run = %retry.run_id, step = retry.step_index, "retry of a step whose claim was taken over dropped");
                if let Some(receipt) = &retry.ack {
                    self.queue.delete(receipt).await?;
                }
                return Ok(());
            }
            // This call's own update, its answer lost: go on and schedule the retry.
        }
        let msg =
            StepMessage { tenant: retry.tenant.clone(), run_id: retry.run_id.clone(), step_index: retry.step_index };
        self.queue.send(&encode(&msg), retry.delay).await?;
        if let Some(receipt) = &retry.ack {
            self.queue.delete(receipt).await?;
        }
        Ok(())
    }

    async fn suspend_step(&self, suspend: &StepSuspend) -> StoreResult<()> {
        let (t, r) = (suspend.tenant.as_str(), suspend.run_id.as_str());
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(steps_pk(t, r)))
            .key("sk", s(step_sk(suspend.step_index)))
            .update_expression("SET claim_status = :waiting, claim_until = :zero, attempts = attempts - :one")
            .condition_expression("claim_status = :running AND claim_id = :claim AND attempts > :zero")
            .expression_attribute_values(":claim", s(&suspend.claim))
            .expression_attribute_values(":waiting", s("waiting"))
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match out {
            Ok(_) => {}
            // Already released (a duplicate wake-up racing this one): nothing to give back.
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {}
            Err(e) => return Err(sdk_err(e)),
        }
        if let Some(delay) = suspend.recheck {
            let msg = StepMessage {
                tenant: suspend.tenant.clone(),
                run_id: suspend.run_id.clone(),
                step_index: suspend.step_index,
            };
            // SQS delays stop at 15 minutes; a later deadline is checked then and re-armed.
            self.queue.send(&encode(&msg), delay.min(Duration::from_secs(900))).await?;
        }
        if let Some(receipt) = &suspend.ack {
            self.queue.delete(receipt).await?;
        }
        Ok(())
    }

    async fn queued_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<RunRecord>> {
        // Queued runs are few unless workers are far behind: the filter reads the
        // tenant's queued partition of the index, a page at a time.
        let filter =
            ("updated_at_ms < :before AND next_step = :zero", vec![(":before", n(before_ms)), (":zero", n(0))]);
        self.status_scan(tenant, RunStatus::Queued, filter, limit).await
    }

    async fn cancelled_between(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
        limit: u32,
    ) -> StoreResult<Vec<RunRecord>> {
        let filter = ("updated_at_ms >= :from AND updated_at_ms < :to", vec![(":from", n(from_ms)), (":to", n(to_ms))]);
        self.status_scan(tenant, RunStatus::Cancelled, filter, limit).await
    }

    async fn cancel_run(&self, tenant: &TenantId, id: &RunId, now_ms: u64) -> StoreResult<RunRecord> {
        let error = StructuredOutcome::failure(ErrorCode::RunCancelled, "cancelled on request").error;
        let (cancellable, from) = may_become(RunStatus::Cancelled);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(run_sk(id.as_str())))
            .update_expression("SET #st = :cancelled, #err = :error, updated_at_ms = :now, gsi1pk = :gsi")
            .condition_expression(cancellable)
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":cancelled", s(RunStatus::Cancelled.as_str()))
            .expression_attribute_values(":error", json_attr(&error)?)
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":gsi", s(status_pk(tenant.as_str(), RunStatus::Cancelled)))
            .return_values(ReturnValue::AllNew);
        let out = from.into_iter().fold(update, |b, (k, v)| b.expression_attribute_values(k, v)).send().await;
        match out {
            Ok(o) => {
                let run = compose(tenant, &o.attributes.unwrap_or_default())?;
                // Whoever waits for the run hears of its end. The cancel has committed:
                // a failed send is logged, and any later message of the run sends it again.
                if let Some(body) = aos_runtime::worker::notify_parent(&run) {
                    if let Err(e) = self.queue.send(&body, Duration::ZERO).await {
                        tracing::warn!(error = %e, run = %run.id, "could not wake the waiter of a cancelled run");
                    }
                }
                Ok(run)
            }
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                Err(StoreError::Conflict("the run is finished or does not exist".to_owned()))
            }
            Err(e) => Err(sdk_err(e)),
        }
    }
}
