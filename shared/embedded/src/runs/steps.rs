//! The step transitions of the embedded run store: begin (claim), commit, retry and
//! suspend, each one transaction with the queue messages it sends or acknowledges.

use super::{json_err, load_state, save_state, RunState};
use crate::db::{backend, exec, qrow, Tx};
use crate::queue::{ack, carry_received, enqueue, enqueue_received, ms_after, STEP_QUEUE};
use aos_core::credits::Transfer;
use aos_core::RunStatus;
use aos_runtime::ports::{
    BeginOutcome, BeginStep, Committed, Received, StepCommit, StepMessage, StepRetry, StepSuspend, StoreError,
};
use aos_runtime::worker::encode;
use rusqlite::{params, Connection, OptionalExtension};

/// Whether a run that is `status` with `next_step` may still have its step `index`
/// under a deferred claim: its first step while the run is queued, or the step it is at
/// while it runs (a step handed back without a claim: the run's next one, or the first
/// step of a workflow node's run that the node before handed back, started); or either
/// of them after the run was cancelled while the step ran, which keeps the step's
/// checkpoint.
fn may_defer(index: u32, status: RunStatus, next_step: u32) -> bool {
    match status {
        RunStatus::Cancelled => index == 0 || index == next_step,
        RunStatus::Queued => index == 0,
        RunStatus::Running => index == next_step,
        _ => false,
    }
}

/// Whether step `index` of `run` has no row because its claim was deferred to its
/// commit (see [`may_defer`]).
fn claim_deferred(c: &Connection, t: &str, r: &str, index: u32, run: &RunState) -> Result<bool, StoreError> {
    if !may_defer(index, run.status, run.next_step) {
        return Ok(false);
    }
    let row = qrow(
        c,
        "SELECT 1 FROM steps WHERE tenant = ?1 AND run_id = ?2 AND step_index = ?3",
        params![t, r, index],
        |_| Ok(()),
    )
    .optional()
    .map_err(|e| backend(&e))?;
    Ok(row.is_none())
}

/// The claim of a step begun without one (a deferred claim: a run's first step, or a
/// step handed back), taken now (with a first step's move of its run to running): as
/// `running` until `until_ms` (a heartbeat), or as `waiting` with its error (a retry).
/// False when the step has a claim already (another worker's: this one's was taken over)
/// or the run is past it (see [`may_defer`]; a step in flight at a cancel keeps its
/// claim, so that its outcome is recorded).
fn claim_late(
    c: &Tx<'_>,
    (t, r, index): (&str, &str, u32),
    claim: &str,
    until_ms: u64,
    now_ms: u64,
    error: Option<&str>,
) -> Result<bool, StoreError> {
    let exists = qrow(
        c,
        "SELECT 1 FROM steps WHERE tenant = ?1 AND run_id = ?2 AND step_index = ?3",
        params![t, r, index],
        |_| Ok(()),
    )
    .optional()
    .map_err(|e| backend(&e))?
    .is_some();
    let run = load_state(c, t, r)?.filter(|run| !exists && may_defer(index, run.status, run.next_step));
    let Some(mut run) = run else { return Ok(false) };
    let status = if error.is_some() { "waiting" } else { "running" };
    exec(
        c,
        "INSERT INTO steps (tenant, run_id, step_index, status, attempts, claim_until, claim_id, last_error)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
        params![t, r, index, status, until_ms, claim, error],
    )
    .map_err(|e| backend(&e))?;
    if run.status == RunStatus::Queued {
        run.status = RunStatus::Running;
        run.updated_at_ms = now_ms;
        save_state(c, t, r, &run, RunStatus::Queued)?;
    }
    Ok(true)
}

/// A heartbeat: the claim extended to `until_ms` while it is still this worker's.
pub(super) fn extend_tx(
    c: &Tx<'_>,
    t: &str,
    r: &str,
    index: u32,
    claim: &str,
    until_ms: u64,
) -> Result<bool, StoreError> {
    let extended = exec(
        c,
        "UPDATE steps SET claim_until = MAX(claim_until, ?4)
         WHERE tenant = ?1 AND run_id = ?2 AND step_index = ?3 AND status = 'running' AND claim_id = ?5",
        params![t, r, index, until_ms, claim],
    )
    .map_err(|e| backend(&e))?;
    if extended == 1 {
        return Ok(true);
    }
    claim_late(c, (t, r, index), claim, until_ms, aos_runtime::clock::now_ms(), None)
}

pub(super) fn begin_tx(c: &Tx<'_>, req: &BeginStep) -> Result<BeginOutcome, StoreError> {
    let (t, r) = (req.tenant.as_str(), req.run_id.as_str());
    let Some(mut run) = load_state(c, t, r)? else {
        return Ok(BeginOutcome::AlreadyDone);
    };
    // The lifecycle rule of core: a step begins only in a run that may be running.
    let live = RunStatus::sources_of(RunStatus::Running).contains(&run.status);
    if !live || run.next_step != req.step_index {
        c.runs.keep(t, r, run);
        return Ok(BeginOutcome::AlreadyDone);
    }
    let claim: Option<(String, u32, u64, bool)> = qrow(
        c,
        "SELECT status, attempts, claim_until, checkpoint IS NOT NULL FROM steps
         WHERE tenant = ?1 AND run_id = ?2 AND step_index = ?3",
        params![t, r, req.step_index],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
    )
    .optional()
    .map_err(|e| backend(&e))?;
    let outcome = match claim {
        Some((_, _, _, true)) => {
            c.runs.keep(t, r, run);
            return Ok(BeginOutcome::AlreadyDone);
        }
        Some((status, _, until, _)) if status == "running" && until > req.now_ms => {
            c.runs.keep(t, r, run);
            return Ok(BeginOutcome::Busy { until_ms: until });
        }
        Some((status, attempts, _, _)) => (attempts + 1, status == "running"),
        // A step handed back without a claim whose worker died: its attempt counts. That
        // is a run's next step (its message names the step before), or the first step
        // of a node's run handed back started (a running run's first step has a claim
        // written with the start otherwise).
        None if (req.resumed && req.step_index > 0) || (req.step_index == 0 && run.status == RunStatus::Running) => {
            (2, false)
        }
        None => (1, false),
    };
    let (attempt, taken_over) = outcome;
    exec(c,
        "INSERT INTO steps (tenant, run_id, step_index, status, attempts, claim_until, claim_id) VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)
         ON CONFLICT (tenant, run_id, step_index) DO UPDATE SET status = 'running', attempts = ?4, claim_until = ?5, claim_id = ?6",
        params![t, r, req.step_index, attempt, req.claim_until_ms, req.claim],
    )
    .map_err(|e| backend(&e))?;
    // The first claim of the first step reserves the step's credits in the same write.
    let reserved = match &req.reserve {
        Some(ahead) if attempt == 1 && run.status == RunStatus::Queued => {
            crate::credits::step_tx(c, t, None, Some(ahead), req.now_ms)?
        }
        _ => None,
    };
    if run.status == RunStatus::Queued {
        run.status = run.status.transition(RunStatus::Running).map_err(|e| StoreError::Conflict(e.to_string()))?;
        run.updated_at_ms = req.now_ms;
        run.ahead.clone_from(&reserved);
        save_state(c, t, r, &run, RunStatus::Queued)?;
    } else {
        // Unchanged: kept for the step's commit.
        c.runs.keep(t, r, run);
    }
    Ok(BeginOutcome::Claimed { attempt, taken_over, reserved })
}

fn committed(run: RunState, next: Option<Received>) -> Committed {
    Committed { status: run.m.status, next_step: run.m.next_step, last_hash: run.m.last_hash, next, ahead: None }
}

/// What the commit of a run that advanced left: with the reservation made for its next step.
fn advanced(run: RunState, next: Option<Received>) -> Committed {
    let ahead = run.m.ahead.clone();
    Committed { ahead, ..committed(run, next) }
}

/// The commit's ledger work: the step's reservation settled and, when the run `advances`
/// to a next step, that step's reservation made ahead. Answers the one made.
fn ledger_tx(c: &Connection, commit: &StepCommit, advances: bool) -> Result<Option<Transfer>, StoreError> {
    let Some(charge) = &commit.charge else { return Ok(None) };
    let settle = charge.settle.as_ref().map(|(pending, post)| (pending, *post));
    let ahead = charge.ahead.as_ref().filter(|_| advances && commit.next.is_some());
    if settle.is_none() && ahead.is_none() {
        return Ok(None);
    }
    crate::credits::step_tx(c, commit.tenant.as_str(), settle, ahead, commit.now_ms)
}

/// A step's commit; answers also whether the commit's execution write was applied with it.
pub(super) fn commit_tx(c: &Tx<'_>, commit: &StepCommit) -> Result<(Committed, bool), StoreError> {
    let (t, r) = (commit.tenant.as_str(), commit.run_id.as_str());
    let index = commit.checkpoint.step_index;
    let mut run = load_state(c, t, r)?.ok_or_else(|| StoreError::Conflict("run vanished".to_owned()))?;
    let was = run.status;
    // A commit that hands a step back to this worker (its run's next step, or the first
    // step of the first run its execution write starts) carries the message it holds on
    // to that step (`carry_received`: mostly without writing it, or its body alone); any
    // other acknowledges it here, and so does that one where it ends before the hand-off
    // (`ack_carried`).
    let hands_back = commit.next.is_some() || commit.execution.is_some();
    let carrying = commit.ack.as_deref().filter(|_| hands_back && commit.lease_next.is_some());
    if let (Some(receipt), None) = (&commit.ack, carrying) {
        ack(c, receipt).map_err(|e| backend(&e))?;
    }
    let ack_carried = |c: &Connection| carrying.map_or(Ok(()), |receipt| ack(c, receipt).map_err(|e| backend(&e)));
    // Fenced by the claim: a worker whose claim was taken over writes nothing. The
    // checkpoint goes into the step's row when that row names this claim and has no
    // checkpoint yet (the update is the fence). A step never claimed is one whose claim
    // was deferred (a run's first step on its first delivery while the run is queued,
    // or a step handed back safe to run twice; see `may_defer`): this commit takes it.
    // A handed-back one (`deferred`) mostly has no row yet, so the commit tries to
    // insert the row, done, first; a row there already is its own late claim (the
    // update then holds) or another worker's (nothing is written).
    let body = serde_json::to_string(&commit.checkpoint).map_err(|e| json_err(&e))?;
    // (A queued run's first step takes the path below, which starts the run.)
    let inserted = commit.deferred
        && run.status != RunStatus::Queued
        && may_defer(index, run.status, run.next_step)
        && exec(
            c,
            "INSERT INTO steps (tenant, run_id, step_index, status, attempts, claim_until, claim_id, checkpoint)
             VALUES (?1, ?2, ?3, 'done', 1, 0, ?5, ?4) ON CONFLICT DO NOTHING",
            params![t, r, index, body, commit.claim],
        )
        .map_err(|e| backend(&e))?
            == 1;
    let held = inserted
        || exec(
            c,
            "UPDATE steps SET status = 'done', claim_until = 0, checkpoint = ?4
             WHERE tenant = ?1 AND run_id = ?2 AND step_index = ?3 AND claim_id = ?5 AND checkpoint IS NULL",
            params![t, r, index, body, commit.claim],
        )
        .map_err(|e| backend(&e))?
            == 1;
    if !held {
        if !claim_deferred(c, t, r, index, &run)? {
            ack_carried(c)?;
            return Ok((committed(run, None), false));
        }
        exec(
            c,
            "INSERT INTO steps (tenant, run_id, step_index, status, attempts, claim_until, claim_id, checkpoint)
             VALUES (?1, ?2, ?3, 'done', 1, 0, ?5, ?4)",
            params![t, r, index, body, commit.claim],
        )
        .map_err(|e| backend(&e))?;
        if run.status == RunStatus::Queued {
            // The run starts with the commit of its first step.
            run.status = RunStatus::Running;
        }
    }
    // The gate's decision is on record with the checkpoint that carries it.
    crate::audit::append_tx(c, &commit.audit)?;
    // The step's charge: the run's spend, and its reservation settled in the same write.
    if let Some(charge) = &commit.charge {
        run.spent_mc = charge.run_spent_mc;
        if let Some(adjust) = &charge.spend {
            crate::tenants::adjust_spend_tx(c, t, adjust)?;
        }
        if let Some((execution, delta)) = &charge.envelope {
            let meter = aos_core::limits::WORKFLOW_METER;
            crate::tenants::add_to_meter_tx(c, t, meter, execution, *delta, None)?.ok();
        }
    }
    if commit.tokens > 0 {
        if let Some((meter, period)) = aos_core::limits::QuotaName::TokensPerMonth.meter(commit.now_ms) {
            let _total = crate::tenants::add_to_meter_tx(
                c,
                t,
                meter,
                &period,
                i64::try_from(commit.tokens).unwrap_or(i64::MAX),
                None,
            )?;
        }
    }
    run.usage.clone_from(&commit.usage);
    if !RunStatus::sources_of(commit.run_status).contains(&run.status) || run.next_step != index {
        // Cancelled meanwhile: keep the checkpoint, the charge and the usage (its usage
        // record follows it), do not advance (nor reserve for a next step).
        ack_carried(c)?;
        ledger_tx(c, commit, false)?;
        save_state(c, t, r, &run, was)?;
        return Ok((committed(run, None), false));
    }
    run.status = run.status.transition(commit.run_status).map_err(|e| StoreError::Conflict(e.to_string()))?;
    run.next_step = index + 1;
    run.last_hash.clone_from(&commit.checkpoint.hash);
    run.output.clone_from(&commit.run_output);
    run.error.clone_from(&commit.run_error);
    run.updated_at_ms = commit.now_ms;
    if commit.plan.is_some() {
        run.plan.clone_from(&commit.plan);
    }
    run.ahead = ledger_tx(c, commit, true)?;
    // A finished run's usage record is read from the run (`usage`): `usage_record` is
    // for stores that keep records apart.
    save_state(c, t, r, &run, was)?;
    // A workflow run's end advances its execution here, or its message does it later.
    // With `lease_next`, the first run the execution starts comes back to this worker.
    let execution = commit.execution.as_deref().filter(|_| run.status.is_terminal());
    if let Some(write) = execution {
        if crate::workflows::take_revision(c, write)? {
            let back = commit.lease_next.map(|lease| crate::workflows::HandBack {
                now_ms: commit.now_ms,
                lease,
                claim: (!commit.defer_next).then_some(commit.next_claim.as_str()),
                held: carrying,
            });
            let handed = crate::workflows::apply_tx(c, write, back)?;
            return Ok((advanced(run, handed), true));
        }
    }
    // Otherwise (the execution moved on meanwhile) its message takes the run's end to it.
    if let Some(body) = &commit.notify {
        enqueue(c, STEP_QUEUE, body, 0).map_err(|e| backend(&e))?;
    }
    let Some(next) = &commit.next else {
        ack_carried(c)?;
        return Ok((advanced(run, None), false));
    };
    let Some(lease) = commit.lease_next else {
        enqueue(c, STEP_QUEUE, &encode(next), 0).map_err(|e| backend(&e))?;
        return Ok((advanced(run, None), false));
    };
    let body = encode(next);
    let carried = match carrying {
        Some(held) => {
            carry_received(c, held, STEP_QUEUE, &body, commit.now_ms, lease, false).map_err(|e| backend(&e))?
        }
        None => None,
    };
    // The next step's claim lasts as long as the message's lease: if this worker dies,
    // the message's next delivery finds the claim run out and takes the step over. A
    // deferred one is not written: that delivery finds no claim.
    let (received, until) = match carried {
        Some(carried) => carried,
        None => {
            let until = ms_after(commit.now_ms, lease);
            (enqueue_received(c, STEP_QUEUE, &body, until).map_err(|e| backend(&e))?, until)
        }
    };
    if commit.defer_next {
        return Ok((advanced(run, Some(received)), false));
    }
    exec(
        c,
        "INSERT INTO steps (tenant, run_id, step_index, status, attempts, claim_until, claim_id) VALUES (?1, ?2, ?3, 'running', 1, ?4, ?5)
         ON CONFLICT (tenant, run_id, step_index) DO UPDATE SET status = 'running', attempts = attempts + 1, claim_until = ?4, claim_id = ?5",
        params![t, r, next.step_index, until, commit.next_claim],
    )
    .map_err(|e| backend(&e))?;
    Ok((advanced(run, Some(received)), false))
}

pub(super) fn retry_tx(c: &Tx<'_>, retry: &StepRetry) -> Result<(), StoreError> {
    let (t, r) = (retry.tenant.as_str(), retry.run_id.as_str());
    let err = serde_json::to_string(&retry.last_error).map_err(|e| json_err(&e))?;
    let released = exec(
        c,
        "UPDATE steps SET status = 'waiting', claim_until = 0, last_error = ?4
         WHERE tenant = ?1 AND run_id = ?2 AND step_index = ?3 AND claim_id = ?5 AND status = 'running'",
        params![t, r, retry.step_index, err, retry.claim],
    )
    .map_err(|e| backend(&e))?;
    if let Some(receipt) = &retry.ack {
        ack(c, receipt).map_err(|e| backend(&e))?;
    }
    if released == 0 && !claim_late(c, (t, r, retry.step_index), &retry.claim, 0, retry.now_ms, Some(&err))? {
        // Another claim holds the step: its holder decides what comes next.
        return Ok(());
    }
    let msg = StepMessage { tenant: retry.tenant.clone(), run_id: retry.run_id.clone(), step_index: retry.step_index };
    let at = ms_after(retry.now_ms, retry.delay);
    enqueue(c, STEP_QUEUE, &encode(&msg), at).map_err(|e| backend(&e))
}

pub(super) fn suspend_tx(c: &Connection, s: &StepSuspend) -> Result<(), StoreError> {
    let (t, r) = (s.tenant.as_str(), s.run_id.as_str());
    exec(
        c,
        "UPDATE steps SET status = 'waiting', claim_until = 0, attempts = MAX(attempts - 1, 0)
         WHERE tenant = ?1 AND run_id = ?2 AND step_index = ?3 AND status = 'running' AND claim_id = ?4",
        params![t, r, s.step_index, s.claim],
    )
    .map_err(|e| backend(&e))?;
    if let Some(receipt) = &s.ack {
        ack(c, receipt).map_err(|e| backend(&e))?;
    }
    if let Some(delay) = s.recheck {
        let msg = StepMessage { tenant: s.tenant.clone(), run_id: s.run_id.clone(), step_index: s.step_index };
        let at = ms_after(s.now_ms, delay);
        enqueue(c, STEP_QUEUE, &encode(&msg), at).map_err(|e| backend(&e))?;
    }
    Ok(())
}
