//! Large values: what a store keeps beside its records when a record would be too big
//! for it (a DynamoDB item is at most 400 KB). Keys are `<tenant>/...`, so one tenant's
//! values never share a prefix with another's.

use super::StoreResult;
use async_trait::async_trait;

/// Bytes by key: S3 on AWS, files on disk for the embedded twin.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `body` under `key`, replacing what was there; durable once it returns.
    async fn put(&self, key: &str, body: Vec<u8>) -> StoreResult<()>;
    /// The bytes under `key`, or `None`.
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Deletes every key under `prefix`; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> StoreResult<u64>;
}
