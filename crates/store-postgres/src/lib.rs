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
//! [`Store::refresh_statistics`] gathers where autovacuum has not (see `PgStore::refresh`).
//!
//! Where this store differs from the SQLite one, on purpose:
//! - filters follow `scim_core::filter::matches` also where the SQLite translation does not yet
//!   (`schemas`, `meta pr`, `meta.location pr`, `$ref pr`, instants finer than a microsecond),
//!   and a descending cursor also visits rows whose sort key is missing;
//! - `sortBy` a complex attribute (`name`) keeps creation order (SQLite orders by JSON text);
//! - `seq` is drawn when a row is inserted, not when it commits: a cursor walk running while
//!   other instances insert can miss a row that committed after the walk passed its `seq`
//!   (with one SQLite writer, rows commit in `seq` order);
//! - connections are unencrypted (`NoTls`): reach PostgreSQL over loopback, a private network
//!   or a TLS-terminating proxy.

mod filter_sql;
mod lifecycle;
mod migrations;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use directory::ids::SessionId;
use directory::store::{
    Account, AccountChange, AccountPage, AccountQuery, ConflictRecord, DirectoryState,
    DomainRecord, GroupView, ListQuery, Load, LocalProps, MemberView, NewResource, Page,
    SessionRecord, SetupLink, SigninThrottle, Source, StoredResource, SyncPolicy, TokenRecord,
    Update,
};
use directory::{OrgId, OrgKind, Organisation, ResourceId, Store, StoreError, TokenId};
use filter_sql::{KeyType, Sql};
use scim_core::messages::SortOrder;
use scim_core::patch::{MemberChange, MemberRef};
use scim_core::schema::{AttributeDef, ResourceKind, registry};
use serde_json::{Map, Value};
use std::time::Duration;
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

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
            let $tx = client.transaction().await.map_err(Failure::from)?;
            let result: Result<_, Failure> = async { $body }.await;
            let result = match result {
                Ok(v) => $tx.commit().await.map(|()| v).map_err(Failure::from),
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.retryable() && attempt < RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, "transaction aborted by a deadlock; trying again");
                }
                other => break other.map_err(StoreError::from),
            }
        }
    }};
}

mod accounts;
mod console;

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Seals the paging cursors.
    cursors: CursorKey,
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
            Failure::Db(e) => match e.as_db_error() {
                // The unique index decides; its name says which field was taken.
                Some(db)
                    if *db.code() == SqlState::UNIQUE_VIOLATION
                        && db.constraint() == Some("resources_user_name") =>
                {
                    StoreError::Conflict("userName")
                }
                Some(db) => StoreError::Internal(format!(
                    "postgres: {}: {}",
                    db.code().code(),
                    db.message()
                )),
                None => StoreError::Internal(format!("postgres: {e}")),
            },
        }
    }
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
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| internal(format!("invalid PostgreSQL URL: {e}")))?;
        // Every session of the pool gets the bound; one the URL sets comes later and wins.
        let options = match config.get_options() {
            Some(own) => format!("{} {own}", statement_timeout_option()),
            None => statement_timeout_option(),
        };
        config.options(&options);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size())
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(internal)?;
        let mut client = pool.get().await.map_err(internal)?;
        migrations::apply(&mut client).await?;
        let cursors = cursor_key(&client).await?;
        Ok(PgStore { pool, cursors })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(internal)
    }
}

/// jsonb keeps object keys in its own order (shorter first); canonical documents list them in
/// registry order (`scim_core::resource`). Restoring that order makes a document read back
/// serialise exactly as it was written, as it does on SQLite. Keys the registry does not know
/// follow, in stored order.
fn registry_order(kind: ResourceKind, doc: Value) -> Value {
    let Value::Object(mut map) = doc else {
        return doc;
    };
    let reg = registry();
    let mut out = Map::with_capacity(map.len());
    if let Some(v) = map.shift_remove("schemas") {
        out.insert("schemas".to_owned(), v);
    }
    for def in reg.common.iter().chain(reg.core(kind).attributes.iter()) {
        if let Some(v) = map.shift_remove(def.name) {
            out.insert(def.name.to_owned(), order_value(def, v));
        }
    }
    for ext in reg.extensions(kind) {
        if let Some(v) = map.shift_remove(ext.id) {
            out.insert(ext.id.to_owned(), order_object(&ext.attributes, v));
        }
    }
    out.extend(map);
    Value::Object(out)
}

fn order_value(def: &AttributeDef, v: Value) -> Value {
    if def.sub_attributes.is_empty() {
        return v;
    }
    match v {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| order_object(&def.sub_attributes, i))
                .collect(),
        ),
        other => order_object(&def.sub_attributes, other),
    }
}

fn order_object(defs: &[AttributeDef], v: Value) -> Value {
    let Value::Object(mut map) = v else { return v };
    let mut out = Map::with_capacity(map.len());
    for def in defs {
        if let Some(v) = map.shift_remove(def.name) {
            out.insert(def.name.to_owned(), order_value(def, v));
        }
    }
    out.extend(map);
    Value::Object(out)
}

const RESOURCE_COLS: &str = "r.id, r.kind, r.version, r.created, r.last_modified, r.doc";

/// What SCIM sees of `resources r`: rows directory sync owns that SCIM has not deleted (the
/// partial index `resources_scim_seq` states the same condition).
pub(crate) const SCIM_VISIBLE: &str = "r.source = 'scim' AND r.deleted IS NULL";
/// The same as a selected column: point reads find the row by its key alone and check this
/// on it, so the planner never trades the primary key for a partial index.
pub(crate) const SCIM_VISIBLE_COL: &str = "(r.source = 'scim' AND r.deleted IS NULL)";

fn build(row: &Row) -> Result<StoredResource, Failure> {
    let kind = kind_from(row.try_get::<_, i16>(1)?);
    Ok(StoredResource {
        id: ResourceId(row.try_get(0)?),
        kind,
        doc: registry_order(kind, row.try_get(5)?),
        version: row.try_get(2)?,
        created: from_micros(row.try_get(3)?),
        last_modified: from_micros(row.try_get(4)?),
        members: None,
        groups: None,
    })
}

/// Loads group `members` / user `groups` for resources of one kind, in one query. Members are
/// ordered by id, as SQLite's primary key orders them.
async fn load_relations<C: GenericClient>(
    c: &C,
    org: OrgId,
    kind: ResourceKind,
    rs: &mut [StoredResource],
) -> Result<(), Failure> {
    if rs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rs.iter().map(|r| r.id.0).collect();
    let position: std::collections::HashMap<Uuid, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    match kind {
        ResourceKind::Group => {
            let stmt = c
                .prepare_cached(
                    "SELECT gm.group_id, gm.member_id, gm.member_kind \
                     FROM group_members gm \
                     WHERE gm.org_id = $1 AND gm.group_id = ANY($2) ORDER BY gm.group_id, gm.member_id",
                )
                .await?;
            let rows = c.query(&stmt, &[&org.0, &ids]).await?;
            for r in rs.iter_mut() {
                r.members = Some(Vec::new());
            }
            for row in rows {
                let group: Uuid = row.try_get(0)?;
                let view = MemberView {
                    id: ResourceId(row.try_get(1)?),
                    kind: kind_from(row.try_get::<_, i16>(2)?),
                    // Members carry no `display`: a client compares what it sent with
                    // what it reads back, and it sent none.
                    display: None,
                };
                if let Some(list) = position.get(&group).and_then(|&i| rs[i].members.as_mut()) {
                    list.push(view);
                }
            }
        }
        ResourceKind::User => {
            let stmt = c
                .prepare_cached(
                    "SELECT gm.member_id, gm.group_id, x.doc ->> 'displayName' \
                     FROM group_members gm JOIN resources x ON x.org_id = gm.org_id AND x.id = gm.group_id \
                     WHERE gm.org_id = $1 AND gm.member_id = ANY($2) AND x.source = 'scim' AND x.deleted IS NULL \
                     ORDER BY gm.member_id, gm.group_id",
                )
                .await?;
            let rows = c.query(&stmt, &[&org.0, &ids]).await?;
            for r in rs.iter_mut() {
                r.groups = Some(Vec::new());
            }
            for row in rows {
                let member: Uuid = row.try_get(0)?;
                let view = GroupView {
                    id: ResourceId(row.try_get(1)?),
                    display: row.try_get(2)?,
                };
                if let Some(list) = position.get(&member).and_then(|&i| rs[i].groups.as_mut()) {
                    list.push(view);
                }
            }
        }
    }
    Ok(())
}

/// One resource by its primary key.
///
/// Statements on one resource name the primary key `(org_id, id)` and nothing else; the kind
/// is checked on the row. With `kind = $3` beside it, a table the planner has no statistics
/// for (a new database, or `autovacuum = off`) makes `resources_kind_seq (org_id, kind, seq)`,
/// or the partial name index, look as selective as the key, and PostgreSQL picked one of them:
/// each read walked every resource of that kind in the organisation (4 ms at 10,000 users,
/// 9 ms at 50,000, instead of 0.02 ms).
async fn get_one<C: GenericClient>(
    c: &C,
    org: OrgId,
    kind: ResourceKind,
    id: ResourceId,
    load: Load,
) -> Result<Option<StoredResource>, Failure> {
    if kind == ResourceKind::User && load.relations {
        return get_user_with_groups(c, org, id).await;
    }
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {RESOURCE_COLS}, {SCIM_VISIBLE_COL} FROM resources r WHERE r.org_id = $1 AND r.id = $2"
        ))
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&org.0, &id.0]).await? else {
        return Ok(None);
    };
    let mut r = build(&row)?;
    if r.kind != kind || !row.try_get::<_, bool>(6)? {
        return Ok(None);
    }
    if load.relations {
        load_relations(c, org, kind, std::slice::from_mut(&mut r)).await?;
    }
    Ok(Some(r))
}

/// A user and its `groups` in one round trip (a user is in few groups; a group's members,
/// which can be many, keep their own query). Groups come in the order `load_relations`
/// gives them; only groups SCIM sees are listed.
async fn get_user_with_groups<C: GenericClient>(
    c: &C,
    org: OrgId,
    id: ResourceId,
) -> Result<Option<StoredResource>, Failure> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {RESOURCE_COLS}, g.ids, g.names, {SCIM_VISIBLE_COL} FROM resources r CROSS JOIN LATERAL \
             (SELECT array_agg(gm.group_id ORDER BY gm.group_id) AS ids, \
                     array_agg(x.doc ->> 'displayName' ORDER BY gm.group_id) AS names \
              FROM group_members gm JOIN resources x ON x.org_id = gm.org_id AND x.id = gm.group_id \
              WHERE gm.org_id = r.org_id AND gm.member_id = r.id \
              AND x.source = 'scim' AND x.deleted IS NULL) g \
             WHERE r.org_id = $1 AND r.id = $2"
        ))
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&org.0, &id.0]).await? else {
        return Ok(None);
    };
    let mut r = build(&row)?;
    if r.kind != ResourceKind::User || !row.try_get::<_, bool>(8)? {
        return Ok(None);
    }
    let ids: Option<Vec<Uuid>> = row.try_get(6)?;
    let names: Option<Vec<Option<String>>> = row.try_get(7)?;
    r.groups = Some(
        ids.unwrap_or_default()
            .into_iter()
            .zip(names.unwrap_or_default())
            .map(|(id, display)| GroupView {
                id: ResourceId(id),
                display,
            })
            .collect(),
    );
    Ok(Some(r))
}

/// Adds members; returns how many rows changed. Members must be visible to SCIM in the same
/// organisation; each is locked (`FOR SHARE`) until the transaction ends, against deletion and
/// against retirement (SCIM DELETE of a user, which locks it `FOR NO KEY UPDATE`): whichever
/// comes second sees the other's outcome. Looked up by key alone (see `get_one`); visibility
/// is read from the locked row.
async fn add_members<C: GenericClient>(
    c: &C,
    org: OrgId,
    group: ResourceId,
    refs: &[MemberRef],
) -> Result<u64, Failure> {
    let find = c
        .prepare_cached(&format!(
            "SELECT kind, {SCIM_VISIBLE_COL} FROM resources r WHERE r.org_id = $1 AND r.id = $2 FOR SHARE"
        ))
        .await?;
    let insert = c
        .prepare_cached(
            "INSERT INTO group_members (org_id, group_id, member_id, member_kind) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?;
    let mut changed = 0;
    for m in refs {
        let unknown = || Failure::Store(StoreError::UnknownMember(m.value.clone()));
        let Ok(mid) = Uuid::parse_str(&m.value) else {
            return Err(unknown());
        };
        if mid == group.0 {
            return Err(unknown());
        }
        let Some(row) = c.query_opt(&find, &[&org.0, &mid]).await? else {
            return Err(unknown());
        };
        if !row.try_get::<_, bool>(1)? {
            return Err(unknown());
        }
        let mk: i16 = row.try_get(0)?;
        changed += c.execute(&insert, &[&org.0, &group.0, &mid, &mk]).await?;
    }
    Ok(changed)
}

async fn remove_members<C: GenericClient>(
    c: &C,
    org: OrgId,
    group: ResourceId,
    ids: &[String],
) -> Result<u64, Failure> {
    let del = c
        .prepare_cached(
            "DELETE FROM group_members WHERE org_id = $1 AND group_id = $2 AND member_id = $3",
        )
        .await?;
    let mut changed = 0;
    for id in ids {
        if let Ok(mid) = Uuid::parse_str(id) {
            changed += c.execute(&del, &[&org.0, &group.0, &mid]).await?;
        }
    }
    Ok(changed)
}

async fn apply_member_changes<C: GenericClient>(
    c: &C,
    org: OrgId,
    group: ResourceId,
    changes: &[MemberChange],
) -> Result<u64, Failure> {
    let mut changed = 0;
    for change in changes {
        changed += match change {
            MemberChange::Add(refs) => add_members(c, org, group, refs).await?,
            MemberChange::Remove(ids) => remove_members(c, org, group, ids).await?,
            MemberChange::ReplaceAll(refs) => {
                let stmt = c
                    .prepare_cached("DELETE FROM group_members WHERE org_id = $1 AND group_id = $2")
                    .await?;
                let removed = c.execute(&stmt, &[&org.0, &group.0]).await?;
                removed + add_members(c, org, group, refs).await?
            }
            MemberChange::RemoveMatching(filter) => {
                // Evaluated in memory on the members as rendered, exactly as PATCH evaluates
                // value filters elsewhere: a group's members are few compared with a round
                // trip per translated sub-filter.
                let mut g = [StoredResource {
                    id: group,
                    kind: ResourceKind::Group,
                    doc: Value::Null,
                    version: 0,
                    created: OffsetDateTime::UNIX_EPOCH,
                    last_modified: OffsetDateTime::UNIX_EPOCH,
                    members: None,
                    groups: None,
                }];
                load_relations(c, org, ResourceKind::Group, &mut g).await?;
                let [g] = g;
                let Some(def) = registry().group.attribute("members") else {
                    return Ok(changed);
                };
                let doomed: Vec<String> = g
                    .members
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| {
                        let mut element =
                            serde_json::json!({ "value": m.id.to_string(), "type": m.kind.name() });
                        if let Some(d) = &m.display {
                            element["display"] = Value::String(d.clone());
                        }
                        scim_core::filter::matches_value(filter, &element, def)
                    })
                    .map(|m| m.id.to_string())
                    .collect();
                remove_members(c, org, group, &doomed).await?
            }
        };
    }
    Ok(changed)
}

use directory::store::columns::{
    active, external_id, from_micros, kind_code, kind_from, micros, name_ci,
};
use directory::store::{Cursor, CursorKey};

/// Reads the sort key column of a page row as JSON, for the cursor.
fn key_json(row: &Row, idx: usize, ty: KeyType) -> Result<Value, Failure> {
    Ok(match ty {
        KeyType::Text => row
            .try_get::<_, Option<String>>(idx)?
            .map_or(Value::Null, Value::String),
        KeyType::Int => row
            .try_get::<_, Option<i64>>(idx)?
            .map_or(Value::Null, Value::from),
        KeyType::Float => row
            .try_get::<_, Option<f64>>(idx)?
            .map_or(Value::Null, Value::from),
        KeyType::Bool => row
            .try_get::<_, Option<bool>>(idx)?
            .map_or(Value::Null, Value::Bool),
    })
}

/// Binds a cursor's key with the sort key's type; a key of another type is a cursor of
/// another query.
fn bind_key(sql: &mut Sql, key: &Value, ty: KeyType) -> Result<(), StoreError> {
    match (ty, key) {
        (KeyType::Text, Value::String(s)) => sql.bind(s.clone(), "text"),
        (KeyType::Int, Value::Number(n)) => {
            sql.bind(n.as_i64().ok_or(StoreError::InvalidCursor)?, "bigint")
        }
        (KeyType::Float, Value::Number(n)) => {
            sql.bind(n.as_f64().ok_or(StoreError::InvalidCursor)?, "float8")
        }
        (KeyType::Bool, Value::Bool(b)) => sql.bind(*b, "boolean"),
        _ => return Err(StoreError::InvalidCursor),
    }
    Ok(())
}

impl PgStore {
    async fn list(&self, org: OrgId, kind: ResourceKind, q: &ListQuery) -> Result<Page, Failure> {
        let client = self.client().await?;
        if client.statement_cache.size() > STATEMENT_CACHE_LIMIT {
            client.statement_cache.clear();
        }
        let mut sql = Sql::default();
        sql.push("FROM resources r WHERE r.org_id = ");
        sql.bind(org.0, "uuid");
        // The kind is written into the SQL, not bound: the name indexes are partial on `kind`,
        // and a generic plan for `kind = $2` could not use them (a sequential scan per filter).
        sql.push(&format!(
            " AND r.kind = {} AND {SCIM_VISIBLE}",
            kind_code(kind)
        ));
        if let Some(f) = &q.filter {
            sql.push(" AND ");
            filter_sql::translate(f, kind, &mut sql);
        }
        let count_text = format!("SELECT COUNT(*) {}", sql.text);
        let count_params = sql.params.len();

        let sort = q
            .sort
            .as_ref()
            .and_then(|(path, order)| filter_sql::sort_key(path, kind).map(|k| (k, *order)));
        let desc = matches!(sort, Some((_, SortOrder::Descending)));
        let (dir, cmp) = if desc { ("DESC", "<") } else { ("ASC", ">") };
        let key = sort.as_ref().map(|(k, _)| k);

        let cursor_mode = q.cursor.is_some();
        let keyset = q.cursor.as_deref().is_some_and(|c| !c.is_empty());
        if let Some(c) = q.cursor.as_deref().filter(|c| !c.is_empty()) {
            let cur = self.cursors.open(org, c)?;
            match (key, &cur.key) {
                // Keyset over (sort key, seq) in the order SQLite uses: NULL keys first when
                // ascending, last when descending.
                (Some(k), Some(kv)) if !kv.is_null() => {
                    let e = &k.expr;
                    sql.push(&format!(" AND ({e} {cmp} "));
                    bind_key(&mut sql, kv, k.ty)?;
                    let key_param = sql.params.len();
                    sql.push(&format!(" OR ({e} = ${key_param} AND r.seq {cmp} "));
                    sql.bind(cur.seq, "bigint");
                    sql.push(")");
                    if desc {
                        sql.push(&format!(" OR {e} IS NULL"));
                    }
                    sql.push(")");
                }
                (Some(k), _) => {
                    let e = &k.expr;
                    sql.push(&format!(" AND (({e} IS NULL AND r.seq {cmp} "));
                    sql.bind(cur.seq, "bigint");
                    sql.push(")");
                    if !desc {
                        sql.push(&format!(" OR {e} IS NOT NULL"));
                    }
                    sql.push(")");
                }
                (None, _) => {
                    sql.push(&format!(" AND r.seq {cmp} "));
                    sql.bind(cur.seq, "bigint");
                }
            }
        }
        match key {
            Some(k) => {
                let nulls = if desc { "LAST" } else { "FIRST" };
                sql.push(&format!(
                    " ORDER BY {} {dir} NULLS {nulls}, r.seq {dir}",
                    k.expr
                ));
            }
            None => sql.push(&format!(" ORDER BY r.seq {dir}")),
        }
        // One row more than asked tells whether there is a next page.
        let limit = i64::try_from(q.count)
            .unwrap_or(i64::MAX)
            .saturating_add(i64::from(cursor_mode));
        let offset = if cursor_mode {
            0
        } else {
            i64::try_from(q.start_index.saturating_sub(1)).unwrap_or(i64::MAX)
        };
        sql.push(" LIMIT ");
        sql.bind(limit, "bigint");
        sql.push(" OFFSET ");
        sql.bind(offset, "bigint");
        let key_col = key.map(|k| format!(", {}", k.expr)).unwrap_or_default();
        let page_text = format!("SELECT {RESOURCE_COLS}, r.seq{key_col} {}", sql.text);

        let params = sql.refs();
        let count_stmt = client.prepare_cached(&count_text).await?;
        if q.count == 0 {
            let total: i64 = client
                .query_one(&count_stmt, &params[..count_params])
                .await?
                .try_get(0)?;
            return Ok(Page {
                resources: Vec::new(),
                total: total as u64,
                next_cursor: None,
            });
        }
        let page_stmt = client.prepare_cached(&page_text).await?;
        let rows = client.query(&page_stmt, &params).await?;
        // A page that starts at the first match and is not full holds every match: it is the
        // total, and the count is not run (the common lookup, `userName eq`, finds 0 or 1).
        let fetched = rows.len() as i64;
        let total: i64 = if !keyset && fetched < limit && (fetched > 0 || offset == 0) {
            offset + fetched
        } else {
            client
                .query_one(&count_stmt, &params[..count_params])
                .await?
                .try_get(0)?
        };
        let mut resources = Vec::with_capacity(rows.len());
        let mut last: Option<Cursor> = None;
        let mut more = false;
        for row in &rows {
            if resources.len() as u64 == q.count {
                more = true;
                break;
            }
            let key = match key {
                Some(k) => Some(key_json(row, 7, k.ty)?),
                None => None,
            };
            last = Some(Cursor {
                seq: row.try_get(6)?,
                key,
            });
            resources.push(build(row)?);
        }
        if q.load.relations {
            load_relations(&client, org, kind, &mut resources).await?;
        }
        let next_cursor = if cursor_mode && more {
            last.as_ref()
                .map(|c| self.cursors.seal(org, c))
                .transpose()?
        } else {
            None
        };
        Ok(Page {
            resources,
            total: total as u64,
            next_cursor,
        })
    }
}

/// The tables whose statistics decide how SCIM requests are planned: which index serves a
/// filter, and how memberships are joined.
const PLANNED_TABLES: &[&str] = &["resources", "group_members"];

/// Serialises statistics refreshes across instances ("scimd" and 2).
const STATISTICS_LOCK: i64 = 0x7363_696d_6400_0002;

impl PgStore {
    /// `ANALYZE` of each planned table that had more row changes since its last analysis
    /// than autovacuum's default threshold (50 rows + 10 % of the table). Where autovacuum
    /// runs it has usually been first and this finds nothing; where it is off, or in the
    /// minute before it comes round on a new database, the planner has no statistics and
    /// takes every `org_id =` and `kind =` for a rare value (0.5 % of the rows each). One
    /// instance at a time refreshes; the others skip the round.
    async fn refresh(&self) -> Result<u32, Failure> {
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
    }
}

const TOKEN_COLS: &str =
    "org_id, id, prefix, hash, created, expires, first_used, last_used, revoked";

fn token_row(row: &Row) -> Result<TokenRecord, Failure> {
    let hash: Vec<u8> = row.try_get(3)?;
    Ok(TokenRecord {
        org_id: OrgId(row.try_get(0)?),
        id: TokenId(row.try_get(1)?),
        prefix: row.try_get(2)?,
        hash: hash
            .try_into()
            .map_err(|_| StoreError::Internal("bad token hash".into()))?,
        created: from_micros(row.try_get(4)?),
        expires: from_micros(row.try_get(5)?),
        first_used: row.try_get::<_, Option<i64>>(6)?.map(from_micros),
        last_used: row.try_get::<_, Option<i64>>(7)?.map(from_micros),
        revoked: row.try_get::<_, Option<i64>>(8)?.map(from_micros),
    })
}

fn org_row(row: &Row) -> Result<Organisation, Failure> {
    let kind: String = row.try_get(2)?;
    Ok(Organisation {
        id: OrgId(row.try_get(0)?),
        name: row.try_get(1)?,
        kind: kind.parse::<OrgKind>().map_err(StoreError::Internal)?,
        created: from_micros(row.try_get(3)?),
    })
}

/// Locks a resource row and checks the version the caller read. `FOR NO KEY UPDATE` for an
/// update does not block members being added elsewhere (their foreign keys take `KEY SHARE`);
/// a delete takes `FOR UPDATE`, which does.
async fn lock_version<C: GenericClient>(
    c: &C,
    org: OrgId,
    kind: ResourceKind,
    id: ResourceId,
    expected: Option<i64>,
    for_delete: bool,
) -> Result<(), Failure> {
    // Keyed by the primary key alone; the kind is checked on the row (see `get_one`).
    let stmt = if for_delete {
        c.prepare_cached(
            "SELECT version, kind, (source = 'scim' AND deleted IS NULL) FROM resources WHERE org_id = $1 AND id = $2 FOR UPDATE",
        )
        .await?
    } else {
        c.prepare_cached(
            "SELECT version, kind, (source = 'scim' AND deleted IS NULL) FROM resources WHERE org_id = $1 AND id = $2 FOR NO KEY UPDATE",
        )
        .await?
    };
    let current: Option<(i64, i16, bool)> = c
        .query_opt(&stmt, &[&org.0, &id.0])
        .await?
        .map(|r| Ok::<_, tokio_postgres::Error>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()?
        .filter(|&(_, k, visible)| k == kind_code(kind) && visible);
    match (current.map(|(v, _, _)| v), expected) {
        (None, _) => Err(StoreError::NotFound.into()),
        (Some(v), Some(e)) if v != e => Err(StoreError::VersionMismatch.into()),
        _ => Ok(()),
    }
}

async fn create_tx<C: GenericClient>(
    c: &C,
    org: OrgId,
    kind: ResourceKind,
    new: &NewResource,
) -> Result<StoredResource, Failure> {
    let now = micros(new.now);
    let stmt = c
        .prepare_cached(
            "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, external_id, doc, active) \
             VALUES ($1, $2, $3, 1, $4, $4, $5, $6, $7, $8)",
        )
        .await?;
    c.execute(
        &stmt,
        &[
            &org.0,
            &new.id.0,
            &kind_code(kind),
            &now,
            &name_ci(kind, &new.doc),
            &external_id(&new.doc),
            &new.doc,
            &active(&new.doc),
        ],
    )
    .await?;
    let mut members = None;
    if kind == ResourceKind::Group {
        add_members(c, org, new.id, &new.members).await?;
        if !new.members.is_empty() {
            let mut g = get_one(c, org, kind, new.id, Load { relations: true })
                .await?
                .ok_or(StoreError::NotFound)?;
            members = g.members.take();
        }
    }
    Ok(StoredResource {
        id: new.id,
        kind,
        doc: new.doc.clone(),
        version: 1,
        created: from_micros(now),
        last_modified: from_micros(now),
        members,
        groups: None,
    })
}

async fn update_tx<C: GenericClient>(
    c: &C,
    org: OrgId,
    kind: ResourceKind,
    id: ResourceId,
    update: &Update,
    load: Load,
) -> Result<StoredResource, Failure> {
    lock_version(c, org, kind, id, update.expected_version, false).await?;
    let mut changed = 0;
    if kind == ResourceKind::Group {
        changed += apply_member_changes(c, org, id, &update.member_changes).await?;
    }
    let now = micros(update.now);
    if let Some(doc) = &update.doc {
        let stmt = c
            .prepare_cached(
                "UPDATE resources SET doc = $3, name_ci = $4, external_id = $5, version = version + 1, last_modified = $6, active = $7 \
                 WHERE org_id = $1 AND id = $2",
            )
            .await?;
        let (name, external, is_active) = (name_ci(kind, doc), external_id(doc), active(doc));
        let write = async {
            c.execute(
                &stmt,
                &[&org.0, &id.0, doc, &name, &external, &now, &is_active],
            )
            .await
            .map_err(Failure::from)
        };
        // The read goes out right behind the write on the same connection, which runs them
        // in order: one round trip for both. When the write fails (a taken `userName`), the
        // read fails too, as the transaction is aborted: the write's error is the one to tell.
        let (written, read) = tokio::join!(write, get_one(c, org, kind, id, load));
        written?;
        return Ok(read?.ok_or(StoreError::NotFound)?);
    } else if changed > 0 {
        let stmt = c
            .prepare_cached("UPDATE resources SET version = version + 1, last_modified = $3 WHERE org_id = $1 AND id = $2")
            .await?;
        c.execute(&stmt, &[&org.0, &id.0, &now]).await?;
    }
    Ok(get_one(c, org, kind, id, load)
        .await?
        .ok_or(StoreError::NotFound)?)
}

async fn delete_tx<C: GenericClient>(
    c: &C,
    org: OrgId,
    kind: ResourceKind,
    id: ResourceId,
    expected: Option<i64>,
) -> Result<(), Failure> {
    lock_version(c, org, kind, id, expected, true).await?;
    // Memberships on both sides go with the resource; groups it was in change.
    let bump = c
        .prepare_cached(
            "UPDATE resources SET version = version + 1 WHERE org_id = $1 AND kind = 1 AND id IN \
             (SELECT group_id FROM group_members WHERE org_id = $1 AND member_id = $2)",
        )
        .await?;
    c.execute(&bump, &[&org.0, &id.0]).await?;
    let unlink = c
        .prepare_cached(
            "DELETE FROM group_members WHERE org_id = $1 AND (member_id = $2 OR group_id = $2)",
        )
        .await?;
    c.execute(&unlink, &[&org.0, &id.0]).await?;
    let delete = c
        .prepare_cached("DELETE FROM resources WHERE org_id = $1 AND id = $2")
        .await?;
    c.execute(&delete, &[&org.0, &id.0]).await?;
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    async fn create_org(&self, org: &Organisation) -> Result<(), StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO organisations (id, name, kind, created) VALUES ($1, $2, $3, $4)",
            )
            .await
            .map_err(Failure::from)?;
        c.execute(
            &stmt,
            &[
                &org.id.0,
                &org.name,
                &org.kind.as_str(),
                &micros(org.created),
            ],
        )
        .await
        .map_err(Failure::from)?;
        Ok(())
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Organisation>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT id, name, kind, created FROM organisations WHERE id = $1")
            .await
            .map_err(Failure::from)?;
        let row = c.query_opt(&stmt, &[&id.0]).await.map_err(Failure::from)?;
        Ok(row.as_ref().map(org_row).transpose()?)
    }

    async fn list_orgs(&self) -> Result<Vec<Organisation>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT id, name, kind, created FROM organisations ORDER BY created, id",
            )
            .await
            .map_err(Failure::from)?;
        let rows = c.query(&stmt, &[]).await.map_err(Failure::from)?;
        Ok(rows.iter().map(org_row).collect::<Result<_, _>>()?)
    }

    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "INSERT INTO tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .await
            .map_err(Failure::from)?;
        c.execute(
            &stmt,
            &[
                &t.org_id.0,
                &t.id.0,
                &t.prefix,
                &t.hash.as_slice(),
                &micros(t.created),
                &micros(t.expires),
                &t.first_used.map(micros),
                &t.last_used.map(micros),
                &t.revoked.map(micros),
            ],
        )
        .await
        .map_err(Failure::from)?;
        Ok(())
    }

    async fn find_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = $1"))
            .await
            .map_err(Failure::from)?;
        let row = c
            .query_opt(&stmt, &[&hash.as_slice()])
            .await
            .map_err(Failure::from)?;
        Ok(row.as_ref().map(token_row).transpose()?)
    }

    async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenRecord>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLS} FROM tokens WHERE org_id = $1 ORDER BY created, id"
            ))
            .await
            .map_err(Failure::from)?;
        let rows = c.query(&stmt, &[&org.0]).await.map_err(Failure::from)?;
        Ok(rows.iter().map(token_row).collect::<Result<_, _>>()?)
    }

    async fn touch_token(
        &self,
        org: OrgId,
        id: TokenId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE tokens SET first_used = COALESCE(first_used, $3), last_used = GREATEST(COALESCE(last_used, 0), $3) \
                 WHERE org_id = $1 AND id = $2",
            )
            .await
            .map_err(Failure::from)?;
        c.execute(&stmt, &[&org.0, &id.0, &micros(at)])
            .await
            .map_err(Failure::from)?;
        Ok(())
    }

    async fn create_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        new: NewResource,
    ) -> Result<StoredResource, StoreError> {
        transaction!(self, tx => create_tx(&tx, org, kind, &new).await)
    }

    async fn get_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        load: Load,
    ) -> Result<Option<StoredResource>, StoreError> {
        let c = self.client().await?;
        Ok(get_one(&c, org, kind, id, load).await?)
    }

    async fn update_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        update: Update,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        transaction!(self, tx => update_tx(&tx, org, kind, id, &update, load).await)
    }

    async fn delete_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        transaction!(self, tx => delete_tx(&tx, org, kind, id, expected_version).await)
    }

    async fn list_resources(
        &self,
        org: OrgId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        Ok(self.list(org, kind, query).await?)
    }

    async fn revoke_token(
        &self,
        org: OrgId,
        id: TokenId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.lc_revoke_token(org, id, at).await?)
    }

    async fn get_connection(
        &self,
        org: OrgId,
    ) -> Result<Option<directory::store::Connection>, StoreError> {
        Ok(self.lc_get_connection(org).await?)
    }

    async fn set_connection(
        &self,
        org: OrgId,
        conn: &directory::store::Connection,
    ) -> Result<(), StoreError> {
        Ok(self.lc_set_connection(org, conn).await?)
    }

    async fn add_admin(&self, admin: &directory::store::Administrator) -> Result<(), StoreError> {
        Ok(self.lc_add_admin(admin).await?)
    }

    async fn list_admins(
        &self,
        org: OrgId,
    ) -> Result<Vec<directory::store::Administrator>, StoreError> {
        Ok(self.lc_list_admins(org).await?)
    }

    async fn append_activity(
        &self,
        entries: Vec<directory::store::ActivityEntry>,
    ) -> Result<(), StoreError> {
        Ok(self.lc_append_activity(&entries).await?)
    }

    async fn list_activity(
        &self,
        org: Option<OrgId>,
        since: Option<OffsetDateTime>,
        limit: u32,
    ) -> Result<Vec<directory::store::ActivityEntry>, StoreError> {
        Ok(self.lc_list_activity(org, since, limit).await?)
    }

    async fn purge_activity(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(self.lc_purge_activity(before).await?)
    }

    async fn outbox_pending(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let n: i64 = c
            .query_one("SELECT COUNT(*) FROM notices WHERE sent IS NULL", &[])
            .await
            .map_err(Failure::from)?
            .try_get(0)
            .map_err(Failure::from)?;
        Ok(n as u64)
    }

    async fn next_token_expiry(
        &self,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let c = self.client().await?;
        let m: Option<i64> = c
            .query_one(
                "SELECT MIN(expires) FROM tokens WHERE revoked IS NULL AND expires > $1",
                &[&micros(now)],
            )
            .await
            .map_err(Failure::from)?
            .try_get(0)
            .map_err(Failure::from)?;
        Ok(m.map(from_micros))
    }

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

    async fn enqueue_notice(&self, notice: &directory::store::Notice) -> Result<bool, StoreError> {
        Ok(self.lc_enqueue_notice(notice).await?)
    }

    async fn claim_notices(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<directory::store::Notice>, StoreError> {
        Ok(self.lc_claim_notices(now, lease_until, limit).await?)
    }

    async fn complete_notice(
        &self,
        org: OrgId,
        id: directory::ids::NoticeId,
        sent: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Ok(self.lc_complete_notice(org, id, sent).await?)
    }

    async fn retry_notice(
        &self,
        org: OrgId,
        id: directory::ids::NoticeId,
        next_attempt: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        Ok(self.lc_retry_notice(org, id, next_attempt, error).await?)
    }

    async fn list_notices(&self, org: OrgId) -> Result<Vec<directory::store::Notice>, StoreError> {
        Ok(self.lc_list_notices(org).await?)
    }

    async fn import_resource(
        &self,
        org: OrgId,
        r: &StoredResource,
        state: &DirectoryState,
    ) -> Result<(), StoreError> {
        let local = state
            .local
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(internal)?;
        transaction!(self, tx => {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, external_id, doc, \
                     active, source, deleted, hold_until, local) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &org.0,
                    &r.id.0,
                    &kind_code(r.kind),
                    &r.version,
                    &micros(r.created),
                    &micros(r.last_modified),
                    &name_ci(r.kind, &r.doc),
                    &external_id(&r.doc),
                    &r.doc,
                    &active(&r.doc),
                    &state.source.as_str(),
                    &state.deleted.map(micros),
                    &state.hold_until.map(micros),
                    &local,
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn export_groups(&self, org: OrgId) -> Result<Vec<(StoredResource, Source)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {RESOURCE_COLS}, r.source FROM resources r WHERE r.org_id = $1 AND r.kind = 1 ORDER BY r.seq"
                ),
                &[&org.0],
            )
            .await
            .map_err(Failure::from)?;
        let mut groups = Vec::with_capacity(rows.len());
        let mut sources = Vec::with_capacity(rows.len());
        for row in &rows {
            groups.push(build(row)?);
            let source: String = row.try_get(6).map_err(Failure::from)?;
            sources.push(
                Source::parse(&source)
                    .ok_or_else(|| StoreError::Internal(format!("bad source {source}")))?,
            );
        }
        load_relations(&c, org, ResourceKind::Group, &mut groups).await?;
        Ok(groups.into_iter().zip(sources).collect())
    }

    async fn refresh_statistics(&self) -> Result<u32, StoreError> {
        Ok(self.refresh().await?)
    }

    async fn import_members(
        &self,
        org: OrgId,
        group: ResourceId,
        members: &[MemberView],
    ) -> Result<(), StoreError> {
        transaction!(self, tx => {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO group_members (org_id, group_id, member_id, member_kind) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            for m in members {
                tx.execute(&stmt, &[&org.0, &group.0, &m.id.0, &kind_code(m.kind)]).await?;
            }
            Ok(())
        })
    }

    async fn get_account(&self, org: OrgId, id: ResourceId) -> Result<Option<Account>, StoreError> {
        Ok(self.acc_get(org, id).await?)
    }

    async fn find_account_by_name(
        &self,
        org: OrgId,
        name_ci: &str,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self.acc_find_by_name(org, name_ci).await?)
    }

    async fn list_accounts(&self, org: OrgId, q: &AccountQuery) -> Result<AccountPage, StoreError> {
        Ok(self.acc_list(org, q).await?)
    }

    async fn create_account(
        &self,
        org: OrgId,
        new: NewResource,
        source: Source,
        local: &LocalProps,
    ) -> Result<Account, StoreError> {
        Ok(self.acc_create(org, &new, source, local).await?)
    }

    async fn update_account(
        &self,
        org: OrgId,
        id: ResourceId,
        change: AccountChange,
    ) -> Result<Account, StoreError> {
        self.acc_update(org, id, &change).await
    }

    async fn retire_account(
        &self,
        org: OrgId,
        id: ResourceId,
        expected_version: Option<i64>,
        at: OffsetDateTime,
        hold_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.acc_retire(org, id, expected_version, at, hold_until)
            .await
    }

    async fn purge_retired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(self.acc_purge_retired(now).await?)
    }

    async fn purge_retired_account(
        &self,
        org: OrgId,
        id: ResourceId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.acc_purge_one(org, id, now).await?)
    }

    async fn release_sync(&self, org: OrgId) -> Result<u64, StoreError> {
        Ok(self.acc_release_sync(org).await?)
    }

    async fn sync_policy(&self, org: OrgId, name_ci: &str) -> Result<SyncPolicy, StoreError> {
        Ok(self.acc_sync_policy(org, name_ci).await?)
    }

    async fn set_auto_merge(&self, org: OrgId, on: bool) -> Result<(), StoreError> {
        Ok(self.acc_set_auto_merge(org, on).await?)
    }

    async fn record_conflict(&self, c: &ConflictRecord) -> Result<bool, StoreError> {
        Ok(self.acc_record_conflict(c).await?)
    }

    async fn list_conflicts(&self, org: OrgId) -> Result<Vec<ConflictRecord>, StoreError> {
        Ok(self.acc_list_conflicts(org).await?)
    }

    async fn delete_conflict(&self, org: OrgId, name_ci: &str) -> Result<bool, StoreError> {
        Ok(self.acc_delete_conflict(org, name_ci).await?)
    }

    async fn add_domain(&self, d: &DomainRecord) -> Result<(), StoreError> {
        Ok(self.acc_add_domain(d).await?)
    }

    async fn list_domains(&self, org: OrgId) -> Result<Vec<DomainRecord>, StoreError> {
        Ok(self.acc_list_domains(org).await?)
    }

    async fn set_domain_verified(
        &self,
        org: OrgId,
        name: &str,
        at: OffsetDateTime,
        by: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.acc_set_domain_verified(org, name, at, by).await?)
    }

    async fn remove_domain(&self, org: OrgId, name: &str) -> Result<bool, StoreError> {
        Ok(self.acc_remove_domain(org, name).await?)
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        Ok(self.acc_insert_session(s).await?)
    }

    async fn find_session_by_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.acc_find_session(hash).await?)
    }

    async fn delete_session(&self, org: OrgId, id: SessionId) -> Result<(), StoreError> {
        Ok(self.acc_delete_session(org, id).await?)
    }

    async fn end_admin_sessions(
        &self,
        org: OrgId,
        admin: directory::ids::AdminId,
    ) -> Result<u64, StoreError> {
        Ok(self.acc_end_admin_sessions(org, admin).await?)
    }

    async fn remove_admin(
        &self,
        org: OrgId,
        admin: directory::ids::AdminId,
    ) -> Result<bool, StoreError> {
        Ok(self.acc_remove_admin(org, admin).await?)
    }

    async fn set_admin_password(
        &self,
        org: OrgId,
        admin: directory::ids::AdminId,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .acc_set_admin_password(org, admin, password_hash)
            .await?)
    }

    async fn purge_sessions(
        &self,
        now: OffsetDateTime,
        failures_from: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        Ok(self.acc_purge_sessions(now, failures_from).await?)
    }

    async fn insert_setup_link(&self, link: &SetupLink) -> Result<(), StoreError> {
        Ok(self.con_insert_setup_link(link).await?)
    }

    async fn find_setup_link(
        &self,
        org: OrgId,
        hash: &[u8; 32],
    ) -> Result<Option<SetupLink>, StoreError> {
        Ok(self.con_find_setup_link(org, hash).await?)
    }

    async fn use_setup_link(
        &self,
        org: OrgId,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.con_use_setup_link(org, hash, at).await?)
    }

    async fn signin_throttle(
        &self,
        org: OrgId,
        email_ci: &str,
    ) -> Result<Option<SigninThrottle>, StoreError> {
        Ok(self.con_signin_throttle(org, email_ci).await?)
    }

    async fn note_signin_failure(
        &self,
        org: OrgId,
        email_ci: &str,
        at: OffsetDateTime,
        window_from: OffsetDateTime,
    ) -> Result<SigninThrottle, StoreError> {
        Ok(self
            .con_note_signin_failure(org, email_ci, at, window_from)
            .await?)
    }

    async fn lock_signin(
        &self,
        org: OrgId,
        email_ci: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Ok(self.con_lock_signin(org, email_ci, until).await?)
    }

    async fn clear_signin_failures(&self, org: OrgId, email_ci: &str) -> Result<(), StoreError> {
        Ok(self.con_clear_signin_failures(org, email_ci).await?)
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
