//! Credits: a per-tenant double-entry ledger with two-phase transfers.
//!
//! Every tenant has one ledger of four accounts ([`Account`]): its own `credits`, and
//! the system accounts `grants` (where granted credits come from), `spent` (where
//! settled spending goes) and `expired` (where a grant's unspent rest goes when it
//! expires). Every transfer debits one account and credits another by the same
//! amount, so a ledger always sums to zero.
//!
//! Spending is two-phase: a *reserve* is a pending transfer `credits → spent` with a
//! timeout; *settle* posts the actual amount (at most the reservation; the rest
//! returns), *void* returns it all, and a reservation past its timeout *expires*
//! (returns by itself). A pending transfer resolves at most once. Available credits are
//! `posted credits − posted debits − pending debits` of the tenant's account and never
//! go below zero: a reservation that does not fit is refused.
//!
//! Amounts are integers in millicredits (1 credit = 1 cent = 1 000 millicredits), so a
//! model call that costs a fraction of a cent is charged what it cost.
//!
//! The rules live here ([`Book`]); the embedded adapter applies them in its
//! transaction and the DynamoDB adapter writes the same rules as conditions.

mod book;
mod prices;

pub use book::*;
pub use prices::*;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Millicredits per credit (a credit is a cent).
pub const MILLI: u64 = 1_000;

/// The largest amount of one transfer: a billion credits. Anything larger is a typo
/// or an overflow, and is refused.
pub const MAX_AMOUNT: u64 = 1_000_000_000 * MILLI;

/// An amount of millicredits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millicredits(pub u64);

impl Millicredits {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Whole credits (cents).
    pub fn from_credits(credits: u64) -> Self {
        Self(credits.saturating_mul(MILLI))
    }

    /// A fractional number of cents, rounded up to the next millicredit (what a model
    /// call cost); negative or not-a-number is zero.
    pub fn from_cents_f64(cents: f64) -> Self {
        if cents.is_nan() || cents <= 0.0 {
            return Self::ZERO;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mc = (cents * 1000.0).ceil().min(MAX_AMOUNT as f64) as u64;
        Self(mc)
    }

    /// The amount in cents, as a JSON-friendly decimal (three places at most).
    #[allow(clippy::cast_precision_loss)]
    pub fn cents(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// `self + other`, or `None` past [`u64::MAX`].
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `self − other`, at least zero.
    #[must_use]
    pub fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Millicredits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} c", self.cents())
    }
}

/// An account of a tenant's ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    /// The tenant's spendable credits.
    Credits,
    /// System: the source of granted credits.
    Grants,
    /// System: settled spending.
    Spent,
    /// System: what expired grants left unspent.
    Expired,
}

impl Account {
    /// Every account, in a fixed order.
    pub const ALL: [Self; 4] = [Self::Credits, Self::Grants, Self::Spent, Self::Expired];

    /// The account's name on the wire and in stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credits => "credits",
            Self::Grants => "grants",
            Self::Spent => "spent",
            Self::Expired => "expired",
        }
    }
}

/// What a transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// Credits granted (posted at the grant's effective time).
    Grant,
    /// A reservation (pending until posted, voided or expired).
    Reserve,
    /// The posting of a reservation (its actual amount).
    Post,
    /// A reservation returned in full.
    Void,
    /// A reservation returned by its timeout.
    Expire,
    /// An expired grant's unspent rest.
    Forfeit,
    /// A refund of a settled amount (`spent → credits`), linked to what it refunds.
    Refund,
}

impl TransferKind {
    /// The kind's name on the wire and in ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Reserve => "reserve",
            Self::Post => "post",
            Self::Void => "void",
            Self::Expire => "expire",
            Self::Forfeit => "forfeit",
            Self::Refund => "refund",
        }
    }
}

/// Where a pending transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PendingState {
    /// Reserved, not resolved.
    Pending,
    /// Settled (posted).
    Posted,
    /// Returned in full.
    Voided,
    /// Returned by its timeout.
    Expired,
}

impl PendingState {
    /// The state's name in stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Posted => "posted",
            Self::Voided => "voided",
            Self::Expired => "expired",
        }
    }

    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Posted, Self::Voided, Self::Expired].into_iter().find(|k| k.as_str() == s)
    }
}

/// What caused a transfer: ids derive from it, so the same cause makes the same id and a
/// redelivered step settles nothing twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cause {
    /// The run (or another owner: an execution, an operator's grant).
    pub run: String,
    /// The step within it.
    pub step: u32,
    /// The attempt that caused it (0 when the charge is per step, not per attempt).
    pub attempt: u32,
}

/// A transfer id, unique within a tenant's ledger.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TransferId(pub String);

impl TransferId {
    /// The id of the transfer of `kind` caused by `cause`: `{run}:{step}:{attempt}:{kind}`.
    pub fn derive(cause: &Cause, kind: TransferKind) -> Self {
        Self(format!("{}:{}:{}:{}", cause.run, cause.step, cause.attempt, kind.as_str()))
    }

    /// The id of the transfer of `kind` that resolves or follows the transfer `of`
    /// (`{of}/{kind}`): a reservation's post, void or expiry; a grant's forfeit.
    pub fn following(of: &Self, kind: TransferKind) -> Self {
        Self(format!("{}/{}", of.0, kind.as_str()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of a ledger. Entries are never edited, except a reservation's `state`
/// (pending until it resolves, once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Unique id, derived from the cause.
    pub id: TransferId,
    /// What it is.
    pub kind: TransferKind,
    /// The account debited.
    pub debit: Account,
    /// The account credited.
    pub credit: Account,
    /// How much.
    pub amount: Millicredits,
    /// The transfer this one resolves or follows (a post's reservation, a refund's post).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<TransferId>,
    /// A reservation's state; `None` for every other kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PendingState>,
    /// A reservation's timeout, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The grant it concerns (grant, forfeit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// What caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// When it was written, ms since the epoch.
    pub at_ms: u64,
}

/// What a step cost: its estimate before it ran (what was reserved) and its charge after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepCharge {
    /// Estimated before it ran, millicredits.
    #[serde(rename = "estimate_mc")]
    #[schema(value_type = u64)]
    pub estimate: Millicredits,
    /// Charged after (added to the run's spend; the ledger posts at most the
    /// reservation), millicredits.
    #[serde(rename = "actual_mc")]
    #[schema(value_type = u64)]
    pub actual: Millicredits,
    /// The tenant's reservation, when the tenant is metered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub reservation: Option<TransferId>,
}

/// Why a ledger operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The amount is zero, negative (on the wire) or past [`MAX_AMOUNT`].
    #[error("amount must be between 1 millicredit and {MAX_AMOUNT} millicredits, got {0}")]
    BadAmount(u64),
    /// Not enough available credits.
    #[error("insufficient credits: {requested} requested, {available} available")]
    Insufficient {
        /// What was asked for.
        requested: Millicredits,
        /// What is available.
        available: Millicredits,
    },
    /// The tenant is suspended: nothing can be reserved.
    #[error("the tenant is suspended")]
    Suspended,
    /// A settle of more than was reserved.
    #[error("settle of {amount} exceeds the reservation of {reserved}")]
    OverSettle {
        /// Asked to post.
        amount: Millicredits,
        /// Reserved.
        reserved: Millicredits,
    },
    /// The reservation resolved already (posted, voided or expired).
    #[error("reservation {id} is {state} already")]
    Resolved {
        /// The reservation.
        id: TransferId,
        /// How it resolved.
        state: &'static str,
    },
    /// The reservation has not reached its timeout (an early expiry).
    #[error("reservation {0} has not timed out")]
    NotDue(TransferId),
    /// No such transfer, or not one of the kind the operation needs.
    #[error("no reservation {0}")]
    Unknown(TransferId),
    /// The id is in use by a different transfer.
    #[error("transfer id {0} is taken by a different transfer")]
    IdTaken(TransferId),
    /// A grant's dates or fields are wrong.
    #[error("invalid grant: {0}")]
    BadGrant(String),
}

/// Checks an amount: at least one millicredit, at most [`MAX_AMOUNT`].
pub fn check_amount(amount: Millicredits) -> Result<Millicredits, LedgerError> {
    if amount.0 == 0 || amount.0 > MAX_AMOUNT {
        return Err(LedgerError::BadAmount(amount.0));
    }
    Ok(amount)
}

/// How a settle of `amount` resolves a reservation: posted, or voided when zero.
pub fn resolution(amount: Millicredits) -> TransferKind {
    if amount.0 == 0 {
        TransferKind::Void
    } else {
        TransferKind::Post
    }
}

/// The answer to a settle of `amount` of a reservation that resolved already as
/// `first` (its post, void or expiry): the first answer when the settle repeats it,
/// else [`LedgerError::Resolved`].
pub fn repeated_settle(
    pending: &Transfer,
    first: Option<Transfer>,
    amount: Millicredits,
) -> Result<Transfer, LedgerError> {
    let state = pending.state.unwrap_or(PendingState::Pending);
    match first {
        Some(t) if t.kind == resolution(amount) && (t.kind == TransferKind::Void || t.amount == amount) => Ok(t),
        _ => Err(LedgerError::Resolved { id: pending.id.clone(), state: state.as_str() }),
    }
}
