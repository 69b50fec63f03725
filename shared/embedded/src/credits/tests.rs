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
