//! Broken dependencies, against the real binary (docs/contract.md, "Reliability and security
//! promises"): the database going away and coming back, the disk filling up under it, an SMTP
//! relay that resets every connection, and `kill -9` in the middle of a migration, a backup,
//! an import and a copy. Each is bounded in time; each prints what it saw.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The request timeout the servers of these tests run with: a request must be answered within
/// it, whatever the database does.
const REQUEST_TIMEOUT_SECS: u64 = 10;

/// Past the request timeout by this much, a request counts as hung.
const HANG_MARGIN: Duration = Duration::from_secs(3);

/// One request of a writer: when it started and ended, and its status (0: no answer within
/// the request timeout and [`HANG_MARGIN`]).
#[derive(Debug, Clone)]
struct Attempt {
    started: Instant,
    ended: Instant,
    status: u16,
    user_name: String,
    /// Why an answer other than a created User was not the SCIM error it should be.
    malformed: Option<String>,
}

/// Whether `r` is the SCIM error body of a passing unavailability: `status` as a string,
/// and `Retry-After`.
fn unavailable_shape(r: &Reply) -> Option<String> {
    let body = r.body.as_ref()?;
    if body["schemas"][0] != ERROR_URN || body["status"] != "503" {
        return Some(format!("not a SCIM 503 error: {}", r.text));
    }
    if r.header("retry-after").is_none() {
        return Some("a 503 without Retry-After".into());
    }
    None
}

/// POSTs Users named `{prefix}-{i}` until `stop`, pausing a moment after each refusal as a
/// client backing off would.
async fn writer(api: Api, prefix: String, stop: Arc<AtomicBool>) -> Vec<Attempt> {
    let mut out = Vec::new();
    let bound = Duration::from_secs(REQUEST_TIMEOUT_SECS) + HANG_MARGIN;
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let user_name = format!("{prefix}-{i}@outage.example");
        i += 1;
        let started = Instant::now();
        let answer = tokio::time::timeout(bound, api.post("/Users", &user_body(&user_name))).await;
        let ended = Instant::now();
        let (status, malformed) = match &answer {
            Ok(r) if r.status == 201 => (201, None),
            Ok(r) if r.status == 503 => (503, unavailable_shape(r)),
            Ok(r) => (r.status, Some(r.text.clone())),
            Err(_) => (0, Some("no answer".into())),
        };
        out.push(Attempt {
            started,
            ended,
            status,
            user_name,
            malformed,
        });
        if status != 201 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    out
}

/// Every userName SCIM lists, with how often each appears.
async fn listed_user_names(api: &Api) -> BTreeMap<String, usize> {
    let mut names = BTreeMap::new();
    let mut start = 1;
    loop {
        let page = api
            .get(&format!(
                "/Users?startIndex={start}&count=1000&attributes=userName"
            ))
            .await;
        page.expect_list();
        let resources = page.resources();
        for r in resources {
            let name = r["userName"].as_str().expect("userName").to_owned();
            *names.entry(name).or_insert(0) += 1;
        }
        if resources.is_empty() || start + resources.len() as u64 > page.total() {
            return names;
        }
        start += resources.len() as u64;
    }
}

async fn readyz(server: &Server) -> u16 {
    server
        .client
        .send_bytes(
            reqwest::Method::GET,
            &format!("{}/readyz", server.origin),
            None,
            None,
            "text/plain",
            &[],
        )
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_going_away_under_writers_is_503_and_recovers_by_itself() {
    const WRITERS: usize = 16;
    const OUTAGE: Duration = Duration::from_secs(10);
    /// How soon after PostgreSQL is back every request must succeed again.
    const RECOVERY: Duration = Duration::from_secs(5);
    let cluster = PgCluster::start();
    let timeout = REQUEST_TIMEOUT_SECS.to_string();
    let server = Server::start_on_with(
        cluster.database(),
        &[
            "--request-timeout-secs",
            &timeout,
            // Sixteen writers retrying refusals go past the per-token rate.
            "--rate-limit-per-token",
            "0",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let run = random_hex(6);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(server.api(), format!("w{w}-{run}"), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    cluster.stop_immediate();
    let down = Instant::now();
    // Settled: the pool has seen its connections close.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = server.api().get("/Users?count=1").await;
    during.expect_error(503, None);
    assert!(during.header("retry-after").is_some(), "{during:?}");
    let mut ready_during = Vec::new();
    while down.elapsed() < OUTAGE {
        ready_during.push(readyz(&server).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cluster.start_again();
    let up = Instant::now();
    tokio::time::sleep(RECOVERY + Duration::from_secs(2)).await;
    let ready_after = readyz(&server).await;
    stop.store(true, Ordering::Relaxed);
    let mut attempts = Vec::new();
    for w in writers {
        attempts.extend(w.await.expect("a writer failed"));
    }

    let served_503 = attempts.iter().filter(|a| a.status == 503).count();
    let wrong: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| !matches!(a.status, 201 | 503) || a.malformed.is_some())
        .collect();
    let slowest = attempts
        .iter()
        .map(|a| a.ended - a.started)
        .max()
        .unwrap_or_default();
    // The last refusal of a request sent after PostgreSQL came back.
    let recovered_in = attempts
        .iter()
        .filter(|a| a.started >= up && a.status != 201)
        .map(|a| a.ended - up)
        .max()
        .unwrap_or_default();
    let late_failures: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.started >= up + RECOVERY && a.status != 201)
        .collect();
    let late_requests = attempts
        .iter()
        .filter(|a| a.started >= up + RECOVERY)
        .count();
    let acknowledged: BTreeSet<String> = attempts
        .iter()
        .filter(|a| a.status == 201)
        .map(|a| a.user_name.clone())
        .collect();
    let listed = listed_user_names(&server.api()).await;
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|n| !listed.contains_key(*n))
        .collect();
    let doubled: Vec<(&String, &usize)> = listed.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "postgres outage: {} requests, {served_503} answered 503, slowest {} ms; readyz during \
         the outage {ready_during:?}; last refusal {} ms after PostgreSQL was back; \
         {} acknowledged, {} listed (the rest answered 503 after committing)",
        attempts.len(),
        slowest.as_millis(),
        recovered_in.as_millis(),
        acknowledged.len(),
        listed.len()
    );
    assert!(
        wrong.is_empty(),
        "{} requests answered other than 201 or a SCIM 503 within the timeout, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    );
    assert!(served_503 > 0, "no request was refused during the outage");
    assert!(
        ready_during.iter().all(|s| *s == 503),
        "readyz during the outage: {ready_during:?}"
    );
    assert_eq!(ready_after, 200, "readyz once PostgreSQL is back");
    assert!(
        late_requests > 0,
        "no request was sent after the recovery window"
    );
    assert!(
        late_failures.is_empty(),
        "{} requests sent more than {RECOVERY:?} after PostgreSQL came back failed, e.g. {:?}",
        late_failures.len(),
        &late_failures[..late_failures.len().min(3)]
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged Users are missing, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
    assert!(doubled.is_empty(), "userNames listed twice: {doubled:?}");
    let duplicates = cluster.psql(
        "SELECT count(*) FROM (SELECT org_id, name_ci FROM resources GROUP BY 1, 2 HAVING count(*) > 1) d",
    );
    assert_eq!(duplicates, "0", "duplicate userNames in the database");
    drop(server);
}

/// `PRAGMA integrity_check` of the SQLite database at `url`.
fn integrity(url: &str) -> String {
    let path = url.strip_prefix("sqlite://").expect("a SQLite URL");
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_507_keeps_reads_and_recovers_when_freed() {
    let disk = Tmpfs::mount("8m");
    let url = format!("sqlite://{}", disk.file("scimd.db").display());
    let server = Server::start_on_with(TestDatabase::existing(&url), &[]);
    let api = server.api();
    let mut acknowledged = BTreeMap::new();
    for i in 0..20 {
        let name = format!("before{i}@full.example");
        acknowledged.insert(api.create_user(&name).await, name);
    }
    let filler = disk.fill("filler");

    // The WAL and the database have some room of their own: writes go on a while, then fail.
    let mut refusals = 0;
    let mut first_refusal = None;
    for i in 0..5_000 {
        let name = format!("during{i}@full.example");
        let r = api.post("/Users", &user_body(&name)).await;
        match r.status {
            201 => {
                acknowledged.insert(r.id(), name);
            }
            _ => {
                let body = r.expect_error(507, None);
                assert!(body.get("scimType").is_none(), "{}", r.text);
                let detail = body["detail"].as_str().unwrap_or_default();
                assert!(detail.contains("storage is full"), "{}", r.text);
                refusals += 1;
                first_refusal.get_or_insert(i);
                if refusals == 20 {
                    break;
                }
            }
        }
    }
    assert_eq!(refusals, 20, "writes never failed on a full disk");
    // Reads go on: every acknowledged User, one by one and listed.
    for id in acknowledged.keys() {
        api.get(&format!("/Users/{id}")).await.expect(200);
    }
    let listed = listed_user_names(&api).await;
    assert!(acknowledged.values().all(|n| listed.contains_key(n)));
    assert_eq!(integrity(&url), "ok", "while the disk is full");

    std::fs::remove_file(disk.file("filler")).expect("free the space");
    let mut tries = 0;
    let id = loop {
        tries += 1;
        let name = format!("after{tries}@full.example");
        let r = api.post("/Users", &user_body(&name)).await;
        if r.status == 201 {
            let id = r.id();
            acknowledged.insert(id.clone(), name);
            break id;
        }
        r.expect_error(507, None);
        assert!(tries < 20, "writes still fail once space is freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    api.patch(
        &format!("/Users/{id}"),
        &patch_op(serde_json::json!([{ "op": "replace", "path": "title", "value": "Freed" }])),
    )
    .await
    .expect(200);
    // Nothing acknowledged is lost, across a restart too.
    let again = server.another_instance();
    drop(server);
    let listed = listed_user_names(&again.api()).await;
    let lost: Vec<&String> = acknowledged
        .values()
        .filter(|n| !listed.contains_key(*n))
        .collect();
    eprintln!(
        "full disk: filler of {filler} bytes; {} writes acknowledged, the first refused after \
         {} more, {refusals} refused with 507, reads served throughout; the first write after \
         freeing the space succeeded on try {tries}",
        acknowledged.len(),
        first_refusal.unwrap_or_default()
    );
    assert!(lost.is_empty(), "acknowledged Users lost: {lost:?}");
    assert_eq!(integrity(&url), "ok", "after the disk was freed");
    drop(again);
}

/// An SMTP relay that greets, reads the client's first command and resets the connection
/// (RST) while `resetting` holds; otherwise it passes the connection through to the relay on
/// `next_port`. Counts the resets.
async fn resetting_relay(
    next_port: u16, resetting: Arc<AtomicBool>, resets: Arc<AtomicUsize>,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (resetting, resets) = (resetting.clone(), resets.clone());
            tokio::spawn(async move {
                if resetting.load(Ordering::SeqCst) {
                    let _ = stream.write_all(b"220 reset.test ESMTP\r\n").await;
                    let mut buf = [0u8; 512];
                    let _ = stream.read(&mut buf).await;
                    // Closed with no lingering: the kernel sends RST, not FIN.
                    let _ = stream.set_zero_linger();
                    drop(stream);
                    resets.fetch_add(1, Ordering::SeqCst);
                } else if let Ok(mut next) =
                    tokio::net::TcpStream::connect(("127.0.0.1", next_port)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut next).await;
                }
            });
        }
    });
    port
}

/// The 99th percentile of `samples`.
fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples
        .get((samples.len() * 99 / 100).min(samples.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// `GET /Users` for `period`, paced like an identity provider; the latency of each.
async fn scim_gets(api: &Api, period: Duration, mut between: impl FnMut()) -> Vec<Duration> {
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut last_between = Instant::now();
    while started.elapsed() < period {
        let t = Instant::now();
        api.get("/Users?count=10").await.expect_list();
        latencies.push(t.elapsed());
        if last_between.elapsed() >= Duration::from_millis(500) {
            between();
            last_between = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies
}

/// The outbox of the SQLite database at `db`, as `scimd outbox list` shows it.
fn outbox(db: &str) -> Vec<Value> {
    let out = cli(&["outbox", "list", "--format", "json", "--database", db]);
    serde_json::from_str::<Value>(&out)
        .expect("outbox JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Makes every unsent notice due now, as the passing of its back-off would (30 s at first).
fn make_notices_due(db: &str) {
    let path = db.strip_prefix("sqlite://").expect("a SQLite URL");
    let conn = rusqlite::Connection::open(path).expect("open the database");
    conn.execute("UPDATE notices SET next_attempt = 0 WHERE sent IS NULL", [])
        .expect("make the notices due");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_that_resets_slows_no_request_and_its_notices_are_retried_until_sent() {
    let sink = SmtpSink::start();
    let sink_port: u16 = sink
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the sink's port");
    let resetting = Arc::new(AtomicBool::new(true));
    let resets = Arc::new(AtomicUsize::new(0));
    let port = resetting_relay(sink_port, resetting.clone(), resets.clone()).await;
    let url = format!("smtp://127.0.0.1:{port}?tls=none");
    let server = Server::start_on_with(
        TestDatabase::sqlite(),
        &["--smtp-url", &url, "--mail-from", "scimd@example.com"],
    );
    let db = server.database.clone();
    cli(&[
        "admin",
        "add",
        "--org",
        &server.org.id,
        "--email",
        "ann@example.com",
        "--database",
        &db,
    ]);
    let api = server.api();
    // The first use queues the set-up notice; each delivery round then meets a reset.
    let mut during = scim_gets(&api, Duration::from_secs(4), || make_notices_due(&db)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let retried = loop {
        let list = outbox(&db);
        let n = list.first().cloned().unwrap_or_default();
        if n["attempts"].as_i64().unwrap_or(0) >= 2 && n["lastError"].is_string() {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "no failed retries recorded: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(retried["sent"].is_null(), "{retried}");
    assert_eq!(retried["state"], "retrying", "{retried}");
    assert!(
        retried["nextAttempt"].as_str() > retried["created"].as_str(),
        "backs off: {retried}"
    );
    // The same requests with no delivery under way.
    let mut quiet = scim_gets(&api, Duration::from_secs(2), || {}).await;

    resetting.store(false, Ordering::SeqCst);
    make_notices_due(&db);
    let mail = sink.wait_for("Directory sync set-up complete");
    assert_eq!(mail.to, vec!["ann@example.com".to_owned()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        let n = outbox(&db).first().cloned().unwrap_or_default();
        if n["state"] == "sent" {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "the notice is not marked sent: {n}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "resetting relay: {} connections reset; SCIM GET p99 {} ms while deliveries met resets \
         ({} requests), {} ms with none under way ({} requests); the notice was sent on \
         attempt {}",
        resets.load(Ordering::SeqCst),
        p99(&mut during).as_millis(),
        during.len(),
        p99(&mut quiet).as_millis(),
        quiet.len(),
        sent["attempts"]
    );
    assert!(resets.load(Ordering::SeqCst) >= 2);
    assert_eq!(outbox(&db).len(), 1, "one notice, sent once");
    assert_eq!(sink.count(), 1);
}

/// A `scimd` command started in the background (its output kept out of the way).
fn spawn_scimd(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(args)
        .env_remove("SCIMD_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn scimd")
}

/// Kills `child` with SIGKILL once `ready` says so (polled every millisecond, at most 30 s);
/// fails the test if it ended by itself first, which would test nothing.
fn kill9_when(child: &mut std::process::Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: never got under way");
        std::thread::sleep(Duration::from_millis(1));
    }
    let ended = child.try_wait().expect("try_wait");
    assert!(
        ended.is_none(),
        "{what} finished before it could be killed ({ended:?}): give it more to do"
    );
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "{what} was not killed: {status}");
}

/// A count from the SQLite database at `path`.
fn count(path: &std::path::Path, sql: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// A database as an older scimd left it (the migrations up to 0004): one organisation, `users`
/// Users and `entries` activity rows, which migration 0005 rewrites into chunks.
fn old_database(path: &std::path::Path, users: usize, entries: usize) {
    let conn = rusqlite::Connection::open(path).expect("create the database");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; \
         CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL);",
    )
    .expect("schema_migrations");
    for (version, sql) in [
        (
            1,
            include_str!("../../../store-sqlite/migrations/0001_init.sql"),
        ),
        (
            2,
            include_str!("../../../store-sqlite/migrations/0002_lifecycle.sql"),
        ),
        (
            3,
            include_str!("../../../store-sqlite/migrations/0003_directory.sql"),
        ),
        (
            4,
            include_str!("../../../store-sqlite/migrations/0004_console.sql"),
        ),
    ] {
        conn.execute_batch(sql).expect("an old migration");
        conn.execute(
            "INSERT INTO schema_migrations (version, applied) VALUES (?1, 0)",
            [version],
        )
        .expect("record it");
    }
    conn.execute_batch(
        "INSERT INTO organisations (id, name, kind, created) VALUES (randomblob(16), 'Old', 'business', 0)",
    )
    .expect("an organisation");
    conn.execute(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1) \
         INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, doc) \
         SELECT (SELECT id FROM organisations), randomblob(16), 0, 1, 0, 0, 'old' || x || '@example.com', \
                json_object('schemas', json_array('urn:ietf:params:scim:schemas:core:2.0:User'), \
                            'userName', 'old' || x || '@example.com') \
         FROM n",
        [users as i64],
    )
    .expect("Users");
    conn.execute(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1) \
         INSERT INTO activity (org_id, at, token_id, actor, action, target, status, duration_us, resource, detail) \
         SELECT (SELECT id FROM organisations), x, NULL, 'scim', 'GET', '/scim/v2/Users', 200, 17, NULL, NULL \
         FROM n",
        [entries as i64],
    )
    .expect("activity rows");
}

/// The newest SQLite schema version: one migration file each.
fn latest_sqlite_schema() -> i64 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../store-sqlite/migrations");
    std::fs::read_dir(dir).expect("the migrations").count() as i64
}

#[test]
fn kill9_during_a_migration_leaves_the_old_schema_and_the_next_run_completes() {
    const USERS: usize = 2_000;
    const ENTRIES: usize = 80_000;
    let dir = TempDir::new("scimd-kill-migrate");
    let path = dir.path().join("old.db");
    old_database(&path, USERS, ENTRIES);
    let url = format!("sqlite://{}", path.display());
    let wal = dir.path().join("old.db-wal");
    let mut child = spawn_scimd(&["migrate", "--database", &url]);
    let started = Instant::now();
    // Rewriting the activity log outgrows the writer's page cache: pages reach the WAL while
    // the migration's transaction is still open.
    kill9_when(&mut child, "the migration", || {
        std::fs::metadata(&wal).is_ok_and(|m| m.len() > 2 << 20)
    });
    let killed_after = started.elapsed();
    let after_kill = count(&path, "SELECT MAX(version) FROM schema_migrations");
    assert_eq!(integrity(&url), "ok", "after the kill");
    let (ok, out, err) = cli_status(&["migrate", "--database", &url]);
    assert!(ok, "the next run failed: {err}");
    assert!(out.starts_with("migrations applied to "), "{out}");
    let latest = latest_sqlite_schema();
    assert!(
        after_kill < latest,
        "the kill came after the migrations were done"
    );
    assert_eq!(integrity(&url), "ok", "after the next run");
    assert_eq!(
        count(&path, "SELECT MAX(version) FROM schema_migrations"),
        latest
    );
    assert_eq!(count(&path, "SELECT COUNT(*) FROM resources"), USERS as i64);
    assert_eq!(
        count(&path, "SELECT SUM(n) FROM scim_counts"),
        USERS as i64,
        "the counts start from every User"
    );
    assert_eq!(
        count(&path, "SELECT SUM(entries) FROM activity_chunks"),
        ENTRIES as i64,
        "every activity entry, once"
    );
    eprintln!(
        "kill -9 during a migration: killed at schema {after_kill} after {} ms; the next run \
         migrated {USERS} Users and {ENTRIES} activity entries to schema {latest}",
        killed_after.as_millis()
    );
}

/// A new, migrated scimd database at `path` with one organisation; its id.
fn new_database(path: &std::path::Path) -> String {
    let url = format!("sqlite://{}", path.display());
    cli(&[
        "org",
        "create",
        "Big",
        "--kind",
        "business",
        "--database",
        &url,
    ])
}

#[test]
fn kill9_during_a_backup_leaves_no_backup_behind_and_the_next_one_completes() {
    const CHUNKS: i64 = 3_000;
    let dir = TempDir::new("scimd-kill-backup");
    let path = dir.path().join("live.db");
    let url = format!("sqlite://{}", path.display());
    let org = new_database(&path);
    cli(&[
        "import",
        "--org",
        &org,
        "--generate",
        "2000",
        "--quiet",
        "--database",
        &url,
    ]);
    {
        // Bulk: 3,000 activity chunks of 20 KB, so that the copy takes a moment.
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1) \
             INSERT INTO activity_chunks (org_id, first_at, last_at, entries, body) \
             SELECT zeroblob(16), x, x, 1, '[' || printf('%.20000c', 'x') || ']' FROM n",
            [CHUNKS],
        )
        .expect("bulk");
    }
    let users = count(&path, "SELECT COUNT(*) FROM resources");
    let to = dir.path().join("backup.db");
    let partial = dir.path().join("backup.db.partial");
    let to_arg = to.to_str().expect("path");
    let mut child = spawn_scimd(&["backup", "--to", to_arg, "--database", &url]);
    kill9_when(&mut child, "the backup", || {
        std::fs::metadata(&partial).is_ok_and(|m| m.len() > 0)
    });
    assert!(
        !to.exists(),
        "an interrupted backup is never at the backup's path"
    );
    let (ok, out, err) = cli_status(&["backup", "--to", to_arg, "--database", &url]);
    assert!(ok, "the next backup failed: {err}");
    assert!(err.contains("integrity ok"), "{out}{err}");
    assert!(!partial.exists(), "the interrupted copy is gone");
    let backup_url = format!("sqlite://{}", to.display());
    assert_eq!(integrity(&backup_url), "ok");
    assert_eq!(integrity(&url), "ok", "the live database");
    assert_eq!(count(&to, "SELECT COUNT(*) FROM resources"), users);
    assert_eq!(count(&to, "SELECT COUNT(*) FROM activity_chunks"), CHUNKS);
    eprintln!(
        "kill -9 during a backup: no file left at the backup's path; the next backup holds all \
         {users} Users and {CHUNKS} chunks ({} bytes)",
        std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0)
    );
}

/// `N users imported ... M already existed` from an import's summary.
fn import_summary(stderr: &str) -> (i64, i64) {
    let line = stderr
        .lines()
        .find(|l| l.contains("users imported"))
        .unwrap_or_else(|| panic!("no import summary: {stderr}"));
    let number = |before: &str| -> i64 {
        let head = line.split(before).next().expect("split");
        head.split_whitespace()
            .last()
            .and_then(|n| n.trim_end_matches(';').parse().ok())
            .unwrap_or_else(|| panic!("no number before {before:?} in {line}"))
    };
    (number(" users imported"), number(" already existed"))
}

#[test]
fn kill9_during_an_import_loses_nothing_committed_and_the_same_import_completes() {
    const USERS: i64 = 8_000;
    let dir = TempDir::new("scimd-kill-import");
    let path = dir.path().join("scimd.db");
    let url = format!("sqlite://{}", path.display());
    let org = new_database(&path);
    let n = USERS.to_string();
    let args = [
        "import",
        "--org",
        &org,
        "--generate",
        &n,
        "--quiet",
        "--database",
        &url,
    ];
    let mut child = spawn_scimd(&args);
    let mut polls = 0;
    kill9_when(&mut child, "the import", || {
        polls += 1;
        polls % 20 == 0 && count(&path, "SELECT COUNT(*) FROM resources") > 1_000
    });
    let after_kill = count(&path, "SELECT COUNT(*) FROM resources");
    assert!(after_kill < USERS, "the import was done before the kill");
    assert_eq!(integrity(&url), "ok", "after the kill");
    let (ok, _, err) = cli_status(&args);
    assert!(ok, "the import again failed: {err}");
    let (imported, existed) = import_summary(&err);
    assert_eq!(
        existed, after_kill,
        "every User committed before the kill is kept: {err}"
    );
    assert_eq!(imported + existed, USERS, "{err}");
    assert_eq!(count(&path, "SELECT COUNT(*) FROM resources"), USERS);
    assert_eq!(count(&path, "SELECT SUM(n) FROM scim_counts"), USERS);
    assert_eq!(integrity(&url), "ok", "after the next run");
    eprintln!(
        "kill -9 during an import: {after_kill} of {USERS} Users committed at the kill; the same \
         import again added {imported} and found {existed} already there"
    );
}

/// Removes a SQLite database and the files beside it.
fn remove_database(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-data-epoch", "-token-epoch"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
}

#[test]
fn kill9_during_a_copy_is_reported_clearly_and_a_copy_into_a_new_target_completes() {
    const USERS: i64 = 1_500;
    let dir = TempDir::new("scimd-kill-copy");
    let source = dir.path().join("source.db");
    let source_url = format!("sqlite://{}", source.display());
    let org = new_database(&source);
    let n = USERS.to_string();
    cli(&[
        "import",
        "--org",
        &org,
        "--generate",
        &n,
        "--quiet",
        "--database",
        &source_url,
    ]);
    let target = dir.path().join("target.db");
    let target_url = format!("sqlite://{}", target.display());
    let args = ["copy", "--from", &source_url, "--to", &target_url];
    let mut child = spawn_scimd(&args);
    let mut polls = 0;
    kill9_when(&mut child, "the copy", || {
        polls += 1;
        polls % 10 == 0
            && target.exists()
            && rusqlite::Connection::open_with_flags(
                &target,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM resources", [], |r| r.get::<_, i64>(0)))
            .is_ok_and(|n| n > 100)
    });
    let copied = count(&target, "SELECT COUNT(*) FROM resources");
    assert!(copied < USERS, "the copy was done before the kill");
    let (ok, _, err) = cli_status(&args);
    assert!(!ok, "a copy into a half-copied target went ahead");
    assert!(
        err.contains("an incomplete copy of this source") && err.contains("interrupted"),
        "{err}"
    );
    let refusal = err;
    assert_eq!(integrity(&source_url), "ok", "the source");
    assert_eq!(count(&source, "SELECT COUNT(*) FROM resources"), USERS);
    assert_eq!(integrity(&target_url), "ok", "the half-copied target");
    remove_database(&target);
    let (ok, _, err) = cli_status(&args);
    assert!(ok, "the copy into a new target failed: {err}");
    assert!(err.contains("copy verified"), "{err}");
    assert_eq!(count(&target, "SELECT COUNT(*) FROM resources"), USERS);
    let (ok, _, err) = cli_status(&args);
    assert!(!ok && err.contains("a complete, verified copy"), "{err}");
    eprintln!(
        "kill -9 during a copy: {copied} of {USERS} Users in the target at the kill; the next \
         copy said: {}",
        refusal
            .lines()
            .find(|l| l.contains("incomplete copy"))
            .unwrap_or_default()
    );
}
