//! Epoch files: a random value in a small file beside the database, rewritten after every
//! committed change of one kind, by whichever process made it. Anything read from the database
//! after reading epoch `e` is current for as long as the file still holds `e`: every process
//! and every handle on the database can tell, with one `pread`, that a copy it keeps in memory
//! is still exact.
//!
//! The value is written after the commit and before the change is acknowledged, so once a
//! caller has its answer no process reuses a copy from before. A process that dies between
//! its commit and its epoch write leaves the others unaware of that (unacknowledged) change:
//! the caches built on this bound the age of their entries as well.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) type Epoch = [u8; 16];

#[derive(Debug)]
pub(crate) struct EpochFile {
    /// `None` for a database with no file of its own (in memory): nothing is cached then.
    file: Option<File>,
}

impl EpochFile {
    /// The epoch file `<db><suffix>` of the database file `db` (which must exist), created if
    /// needed. The name comes from the database's canonical path, so processes that open it
    /// through different paths (a symbolic link) share one epoch file. A process that could
    /// not write it would leave the others unaware of its changes: that is an error.
    pub(crate) fn open(db: &Path, suffix: &str) -> std::io::Result<EpochFile> {
        let name = db.as_os_str().to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
            return Ok(EpochFile { file: None });
        }
        let mut path = std::fs::canonicalize(db)?.into_os_string();
        path.push(suffix);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot open {}: {e}", Path::new(&path).display()),
                )
            })?;
        Ok(EpochFile { file: Some(file) })
    }

    /// The current epoch; `None` when there is no file or it cannot be read.
    pub(crate) fn read(&self) -> Option<Epoch> {
        let file = self.file.as_ref()?;
        let mut buf = [0u8; 16];
        // A new, empty file reads as all zeroes: a valid epoch until the first change.
        file.read_at(&mut buf, 0).ok().map(|_| buf)
    }

    /// Says that a change was committed.
    pub(crate) fn bump(&self) {
        if let Some(file) = &self.file {
            let epoch = *uuid::Uuid::new_v4().as_bytes();
            if let Err(e) = file.write_all_at(&epoch, 0) {
                // Other processes then keep their copies until their age runs out.
                tracing::error!(error = %e, "cannot write an epoch file");
            }
        }
    }
}
