//! What a worker remembers of agent runs' checkpoints: a planner's prompt shows every step
//! so far, and a checkpoint never changes once written, so each decision reads only the
//! checkpoints committed since the run's last decision on this worker instead of all of
//! them again.

use crate::ports::{RunStore, StoreResult};
use aos_core::{Checkpoint, RunId, TenantId};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Runs whose checkpoints a worker keeps at most.
const RUNS: usize = 256;
/// About how many bytes of checkpoints it keeps at most (step outputs may be large).
const BYTES: usize = 64 * 1024 * 1024;

/// A run's checkpoints in step order, shared with whoever reads them.
type Checkpoints = Arc<Vec<Checkpoint>>;

/// Checkpoints of recent agent runs, by tenant and run, with their size in bytes (about).
#[derive(Default)]
pub struct History {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    runs: HashMap<(TenantId, RunId), (Checkpoints, usize)>,
    bytes: usize,
}

/// About how many bytes `v` takes as JSON.
fn weight(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(|x| weight(x) + 1).sum::<usize>(),
        Value::Object(o) => 2 + o.iter().map(|(k, x)| k.len() + 4 + weight(x)).sum::<usize>(),
        _ => 8,
    }
}

/// About how many bytes a checkpoint takes: its output and error, plus its fixed fields.
fn checkpoint_weight(c: &Checkpoint) -> usize {
    512 + c.outcome.output.as_ref().map_or(0, weight) + c.outcome.error.as_ref().map_or(0, |e| e.message.len())
}

impl History {
    /// The run's checkpoints in step order: those known already, then those written since
    /// (read from the store).
    pub async fn read(&self, store: &dyn RunStore, tenant: &TenantId, run: &RunId) -> StoreResult<Checkpoints> {
        let key = (tenant.clone(), run.clone());
        // Taken out while it grows: once its reader is done with it, the map holds the only
        // reference, and the next decision appends to it without a copy.
        let (mut known, mut bytes) = {
            let mut kept = self.kept.lock().expect("history lock");
            let taken = kept.runs.remove(&key).unwrap_or_default();
            kept.bytes -= taken.1;
            taken
        };
        let from = known.last().map_or(0, |c| c.step_index + 1);
        let newer = store.checkpoints_from(tenant, run, from).await?;
        if !newer.is_empty() {
            bytes += newer.iter().map(checkpoint_weight).sum::<usize>();
            Arc::make_mut(&mut known).extend(newer);
        }
        if bytes <= BYTES {
            let mut kept = self.kept.lock().expect("history lock");
            if kept.runs.len() >= RUNS || kept.bytes + bytes > BYTES {
                kept.runs.clear();
                kept.bytes = 0;
            }
            kept.bytes += bytes;
            kept.runs.insert(key, (Arc::clone(&known), bytes));
        }
        Ok(known)
    }
}

#[cfg(test)]
mod tests {
    use super::weight;
    use serde_json::json;

    #[test]
    fn a_value_weighs_about_its_json_length() {
        for v in [
            json!("x".repeat(10_000)),
            json!({"rows": (0..500).map(|i| json!({"id": i, "name": format!("row {i}")})).collect::<Vec<_>>()}),
            json!([1, 2.5, null, true, "a", {"b": []}]),
        ] {
            let json = v.to_string().len();
            let w = weight(&v);
            assert!(w >= json / 2 && w <= json * 3, "weight {w} against {json} bytes of JSON");
        }
    }
}
