//! # store-postgres
//!
//! scimd's scale-out store: the [`directory::Store`] port on PostgreSQL, for several stateless
//! scimd instances sharing one database.
//!
//! Guarantees, the same as the SQLite store's (one conformance suite checks both):
//! - uniqueness is decided by unique indexes, never by a check in code (`userName` per
//!   organisation, case-insensitively, through the lower-cased `name_ci` column);
//! - every write is one transaction; an update or delete first locks its row
//!   (`SELECT ... FOR NO KEY UPDATE` / `FOR UPDATE`) and checks the version the caller read, so
//!   concurrent writers on different instances cannot lose each other's changes;
//! - group members are rows, checked against the resources they name with foreign keys, so
//!   a member deleted by one instance cannot be added to a group by another at the same moment;
//! - every client value is a bound parameter; every query but the token lookup is scoped to one
//!   organisation; statements are prepared once per connection (`prepare_cached`);
//! - migrations are applied under an advisory lock, so instances may start together.
//!
//! Transactions that PostgreSQL aborts to break a deadlock (possible when one instance deletes
//! a resource while another adds it to a group) are retried a few times.
//!
//! Statements on one resource name its primary key alone, so they are key lookups even on a
//! table the planner has no statistics for; filters need statistics, which
//! [`HealthStore::refresh_statistics`] gathers where autovacuum has not.
//!
//! Filters and list pages are planned by `store-sql`, which both stores share; this store's
//! `Dialect` (`dialect`, `filter_sql`) writes only how PostgreSQL reads and compares a value.
//! Where this store differs from the SQLite one, on purpose:
//! - `sortBy` a complex attribute (`name`) keeps creation order (SQLite orders by JSON text);
//! - `seq` is drawn when a row is inserted, not when it commits: a cursor walk running while
//!   other instances insert can miss a row that committed after the walk passed its `seq`
//!   (with one SQLite writer, rows commit in `seq` order);
//! - TLS is chosen by the URL's `sslmode` and `sslrootcert`, as libpq reads them, with rustls
//!   ([`tls`]); a URL without `sslmode` connects in plaintext, as before TLS was supported.
//!
//! Every write an application can see appends its events in its own transaction
//! (docs/contract.md, "Events"), through `journal`: the snapshots of users and groups before
//! and after, and the per-organisation counter, raised by the write's last statement, whose
//! row lock orders the commits of writes that append events so that a reader following
//! `seq > after` never sees a sequence before the ones below it.
//!
//! Each area of the port is implemented in the module named for it: `orgs`, `tokens`,
//! `resources`, `accounts`, `domains`, `admins` (administrators, sessions, set-up links and
//! the sign-in lock-out), `activity`, `outbox`, `events`, `directory_read` (the directory
//! API), `apps` and `webhooks`; the store's health and the planner's statistics are here. Their bodies use `Failure` (through `run` or `transaction!`) so that
//! `?` takes driver errors as they come.

mod dialect;
mod filter_sql;
mod migrations;
pub mod tls;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use directory::StoreError;
use directory::store::columns::{from_micros, micros};
use directory::store::{CursorKey, HealthStore};
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// Most statements one connection keeps prepared. Fixed statements are a few dozen; list
/// queries add one per filter shape, which clients can vary without end, so past this bound
/// the cache starts over.
const STATEMENT_CACHE_LIMIT: usize = 512;

/// How often a transaction aborted by a deadlock is tried again.
pub(crate) const RETRIES: usize = 3;

/// Runs `$body` (which uses the transaction `$tx`) and commits; runs it again in a new
/// transaction when PostgreSQL aborted it to break a deadlock. Evaluates to
/// `Result<_, StoreError>`.
macro_rules! transaction {
    ($store:expr, $tx:ident => $body:expr) => {{
        let mut attempt = 0;
        loop {
            let mut client = $store.client().await?;
            let $tx = client.transaction().await.map_err($crate::Failure::from)?;
            let result: Result<_, $crate::Failure> = async { $body }.await;
            let result = match result {
                Ok(v) => $tx
                    .commit()
                    .await
                    .map(|()| v)
                    .map_err($crate::Failure::from),
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.retryable() && attempt < $crate::RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, "transaction aborted by a deadlock; trying again");
                }
                other => break other.map_err(::directory::StoreError::from),
            }
        }
    }};
}

// After the macro, so that they can use it.
mod accounts;
mod activity;
mod admins;
mod apps;
mod directory_read;
mod domains;
mod events;
mod groups;
mod journal;
mod links;
mod orgs;
mod outbox;
mod resources;
mod reveals;
mod roles;
mod rows;
mod search;
mod second_factors;
mod tokens;
mod webhooks;

/// Runs a store operation written against [`Failure`] (so that `?` takes driver errors as they
/// come) and reports its failure in domain terms.
pub(crate) async fn run<T>(
    op: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, StoreError> {
    op.await.map_err(StoreError::from)
}

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Seals the paging cursors.
    cursors: CursorKey,
    /// Tokens read before, with the token epoch they were read at (see `tokens`).
    held: std::sync::Arc<tokens::Held>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("size", &status.size)
            .field("max_size", &status.max_size)
            .finish()
    }
}

/// What can fail inside the store: a domain refusal, or the database. Kept apart until the
/// boundary so that deadlocks can be retried and constraint names mapped to fields.
#[derive(Debug)]
pub(crate) enum Failure {
    Store(StoreError),
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl Failure {
    fn retryable(&self) -> bool {
        matches!(self, Failure::Db(e) if matches!(e.code(), Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE))
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Store(e) => e,
            Failure::Db(e) => db_error(&e),
        }
    }
}

/// A driver error in domain terms. A lost or refused connection, and a server shutting down,
/// starting up or out of connections, are passing conditions (503): the pool makes new
/// connections once the server answers again. A full disk refuses writes (507).
fn db_error(e: &tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        // The unique index decides; its name says which field was taken.
        Some(db)
            if *db.code() == SqlState::UNIQUE_VIOLATION
                && db.constraint() == Some("resources_user_name") =>
        {
            StoreError::Conflict("userName")
        }
        Some(db)
            if *db.code() == SqlState::UNIQUE_VIOLATION && db.constraint() == Some("apps_name") =>
        {
            StoreError::Conflict("name")
        }
        Some(db) => {
            let detail = format!("postgres: {}: {}", db.code().code(), db.message());
            let code = db.code();
            if *code == SqlState::DISK_FULL {
                StoreError::StorageFull(detail)
            } else if unavailable(code) {
                StoreError::Unavailable(detail)
            } else {
                StoreError::Internal(detail)
            }
        }
        // No answer from the server: the connection was closed, or never made.
        None if e.is_closed() || io_cause(e) => StoreError::Unavailable(format!("postgres: {e}")),
        None => StoreError::Internal(format!("postgres: {e}")),
    }
}

/// SQLSTATEs of a server that is going away, coming back or full of sessions (PostgreSQL
/// manual, appendix A: class 08, and 57P01-57P03, 53300).
fn unavailable(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .contains(code)
}

/// Whether the error comes from the socket (refused, reset, timed out).
fn io_cause(e: &tokio_postgres::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A failure to get a connection from the pool in domain terms: none free or none made within
/// the waits, or the server refusing new ones, is a passing condition (503).
fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(e) => db_error(&e),
        PoolError::Timeout(_) | PoolError::Closed => {
            StoreError::Unavailable(format!("postgres: no connection: {e}"))
        }
        other => StoreError::Internal(format!("postgres: no connection: {other}")),
    }
}

/// The first connection's failure, with its causes (refused, a name that does not resolve)
/// and, for a TLS handshake, what to change ([`tls::TlsOptions::explain`]).
fn connect_error(e: deadpool_postgres::PoolError, tls: &tls::TlsOptions) -> StoreError {
    use std::error::Error as _;
    if let deadpool_postgres::PoolError::Backend(backend) = &e {
        if let Some(why) = tls.explain(backend) {
            return StoreError::Unavailable(why);
        }
        if backend.as_db_error().is_none() {
            let mut detail = format!("postgres: {backend}");
            let mut cause = backend.source();
            while let Some(c) = cause {
                detail.push_str(&format!(": {c}"));
                cause = c.source();
            }
            return StoreError::Unavailable(detail);
        }
    }
    pool_error(e)
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// The deployment's cursor key, made by the first instance that connects.
async fn cursor_key(client: &deadpool_postgres::Client) -> Result<CursorKey, Failure> {
    let fresh = CursorKey::generate()?;
    client
        .execute(
            "INSERT INTO deployment_keys (name, key) VALUES ('cursor', $1) ON CONFLICT (name) DO NOTHING",
            &[&fresh.as_slice()],
        )
        .await?;
    let key: Vec<u8> = client
        .query_one("SELECT key FROM deployment_keys WHERE name = 'cursor'", &[])
        .await?
        .try_get(0)?;
    Ok(CursorKey::from_bytes(&key)?)
}

/// Longest one statement may run before the server cancels it. A request is answered 503
/// after its timeout (30 s by default) and its future dropped, but dropping a future does not
/// stop the query it sent: without this bound a scan nobody awaits would hold its connection
/// and a backend until it ends. A bit above the default request timeout, so a request is
/// answered by its own timeout first.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(35);

/// The startup option that sets [`STATEMENT_TIMEOUT`] on a session.
fn statement_timeout_option() -> String {
    format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis())
}

/// Longest a request waits for a free connection, and for a new one to be made: well within
/// the request timeout, so that a database that stopped answering is a prompt 503 rather
/// than a request held to its timeout.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// Connections kept open: enough to keep a few cores and the database busy, few enough that
/// several instances fit PostgreSQL's default `max_connections` (100).
fn pool_size() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
        * 4
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`, or `postgresql://`), checks that the
    /// database is reachable, and applies migrations.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let (url, tls) = tls::TlsOptions::take(url)
            .map_err(|e| internal(format!("invalid PostgreSQL URL: {e}")))?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| internal(format!("invalid PostgreSQL URL: {e}")))?;
        config.ssl_mode(tls.driver_mode());
        let connector = tls.connector().map_err(internal)?;
        // Every session of the pool gets the bound; one the URL sets comes later and wins.
        let options = match config.get_options() {
            Some(own) => format!("{} {own}", statement_timeout_option()),
            None => statement_timeout_option(),
        };
        config.options(&options);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_WAIT);
        }
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size())
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(POOL_WAIT))
            .wait_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(internal)?;
        let mut client = pool.get().await.map_err(|e| connect_error(e, &tls))?;
        migrations::apply(&mut client).await?;
        let cursors = cursor_key(&client).await?;
        Ok(PgStore {
            pool,
            cursors,
            held: Default::default(),
        })
    }

    /// A pooled connection. One the server closed (it went away) is not handed out: the pool
    /// sees it closed and makes a new one, so connections recover by themselves once the
    /// server is back.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

/// The tables whose statistics decide how SCIM requests are planned: which index serves a
/// filter, and how memberships are joined.
const PLANNED_TABLES: &[&str] = &["resources", "group_members"];

/// Serialises statistics refreshes across instances ("scimd" and 2).
const STATISTICS_LOCK: i64 = 0x7363_696d_6400_0002;

#[async_trait]
impl HealthStore for PgStore {
    fn stats(&self) -> directory::store::StoreStats {
        let s = self.pool.status();
        directory::store::StoreStats {
            pool_size: Some(s.size as u64),
            pool_idle: Some(s.available as u64),
            write_queue: None,
        }
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.query_one("SELECT COUNT(*) FROM schema_migrations", &[])
            .await
            .map_err(Failure::from)?;
        Ok(())
    }

    /// `ANALYZE` of each planned table that had more row changes since its last analysis
    /// than autovacuum's default threshold (50 rows + 10 % of the table). Where autovacuum
    /// runs it has usually been first and this finds nothing; where it is off, or in the
    /// minute before it comes round on a new database, the planner has no statistics and
    /// takes every `org_id =` and `kind =` for a rare value (0.5 % of the rows each). One
    /// instance at a time refreshes; the others skip the round.
    async fn refresh_statistics(&self) -> Result<u32, StoreError> {
        run(async {
            let mut client = self.client().await?;
            let tables: Vec<String> = PLANNED_TABLES
                .iter()
                .map(|t| format!("'{t}'::regclass"))
                .collect();
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT c.relname::text FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid \
                     WHERE c.oid IN ({}) AND pg_has_role(c.relowner, 'USAGE') \
                     AND s.n_mod_since_analyze > 50 + 0.1 * GREATEST(c.reltuples, 0)",
                    tables.join(", ")
                ))
                .await?;
            let stale: Vec<String> = client
                .query(&stmt, &[])
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            let mut refreshed = 0;
            for table in PLANNED_TABLES
                .iter()
                .filter(|t| stale.iter().any(|s| s == *t))
            {
                let tx = client.transaction().await?;
                let locked: bool = tx
                    .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&STATISTICS_LOCK])
                    .await?
                    .try_get(0)?;
                if !locked {
                    break;
                }
                tx.batch_execute(&format!("ANALYZE {table}")).await?;
                tx.commit().await?;
                refreshed += 1;
            }
            Ok(refreshed)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_url() -> String {
        std::env::var("SCIMD_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/scimd_test".to_owned())
    }

    #[tokio::test]
    async fn pooled_sessions_cancel_statements_past_the_bound_and_the_url_may_set_its_own() {
        let store = PgStore::connect(&test_url()).await.expect("connect");
        let client = store.client().await.expect("client");
        let shown: String = client
            .query_one("SHOW statement_timeout", &[])
            .await
            .expect("show")
            .get(0);
        assert_eq!(shown, "35s");
        let own = format!("{}?options=-c%20statement_timeout%3D2min", test_url());
        let store = PgStore::connect(&own).await.expect("connect");
        let client = store.client().await.expect("client");
        let shown: String = client
            .query_one("SHOW statement_timeout", &[])
            .await
            .expect("show")
            .get(0);
        assert_eq!(shown, "2min");
    }
}
