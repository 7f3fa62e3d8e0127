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
//! and at most the configured number of answers; when full, everything is dropped and the
//! cache fills again.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use directory::OrgId;
use directory::store::ChangeMark;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The change mark a request read before anything else (when it authenticated), for the
/// answer it builds; kept in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Mark(pub ChangeMark);

/// Longest an answer is given again without being rebuilt.
const MAX_AGE: Duration = Duration::from_secs(5);
/// Largest body kept (a list page of a hundred users is larger and is not kept).
const MAX_BODY: usize = 64 * 1024;
/// Answers kept by default.
pub const DEFAULT_ENTRIES: usize = 16_384;

#[derive(Debug)]
pub struct ReadCache {
    capacity: usize,
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
        ReadCache {
            capacity,
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

    /// Keeps a 200 answer built from reads made after `mark` was read.
    pub fn put(&self, mark: ChangeMark, key: String, body: &Bytes, etag: Option<&HeaderValue>) {
        if self.capacity == 0 || body.len() > MAX_BODY {
            return;
        }
        let answer = Answer {
            at: Instant::now(),
            body: body.clone(),
            etag: etag.cloned(),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = (inner.mark != mark || inner.answers.len() >= self.capacity).then(|| {
            inner.mark = mark;
            std::mem::take(&mut inner.answers)
        });
        inner.answers.insert(key, answer);
        drop(inner);
        // Freed after the lock is released: thousands of answers take a while.
        drop(dropped);
    }
}

/// A 200 SCIM answer from its body and ETag.
pub fn respond(body: Bytes, etag: Option<HeaderValue>) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::response::SCIM_JSON),
    );
    if let Some(etag) = etag {
        h.insert(header::ETAG, etag);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> OrgId {
        OrgId(uuid::Uuid::new_v4())
    }

    #[test]
    fn an_answer_is_given_again_only_under_its_mark_and_key() {
        let cache = ReadCache::new(8);
        let (a, b) = (org(), org());
        let key = ReadCache::key(a, "http://h/scim/v2", "/Users/x");
        let body = Bytes::from_static(b"{\"id\":\"x\"}");
        cache.put(
            [1; 16],
            key.clone(),
            &body,
            Some(&HeaderValue::from_static("W/\"3\"")),
        );
        let hit = cache.get([1; 16], &key).expect("kept");
        assert_eq!(hit.headers()[header::ETAG], "W/\"3\"");
        assert_eq!(
            hit.headers()[header::CONTENT_TYPE],
            crate::response::SCIM_JSON
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
        // An answer under a new mark drops the old ones.
        cache.put(
            [2; 16],
            ReadCache::key(b, "http://h/scim/v2", "/Users/y"),
            &body,
            None,
        );
        assert!(cache.get([1; 16], &key).is_none());
    }

    #[test]
    fn nothing_is_kept_beyond_the_limits() {
        let cache = ReadCache::new(2);
        let body = Bytes::from_static(b"{}");
        let keys: Vec<String> = (0..3).map(|i| format!("k{i}")).collect();
        for k in &keys {
            cache.put([0; 16], k.clone(), &body, None);
        }
        // The third answer found the cache full: it starts afresh.
        assert!(cache.get([0; 16], &keys[0]).is_none());
        assert!(cache.get([0; 16], &keys[2]).is_some());
        let big = Bytes::from(vec![b' '; MAX_BODY + 1]);
        cache.put([0; 16], "big".into(), &big, None);
        assert!(cache.get([0; 16], "big").is_none());
        let off = ReadCache::new(0);
        off.put([0; 16], "k".into(), &body, None);
        assert!(off.get([0; 16], "k").is_none());
    }
}
