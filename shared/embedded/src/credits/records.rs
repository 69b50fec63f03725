//! How the ledger is stored: a tenant's book (its balances and suspension as columns of
//! `credit_books`, its grants as JSON) and its transfers (one row of `credit_transfers`
//! each), read and written inside the caller's transaction. The rules live in
//! [`Book`]; the parent module decides what to write.

use crate::db::{backend, exec, qrow};
use aos_core::credits::{Balance, Book, Millicredits, PendingState, Transfer};
use aos_runtime::ports::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::LazyLock;

pub(super) fn corrupt(e: &serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt ledger record: {e}"))
}

/// A book's grants: the part of it that only grant events change, kept as JSON. Its
/// balances and whether it is suspended are columns of their own (see [`HOT`]), the
/// only part a step reads and writes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Grants {
    grants: Vec<aos_core::credits::Grant>,
    allocated: Millicredits,
}

/// The four sums of each account, as columns of `credit_books` (account by account, in
/// [`Account::ALL`] order; `u64` stored bit for bit in SQLite's `i64`), then whether the
/// tenant is suspended and when its grants next change: what a step needs of a book,
/// read and written without touching its grants.
pub(crate) const HOT: [&str; 18] = [
    "credits_debits_posted",
    "credits_credits_posted",
    "credits_debits_pending",
    "credits_credits_pending",
    "grants_debits_posted",
    "grants_credits_posted",
    "grants_debits_pending",
    "grants_credits_pending",
    "spent_debits_posted",
    "spent_credits_posted",
    "spent_debits_pending",
    "spent_credits_pending",
    "expired_debits_posted",
    "expired_credits_posted",
    "expired_debits_pending",
    "expired_credits_pending",
    "suspended",
    "next_change_ms",
];

pub(super) static SELECT_HOT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM credit_books WHERE tenant = ?1", HOT.join(", ")));
pub(super) static SELECT_BOOK: LazyLock<String> =
    LazyLock::new(|| format!("SELECT book, {} FROM credit_books WHERE tenant = ?1", HOT.join(", ")));
/// The hot columns an operation on balances writes: all but `next_change_ms`, which only
/// grant events move (a book loaded without its grants cannot tell when they next change).
const BALANCES: usize = HOT.len() - 1;
pub(super) static UPDATE_HOT: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = HOT[..BALANCES].iter().enumerate().map(|(i, c)| format!("{c} = ?{}", i + 2)).collect();
    format!("UPDATE credit_books SET {} WHERE tenant = ?1", set.join(", "))
});
pub(super) static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let marks: Vec<String> = (0..HOT.len()).map(|i| format!("?{}", i + 3)).collect();
    let set: Vec<String> = HOT.iter().map(|c| format!("{c} = excluded.{c}")).collect();
    format!(
        "INSERT INTO credit_books (tenant, book, {}) VALUES (?1, ?2, {}) \
         ON CONFLICT (tenant) DO UPDATE SET book = excluded.book, {}",
        HOT.join(", "),
        marks.join(", "),
        set.join(", ")
    )
});

/// The hot columns' values of `book` (see [`HOT`]).
#[allow(clippy::cast_possible_wrap)]
pub(super) fn hot_values(book: &Book) -> [i64; 18] {
    let mut v = [0i64; 18];
    for (i, b) in book.balances.iter().enumerate() {
        let sums = [b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending];
        for (j, m) in sums.into_iter().enumerate() {
            v[i * 4 + j] = m.0 as i64;
        }
    }
    v[16] = i64::from(book.suspended);
    v[17] = book.next_change_ms().min(i64::MAX as u64) as i64;
    v
}

/// A book's balances and suspension read from its hot columns starting at column `at`
/// (its grants empty), and when its grants next change.
#[allow(clippy::cast_sign_loss)]
pub(super) fn from_hot(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<(Book, u64)> {
    let mut book = Book::default();
    for (i, b) in book.balances.iter_mut().enumerate() {
        let col = |j: usize| r.get::<_, i64>(at + i * 4 + j).map(|v| Millicredits(v as u64));
        *b = Balance {
            debits_posted: col(0)?,
            credits_posted: col(1)?,
            debits_pending: col(2)?,
            credits_pending: col(3)?,
        };
    }
    book.suspended = r.get::<_, i64>(at + 16)? != 0;
    Ok((book, r.get::<_, i64>(at + 17)? as u64))
}

/// The tenant's book without its grants, and when they next change ([`u64::MAX`]:
/// never); `None` before its first grant.
pub(super) fn load_hot(c: &Connection, tenant: &str) -> Result<Option<(Book, u64)>, StoreError> {
    qrow(c, &SELECT_HOT, params![tenant], |r| from_hot(r, 0)).optional().map_err(|e| backend(&e))
}

/// Writes `book`'s balances and suspension (the book exists; its grants are unchanged,
/// and so is when they next change).
pub(super) fn store_hot(c: &Connection, tenant: &str, book: &Book) -> Result<(), StoreError> {
    let v = hot_values(book);
    let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(1 + BALANCES);
    args.push(&tenant);
    args.extend(v[..BALANCES].iter().map(|x| x as &dyn rusqlite::ToSql));
    exec(c, &UPDATE_HOT, args.as_slice()).map_err(|e| backend(&e))?;
    Ok(())
}

/// The whole book: its grants from the JSON, the rest from the hot columns.
pub(super) fn read_book(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Book, StoreError>> {
    read_book_at(r, 0)
}

/// [`read_book`] from column `at` on.
fn read_book_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Result<Book, StoreError>> {
    let body: String = r.get(at)?;
    let (mut book, _) = from_hot(r, at + 1)?;
    Ok(serde_json::from_str::<Grants>(&body).map_err(|e| corrupt(&e)).map(|g| {
        book.grants = g.grants;
        book.allocated = g.allocated;
        book
    }))
}

pub(super) fn load_book(c: &Connection, tenant: &str) -> Result<Book, StoreError> {
    qrow(c, &SELECT_BOOK, params![tenant], read_book)
        .optional()
        .map_err(|e| backend(&e))?
        .unwrap_or_else(|| Ok(Book::default()))
}

pub(super) fn store_book(c: &Connection, tenant: &str, book: &Book) -> Result<(), StoreError> {
    let body = serde_json::to_string(&Grants { grants: book.grants.clone(), allocated: book.allocated })
        .map_err(|e| corrupt(&e))?;
    let v = hot_values(book);
    let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(2 + HOT.len());
    args.push(&tenant);
    args.push(&body);
    args.extend(v.iter().map(|x| x as &dyn rusqlite::ToSql));
    exec(c, &UPSERT, args.as_slice()).map_err(|e| backend(&e))?;
    Ok(())
}

/// Brings `credit_books` rows written before the hot columns existed (every sum in the
/// JSON) up to them. Run when the database opens.
pub(crate) fn migrate_books(c: &Connection) -> rusqlite::Result<()> {
    let old: Vec<(String, String)> = {
        let mut st = c.prepare("SELECT tenant, book FROM credit_books WHERE next_change_ms IS NULL")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (tenant, body) in old {
        let book: Book =
            serde_json::from_str(&body).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        store_book(c, &tenant, &book).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.to_string().into()))?;
    }
    // Earlier versions let a step's reservation overwrite `next_change_ms` with "never"
    // while a grant was still to take effect or expire: set it again from the grants.
    let never: Vec<(String, Book)> = {
        let mut st =
            c.prepare(&format!("SELECT tenant, book, {} FROM credit_books WHERE next_change_ms = ?1", HOT.join(", ")))?;
        let rows = st.query_map([i64::MAX], |r| Ok((r.get::<_, String>(0)?, read_book_at(r, 1)?)))?;
        rows.collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter_map(|(t, b)| b.ok().filter(|b| b.next_change_ms() != u64::MAX).map(|b| (t, b)))
            .collect()
    };
    for (tenant, book) in never {
        store_book(c, &tenant, &book).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.to_string().into()))?;
    }
    Ok(())
}

/// A transfer from its row's `body` and `state` (columns `at` and `at + 1`): the body is
/// the transfer as written, the column a reservation's state since (its resolution
/// changes only the column).
pub(super) fn read_transfer(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Result<Transfer, StoreError>> {
    let body: String = r.get(at)?;
    let state: Option<String> = r.get(at + 1)?;
    Ok(serde_json::from_str::<Transfer>(&body).map_err(|e| corrupt(&e)).map(|mut t| {
        if t.state.is_some() {
            t.state = state.as_deref().and_then(PendingState::parse).or(t.state);
        }
        t
    }))
}

pub(super) fn load_transfer(c: &Connection, tenant: &str, id: &str) -> Result<Option<Transfer>, StoreError> {
    qrow(c, "SELECT body, state FROM credit_transfers WHERE tenant = ?1 AND id = ?2", params![tenant, id], |r| {
        read_transfer(r, 0)
    })
    .optional()
    .map_err(|e| backend(&e))?
    .transpose()
}

pub(super) fn insert_transfer(c: &Connection, tenant: &str, t: &Transfer) -> Result<(), StoreError> {
    let body = serde_json::to_string(t).map_err(|e| corrupt(&e))?;
    exec(
        c,
        "INSERT INTO credit_transfers (tenant, id, state, timeout_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant, t.id.as_str(), t.state.map(PendingState::as_str), t.timeout_ms, body],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
}

/// Records a reservation's resolution: its `state` column (its body stays as written),
/// only while the row is still pending. Answers whether it was (a reservation resolves
/// once).
pub(super) fn update_pending(c: &Connection, tenant: &str, t: &Transfer) -> Result<bool, StoreError> {
    let moved = exec(
        c,
        "UPDATE credit_transfers SET state = ?3 WHERE tenant = ?1 AND id = ?2 AND state = 'pending'",
        params![tenant, t.id.as_str(), t.state.map(PendingState::as_str)],
    )
    .map_err(|e| backend(&e))?;
    Ok(moved == 1)
}

/// Inserts `rows` (one or two) in one statement, each unless its id exists; answers how
/// many were inserted.
pub(super) fn insert_new(c: &Connection, tenant: &str, rows: &[Transfer]) -> Result<usize, StoreError> {
    const ONE: &str = "INSERT INTO credit_transfers (tenant, id, state, timeout_ms, body) VALUES (?1, ?2, ?3, ?4, ?5) \
                       ON CONFLICT (tenant, id) DO NOTHING";
    const TWO: &str = "INSERT INTO credit_transfers (tenant, id, state, timeout_ms, body) \
                       VALUES (?1, ?2, ?3, ?4, ?5), (?1, ?6, ?7, ?8, ?9) ON CONFLICT (tenant, id) DO NOTHING";
    let sql = match rows.len() {
        0 => return Ok(0),
        1 => ONE,
        2 => TWO,
        n => return Err(StoreError::Backend(format!("insert_new takes one or two transfers, not {n}"))),
    };
    let bodies =
        rows.iter().map(|t| serde_json::to_string(t).map_err(|e| corrupt(&e))).collect::<Result<Vec<_>, _>>()?;
    let states: Vec<Option<&str>> = rows.iter().map(|t| t.state.map(PendingState::as_str)).collect();
    let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(9);
    args.push(&tenant);
    for (i, t) in rows.iter().enumerate() {
        args.extend([&t.id.0 as &dyn rusqlite::ToSql, &states[i], &t.timeout_ms, &bodies[i]]);
    }
    exec(c, sql, args.as_slice()).map_err(|e| backend(&e))
}
