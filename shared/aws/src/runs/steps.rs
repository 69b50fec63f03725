//! The step transitions of runs in DynamoDB: claim, heartbeat, commit (with the chained
//! hand-back and what follows it), retry and park. Each is fenced by the step's claim
//! token, and each recognises its own write when the SDK re-sent it after a lost answer.

use super::*;

/// The same claim without a reservation.
fn plain(req: &BeginStep) -> BeginStep {
    BeginStep { reserve: None, ..req.clone() }
}

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
    fn step_update(&self, tenant: &str, run: &str, index: u32) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
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

    /// The first claim of a run's first step and the run's move to running, in one
    /// transaction. `None` when the step was claimed before (a retry or a takeover),
    /// which the general claim handles.
    async fn begin_run(&self, req: &BeginStep) -> StoreResult<Option<BeginOutcome>> {
        let (t, r) = (req.tenant.as_str(), req.run_id.as_str());
        let claim = Put::builder()
            .table_name(&self.table)
            .item("pk", s(run_pk(t, r)))
            .item("sk", s(step_sk(0)))
            .item("claim_status", s("running"))
            .item("claim_until", n(req.claim_until_ms))
            .item("claim_id", s(&req.claim))
            .item("prev_status", s("none"))
            .item("attempts", n(1))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(sdk_err)?;
        let mut start = Update::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, r)))
            .key("sk", s(RUN_SK))
            .update_expression("SET #st = :running, gsi3pk = :gsi, since_ms = :now, updated_at_ms = :now")
            .condition_expression("#st = :queued")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":running", s(RunStatus::Running.as_str()))
            .expression_attribute_values(":queued", s(RunStatus::Queued.as_str()))
            .expression_attribute_values(":gsi", s(status_pk(t, RunStatus::Running)))
            .expression_attribute_values(":now", n(req.now_ms));
        // The step's reservation in the same write, when its tenant is metered.
        let ledger = match &req.reserve {
            Some(ahead) => {
                start = start
                    .update_expression(
                        "SET #st = :running, gsi3pk = :gsi, since_ms = :now, updated_at_ms = :now, ahead = :ahead",
                    )
                    .expression_attribute_values(":ahead", json_attr(ahead)?);
                match self.credits.step_items(t, None, Some(ahead), req.now_ms) {
                    Ok((_, items)) => items,
                    Err(aos_runtime::ports::CreditError::Store(e)) => return Err(e),
                    Err(aos_runtime::ports::CreditError::Refused(_)) => {
                        return Box::pin(self.begin_run(&plain(req))).await
                    }
                }
            }
            None => Vec::new(),
        };
        let start = start.build().map_err(sdk_err)?;
        let mut items =
            vec![TransactWriteItem::builder().put(claim).build(), TransactWriteItem::builder().update(start).build()];
        items.extend(ledger);
        match crate::txn::transact(&self.client, items).await? {
            Txn::Committed => {
                Ok(Some(BeginOutcome::Claimed { attempt: 1, taken_over: false, reserved: req.reserve.clone() }))
            }
            // Claimed before, or the run is no longer queued: the general claim decides
            // (and recognises this call's own claim if its answer was lost).
            txn if txn.failed(0) || txn.failed(1) => Ok(None),
            // The reservation did not fit (or the grants are due a roll): claim without
            // it; the budget stage reserves and says why.
            Txn::ConditionFailed(_) => Box::pin(self.begin_run(&plain(req))).await,
        }
    }

    /// The claim of a run's first step begun without one (a deferred claim), taken now
    /// with the run's move to running, in one transaction: as `running` until `until_ms`
    /// (a heartbeat) or as `waiting` with its error (a retry). True when the claim is
    /// this one's (taken now, or before by this call whose answer was lost); false when
    /// another worker claimed the step or the run is no longer queued.
    async fn claim_late(
        &self,
        t: &str,
        r: &str,
        claim: &str,
        until_ms: u64,
        now_ms: u64,
        retry: Option<&OutcomeError>,
    ) -> StoreResult<bool> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(run_pk(t, r)))
            .item("sk", s(step_sk(0)))
            .item("claim_status", s(if retry.is_some() { "waiting" } else { "running" }))
            .item("claim_until", n(if retry.is_some() { 0 } else { until_ms }))
            .item("claim_id", s(claim))
            .item("prev_status", s("none"))
            .item("attempts", n(1))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(error) = retry {
            put = put.item("last_error", json_attr(error)?);
        }
        let start = Update::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, r)))
            .key("sk", s(RUN_SK))
            .update_expression("SET #st = :running, gsi3pk = :gsi, since_ms = :now, updated_at_ms = :now")
            .condition_expression("#st = :queued AND next_step = :zero")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":running", s(RunStatus::Running.as_str()))
            .expression_attribute_values(":queued", s(RunStatus::Queued.as_str()))
            .expression_attribute_values(":gsi", s(status_pk(t, RunStatus::Running)))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(sdk_err)?;
        let items = vec![
            TransactWriteItem::builder().put(put.build().map_err(sdk_err)?).build(),
            TransactWriteItem::builder().update(start).build(),
        ];
        if crate::txn::transact(&self.client, items).await? == Txn::Committed {
            return Ok(true);
        }
        let item = self.step_item(t, r, 0).await?.unwrap_or_default();
        Ok(get_s(&item, "claim_id").is_ok_and(|c| c == claim))
    }

    /// A step's item (claim and checkpoint), read consistently.
    async fn step_item(&self, tenant: &str, run: &str, index: u32) -> StoreResult<Option<Item>> {
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

    pub(super) async fn begin(&self, req: &BeginStep) -> StoreResult<BeginOutcome> {
        if req.deferrable && req.step_index == 0 && req.reserve.is_none() {
            // Nothing written: the step's commit takes the claim (or its first heartbeat
            // or retry, if one comes first), and a step claimed by anyone meanwhile
            // refuses that commit. The run's write of a whole step is then one write.
            return Ok(BeginOutcome::Claimed { attempt: 1, taken_over: false, reserved: None });
        }
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
                .key("pk", s(run_pk(t, r)))
                .key("sk", s(RUN_SK))
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
            return Ok(BeginOutcome::Claimed { attempt, taken_over, reserved: None });
        }
        if get_s(&item, "claim_status").is_ok_and(|st| st == "done") {
            return Ok(BeginOutcome::AlreadyDone);
        }
        Ok(BeginOutcome::Busy { until_ms: get_n(&item, "claim_until").unwrap_or(req.now_ms) })
    }

    pub(super) async fn extend(
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
            .key("pk", s(run_pk(tenant.as_str(), run_id.as_str())))
            .key("sk", s(step_sk(step_index)))
            .update_expression("SET claim_until = :until")
            // Fenced by the claim alone: a repeat of the same extension (a lost answer)
            // still holds it.
            .condition_expression("claim_status = :running AND claim_id = :claim")
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":claim", s(claim))
            .expression_attribute_values(":until", n(until_ms))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) => {
                let UpdateItemError::ConditionalCheckFailedException(f) = e.into_service_error() else {
                    return Err(StoreError::Backend("the heartbeat of a step could not be recorded".to_owned()));
                };
                if f.item.is_none() && step_index == 0 {
                    // A deferred first claim: taken now, the step has run for a while.
                    let (t, r) = (tenant.as_str(), run_id.as_str());
                    return self.claim_late(t, r, claim, until_ms, aos_runtime::clock::now_ms(), None).await;
                }
                Ok(false)
            }
        }
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

    pub(super) async fn retry(&self, retry: &StepRetry) -> StoreResult<()> {
        let (t, r) = (retry.tenant.as_str(), retry.run_id.as_str());
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, r)))
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
            let mine = match f.item {
                // A deferred first claim: taken now, as waiting, with the run's start, so
                // the retry's delivery claims as any other (and counts its attempt).
                None if retry.step_index == 0 => {
                    self.claim_late(t, r, &retry.claim, 0, retry.now_ms, Some(&retry.last_error)).await?
                }
                item => {
                    let item = item.unwrap_or_default();
                    get_s(&item, "claim_id").is_ok_and(|c| c == retry.claim)
                        && get_s(&item, "claim_status").is_ok_and(|st| st == "waiting")
                }
            };
            if !mine {
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

    pub(super) async fn suspend(&self, suspend: &StepSuspend) -> StoreResult<()> {
        let (t, r) = (suspend.tenant.as_str(), suspend.run_id.as_str());
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, r)))
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
}
