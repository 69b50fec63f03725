//! A run's state (the half a step's commit rewrites) and what the writer keeps of it
//! between commits: loaded and saved only here.

use super::json_err;
use crate::db::{backend, exec, qrow, Tx};
use aos_core::{Plan, RunStatus};
use aos_runtime::ports::{RunMutable, StoreError};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

/// The mutable half of a run, rewritten by every step transition (kept small so a
/// step's commit does not re-serialize the plan — except an agent's, whose plan grows).
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct RunState {
    #[serde(flatten)]
    pub(super) m: RunMutable,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) plan: Option<Plan>,
}

impl RunState {
    /// When the run ended, once it finished (the `ended_at` column, for the reaper).
    pub(super) fn ended_at(&self) -> Option<u64> {
        self.status.is_terminal().then_some(self.updated_at_ms)
    }
}

impl std::ops::Deref for RunState {
    type Target = RunMutable;
    fn deref(&self) -> &RunMutable {
        &self.m
    }
}

impl std::ops::DerefMut for RunState {
    fn deref_mut(&mut self) -> &mut RunMutable {
        &mut self.m
    }
}

/// Most run states [`StateCache`] keeps; past it, it starts again empty.
const STATES_KEPT: usize = 4096;

/// The states of live runs as the writer last wrote them, so that a step's commit does
/// not read and parse again the state the run's previous commit wrote. Only the writer
/// touches it, inside its transactions: a load takes a run's entry out, and a save puts
/// the state it wrote back. What a job saved is forgotten if the job or its batch rolls
/// back, so an entry is always what the database holds. Finished runs are not kept.
#[derive(Default)]
pub(crate) struct StateCache(Mutex<Kept>);

#[derive(Default)]
struct Kept {
    states: HashMap<(String, String), RunState>,
    /// Runs saved by the current job, then by the current batch's jobs that ended well.
    job: Vec<(String, String)>,
    batch: Vec<(String, String)>,
}

impl StateCache {
    pub(super) fn take(&self, tenant: &str, id: &str) -> Option<RunState> {
        let mut kept = self.0.lock().ok()?;
        kept.states.remove(&(tenant.to_owned(), id.to_owned()))
    }

    /// Keeps `state` as what the database holds of the run in the open transaction (it
    /// was just saved, or loaded and left unchanged).
    pub(super) fn keep(&self, tenant: &str, id: &str, state: RunState) {
        let Ok(mut kept) = self.0.lock() else { return };
        let key = (tenant.to_owned(), id.to_owned());
        if state.status.is_terminal() {
            kept.states.remove(&key);
            return;
        }
        if kept.states.len() >= STATES_KEPT {
            kept.states.clear();
        }
        kept.states.insert(key.clone(), state);
        kept.job.push(key);
    }

    /// Forgets a run (its row was deleted).
    pub(crate) fn forget(&self, tenant: &str, id: &str) {
        drop(self.take(tenant, id));
    }

    /// A batch begins: what an unfinished one saved (a job that panicked) is forgotten.
    pub(crate) fn batch_began(&self) {
        self.batch_ended(false);
    }

    /// A job ended: what it saved stays only if it succeeded (else it rolled back).
    pub(crate) fn job_ended(&self, ok: bool) {
        let Ok(mut kept) = self.0.lock() else { return };
        let kept = &mut *kept;
        if ok {
            kept.batch.append(&mut kept.job);
        } else {
            for key in kept.job.drain(..) {
                kept.states.remove(&key);
            }
        }
    }

    /// A group of jobs begins in a savepoint of its own: the mark to roll back to.
    pub(crate) fn group_began(&self) -> usize {
        self.0.lock().map_or(0, |kept| kept.batch.len())
    }

    /// The group begun at `mark` rolled back: what its jobs saved is forgotten.
    pub(crate) fn group_rolled_back(&self, mark: usize) {
        let Ok(mut kept) = self.0.lock() else { return };
        let kept = &mut *kept;
        let keys: Vec<_> = kept.batch.drain(mark.min(kept.batch.len())..).chain(kept.job.drain(..)).collect();
        for key in keys {
            kept.states.remove(&key);
        }
    }

    /// A batch ended: what its jobs saved stays only if it committed.
    pub(crate) fn batch_ended(&self, committed: bool) {
        let Ok(mut kept) = self.0.lock() else { return };
        let kept = &mut *kept;
        kept.job.clear();
        if committed {
            kept.batch.clear();
        } else {
            for key in kept.batch.drain(..) {
                kept.states.remove(&key);
            }
        }
    }
}

/// A run's state, as the writer last saved it or else as stored.
pub(super) fn load_state(c: &Tx<'_>, tenant: &str, id: &str) -> Result<Option<RunState>, StoreError> {
    if let Some(state) = c.runs.take(tenant, id) {
        return Ok(Some(state));
    }
    let state: Option<String> =
        qrow(c, "SELECT state FROM runs WHERE tenant = ?1 AND id = ?2", params![tenant, id], |r| r.get(0))
            .optional()
            .map_err(|e| backend(&e))?;
    state.map(|s| serde_json::from_str(&s).map_err(|e| json_err(&e))).transpose()
}

/// Writes the state of a run whose status was `was` when it was loaded in this
/// transaction (a new run's is written by [`super::insert_run_tx`]); a run that finishes
/// here gets its end (`ended_at`, for the reaper's index) with its status. Its status
/// column (and so the index of live runs, `runs_live`) is written only when the status
/// changed: a step that leaves a run running rewrites one page of `runs`, not also one of
/// the index.
pub(super) fn save_state(
    c: &Tx<'_>,
    tenant: &str,
    id: &str,
    state: &RunState,
    was: RunStatus,
) -> Result<(), StoreError> {
    let body = serde_json::to_string(state).map_err(|e| json_err(&e))?;
    let written = if was == state.status {
        exec(c, "UPDATE runs SET state = ?3 WHERE tenant = ?1 AND id = ?2", params![tenant, id, body])
    } else {
        exec(
            c,
            "UPDATE runs SET status = ?3, state = ?4, ended_at = ?5 WHERE tenant = ?1 AND id = ?2",
            params![tenant, id, state.status.as_str(), body, state.ended_at()],
        )
    }
    .map_err(|e| backend(&e))?;
    if written != 1 {
        return Err(StoreError::Conflict(format!("run {id} vanished")));
    }
    c.runs.keep(tenant, id, state.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, Durability};
    use crate::runs::insert_run_tx;
    use aos_core::{RunId, TenantId};
    use aos_runtime::ports::RunRecord;

    fn one_step_run() -> RunRecord {
        let step = serde_json::from_value(serde_json::json!({"skill": "noop", "id": "s0"})).expect("step");
        let plan = Plan::new(vec![step]).expect("plan");
        let (tenant, id) = (TenantId::parse("ten_a").expect("tenant"), RunId::parse("run_1").expect("run"));
        RunRecord::queued(tenant, id, plan, serde_json::json!({}), 7, None, 1)
    }

    /// The writer keeps the states it saved, and a load in a later write takes the kept
    /// one; what a write that rolled back saved is not kept, so the next load reads
    /// what the database holds.
    #[tokio::test]
    async fn a_state_saved_by_a_write_that_rolled_back_is_not_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Durability::Full).expect("open");
        let run = one_step_run();
        db.write(true, move |c| insert_run_tx(c, &run)).await.expect("insert");
        // Saved and committed: the next load takes it from the writer's memory.
        db.write(true, |c| {
            let mut state = load_state(c, "ten_a", "run_1")?.expect("run");
            state.next_step = 1;
            save_state(c, "ten_a", "run_1", &state, state.status)
        })
        .await
        .expect("save");
        let kept = db.write(true, |c| Ok(c.runs.take("ten_a", "run_1").map(|s| s.next_step))).await.expect("take");
        assert_eq!(kept, Some(1), "a committed save is kept");
        // (That take left nothing kept: the next load reads the row.)
        // Saved, then the write fails: its transaction and its kept state are both undone.
        let failed = db
            .write(true, |c| {
                let mut state = load_state(c, "ten_a", "run_1")?.expect("run");
                state.next_step = 9;
                save_state(c, "ten_a", "run_1", &state, state.status)?;
                Err::<(), _>(StoreError::Conflict("later in the same write".to_owned()))
            })
            .await;
        assert!(failed.is_err());
        let next = db.write(true, |c| Ok(load_state(c, "ten_a", "run_1")?.map(|s| s.next_step))).await.expect("load");
        assert_eq!(next, Some(1), "the rolled-back save is neither stored nor kept");
        let stored: u32 = db
            .read(|c| qrow(c, "SELECT json_extract(state, '$.next_step') FROM runs", [], |r| r.get(0)))
            .expect("stored");
        assert_eq!(stored, 1);
    }

    /// What a batch's jobs saved is kept once the batch commits, and forgotten when a
    /// job or the batch rolls back.
    #[test]
    fn the_kept_states_follow_jobs_and_batches() {
        let cache = StateCache::default();
        let mut state = RunState {
            m: RunMutable {
                status: RunStatus::Running,
                next_step: 3,
                last_hash: "h".into(),
                output: None,
                error: None,
                updated_at_ms: 1,
                spent_mc: 0,
                usage: aos_core::usage::RunUsage::default(),
                ahead: None,
            },
            plan: None,
        };
        cache.batch_began();
        cache.keep("t", "a", state.clone());
        cache.job_ended(true);
        cache.keep("t", "b", state.clone());
        cache.job_ended(false);
        cache.batch_ended(true);
        assert!(cache.take("t", "a").is_some(), "a job that ended well, in a batch that committed");
        assert!(cache.take("t", "b").is_none(), "a job that rolled back");
        cache.batch_began();
        cache.keep("t", "c", state.clone());
        cache.job_ended(true);
        cache.batch_ended(false);
        assert!(cache.take("t", "c").is_none(), "a batch whose commit failed");
        // A batch left unfinished (a job panicked) is forgotten when the next begins.
        cache.keep("t", "d", state.clone());
        cache.job_ended(true);
        cache.batch_began();
        assert!(cache.take("t", "d").is_none(), "an unfinished batch");
        // A finished run is not kept (nor what was kept of it before).
        cache.keep("t", "e", state.clone());
        state.status = RunStatus::Succeeded;
        cache.keep("t", "e", state.clone());
        cache.job_ended(true);
        cache.batch_ended(true);
        assert!(cache.take("t", "e").is_none(), "a finished run");
        // A group of jobs that rolled back to its savepoint: what its jobs saved is
        // forgotten, what the batch's jobs before it saved stays.
        state.status = RunStatus::Running;
        cache.batch_began();
        cache.keep("t", "f", state.clone());
        cache.job_ended(true);
        let mark = cache.group_began();
        cache.keep("t", "g", state.clone());
        cache.job_ended(true);
        cache.keep("t", "h", state.clone());
        cache.group_rolled_back(mark);
        cache.batch_ended(true);
        assert!(cache.take("t", "f").is_some(), "a job before the group");
        assert!(cache.take("t", "g").is_none(), "a job of the group that ended well");
        assert!(cache.take("t", "h").is_none(), "the group's job that was running");
    }
}
