//! A run's cancel in DynamoDB: the status, its audit entry and the run's usage record in
//! one transaction, then the wake-up of whoever waits for the run.

use super::*;

impl DynamoRunStore {
    /// The update that cancels run `id` while its next step is still `next_step`.
    fn cancel_update(
        &self,
        tenant: &TenantId,
        id: &RunId,
        next_step: u32,
        now_ms: u64,
    ) -> StoreResult<aws_sdk_dynamodb::types::Update> {
        let error = StructuredOutcome::failure(ErrorCode::RunCancelled, "cancelled on request").error;
        let (cancellable, from) = may_become(RunStatus::Cancelled);
        let (epk, esk) = ended_keys(tenant.as_str(), id.as_str(), now_ms);
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", s(run_pk(tenant.as_str(), id.as_str())))
            .key("sk", s(RUN_SK))
            .update_expression(
                "SET #st = :cancelled, #err = :error, updated_at_ms = :now, since_ms = :now, gsi3pk = :gsi, gsi2pk = :epk, \
                 gsi2sk = :esk",
            )
            .condition_expression(format!("{cancellable} AND next_step = :seen"))
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":cancelled", s(RunStatus::Cancelled.as_str()))
            .expression_attribute_values(":error", json_attr(&error)?)
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":seen", n(u64::from(next_step)))
            .expression_attribute_values(":gsi", s(status_pk(tenant.as_str(), RunStatus::Cancelled)))
            .expression_attribute_values(":epk", epk)
            .expression_attribute_values(":esk", esk);
        from.into_iter().fold(update, |b, (k, v)| b.expression_attribute_values(k, v)).build().map_err(sdk_err)
    }

    /// Cancels the run (see [`RunStore::cancel_run`]).
    pub(super) async fn cancel(
        &self,
        tenant: &TenantId,
        id: &RunId,
        now_ms: u64,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<RunRecord> {
        let finished = || StoreError::Conflict("the run is finished or does not exist".to_owned());
        // The cancel, its audit entry and the run's usage record in one transaction. The
        // usage is the run's as read: the cancel holds only while no step has committed
        // since (a step's commit moves next_step with the usage), else it reads again.
        for _ in 0..5 {
            let seen = self.run(tenant, id).await?.filter(|r| !r.status.is_terminal()).ok_or_else(finished)?;
            let record = seen.usage_record(RunStatus::Cancelled, now_ms, seen.usage.clone());
            let items = vec![
                TransactWriteItem::builder().update(self.cancel_update(tenant, id, seen.next_step, now_ms)?).build(),
                TransactWriteItem::builder().put(crate::usage::put(&self.table, tenant.as_str(), &record)?).build(),
            ];
            if let Txn::ConditionFailed(_) =
                crate::audit::transact_audited(&self.client, &self.table, items, audit).await?.0
            {
                continue;
            }
            let run =
                self.run(tenant, id).await?.ok_or_else(|| StoreError::Backend("the cancelled run vanished".into()))?;
            // Whoever waits for the run hears of its end. The cancel has committed: a
            // failed send is logged, and any later message of the run sends it again.
            if let Some(body) = aos_runtime::worker::notify_parent(&run) {
                if let Err(e) = self.queue.send(&body, Duration::ZERO).await {
                    tracing::warn!(error = %e, run = %run.id, "could not wake the waiter of a cancelled run");
                }
            }
            return Ok(run);
        }
        Err(StoreError::Conflict("the run kept moving on while it was being cancelled; try again".to_owned()))
    }
}
