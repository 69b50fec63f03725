//! Runs' step commits in DynamoDB: the checkpoint, the run's advance and the chained
//! hand-back of the next step in one transaction, and what follows it. A commit is fenced
//! by the step's claim token (`claims.rs`) and recognises its own write when the SDK
//! re-sent it after a lost answer.

use super::*;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
/// The same commit without its ledger work (its charge still counts on the run).
fn without_ledger(commit: &StepCommit) -> StepCommit {
    let mut plain = commit.clone();
    if let Some(ch) = plain.charge.as_mut() {
        ch.ahead = None;
        ch.settle = None;
    }
    plain
}

impl DynamoRunStore {
    pub(super) fn step_update(&self, tenant: &str, run: &str, index: u32) -> UpdateBuilder {
        Update::builder().table_name(&self.table).key("pk", s(run_pk(tenant, run))).key("sk", s(step_sk(index)))
    }

    /// Records the checkpoint alone (the run moved on or was cancelled meanwhile), with
    /// the gate's decision on the audit record in the same transaction. A checkpoint
    /// there already (another worker's, or this one's) is left as it is.
    async fn record_checkpoint_only(&self, commit: &StepCommit) -> StoreResult<()> {
        let (t, r) = (commit.tenant.as_str(), commit.run_id.as_str());
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, r)))
            .key("sk", s(step_sk(commit.checkpoint.step_index)))
            .update_expression("SET checkpoint = :cp, claim_status = :done, claim_until = :zero")
            .condition_expression("attribute_not_exists(checkpoint)")
            .expression_attribute_values(":cp", self.value_attr(t, r, &commit.checkpoint).await?)
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(sdk_err)?;
        let items = vec![TransactWriteItem::builder().update(update).build()];
        crate::audit::transact_audited(&self.client, &self.table, items, &commit.audit).await?;
        Ok(())
    }

    /// A step's item (claim and checkpoint), read consistently.
    pub(super) async fn step_item(&self, tenant: &str, run: &str, index: u32) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(run_pk(tenant, run)))
            .key("sk", s(step_sk(index)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    /// The `commit_id` a step's checkpoint was written with, if it has one.
    async fn commit_mark(&self, tenant: &str, run: &str, index: u32) -> StoreResult<Option<String>> {
        let item = self.step_item(tenant, run, index).await?;
        Ok(item.as_ref().and_then(|i| get_s(i, "commit_id").ok()).map(str::to_owned))
    }

    /// Settles the reservation of a step whose commit could not carry it, through the
    /// ledger (which rolls and answers repeats).
    async fn settle_apart(&self, commit: &StepCommit) {
        use aos_runtime::ports::CreditStore;
        let Some((pending, post)) = commit.charge.as_ref().and_then(|ch| ch.settle.as_ref()) else { return };
        if let Err(e) = self.credits.settle(&commit.tenant, &pending.id, *post, commit.now_ms).await {
            tracing::warn!(run = %commit.run_id, step = commit.checkpoint.step_index, error = %e, "a step's reservation could not be settled");
        }
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
            ahead: commit.charge.as_ref().and_then(|ch| ch.ahead.clone()).filter(|_| commit.next.is_some()),
        };
        if let Some((next, lease, receipt)) = chained {
            // The next step's claim is this worker's (it was in the transaction). If the
            // message cannot be hidden for longer, a redelivery finds the claim busy; the
            // step's heartbeat tries again.
            if let Err(e) = self.queue.change_visibility(receipt, lease).await {
                tracing::warn!(error = %e, "could not extend the chained message; its claim holds the step");
            }
            let received = Received::new(receipt.clone(), encode(next), 1);
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

    async fn committed(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Committed> {
        let item = self.run_item(tenant, id).await?.ok_or_else(|| StoreError::Conflict("run vanished".to_owned()))?;
        let run = self.compose_full(tenant, item).await?;
        Ok(Committed {
            status: run.status,
            next_step: run.next_step,
            last_hash: run.last_hash,
            next: None,
            ahead: None,
        })
    }

    pub(super) async fn commit(&self, commit: &StepCommit) -> StoreResult<Committed> {
        let (t, r) = (commit.tenant.as_str(), commit.run_id.as_str());
        let index = commit.checkpoint.step_index;
        // Marks this commit: a transaction re-sent after a lost answer finds its own mark.
        let commit_id = uuid::Uuid::new_v4().simple().to_string();
        let step = self
            .step_update(t, r, index)
            .update_expression("SET checkpoint = :cp, claim_status = :done, claim_until = :zero, commit_id = :cid")
            // Fenced by the claim: a worker whose claim was taken over cannot commit. A step
            // never claimed is one whose claim was deferred (only a run's first step, on
            // its first delivery): this commit takes it.
            .condition_expression(
                "attribute_not_exists(checkpoint) AND (claim_id = :claim OR attribute_not_exists(claim_id))",
            )
            .expression_attribute_values(":claim", s(&commit.claim))
            .expression_attribute_values(":cid", s(&commit_id))
            .expression_attribute_values(":cp", self.value_attr(t, r, &commit.checkpoint).await?)
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(sdk_err)?;
        // The status index changes only with the run's status: a step that keeps the run
        // running sets the same key and leaves `since_ms` alone, and so writes nothing
        // there. (Step 0 may start the run: the time it entered running is set then.)
        let mut set =
            "SET #st = :status, next_step = :next, last_hash = :hash, updated_at_ms = :now, gsi3pk = :gsi".to_owned();
        if commit.run_status != RunStatus::Running || index == 0 {
            set.push_str(", since_ms = :now");
        }
        let (advance, from) = may_become(commit.run_status);
        let run = Update::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, r)))
            .key("sk", s(RUN_SK))
            // A first step whose claim was deferred finds its run still queued.
            .condition_expression(if index == 0 {
                format!("next_step = :index AND ({advance} OR #st = :queued)")
            } else {
                format!("next_step = :index AND {advance}")
            })
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":status", s(commit.run_status.as_str()))
            .expression_attribute_values(":next", n(u64::from(index) + 1))
            .expression_attribute_values(":hash", s(&commit.checkpoint.hash))
            .expression_attribute_values(":now", n(commit.now_ms))
            .expression_attribute_values(":gsi", s(status_pk(t, commit.run_status)))
            .expression_attribute_values(":index", n(u64::from(index)));
        let run =
            if index == 0 { run.expression_attribute_values(":queued", s(RunStatus::Queued.as_str())) } else { run };
        let mut run = from.into_iter().fold(run, |b, (k, v)| b.expression_attribute_values(k, v));
        if commit.run_status.is_terminal() {
            // Into the index of finished runs by their end, for retention.
            let (pk, sk) = ended_keys(t, r, commit.now_ms);
            set.push_str(", gsi2pk = :epk, gsi2sk = :esk");
            run = run.expression_attribute_values(":epk", pk).expression_attribute_values(":esk", sk);
        }
        if let Some(output) = &commit.run_output {
            set.push_str(", #out = :output");
            run = run
                .expression_attribute_names("#out", "output")
                .expression_attribute_values(":output", self.value_attr(t, r, output).await?);
        }
        if let Some(plan) = &commit.plan {
            // An agent's planner extended the plan (the spec keeps the plan it started with).
            set.push_str(", #plan = :plan");
            run = run
                .expression_attribute_names("#plan", "plan")
                .expression_attribute_values(":plan", self.value_attr(t, r, plan).await?);
        }
        if let Some(error) = &commit.run_error {
            set.push_str(", #err = :error");
            run = run
                .expression_attribute_names("#err", "error")
                .expression_attribute_values(":error", json_attr(error)?);
        }
        if let Some(charge) = &commit.charge {
            set.push_str(", spent_mc = :spent");
            run = run.expression_attribute_values(":spent", n(charge.run_spent_mc));
        }
        if !commit.usage.is_empty() {
            set.push_str(", #usage = :usage");
            run = run
                .expression_attribute_names("#usage", "usage")
                .expression_attribute_values(":usage", json_attr(&commit.usage)?);
        }
        // The reservation made for the next step, or none (a stale one goes).
        let ahead = commit.charge.as_ref().and_then(|ch| ch.ahead.as_ref()).filter(|_| commit.next.is_some());
        match ahead {
            Some(a) => {
                set.push_str(", ahead = :ahead");
                run = run.expression_attribute_values(":ahead", json_attr(a)?);
            }
            None => set.push_str(" REMOVE ahead"),
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
                    .item("pk", s(run_pk(t, r)))
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
        // The step's reservation settled and the next step's made, in the same transaction.
        let ledger_at = items.len();
        let settle = commit.charge.as_ref().and_then(|ch| ch.settle.as_ref());
        let settle = settle.map(|(pending, post)| (pending, *post, aos_core::credits::resolution(*post)));
        if settle.is_some() || ahead.is_some() {
            match self.credits.step_items(t, settle, ahead, commit.now_ms) {
                Ok((_, ledger)) => items.extend(ledger),
                Err(aos_runtime::ports::CreditError::Store(e)) => return Err(e),
                Err(aos_runtime::ports::CreditError::Refused(e)) => {
                    tracing::warn!(run = r, step = index, error = %e, "a step's ledger work could not be written");
                    return Box::pin(self.commit(&without_ledger(commit))).await;
                }
            }
        }
        let ledger = ledger_at..items.len();
        // The step's model tokens on its tenant's month meter, in the same transaction.
        if commit.tokens > 0 {
            if let Some((meter, period)) = aos_core::limits::QuotaName::TokensPerMonth.meter(commit.now_ms) {
                let amount = i64::try_from(commit.tokens).unwrap_or(i64::MAX);
                let add = crate::tenants::meter_add(&self.table, t, meter, &period, amount).build().map_err(sdk_err)?;
                items.push(TransactWriteItem::builder().update(add).build());
            }
        }
        // The step's actual charge against what it took from its tenant's spend windows.
        if let Some(adjust) = commit.charge.as_ref().and_then(|ch| ch.spend.as_ref()) {
            if let Some(up) = crate::tenants::spend_adjust(&self.table, t, adjust) {
                items.push(TransactWriteItem::builder().update(up.build().map_err(sdk_err)?).build());
            }
        }
        // And against what it took from its workflow execution's envelope.
        if let Some((execution, delta)) = commit.charge.as_ref().and_then(|ch| ch.envelope.as_ref()) {
            let meter = aos_core::limits::WORKFLOW_METER;
            let add = crate::tenants::meter_add(&self.table, t, meter, execution, *delta).build().map_err(sdk_err)?;
            items.push(TransactWriteItem::builder().update(add).build());
        }
        // The run's usage record, when this step ends it.
        if let Some(record) = &commit.usage_record {
            items.push(TransactWriteItem::builder().put(crate::usage::put(&self.table, t, record)?).build());
        }
        let outcome = crate::audit::transact_audited(&self.client, &self.table, items, &commit.audit).await?.0;
        if ledger.clone().any(|i| outcome.failed(i)) && !outcome.failed(0) && !outcome.failed(1) {
            // The reservation resolved otherwise (it expired), the next step's did not
            // fit, or the tenant's grants are due a roll: nothing was written. Commit the
            // step without either, then settle through the ledger, which rolls and
            // answers repeats (a crash in between leaves the reservation to return at its
            // timeout); the next step's budget stage reserves for itself.
            let done = Box::pin(self.commit(&without_ledger(commit))).await?;
            self.settle_apart(commit).await;
            return Ok(done);
        }
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
            // The run was cancelled or moved on: keep the checkpoint and the step's charge,
            // never advance the run.
            self.record_checkpoint_only(commit).await?;
            self.settle_apart(commit).await;
            if let Some(receipt) = &commit.ack {
                self.queue.delete(receipt).await?;
            }
            return self.committed(&commit.tenant, &commit.run_id).await;
        }
        if chained.is_some() && outcome.failed(2) {
            // The next step was claimed already (a resumed duplicate): end this step
            // without chaining.
            let plain = StepCommit { lease_next: None, ..commit.clone() };
            return Box::pin(self.commit(&plain)).await;
        }
        Err(StoreError::Backend(format!("step commit cancelled without a failed condition: {outcome:?}")))
    }
}
