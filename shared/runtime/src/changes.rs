//! In-process signals that a run (or a workflow execution) changed, so a caller waiting
//! for it (`?wait=`, an event stream) wakes at the change instead of at a poll interval. The step workers and the
//! run use cases of one process share one [`Changes`] (`aos dev`); where they do not (an
//! API Lambda, whose workers run elsewhere), waiting falls back to reading the run at a
//! growing interval. A signal carries nothing: the waiter reads the run again, so a
//! signal that is missed costs at most one interval, never a wrong answer.

use aos_core::TenantId;
use std::collections::HashMap;
use std::fmt::Display;
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

/// The runs someone waits for, each with its signals.
#[derive(Default)]
pub struct Changes {
    waiting: Mutex<HashMap<String, Arc<Signals>>>,
}

/// What a signal says of a run, and what a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It changed: a step was claimed, committed, retried or parked. A waiter for this
    /// wakes at every change (an event stream).
    Moved,
    /// It ended (succeeded, failed or was cancelled). A waiter for this wakes only then
    /// (`?wait=`), so it does not read the run again at every step.
    Ended,
}

/// One run's signals: every change, and its end.
#[derive(Default)]
struct Signals {
    moved: Arc<Notify>,
    ended: Arc<Notify>,
}

impl Signals {
    fn of(&self, watch: Change) -> &Arc<Notify> {
        match watch {
            Change::Moved => &self.moved,
            Change::Ended => &self.ended,
        }
    }
}

/// A run's or an execution's key (their ids differ by prefix).
fn key(tenant: &TenantId, id: &(impl Display + ?Sized)) -> String {
    format!("{tenant}/{id}")
}

impl Changes {
    /// Signals that `run` changed (and, with [`Change::Ended`], that it ended): the
    /// waiters for it read it again.
    pub fn changed(&self, tenant: &TenantId, run: &(impl Display + ?Sized), change: Change) {
        let signals = self.waiting.lock().expect("changes").get(&key(tenant, run)).cloned();
        if let Some(s) = signals {
            s.moved.notify_waiters();
            if change == Change::Ended {
                s.ended.notify_waiters();
            }
        }
    }

    /// A subscription to `run`'s changes of the kind `watch`, until it is dropped.
    pub fn subscribe(
        self: &Arc<Self>,
        tenant: &TenantId,
        run: &(impl Display + ?Sized),
        watch: Change,
    ) -> Subscription {
        let key = key(tenant, run);
        let signals = Arc::clone(self.waiting.lock().expect("changes").entry(key.clone()).or_default());
        Subscription { changes: Arc::clone(self), key, signals, watch }
    }
}

/// One waiter's subscription to a run's changes.
pub struct Subscription {
    changes: Arc<Changes>,
    key: String,
    signals: Arc<Signals>,
    watch: Change,
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
    /// A waiter for `run`'s changes of the kind `watch` until `deadline`, signalled
    /// through `changes` if given.
    pub fn new(
        changes: Option<&Arc<Changes>>,
        tenant: &TenantId,
        run: &(impl Display + ?Sized),
        watch: Change,
        deadline: Instant,
    ) -> Self {
        Self { sub: changes.map(|c| c.subscribe(tenant, run, watch)), pause: POLL_FIRST, deadline }
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
            let mut n = Box::pin(Arc::clone(s.signals.of(s.watch)).notified_owned());
            n.as_mut().enable();
            n
        }))
    }

    /// Waits for a change signalled since `armed` (at most [`SIGNALLED_RECHECK`]) or,
    /// without signals, for the next read's time; never past the deadline. True when a
    /// signal ended the wait (the change watched for most likely happened).
    pub async fn wait(&mut self, armed: Armed) -> bool {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match armed.0 {
            Some(n) => tokio::time::timeout(left.min(SIGNALLED_RECHECK), n).await.is_ok(),
            None => {
                tokio::time::sleep(left.min(self.pause)).await;
                self.pause = (self.pause * 2).min(POLL_MAX);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use aos_core::RunId;

    fn ids() -> (TenantId, RunId) {
        (TenantId::parse("ten_a").expect("tenant"), RunId::parse("run_a").expect("run"))
    }

    /// Whether a waiter armed before `signal` is woken by it (within 200 ms), and says so.
    async fn woken(watch: Change, signal: Change) -> bool {
        let changes = Arc::new(Changes::default());
        let (tenant, run) = ids();
        let far = Instant::now() + Duration::from_secs(30);
        let mut waiter = Waiter::new(Some(&changes), &tenant, &run, watch, far);
        let armed = waiter.arm();
        changes.changed(&tenant, &run, signal);
        matches!(tokio::time::timeout(Duration::from_millis(200), waiter.wait(armed)).await, Ok(true))
    }

    #[tokio::test]
    async fn a_waiter_for_the_end_sleeps_through_steps_and_wakes_at_the_end() {
        assert!(!woken(Change::Ended, Change::Moved).await, "a step woke a waiter for the run's end");
        assert!(woken(Change::Ended, Change::Ended).await);
    }

    #[tokio::test]
    async fn a_waiter_for_every_change_wakes_at_steps_and_at_the_end() {
        assert!(woken(Change::Moved, Change::Moved).await);
        assert!(woken(Change::Moved, Change::Ended).await);
    }

    #[tokio::test]
    async fn the_last_subscription_dropped_forgets_the_run() {
        let changes = Arc::new(Changes::default());
        let (tenant, run) = ids();
        let a = changes.subscribe(&tenant, &run, Change::Moved);
        let b = changes.subscribe(&tenant, &run, Change::Ended);
        drop(a);
        assert_eq!(changes.waiting.lock().expect("changes").len(), 1);
        drop(b);
        assert!(changes.waiting.lock().expect("changes").is_empty());
    }
}
