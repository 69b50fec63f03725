//! The embedded run store: runs, checkpoints and step claims, with every step
//! transition in one transaction together with its queue messages.

mod state;
mod steps;

use crate::db::{backend, exec, qrow, Db, Tx};
use crate::queue::{enqueue, enqueue_received, ms_after, STEP_QUEUE};
use aos_core::{Checkpoint, ErrorCode, OutcomeError, RunId, RunStatus, StructuredOutcome, TenantId};
use aos_runtime::clock::now_ms;
use aos_runtime::ports::{
    BeginOutcome, BeginStep, Committed, IdempotencyCompletion, RunFilter, RunMutable, RunRecord, RunSpec, RunStore,
    StepCommit, StepMessage, StepProgress, StepRetry, StepSuspend, StoreError, StoreResult,
};
use aos_runtime::worker::encode;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
pub(crate) use state::StateCache;
use state::{load_state, save_state, RunState};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use steps::{begin_tx, commit_tx, extend_tx, retry_tx, suspend_tx};

/// Runs and checkpoints in the embedded database.
pub struct EmbeddedRunStore {
    db: Arc<Db>,
    /// Steps running under a deferred claim (nothing written yet: a run's first step, or
    /// a step handed back), with the time their claim would expire, by tenant and run:
    /// the run's progress shows them running. Forgotten at the step's first write.
    deferred: Mutex<HashMap<(String, String), (u32, u64)>>,
}

/// Most deferred claims kept for progress; past it, the map starts again empty.
const DEFERRED_KEPT: usize = 65_536;

fn json_err(e: &serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt record: {e}"))
}

pub(crate) fn compose(tenant: &str, id: &str, spec: &str, state: &str) -> Result<RunRecord, StoreError> {
    let spec: RunSpec = serde_json::from_str(spec).map_err(|e| json_err(&e))?;
    let state: RunState = serde_json::from_str(state).map_err(|e| json_err(&e))?;
    let bad = |e: aos_core::IdError| StoreError::Backend(format!("corrupt id: {e}"));
    Ok(RunRecord::compose(
        TenantId::parse(tenant).map_err(bad)?,
        RunId::parse(id).map_err(bad)?,
        spec,
        state.plan,
        state.m,
    ))
}

fn load_run(c: &Connection, tenant: &str, id: &str) -> Result<Option<RunRecord>, StoreError> {
    let row: Option<(String, String)> = qrow(
        c,
        "SELECT s.spec, r.state FROM runs r JOIN run_specs s ON s.seq = r.spec_seq
         WHERE r.tenant = ?1 AND r.id = ?2",
        params![tenant, id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(|e| backend(&e))?;
    row.map(|(spec, state)| compose(tenant, id, &spec, &state)).transpose()
}

pub(crate) fn insert_run_tx(c: &Tx<'_>, run: &RunRecord) -> Result<(), StoreError> {
    let (t, r) = (run.tenant.as_str(), run.id.as_str());
    let spec = serde_json::to_string(&run.spec()).map_err(|e| json_err(&e))?;
    exec(c, "INSERT INTO run_specs (spec) VALUES (?1)", params![spec]).map_err(|e| backend(&e))?;
    let seq = c.last_insert_rowid();
    let state = RunState {
        m: RunMutable {
            status: run.status,
            next_step: run.next_step,
            last_hash: run.last_hash.clone(),
            output: run.output.clone(),
            error: run.error.clone(),
            updated_at_ms: run.updated_at_ms,
            spent_mc: run.spent_mc,
            usage: run.usage.clone(),
            ahead: run.ahead.clone(),
        },
        plan: None,
    };
    let body = serde_json::to_string(&state).map_err(|e| json_err(&e))?;
    // (A run that exists fails the write, which takes its spec's insert back with it.)
    let inserted = exec(
        c,
        "INSERT INTO runs (tenant, id, status, state, spec_seq, ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT DO NOTHING",
        params![t, r, state.status.as_str(), body, seq, state.ended_at()],
    )
    .map_err(|e| backend(&e))?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!("run {} exists", run.id)));
    }
    c.runs.keep(t, r, state);
    Ok(())
}

pub(crate) fn cancel_tx(c: &Tx<'_>, tenant: &str, id: &str, now: u64) -> Result<(), StoreError> {
    let mut run = load_state(c, tenant, id)?.ok_or_else(|| StoreError::Conflict("run not found".to_owned()))?;
    let was = run.status;
    run.status = run.status.transition(RunStatus::Cancelled).map_err(|e| StoreError::Conflict(e.to_string()))?;
    run.error = StructuredOutcome::failure(ErrorCode::RunCancelled, "cancelled on request").error;
    run.updated_at_ms = now;
    // The run's usage so far is its record (`usage`): a step that commits after the
    // cancel adds to it.
    save_state(c, tenant, id, &run, was)
}

impl EmbeddedRunStore {
    /// A run store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db, deferred: Mutex::default() }
    }

    /// Keeps (`until`: `Some` step and time) or forgets a deferred claim of `run`.
    fn defer(&self, tenant: &TenantId, run: &RunId, until: Option<(u32, u64)>) {
        let Ok(mut d) = self.deferred.lock() else { return };
        let key = (tenant.to_string(), run.to_string());
        match until {
            Some(until) => {
                if d.len() >= DEFERRED_KEPT {
                    d.clear();
                }
                d.insert(key, until);
            }
            None => {
                d.remove(&key);
            }
        }
    }

    /// Expires every live step claim. `aos dev` calls this at start-up: it holds the
    /// data directory's lock, so live claims belong to a process that died.
    pub async fn expire_orphaned_claims(&self) -> StoreResult<u64> {
        self.db
            .write(true, |c| {
                exec(c, "UPDATE steps SET claim_until = 0 WHERE status = 'running'", [])
                    .map(|n| n as u64)
                    .map_err(|e| backend(&e))
            })
            .await
    }
}

#[async_trait]
impl RunStore for EmbeddedRunStore {
    async fn insert_run(
        &self,
        run: &RunRecord,
        first: &StepMessage,
        idem: Option<&IdempotencyCompletion>,
    ) -> StoreResult<()> {
        let (written, body, idem) = (run.clone(), encode(first), idem.cloned());
        // A worker waiting on the empty queue gets the first step straight away.
        let taker = self.db.idle.take(STEP_QUEUE);
        let hidden = taker.as_ref().map(|t| ms_after(now_ms(), t.visibility));
        let handed = self
            .db
            .write(true, move |c| {
                insert_run_tx(c, &written)?;
                let handed = match hidden {
                    Some(until) => Some(enqueue_received(c, STEP_QUEUE, &body, until).map_err(|e| backend(&e))?),
                    None => enqueue(c, STEP_QUEUE, &body, 0).map(|()| None).map_err(|e| backend(&e))?,
                };
                if let Some(done) = idem {
                    crate::idempotency::complete_tx(c, written.tenant.as_str(), &done)?;
                }
                Ok(handed)
            })
            .await?;
        // (A failed write dropped the taker: its worker polls again.)
        match (taker, handed) {
            (Some(taker), Some(mut received)) => {
                received.run = Some(Arc::new(run.clone()));
                if let Err(back) = taker.send(received) {
                    // The worker stopped waiting meanwhile: any worker may take it now.
                    crate::queue::release(&self.db, &back.receipt).await?;
                }
            }
            _ => self.db.enqueued.notify_one(),
        }
        Ok(())
    }

    async fn run(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Option<RunRecord>> {
        self.db.read(|c| Ok(load_run(c, tenant.as_str(), id.as_str())))?
    }

    async fn run_status(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Option<RunStatus>> {
        let status: Option<String> = self.db.read(|c| {
            qrow(
                c,
                "SELECT status FROM runs WHERE tenant = ?1 AND id = ?2",
                params![tenant.as_str(), id.as_str()],
                |r| r.get(0),
            )
            .optional()
        })?;
        status
            .map(|s| {
                RunStatus::parse(&s).ok_or_else(|| StoreError::Backend(format!("run {id} has an unknown status {s:?}")))
            })
            .transpose()
    }

    async fn live_runs(&self, tenant: &TenantId, at_most: u32) -> StoreResult<u32> {
        self.db.read(|c| {
            qrow(
                c,
                "SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE tenant = ?1 AND ended_at IS NULL LIMIT ?2)",
                params![tenant.as_str(), at_most],
                |r| r.get(0),
            )
        })
    }

    async fn list_runs(&self, tenant: &TenantId, f: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        let before = f.before.as_ref().map_or("~", RunId::as_str).to_owned();
        let status = f.status.map(RunStatus::as_str);
        let rows: Vec<(String, String, String)> = self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT r.id, s.spec, r.state FROM runs r JOIN run_specs s ON s.seq = r.spec_seq
                 WHERE r.tenant = ?1 AND r.id < ?2 AND (?3 IS NULL OR r.status = ?3) ORDER BY r.id DESC LIMIT ?4",
            )?;
            let rows = st.query_map(params![tenant.as_str(), before, status, f.limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            rows.collect()
        })?;
        rows.iter().map(|(id, spec, state)| compose(tenant.as_str(), id, spec, state)).collect()
    }

    async fn checkpoints_from(&self, tenant: &TenantId, id: &RunId, from: u32) -> StoreResult<Vec<Checkpoint>> {
        let bodies: Vec<String> = self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT checkpoint FROM steps WHERE tenant = ?1 AND run_id = ?2 AND step_index >= ?3 \
                 AND checkpoint IS NOT NULL ORDER BY step_index",
            )?;
            let rows = st.query_map(params![tenant.as_str(), id.as_str(), from], |r| r.get(0))?;
            rows.collect()
        })?;
        bodies.iter().map(|b| serde_json::from_str(b).map_err(|e| json_err(&e))).collect()
    }

    async fn step_progress(&self, tenant: &TenantId, id: &RunId) -> StoreResult<Vec<StepProgress>> {
        let rows: Vec<(u32, u32, u64, Option<String>)> = self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT step_index, attempts, claim_until, last_error FROM steps
                 WHERE tenant = ?1 AND run_id = ?2 AND status != 'done' ORDER BY step_index",
            )?;
            let rows = st.query_map(params![tenant.as_str(), id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            rows.collect()
        })?;
        let mut progress = rows
            .into_iter()
            .map(|(step_index, attempts, claim_until_ms, err)| {
                let last_error =
                    err.map(|e| serde_json::from_str::<OutcomeError>(&e)).transpose().map_err(|e| json_err(&e))?;
                Ok(StepProgress { step_index, attempts, last_error, claim_until_ms })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let deferred = self.deferred.lock().ok().and_then(|d| d.get(&(tenant.to_string(), id.to_string())).copied());
        if let Some((step_index, claim_until_ms)) = deferred {
            let at = progress.partition_point(|p| p.step_index < step_index);
            if progress.get(at).is_none_or(|p| p.step_index != step_index) {
                progress.insert(at, StepProgress { step_index, attempts: 1, last_error: None, claim_until_ms });
            }
        }
        Ok(progress)
    }

    async fn step_outputs(&self, tenant: &TenantId, id: &RunId, steps: &[u32]) -> StoreResult<BTreeMap<String, Value>> {
        let bodies: Vec<String> = self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT checkpoint FROM steps WHERE tenant = ?1 AND run_id = ?2 AND step_index = ?3 \
                 AND checkpoint IS NOT NULL",
            )?;
            let mut out = Vec::with_capacity(steps.len());
            for index in steps {
                if let Some(body) =
                    st.query_row(params![tenant.as_str(), id.as_str(), index], |r| r.get(0)).optional()?
                {
                    out.push(body);
                }
            }
            Ok(out)
        })?;
        let mut outputs = BTreeMap::new();
        for body in bodies {
            let cp: Checkpoint = serde_json::from_str(&body).map_err(|e| json_err(&e))?;
            if let Some(output) = cp.outcome.output.filter(|_| cp.outcome.ok) {
                outputs.insert(cp.step_id, output);
            }
        }
        Ok(outputs)
    }

    async fn begin_step(&self, req: &BeginStep) -> StoreResult<BeginOutcome> {
        if req.deferrable && req.step_index == 0 && req.reserve.is_none() {
            // Nothing written: the step's commit takes the claim (or its first heartbeat
            // or retry, if one comes first), and a step claimed by anyone meanwhile
            // refuses that commit. A run's first step then costs its commit alone.
            self.defer(&req.tenant, &req.run_id, Some((0, req.claim_until_ms)));
            return Ok(BeginOutcome::Claimed { attempt: 1, taken_over: false, reserved: None });
        }
        let req = req.clone();
        self.db.write(req.durable, move |c| begin_tx(c, &req)).await
    }

    async fn extend_claim(
        &self,
        tenant: &TenantId,
        run_id: &RunId,
        step_index: u32,
        claim: &str,
        until_ms: u64,
    ) -> StoreResult<bool> {
        let (t, r, claim) = (tenant.to_string(), run_id.to_string(), claim.to_owned());
        let extended = self.db.write(false, move |c| extend_tx(c, &t, &r, step_index, &claim, until_ms)).await;
        self.defer(tenant, run_id, None);
        extended
    }

    async fn commit_step(&self, commit: &StepCommit) -> StoreResult<Committed> {
        let (tenant, run_id, index) = (&commit.tenant, &commit.run_id, commit.checkpoint.step_index);
        let commit = commit.clone();
        let execution = commit.execution.clone();
        let queued = (commit.next.is_some() && commit.lease_next.is_none()) || commit.notify.is_some();
        // An execution's write may start many runs (a fan-out): wake every idle worker.
        let fan_out = commit.execution.as_ref().is_some_and(|w| w.runs.len() + w.messages.len() > 1);
        let defer_next = commit.defer_next && commit.lease_next.is_some();
        let lease = commit.lease_next.unwrap_or_default();
        let now_ms = commit.now_ms;
        // The execution's next change is built on this write once it is queued (see
        // `NodeCache`): the ends of a fan-out's runs share commits instead of each one
        // waiting for the one before to be durable.
        if let Some(w) = &execution {
            self.db.nodes.queued(w);
        }
        let release = || {
            if let Some(w) = &execution {
                w.turn.release();
            }
        };
        // Its only effects are on the database and the writer's run states: it can run
        // again in its transaction, so steps committed together share one savepoint.
        let written = self.db.write_again(true, move |c| commit_tx(c, &commit), release).await;
        self.defer(tenant, run_id, None);
        let advanced_execution = matches!(written, Ok((_, true)));
        if let Some(w) = &execution {
            self.db.nodes.settled(w, advanced_execution);
        }
        let (done, _) = written?;
        if let (true, Some(_)) = (defer_next, &done.next) {
            // Shown running until about when its message's lease ends (the claim's end).
            let until = ms_after(now_ms, lease);
            self.defer(tenant, run_id, Some((index + 1, until)));
        }
        if fan_out {
            self.db.enqueued.notify_waiters();
        }
        if queued || fan_out {
            self.db.enqueued.notify_one();
        }
        Ok(done)
    }

    async fn retry_step(&self, retry: &StepRetry) -> StoreResult<()> {
        self.defer(&retry.tenant, &retry.run_id, None);
        let retry = retry.clone();
        self.db.write(true, move |c| retry_tx(c, &retry)).await?;
        self.db.enqueued.notify_one();
        Ok(())
    }

    async fn suspend_step(&self, suspend: &StepSuspend) -> StoreResult<()> {
        self.defer(&suspend.tenant, &suspend.run_id, None);
        let suspend = suspend.clone();
        self.db.write(true, move |c| suspend_tx(c, &suspend)).await
    }

    async fn queued_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<RunRecord>> {
        let rows: Vec<(String, String, String)> = self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT r.id, s.spec, r.state FROM runs r JOIN run_specs s ON s.seq = r.spec_seq
                 WHERE r.tenant = ?1 AND r.status = 'queued' AND r.ended_at IS NULL
                 AND json_extract(s.spec, '$.created_at_ms') < ?2
                 ORDER BY r.id LIMIT ?3",
            )?;
            let rows =
                st.query_map(params![tenant.as_str(), before_ms, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })?;
        rows.iter().map(|(id, spec, state)| compose(tenant.as_str(), id, spec, state)).collect()
    }

    async fn cancelled_between(
        &self,
        tenant: &TenantId,
        from_ms: u64,
        to_ms: u64,
        limit: u32,
    ) -> StoreResult<Vec<RunRecord>> {
        let rows: Vec<(String, String, String)> = self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT r.id, s.spec, r.state FROM runs r JOIN run_specs s ON s.seq = r.spec_seq
                 WHERE r.tenant = ?1 AND r.status = 'cancelled' AND r.ended_at >= ?2 AND r.ended_at < ?3
                 ORDER BY r.id LIMIT ?4",
            )?;
            let rows = st.query_map(params![tenant.as_str(), from_ms, to_ms, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            rows.collect()
        })?;
        rows.iter().map(|(id, spec, state)| compose(tenant.as_str(), id, spec, state)).collect()
    }

    async fn cancel_run(
        &self,
        tenant: &TenantId,
        id: &RunId,
        now_ms: u64,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<RunRecord> {
        let (t, r) = (tenant.to_string(), id.to_string());
        let audit = audit.to_vec();
        let cancelled = self
            .db
            .write(true, move |c| {
                cancel_tx(c, &t, &r, now_ms)?;
                crate::audit::append_tx(c, &audit)?;
                let run = load_run(c, &t, &r)?.ok_or_else(|| StoreError::Conflict("run vanished".to_owned()))?;
                // Whoever waits for the run (its caller's step, its workflow execution)
                // hears of its end in the same transaction.
                if let Some(body) = aos_runtime::worker::notify_parent(&run) {
                    enqueue(c, STEP_QUEUE, &body, 0).map_err(|e| backend(&e))?;
                }
                Ok(run)
            })
            .await?;
        self.db.enqueued.notify_one();
        Ok(cancelled)
    }

    async fn ended_before(&self, tenant: &TenantId, before_ms: u64, limit: u32) -> StoreResult<Vec<RunId>> {
        let ids: Vec<String> = self.db.read(|c| {
            let mut st =
                c.prepare_cached("SELECT id FROM runs WHERE tenant = ?1 AND ended_at < ?2 ORDER BY ended_at LIMIT ?3")?;
            let rows = st.query_map(params![tenant.as_str(), before_ms, limit], |r| r.get(0))?;
            rows.collect()
        })?;
        ids.into_iter().map(|id| RunId::parse(id).map_err(|e| StoreError::Backend(e.to_string()))).collect()
    }

    async fn delete_run(&self, tenant: &TenantId, id: &RunId) -> StoreResult<bool> {
        let (t, r) = (tenant.to_string(), id.to_string());
        self.db
            .write(true, move |c| {
                let Some(run) = load_run(c, &t, &r)? else { return Ok(false) };
                if !run.status.is_terminal() {
                    let status = run.status;
                    return Err(StoreError::Conflict(format!("run {r} is {status}; only finished runs are deleted")));
                }
                // Its usage record outlives it.
                crate::usage::keep_tx(c, &run)?;
                for sql in [
                    "DELETE FROM steps WHERE tenant = ?1 AND run_id = ?2",
                    "DELETE FROM run_specs WHERE seq = (SELECT spec_seq FROM runs WHERE tenant = ?1 AND id = ?2)",
                    "DELETE FROM runs WHERE tenant = ?1 AND id = ?2",
                ] {
                    exec(c, sql, params![t, r]).map_err(|e| backend(&e))?;
                }
                c.runs.forget(&t, &r);
                Ok(true)
            })
            .await
    }
}

#[cfg(test)]
mod tests;
