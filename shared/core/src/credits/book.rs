//! A tenant's ledger state and the rules of every operation on it.

use super::{
    check_amount, Account, Cause, LedgerError, Millicredits, PendingState, Transfer, TransferId, TransferKind,
};
use serde::{Deserialize, Serialize};

/// The four sums of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balance {
    /// Posted debits.
    pub debits_posted: Millicredits,
    /// Posted credits.
    pub credits_posted: Millicredits,
    /// Pending debits (reservations).
    pub debits_pending: Millicredits,
    /// Pending credits (reservations).
    pub credits_pending: Millicredits,
}

impl Balance {
    /// Posted credits − posted debits, signed (system accounts go negative).
    pub fn net(&self) -> i128 {
        i128::from(self.credits_posted.0) - i128::from(self.debits_posted.0)
    }
}

/// Paid or promotional credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// Given away (trial, compensation); spent before paid credits that expire as late.
    Promotional,
    /// Paid for.
    Paid,
    /// A refund of settled spending (made by the ledger, never requested).
    Refund,
}

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// Its effective time is still ahead.
    Scheduled,
    /// Spendable.
    Active,
    /// Expired (its unspent rest forfeited).
    Closed,
}

/// A request for a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantSpec {
    /// The grant's id (unique in the tenant's ledger; a repeat of the same grant is a no-op).
    pub id: String,
    /// Paid or promotional.
    pub kind: GrantKind,
    /// How much.
    pub amount: Millicredits,
    /// From when it can be spent, ms since the epoch.
    pub effective_ms: u64,
    /// When its unspent rest expires, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    /// Among grants expiring at the same time, higher priority is spent first.
    #[serde(default)]
    pub priority: i32,
}

/// A grant and how much of it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// What was granted.
    #[serde(flatten)]
    pub spec: GrantSpec,
    /// Where it stands.
    pub state: GrantState,
    /// Spent from it (settled spending allocated to it).
    pub used: Millicredits,
    /// Its unspent rest, taken away when it expired.
    pub forfeited: Millicredits,
}

impl Grant {
    /// What is left of it.
    pub fn remaining(&self) -> Millicredits {
        self.spec.amount.saturating_sub(self.used).saturating_sub(self.forfeited)
    }

    fn spend_order(&self) -> (u64, i32, GrantKind, u64, String) {
        let s = &self.spec;
        (s.expires_ms.unwrap_or(u64::MAX), -s.priority, s.kind, s.effective_ms, s.id.clone())
    }
}

/// A tenant's ledger: its accounts' sums, its grants, and whether it may spend.
///
/// Reservations and other transfers are records of their own; the operations here take
/// the one they resolve and return the transfers to record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Book {
    /// Sums per account, in [`Account::ALL`] order.
    pub balances: [Balance; 4],
    /// Every grant, in the order made.
    pub grants: Vec<Grant>,
    /// The part of the credit account's posted debits already allocated to grants.
    pub allocated: Millicredits,
    /// A suspended tenant reserves nothing.
    pub suspended: bool,
}

/// The record of a reservation of `amount` for `cause` until `timeout_ms` (what
/// [`Book::reserve`] returns; a store that checks the rules as write conditions builds
/// it with this).
pub fn reservation(cause: Cause, amount: Millicredits, timeout_ms: u64, now_ms: u64) -> Transfer {
    Transfer {
        id: TransferId::derive(&cause, TransferKind::Reserve),
        kind: TransferKind::Reserve,
        debit: Account::Credits,
        credit: Account::Spent,
        amount,
        follows: None,
        state: Some(PendingState::Pending),
        timeout_ms: Some(timeout_ms),
        grant: None,
        cause: Some(cause),
        at_ms: now_ms,
    }
}

/// The index of `a` in [`Book::balances`].
pub fn account_index(a: Account) -> usize {
    match a {
        Account::Credits => 0,
        Account::Grants => 1,
        Account::Spent => 2,
        Account::Expired => 3,
    }
}

impl Book {
    /// The sums of `account`.
    pub fn balance(&self, account: Account) -> Balance {
        self.balances[account_index(account)]
    }

    fn balance_mut(&mut self, account: Account) -> &mut Balance {
        &mut self.balances[account_index(account)]
    }

    /// Available credits: posted credits − posted debits − pending debits of the
    /// tenant's account.
    pub fn available(&self) -> Millicredits {
        let b = self.balance(Account::Credits);
        b.credits_posted.saturating_sub(b.debits_posted).saturating_sub(b.debits_pending)
    }

    /// Reserved credits (pending debits of the tenant's account).
    pub fn reserved(&self) -> Millicredits {
        self.balance(Account::Credits).debits_pending
    }

    /// The next time a grant becomes effective or expires ([`u64::MAX`]: never). Until
    /// then reservations and settlements need no [`Book::roll`].
    pub fn next_change_ms(&self) -> u64 {
        self.grants
            .iter()
            .filter_map(|g| match g.state {
                GrantState::Scheduled => Some(g.spec.effective_ms),
                GrantState::Active => g.spec.expires_ms,
                GrantState::Closed => None,
            })
            .min()
            .unwrap_or(u64::MAX)
    }

    fn post(&mut self, debit: Account, credit: Account, amount: Millicredits) {
        let d = self.balance_mut(debit);
        d.debits_posted = Millicredits(d.debits_posted.0 + amount.0);
        let c = self.balance_mut(credit);
        c.credits_posted = Millicredits(c.credits_posted.0 + amount.0);
    }

    /// Allocates the credit account's unallocated spending to active grants, soonest
    /// expiring first. Called before each grant event, so all of it was spent while the
    /// grants active now were the active ones.
    fn allocate(&mut self) {
        let spent = self.balance(Account::Credits).debits_posted;
        let mut rest = spent.saturating_sub(self.allocated);
        let mut order: Vec<usize> =
            (0..self.grants.len()).filter(|&i| self.grants[i].state == GrantState::Active).collect();
        order.sort_by_key(|&i| self.grants[i].spend_order());
        for i in order {
            let take = rest.min(self.grants[i].remaining());
            self.grants[i].used = Millicredits(self.grants[i].used.0 + take.0);
            rest = rest.saturating_sub(take);
        }
        // Spending beyond every active grant (credits reserved from a grant that expired
        // while the reservation was pending) stays unallocated until a grant takes it.
        self.allocated = spent.saturating_sub(rest);
    }

    /// Applies every grant event due by `now` in time order: a grant whose effective
    /// time came is credited; a grant whose expiry came forfeits its unspent rest (as
    /// much of it as is available: credits a pending reservation holds stay with it).
    pub fn roll(&mut self, now_ms: u64) -> Vec<Transfer> {
        let mut out = Vec::new();
        loop {
            let due = self
                .grants
                .iter()
                .enumerate()
                .filter_map(|(i, g)| match g.state {
                    GrantState::Scheduled => Some((g.spec.effective_ms, 1, i)),
                    GrantState::Active => g.spec.expires_ms.map(|t| (t, 0, i)),
                    GrantState::Closed => None,
                })
                .filter(|(t, _, _)| *t <= now_ms)
                .min();
            let Some((at, _, i)) = due else { break };
            self.allocate();
            let id = TransferId(format!("grant:{}", self.grants[i].spec.id));
            if self.grants[i].state == GrantState::Scheduled {
                let amount = self.grants[i].spec.amount;
                self.grants[i].state = GrantState::Active;
                if self.grants[i].spec.kind != GrantKind::Refund {
                    self.post(Account::Grants, Account::Credits, amount);
                    out.push(self.record(id, TransferKind::Grant, Account::Grants, Account::Credits, amount, at, i));
                }
            } else {
                let rest = self.grants[i].remaining().min(self.available());
                self.grants[i].state = GrantState::Closed;
                if rest.0 > 0 {
                    self.grants[i].forfeited = rest;
                    self.post(Account::Credits, Account::Expired, rest);
                    self.allocated = Millicredits(self.allocated.0 + rest.0);
                    let fid = TransferId::following(&id, TransferKind::Forfeit);
                    out.push(self.record(fid, TransferKind::Forfeit, Account::Credits, Account::Expired, rest, at, i));
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        id: TransferId,
        kind: TransferKind,
        debit: Account,
        credit: Account,
        amount: Millicredits,
        at_ms: u64,
        grant: usize,
    ) -> Transfer {
        Transfer {
            id,
            kind,
            debit,
            credit,
            amount,
            follows: None,
            state: None,
            timeout_ms: None,
            grant: Some(self.grants[grant].spec.id.clone()),
            cause: None,
            at_ms,
        }
    }

    /// Adds a grant and rolls the ledger to `now`. A repeat of a grant already made
    /// (same id, same fields) changes nothing and returns no transfers; the same id with
    /// other fields is [`LedgerError::IdTaken`]. Fails on a zero or oversized amount, or
    /// an expiry not after the effective time.
    pub fn grant(&mut self, spec: GrantSpec, now_ms: u64) -> Result<Vec<Transfer>, LedgerError> {
        check_amount(spec.amount)?;
        if spec.id.is_empty() || spec.id.len() > 64 {
            return Err(LedgerError::BadGrant("id must be 1 to 64 characters".into()));
        }
        if spec.expires_ms.is_some_and(|e| e <= spec.effective_ms) {
            return Err(LedgerError::BadGrant("expires_at must be after effective_at".into()));
        }
        if let Some(g) = self.grants.iter().find(|g| g.spec.id == spec.id) {
            return if g.spec == spec { Ok(Vec::new()) } else { Err(LedgerError::IdTaken(TransferId(spec.id))) };
        }
        let mut out = self.roll(now_ms);
        self.grants.push(Grant {
            spec,
            state: GrantState::Scheduled,
            used: Millicredits::ZERO,
            forfeited: Millicredits::ZERO,
        });
        out.extend(self.roll(now_ms));
        Ok(out)
    }

    /// Reserves `amount` for `cause` until `timeout_ms`: a pending transfer
    /// `credits → spent`. The caller has rolled the ledger to now. Fails when the
    /// tenant is suspended, the amount is zero or oversized, or it does not fit in what
    /// is available.
    pub fn reserve(
        &mut self,
        cause: Cause,
        amount: Millicredits,
        timeout_ms: u64,
        now_ms: u64,
    ) -> Result<Transfer, LedgerError> {
        check_amount(amount)?;
        if self.suspended {
            return Err(LedgerError::Suspended);
        }
        let available = self.available();
        if amount > available {
            return Err(LedgerError::Insufficient { requested: amount, available });
        }
        let c = self.balance_mut(Account::Credits);
        c.debits_pending = Millicredits(c.debits_pending.0 + amount.0);
        let s = self.balance_mut(Account::Spent);
        s.credits_pending = Millicredits(s.credits_pending.0 + amount.0);
        Ok(reservation(cause, amount, timeout_ms, now_ms))
    }

    fn release(&mut self, amount: Millicredits) {
        let c = self.balance_mut(Account::Credits);
        c.debits_pending = c.debits_pending.saturating_sub(amount);
        let s = self.balance_mut(Account::Spent);
        s.credits_pending = s.credits_pending.saturating_sub(amount);
    }

    fn resolve(
        &mut self,
        pending: &mut Transfer,
        kind: TransferKind,
        amount: Millicredits,
        now_ms: u64,
    ) -> Result<Transfer, LedgerError> {
        if pending.kind != TransferKind::Reserve {
            return Err(LedgerError::Unknown(pending.id.clone()));
        }
        match pending.state {
            Some(PendingState::Pending) => {}
            Some(s) => return Err(LedgerError::Resolved { id: pending.id.clone(), state: s.as_str() }),
            None => return Err(LedgerError::Unknown(pending.id.clone())),
        }
        self.release(pending.amount);
        let state = match kind {
            TransferKind::Post => {
                self.post(Account::Credits, Account::Spent, amount);
                PendingState::Posted
            }
            TransferKind::Expire => PendingState::Expired,
            _ => PendingState::Voided,
        };
        pending.state = Some(state);
        Ok(Transfer {
            id: TransferId::following(&pending.id, kind),
            kind,
            debit: Account::Credits,
            credit: Account::Spent,
            amount,
            follows: Some(pending.id.clone()),
            state: None,
            timeout_ms: None,
            grant: None,
            cause: pending.cause.clone(),
            at_ms: now_ms,
        })
    }

    /// Settles a reservation: posts `amount` (1 millicredit up to the reservation) and
    /// returns the rest. Marks `pending` posted. A zero settle is a [`Book::void`].
    pub fn settle(
        &mut self,
        pending: &mut Transfer,
        amount: Millicredits,
        now_ms: u64,
    ) -> Result<Transfer, LedgerError> {
        check_amount(amount)?;
        if amount > pending.amount {
            return Err(LedgerError::OverSettle { amount, reserved: pending.amount });
        }
        self.resolve(pending, TransferKind::Post, amount, now_ms)
    }

    /// Returns a reservation in full. Marks `pending` voided.
    pub fn void(&mut self, pending: &mut Transfer, now_ms: u64) -> Result<Transfer, LedgerError> {
        let amount = pending.amount;
        self.resolve(pending, TransferKind::Void, amount, now_ms)
    }

    /// Returns a reservation whose timeout has passed. Marks `pending` expired.
    pub fn expire(&mut self, pending: &mut Transfer, now_ms: u64) -> Result<Transfer, LedgerError> {
        if pending.timeout_ms.is_some_and(|t| now_ms < t) {
            return Err(LedgerError::NotDue(pending.id.clone()));
        }
        let amount = pending.amount;
        self.resolve(pending, TransferKind::Expire, amount, now_ms)
    }

    /// Refunds `amount` of a posted settlement `post` (of which `refunded` was refunded
    /// before) as a new transfer `spent → credits` linked to it, spendable like a grant
    /// that never expires. The caller has rolled the ledger to now.
    pub fn refund(
        &mut self,
        post: &Transfer,
        refunded: Millicredits,
        amount: Millicredits,
        now_ms: u64,
    ) -> Result<Transfer, LedgerError> {
        check_amount(amount)?;
        if post.kind != TransferKind::Post {
            return Err(LedgerError::Unknown(post.id.clone()));
        }
        let left = post.amount.saturating_sub(refunded);
        if amount > left {
            return Err(LedgerError::OverSettle { amount, reserved: left });
        }
        let id = TransferId(format!("{}/refund-{}", post.id, refunded.0));
        self.allocate();
        self.post(Account::Spent, Account::Credits, amount);
        self.grants.push(Grant {
            spec: GrantSpec {
                id: id.0.clone(),
                kind: GrantKind::Refund,
                amount,
                effective_ms: now_ms,
                expires_ms: None,
                priority: 0,
            },
            state: GrantState::Active,
            used: Millicredits::ZERO,
            forfeited: Millicredits::ZERO,
        });
        Ok(Transfer {
            id,
            kind: TransferKind::Refund,
            debit: Account::Spent,
            credit: Account::Credits,
            amount,
            follows: Some(post.id.clone()),
            state: None,
            timeout_ms: None,
            grant: None,
            cause: post.cause.clone(),
            at_ms: now_ms,
        })
    }

    /// What is left of each grant now (a copy of the ledger with its spending allocated),
    /// soonest expiring first.
    pub fn by_grant(&self) -> Vec<Grant> {
        let mut copy = self.clone();
        copy.allocate();
        let mut grants = copy.grants;
        grants.sort_by_key(Grant::spend_order);
        grants
    }

    /// Checks the ledger's invariants: it sums to zero, pending debits equal pending
    /// credits, available is not below zero. Returns what is broken.
    pub fn broken(&self) -> Option<String> {
        let sum: i128 = self.balances.iter().map(Balance::net).sum();
        if sum != 0 {
            return Some(format!("ledger sums to {sum}, not zero"));
        }
        let (c, s) = (self.balance(Account::Credits), self.balance(Account::Spent));
        if c.debits_pending != s.credits_pending {
            return Some(format!("pending debits {} != pending credits {}", c.debits_pending.0, s.credits_pending.0));
        }
        if c.credits_posted.0 < c.debits_posted.0 + c.debits_pending.0 {
            return Some("available is below zero".into());
        }
        None
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
