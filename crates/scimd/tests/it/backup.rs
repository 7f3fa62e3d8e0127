//! `scimd backup` while `serve` takes writes, then `scimd restore`: the backup is consistent
//! (integrity ok), holds every write acknowledged before it started, and serves again.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn online_backup_under_writes_restores_and_serves() {
    let server = Server::start_on(TestDatabase::sqlite());
    let api = server.api();
    let mut before = Vec::new();
    for i in 0..50 {
        before.push(api.create_user(&format!("before{i}@backup.example")).await);
    }
    // Writers keep going while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let api = api.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 2_000 {
                let r = api
                    .post(
                        "/Users",
                        &user_body(&format!("during{w}-{n}@backup.example")),
                    )
                    .await;
                assert_eq!(r.status, 201, "{}", r.text);
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let dir = TempDir::new("backup");
    let file = dir.path().join("scimd-backup.db");
    let (ok, _, err) = cli_status(&[
        "backup",
        "--to",
        file.to_str().expect("path"),
        "--database",
        &server.database,
    ]);
    stop.store(true, Ordering::Relaxed);
    let mut during = 0;
    for w in writers {
        during += w.await.expect("writer");
    }
    assert!(ok, "backup failed: {err}");
    assert!(err.contains("integrity ok"), "{err}");
    assert!(during > 0, "writes ran during the backup");

    // A backup is never written over, and a restore never overwrites a database.
    let (ok, _, err) = cli_status(&[
        "backup",
        "--to",
        file.to_str().expect("path"),
        "--database",
        &server.database,
    ]);
    assert!(!ok && err.contains("exists already"), "{err}");
    let restored = dir.path().join("restored.db");
    let target = format!("sqlite://{}", restored.display());
    let (ok, _, err) = cli_status(&[
        "restore",
        "--from",
        file.to_str().expect("path"),
        "--to",
        &target,
    ]);
    assert!(ok, "restore failed: {err}");
    let (ok, _, err) = cli_status(&[
        "restore",
        "--from",
        file.to_str().expect("path"),
        "--to",
        &target,
    ]);
    assert!(!ok && err.contains("exists already"), "{err}");
    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not sqlite").expect("junk");
    let (ok, _, _) = cli_status(&[
        "restore",
        "--from",
        junk.to_str().expect("path"),
        "--to",
        &format!("sqlite://{}/x.db", dir.path().display()),
    ]);
    assert!(!ok);

    let org = server.org.clone();
    drop(server);
    let db = TestDatabase::sqlite_at(&target);
    let again = Server::serve_copy(db, org);
    let api = again.api();
    for id in &before {
        api.get(&format!("/Users/{id}")).await.expect(200);
    }
    let total = api.get("/Users?count=0").await.total();
    assert!(total >= 50 && total <= 50 + during as u64, "{total}");
}

/// Runs `scimd args` under umask 022, the usual default, whatever the test runner's is.
fn cli_umask_022(args: &[&str]) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_scimd"))
        .args(args)
        .env_remove("SCIMD_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run scimd");
    assert!(
        out.status.success(),
        "scimd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The database holds every tenant's directory and password hashes: it, its WAL and shared
/// memory, its epoch files and its backups are readable by their owner only, under the usual
/// umask 022 too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_wal_epoch_files_and_backups_are_private_to_their_owner() {
    let db = TestDatabase::sqlite();
    let path = std::path::PathBuf::from(db.url.strip_prefix("sqlite://").expect("SQLite URL"));
    // The database is made by the first command that opens it.
    cli_umask_022(&[
        "org",
        "create",
        "First",
        "--kind",
        "business",
        "--database",
        &db.url,
    ]);
    let server = Server::start_on(db.clone());
    server.api().create_user("private@example.com").await;

    let side = |suffix: &str| {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        std::path::PathBuf::from(p)
    };
    for file in [
        path.clone(),
        side("-wal"),
        side("-shm"),
        side("-data-epoch"),
        side("-token-epoch"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    let dir = TempDir::new("scimd-backup-mode");
    let to = dir.path().join("copy.db");
    cli_umask_022(&[
        "backup",
        "--to",
        to.to_str().expect("UTF-8 path"),
        "--database",
        &db.url,
    ]);
    assert_eq!(mode(&to), 0o600, "the backup");
}
