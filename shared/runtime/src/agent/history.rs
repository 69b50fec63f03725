//! What a worker remembers of agent runs' checkpoints: a planner's prompt shows every step
//! so far, and a checkpoint never changes once written, so each decision reads only the
//! checkpoints committed since the run's last decision on this worker instead of all of
//! them again.

use crate::ports::{RunStore, StoreResult};
use aos_core::{Checkpoint, RunId, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Runs whose checkpoints a worker keeps; past it, it forgets them all and reads afresh.
const RUNS: usize = 256;

/// A run's checkpoints in step order, shared with whoever reads them.
type Checkpoints = Arc<Vec<Checkpoint>>;

/// Checkpoints of recent agent runs, by tenant and run.
#[derive(Default)]
pub struct History {
    runs: Mutex<HashMap<(TenantId, RunId), Checkpoints>>,
}

impl History {
    /// The run's checkpoints in step order: those known already, then those written since
    /// (read from the store).
    pub async fn read(&self, store: &dyn RunStore, tenant: &TenantId, run: &RunId) -> StoreResult<Checkpoints> {
        let key = (tenant.clone(), run.clone());
        // Taken out while it grows: once its reader is done with it, the map holds the only
        // reference, and the next decision appends to it without a copy.
        let mut known = self.runs.lock().expect("history lock").remove(&key).unwrap_or_default();
        let from = known.last().map_or(0, |c| c.step_index + 1);
        let newer = store.checkpoints_from(tenant, run, from).await?;
        if !newer.is_empty() {
            Arc::make_mut(&mut known).extend(newer);
        }
        let mut runs = self.runs.lock().expect("history lock");
        if runs.len() >= RUNS {
            runs.clear();
        }
        runs.insert(key, Arc::clone(&known));
        Ok(known)
    }
}
