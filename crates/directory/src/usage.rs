//! How often a credential's use is written down. A SCIM token or an application key used by
//! many requests a second would otherwise cost a write each; its `last_used` is written when
//! it is older than [`TOUCH_INTERVAL`], once per instance: each instance remembers when it
//! last wrote each credential's use, since the record a request was checked with may come from
//! a cache and show an older `last_used` than this instance wrote since.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use time::OffsetDateTime;

/// How stale a credential's recorded `last_used` may get before a request writes it again.
pub const TOUCH_INTERVAL: time::Duration = time::Duration::seconds(60);

/// When this instance last wrote each credential's use.
#[derive(Debug)]
pub struct UseThrottle<K> {
    written: Mutex<HashMap<K, OffsetDateTime>>,
}

impl<K> Default for UseThrottle<K> {
    fn default() -> Self {
        UseThrottle {
            written: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Copy> UseThrottle<K> {
    /// Whether a use of `key` at `now` is to be written, its record saying it was last used
    /// at `recorded`; when it is, `now` is remembered as written.
    pub fn due(&self, key: K, recorded: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        match written.get(&key).copied().or(recorded) {
            Some(t) if now - t < TOUCH_INTERVAL => false,
            _ => {
                written.insert(key, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_use_is_due_once_a_minute_per_key_and_the_instance_trusts_its_own_writes() {
        let t0 = datetime!(2026-01-05 09:00 UTC);
        let throttle = UseThrottle::default();
        assert!(throttle.due(1, None, t0), "never used");
        assert!(!throttle.due(1, None, t0 + time::Duration::seconds(59)));
        assert!(throttle.due(1, None, t0 + TOUCH_INTERVAL), "a minute on");
        // A cached record older than this instance's own write does not make it due.
        let later = t0 + TOUCH_INTERVAL + time::Duration::seconds(30);
        assert!(!throttle.due(1, Some(t0), later));
        // Another key has its own minute; a fresh record is not due.
        assert!(!throttle.due(2, Some(later), later + time::Duration::seconds(1)));
        assert!(throttle.due(2, Some(t0), later));
    }
}
