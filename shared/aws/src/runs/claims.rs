//! Step claims of runs in DynamoDB: the first claim of a run (with its start and its
//! reservation), a deferred first claim taken late, the general claim, heartbeats,
//! retries and parking. Each is fenced by the step's claim token, and each recognises its
//! own write when the SDK re-sent it after a lost answer.

use super::*;
use aws_sdk_dynamodb::types::builders::{PutBuilder, UpdateBuilder};

/// The same claim without a reservation.
fn plain(req: &BeginStep) -> BeginStep {
    BeginStep { reserve: None, ..req.clone() }
}

impl DynamoRunStore {
    /// The put of the first claim of a run's first step (`status` `running` until
    /// `until_ms`, or `waiting`), if the step has no item yet.
    fn first_claim(&self, t: &str, r: &str, claim: &str, status: &str, until_ms: u64) -> PutBuilder {
        Put::builder()
            .table_name(&self.table)
            .item("pk", s(run_pk(t, r)))
            .item("sk", s(step_sk(0)))
            .item("claim_status", s(status))
            .item("claim_until", n(until_ms))
            .item("claim_id", s(claim))
            .item("prev_status", s("none"))
            .item("attempts", n(1))
            .condition_expression("attribute_not_exists(pk)")
    }

    /// The update that moves a queued run to running (nothing goes back to queued, so a
    /// queued run is at step 0).
    fn start_run(&self, t: &str, r: &str, now_ms: u64) -> UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, r)))
            .key("sk", s(RUN_SK))
            .update_expression("SET #st = :running, gsi3pk = :gsi, since_ms = :now, updated_at_ms = :now")
            .condition_expression("#st = :queued")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":running", s(RunStatus::Running.as_str()))
            .expression_attribute_values(":queued", s(RunStatus::Queued.as_str()))
            .expression_attribute_values(":gsi", s(status_pk(t, RunStatus::Running)))
            .expression_attribute_values(":now", n(now_ms))
    }

    /// The first claim of a run's first step and the run's move to running, in one
    /// transaction. `None` when the step was claimed before (a retry or a takeover),
    /// which the general claim handles.
    async fn begin_run(&self, req: &BeginStep) -> StoreResult<Option<BeginOutcome>> {
        let (t, r) = (req.tenant.as_str(), req.run_id.as_str());
        let claim = self.first_claim(t, r, &req.claim, "running", req.claim_until_ms).build().map_err(sdk_err)?;
        let mut start = self.start_run(t, r, req.now_ms);
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
    /// another worker claimed the step or the run neither is queued nor was cancelled (a
    /// step in flight at a cancel keeps its claim, without the run's move).
    async fn claim_late(
        &self,
        t: &str,
        r: &str,
        claim: &str,
        until_ms: u64,
        now_ms: u64,
        retry: Option<&OutcomeError>,
    ) -> StoreResult<bool> {
        let mut put = match retry {
            Some(_) => self.first_claim(t, r, claim, "waiting", 0),
            None => self.first_claim(t, r, claim, "running", until_ms),
        };
        if let Some(error) = retry {
            put = put.item("last_error", json_attr(error)?);
        }
        let put = put.build().map_err(sdk_err)?;
        let start = self.start_run(t, r, now_ms).build().map_err(sdk_err)?;
        let items = vec![
            TransactWriteItem::builder().put(put.clone()).build(),
            TransactWriteItem::builder().update(start).build(),
        ];
        if crate::txn::transact(&self.client, items).await? == Txn::Committed {
            return Ok(true);
        }
        // A run cancelled while its first step ran: the step in flight keeps its claim
        // alone, so that its outcome is recorded.
        let cancelled = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(t, r)))
            .key("sk", s(RUN_SK))
            .condition_expression("#st = :cancelled")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":cancelled", s(RunStatus::Cancelled.as_str()))
            .build()
            .map_err(sdk_err)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().condition_check(cancelled).build(),
        ];
        if crate::txn::transact(&self.client, items).await? == Txn::Committed {
            return Ok(true);
        }
        let item = self.step_item(t, r, 0).await?.unwrap_or_default();
        Ok(get_s(&item, "claim_id").is_ok_and(|c| c == claim))
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
