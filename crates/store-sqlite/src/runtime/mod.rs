//! The SQLite runtime: one writer connection on its own thread, fed through a channel and
//! committing queued jobs in groups, and a fixed pool of reader connections. Writes are
//! acknowledged only after the commit that holds them; a group that cannot commit (a full
//! disk) answers every job in it with the reason.

use crate::epoch::EpochFile;
use crate::token_cache::TokenCache;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use directory::{OrgId, StoreError};

/// Sends a job's result to its caller once its group has ended; given an error, sends that
/// instead (the group was not committed, so neither was the job).
type Reply = Box<dyn FnOnce(Option<StoreError>) + Send>;

/// What a job does on the writer's connection (`None`: it is refused without running): how it
/// ended, and its reply.
type Work = Box<dyn FnOnce(Option<&Connection>) -> (Ran, Reply) + Send>;

/// How a job ended, as its group sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Done,
    /// Its savepoint is undone; `full` when the disk was full.
    Failed {
        full: bool,
    },
}

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
const LINGER: Duration = Duration::from_micros(200);

/// Longest a read waits for a free reader before it is refused as unavailable (503): the pool
/// never grows past its size, and a caller without a request timeout of its own (a job, the
/// command line) still gets an answer.
const READ_WAIT: Duration = Duration::from_secs(10);

/// Page cache of the writer, in KiB: its pages stay valid from one group to the next.
const WRITER_CACHE_KIB: i64 = 16_000;
/// Page cache of each reader, in KiB (SQLite's default is 2 MiB). Any commit empties a
/// reader's cache, and the operating system's page cache holds the file anyway, so a larger
/// one would mostly multiply the memory the pool can hold by its size.
const READER_CACHE_KIB: i64 = 4_000;

/// A UUID as a blob parameter.
pub(crate) fn blob(u: &uuid::Uuid) -> rusqlite::types::Value {
    rusqlite::types::Value::Blob(u.as_bytes().to_vec())
}

/// A failure in domain terms. SQLite's own errors say more (see [`db_error`]); everything
/// else is internal. Generic so that every `map_err(internal)` classifies driver errors
/// without naming their type.
pub(crate) fn internal<E: std::fmt::Display + 'static>(e: E) -> StoreError {
    match (&e as &dyn std::any::Any).downcast_ref::<rusqlite::Error>() {
        Some(e) => db_error(e),
        None => StoreError::Internal(e.to_string()),
    }
}

/// A SQLite error in domain terms: a full disk refuses the write until space is freed (507),
/// a database another process keeps locked past the busy timeout is a passing condition
/// (503); the rest is internal.
pub(crate) fn db_error(e: &rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::StorageFull(e.to_string()),
        Some(rusqlite::ErrorCode::DatabaseBusy) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
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
    let cache_kib = if read_only {
        READER_CACHE_KIB
    } else {
        WRITER_CACHE_KIB
    };
    conn.pragma_update(None, "cache_size", -cache_kib)?;
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
    readers: Arc<Readers>,
    /// Scans each organisation may run at once: fewer than there are readers.
    scans: Arc<OrgPermits>,
}

/// The reader connections: at most `size` exist, each used by one read at a time. A read
/// holds a permit for as long as it holds a connection, so when every connection is in use
/// the next read waits (at most [`READ_WAIT`]) instead of opening one more.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One per connection that may exist.
    permits: Arc<Semaphore>,
    wait: Duration,
    /// Connections opened since the start (`size`, plus any opened in place of one lost).
    opened: AtomicUsize,
}

impl Readers {
    fn new(path: &Path, size: usize, wait: Duration) -> Result<Readers, StoreError> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(open(path, true).map_err(internal)?);
        }
        Ok(Readers {
            path: path.to_owned(),
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(size)),
            wait,
            opened: AtomicUsize::new(size),
        })
    }

    /// Waits for the right to use a connection.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, StoreError> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(p) => p.map_err(internal),
            Err(_) => {
                metrics::counter!("scimd_db_reader_waits_timed_out_total").increment(1);
                Err(StoreError::Unavailable(format!(
                    "no database reader was free within {} s",
                    self.wait.as_secs_f32()
                )))
            }
        }
    }

    /// An idle connection. With a permit held one is always there, unless a read that
    /// panicked took its connection with it: then one is opened in its place, which keeps the
    /// count at the bound.
    fn take(&self, _permit: &OwnedSemaphorePermit) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => {
                self.opened.fetch_add(1, Ordering::Relaxed);
                open(&self.path, true).map_err(internal)
            }
        }
    }

    fn give_back(&self, conn: Connection, permit: OwnedSemaphorePermit) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        drop(permit);
    }
}

impl Runtime {
    /// Starts the writer thread; after every commit of a job that may change what SCIM reads
    /// return, and before its reply, it bumps `data`.
    pub(crate) fn start(
        path: &Path, writer: Connection, readers: usize, data: Arc<EpochFile>,
        tokens: Arc<TokenCache>,
    ) -> Result<Runtime, StoreError> {
        Runtime::start_waiting(path, writer, readers, READ_WAIT, data, tokens)
    }

    /// [`Runtime::start`] with reads waiting at most `wait` for a reader.
    fn start_waiting(
        path: &Path, writer: Connection, readers: usize, wait: Duration, data: Arc<EpochFile>,
        tokens: Arc<TokenCache>,
    ) -> Result<Runtime, StoreError> {
        let pool = Readers::new(path, readers, wait)?;
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, &data))
            .map_err(internal)?;
        Ok(Runtime {
            tx,
            tokens,
            queued: Arc::default(),
            readers: Arc::new(pool),
            scans: Arc::new(OrgPermits::new((readers / 2).max(1))),
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
        let run = Box::new(move |conn: Option<&Connection>| {
            queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let result = conn.map(f);
            let ran = match &result {
                Some(Ok(_)) => Ran::Done,
                Some(Err(StoreError::StorageFull(_))) => Ran::Failed { full: true },
                _ => Ran::Failed { full: false },
            };
            let send: Reply = Box::new(move |instead: Option<StoreError>| {
                let answer = match (instead, result) {
                    (Some(e), _) => Err(e),
                    (None, Some(r)) => r,
                    (None, None) => Err(StoreError::Internal("the write was not run".into())),
                };
                let _ = reply.send(answer);
            });
            (ran, send)
        });
        self.tx
            .send(Job { run, seen })
            .map_err(|_| StoreError::Internal("writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Internal("write was not committed".into()))?
    }

    /// One statement on the writer (a job of its own); returns how many rows it changed.
    pub(crate) async fn execute(
        &self, sql: &'static str, params: Vec<rusqlite::types::Value>,
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
        self.readers
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Reader connections opened since the start.
    #[cfg(test)]
    fn opened_readers(&self) -> usize {
        self.readers.opened.load(Ordering::Relaxed)
    }

    /// Runs a point read (one indexed lookup) on the calling thread: it takes microseconds,
    /// less than handing it to a blocking thread and back costs. Longer reads use [`Self::read`].
    /// Like them, it waits for a free reader.
    pub(crate) async fn read_now<T>(
        &self, f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let permit = self.readers.permit().await?;
        let conn = self.readers.take(&permit)?;
        let result = f(&conn);
        self.readers.give_back(conn, permit);
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
        // Moved into the blocking task with the connection: a read abandoned while it runs
        // keeps its permit until its connection is back in the pool.
        let permit = self.readers.permit().await?;
        let readers = self.readers.clone();
        let watch = Arc::new(Mutex::new(ReadState::Waiting));
        let abandon = Abandon(watch.clone());
        let result = tokio::task::spawn_blocking(move || {
            let conn = readers.take(&permit)?;
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
            readers.give_back(conn, permit);
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

/// Why a whole group was not committed, for each of its jobs. A full disk and a database
/// another process keeps locked are told apart from the rest, so that callers can say so.
fn group_error(why: &str, e: Option<&rusqlite::Error>, full: bool) -> StoreError {
    let detail = match e {
        Some(e) => format!("{why}: {e}"),
        None => why.to_owned(),
    };
    match e.map(db_error) {
        _ if full => StoreError::StorageFull(detail),
        Some(StoreError::StorageFull(_)) => StoreError::StorageFull(detail),
        Some(StoreError::Unavailable(_)) => StoreError::Unavailable(detail),
        _ => StoreError::Internal(detail),
    }
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
        run_group(&conn, jobs, data);
    }
}

/// One group: its transaction, a savepoint per job, the commit, the replies.
fn run_group(conn: &Connection, jobs: Vec<Job>, data: &EpochFile) {
    if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
        // Run outside a transaction, each savepoint would commit on its own and the replies
        // would no longer say what committed: the jobs are refused instead.
        tracing::error!(error = %e, "cannot begin a write transaction");
        for job in jobs {
            let (_, reply) = (job.run)(None);
            reply(Some(group_error(
                "cannot begin a write transaction",
                Some(&e),
                false,
            )));
        }
        return;
    }
    let mut replies: Vec<Reply> = Vec::with_capacity(jobs.len());
    // A job alone in its group needs no savepoint: if it fails, the group is rolled back.
    let alone = jobs.len() == 1;
    let mut failed_alone = false;
    let seen = jobs.iter().any(|j| j.seen);
    let mut jobs = jobs.into_iter();
    // Set when SQLite rolled the whole transaction back by itself, which it may do after a
    // full disk, an I/O error or running out of memory: whether the disk was full.
    let mut lost = None;
    for job in jobs.by_ref() {
        if !alone {
            let _ = run(conn, "SAVEPOINT job");
        }
        let (ran, reply) = (job.run)(Some(conn));
        replies.push(reply);
        if conn.is_autocommit() {
            lost = Some(ran == Ran::Failed { full: true });
            break;
        }
        if alone {
            failed_alone = ran != Ran::Done;
        } else {
            let closed = if ran == Ran::Done {
                run(conn, "RELEASE job")
            } else {
                run(conn, "ROLLBACK TO job").and_then(|()| run(conn, "RELEASE job"))
            };
            if let Err(e) = closed {
                tracing::error!(error = %e, "cannot close a write savepoint");
            }
        }
    }
    if let Some(full) = lost {
        // Every job of the group so far is undone, and is told so; the rest have not run and
        // get a group of their own.
        tracing::error!(full, "the database rolled back a write transaction");
        for reply in replies {
            reply(Some(group_error(
                "the write transaction was rolled back",
                None,
                full,
            )));
        }
        let rest: Vec<Job> = jobs.collect();
        if !rest.is_empty() {
            run_group(conn, rest, data);
        }
        return;
    }
    // A lone job that failed is undone with its transaction; its reply is its own error.
    let end = if failed_alone { "ROLLBACK" } else { "COMMIT" };
    match run(conn, end) {
        Ok(()) => {
            if seen && !failed_alone {
                data.bump();
            }
            replies.into_iter().for_each(|r| r(None));
        }
        Err(e) if failed_alone => {
            tracing::error!(error = %e, "cannot roll back a failed write");
            replies.into_iter().for_each(|r| r(None));
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed");
            let _ = run(conn, "ROLLBACK");
            // Nothing is acknowledged that was not committed: every job gets the reason.
            for reply in replies {
                reply(Some(group_error(
                    "the group was not committed",
                    Some(&e),
                    false,
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests;
