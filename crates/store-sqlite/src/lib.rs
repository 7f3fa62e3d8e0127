//! # store-sqlite
//!
//! scimd's embedded default store: the [`directory::Store`] port on SQLite.
//!
//! Guarantees: one writer connection (on its own thread, fed through a queue, committing in
//! groups) so writers never spin on `SQLITE_BUSY`; readers in parallel under WAL; a write is
//! acknowledged only after its commit; uniqueness is decided by unique indexes, never by a
//! check in code; every statement binds its values; every query is scoped to one organisation
//! except the token lookup.

mod accounts;
mod activity;
pub mod backup;
mod console;
mod epoch;
mod files;
mod filter_sql;
mod functions;
mod lifecycle;
mod migrations;
mod runtime;
mod token_cache;

use async_trait::async_trait;
use directory::ids::SessionId;
use directory::store::{
    Account, AccountChange, AccountPage, AccountQuery, ConflictRecord, DirectoryState,
    DomainRecord, GroupView, ListQuery, Load, LocalProps, MemberView, NewResource, Page,
    SessionRecord, SetupLink, SigninThrottle, Source, StoredResource, SyncPolicy, TokenRecord,
    Update,
};
use directory::{OrgId, OrgKind, Organisation, ResourceId, Store, StoreError, TokenId};
use epoch::EpochFile;
use filter_sql::Sql;
use runtime::{Runtime, internal};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use scim_core::messages::SortOrder;
use scim_core::patch::{MemberChange, MemberRef};
use scim_core::schema::{ResourceKind, registry};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;
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
        let rt = Runtime::start(path, writer, readers, data.clone())?;
        Ok(SqliteStore {
            rt,
            path: path.to_owned(),
            tokens: Arc::new(TokenCache::open(path).map_err(internal)?),
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

const RESOURCE_COLS: &str = "r.id, r.kind, r.version, r.created, r.last_modified, r.doc";

/// What SCIM sees of `resources r`: rows directory sync owns that SCIM has not deleted (the
/// partial index `resources_scim_seq` states the same condition).
pub(crate) const SCIM_VISIBLE: &str = "r.source = 'scim' AND r.deleted IS NULL";

fn row_to_resource(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(Vec<u8>, i64, i64, i64, i64, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn build(raw: (Vec<u8>, i64, i64, i64, i64, String)) -> Result<StoredResource, StoreError> {
    let (id, kind, version, created, last_modified, doc) = raw;
    Ok(StoredResource {
        id: ResourceId(uuid_from(&id)?),
        kind: kind_from(kind),
        doc: serde_json::from_str(&doc).map_err(internal)?,
        version,
        created: from_micros(created),
        last_modified: from_micros(last_modified),
        members: None,
        groups: None,
    })
}

fn load_relations(conn: &Connection, org: OrgId, r: &mut StoredResource) -> Result<(), StoreError> {
    let org_b = org.0.as_bytes().as_slice();
    let id_b = r.id.0.as_bytes().as_slice();
    match r.kind {
        ResourceKind::Group => {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT member_id, member_kind FROM group_members WHERE org_id = ?1 AND group_id = ?2",
                )
                .map_err(internal)?;
            let rows = stmt
                .query_map(params![org_b, id_b], |row| {
                    Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(internal)?;
            let mut members = Vec::new();
            for row in rows {
                let (mid, mk) = row.map_err(internal)?;
                // Members carry no `display`: a client compares what it sent with what it
                // reads back, and it sent none. It also keeps a large group's read to one index.
                members.push(MemberView {
                    id: ResourceId(uuid_from(&mid)?),
                    kind: kind_from(mk),
                    display: None,
                });
            }
            r.members = Some(members);
        }
        ResourceKind::User => {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT gm.group_id, json_extract(x.doc, '$.displayName') \
                     FROM group_members gm JOIN resources x ON x.org_id = gm.org_id AND x.id = gm.group_id \
                     WHERE gm.org_id = ?1 AND gm.member_id = ?2 AND x.source = 'scim' AND x.deleted IS NULL",
                )
                .map_err(internal)?;
            let rows = stmt
                .query_map(params![org_b, id_b], |row| {
                    Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Option<String>>(1)?))
                })
                .map_err(internal)?;
            let mut groups = Vec::new();
            for row in rows {
                let (gid, display) = row.map_err(internal)?;
                groups.push(GroupView {
                    id: ResourceId(uuid_from(&gid)?),
                    display,
                });
            }
            r.groups = Some(groups);
        }
    }
    Ok(())
}

/// A resource by id, as SCIM sees it (built once: it is the statement of every GET by id).
static GET_ONE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {RESOURCE_COLS} FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = ?3 AND {SCIM_VISIBLE}"
    )
});

fn get_one(
    conn: &Connection,
    org: OrgId,
    kind: ResourceKind,
    id: ResourceId,
    load: Load,
) -> Result<Option<StoredResource>, StoreError> {
    let mut stmt = conn.prepare_cached(&GET_ONE_SQL).map_err(internal)?;
    let mut rows = stmt
        .query(params![
            org.0.as_bytes().as_slice(),
            id.0.as_bytes().as_slice(),
            kind_code(kind)
        ])
        .map_err(internal)?;
    let Some(row) = rows.next().map_err(internal)? else {
        return Ok(None);
    };
    let mut r = build(row_to_resource(row).map_err(internal)?)?;
    if load.relations {
        // While `rows` is open: the relations come from the row's own snapshot, in the same
        // read transaction (one lock and unlock of the database, not two).
        load_relations(conn, org, &mut r)?;
    }
    Ok(Some(r))
}

/// Adds members; returns how many rows changed. Members must exist in the same organisation.
fn add_members(
    conn: &Connection,
    org: OrgId,
    group: ResourceId,
    refs: &[MemberRef],
) -> Result<usize, StoreError> {
    let org_b = org.0.as_bytes().as_slice();
    let mut find = conn
        .prepare_cached(&format!(
            "SELECT kind FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND {SCIM_VISIBLE}"
        ))
        .map_err(internal)?;
    let mut insert = conn
        .prepare_cached("INSERT OR IGNORE INTO group_members (org_id, group_id, member_id, member_kind) VALUES (?1, ?2, ?3, ?4)")
        .map_err(internal)?;
    let mut changed = 0;
    for m in refs {
        let Ok(mid) = uuid::Uuid::parse_str(&m.value) else {
            return Err(StoreError::UnknownMember(m.value.clone()));
        };
        if mid == group.0 {
            return Err(StoreError::UnknownMember(m.value.clone()));
        }
        let mk: Option<i64> = find
            .query_row(params![org_b, mid.as_bytes().as_slice()], |row| row.get(0))
            .optional()
            .map_err(internal)?;
        let Some(mk) = mk else {
            return Err(StoreError::UnknownMember(m.value.clone()));
        };
        changed += insert
            .execute(params![
                org_b,
                group.0.as_bytes().as_slice(),
                mid.as_bytes().as_slice(),
                mk
            ])
            .map_err(internal)?;
    }
    Ok(changed)
}

fn remove_members(
    conn: &Connection,
    org: OrgId,
    group: ResourceId,
    ids: &[String],
) -> Result<usize, StoreError> {
    let mut del = conn
        .prepare_cached(
            "DELETE FROM group_members WHERE org_id = ?1 AND group_id = ?2 AND member_id = ?3",
        )
        .map_err(internal)?;
    let mut changed = 0;
    for id in ids {
        if let Ok(mid) = uuid::Uuid::parse_str(id) {
            changed += del
                .execute(params![
                    org.0.as_bytes().as_slice(),
                    group.0.as_bytes().as_slice(),
                    mid.as_bytes().as_slice()
                ])
                .map_err(internal)?;
        }
    }
    Ok(changed)
}

fn apply_member_changes(
    conn: &Connection,
    org: OrgId,
    group: ResourceId,
    changes: &[MemberChange],
) -> Result<usize, StoreError> {
    let mut changed = 0;
    for change in changes {
        changed += match change {
            MemberChange::Add(refs) => add_members(conn, org, group, refs)?,
            MemberChange::Remove(ids) => remove_members(conn, org, group, ids)?,
            MemberChange::ReplaceAll(refs) => {
                let removed = conn
                    .execute(
                        "DELETE FROM group_members WHERE org_id = ?1 AND group_id = ?2",
                        params![org.0.as_bytes().as_slice(), group.0.as_bytes().as_slice()],
                    )
                    .map_err(internal)?;
                removed + add_members(conn, org, group, refs)?
            }
            MemberChange::RemoveMatching(filter) => {
                let mut g = StoredResource {
                    id: group,
                    kind: ResourceKind::Group,
                    doc: Value::Null,
                    version: 0,
                    created: OffsetDateTime::UNIX_EPOCH,
                    last_modified: OffsetDateTime::UNIX_EPOCH,
                    members: None,
                    groups: None,
                };
                load_relations(conn, org, &mut g)?;
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
                remove_members(conn, org, group, &doomed)?
            }
        };
    }
    Ok(changed)
}

use directory::store::columns::{
    active, external_id, from_micros, kind_code, kind_from, micros, name_ci,
};
use directory::store::{Cursor, CursorKey};

fn append_sql(sql: &mut Sql, other: &Sql) {
    sql.text.push_str(&other.text);
    sql.params.extend(other.params.iter().cloned());
}

fn sql_to_json(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::from(*i),
        SqlValue::Real(f) => Value::from(*f),
        SqlValue::Text(t) => Value::String(t.clone()),
        SqlValue::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

fn json_to_sql(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(SqlValue::Integer)
            .unwrap_or_else(|| SqlValue::Real(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

/// Whether a list query is a few index lookups (`eq` on `id`, the unique name or
/// `externalId`: the provisioning clients' existence check), cheap enough to run on the calling
/// thread. A group's members (possibly 100,000) are not.
fn is_point_query(kind: ResourceKind, q: &ListQuery) -> bool {
    use scim_core::filter::{CompValue, CompareOp, Filter};
    let Some(Filter::Compare(p, CompareOp::Eq, CompValue::Str(_))) = &q.filter else {
        return false;
    };
    let name = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    p.urn.is_none()
        && p.sub.is_none()
        && ["id", name, "externalId"]
            .iter()
            .any(|a| p.attr.eq_ignore_ascii_case(a))
        && !(kind == ResourceKind::Group && q.load.relations)
}

fn list(
    conn: &Connection,
    cursors: &CursorKey,
    org: OrgId,
    kind: ResourceKind,
    q: &ListQuery,
) -> Result<Page, StoreError> {
    let mut base = Sql::default();
    // The kind is written into the SQL, not bound: the name indexes are partial (`WHERE kind
    // = 0` / `= 1`) and SQLite uses a partial index only when the query states its condition.
    base.text.push_str(&format!(
        "FROM resources r WHERE r.org_id = ? AND r.kind = {} AND {SCIM_VISIBLE}",
        kind_code(kind)
    ));
    base.params.push(SqlValue::Blob(org.0.as_bytes().to_vec()));
    if let Some(f) = &q.filter {
        base.text.push_str(" AND ");
        filter_sql::translate(f, kind, &mut base);
    }
    let sort = match &q.sort {
        Some((path, order)) => filter_sql::sort_expr(path, kind).map(|s| (s, *order)),
        None => None,
    };
    let desc = matches!(sort, Some((_, SortOrder::Descending)));
    let dir = if desc { "DESC" } else { "ASC" };
    let cmp = if desc { "<" } else { ">" };
    let key_expr = sort.as_ref().map(|(s, _)| s);

    let mut sql = Sql::default();
    sql.text.push_str("SELECT ");
    sql.text.push_str(RESOURCE_COLS);
    sql.text.push_str(", r.seq");
    if let Some(k) = key_expr {
        sql.text.push_str(", ");
        sql.text.push_str(&k.text);
        sql.params.extend(k.params.iter().cloned());
    }
    sql.text.push(' ');
    sql.text.push_str(&base.text);
    sql.params.extend(base.params.iter().cloned());

    let cursor_mode = q.cursor.is_some();
    if let Some(c) = q.cursor.as_deref().filter(|c| !c.is_empty()) {
        let cur = cursors.open(org, c)?;
        match (key_expr, &cur.key) {
            (Some(k), key) => {
                // Keyset over (sort key, seq). SQLite sorts NULL keys first ascending and
                // last descending, so rows without a key come after a non-null cursor key when
                // descending, and every non-null key comes after a null one when ascending.
                let kv = key.as_ref().map(json_to_sql).unwrap_or(SqlValue::Null);
                let null_key = matches!(kv, SqlValue::Null);
                let mut cond = Sql::default();
                cond.text.push_str(" AND ((");
                append_sql(&mut cond, k);
                cond.text.push_str(&format!(" {cmp} ?"));
                cond.params.push(kv.clone());
                cond.text.push_str(") OR (");
                append_sql(&mut cond, k);
                cond.text.push_str(&format!(" IS ? AND r.seq {cmp} ?)"));
                cond.params.push(kv);
                cond.params.push(SqlValue::Integer(cur.seq));
                if null_key != desc {
                    cond.text.push_str(" OR ");
                    append_sql(&mut cond, k);
                    cond.text
                        .push_str(if desc { " IS NULL" } else { " IS NOT NULL" });
                }
                cond.text.push(')');
                append_sql(&mut sql, &cond);
            }
            (None, _) => {
                sql.text.push_str(&format!(" AND r.seq {cmp} ?"));
                sql.params.push(SqlValue::Integer(cur.seq));
            }
        }
    }
    match key_expr {
        Some(k) => {
            sql.text
                .push_str(&format!(" ORDER BY {} {dir}, r.seq {dir}", k.text));
            sql.params.extend(k.params.iter().cloned());
        }
        None => sql.text.push_str(&format!(" ORDER BY r.seq {dir}")),
    }
    // One row more than asked tells whether there is a next page.
    sql.text.push_str(" LIMIT ? OFFSET ?");
    sql.params
        .push(SqlValue::Integer(q.count as i64 + i64::from(cursor_mode)));
    sql.params.push(SqlValue::Integer(if cursor_mode {
        0
    } else {
        q.start_index.saturating_sub(1) as i64
    }));

    let mut resources = Vec::new();
    let mut last: Option<Cursor> = None;
    let mut more = false;
    if q.count > 0 {
        let mut stmt = conn.prepare_cached(&sql.text).map_err(internal)?;
        let has_key = key_expr.is_some();
        let mut rows = stmt
            .query(params_from_iter(sql.params.iter()))
            .map_err(internal)?;
        while let Some(row) = rows.next().map_err(internal)? {
            if resources.len() as u64 == q.count {
                more = true;
                break;
            }
            let raw = row_to_resource(row).map_err(internal)?;
            let seq: i64 = row.get(6).map_err(internal)?;
            let key = if has_key {
                Some(sql_to_json(&row.get::<_, SqlValue>(7).map_err(internal)?))
            } else {
                None
            };
            last = Some(Cursor { seq, key });
            let mut r = build(raw)?;
            if q.load.relations {
                load_relations(conn, org, &mut r)?;
            }
            resources.push(r);
        }
    }
    let next_cursor = if cursor_mode && more {
        last.as_ref().map(|c| cursors.seal(org, c)).transpose()?
    } else {
        None
    };
    // A first page that holds everything tells the total itself (the provisioning clients'
    // existence checks): no second statement.
    let first_page = q.cursor.as_deref().is_none_or(str::is_empty) && q.start_index <= 1;
    let whole = !more && (cursor_mode || (resources.len() as u64) < q.count);
    let total = if q.count > 0 && first_page && whole {
        resources.len() as u64
    } else if q.filter.is_none() {
        // Kept by triggers (migration 0006): counting a million index entries took tens of
        // milliseconds on every page of an import.
        let n: Option<i64> = conn
            .prepare_cached("SELECT n FROM scim_counts WHERE org_id = ?1 AND kind = ?2")
            .map_err(internal)?
            .query_row(
                params![org.0.as_bytes().as_slice(), kind_code(kind)],
                |row| row.get(0),
            )
            .optional()
            .map_err(internal)?;
        n.unwrap_or(0).max(0) as u64
    } else {
        let n: i64 = conn
            .prepare_cached(&format!("SELECT COUNT(*) {}", base.text))
            .map_err(internal)?
            .query_row(params_from_iter(base.params.iter()), |row| row.get(0))
            .map_err(internal)?;
        n as u64
    };
    Ok(Page {
        resources,
        total,
        next_cursor,
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn change_mark(&self) -> Option<directory::store::ChangeMark> {
        self.data.read()
    }

    async fn create_org(&self, org: &Organisation) -> Result<(), StoreError> {
        let org = org.clone();
        self.rt
            .write(move |c| {
                c.execute(
                    "INSERT INTO organisations (id, name, kind, created) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        org.id.0.as_bytes().as_slice(),
                        org.name,
                        org.kind.as_str(),
                        micros(org.created)
                    ],
                )
                .map_err(internal)?;
                Ok(())
            })
            .await
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Organisation>, StoreError> {
        self.rt
            .read(move |c| {
                c.prepare_cached("SELECT id, name, kind, created FROM organisations WHERE id = ?1")
                    .map_err(internal)?
                    .query_row(params![id.0.as_bytes().as_slice()], org_row)
                    .optional()
                    .map_err(internal)?
                    .transpose()
            })
            .await
    }

    async fn list_orgs(&self) -> Result<Vec<Organisation>, StoreError> {
        self.rt
            .read(|c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT id, name, kind, created FROM organisations ORDER BY created",
                    )
                    .map_err(internal)?;
                let rows = stmt.query_map([], org_row).map_err(internal)?;
                rows.map(|r| r.map_err(internal)?).collect()
            })
            .await
    }

    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let t = t.clone();
        self.rt
            .write(move |c| {
                c.execute(
                    "INSERT INTO tokens (org_id, id, prefix, hash, created, expires, first_used, last_used, revoked) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        t.org_id.0.as_bytes().as_slice(),
                        t.id.0.as_bytes().as_slice(),
                        t.prefix,
                        t.hash.as_slice(),
                        micros(t.created),
                        micros(t.expires),
                        t.first_used.map(micros),
                        t.last_used.map(micros),
                        t.revoked.map(micros)
                    ],
                )
                .map_err(internal)?;
                Ok(())
            })
            .await?;
        self.tokens.changed();
        Ok(())
    }

    async fn find_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        self.find_token_by_hash_at(hash, None).await
    }

    async fn find_token_by_hash_at(
        &self,
        hash: &[u8; 32],
        mark: Option<directory::store::ChangeMark>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        // The epochs are read before the row: a change committed in between makes it stale.
        let (cached, epoch) = self.tokens.get(hash, mark);
        if cached.is_some() {
            return Ok(cached);
        }
        let found = self.rt.read_now(|c| {
            c.prepare_cached(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = ?1"))
                .map_err(internal)?
                .query_row(params![hash.as_slice()], token_row)
                .optional()
                .map_err(internal)?
                .transpose()
        })?;
        if let (Some(epoch), Some(record)) = (epoch, &found) {
            self.tokens.put(epoch, mark, record);
        }
        Ok(found)
    }

    async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenRecord>, StoreError> {
        self.rt
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {TOKEN_COLS} FROM tokens WHERE org_id = ?1 ORDER BY created"
                    ))
                    .map_err(internal)?;
                let rows = stmt
                    .query_map(params![org.0.as_bytes().as_slice()], token_row)
                    .map_err(internal)?;
                rows.map(|r| r.map_err(internal)?).collect()
            })
            .await
    }

    async fn touch_token(
        &self,
        org: OrgId,
        id: TokenId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.rt
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE tokens SET first_used = COALESCE(first_used, ?3), last_used = MAX(COALESCE(last_used, 0), ?3) \
                     WHERE org_id = ?1 AND id = ?2",
                )
                .map_err(internal)?
                .execute(params![org.0.as_bytes().as_slice(), id.0.as_bytes().as_slice(), micros(at)])
                .map_err(internal)?;
                Ok(())
            })
            .await?;
        // A first use changes what the token's check sees (`first_used`).
        self.tokens.changed();
        Ok(())
    }

    async fn create_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        new: NewResource,
    ) -> Result<StoredResource, StoreError> {
        self.rt
            .write(move |c| {
                let doc_text = serde_json::to_string(&new.doc).map_err(internal)?;
                let now = micros(new.now);
                c.prepare_cached(
                    "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, external_id, doc, active) \
                     VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(internal)?
                .execute(params![
                    org.0.as_bytes().as_slice(),
                    new.id.0.as_bytes().as_slice(),
                    kind_code(kind),
                    now,
                    name_ci(kind, &new.doc),
                    external_id(&new.doc),
                    doc_text,
                    active(&new.doc)
                ])
                .map_err(map_write_err)?;
                let mut members = None;
                if kind == ResourceKind::Group {
                    add_members(c, org, new.id, &new.members)?;
                    if !new.members.is_empty() {
                        let mut g = get_one(c, org, kind, new.id, Load { relations: true })?.ok_or(StoreError::NotFound)?;
                        members = g.members.take();
                    }
                }
                Ok(StoredResource {
                    id: new.id,
                    kind,
                    doc: new.doc,
                    version: 1,
                    created: from_micros(now),
                    last_modified: from_micros(now),
                    members,
                    groups: None,
                })
            })
            .await
    }

    async fn get_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        load: Load,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.rt.read_now(|c| get_one(c, org, kind, id, load))
    }

    async fn update_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        update: Update,
        load: Load,
    ) -> Result<StoredResource, StoreError> {
        self.rt
            .write(move |c| {
                let org_b = org.0.as_bytes().as_slice();
                let id_b = id.0.as_bytes().as_slice();
                type Current = (i64, i64, i64, Option<String>, Option<String>);
                let current: Option<Current> = c
                    .prepare_cached(&format!("SELECT version, created, seq, name_ci, external_id FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = ?3 AND {SCIM_VISIBLE}"))
                    .map_err(internal)?
                    .query_row(params![org_b, id_b, kind_code(kind)], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                    })
                    .optional()
                    .map_err(internal)?;
                let (version, created, seq, old_name, old_external) = match current {
                    None => return Err(StoreError::NotFound),
                    Some((v, ..)) if update.expected_version.is_some_and(|e| e != v) => return Err(StoreError::VersionMismatch),
                    Some(found) => found,
                };
                let mut changed = 0;
                if kind == ResourceKind::Group {
                    changed += apply_member_changes(c, org, id, &update.member_changes)?;
                }
                let now = micros(update.now);
                if let Some(doc) = update.doc {
                    let doc_text = serde_json::to_string(&doc).map_err(internal)?;
                    let (name, external) = (name_ci(kind, &doc), external_id(&doc));
                    // An indexed column left out of the statement keeps its index entry
                    // untouched (SQLite rewrites it whenever the column is assigned, even to the
                    // same value): a commit then writes the row's page and no index pages.
                    let renamed = name != old_name || external != old_external.as_deref();
                    let (sql, n) = if renamed {
                        ("UPDATE resources SET doc = ?2, version = version + 1, last_modified = ?3, active = ?4, \
                          name_ci = ?5, external_id = ?6 WHERE seq = ?1", 6)
                    } else {
                        ("UPDATE resources SET doc = ?2, version = version + 1, last_modified = ?3, active = ?4 WHERE seq = ?1", 4)
                    };
                    let p = params![seq, doc_text, now, active(&doc), name, external];
                    c.prepare_cached(sql)
                        .map_err(internal)?
                        .execute(&p[..n])
                        .map_err(map_write_err)?;
                    // What was just written is the answer: no need to read it back and parse it.
                    let mut r = StoredResource {
                        id,
                        kind,
                        doc,
                        version: version + 1,
                        created: from_micros(created),
                        last_modified: from_micros(now),
                        members: None,
                        groups: None,
                    };
                    if load.relations {
                        load_relations(c, org, &mut r)?;
                    }
                    return Ok(r);
                } else if changed > 0 {
                    c.prepare_cached(
                        "UPDATE resources SET version = version + 1, last_modified = ?4 WHERE org_id = ?1 AND id = ?2 AND kind = ?3",
                    )
                    .map_err(internal)?
                    .execute(params![org_b, id_b, kind_code(kind), now])
                    .map_err(internal)?;
                }
                get_one(c, org, kind, id, load)?.ok_or(StoreError::NotFound)
            })
            .await
    }

    async fn delete_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        self.rt
            .write(move |c| {
                let org_b = org.0.as_bytes().as_slice();
                let id_b = id.0.as_bytes().as_slice();
                let current: Option<i64> = c
                    .prepare_cached(&format!("SELECT version FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = ?3 AND {SCIM_VISIBLE}"))
                    .map_err(internal)?
                    .query_row(params![org_b, id_b, kind_code(kind)], |row| row.get(0))
                    .optional()
                    .map_err(internal)?;
                match (current, expected_version) {
                    (None, _) => return Err(StoreError::NotFound),
                    (Some(v), Some(e)) if v != e => return Err(StoreError::VersionMismatch),
                    _ => {}
                }
                // Memberships on both sides go with the resource; groups it was in change.
                c.prepare_cached(
                    "UPDATE resources SET version = version + 1 WHERE org_id = ?1 AND kind = 1 AND id IN \
                     (SELECT group_id FROM group_members WHERE org_id = ?1 AND member_id = ?2)",
                )
                .map_err(internal)?
                .execute(params![org_b, id_b])
                .map_err(internal)?;
                c.prepare_cached("DELETE FROM group_members WHERE org_id = ?1 AND (member_id = ?2 OR group_id = ?2)")
                    .map_err(internal)?
                    .execute(params![org_b, id_b])
                    .map_err(internal)?;
                c.prepare_cached("DELETE FROM resources WHERE org_id = ?1 AND id = ?2")
                    .map_err(internal)?
                    .execute(params![org_b, id_b])
                    .map_err(internal)?;
                Ok(())
            })
            .await
    }

    async fn list_resources(
        &self,
        org: OrgId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        if is_point_query(kind, query) {
            return self
                .rt
                .read_now(|c| list(c, &self.cursors, org, kind, query));
        }
        let q = query.clone();
        let cursors = self.cursors.clone();
        self.rt
            .scan(org, move |c| list(c, &cursors, org, kind, &q))
            .await
    }

    async fn revoke_token(
        &self,
        org: OrgId,
        id: TokenId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let revoked = lifecycle::revoke_token(&self.rt, org, id, at).await;
        self.tokens.changed();
        revoked
    }

    async fn get_connection(
        &self,
        org: OrgId,
    ) -> Result<Option<directory::store::Connection>, StoreError> {
        lifecycle::get_connection(&self.rt, org).await
    }

    async fn set_connection(
        &self,
        org: OrgId,
        conn: &directory::store::Connection,
    ) -> Result<(), StoreError> {
        lifecycle::set_connection(&self.rt, org, *conn).await
    }

    async fn add_admin(&self, admin: &directory::store::Administrator) -> Result<(), StoreError> {
        lifecycle::add_admin(&self.rt, admin.clone()).await
    }

    async fn list_admins(
        &self,
        org: OrgId,
    ) -> Result<Vec<directory::store::Administrator>, StoreError> {
        lifecycle::list_admins(&self.rt, org).await
    }

    async fn append_activity(
        &self,
        entries: Vec<directory::store::ActivityEntry>,
    ) -> Result<(), StoreError> {
        activity::append(&self.rt, entries).await
    }

    async fn list_activity(
        &self,
        org: Option<OrgId>,
        since: Option<OffsetDateTime>,
        limit: u32,
    ) -> Result<Vec<directory::store::ActivityEntry>, StoreError> {
        activity::list(&self.rt, org, since, limit).await
    }

    async fn purge_activity(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        activity::purge(&self.rt, before).await
    }

    async fn outbox_pending(&self) -> Result<u64, StoreError> {
        self.rt.read_now(|c| {
            c.prepare_cached("SELECT COUNT(*) FROM notices WHERE sent IS NULL")
                .map_err(internal)?
                .query_row([], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(internal)
        })
    }

    async fn next_token_expiry(
        &self,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        self.rt.read_now(|c| {
            c.prepare_cached(
                "SELECT MIN(expires) FROM tokens WHERE revoked IS NULL AND expires > ?1",
            )
            .map_err(internal)?
            .query_row(params![micros(now)], |r| r.get::<_, Option<i64>>(0))
            .map(|m| m.map(from_micros))
            .map_err(internal)
        })
    }

    fn stats(&self) -> directory::store::StoreStats {
        directory::store::StoreStats {
            pool_size: None,
            pool_idle: Some(self.rt.idle_readers() as u64),
            write_queue: Some(self.rt.write_queue()),
        }
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.rt.read_now(|c| {
            c.prepare_cached("SELECT COUNT(*) FROM schema_migrations")
                .map_err(internal)?
                .query_row([], |r| r.get::<_, i64>(0))
                .map_err(internal)?;
            Ok(())
        })
    }

    async fn enqueue_notice(&self, notice: &directory::store::Notice) -> Result<bool, StoreError> {
        lifecycle::enqueue_notice(&self.rt, notice.clone()).await
    }

    async fn claim_notices(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<directory::store::Notice>, StoreError> {
        lifecycle::claim_notices(&self.rt, now, lease_until, limit).await
    }

    async fn complete_notice(
        &self,
        org: OrgId,
        id: directory::ids::NoticeId,
        sent: OffsetDateTime,
    ) -> Result<(), StoreError> {
        lifecycle::complete_notice(&self.rt, org, id, sent).await
    }

    async fn retry_notice(
        &self,
        org: OrgId,
        id: directory::ids::NoticeId,
        next_attempt: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        lifecycle::retry_notice(&self.rt, org, id, next_attempt, error.to_owned()).await
    }

    async fn list_notices(&self, org: OrgId) -> Result<Vec<directory::store::Notice>, StoreError> {
        lifecycle::list_notices(&self.rt, org).await
    }

    async fn import_resource(
        &self,
        org: OrgId,
        r: &StoredResource,
        state: &DirectoryState,
    ) -> Result<(), StoreError> {
        let r = r.clone();
        let state = state.clone();
        self.rt
            .write(move |c| {
                let doc_text = serde_json::to_string(&r.doc).map_err(internal)?;
                let local = state
                    .local
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(internal)?;
                c.prepare_cached(
                    "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, external_id, doc, \
                     active, source, deleted, hold_until, local) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .map_err(internal)?
                .execute(params![
                    org.0.as_bytes().as_slice(),
                    r.id.0.as_bytes().as_slice(),
                    kind_code(r.kind),
                    r.version,
                    micros(r.created),
                    micros(r.last_modified),
                    name_ci(r.kind, &r.doc),
                    external_id(&r.doc),
                    doc_text,
                    active(&r.doc),
                    state.source.as_str(),
                    state.deleted.map(micros),
                    state.hold_until.map(micros),
                    local
                ])
                .map_err(map_write_err)?;
                Ok(())
            })
            .await
    }

    async fn export_groups(&self, org: OrgId) -> Result<Vec<(StoredResource, Source)>, StoreError> {
        self.rt
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {RESOURCE_COLS}, r.source FROM resources r WHERE r.org_id = ?1 AND r.kind = 1 ORDER BY r.seq"
                    ))
                    .map_err(internal)?;
                let rows = stmt
                    .query_map(params![org.0.as_bytes().as_slice()], |row| {
                        Ok((row_to_resource(row)?, row.get::<_, String>(6)?))
                    })
                    .map_err(internal)?;
                let mut out = Vec::new();
                for row in rows {
                    let (raw, source) = row.map_err(internal)?;
                    let mut g = build(raw)?;
                    load_relations(c, org, &mut g)?;
                    let source = Source::parse(&source)
                        .ok_or_else(|| StoreError::Internal(format!("bad source {source}")))?;
                    out.push((g, source));
                }
                Ok(out)
            })
            .await
    }

    async fn import_members(
        &self,
        org: OrgId,
        group: ResourceId,
        members: &[MemberView],
    ) -> Result<(), StoreError> {
        let members = members.to_vec();
        self.rt
            .write(move |c| {
                let mut insert = c
                    .prepare_cached(
                        "INSERT OR IGNORE INTO group_members (org_id, group_id, member_id, member_kind) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .map_err(internal)?;
                for m in &members {
                    insert
                        .execute(params![
                            org.0.as_bytes().as_slice(),
                            group.0.as_bytes().as_slice(),
                            m.id.0.as_bytes().as_slice(),
                            kind_code(m.kind)
                        ])
                        .map_err(internal)?;
                }
                Ok(())
            })
            .await
    }

    async fn get_account(&self, org: OrgId, id: ResourceId) -> Result<Option<Account>, StoreError> {
        accounts::get_account(&self.rt, org, id)
    }

    async fn find_account_by_name(
        &self,
        org: OrgId,
        name_ci: &str,
    ) -> Result<Option<Account>, StoreError> {
        accounts::find_account_by_name(&self.rt, org, name_ci)
    }

    async fn list_accounts(&self, org: OrgId, q: &AccountQuery) -> Result<AccountPage, StoreError> {
        accounts::list_accounts(&self.rt, &self.cursors, org, q).await
    }

    async fn create_account(
        &self,
        org: OrgId,
        new: NewResource,
        source: Source,
        local: &LocalProps,
    ) -> Result<Account, StoreError> {
        accounts::create_account(&self.rt, org, new, source, local.clone()).await
    }

    async fn update_account(
        &self,
        org: OrgId,
        id: ResourceId,
        change: AccountChange,
    ) -> Result<Account, StoreError> {
        accounts::update_account(&self.rt, org, id, change).await
    }

    async fn retire_account(
        &self,
        org: OrgId,
        id: ResourceId,
        expected_version: Option<i64>,
        at: OffsetDateTime,
        hold_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        accounts::retire_account(&self.rt, org, id, expected_version, at, hold_until).await
    }

    async fn purge_retired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        accounts::purge_retired(&self.rt, now).await
    }

    async fn purge_retired_account(
        &self,
        org: OrgId,
        id: ResourceId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        accounts::purge_retired_account(&self.rt, org, id, now).await
    }

    async fn release_sync(&self, org: OrgId) -> Result<u64, StoreError> {
        accounts::release_sync(&self.rt, org).await
    }

    async fn sync_policy(&self, org: OrgId, name_ci: &str) -> Result<SyncPolicy, StoreError> {
        accounts::sync_policy(&self.rt, org, name_ci)
    }

    async fn set_auto_merge(&self, org: OrgId, on: bool) -> Result<(), StoreError> {
        accounts::set_auto_merge(&self.rt, org, on).await
    }

    async fn record_conflict(&self, c: &ConflictRecord) -> Result<bool, StoreError> {
        accounts::record_conflict(&self.rt, c.clone()).await
    }

    async fn list_conflicts(&self, org: OrgId) -> Result<Vec<ConflictRecord>, StoreError> {
        accounts::list_conflicts(&self.rt, org).await
    }

    async fn delete_conflict(&self, org: OrgId, name_ci: &str) -> Result<bool, StoreError> {
        accounts::delete_conflict(&self.rt, org, name_ci.to_owned()).await
    }

    async fn add_domain(&self, d: &DomainRecord) -> Result<(), StoreError> {
        accounts::add_domain(&self.rt, d.clone()).await
    }

    async fn list_domains(&self, org: OrgId) -> Result<Vec<DomainRecord>, StoreError> {
        accounts::list_domains(&self.rt, org).await
    }

    async fn set_domain_verified(
        &self,
        org: OrgId,
        name: &str,
        at: OffsetDateTime,
        by: &str,
    ) -> Result<bool, StoreError> {
        accounts::set_domain_verified(&self.rt, org, name.to_owned(), at, by.to_owned()).await
    }

    async fn remove_domain(&self, org: OrgId, name: &str) -> Result<bool, StoreError> {
        accounts::remove_domain(&self.rt, org, name.to_owned()).await
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        accounts::insert_session(&self.rt, s.clone()).await
    }

    async fn find_session_by_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        accounts::find_session_by_hash(&self.rt, hash)
    }

    async fn delete_session(&self, org: OrgId, id: SessionId) -> Result<(), StoreError> {
        accounts::delete_session(&self.rt, org, id).await
    }

    async fn end_admin_sessions(
        &self,
        org: OrgId,
        admin: directory::ids::AdminId,
    ) -> Result<u64, StoreError> {
        accounts::end_admin_sessions(&self.rt, org, admin).await
    }

    async fn remove_admin(
        &self,
        org: OrgId,
        admin: directory::ids::AdminId,
    ) -> Result<bool, StoreError> {
        accounts::remove_admin(&self.rt, org, admin).await
    }

    async fn set_admin_password(
        &self,
        org: OrgId,
        admin: directory::ids::AdminId,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        accounts::set_admin_password(&self.rt, org, admin, password_hash.to_owned()).await
    }

    async fn purge_sessions(
        &self,
        now: OffsetDateTime,
        failures_from: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        accounts::purge_sessions(&self.rt, now, failures_from).await
    }

    async fn insert_setup_link(&self, link: &SetupLink) -> Result<(), StoreError> {
        console::insert_setup_link(&self.rt, link.clone()).await
    }

    async fn find_setup_link(
        &self,
        org: OrgId,
        hash: &[u8; 32],
    ) -> Result<Option<SetupLink>, StoreError> {
        console::find_setup_link(&self.rt, org, hash)
    }

    async fn use_setup_link(
        &self,
        org: OrgId,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        console::use_setup_link(&self.rt, org, *hash, at).await
    }

    async fn signin_throttle(
        &self,
        org: OrgId,
        email_ci: &str,
    ) -> Result<Option<SigninThrottle>, StoreError> {
        console::signin_throttle(&self.rt, org, email_ci)
    }

    async fn note_signin_failure(
        &self,
        org: OrgId,
        email_ci: &str,
        at: OffsetDateTime,
        window_from: OffsetDateTime,
    ) -> Result<SigninThrottle, StoreError> {
        console::note_signin_failure(&self.rt, org, email_ci.to_owned(), at, window_from).await
    }

    async fn lock_signin(
        &self,
        org: OrgId,
        email_ci: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        console::lock_signin(&self.rt, org, email_ci.to_owned(), until).await
    }

    async fn clear_signin_failures(&self, org: OrgId, email_ci: &str) -> Result<(), StoreError> {
        console::clear_signin_failures(&self.rt, org, email_ci.to_owned()).await
    }
}

const TOKEN_COLS: &str =
    "org_id, id, prefix, hash, created, expires, first_used, last_used, revoked";

fn token_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TokenRecord, StoreError>> {
    let org: Vec<u8> = row.get(0)?;
    let id: Vec<u8> = row.get(1)?;
    let hash: Vec<u8> = row.get(3)?;
    let created: i64 = row.get(4)?;
    let expires: i64 = row.get(5)?;
    let first_used: Option<i64> = row.get(6)?;
    let last_used: Option<i64> = row.get(7)?;
    let revoked: Option<i64> = row.get(8)?;
    let prefix: String = row.get(2)?;
    Ok((|| {
        Ok(TokenRecord {
            id: TokenId(uuid_from(&id)?),
            org_id: OrgId(uuid_from(&org)?),
            prefix,
            hash: hash
                .try_into()
                .map_err(|_| StoreError::Internal("bad token hash".into()))?,
            created: from_micros(created),
            expires: from_micros(expires),
            first_used: first_used.map(from_micros),
            last_used: last_used.map(from_micros),
            revoked: revoked.map(from_micros),
        })
    })())
}

fn org_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Organisation, StoreError>> {
    let id: Vec<u8> = row.get(0)?;
    let name: String = row.get(1)?;
    let kind: String = row.get(2)?;
    let created: i64 = row.get(3)?;
    Ok((|| {
        Ok(Organisation {
            id: OrgId(uuid_from(&id)?),
            name,
            kind: kind.parse::<OrgKind>().map_err(StoreError::Internal)?,
            created: from_micros(created),
        })
    })())
}
