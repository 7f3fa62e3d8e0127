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

/// The backups under `dir` that the schedule wrote (its names: `scimd-<time>.db`).
fn scheduled_backups(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the backup folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("scimd-") && n.ends_with(".db"))
        })
        .collect();
    files.sort();
    files
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_rotate_restore_and_report_their_last_success() {
    let dir = TempDir::new("scheduled-backups");
    let backups = dir.path().join("backups");
    let server = Server::start_on_with(
        TestDatabase::sqlite(),
        &[
            "--backup-every",
            "1s",
            "--backup-keep",
            "2",
            "--backup-dir",
            backups.to_str().expect("path"),
        ],
    );
    let api = server.api();
    let mut users = Vec::new();
    // Writes go on while the schedule copies the database.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ok = loop {
        users.push(
            api.create_user(&format!("u{}@scheduled.example", users.len()))
                .await,
        );
        let text = server
            .client
            .get(&format!("{}/metrics", server.origin), "")
            .await
            .text;
        let ok = metric(&text, "scimd_backups_total{result=\"ok\"}");
        if ok >= 4.0 {
            assert!(
                metric(&text, "scimd_backup_last_success_timestamp_seconds") > 1.7e9,
                "{text}"
            );
            break ok;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "four backups were not written in 30 s:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(ok >= 4.0);
    assert_eq!(
        std::fs::metadata(&backups)
            .expect("folder")
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // The newest two are kept (a third may be on its way: the schedule keeps running).
    let kept = scheduled_backups(&backups);
    assert!((2..=3).contains(&kept.len()), "{kept:?}");
    let newest = kept.last().expect("a backup").clone();
    assert_eq!(
        std::fs::metadata(&newest)
            .expect("backup")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Each is a checked, whole database: it restores and serves what it held.
    let restored = dir.path().join("restored.db");
    let url = format!("sqlite://{}", restored.display());
    let (ok, _, err) = cli_status(&[
        "restore",
        "--from",
        newest.to_str().expect("path"),
        "--to",
        &url,
    ]);
    assert!(ok, "restore failed: {err}");
    let again = Server::serve_copy(TestDatabase::sqlite_at(&url), server.org.clone());
    let count = again.api().user_count().await;
    assert!(count >= 1 && count <= users.len() as u64, "{count}");

    // Settings shows the schedule and its last success.
    let mut b = crate::console::first_admin(&server).await;
    let page = b.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("every 1 s, the newest 2 kept"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Last success"), "{}", page.body);
    assert!(page.body.contains(".db)"), "{}", page.body);
}

#[test]
fn scheduled_backups_need_sqlite_and_keep_at_least_one() {
    let (ok, _, err) = cli_status(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        "postgres://nobody@127.0.0.1:1/none",
        "--backup-every",
        "6h",
    ]);
    assert!(!ok);
    assert!(err.contains("pg_dump"), "{err}");
    let dir = TempDir::new("backup-keep");
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    for (flag, value, said) in [
        ("--backup-keep", "0", "at least one"),
        ("--backup-every", "0s", "more than zero"),
        ("--backup-every", "6w", "unit"),
    ] {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--database", &url];
        if flag == "--backup-keep" {
            args.extend(["--backup-every", "6h"]);
        }
        args.extend([flag, value]);
        let (ok, _, err) = cli_status(&args);
        assert!(!ok, "{flag} {value} was taken");
        assert!(err.contains(said), "{flag} {value}: {err}");
    }
}
