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

/// The node states of executions as last read or committed, with their revision: a read
/// of a later revision reads only the nodes written since. Entries come only from
/// committed data (reads, and writes after their commit), so a write that rolled back
/// never shows.
#[derive(Default)]
pub(crate) struct NodeCache(Mutex<HashMap<(String, String), (u64, Kept)>>);

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
    pub(crate) fn get(&self, key: &(String, String)) -> Option<(u64, Kept)> {
        self.0.lock().ok()?.get(key).cloned()
    }

    pub(crate) fn take(&self, key: &(String, String)) -> Option<(u64, Kept)> {
        self.0.lock().ok()?.remove(key)
    }

    pub(crate) fn put(&self, key: (String, String), revision: u64, nodes: Kept) {
        let Ok(mut cache) = self.0.lock() else { return };
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

    /// Remembers the state a committed write left.
    pub(crate) fn committed(&self, w: &Arc<ExecutionWrite>) {
        let e = &w.execution;
        let key = (e.tenant.as_str().to_owned(), e.id.as_str().to_owned());
        self.put(key, e.revision, Kept::Written(Arc::clone(w)));
    }
}
