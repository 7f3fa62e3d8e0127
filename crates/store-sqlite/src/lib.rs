//! # store-sqlite
//!
//! scimd's embedded default store: the [`directory::Store`] port on SQLite.
//!
//! Guarantees: one writer connection (on its own thread, fed through a queue, committing in
//! groups) so writers never spin on `SQLITE_BUSY`; readers in parallel under WAL; a write is
//! acknowledged only after its commit; uniqueness is decided by unique indexes, never by a
//! check in code; every statement binds its values; every query is scoped to one organisation
//! except the token lookup.
//!
//! Each area of the port is implemented in the module named for it: `orgs`, `tokens`,
//! `resources`, `accounts`, `domains`, `admins` (administrators, sessions, set-up links and
//! the sign-in lock-out), `activity` and `outbox`; the store's health is here. Beside them:
//! `runtime` (the writer thread and the readers), `epoch` and `token_cache` (what other
//! processes changed), `files`, `backup`, `functions`, `dialect` and `filter_sql` (SQLite's side
//! of the SQL shared with the PostgreSQL store in `store-sql`) and `migrations`.

mod accounts;
mod activity;
mod admins;
mod apps;
pub mod backup;
mod dialect;
mod domains;
mod epoch;
mod events;
mod files;
mod filter_sql;
mod functions;
mod groups;
mod journal;
mod links;
mod migrations;
mod orgs;
mod outbox;
mod resources;
mod reveals;
mod roles;
mod rows;
mod runtime;
mod search;
mod second_factors;
mod token_cache;
mod tokens;

use async_trait::async_trait;
use directory::StoreError;
use directory::store::{CursorKey, HealthStore};
use epoch::EpochFile;
use runtime::{Runtime, internal};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use token_cache::TokenCache;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    rt: Runtime,
    path: PathBuf,
    tokens: Arc<TokenCache>,
    /// Bumped after every commit that may change what SCIM reads return.
    data: Arc<EpochFile>,
    /// Seals the paging cursors.
    cursors: CursorKey,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations. The database
    /// file (and so its WAL) is made private to this user first.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        files::private_database(path).map_err(internal)?;
        let writer = runtime::open(path, false).map_err(internal)?;
        migrations::apply(&writer).map_err(internal)?;
        let cursors = cursor_key(&writer)?;
        let readers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 8)
            * 2;
        let data = Arc::new(EpochFile::open(path, "-data-epoch").map_err(internal)?);
        // A process that died between a commit and its epoch write left the others unaware of
        // that change: whoever opens the database next tells them.
        data.bump();
        let tokens = Arc::new(TokenCache::open(path).map_err(internal)?);
        let rt = Runtime::start(path, writer, readers, data.clone(), tokens.clone())?;
        Ok(SqliteStore {
            rt,
            path: path.to_owned(),
            tokens,
            data,
            cursors,
        })
    }

    /// Opens from a `sqlite://PATH` URL.
    pub fn open_url(url: &str) -> Result<SqliteStore, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::Internal(format!("not a sqlite URL: {url}")))?;
        Self::open(Path::new(path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The deployment's cursor key, made by the first process that opens the database.
fn cursor_key(conn: &Connection) -> Result<CursorKey, StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO deployment_keys (name, key) VALUES ('cursor', ?1)",
        params![CursorKey::generate()?.as_slice()],
    )
    .map_err(internal)?;
    let key: Vec<u8> = conn
        .query_row(
            "SELECT key FROM deployment_keys WHERE name = 'cursor'",
            [],
            |r| r.get(0),
        )
        .map_err(internal)?;
    CursorKey::from_bytes(&key)
}

/// A UUID as SQLite stores it: its 16 bytes.
fn b(u: &uuid::Uuid) -> &[u8] {
    u.as_bytes().as_slice()
}

fn uuid_from(bytes: &[u8]) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::from_slice(bytes).map_err(internal)
}

/// Maps a unique-index violation to the field it protects.
fn map_write_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, Some(msg)) = &e
        && err.code == rusqlite::ErrorCode::ConstraintViolation
        && msg.contains("resources.name_ci")
    {
        return StoreError::Conflict("userName");
    }
    internal(e)
}

#[async_trait]
impl HealthStore for SqliteStore {
    fn change_mark(&self) -> Option<directory::store::ChangeMark> {
        self.data.read()
    }

    fn stats(&self) -> directory::store::StoreStats {
        directory::store::StoreStats {
            pool_size: None,
            pool_idle: Some(self.rt.idle_readers() as u64),
            write_queue: Some(self.rt.write_queue()),
        }
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.rt
            .read_now(|c| {
                c.prepare_cached("SELECT COUNT(*) FROM schema_migrations")
                    .map_err(internal)?
                    .query_row([], |r| r.get::<_, i64>(0))
                    .map_err(internal)?;
                Ok(())
            })
            .await
    }
}
