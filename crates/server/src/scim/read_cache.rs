//! Answers to SCIM reads (`GET /Users/{id}`, `GET /Users?filter=...`, and the same for groups)
//! kept in memory and given again, byte for byte, while nothing they could depend on has
//! changed: the way directory servers keep an entry cache in front of their database.
//!
//! Exact, across processes: an answer is stored with the store's change mark read *before* the
//! reads it was built from, and given again only while the store still returns that mark (see
//! `Store::change_mark`: on SQLite, a pread of the data epoch file that every committed change
//! rewrites before it is acknowledged). Any change to any resource of the database makes every
//! stored answer stale at once, so this helps reads that repeat between writes; identity
//! providers' write cycles always take the uncached path. Stores that cannot give a change
//! mark cheaply (PostgreSQL) are never cached for.
//!
//! Answers also expire after [`MAX_AGE`], as the token cache does: a safety net for a process
//! that died between a commit and its epoch write. Only bodies up to [`MAX_BODY`] are kept,
//! and at most the configured number of answers and [`MAX_BYTES`] in all; when full,
//! everything is dropped and the cache fills again.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use directory::OrgId;
use directory::store::ChangeMark;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest an answer is given again without being rebuilt.
const MAX_AGE: Duration = Duration::from_secs(5);
/// Largest body kept (a list page of a hundred users is larger and is not kept).
const MAX_BODY: usize = 64 * 1024;
/// Most bytes of keys and bodies kept in all.
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Answers kept by default.
pub const DEFAULT_ENTRIES: usize = 16_384;

#[derive(Debug)]
pub struct ReadCache {
    capacity: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
    /// Answers given again, and answers built for lack of one (`/metrics`).
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    /// The mark every kept answer was built under; a new one drops them all.
    mark: ChangeMark,
    answers: HashMap<String, Answer>,
    /// Bytes of the keys and bodies in `answers`.
    bytes: usize,
}

#[derive(Debug)]
struct Answer {
    at: Instant,
    body: Bytes,
    etag: Option<HeaderValue>,
}

impl ReadCache {
    /// A cache of at most `capacity` answers; 0 keeps none.
    pub fn new(capacity: usize) -> ReadCache {
        ReadCache::with_limits(capacity, MAX_BYTES)
    }

    fn with_limits(capacity: usize, max_bytes: usize) -> ReadCache {
        ReadCache {
            capacity,
            max_bytes,
            inner: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether anything is ever kept.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// What an answer is kept under: the organisation, the base URL its links are built on,
    /// and the request's path and query as sent.
    pub fn key(org: OrgId, base: &str, path_and_query: &str) -> String {
        let mut key = String::with_capacity(36 + base.len() + path_and_query.len() + 2);
        key.push_str(
            org.0
                .as_hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        );
        key.push(' ');
        key.push_str(base);
        key.push(' ');
        key.push_str(path_and_query);
        key
    }

    /// The answer kept for `key`, if it was built under `mark` and is young enough.
    pub fn get(&self, mark: ChangeMark, key: &str) -> Option<Response> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let kept = inner
            .answers
            .get(key)
            .filter(|a| inner.mark == mark && a.at.elapsed() < MAX_AGE)
            .map(|a| (a.body.clone(), a.etag.clone()));
        drop(inner);
        let counter = if kept.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        kept.map(|(body, etag)| respond(body, etag))
    }

    /// Answers given again and answers built, so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Keeps a 200 answer built from reads made after `mark` was read. `current` tells the
    /// mark now, asked only when `mark` is not the one the kept answers were built under: an
    /// answer built before a change is not kept, and does not drop the newer ones.
    pub fn put(
        &self, mark: ChangeMark, current: impl FnOnce() -> Option<ChangeMark>, key: String,
        body: &Bytes, etag: Option<&HeaderValue>,
    ) {
        if self.capacity == 0 || body.len() > MAX_BODY {
            return;
        }
        let size = key.len() + body.len();
        let answer = Answer {
            at: Instant::now(),
            body: body.clone(),
            etag: etag.cloned(),
        };
        let stale = self.inner.lock().unwrap_or_else(|e| e.into_inner()).mark != mark
            && current() != Some(mark);
        if stale {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let full = inner.answers.len() >= self.capacity || inner.bytes + size > self.max_bytes;
        let dropped = (inner.mark != mark || full).then(|| {
            inner.mark = mark;
            inner.bytes = 0;
            std::mem::take(&mut inner.answers)
        });
        inner.bytes += size;
        if let Some(old) = inner.answers.insert(key, answer) {
            // The same key again: its earlier body goes.
            inner.bytes -= old.body.len() + (size - body.len());
        }
        drop(inner);
        // Freed after the lock is released: thousands of answers take a while.
        drop(dropped);
    }
}

/// A 200 SCIM answer from its body and ETag.
fn respond(body: Bytes, etag: Option<HeaderValue>) -> Response {
    let mut r = crate::scim::response::with_body(StatusCode::OK, body);
    if let Some(etag) = etag {
        r.headers_mut().insert(header::ETAG, etag);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrgId {
        OrgId(uuid::Uuid::new_v4())
    }

    /// Puts with `mark` also the mark now.
    fn put(cache: &ReadCache, mark: u8, key: &str, body: &Bytes) {
        cache.put([mark; 16], || Some([mark; 16]), key.into(), body, None);
    }

    #[test]
    fn an_answer_is_given_again_only_under_its_mark_and_key() {
        let cache = ReadCache::new(8);
        let (a, b) = (org(), org());
        let key = ReadCache::key(a, "http://h/scim/v2", "/Users/x");
        let body = Bytes::from_static(b"{\"id\":\"x\"}");
        let etag = HeaderValue::from_static("W/\"3\"");
        cache.put([1; 16], || Some([1; 16]), key.clone(), &body, Some(&etag));
        let hit = cache.get([1; 16], &key).expect("kept");
        assert_eq!(hit.headers()[header::ETAG], "W/\"3\"");
        assert_eq!(
            hit.headers()[header::CONTENT_TYPE],
            crate::scim::response::SCIM_JSON
        );
        assert!(cache.get([2; 16], &key).is_none(), "another mark");
        assert_eq!(cache.counts(), (1, 1));
        for other in [
            ReadCache::key(b, "http://h/scim/v2", "/Users/x"),
            ReadCache::key(a, "http://other/scim/v2", "/Users/x"),
            ReadCache::key(a, "http://h/scim/v2", "/Users/x?attributes=id"),
        ] {
            assert!(cache.get([1; 16], &other).is_none(), "{other}");
        }
        // An answer built before a change is not kept, and leaves the kept ones alone...
        cache.put([0; 16], || Some([1; 16]), "late".into(), &body, None);
        assert!(cache.get([0; 16], "late").is_none());
        assert!(cache.get([1; 16], &key).is_some());
        // ...while an answer under the new mark drops them.
        put(&cache, 2, "new", &body);
        assert!(cache.get([1; 16], &key).is_none());
        assert!(cache.get([2; 16], "new").is_some());
    }

    #[test]
    fn nothing_is_kept_beyond_the_limits() {
        let cache = ReadCache::new(2);
        let body = Bytes::from_static(b"{}");
        for k in ["k0", "k1", "k2"] {
            put(&cache, 0, k, &body);
        }
        // The third answer found the cache full: it starts afresh.
        assert!(cache.get([0; 16], "k0").is_none());
        assert!(cache.get([0; 16], "k2").is_some());
        let big = Bytes::from(vec![b' '; MAX_BODY + 1]);
        put(&cache, 0, "big", &big);
        assert!(cache.get([0; 16], "big").is_none());
        let off = ReadCache::new(0);
        put(&off, 0, "k", &body);
        assert!(off.get([0; 16], "k").is_none());
        // Bytes: two answers of 10 fit in 30 (keys count), a third starts afresh; the same key
        // again replaces its body in the count.
        let by_size = ReadCache::with_limits(100, 30);
        let ten = Bytes::from_static(b"0123456789");
        for _ in 0..5 {
            put(&by_size, 0, "a", &ten);
        }
        put(&by_size, 0, "b", &ten);
        assert!(
            by_size.get([0; 16], "a").is_some(),
            "replacing did not grow the count"
        );
        put(&by_size, 0, "c", &ten);
        assert!(by_size.get([0; 16], "a").is_none());
        assert!(by_size.get([0; 16], "c").is_some());
    }
}
