//! Online backup and restore of a SQLite deployment (SQLite's backup API). A backup copies
//! every page in one step under a read transaction, so it is one consistent snapshot, taken
//! while `serve` keeps running (WAL: readers never block the writer); the copy is checked with
//! `PRAGMA integrity_check` before it is reported done. The copy is written beside its
//! destination as `<destination>.partial` and renamed into place only once checked, so a copy
//! that was interrupted (killed, out of space) never looks like a finished one; the next copy
//! to the same path replaces what it left.

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

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Where the copy to `to` is written until it is checked.
pub fn partial_path(to: &Path) -> std::path::PathBuf {
    beside(to, ".partial")
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
    let partial = partial_path(to);
    let journal = beside(&partial, "-journal");
    for stale in [&partial, &journal] {
        match std::fs::remove_file(stale) {
            Ok(()) => tracing::warn!(
                file = %stale.display(),
                "removed what an interrupted copy left; copying again"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(&format!("removing {}", stale.display()), e)),
        }
    }
    let result = copy_into(&src, &partial).and_then(|()| {
        integrity_check(&partial)?;
        finish(&partial, to)
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        let _ = std::fs::remove_file(&journal);
        return Err(e);
    }
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(Copied {
        bytes,
        schema_version: schema_version(to)?,
    })
}

/// Makes the checked copy durable, then gives it its name: a crash leaves either no file at
/// `to` or the whole copy.
fn finish(partial: &Path, to: &Path) -> Result<(), String> {
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| fail("writing the copy to disk", e))?;
    std::fs::rename(partial, to).map_err(|e| fail("naming the copy", e))?;
    // The rename itself survives a power loss once the directory is written.
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail("writing the copy's directory to disk", e))?;
    }
    Ok(())
}

/// Every page of `src` into the new file `to`, as a standalone database.
fn copy_into(src: &Connection, to: &Path) -> Result<(), String> {
    // The copy holds everything the database does: private from its first byte (SQLite gives
    // its journal the same mode).
    crate::files::create_private(to).map_err(|e| fail("creating the copy", e))?;
    let mut dst = Connection::open(to).map_err(|e| fail("creating the copy", e))?;
    {
        let backup = Backup::new(src, &mut dst).map_err(|e| fail("starting the copy", e))?;
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
    dst.close().map_err(|(_, e)| fail("finishing the copy", e))
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
