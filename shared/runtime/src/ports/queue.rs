//! The step queue.

use super::{RunRecord, StoreResult};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// One received queue message.
#[derive(Debug, Clone)]
pub struct Received {
    /// Handle for delete / change-visibility; changes on every receive.
    pub receipt: String,
    /// Message body.
    pub body: String,
    /// How many times the message has been received (1 on the first delivery).
    pub receive_count: u32,
    /// The run the message is for, as its submission wrote it, when the queue handed
    /// the message over with the submission (the embedded store does, to a worker that
    /// waits on an empty queue): the worker starts from it instead of reading the run.
    pub run: Option<Arc<RunRecord>>,
}

impl Received {
    /// A message as a queue delivered it.
    pub fn new(receipt: String, body: String, receive_count: u32) -> Self {
        Self { receipt, body, receive_count, run: None }
    }
}

/// A queue with SQS semantics: visibility timeout, receive count, change visibility and
/// dead-lettering after a maximum receive count.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues `body`, visible after `delay`.
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<()>;
    /// Receives up to `max` visible messages, hiding them for `visibility`; waits up to
    /// `wait` for one to arrive (long polling).
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> StoreResult<Vec<Received>>;
    /// Deletes a received message. A stale receipt is not an error.
    async fn delete(&self, receipt: &str) -> StoreResult<()>;
    /// Sets a received message's remaining invisibility (the heartbeat of long steps).
    /// Returns false if the receipt is stale (the message was received again).
    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> StoreResult<bool>;
}
