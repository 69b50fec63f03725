//! Workflows, executions and approvals in the embedded database. An execution's write
//! (state, new runs with their first step, timers, approvals, cancellations, the
//! acknowledgement and the idempotency completion) is one transaction.

use crate::db::{backend, exec, qrow, Db};
use crate::queue::{ack, enqueue, STEP_QUEUE};
use crate::runs::{cancel_tx, insert_run_tx};
use aos_core::{ApprovalId, ExecutionId, TenantId};
use aos_runtime::ports::{
    ApprovalRecord, ApprovalStatus, ExecutionRecord, ExecutionWrite, StepMessage, StoreError, StoreResult,
    WorkflowRecord, WorkflowStore,
};
use aos_runtime::worker::encode;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;

/// Workflows and their executions in the embedded database.
pub struct EmbeddedWorkflows {
    db: Arc<Db>,
}

impl EmbeddedWorkflows {
    /// The store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

fn json_err(e: &serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt record: {e}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| json_err(&e))
}

fn write_tx(c: &Connection, w: &ExecutionWrite) -> Result<(), StoreError> {
    let e = &w.execution;
    let (t, id) = (e.tenant.as_str(), e.id.as_str());
    let body = to_json(e)?;
    let status = e.state.status.as_str();
    let changed = match w.expected_revision {
        None => exec(
            c,
            "INSERT INTO executions (tenant, id, revision, status, body) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![t, id, e.revision, status, body],
        ),
        Some(expected) => exec(
            c,
            "UPDATE executions SET revision = ?3, status = ?4, body = ?5 WHERE tenant = ?1 AND id = ?2 AND revision = ?6",
            params![t, id, e.revision, status, body, expected],
        ),
    }
    .map_err(|e| backend(&e))?;
    if changed != 1 {
        return Err(StoreError::Conflict(format!("execution {id} changed meanwhile")));
    }
    for run in &w.runs {
        insert_run_tx(c, run)?;
        let first = StepMessage { tenant: run.tenant.clone(), run_id: run.id.clone(), step_index: 0 };
        enqueue(c, STEP_QUEUE, &encode(&first), 0).map_err(|e| backend(&e))?;
    }
    for (body, at) in &w.messages {
        enqueue(c, STEP_QUEUE, body, *at).map_err(|e| backend(&e))?;
    }
    for a in &w.approvals {
        // A closing update keeps the prompt and creation time of the pending record.
        let mut a = a.clone();
        if let Some(existing) = load_approval(c, t, a.id.as_str())? {
            if a.prompt.is_empty() {
                a.prompt = existing.prompt;
            }
            if a.created_at_ms == 0 {
                a.created_at_ms = existing.created_at_ms;
                a.required_level = existing.required_level;
                let mut history = existing.history;
                history.append(&mut a.history);
                a.history = history;
            }
        }
        exec(
            c,
            "INSERT INTO approvals (tenant, id, status, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant, id) DO UPDATE SET status = excluded.status, body = excluded.body",
            params![t, a.id.as_str(), a.status.as_str(), to_json(&a)?],
        )
        .map_err(|e| backend(&e))?;
    }
    for run in &w.cancel_runs {
        match cancel_tx(c, t, run.as_str(), e.updated_at_ms) {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(other) => return Err(other),
        }
    }
    if let Some(receipt) = &w.ack {
        ack(c, receipt).map_err(|e| backend(&e))?;
    }
    if let Some(done) = &w.idempotency {
        crate::idempotency::complete_tx(c, t, done)?;
    }
    crate::audit::append_tx(c, &w.audit)?;
    Ok(())
}

fn load_approval(c: &Connection, tenant: &str, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
    let body: Option<String> =
        qrow(c, "SELECT body FROM approvals WHERE tenant = ?1 AND id = ?2", params![tenant, id], |r| r.get(0))
            .optional()
            .map_err(|e| backend(&e))?;
    body.map(|b| serde_json::from_str(&b).map_err(|e| json_err(&e))).transpose()
}

#[async_trait]
impl WorkflowStore for EmbeddedWorkflows {
    async fn put_workflow(&self, w: &WorkflowRecord) -> StoreResult<()> {
        let body = to_json(w)?;
        let (t, name, version) = (w.tenant.as_str().to_owned(), w.name.clone(), w.version);
        self.db
            .write(true, move |c| {
                let n = exec(
                    c,
                    "INSERT INTO workflows (tenant, name, version, body) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    params![t, name, version, body],
                )
                .map_err(|e| backend(&e))?;
                if n == 1 {
                    Ok(())
                } else {
                    Err(StoreError::Conflict(format!("workflow {name} version {version} exists")))
                }
            })
            .await
    }

    async fn workflow(
        &self,
        tenant: &TenantId,
        name: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<WorkflowRecord>> {
        let body: Option<String> = self.db.read(|c| {
            qrow(
                c,
                "SELECT body FROM workflows WHERE tenant = ?1 AND name = ?2 AND (?3 IS NULL OR version = ?3)
                 ORDER BY version DESC LIMIT 1",
                params![tenant.as_str(), name, version],
                |r| r.get(0),
            )
            .optional()
        })?;
        body.map(|b| serde_json::from_str(&b).map_err(|e| json_err(&e))).transpose()
    }

    async fn write_execution(&self, write: &ExecutionWrite) -> StoreResult<()> {
        let w = write.clone();
        let new_messages = w.runs.len() + w.messages.len();
        self.db.write(true, move |c| write_tx(c, &w)).await?;
        if new_messages > 1 {
            // A fan-out: wake every idle worker, not only one.
            self.db.enqueued.notify_waiters();
        }
        if new_messages > 0 {
            self.db.enqueued.notify_one();
        }
        Ok(())
    }

    async fn execution(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<Option<ExecutionRecord>> {
        let body: Option<String> = self.db.read(|c| {
            qrow(
                c,
                "SELECT body FROM executions WHERE tenant = ?1 AND id = ?2",
                params![tenant.as_str(), id.as_str()],
                |r| r.get(0),
            )
            .optional()
        })?;
        body.map(|b| serde_json::from_str(&b).map_err(|e| json_err(&e))).transpose()
    }

    async fn approvals(
        &self,
        tenant: &TenantId,
        status: Option<ApprovalStatus>,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRecord>> {
        let status = status.map(ApprovalStatus::as_str);
        let bodies: Vec<String> = self.db.read(|c| {
            // The listing order of ApprovalRecord::cursor (creation time, then id).
            let mut st = c.prepare_cached(
                "SELECT body FROM (SELECT body, printf('%013d_%s', json_extract(body, '$.created_at_ms'), id) AS cursor
                   FROM approvals WHERE tenant = ?1 AND (?2 IS NULL OR status = ?2))
                 WHERE ?3 IS NULL OR cursor < ?3 ORDER BY cursor DESC LIMIT ?4",
            )?;
            let rows = st.query_map(params![tenant.as_str(), status, before, limit], |r| r.get(0))?;
            rows.collect()
        })?;
        bodies.iter().map(|b| serde_json::from_str(b).map_err(|e| json_err(&e))).collect()
    }

    async fn approval(&self, tenant: &TenantId, id: &ApprovalId) -> StoreResult<Option<ApprovalRecord>> {
        self.db.read(|c| Ok(load_approval(c, tenant.as_str(), id.as_str())))?
    }

    async fn put_approval(
        &self,
        approval: &ApprovalRecord,
        expect: Option<ApprovalStatus>,
        wake: Option<&str>,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<()> {
        let a = approval.clone();
        let audit = audit.to_vec();
        let wake = wake.map(str::to_owned);
        let woken = wake.is_some();
        self.db
            .write(true, move |c| {
                let t = a.tenant.as_str();
                let existing = load_approval(c, t, a.id.as_str())?;
                if existing.map(|e| e.status) != expect {
                    return Err(StoreError::Conflict(format!("approval {} is not in the expected state", a.id)));
                }
                exec(
                    c,
                    "INSERT INTO approvals (tenant, id, status, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant, id) DO UPDATE SET status = excluded.status, body = excluded.body",
                    params![t, a.id.as_str(), a.status.as_str(), to_json(&a)?],
                )
                .map_err(|e| backend(&e))?;
                if let Some(body) = &wake {
                    enqueue(c, STEP_QUEUE, body, 0).map_err(|e| backend(&e))?;
                }
                crate::audit::append_tx(c, &audit)?;
                Ok(())
            })
            .await?;
        if woken {
            self.db.enqueued.notify_one();
        }
        Ok(())
    }

    async fn expire_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<u64> {
        let t = tenant.to_string();
        self.db
            .write(false, move |c| {
                let approvals = exec(
                    c,
                    "DELETE FROM approvals WHERE tenant = ?1 AND id IN (SELECT id FROM approvals WHERE tenant = ?1 AND (
                        (status NOT IN ('pending', 'escalated') AND json_extract(body, '$.closed_at_ms') < ?2)
                        OR (status IN ('pending', 'escalated') AND json_extract(body, '$.expires_at_ms') < ?2)) LIMIT ?3)",
                    params![t, before_ms, limit],
                )
                .map_err(|e| backend(&e))?;
                let executions = exec(
                    c,
                    "DELETE FROM executions WHERE tenant = ?1 AND id IN (SELECT id FROM executions WHERE tenant = ?1
                        AND status IN ('succeeded', 'failed', 'cancelled') AND json_extract(body, '$.updated_at_ms') < ?2 LIMIT ?3)",
                    params![t, before_ms, limit],
                )
                .map_err(|e| backend(&e))?;
                Ok((approvals + executions) as u64)
            })
            .await
    }
}
