//! `TransactWriteItems` with its answer read, never assumed.
//!
//! A cancelled transaction carries one reason per item. Conflicts with another
//! transaction and throttling are transient: the transaction is sent again after a
//! jittered back-off (the SDK's own retries have already run for throttling answers of
//! the whole call). A condition that failed is the caller's to interpret, item by item,
//! and a validation failure (an item over 400 KB, a bad expression) is final. Nothing
//! here decides that a cancelled transaction "was probably already applied".

use crate::dynamo::sdk_err;
use aos_runtime::ports::{StoreError, StoreResult};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// Attempts of one transaction before transient cancellations count as a failure.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// Why one item of a cancelled transaction was cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// This item was fine (another one cancelled the transaction).
    None,
    /// Its condition expression failed.
    ConditionFailed,
    /// Another transaction was changing the item.
    Conflict,
    /// The item's partition was throttled.
    Throttled,
    /// The item is invalid: over the 400 KB item limit, or a bad expression. Final.
    Invalid(String),
}

impl Reason {
    fn parse(code: Option<&str>, message: Option<&str>) -> Self {
        match code.unwrap_or("None") {
            "None" => Self::None,
            "ConditionalCheckFailed" => Self::ConditionFailed,
            "TransactionConflict" => Self::Conflict,
            "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded" => Self::Throttled,
            other => Self::Invalid(format!("{other}: {}", message.unwrap_or("no message"))),
        }
    }

    fn is_transient(&self) -> bool {
        matches!(self, Self::Conflict | Self::Throttled)
    }
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Txn {
    /// Every item was written.
    Committed,
    /// Nothing was written: at least one condition failed. One reason per item, in the
    /// order of the items.
    ConditionFailed(Vec<Reason>),
}

impl Txn {
    /// Whether item `index` failed its condition.
    pub(crate) fn failed(&self, index: usize) -> bool {
        matches!(self, Self::ConditionFailed(r) if r.get(index) == Some(&Reason::ConditionFailed))
    }
}

/// Whole-call errors worth another attempt after the SDK's own retries gave up.
fn transient_call(e: &TransactWriteItemsError) -> bool {
    matches!(
        e.code(),
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TransactionInProgressException"
                | "InternalServerError"
        )
    )
}

/// Sends `items` as one transaction, again after transient cancellations. Fails with
/// `Backend` when the items are invalid or transient failures outlast
/// [`MAX_ATTEMPTS`]; nothing was written then.
pub(crate) async fn transact(client: &Client, items: Vec<TransactWriteItem>) -> StoreResult<Txn> {
    let mut last = String::new();
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
        }
        let Err(err) = client.transact_write_items().set_transact_items(Some(items.clone())).send().await else {
            return Ok(Txn::Committed);
        };
        let Some(service) = err.as_service_error() else { return Err(sdk_err(err)) };
        if let TransactWriteItemsError::TransactionCanceledException(c) = service {
            let reasons: Vec<Reason> =
                c.cancellation_reasons().iter().map(|r| Reason::parse(r.code(), r.message())).collect();
            if let Some(Reason::Invalid(why)) = reasons.iter().find(|r| matches!(r, Reason::Invalid(_))) {
                return Err(StoreError::Backend(format!("the transaction was refused: {why}")));
            }
            if reasons.iter().any(Reason::is_transient) {
                last = format!("cancelled: {reasons:?}");
                tracing::debug!(attempt, ?reasons, "transaction cancelled by a conflict or throttling; retrying");
                continue;
            }
            if reasons.is_empty() {
                return Err(StoreError::Backend("a transaction was cancelled without reasons".to_owned()));
            }
            return Ok(Txn::ConditionFailed(reasons));
        }
        if transient_call(service) {
            last = service.code().unwrap_or("throttled").to_owned();
            tracing::debug!(attempt, code = %last, "transaction throttled; retrying");
            continue;
        }
        return Err(sdk_err(err));
    }
    Err(StoreError::Backend(format!("a transaction failed {MAX_ATTEMPTS} times ({last}); nothing was written")))
}

/// 25 ms doubling per attempt, capped at 1 s, with full jitter in its upper half.
fn backoff(attempt: u32) -> Duration {
    let base = 25u64.saturating_mul(1 << attempt.min(6)).min(1000);
    Duration::from_millis(base / 2 + rand::random_range(0..=base / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cancellation_reason_is_read_as_what_it_means() {
        assert_eq!(Reason::parse(Some("ConditionalCheckFailed"), None), Reason::ConditionFailed);
        assert_eq!(Reason::parse(Some("TransactionConflict"), None), Reason::Conflict);
        assert_eq!(Reason::parse(Some("ThrottlingError"), None), Reason::Throttled);
        assert_eq!(Reason::parse(None, None), Reason::None);
        assert!(
            matches!(Reason::parse(Some("ValidationError"), Some("Item size has exceeded")), Reason::Invalid(m) if m.contains("size"))
        );
        assert!(Reason::Conflict.is_transient() && !Reason::ConditionFailed.is_transient());
    }

    #[test]
    fn back_off_grows_and_stays_under_a_second() {
        assert!(backoff(1) <= Duration::from_millis(50));
        assert!(backoff(20) <= Duration::from_secs(1) && backoff(20) >= Duration::from_millis(500));
    }
}
