//! Online backup and restore of a SQLite deployment (SQLite's backup API). A backup copies
//! every page in one step under a read transaction, so it is one consistent snapshot, taken
//! while `serve` keeps running (WAL: readers never block the writer); the copy is checked with
//! `PRAGMA integrity_check` before it is reported done.

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// What a backup or restore produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub bytes: u64,
    /// The highest migration the copy holds.
    pub schema_version: i64,
}

fn fail(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// `PRAGMA integrity_check` of the database at `path`: `Ok(())` when it says `ok`.
pub fn integrity_check(path: &Path) -> Result<(), String> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| fail("opening", e))?;
    let result: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| fail("integrity check", e))?;
    if result == "ok" {
        Ok(())
    } else {
        Err(format!("integrity check of {}: {result}", path.display()))
    }
}

fn schema_version(path: &Path) -> Result<i64, String> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| fail("opening", e))?;
    c.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
        r.get(0)
    })
    .map_err(|_| format!("{} is not a scimd database", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<Copied, String> {
    if to.exists() {
        return Err(format!(
            "{} exists already; choose a new path",
            to.display()
        ));
    }
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| fail("opening the source", e))?;
    // The copy holds everything the database does: private from its first byte (SQLite gives
    // its journal the same mode).
    crate::files::create_private(to).map_err(|e| fail("creating the copy", e))?;
    let mut dst = Connection::open(to).map_err(|e| fail("creating the copy", e))?;
    {
        let backup = Backup::new(&src, &mut dst).map_err(|e| fail("starting the copy", e))?;
        // Every page in one step (-1): one consistent snapshot. Busy or locked: try again.
        let mut tries = 0;
        loop {
            match backup.step(-1).map_err(|e| fail("copying", e))? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => return Err(format!("copying: gave up ({other:?})")),
            }
        }
    }
    // A standalone file: no WAL beside it.
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(|e| fail("finishing the copy", e))?;
    drop(dst);
    integrity_check(to)?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(Copied {
        bytes,
        schema_version: schema_version(to)?,
    })
}

/// Copies the live database at `db` to a new file `to`.
pub fn backup(db: &Path, to: &Path) -> Result<Copied, String> {
    schema_version(db)?;
    copy(db, to)
}

/// Checks a backup and writes it as the database `to` (which must not exist: restore into a
/// new path, then point `serve --database` at it).
pub fn restore(backup_file: &Path, to: &Path) -> Result<Copied, String> {
    integrity_check(backup_file)?;
    schema_version(backup_file)?;
    copy(backup_file, to)
}
