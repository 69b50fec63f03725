//! Workflows, executions and approvals in the embedded database. An execution's write
//! (state, new runs with their first step, timers, approvals, cancellations, the
//! acknowledgement and the idempotency completion) is one transaction.

use crate::db::{backend, exec, qrow, Db, Tx};
use crate::execution_nodes::{Kept, Nodes};
use crate::queue::{ack, carry_received, enqueue, enqueue_received, ms_after, STEP_QUEUE};
use crate::runs::{cancel_tx, insert_run_tx};
use aos_core::workflow::ExecState;
use aos_core::{ApprovalId, ExecutionId, RunStatus, TenantId};
use aos_runtime::ports::{
    ApprovalRecord, ApprovalStatus, ExecutionRecord, ExecutionWrite, Received, RunRecord, StepMessage, StoreError,
    StoreResult, WorkflowRecord, WorkflowStore,
};
use aos_runtime::worker::encode;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Workflows and their executions in the embedded database.
pub struct EmbeddedWorkflows {
    db: Arc<Db>,
}

/// Node rows as read: id and state (JSON).
type NodeRows = Vec<(String, String)>;

impl EmbeddedWorkflows {
    /// The store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }

    /// The execution, its nodes from `kept` (the nodes as of a revision) and the rows
    /// written since, or all its rows without `kept`. With `remember`, the nodes read
    /// are kept for the next read (a copy of `kept` is used); without, `kept` is used up.
    fn load(
        &self,
        key: (String, String),
        kept: Option<(u64, Kept)>,
        remember: bool,
    ) -> StoreResult<Option<ExecutionRecord>> {
        let since = kept.as_ref().map(|(revision, _)| *revision);
        let Some((body, rows)) = self.db.read(|c| Self::read_execution(c, &key.0, &key.1, since))? else {
            return Ok(None);
        };
        let mut record: ExecutionRecord = serde_json::from_str(&body).map_err(|e| json_err(&e))?;
        let mut nodes = match kept {
            None => Nodes::new(),
            Some((since, kept)) if since <= record.revision => {
                if remember {
                    kept.nodes().clone()
                } else {
                    kept.into_nodes()
                }
            }
            // Kept nodes newer than the record read (it was deleted and made again).
            Some(_) => return self.load(key, None, remember),
        };
        let changed = !rows.is_empty() || !record.state.nodes.is_empty();
        for (node, body) in rows {
            nodes.insert(node, serde_json::from_str(&body).map_err(|e| json_err(&e))?);
        }
        // Records of earlier versions kept their nodes in the record (the database moves
        // them into rows when it opens).
        nodes.append(&mut record.state.nodes);
        if remember && changed {
            self.db.nodes.put(key, record.revision, Kept::Read(Arc::new(nodes.clone())));
        }
        record.state.nodes = nodes;
        Ok(Some(record))
    }

    /// The execution's record and its nodes written after revision `since` (all of them
    /// with `None`).
    fn read_execution(
        c: &Connection,
        tenant: &str,
        id: &str,
        since: Option<u64>,
    ) -> rusqlite::Result<Option<(String, NodeRows)>> {
        let Some((revision, body)) =
            qrow(c, "SELECT revision, body FROM executions WHERE tenant = ?1 AND id = ?2", params![tenant, id], |r| {
                Ok((r.get::<_, u64>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?
        else {
            return Ok(None);
        };
        if since == Some(revision) {
            // Nothing was written since: the nodes kept are current.
            return Ok(Some((body, Vec::new())));
        }
        let mut st = c.prepare_cached(
            "SELECT node, body FROM execution_nodes WHERE tenant = ?1 AND execution = ?2 AND revision > ?3",
        )?;
        let since = since.map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX));
        let rows = st.query_map(params![tenant, id, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Some((body, rows.collect::<rusqlite::Result<_>>()?)))
    }
}

/// The execution's record as stored in its row: without its nodes' states.
fn header(e: &ExecutionRecord) -> ExecutionRecord {
    let state = &e.state;
    ExecutionRecord {
        tenant: e.tenant.clone(),
        id: e.id.clone(),
        workflow: e.workflow.clone(),
        input: e.input.clone(),
        state: ExecState {
            status: state.status,
            nodes: BTreeMap::new(),
            compensations: state.compensations.clone(),
            output: state.output.clone(),
            output_error: state.output_error.clone(),
            failed_node: state.failed_node.clone(),
            error: state.error.clone(),
        },
        notify_url: e.notify_url.clone(),
        ..*e
    }
}

fn json_err(e: &serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt record: {e}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| json_err(&e))
}

/// A run an execution write starts that goes straight to the committing worker: its
/// message hidden for `lease` from `now_ms` (or carried on in `held`, the message the
/// worker holds, with the lease left of it), its first step claimed with `claim` as long.
pub(crate) struct HandBack<'a> {
    pub(crate) now_ms: u64,
    pub(crate) lease: std::time::Duration,
    /// The claim written for the first step of the run handed back; `None` leaves it to
    /// that step's own first write (`StepCommit::defer_next`).
    pub(crate) claim: Option<&'a str>,
    pub(crate) held: Option<&'a str>,
}

/// Applies an execution write; `Conflict` (and nothing written) if the execution is not
/// at the revision the write expects. With `hand_back`, the first run it starts is handed
/// to the caller and its message returned.
pub(crate) fn write_tx(
    c: &Tx<'_>,
    w: &ExecutionWrite,
    hand_back: Option<HandBack<'_>>,
) -> Result<Option<Received>, StoreError> {
    if !take_revision(c, w)? {
        return Err(StoreError::Conflict(format!("execution {} changed meanwhile", w.execution.id)));
    }
    apply_tx(c, w, hand_back)
}

/// Writes the execution's own row if it is at the revision the write expects (or, for a
/// new one, does not exist yet); answers whether it did. The first statement of a write,
/// so a `false` leaves nothing written.
pub(crate) fn take_revision(c: &Connection, w: &ExecutionWrite) -> Result<bool, StoreError> {
    let e = &w.execution;
    let (t, id) = (e.tenant.as_str(), e.id.as_str());
    let body = to_json(&header(e))?;
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
    Ok(changed == 1)
}

/// The rest of an execution write, after [`take_revision`].
pub(crate) fn apply_tx(
    c: &Tx<'_>,
    w: &ExecutionWrite,
    hand_back: Option<HandBack<'_>>,
) -> Result<Option<Received>, StoreError> {
    let e = &w.execution;
    let (t, id) = (e.tenant.as_str(), e.id.as_str());
    // Only the nodes this write changes: a node's end touches that node's row alone.
    for node in &w.changed_nodes {
        let Some(state) = e.state.nodes.get(node) else { continue };
        exec(
            c,
            "INSERT INTO execution_nodes (tenant, execution, node, revision, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (tenant, execution, node) DO UPDATE SET revision = excluded.revision, body = excluded.body",
            params![t, id, node, e.revision, to_json(state)?],
        )
        .map_err(|e| backend(&e))?;
    }
    let mut handed = None;
    let mut hand_back = hand_back;
    for run in &w.runs {
        let first = encode(&StepMessage { tenant: run.tenant.clone(), run_id: run.id.clone(), step_index: 0 });
        let Some(back) = hand_back.take() else {
            insert_run_tx(c, run)?;
            enqueue(c, STEP_QUEUE, &first, 0).map_err(|e| backend(&e))?;
            continue;
        };
        // Started and claimed as the claim stage would: running, its first step claimed
        // (or its claim left to its own first write).
        let started = RunRecord { status: RunStatus::Running, updated_at_ms: e.updated_at_ms, ..run.clone() };
        insert_run_tx(c, &started)?;
        let carried = match back.held {
            Some(held) => {
                carry_received(c, held, STEP_QUEUE, &first, back.now_ms, back.lease, true).map_err(|e| backend(&e))?
            }
            None => None,
        };
        let (received, until) = match carried {
            Some(carried) => carried,
            None => {
                let until = ms_after(back.now_ms, back.lease);
                (enqueue_received(c, STEP_QUEUE, &first, until).map_err(|e| backend(&e))?, until)
            }
        };
        handed = Some(received);
        if let Some(claim) = back.claim {
            exec(
                c,
                "INSERT INTO steps (tenant, run_id, step_index, status, attempts, claim_until, claim_id)
                 VALUES (?1, ?2, 0, 'running', 1, ?3, ?4)",
                params![t, run.id.as_str(), until, claim],
            )
            .map_err(|e| backend(&e))?;
        }
    }
    // A message held for a hand-back that found no run to start is done with.
    if let Some(held) = hand_back.and_then(|b| b.held) {
        ack(c, held).map_err(|e| backend(&e))?;
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
    Ok(handed)
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
        let w = Arc::new(write.clone());
        let new_messages = w.runs.len() + w.messages.len();
        self.db.nodes.queued(&w);
        let job = Arc::clone(&w);
        let written = self.db.write_queued(true, move |c| write_tx(c, &job, None), || w.turn.release()).await;
        self.db.nodes.settled(&w, written.is_ok());
        written?;
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
        let key = (tenant.as_str().to_owned(), id.as_str().to_owned());
        let kept = self.db.nodes.get(&key);
        self.load(key, kept, true)
    }

    async fn execution_to_change(&self, tenant: &TenantId, id: &ExecutionId) -> StoreResult<Option<ExecutionRecord>> {
        let key = (tenant.as_str().to_owned(), id.as_str().to_owned());
        // A change is built on the execution's last queued write, if one is queued.
        if let Some(queued) = self.db.nodes.queued_state(&key) {
            return Ok(Some(queued));
        }
        // The nodes kept leave the cache: the change's commit keeps its own state. What
        // this store's last committed write left is the execution as stored (every write
        // of an execution goes through this store, and its retention forgets the ones it
        // deletes), so the change takes it without reading. Were it stale all the same,
        // the change's write, which expects its revision, would fail and write nothing.
        match self.db.nodes.take(&key) {
            Some((_, Kept::Written(w))) => Ok(Some(match Arc::try_unwrap(w) {
                Ok(w) => w.execution,
                Err(shared) => shared.execution.clone(),
            })),
            kept => self.load(key, kept, false),
        }
    }

    fn takes_run_ends(&self) -> bool {
        true
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
        let (count, ended) = self
            .db
            .write(false, move |c| {
                let approvals = exec(
                    c,
                    "DELETE FROM approvals WHERE tenant = ?1 AND id IN (SELECT id FROM approvals WHERE tenant = ?1 AND (
                        (status NOT IN ('pending', 'escalated') AND json_extract(body, '$.closed_at_ms') < ?2)
                        OR (status IN ('pending', 'escalated') AND json_extract(body, '$.expires_at_ms') < ?2)) LIMIT ?3)",
                    params![t, before_ms, limit],
                )
                .map_err(|e| backend(&e))?;
                let ended: Vec<String> = {
                    let mut st = c
                        .prepare_cached(
                            "SELECT id FROM executions WHERE tenant = ?1 AND status IN ('succeeded', 'failed', 'cancelled')
                             AND json_extract(body, '$.updated_at_ms') < ?2 LIMIT ?3",
                        )
                        .map_err(|e| backend(&e))?;
                    let ids = st.query_map(params![t, before_ms, limit], |r| r.get(0)).map_err(|e| backend(&e))?;
                    ids.collect::<rusqlite::Result<_>>().map_err(|e| backend(&e))?
                };
                for id in &ended {
                    exec(c, "DELETE FROM execution_nodes WHERE tenant = ?1 AND execution = ?2", params![t, id])
                        .map_err(|e| backend(&e))?;
                    exec(c, "DELETE FROM executions WHERE tenant = ?1 AND id = ?2", params![t, id])
                        .map_err(|e| backend(&e))?;
                }
                Ok(((approvals + ended.len()) as u64, ended))
            })
            .await?;
        for id in ended {
            self.db.nodes.forget(&(tenant.as_str().to_owned(), id));
        }
        Ok(count)
    }
}
