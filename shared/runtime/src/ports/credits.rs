//! The credit ledger: a tenant's book of accounts and grants, and its transfers.

use super::StoreError;
use aos_core::audit::AuditEvent;
use aos_core::credits::{Book, Cause, GrantSpec, LedgerError, Millicredits, Transfer, TransferId};
use aos_core::TenantId;
use async_trait::async_trait;

/// A ledger operation was refused by the ledger's rules, or the store failed.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// Refused: nothing was written.
    #[error(transparent)]
    Refused(#[from] LedgerError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of a ledger operation.
pub type CreditResult<T> = Result<T, CreditError>;

/// A page of a tenant's transfers, oldest first.
#[derive(Debug, Clone, Default)]
pub struct TransferPage {
    /// The transfers.
    pub transfers: Vec<Transfer>,
    /// Where the next page starts, if there is one.
    pub next: Option<String>,
}

/// A tenant's credit ledger. Every operation rolls the tenant's grants to `now_ms`
/// first (credits grants that became effective, forfeits what expired grants left) and
/// applies the rules of [`Book`] in one atomic write; a refused operation writes nothing
/// but the roll. Operations are idempotent by transfer id: a repeat answers the first
/// result.
#[async_trait]
pub trait CreditStore: Send + Sync {
    /// The tenant's book as of `now_ms` (an empty book for a tenant that has none).
    async fn book(&self, tenant: &TenantId, now_ms: u64) -> CreditResult<Book>;

    /// Grants credits. A repeat of the same grant answers no new transfers; `audit` goes
    /// to the tenant's audit log in the same write (not on a repeat).
    async fn grant(
        &self,
        tenant: &TenantId,
        spec: &GrantSpec,
        audit: &[AuditEvent],
        now_ms: u64,
    ) -> CreditResult<Vec<Transfer>>;

    /// Reserves `amount` for `cause` until `timeout_ms`. The same cause again answers
    /// the first reservation (whatever its state now); refused when it does not fit,
    /// the tenant is suspended or the amount is wrong.
    async fn reserve(
        &self,
        tenant: &TenantId,
        cause: &Cause,
        amount: Millicredits,
        timeout_ms: u64,
        now_ms: u64,
    ) -> CreditResult<Transfer>;

    /// Settles the reservation `id` for `amount` (0: voids it). A repeat answers the
    /// first resolution; refused when it resolved otherwise, or above the reservation.
    async fn settle(
        &self,
        tenant: &TenantId,
        id: &TransferId,
        amount: Millicredits,
        now_ms: u64,
    ) -> CreditResult<Transfer>;

    /// Returns every reservation of the tenant whose timeout passed by `now_ms`, up to
    /// `limit`; how many it returned.
    async fn expire_due(&self, tenant: &TenantId, now_ms: u64, limit: u32) -> CreditResult<u32>;

    /// Suspends or reinstates the tenant's spending; `audit` in the same write.
    async fn set_suspended(&self, tenant: &TenantId, suspended: bool, audit: &[AuditEvent]) -> CreditResult<()>;

    /// One transfer.
    async fn transfer(&self, tenant: &TenantId, id: &TransferId) -> CreditResult<Option<Transfer>>;

    /// The tenant's transfers, oldest first, `limit` from `after` (a page's `next`).
    async fn transfers(&self, tenant: &TenantId, after: Option<&str>, limit: u32) -> CreditResult<TransferPage>;
}
