//! Paging of list routes: one rule for every list, on both backends.
//!
//! A page asks for `limit` items (1–100, 20 when not given) strictly after a cursor;
//! the use case asks its store for one item more than it returns, so a page carries a
//! next cursor exactly when another page exists.

/// Items on a page when the request names no limit.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest page.
pub const MAX_LIMIT: u32 = 100;

/// A validated page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl Default for PageLimit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

/// One page of a list and the cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Pass this as the cursor (`before`) for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl PageLimit {
    /// The requested size, or the default. Fails, saying the bounds, outside 1..=100.
    pub fn new(requested: Option<u32>) -> Result<Self, String> {
        match requested {
            None => Ok(Self(DEFAULT_LIMIT)),
            Some(n @ 1..=MAX_LIMIT) => Ok(Self(n)),
            Some(n) => {
                Err(format!("limit must be between 1 and {MAX_LIMIT} (got {n}); leave it out for {DEFAULT_LIMIT}"))
            }
        }
    }

    /// The page size.
    pub fn get(self) -> u32 {
        self.0
    }

    /// What to ask the store for: one more than the page, to know whether more exist.
    pub fn probe(self) -> u32 {
        self.0 + 1
    }

    /// Cuts a store's answer (asked with [`Self::probe`]) to the page, and the cursor of
    /// the next page (the last item's) when the store had more.
    pub fn cut<T>(self, mut items: Vec<T>, cursor: impl Fn(&T) -> String) -> Page<T> {
        let limit = self.0 as usize;
        if items.len() <= limit {
            return Page { items, next: None };
        }
        items.truncate(limit);
        let next = items.last().map(cursor);
        Page { items, next }
    }
}

/// The order key of an item listed newest first by creation time: later items sort
/// higher as plain strings (`<created_ms, 13 digits>_<id>`), ties broken by id.
pub fn time_cursor(created_at_ms: u64, id: &str) -> String {
    format!("{created_at_ms:013}_{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_limit_is_the_default_and_out_of_range_limits_are_refused() {
        assert_eq!(PageLimit::new(None).map(PageLimit::get), Ok(20));
        assert_eq!(PageLimit::new(Some(1)).map(PageLimit::get), Ok(1));
        assert_eq!(PageLimit::new(Some(100)).map(PageLimit::get), Ok(100));
        assert!(PageLimit::new(Some(0)).expect_err("0").contains("between 1 and 100"));
        assert!(PageLimit::new(Some(101)).is_err());
    }

    #[test]
    fn a_page_has_a_next_cursor_only_when_the_store_had_more() {
        let limit = PageLimit::new(Some(2)).expect("limit");
        assert_eq!(limit.cut(vec![1, 2], ToString::to_string), Page { items: vec![1, 2], next: None });
        assert_eq!(
            limit.cut(vec![1, 2, 3], ToString::to_string),
            Page { items: vec![1, 2], next: Some("2".to_owned()) }
        );
    }

    #[test]
    fn time_cursors_sort_by_time_then_id() {
        assert!(time_cursor(999, "apr_b") < time_cursor(1000, "apr_a"));
        assert!(time_cursor(1000, "apr_a") < time_cursor(1000, "apr_b"));
    }
}
