//! Wall-clock time and unique ids, in one place so that tests and adapters agree.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// A new time-ordered unique suffix (UUID v7 as 32 lower-case hex digits).
pub fn unique_suffix() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
