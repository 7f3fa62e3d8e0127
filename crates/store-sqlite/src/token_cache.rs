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

use directory::store::TokenRecord;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest a cached token is used without reading it again.
const MAX_AGE: Duration = Duration::from_secs(5);
/// Most tokens kept; beyond it, expired entries are dropped, then everything.
const MAX_ENTRIES: usize = 4096;

type Epoch = [u8; 16];

#[derive(Debug)]
pub(crate) struct TokenCache {
    /// `None` for a database with no file of its own (in memory): nothing is cached.
    file: Option<File>,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

#[derive(Debug)]
struct Entry {
    epoch: Epoch,
    at: Instant,
    record: TokenRecord,
}

impl TokenCache {
    /// The cache of the database at `db`, creating its epoch file if needed.
    pub(crate) fn open(db: &Path) -> TokenCache {
        let name = db.as_os_str().to_string_lossy();
        let file = if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
            None
        } else {
            let mut path = db.as_os_str().to_owned();
            path.push("-token-epoch");
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .inspect_err(|e| {
                    tracing::warn!(error = %e, path = %Path::new(&path).display(), "no token cache: cannot open its epoch file");
                })
                .ok()
        };
        TokenCache {
            file,
            entries: Mutex::default(),
        }
    }

    /// The current epoch; `None` when caching is off or the file cannot be read.
    pub(crate) fn epoch(&self) -> Option<Epoch> {
        let file = self.file.as_ref()?;
        let mut buf = [0u8; 16];
        // A new, empty file reads as all zeroes: a valid epoch until the first change.
        file.read_at(&mut buf, 0).ok().map(|_| buf)
    }

    /// The record cached for `hash`, if it is still current at `epoch`.
    pub(crate) fn get(&self, hash: &[u8; 32], epoch: Epoch) -> Option<TokenRecord> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let e = entries.get(hash)?;
        (e.epoch == epoch && e.at.elapsed() < MAX_AGE).then(|| e.record.clone())
    }

    /// Caches `record`, read from the database after `epoch` was read.
    pub(crate) fn put(&self, epoch: Epoch, record: &TokenRecord) {
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
                at: Instant::now(),
                record: record.clone(),
            },
        );
    }

    /// Says that a token changed: call after the change is committed.
    pub(crate) fn changed(&self) {
        if let Some(file) = &self.file {
            let epoch = *uuid::Uuid::new_v4().as_bytes();
            if let Err(e) = file.write_all_at(&epoch, 0) {
                // Other processes then keep their copy until it is MAX_AGE old.
                tracing::error!(error = %e, "cannot write the token epoch file");
            }
        }
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
