use super::*;
use crate::db::Durability;
use aos_core::credits::GrantKind;

#[tokio::test]
async fn a_book_written_before_the_hot_columns_opens_with_its_balances_and_grants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = TenantId::parse("ten_old").expect("tenant");
    let mut book = Book::default();
    let spec = GrantSpec {
        id: "g1".into(),
        kind: GrantKind::Paid,
        amount: Millicredits(50_000),
        effective_ms: 0,
        expires_ms: Some(10_000_000),
        priority: 0,
    };
    book.grant(spec, 1_000).expect("grant");
    let cause = Cause { run: "run_1".into(), step: 0, attempt: 0 };
    book.reserve(cause, Millicredits(7_000), 9_000, 1_000).expect("reserve");
    // The layout before the hot columns: the whole book as JSON.
    {
        let c = Connection::open(dir.path().join("aos.db")).expect("open");
        c.execute_batch("CREATE TABLE credit_books (tenant TEXT PRIMARY KEY, book TEXT NOT NULL) WITHOUT ROWID;")
            .expect("old table");
        c.execute(
            "INSERT INTO credit_books (tenant, book) VALUES (?1, ?2)",
            params![tenant.as_str(), serde_json::to_string(&book).expect("json")],
        )
        .expect("old row");
    }
    let db = Db::open(dir.path(), Durability::Full).expect("open and migrate");
    let credits = EmbeddedCredits::new(db);
    let read = credits.book(&tenant, 1_000).await.expect("book");
    assert_eq!(read, book);
    assert_eq!(read.reserved(), Millicredits(7_000));
    assert_eq!(read.available(), Millicredits(43_000));
    // And it goes on: a step's reservation on the migrated book changes its balances only.
    let more = Cause { run: "run_1".into(), step: 1, attempt: 0 };
    credits.reserve(&tenant, &more, Millicredits(3_000), 9_000, 2_000).await.expect("reserve");
    let after = credits.book(&tenant, 2_000).await.expect("book");
    assert_eq!(after.available(), Millicredits(40_000));
    assert_eq!(after.grants, book.grants);
}

#[tokio::test]
async fn a_grant_due_later_takes_effect_after_reservations_made_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = TenantId::parse("ten_later").expect("tenant");
    let credits = EmbeddedCredits::new(Db::open(dir.path(), Durability::Full).expect("open"));
    let grant = |id: &str, amount, effective_ms, expires_ms| GrantSpec {
        id: id.into(),
        kind: GrantKind::Paid,
        amount: Millicredits(amount),
        effective_ms,
        expires_ms,
        priority: 0,
    };
    let cause = |step| Cause { run: "run_later".into(), step, attempt: 0 };
    credits.grant(&tenant, &grant("now", 5_000, 0, Some(40_000)), &[], 1_000).await.expect("grant now");
    credits.grant(&tenant, &grant("later", 10_000, 15_000, None), &[], 1_000).await.expect("grant later");
    // Reservations before the later grant is due change the balances only.
    credits.reserve(&tenant, &cause(0), Millicredits(1_000), 90_000, 2_000).await.expect("reserve");
    // Once it is due, a reservation sees it: 4,000 of the first grant and all of the second.
    let t = credits.reserve(&tenant, &cause(1), Millicredits(13_000), 90_000, 20_000).await.expect("reserve");
    assert_eq!(t.amount, Millicredits(13_000));
    credits.settle(&tenant, &t.id, Millicredits(500), 21_000).await.expect("settle");
    // And the first grant's expiry forfeits what is left of it at the next step after it.
    let book = credits.book(&tenant, 21_000).await.expect("book");
    assert_eq!(book.available(), Millicredits(13_500));
    credits.reserve(&tenant, &cause(2), Millicredits(1), 90_000, 41_000).await.expect("reserve");
    let book = credits.book(&tenant, 41_000).await.expect("book");
    assert_eq!(book.balance(aos_core::credits::Account::Expired).credits_posted, Millicredits(4_500));
}

#[tokio::test]
async fn a_book_whose_next_change_was_lost_gets_it_back_when_the_database_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = TenantId::parse("ten_lost").expect("tenant");
    {
        let credits = EmbeddedCredits::new(Db::open(dir.path(), Durability::Full).expect("open"));
        let spec = GrantSpec {
            id: "later".into(),
            kind: GrantKind::Paid,
            amount: Millicredits(10_000),
            effective_ms: 15_000,
            expires_ms: None,
            priority: 0,
        };
        credits.grant(&tenant, &spec, &[], 1_000).await.expect("grant");
    }
    // What an earlier version's reservation left behind: "never" with a grant to come.
    Connection::open(dir.path().join("aos.db"))
        .expect("open")
        .execute("UPDATE credit_books SET next_change_ms = ?1", [i64::MAX])
        .expect("lose it");
    let credits = EmbeddedCredits::new(Db::open(dir.path(), Durability::Full).expect("reopen"));
    let cause = Cause { run: "run_lost".into(), step: 0, attempt: 0 };
    let t = credits.reserve(&tenant, &cause, Millicredits(10_000), 90_000, 20_000).await.expect("reserve");
    assert_eq!(t.amount, Millicredits(10_000));
}
