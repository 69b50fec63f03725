//! Hands a new run's first step message straight to a worker that waits on an empty
//! queue. The run's insert writes the message already received by that worker (receive
//! count 1, hidden for the worker's visibility timeout), in the same transaction, and
//! passes it over once the transaction committed: the worker neither writes a receive
//! nor waits to be woken and poll. The message is in the queue table all the same, so
//! a crash loses nothing: it becomes visible again when its visibility runs out (at
//! once when `aos dev` starts again).

use aos_runtime::ports::Received;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

struct Waiting {
    id: u64,
    queue: String,
    visibility: Duration,
    tx: oneshot::Sender<Received>,
}

/// The receivers waiting on an empty queue, longest waiting first.
#[derive(Default)]
pub(crate) struct Idle {
    waiting: Mutex<VecDeque<Waiting>>,
    next: AtomicU64,
}

/// A receiver's place among the idle ones.
pub(crate) struct Place {
    id: u64,
    /// Where a message handed over arrives; closed (an error) when the write that was
    /// to hand one over failed.
    pub(crate) rx: oneshot::Receiver<Received>,
}

/// A message to be handed over: written received with `visibility`, then sent.
pub(crate) struct Taker {
    /// How long the message stays hidden once handed over.
    pub(crate) visibility: Duration,
    tx: oneshot::Sender<Received>,
}

impl Taker {
    /// Hands `received` over; gives it back when its receiver is gone (it stopped
    /// waiting meanwhile, at shutdown).
    pub(crate) fn send(self, received: Received) -> Result<(), Received> {
        self.tx.send(received)
    }
}

impl Idle {
    /// Waits for a message of `queue` to be handed over.
    pub(crate) fn wait(&self, queue: &str, visibility: Duration) -> Place {
        let (tx, rx) = oneshot::channel();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut w) = self.waiting.lock() {
            w.push_back(Waiting { id, queue: queue.to_owned(), visibility, tx });
        }
        Place { id, rx }
    }

    /// Stops waiting: true when nothing was handed over; false when a message is on
    /// its way (or the write that carries it failed): then `place.rx` answers at once.
    pub(crate) fn withdraw(&self, place: &Place) -> bool {
        let Ok(mut w) = self.waiting.lock() else { return true };
        match w.iter().position(|x| x.id == place.id) {
            Some(at) => {
                w.remove(at);
                true
            }
            None => false,
        }
    }

    /// The receiver of `queue` that has waited longest, if one still waits.
    pub(crate) fn take(&self, queue: &str) -> Option<Taker> {
        let mut w = self.waiting.lock().ok()?;
        w.retain(|x| !x.tx.is_closed());
        let at = w.iter().position(|x| x.queue == queue)?;
        let x = w.remove(at)?;
        Some(Taker { visibility: x.visibility, tx: x.tx })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> Received {
        Received::new(format!("r-{body}"), body.to_owned(), 1)
    }

    #[tokio::test]
    async fn the_longest_waiting_receiver_of_the_queue_gets_the_message() {
        let idle = Idle::default();
        let other = idle.wait("other", Duration::from_secs(1));
        let first = idle.wait("steps", Duration::from_secs(7));
        let second = idle.wait("steps", Duration::from_secs(9));
        let taker = idle.take("steps").expect("a receiver waits");
        assert_eq!(taker.visibility, Duration::from_secs(7));
        taker.send(msg("a")).expect("handed over");
        assert!(!idle.withdraw(&first), "its message is on its way");
        assert_eq!(first.rx.await.expect("received").body, "a");
        assert!(idle.withdraw(&second), "nothing was handed to the second");
        assert!(idle.take("steps").is_none(), "no receiver of steps waits any more");
        assert!(idle.withdraw(&other));
    }

    #[tokio::test]
    async fn a_receiver_that_stopped_waiting_is_skipped_and_a_failed_handover_closes_its_place() {
        let idle = Idle::default();
        let gone = idle.wait("steps", Duration::from_secs(1));
        drop(gone);
        let waiting = idle.wait("steps", Duration::from_secs(2));
        let taker = idle.take("steps").expect("the receiver still waiting");
        assert_eq!(taker.visibility, Duration::from_secs(2));
        drop(taker);
        assert!(!idle.withdraw(&waiting));
        assert!(waiting.rx.await.is_err(), "the failed write closes the place: the receiver polls again");
        let late = idle.wait("steps", Duration::from_secs(3));
        let taker = idle.take("steps").expect("taker");
        drop(late);
        assert_eq!(taker.send(msg("b")).expect_err("nobody to take it").body, "b");
    }
}
