//! In-process signals that a run changed, so a caller waiting for it (`?wait=`, an event
//! stream) wakes at the change instead of at a poll interval. The step workers and the
//! run use cases of one process share one [`Changes`] (`aos dev`); where they do not (an
//! API Lambda, whose workers run elsewhere), waiting falls back to reading the run at a
//! growing interval. A signal carries nothing: the waiter reads the run again, so a
//! signal that is missed costs at most one interval, never a wrong answer.

use aos_core::{RunId, TenantId};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a waiter with signals sleeps at most between reads (a change signalled by a
/// writer outside the process, such as a workflow's cancel on another node).
pub const SIGNALLED_RECHECK: Duration = Duration::from_secs(1);

/// The first and the longest pause between reads of a waiter without signals.
pub const POLL_FIRST: Duration = Duration::from_millis(50);
/// See [`POLL_FIRST`].
pub const POLL_MAX: Duration = Duration::from_millis(500);

/// The runs someone waits for, each with its signal.
#[derive(Default)]
pub struct Changes {
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
}

fn key(tenant: &TenantId, run: &RunId) -> String {
    format!("{tenant}/{run}")
}

impl Changes {
    /// Signals that `run` changed: its waiters read it again.
    pub fn changed(&self, tenant: &TenantId, run: &RunId) {
        let notify = self.waiting.lock().expect("changes").get(&key(tenant, run)).cloned();
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }

    /// A subscription to `run`'s changes, until it is dropped.
    pub fn subscribe(self: &Arc<Self>, tenant: &TenantId, run: &RunId) -> Subscription {
        let key = key(tenant, run);
        let notify = Arc::clone(self.waiting.lock().expect("changes").entry(key.clone()).or_default());
        Subscription { changes: Arc::clone(self), key, notify }
    }
}

/// One waiter's subscription to a run's changes.
pub struct Subscription {
    changes: Arc<Changes>,
    key: String,
    notify: Arc<Notify>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut waiting = self.changes.waiting.lock().expect("changes");
        // The map's and this subscription's: nobody else waits for the run.
        if waiting.get(&self.key).is_some_and(|n| Arc::strong_count(n) <= 2) {
            waiting.remove(&self.key);
        }
    }
}

/// A caller waiting for a run to change, until a deadline: with signals when its process
/// has them, else by reading again at a growing interval.
pub struct Waiter {
    sub: Option<Subscription>,
    pause: Duration,
    deadline: Instant,
}

/// A waiter armed before it reads: a change after [`Waiter::arm`] ends the next
/// [`Armed::wait`] at once.
pub struct Armed(Option<Pin<Box<OwnedNotified>>>);

impl Waiter {
    /// A waiter for `run` until `deadline`, signalled through `changes` if given.
    pub fn new(changes: Option<&Arc<Changes>>, tenant: &TenantId, run: &RunId, deadline: Instant) -> Self {
        Self { sub: changes.map(|c| c.subscribe(tenant, run)), pause: POLL_FIRST, deadline }
    }

    /// A waiter that reads again at a growing interval until `deadline` (for what no
    /// process signals, such as a workflow execution).
    pub fn polling(deadline: Instant) -> Self {
        Self { sub: None, pause: POLL_FIRST, deadline }
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Arms the waiter: call before reading the run.
    pub fn arm(&self) -> Armed {
        Armed(self.sub.as_ref().map(|s| {
            let mut n = Box::pin(Arc::clone(&s.notify).notified_owned());
            n.as_mut().enable();
            n
        }))
    }

    /// Waits for a change signalled since `armed` (at most [`SIGNALLED_RECHECK`]) or,
    /// without signals, for the next read's time; never past the deadline.
    pub async fn wait(&mut self, armed: Armed) {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match armed.0 {
            Some(n) => {
                let _ = tokio::time::timeout(left.min(SIGNALLED_RECHECK), n).await;
            }
            None => {
                tokio::time::sleep(left.min(self.pause)).await;
                self.pause = (self.pause * 2).min(POLL_MAX);
            }
        }
    }
}
