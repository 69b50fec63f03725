//! What the embedded store keeps of executions' node states in memory between reads
//! and changes (see `workflows.rs`).

use aos_core::workflow::NodeState;
use aos_runtime::ports::ExecutionWrite;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// An execution's node states by id.
pub(crate) type Nodes = BTreeMap<String, NodeState>;

/// Executions whose nodes are kept between reads.
const CACHED_EXECUTIONS: usize = 1024;

/// An execution's key: tenant and id.
type Key = (String, String);

/// The node states of executions as last read or committed, with their revision: a read
/// of a later revision reads only the nodes written since. Entries come only from
/// committed data (reads, and writes after their commit), so a write that rolled back
/// never shows.
///
/// Apart from them, each execution's last write queued and not yet settled (committed
/// or failed): the next change of the execution is built on it (and only that, never a
/// read), so that the two are queued one behind the other and can share a commit. That
/// change's write expects the queued write's revision: if the queued write fails, so
/// does the change (and nothing of it is written; a run's end then goes by message).
#[derive(Default)]
pub(crate) struct NodeCache {
    kept: Mutex<HashMap<Key, (u64, Kept)>>,
    queued: Mutex<HashMap<Key, Arc<ExecutionWrite>>>,
}

fn key_of(w: &ExecutionWrite) -> Key {
    (w.execution.tenant.as_str().to_owned(), w.execution.id.as_str().to_owned())
}

/// Node states kept: as read, or as a committed write left them (kept without a copy).
#[derive(Clone)]
pub(crate) enum Kept {
    Read(Arc<Nodes>),
    Written(Arc<ExecutionWrite>),
}

impl Kept {
    pub(crate) fn nodes(&self) -> &Nodes {
        match self {
            Self::Read(nodes) => nodes,
            Self::Written(w) => &w.execution.state.nodes,
        }
    }

    /// The nodes themselves when nobody else holds them, else a copy.
    pub(crate) fn into_nodes(self) -> Nodes {
        match self {
            Self::Read(nodes) => Arc::try_unwrap(nodes).unwrap_or_else(|shared| (*shared).clone()),
            Self::Written(w) => match Arc::try_unwrap(w) {
                Ok(w) => w.execution.state.nodes,
                Err(shared) => shared.execution.state.nodes.clone(),
            },
        }
    }
}

impl NodeCache {
    pub(crate) fn get(&self, key: &Key) -> Option<(u64, Kept)> {
        self.kept.lock().ok()?.get(key).cloned()
    }

    pub(crate) fn take(&self, key: &Key) -> Option<(u64, Kept)> {
        self.kept.lock().ok()?.remove(key)
    }

    pub(crate) fn put(&self, key: Key, revision: u64, nodes: Kept) {
        let Ok(mut cache) = self.kept.lock() else { return };
        if cache.len() >= CACHED_EXECUTIONS && !cache.contains_key(&key) {
            cache.clear();
        }
        match cache.get(&key) {
            Some((kept, _)) if *kept >= revision => {}
            _ => {
                cache.insert(key, (revision, nodes));
            }
        }
    }

    /// Forgets the execution (it was deleted).
    pub(crate) fn forget(&self, key: &Key) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.remove(key);
        }
        if let Ok(mut queued) = self.queued.lock() {
            queued.remove(key);
        }
    }

    /// Remembers the state a committed write left.
    pub(crate) fn committed(&self, w: &Arc<ExecutionWrite>) {
        self.put(key_of(w), w.execution.revision, Kept::Written(Arc::clone(w)));
    }

    /// `w` is queued (the caller holds the execution's turn): the next change of the
    /// execution starts from it.
    pub(crate) fn queued(&self, w: &Arc<ExecutionWrite>) {
        if let Ok(mut queued) = self.queued.lock() {
            // Writes whose callers went away before they settled (no change builds on
            // them wrongly: it would expect a revision that is not stored, and fail).
            if queued.len() >= CACHED_EXECUTIONS {
                queued.clear();
            }
            queued.insert(key_of(w), Arc::clone(w));
        }
    }

    /// The state the execution's last queued write leaves, if one is queued.
    pub(crate) fn queued_state(&self, key: &Key) -> Option<aos_runtime::ports::ExecutionRecord> {
        Some(self.queued.lock().ok()?.get(key)?.execution.clone())
    }

    /// `w`, queued before, committed (`applied`) or failed. A write queued after it stays
    /// the one to build on if `w` committed; if `w` failed, the writes built on it fail
    /// too, and the next change starts from what is stored.
    pub(crate) fn settled(&self, w: &Arc<ExecutionWrite>, applied: bool) {
        // (Let go once queued, as a rule; at the latest here, as the write is kept on.)
        w.turn.release();
        // Kept before it stops being the queued one: a change finds it in one or the other.
        if applied {
            self.committed(w);
        }
        let Ok(mut queued) = self.queued.lock() else { return };
        let key = key_of(w);
        let revision = w.execution.revision;
        let last = queued.get(&key).map(|q| q.execution.revision);
        if last.is_some_and(|last| last == revision || (!applied && last > revision)) {
            queued.remove(&key);
        }
    }
}
