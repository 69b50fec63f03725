use super::*;
use crate::credits::{Account, Cause, LedgerError, Millicredits as M, PendingState, PriceTable};

fn spec(id: &str, amount: u64, effective: u64, expires: Option<u64>) -> GrantSpec {
    GrantSpec {
        id: id.into(),
        kind: GrantKind::Paid,
        amount: M::from_credits(amount),
        effective_ms: effective,
        expires_ms: expires,
        priority: 0,
    }
}

fn cause(step: u32) -> Cause {
    Cause { run: "run_a".into(), step, attempt: 0 }
}

#[test]
fn a_reservation_settled_for_less_returns_the_rest() {
    let mut book = Book::default();
    book.grant(spec("g1", 100, 0, None), 0).unwrap();
    let mut r = book.reserve(cause(0), M::from_credits(30), 1_000, 1).unwrap();
    assert_eq!(book.available(), M::from_credits(70));
    let post = book.settle(&mut r, M::from_credits(12), 2).unwrap();
    assert_eq!((post.amount, r.state), (M::from_credits(12), Some(PendingState::Posted)));
    assert_eq!(book.available(), M::from_credits(88));
    assert_eq!(book.balance(Account::Spent).credits_posted, M::from_credits(12));
    assert_eq!(book.broken(), None);
}

#[test]
fn a_pending_transfer_resolves_at_most_once() {
    let mut book = Book::default();
    book.grant(spec("g1", 10, 0, None), 0).unwrap();
    let mut r = book.reserve(cause(0), M::from_credits(5), 1_000, 1).unwrap();
    book.void(&mut r, 2).unwrap();
    assert!(matches!(book.settle(&mut r, M::from_credits(1), 3), Err(LedgerError::Resolved { .. })));
    assert!(matches!(book.expire(&mut r, 2_000), Err(LedgerError::Resolved { .. })));
    assert_eq!(book.available(), M::from_credits(10));
}

#[test]
fn settle_above_the_reservation_and_zero_amounts_are_refused() {
    let mut book = Book::default();
    assert!(matches!(book.grant(spec("g0", 0, 0, None), 0), Err(LedgerError::BadAmount(0))));
    book.grant(spec("g1", 10, 0, None), 0).unwrap();
    let mut r = book.reserve(cause(0), M::from_credits(5), 1_000, 1).unwrap();
    assert!(matches!(book.settle(&mut r, M::from_credits(6), 2), Err(LedgerError::OverSettle { .. })));
    assert!(matches!(book.settle(&mut r, M::ZERO, 2), Err(LedgerError::BadAmount(0))));
    assert!(matches!(book.reserve(cause(1), M::from_credits(6), 1_000, 1), Err(LedgerError::Insufficient { .. })));
    assert!(matches!(book.expire(&mut r, 999), Err(LedgerError::NotDue(_))));
    book.expire(&mut r, 1_000).unwrap();
    assert_eq!(book.available(), M::from_credits(10));
}

#[test]
fn grants_are_spent_soonest_expiring_first_and_expire_with_their_rest() {
    let mut book = Book::default();
    book.grant(spec("late", 50, 0, Some(10_000)), 0).unwrap();
    book.grant(spec("soon", 20, 0, Some(5_000)), 0).unwrap();
    book.grant(spec("never", 30, 0, None), 0).unwrap();
    let mut r = book.reserve(cause(0), M::from_credits(25), 9_000, 1).unwrap();
    book.settle(&mut r, M::from_credits(25), 2).unwrap();
    let left: Vec<(String, u64)> =
        book.by_grant().iter().map(|g| (g.spec.id.clone(), g.remaining().0 / 1000)).collect();
    assert_eq!(left, [("soon".into(), 0), ("late".into(), 45), ("never".into(), 30)]);
    assert_eq!(book.next_change_ms(), 5_000);
    let forfeits = book.roll(10_000);
    assert_eq!(forfeits.len(), 1, "soon had nothing left; late forfeits 45");
    assert_eq!(forfeits[0].amount, M::from_credits(45));
    assert_eq!(book.available(), M::from_credits(30));
    assert_eq!(book.balance(Account::Expired).credits_posted, M::from_credits(45));
    assert_eq!(book.broken(), None);
}

#[test]
fn a_scheduled_grant_is_spendable_from_its_effective_time() {
    let mut book = Book::default();
    assert!(book.grant(spec("later", 10, 5_000, None), 0).unwrap().is_empty());
    assert_eq!(book.available(), M::ZERO);
    assert!(book.reserve(cause(0), M(1), 9_000, 1).is_err());
    assert_eq!(book.roll(5_000).len(), 1);
    assert_eq!(book.available(), M::from_credits(10));
}

#[test]
fn a_repeated_grant_changes_nothing_and_a_different_one_with_its_id_is_refused() {
    let mut book = Book::default();
    book.grant(spec("g1", 10, 0, None), 0).unwrap();
    assert!(book.grant(spec("g1", 10, 0, None), 5).unwrap().is_empty());
    assert!(matches!(book.grant(spec("g1", 11, 0, None), 5), Err(LedgerError::IdTaken(_))));
    assert!(matches!(book.grant(spec("g2", 11, 5, Some(5)), 5), Err(LedgerError::BadGrant(_))));
    assert_eq!(book.available(), M::from_credits(10));
}

#[test]
fn a_suspended_tenant_reserves_nothing() {
    let mut book = Book::default();
    book.grant(spec("g1", 10, 0, None), 0).unwrap();
    book.suspended = true;
    assert_eq!(book.reserve(cause(0), M(1), 9_000, 1), Err(LedgerError::Suspended));
}

#[test]
fn a_refund_is_a_linked_transfer_that_can_be_spent_again() {
    let mut book = Book::default();
    book.grant(spec("g1", 10, 0, None), 0).unwrap();
    let mut r = book.reserve(cause(0), M::from_credits(10), 9_000, 1).unwrap();
    let post = book.settle(&mut r, M::from_credits(10), 2).unwrap();
    assert!(book.refund(&post, M::ZERO, M::from_credits(11), 3).is_err());
    let refund = book.refund(&post, M::ZERO, M::from_credits(4), 3).unwrap();
    assert_eq!(refund.follows.as_ref(), Some(&post.id));
    assert_eq!(book.available(), M::from_credits(4));
    assert_eq!(book.broken(), None);
}

#[test]
fn credits_reserved_before_a_grant_expires_can_still_be_settled() {
    let mut book = Book::default();
    book.grant(spec("g1", 10, 0, Some(100)), 0).unwrap();
    let mut r = book.reserve(cause(0), M::from_credits(8), 9_000, 1).unwrap();
    let forfeit = book.roll(100);
    assert_eq!(forfeit[0].amount, M::from_credits(2), "only what no reservation holds expires");
    book.settle(&mut r, M::from_credits(8), 150).unwrap();
    assert_eq!(book.available(), M::ZERO);
    assert_eq!(book.broken(), None);
}

#[test]
fn prices_follow_the_seed_table() {
    let p = PriceTable::seed();
    assert_eq!(p.step("agent_spawn", 3), M::from_credits(11));
    assert_eq!(p.step("agent_invoke", 0), M::from_credits(10));
    assert_eq!(p.step("http_call", 0), M::from_credits(1));
    assert_eq!(p.cheapest(), M::from_credits(1));
    assert_eq!(M::from_cents_f64(0.0104), M(11));
}
