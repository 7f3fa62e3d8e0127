//! The files of a deployment are private to the user that runs it: the database holds every
//! tenant's directory, password hashes and the activity log, and its WAL holds recent pages of
//! it. They are created mode 0600 whatever the umask, and a file left readable by others (an
//! older version, a copy made by hand) is tightened when the database is opened.

use std::fs::{File, OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Owner read and write, nothing for anyone else.
pub(crate) const PRIVATE: u32 = 0o600;

/// Whether `path` names a file of its own (not an in-memory database or a URI).
pub(crate) fn is_file_path(path: &Path) -> bool {
    let name = path.as_os_str().to_string_lossy();
    !(name.is_empty() || name == ":memory:" || name.starts_with("file:"))
}

/// Opens `path` for reading and writing, creating it mode 0600 if it does not exist, and
/// tightens it if it does.
pub(crate) fn open_private(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(PRIVATE)
        .open(path)?;
    tighten(&file, path);
    Ok(file)
}

/// Creates `path`, which must not exist, mode 0600.
pub(crate) fn create_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE)
        .open(path)
}

/// Takes away any access of the group and others (the mode `open` gives is only for a new
/// file, and only as the umask allows). A file this user may use but not change the mode of
/// (another owner's) is left as it is, with a warning: refusing to start would not make it
/// private.
fn tighten(file: &File, path: &Path) {
    let result = file.metadata().and_then(|m| {
        let mode = m.permissions().mode();
        if mode & 0o077 == 0 {
            return Ok(());
        }
        file.set_permissions(Permissions::from_mode(mode & 0o700))
    });
    if let Err(e) = result {
        tracing::warn!(file = %path.display(), error = %e, "cannot make the file private");
    }
}

/// Makes the database file `db` (created empty if missing: SQLite takes an empty file for a
/// new database) and its WAL and shared-memory files, where they exist, private. SQLite
/// creates the WAL and shared-memory files with the database file's mode, so a private
/// database file keeps them private too.
pub(crate) fn private_database(db: &Path) -> std::io::Result<()> {
    if !is_file_path(db) {
        return Ok(());
    }
    open_private(db).map_err(|e| named(db, e))?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::File::open(&side) {
            Ok(f) => tighten(&f, Path::new(&side)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(named(Path::new(&side), e)),
        }
    }
    Ok(())
}

fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readable_database_file_and_its_wal_are_tightened_on_open() {
        let dir = std::env::temp_dir().join(format!("scimd-files-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let db = dir.join("x.db");
        let wal = dir.join("x.db-wal");
        for p in [&db, &wal] {
            std::fs::write(p, b"").expect("write");
            std::fs::set_permissions(p, Permissions::from_mode(0o644)).expect("chmod");
        }
        private_database(&db).expect("private");
        for p in [&db, &wal] {
            let mode = std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
