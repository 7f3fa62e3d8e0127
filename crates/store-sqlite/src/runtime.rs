//! The SQLite runtime: one writer connection on its own thread, fed through a channel and
//! committing queued jobs in groups, and a small pool of reader connections used from
//! blocking tasks. Writes are acknowledged only after the commit that holds them.

use crate::epoch::EpochFile;
use crate::token_cache::TokenCache;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use directory::{OrgId, StoreError};

/// Sends a job's result to its caller.
type Reply = Box<dyn FnOnce() + Send>;

/// What a job does on the writer's connection: whether it failed, and its reply.
type Work = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// A write job: runs on the writer's connection and says whether it failed (so its savepoint
/// is undone), returning the reply to send once the group is committed.
struct Job {
    run: Work,
    /// Whether it may change what SCIM reads return (everything but the activity log).
    seen: bool,
}

/// Most jobs committed by one transaction: bounds the latency a group adds.
const MAX_GROUP: usize = 64;
/// How long a job found alone waits for others before its group is committed.
const LINGER: std::time::Duration = std::time::Duration::from_micros(200);

/// A UUID as a blob parameter.
pub(crate) fn blob(u: &uuid::Uuid) -> rusqlite::types::Value {
    rusqlite::types::Value::Blob(u.as_bytes().to_vec())
}

pub(crate) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// Opens a connection with the settings every connection needs.
pub(crate) fn open(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL: readers never block the writer. NORMAL: a commit is durable against a crash of the
    // process (the WAL is in the OS page cache); only an OS crash or power loss can lose the
    // last commits, which `synchronous = FULL` (configurable later) would prevent.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    // Plans never depend on bound values. Without this, a statement whose `LIMIT ?` (or
    // `LIKE ?`) the planner looked at is compiled again on every execution: a cached list
    // query cost as much to re-plan as to run.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    crate::functions::register(&conn)?;
    Ok(conn)
}

/// What a write changes besides its rows, which the runtime then makes known: it is part of
/// every submission, so no write can forget to invalidate what depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Rows SCIM reads return or token checks read: after the commit the data epoch moves,
    /// which invalidates every process's read cache and token trust.
    Data,
    /// A token's row: as [`Effect::Data`], and the token epoch moves and this process's
    /// token cache empties, so a revoked token is refused on its very next request.
    Tokens,
    /// Rows no cache holds (the activity log, the outbox): no epoch moves, so the answers
    /// cached for SCIM reads stay valid.
    LogOnly,
}

/// Handle to the writer thread and the reader pool.
#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    tx: mpsc::UnboundedSender<Job>,
    /// Told of every [`Effect::Tokens`] write once it is committed.
    tokens: Arc<TokenCache>,
    /// Write jobs sent and not yet started (`/metrics`).
    queued: Arc<std::sync::atomic::AtomicU64>,
    readers: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
    /// Scans each organisation may run at once: fewer than there are readers.
    scans: Arc<OrgPermits>,
    path: PathBuf,
}

impl Runtime {
    /// Starts the writer thread; after every commit of a job that may change what SCIM reads
    /// return, and before its reply, it bumps `data`.
    pub(crate) fn start(
        path: &Path,
        writer: Connection,
        readers: usize,
        data: Arc<EpochFile>,
        tokens: Arc<TokenCache>,
    ) -> Result<Runtime, StoreError> {
        let mut pool = Vec::with_capacity(readers);
        for _ in 0..readers {
            pool.push(open(path, true).map_err(internal)?);
        }
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, &data))
            .map_err(internal)?;
        Ok(Runtime {
            tx,
            tokens,
            queued: Arc::default(),
            readers: Arc::new(Mutex::new(pool)),
            permits: Arc::new(Semaphore::new(readers)),
            scans: Arc::new(OrgPermits::new((readers / 2).max(1))),
            path: path.to_owned(),
        })
    }

    /// Runs `f` inside the writer's transaction (a savepoint of a group commit) and makes its
    /// `effect` known once committed. The result is delivered after the commit; if `f` fails,
    /// only its own changes are rolled back.
    pub(crate) async fn write<T, F>(&self, effect: Effect, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let result = self.submit(f, effect != Effect::LogOnly).await;
        if effect == Effect::Tokens {
            // Even after a failure: the change may have committed before its reply was lost.
            self.tokens.changed();
        }
        result
    }

    async fn submit<T, F>(&self, f: F, seen: bool) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<Result<T, StoreError>>();
        let queued = self.queued.clone();
        queued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let run = Box::new(move |conn: &Connection| {
            queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let result = f(conn);
            let failed = result.is_err();
            let send: Reply = Box::new(move || {
                let _ = reply.send(result);
            });
            (failed, send)
        });
        self.tx
            .send(Job { run, seen })
            .map_err(|_| StoreError::Internal("writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Internal("write was not committed".into()))?
    }

    /// One statement on the writer (a job of its own); returns how many rows it changed.
    pub(crate) async fn execute(
        &self,
        sql: &'static str,
        params: Vec<rusqlite::types::Value>,
    ) -> Result<usize, StoreError> {
        self.write(Effect::Data, move |c| {
            c.prepare_cached(sql)
                .map_err(internal)?
                .execute(rusqlite::params_from_iter(params.iter()))
                .map_err(internal)
        })
        .await
    }

    /// Write jobs waiting for the writer.
    pub(crate) fn write_queue(&self) -> u64 {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Readers idle in the pool.
    pub(crate) fn idle_readers(&self) -> usize {
        self.readers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Runs a point read (one indexed lookup) on the calling thread: it takes microseconds,
    /// less than handing it to a blocking thread and back costs. Longer reads use [`Self::read`].
    pub(crate) fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => open(&self.path, true).map_err(internal)?,
        };
        let result = f(&conn);
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        result
    }

    /// Runs `f` on a reader connection off the async threads. If the caller stops waiting (a
    /// request that timed out drops this future), the statement running for it is interrupted,
    /// so the reader is free at once rather than when a scan that nobody awaits ends.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(internal)?;
        let readers = self.readers.clone();
        let path = self.path.clone();
        let watch = Arc::new(Mutex::new(ReadState::Waiting));
        let abandon = Abandon(watch.clone());
        let result = tokio::task::spawn_blocking(move || {
            let conn = readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match conn {
                Some(c) => c,
                None => open(&path, true).map_err(internal)?,
            };
            let started = {
                let mut state = watch.lock().unwrap_or_else(|e| e.into_inner());
                match *state {
                    ReadState::Waiting => {
                        *state = ReadState::Running(conn.get_interrupt_handle());
                        true
                    }
                    _ => false,
                }
            };
            let result = if started {
                f(&conn)
            } else {
                Err(StoreError::Internal("the read was abandoned".into()))
            };
            *watch.lock().unwrap_or_else(|e| e.into_inner()) = ReadState::Done;
            readers.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
            result
        })
        .await
        .map_err(internal)?;
        drop(abandon);
        result
    }
}

impl Runtime {
    /// [`Runtime::read`] for a read whose cost grows with the organisation's size (a list,
    /// a filter, a sort): it first waits for one of the organisation's own scan permits, so
    /// one organisation's scans never hold every reader and the others' reads still find one
    /// free. The wait is bounded by the caller's timeout, like the read.
    pub(crate) async fn scan<T, F>(&self, org: OrgId, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _scan = self.scans.acquire(org).await?;
        self.read(f).await
    }
}

/// A bounded number of permits per organisation, made on first use and forgotten once no one
/// holds or awaits one.
#[derive(Debug)]
pub(crate) struct OrgPermits {
    per_org: usize,
    orgs: Mutex<HashMap<OrgId, Arc<Semaphore>>>,
}

/// One of an organisation's permits, given back when dropped.
#[derive(Debug)]
pub(crate) struct OrgPermit<'a> {
    permit: Option<OwnedSemaphorePermit>,
    org: OrgId,
    of: &'a OrgPermits,
}

impl OrgPermits {
    pub(crate) fn new(per_org: usize) -> OrgPermits {
        OrgPermits {
            per_org,
            orgs: Mutex::default(),
        }
    }

    /// Waits for one of `org`'s permits.
    pub(crate) async fn acquire(&self, org: OrgId) -> Result<OrgPermit<'_>, StoreError> {
        let semaphore = self
            .orgs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(org)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_org)))
            .clone();
        // Dropped while waiting, the clone goes and the next permit given back forgets an
        // idle organisation.
        let permit = semaphore.acquire_owned().await.map_err(internal)?;
        Ok(OrgPermit {
            permit: Some(permit),
            org,
            of: self,
        })
    }

    /// Organisations with a permit held or awaited.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.orgs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for OrgPermit<'_> {
    fn drop(&mut self) {
        let mut orgs = self.of.orgs.lock().unwrap_or_else(|e| e.into_inner());
        drop(self.permit.take());
        // Under the map's lock no one can take a new reference: the map's own one left means
        // no permit is held or awaited.
        if orgs
            .get(&self.org)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            orgs.remove(&self.org);
        }
    }
}

/// Where a read handed to a blocking thread stands, as seen by the future awaiting it.
enum ReadState {
    /// Not started: it will not start once abandoned.
    Waiting,
    /// Running on a reader, which this interrupts.
    Running(rusqlite::InterruptHandle),
    /// Finished, or abandoned.
    Done,
}

/// Dropped with the future of a read: interrupts the read if it is still running. The state's
/// lock makes the interrupt and the end of the read exclusive, so a statement run later on
/// the same connection is never the one interrupted (SQLite also clears an interrupt that
/// finds no statement running when the next one starts).
struct Abandon(Arc<Mutex<ReadState>>);

impl Drop for Abandon {
    fn drop(&mut self) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let ReadState::Running(handle) = &*state {
            handle.interrupt();
            metrics::counter!("scimd_db_queries_interrupted_total").increment(1);
            tracing::debug!("interrupted a read nobody waits for");
        }
        *state = ReadState::Done;
    }
}

/// Runs a transaction-control statement, compiled once per connection.
fn run(conn: &Connection, sql: &'static str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Takes whatever jobs are queued (up to [`MAX_GROUP`]), runs each in its own savepoint inside
/// one transaction, commits, then answers them all.
fn writer_loop(conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>, data: &EpochFile) {
    // Groups left before lingering stops: set by a group of three or more (a lone client's
    // write plus an activity batch is two), run down by the others, so a single client does
    // not wait.
    let mut concurrent = 0u8;
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        let mut may_wait = concurrent > 0;
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                // Under concurrent writes a lone job waits a moment for company: they then
                // share one commit, and on a busy core the request threads get to queue theirs.
                Err(_) if may_wait && jobs.len() == 1 => {
                    may_wait = false;
                    std::thread::sleep(LINGER);
                }
                Err(_) => break,
            }
        }
        concurrent = if jobs.len() > 2 {
            8
        } else {
            concurrent.saturating_sub(1)
        };
        let mut replies: Vec<Reply> = Vec::with_capacity(jobs.len());
        if let Err(e) = run(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin a write transaction");
        }
        // A job alone in its group needs no savepoint: if it fails, the group is rolled back.
        let alone = jobs.len() == 1;
        let mut failed_alone = false;
        let seen = jobs.iter().any(|j| j.seen);
        for job in jobs {
            if !alone {
                let _ = run(&conn, "SAVEPOINT job");
            }
            let (failed, reply) = (job.run)(&conn);
            if alone {
                failed_alone = failed;
            } else {
                let closed = if failed {
                    run(&conn, "ROLLBACK TO job").and_then(|()| run(&conn, "RELEASE job"))
                } else {
                    run(&conn, "RELEASE job")
                };
                if let Err(e) = closed {
                    tracing::error!(error = %e, "cannot close a write savepoint");
                }
            }
            replies.push(reply);
        }
        // A lone job that failed is undone with its transaction; its reply is its own error.
        let end = if failed_alone { "ROLLBACK" } else { "COMMIT" };
        match run(&conn, end) {
            Ok(()) => {
                if seen && !failed_alone {
                    data.bump();
                }
                replies.into_iter().for_each(|r| r());
            }
            Err(e) if failed_alone => {
                tracing::error!(error = %e, "cannot roll back a failed write");
                replies.into_iter().for_each(|r| r());
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                let _ = run(&conn, "ROLLBACK");
                // Dropping the replies closes their channels: every caller gets an error, so
                // nothing is acknowledged that was not committed.
                drop(replies);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
