//! Tokens found by the hash of their secret, kept in memory so a busy identity provider's
//! requests do not each read the token: the lookup was a read transaction of its own (three
//! file-lock system calls and a B-tree search), about a tenth of a `GET /Users/{id}`.
//!
//! Exact, across processes: every change to a token (any process, any instance on the same
//! database file) is followed, once committed, by a new random value in the epoch file beside
//! the database (`<database>-token-epoch`). A cached record is used only while the file still
//! holds the value read *before* the record was read from the database, so once the command
//! that revoked a token has returned, no process accepts it. Reading the epoch is one `pread`.
//! Entries also expire after [`MAX_AGE`], a safety net for a process that died between its
//! commit and its epoch write.

use crate::epoch::{Epoch, EpochFile};
use directory::store::TokenRecord;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest a cached token is used without reading it again.
const MAX_AGE: Duration = Duration::from_secs(5);
/// Most tokens kept; beyond it, expired entries are dropped, then everything.
const MAX_ENTRIES: usize = 4096;

#[derive(Debug)]
pub(crate) struct TokenCache {
    epoch: EpochFile,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

#[derive(Debug)]
struct Entry {
    epoch: Epoch,
    /// The data epoch the caller read before the record was read, if it gave one: every token
    /// change is a write that bumps it too, so while it holds, the token epoch need not be read.
    data: Option<Epoch>,
    at: Instant,
    record: TokenRecord,
}

impl TokenCache {
    /// The cache of the database at `db`, creating its epoch file if needed.
    pub(crate) fn open(db: &Path) -> std::io::Result<TokenCache> {
        Ok(TokenCache {
            epoch: EpochFile::open(db, "-token-epoch")?,
            entries: Mutex::default(),
        })
    }

    /// The current epoch; `None` when caching is off or the file cannot be read.
    fn epoch(&self) -> Option<Epoch> {
        self.epoch.read()
    }
    /// The record cached for `hash`, if it is still current: at `data`, the data epoch the
    /// caller has just read, or else at the token epoch, read now. Also returns the token
    /// epoch when it was read (for [`TokenCache::put`] after a miss).
    pub(crate) fn get(
        &self, hash: &[u8; 32], data: Option<Epoch>,
    ) -> (Option<TokenRecord>, Option<Epoch>) {
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = entries.get(hash)
                && data.is_some()
                && e.data == data
                && e.at.elapsed() < MAX_AGE
            {
                return (Some(e.record.clone()), None);
            }
        }
        let Some(epoch) = self.epoch() else {
            return (None, None);
        };
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let hit = entries
            .get(hash)
            .filter(|e| e.epoch == epoch && e.at.elapsed() < MAX_AGE)
            .map(|e| e.record.clone());
        (hit, Some(epoch))
    }

    /// Caches `record`, read from the database after `epoch` (and `data`) were read.
    pub(crate) fn put(&self, epoch: Epoch, data: Option<Epoch>, record: &TokenRecord) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.epoch == epoch && e.at.elapsed() < MAX_AGE);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            record.hash,
            Entry {
                epoch,
                data,
                at: Instant::now(),
                record: record.clone(),
            },
        );
    }

    /// Says that a token changed: call after the change is committed.
    pub(crate) fn changed(&self) {
        self.epoch.bump();
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
