use super::*;

/// A runtime on a new database in its own directory (removed by the caller).
fn runtime(readers: usize, wait: Duration) -> (Runtime, PathBuf) {
    let dir = std::env::temp_dir().join(format!("scimd-rt-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("x.db");
    let writer = open(&path, false).expect("open");
    writer
        .execute_batch("CREATE TABLE t (x BLOB)")
        .expect("schema");
    let epoch = Arc::new(EpochFile::open(&path, "-data-epoch").expect("epoch"));
    let tokens = Arc::new(TokenCache::open(&path).expect("token cache"));
    let rt = Runtime::start_waiting(&path, writer, readers, wait, epoch, tokens).expect("start");
    (rt, dir)
}

fn one(c: &Connection) -> Result<i64, StoreError> {
    c.query_row("SELECT 1", [], |r| r.get(0)).map_err(internal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_beyond_the_pool_wait_for_a_reader_instead_of_opening_one() {
    let (rt, dir) = runtime(2, READ_WAIT);
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..64 {
        let rt = rt.clone();
        reads.spawn(async move {
            if i % 2 == 0 {
                rt.read(|c| {
                    std::thread::sleep(Duration::from_millis(2));
                    one(c)
                })
                .await
            } else {
                rt.read_now(one).await
            }
        });
    }
    while let Some(r) = reads.join_next().await {
        assert_eq!(r.expect("task").expect("read"), 1);
    }
    assert_eq!(rt.opened_readers(), 2, "no reader opened past the pool");
    assert_eq!(rt.idle_readers(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_finds_no_reader_within_the_wait_is_unavailable() {
    let (rt, dir) = runtime(1, Duration::from_millis(100));
    let (release, held) = std::sync::mpsc::channel::<()>();
    let holder = {
        let rt = rt.clone();
        tokio::spawn(async move {
            rt.read(move |c| {
                let _ = held.recv();
                one(c)
            })
            .await
        })
    };
    for _ in 0..500 {
        if rt.idle_readers() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(rt.idle_readers(), 0, "the only reader is held");
    let refused = rt.read_now(one).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    let refused = rt.read(one).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    release.send(()).expect("release");
    assert_eq!(holder.await.expect("task").expect("held read"), 1);
    assert_eq!(rt.read_now(one).await.expect("free again"), 1);
    assert_eq!(rt.opened_readers(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Inserts `bytes` bytes as one row.
async fn insert(rt: &Runtime, bytes: usize) -> Result<(), StoreError> {
    rt.write(Effect::Data, move |c| {
        c.execute("INSERT INTO t (x) VALUES (?1)", [vec![7u8; bytes]])
            .map(|_| ())
            .map_err(internal)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_disk_has_no_room_for_is_storage_full_and_the_others_commit() {
    let (rt, dir) = runtime(2, READ_WAIT);
    insert(&rt, 100).await.expect("a first row");
    // SQLite answers SQLITE_FULL past `max_page_count`, as it does on a full disk.
    rt.write(Effect::Data, |c| {
        let pages: i64 = c
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(internal)?;
        c.query_row(
            &format!("PRAGMA max_page_count = {}", pages + 2),
            [],
            |_| Ok(()),
        )
        .map_err(internal)
    })
    .await
    .expect("cap the file");
    // Queued together, so that they share groups.
    let (big, small, also_small) =
        tokio::join!(insert(&rt, 1 << 20), insert(&rt, 100), insert(&rt, 100));
    assert!(matches!(big, Err(StoreError::StorageFull(_))), "{big:?}");
    small.expect("a row that fits");
    also_small.expect("another row that fits");
    let rows = rt
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))
                .map_err(internal)
        })
        .await
        .expect("count");
    assert_eq!(rows, 3, "every acknowledged row, and only those");
    rt.write(Effect::Data, |c| {
        c.query_row("PRAGMA max_page_count = 1073741823", [], |_| Ok(()))
            .map_err(internal)
    })
    .await
    .expect("room again");
    insert(&rt, 1 << 20).await.expect("the big row fits now");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_nobody_awaits_is_interrupted_and_its_reader_given_back() {
    let dir = std::env::temp_dir().join(format!("scimd-rt-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("x.db");
    let writer = open(&path, false).expect("open");
    let epoch = Arc::new(EpochFile::open(&path, "-data-epoch").expect("epoch"));
    let tokens = Arc::new(TokenCache::open(&path).expect("token cache"));
    let rt = Runtime::start(&path, writer, 2, epoch, tokens).expect("start");
    // Counts for ever unless interrupted.
    let endless = rt.read(|c| {
        c.query_row(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(internal)
    });
    // The caller gives up, as a request past its timeout does.
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(200), endless).await;
    assert!(gave_up.is_err(), "an endless read ended: {gave_up:?}");
    // Bounded wait for the blocking thread to see the interrupt (it never would otherwise).
    for _ in 0..500 {
        if rt.idle_readers() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(rt.idle_readers(), 2, "the reader came back");
    let one = rt
        .read(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map_err(internal)
        })
        .await
        .expect("the reader works after the interrupt");
    assert_eq!(one, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_organisation_past_its_scan_permits_waits_and_the_others_do_not() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let permits = OrgPermits::new(2);
    let (a, b) = (OrgId(uuid::Uuid::new_v4()), OrgId(uuid::Uuid::new_v4()));
    let held = [
        permits.acquire(a).await.expect("a1"),
        permits.acquire(a).await.expect("a2"),
    ];
    let mut cx = Context::from_waker(Waker::noop());
    let mut third = Box::pin(permits.acquire(a));
    assert!(
        third.as_mut().poll(&mut cx).is_pending(),
        "a third scan of one organisation waits"
    );
    let other = permits.acquire(b).await.expect("b gets one at once");
    drop(other);
    drop(held);
    let Poll::Ready(Ok(third)) = third.as_mut().poll(&mut cx) else {
        panic!("a permit given back goes to the waiting scan");
    };
    drop(third);
    assert_eq!(permits.tracked(), 0, "idle organisations are forgotten");
}

#[test]
fn cached_statements_with_bound_limits_and_patterns_are_not_planned_again() {
    let conn = open(Path::new(":memory:"), false).expect("open");
    conn.execute_batch(
        "CREATE TABLE t (k INTEGER PRIMARY KEY, name TEXT); CREATE INDEX t_name ON t (name);
         INSERT INTO t (name) VALUES ('a'), ('ab'), ('b');",
    )
    .expect("schema");
    for (sql, runs) in [
        (
            "SELECT k FROM t WHERE name = ?1 ORDER BY k LIMIT ?2 OFFSET ?3",
            [
                rusqlite::params!["a", 1, 0].to_vec(),
                rusqlite::params!["b", 5, 0].to_vec(),
            ],
        ),
        (
            "SELECT k FROM t WHERE name LIKE ?1 ORDER BY k LIMIT ?2 OFFSET ?3",
            [
                rusqlite::params!["a%", 1, 0].to_vec(),
                rusqlite::params!["b%", 2, 0].to_vec(),
            ],
        ),
    ] {
        for params in runs {
            let mut stmt = conn.prepare_cached(sql).expect("prepare");
            let rows: Vec<i64> = stmt
                .query_map(params.as_slice(), |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert!(!rows.is_empty(), "{sql}");
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql} was compiled again"
            );
        }
    }
}
