//! Workflow versions and approvals in DynamoDB: `TENANT#t` / `WORKFLOW#<name>#<version>`
//! and `TENANT#t` / `APPROVAL#<id>`. On AWS executions run on Step Functions; their
//! state is the state machine's, so the execution records of the embedded executor are
//! not kept here.

use crate::dynamo::{get_s, n, query_prefix, s, sdk_err, tenant_pk, Item};
use aos_core::{ApprovalId, ExecutionId, TenantId};
use aos_runtime::ports::{
    ApprovalRecord, ApprovalStatus, ExecutionRecord, ExecutionWrite, NodeProgress, SfnExecution, SfnRecords,
    StoreError, StoreResult, WorkflowRecord, WorkflowStore,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

/// Workflows and approvals in the AOS table.
pub struct DynamoWorkflows {
    client: Client,
    table: String,
    /// The step queue, for the wake-up of a step whose approval was decided.
    queue: Option<crate::SqsQueue>,
}

impl DynamoWorkflows {
    /// The store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), queue: None }
    }

    /// Sends the wake-ups of decided steps' approvals to `queue` (the step queue).
    #[must_use]
    pub fn with_queue(mut self, queue: crate::SqsQueue) -> Self {
        self.queue = Some(queue);
        self
    }
}

fn workflow_sk(name: &str, version: u32) -> String {
    // Zero-padded so versions sort by number.
    format!("WORKFLOW#{name}#{version:010}")
}

fn body<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_str(get_s(item, "body")?).map_err(|e| StoreError::Backend(format!("corrupt record: {e}")))
}

fn executions_unsupported() -> StoreError {
    StoreError::Backend("on the AWS backend workflow executions run on Step Functions".to_owned())
}

#[async_trait]
impl WorkflowStore for DynamoWorkflows {
    async fn put_workflow(&self, w: &WorkflowRecord) -> StoreResult<()> {
        let body = serde_json::to_string(w).map_err(|e| StoreError::Backend(e.to_string()))?;
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(w.tenant.as_str())))
            .item("sk", s(workflow_sk(&w.name, w.version)))
            .item("body", s(body))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(StoreError::Conflict(format!("workflow {} version {} exists", w.name, w.version)))
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn workflow(
        &self,
        tenant: &TenantId,
        name: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<WorkflowRecord>> {
        let items =
            query_prefix(&self.client, &self.table, tenant_pk(tenant.as_str()), &format!("WORKFLOW#{name}#")).await?;
        let found = match version {
            Some(v) => items.iter().find(|i| get_s(i, "sk").is_ok_and(|sk| sk == workflow_sk(name, v))),
            None => items.iter().max_by_key(|i| get_s(i, "sk").unwrap_or_default().to_owned()),
        };
        found.map(body).transpose()
    }

    async fn write_execution(&self, _write: &ExecutionWrite) -> StoreResult<()> {
        Err(executions_unsupported())
    }

    async fn execution(&self, _tenant: &TenantId, _id: &ExecutionId) -> StoreResult<Option<ExecutionRecord>> {
        Err(executions_unsupported())
    }

    async fn approvals(
        &self,
        tenant: &TenantId,
        status: Option<ApprovalStatus>,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRecord>> {
        // Each status is a partition of the listing index, newest first: a listing of
        // every status merges the five.
        let statuses = status.map_or_else(|| ApprovalStatus::ALL.to_vec(), |st| vec![st]);
        let mut list = Vec::new();
        for st in statuses {
            let items = crate::dynamo::query_index_below(
                &self.client,
                &self.table,
                &crate::dynamo::LISTING,
                approvals_pk(tenant.as_str(), st),
                before.unwrap_or("~"),
                limit,
            )
            .await?;
            for item in &items {
                list.push(body::<ApprovalRecord>(item)?);
            }
        }
        list.sort_by_key(|a| std::cmp::Reverse(a.cursor()));
        list.truncate(limit as usize);
        Ok(list)
    }

    async fn approval(&self, tenant: &TenantId, id: &ApprovalId) -> StoreResult<Option<ApprovalRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(format!("APPROVAL#{id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(body).transpose()
    }

    async fn put_approval(
        &self,
        a: &ApprovalRecord,
        expect: Option<ApprovalStatus>,
        wake: Option<&str>,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<()> {
        // Checked before the write: a decision is never recorded without its wake-up.
        let queue = match (wake, &self.queue) {
            (Some(body), Some(q)) => Some((body, q)),
            (Some(_), None) => {
                return Err(StoreError::Backend("this approval store has no step queue to wake the step".to_owned()))
            }
            (None, _) => None,
        };
        let body = serde_json::to_string(a).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(a.tenant.as_str())))
            .item("sk", s(format!("APPROVAL#{}", a.id)))
            .item("status", s(a.status.as_str()))
            .item("gsi1pk", s(approvals_pk(a.tenant.as_str(), a.status)))
            .item("gsi1sk", s(a.cursor()))
            .item("expires_at_ms", n(a.expires_at_ms))
            .item("body", s(body));
        // A closed approval joins the index of ended records, for retention.
        if let (false, Some(closed)) = (a.status.is_open(), a.closed_at_ms) {
            put = put
                .item("gsi2pk", s(ended_approvals_pk(a.tenant.as_str())))
                .item("gsi2sk", s(format!("{closed:013}#{}", a.id)));
        }
        put = match expect {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(st) => put
                .condition_expression("#st = :expect")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":expect", s(st.as_str())),
        };
        let put = put.build().map_err(|e| StoreError::Backend(e.to_string()))?;
        let items = vec![aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build()];
        match crate::audit::transact_audited(&self.client, &self.table, items, audit).await?.0 {
            crate::txn::Txn::Committed => {}
            crate::txn::Txn::ConditionFailed(_) => {
                return Err(StoreError::Conflict(format!("approval {} is not in the expected state", a.id)))
            }
        }
        // DynamoDB and SQS are two writes: a crash in between leaves the step to its own
        // recheck (at most 15 minutes away), which finds the decision recorded.
        if let Some((body, q)) = queue {
            aos_runtime::ports::Queue::send(q, body, std::time::Duration::ZERO).await?;
        }
        Ok(())
    }

    async fn expire_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<u64> {
        let t = tenant.as_str();
        let cut = format!("{before_ms:013}");
        let closed =
            crate::dynamo::ends_before(&self.client, &self.table, ended_approvals_pk(t), before_ms, limit).await?;
        // Open ones (pending, escalated) whose expiry passed long ago (nobody recorded
        // it): created before the cutoff, expired before it.
        let mut keys: Vec<crate::dynamo::Item> = closed.into_iter().map(|(k, _)| k).collect();
        for open in [ApprovalStatus::Pending, ApprovalStatus::Escalated] {
            let stale = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk AND gsi1sk < :cut")
                .filter_expression("expires_at_ms < :before")
                .expression_attribute_values(":pk", s(approvals_pk(t, open)))
                .expression_attribute_values(":cut", s(&cut))
                .expression_attribute_values(":before", n(before_ms))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(sdk_err)?;
            keys.extend(stale.items.unwrap_or_default());
        }
        keys.truncate(limit as usize);
        let count = keys.len() as u64;
        crate::dynamo::delete_keys(&self.client, &self.table, keys).await?;
        Ok(count)
    }
}

/// The `ends` index partition of a tenant's Step Functions executions, by start time.
fn sfn_started_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}#SFNEXEC")
}

/// The `ends` index partition of a tenant's closed approvals.
fn ended_approvals_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}#ENDED_APPROVALS")
}

/// The listing index partition of a tenant's approvals in one status.
fn approvals_pk(tenant: &str, status: ApprovalStatus) -> String {
    format!("TENANT#{tenant}#APPROVAL#{status}", status = status.as_str())
}

impl DynamoWorkflows {
    async fn put_body<T: serde::Serialize>(&self, tenant: &TenantId, sk: String, value: &T) -> StoreResult<()> {
        let body = serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant.as_str())))
            .item("sk", s(sk))
            .item("body", s(body))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}

fn progress_sk(p: &NodeProgress) -> String {
    let item = p.slot.item.map_or_else(|| "-".to_owned(), |i| format!("{i:06}"));
    let kind = if p.slot.compensation { "c" } else { "n" };
    format!("EXENODE#{}#{}#{item}#{kind}", p.execution, p.slot.node)
}

#[async_trait]
impl SfnRecords for DynamoWorkflows {
    async fn put_sfn_execution(&self, e: &SfnExecution) -> StoreResult<()> {
        let body = serde_json::to_string(e).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(e.tenant.as_str())))
            .item("sk", s(format!("SFNEXEC#{}", e.id)))
            .item("body", s(body))
            // By start time on the index retention reads.
            .item("gsi2pk", s(sfn_started_pk(e.tenant.as_str())))
            .item("gsi2sk", s(format!("{:013}#{}", e.created_at_ms, e.id)))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn started_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<SfnExecution>> {
        let mut found = Vec::new();
        for (_, id) in
            crate::dynamo::ends_before(&self.client, &self.table, sfn_started_pk(tenant.as_str()), before_ms, limit)
                .await?
        {
            let id = ExecutionId::parse(id).map_err(|e| StoreError::Backend(e.to_string()))?;
            if let Some(e) = self.sfn_execution(tenant, &id).await? {
                found.push(e);
            }
        }
        Ok(found)
    }

    async fn delete_sfn_execution(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<()> {
        let mut keys =
            query_prefix(&self.client, &self.table, tenant_pk(tenant.as_str()), &format!("EXENODE#{id}#")).await?;
        keys.push(Item::from([
            ("pk".to_owned(), s(tenant_pk(tenant.as_str()))),
            ("sk".to_owned(), s(format!("SFNEXEC#{id}"))),
        ]));
        crate::dynamo::delete_keys(&self.client, &self.table, keys).await
    }

    async fn sfn_execution(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<Option<SfnExecution>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant.as_str())))
            .key("sk", s(format!("SFNEXEC#{id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        out.item.as_ref().map(body).transpose()
    }

    async fn put_progress(&self, p: &NodeProgress) -> StoreResult<()> {
        self.put_body(&p.tenant, progress_sk(p), p).await
    }

    async fn progress(&self, tenant: &TenantId, execution: &ExecutionId) -> StoreResult<Vec<NodeProgress>> {
        let prefix = format!("EXENODE#{execution}#");
        let items = query_prefix(&self.client, &self.table, tenant_pk(tenant.as_str()), &prefix).await?;
        items.iter().map(body).collect()
    }
}
