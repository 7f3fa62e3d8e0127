//! SCIM resources on PostgreSQL: Users and Groups as SCIM sees them, their memberships (rows
//! checked by foreign keys), list queries, and moving them to another database (`scimd copy`).
//! An update or delete first locks its row and checks the version the caller read.

mod batch;
mod members;

pub(crate) use members::{
    MemberDelta, add_members, apply_member_changes, get_user_with_groups, load_relations,
};

use crate::dialect::{Postgres, prepared, refs};
use crate::rows::PgRow;
use store_sql::{KeyType, Keyset, Scope, Sql, plan_list};

use crate::journal::{GroupSnap, Journal, Lock, UserSnap, group_snapshot, user_snapshot};
use crate::{Failure, PgStore, filter_sql, run};
use directory::events::{group_change, group_deleted, user_change, user_deleted};
use time::OffsetDateTime;

use async_trait::async_trait;

use deadpool_postgres::GenericClient;

use directory::store::columns::{active, external_id, from_micros, kind_code, micros, name_ci};

use directory::store::{
    Cursor, DirectoryState, ListQuery, Load, MemberView, NewResource, Page, ResourceStore, Source,
    StoredResource, Update,
};

use directory::{OrgId, ResourceId, StoreError};

use scim_core::schema::ResourceKind;

use serde_json::Value;

use tokio_postgres::Row;

pub(crate) use store_sql::RESOURCE_COLS;

/// What SCIM sees of `resources r` ([`store_sql::SCIM_VISIBLE`], which the partial index
/// `resources_scim_seq` states too) as a selected column: point reads find the row by its key
/// alone and check this on it, so the planner never trades the primary key for a partial index.
pub(crate) const SCIM_VISIBLE_COL: &str = "(r.source = 'scim' AND r.deleted IS NULL)";

pub(crate) fn build(row: &Row) -> Result<StoredResource, Failure> {
    Ok(store_sql::resource(&PgRow(row))?)
}

/// One resource by its primary key.
///
/// Statements on one resource name the primary key `(org_id, id)` and nothing else; the kind
/// is checked on the row. With `kind = $3` beside it, a table the planner has no statistics
/// for (a new database, or `autovacuum = off`) makes `resources_kind_seq (org_id, kind, seq)`,
/// or the partial name index, look as selective as the key, and PostgreSQL picked one of them:
/// each read walked every resource of that kind in the organisation (4 ms at 10,000 users,
/// 9 ms at 50,000, instead of 0.02 ms).
pub(crate) async fn get_one<C: GenericClient>(
    c: &C, org: OrgId, kind: ResourceKind, id: ResourceId, load: Load,
) -> Result<Option<StoredResource>, Failure> {
    get_in(c, org, kind, id, load, Scope::Scim).await
}

/// A resource by id if it belongs to `scope` (see [`get_one`]).
async fn get_in<C: GenericClient>(
    c: &C, org: OrgId, kind: ResourceKind, id: ResourceId, load: Load, scope: Scope,
) -> Result<Option<StoredResource>, Failure> {
    if kind == ResourceKind::User && load.relations && scope == Scope::Scim {
        return get_user_with_groups(c, org, id).await;
    }
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {RESOURCE_COLS}, {}, {} FROM resources r WHERE r.org_id = $1 AND r.id = $2",
            scope.owns(),
            crate::tokens::EPOCH
        ))
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&org.0, &id.0]).await? else {
        return Ok(None);
    };
    crate::tokens::observed(&row, 7)?;
    let mut r = build(&row)?;
    if r.kind != kind || !row.try_get::<_, bool>(6)? {
        return Ok(None);
    }
    if load.relations {
        load_relations(c, org, kind, std::slice::from_mut(&mut r)).await?;
    }
    Ok(Some(r))
}

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

/// A resource as an application sees it, read before or after a write.
enum Snap {
    User(UserSnap),
    Group(GroupSnap),
}

impl Snap {
    fn object(&self) -> Value {
        match self {
            Snap::User(u) => u.object(),
            Snap::Group(g) => g.object(),
        }
    }
}

/// Locks a resource row, checks the version the caller read, and takes the resource's
/// snapshot before the write (a group's with its member count for a delete). `FOR NO KEY
/// UPDATE` for an update does not block members being added elsewhere (their foreign keys
/// take `KEY SHARE`); a delete takes `FOR UPDATE`, which does. Keyed by the primary key alone;
/// the kind and whether the row belongs to `scope` are checked on the row (see `get_one`).
async fn lock_snapshot<C: GenericClient>(
    c: &C, org: OrgId, kind: ResourceKind, id: ResourceId, expected: Option<i64>, lock: Lock,
    scope: Scope,
) -> Result<Snap, Failure> {
    // A delete's event reports the group's member count; an update derives it afterwards.
    let count = lock == Lock::Update;
    let owned = |visible: bool, source: Source| match scope {
        Scope::Scim => visible,
        Scope::Manual => source == Source::Manual,
    };
    let (snap, version, visible) = match kind {
        ResourceKind::User => match user_snapshot(c, org, id, lock).await? {
            Some(u) => {
                let vis = owned(u.visible, u.account.source) && u.account.deleted.is_none();
                let v = u.account.resource.version;
                (Snap::User(u), v, vis)
            }
            None => return Err(StoreError::NotFound.into()),
        },
        ResourceKind::Group => match group_snapshot(c, org, id, count, lock).await? {
            Some(g) => {
                let (v, vis) = (g.group.version, owned(g.visible, g.source));
                (Snap::Group(g), v, vis)
            }
            None => return Err(StoreError::NotFound.into()),
        },
    };
    match expected {
        _ if !visible => Err(StoreError::NotFound.into()),
        Some(e) if e != version => Err(StoreError::VersionMismatch.into()),
        _ => Ok(snap),
    }
}

/// The snapshot of a resource after a write in this transaction.
async fn snapshot_after<C: GenericClient>(
    c: &C, org: OrgId, kind: ResourceKind, id: ResourceId,
) -> Result<Snap, Failure> {
    Ok(match kind {
        ResourceKind::User => Snap::User(
            user_snapshot(c, org, id, Lock::Plain)
                .await?
                .ok_or(StoreError::NotFound)?,
        ),
        ResourceKind::Group => Snap::Group(
            group_snapshot(c, org, id, true, Lock::Plain)
                .await?
                .ok_or(StoreError::NotFound)?,
        ),
    })
}

/// Appends the events of an update of a resource from `before` to `after`: its own change,
/// then, for a group, one member event per membership row `delta` changed.
async fn journal_update<C: GenericClient>(
    c: &C, journal: &mut Journal, before: Snap, after: Snap, delta: &MemberDelta,
) -> Result<(), Failure> {
    match (before, after) {
        (Snap::User(b), Snap::User(a)) => journal.user(Some(&b.object()), a),
        (Snap::Group(mut b), Snap::Group(a)) => {
            // The count before, from the count after: only the rows this write changed moved
            // it, as the group row is locked.
            b.members = u64::try_from(i64::try_from(a.members).unwrap_or(i64::MAX) - delta.net())
                .unwrap_or(0);
            let group = journal.group(Some(&b.object()), a);
            journal.members(c, &group, delta).await?;
        }
        _ => return Err(StoreError::Internal("resource changed kind".into()).into()),
    }
    Ok(())
}

pub(crate) async fn create_tx<C: GenericClient>(
    c: &C, org: OrgId, kind: ResourceKind, new: &NewResource, scope: Scope,
) -> Result<StoredResource, Failure> {
    let now = micros(new.now);
    // `updated` is the creation: the `*.created` event below reports it.
    let stmt = c
        .prepare_cached(
            "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, external_id, doc, active, updated, source) \
             VALUES ($1, $2, $3, 1, $4, $4, $5, $6, $7, $8, $4, $9)",
        )
        .await?;
    let (name, external, is_active) = (
        name_ci(kind, &new.doc),
        external_id(&new.doc),
        active(&new.doc),
    );
    let insert = async {
        c.execute(
            &stmt,
            &[
                &org.0,
                &new.id.0,
                &kind_code(kind),
                &now,
                &name,
                &external,
                &new.doc,
                &is_active,
                &scope.source().as_str(),
            ],
        )
        .await
        .map_err(Failure::from)
    };
    let mut journal = Journal::new(org, new.now);
    let mut members = None;
    match kind {
        ResourceKind::User => {
            // The snapshot read goes out behind the insert (see `update_tx`).
            let (inserted, user) = tokio::join!(insert, user_snapshot(c, org, new.id, Lock::Plain));
            inserted?;
            let user = user?.ok_or(StoreError::NotFound)?;
            journal.extend(user_change(None, Some(user.object())));
        }
        ResourceKind::Group => {
            insert.await?;
            let mut delta = MemberDelta::default();
            add_members(c, org, new.id, &new.members, scope, &mut delta).await?;
            if !new.members.is_empty() {
                let mut g = get_in(c, org, kind, new.id, Load { relations: true }, scope)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                members = g.members.take();
            }
            // The group as it is with all its first members, for its own event and theirs.
            let group = group_snapshot(c, org, new.id, true, Lock::Plain)
                .await?
                .ok_or(StoreError::NotFound)?
                .object();
            journal.extend(group_change(None, Some(group.clone())));
            journal.members(c, &group, &delta).await?;
        }
    }
    journal.commit(c).await?;
    Ok(new.created(kind, from_micros(now), members))
}

pub(crate) async fn update_tx<C: GenericClient>(
    c: &C, org: OrgId, kind: ResourceKind, id: ResourceId, update: &Update, load: Load,
    scope: Scope,
) -> Result<StoredResource, Failure> {
    // A group's count before is derived from the count after (see `journal_update`): one
    // count of a large group's members per update, not two.
    let before = lock_snapshot(
        c,
        org,
        kind,
        id,
        update.expected_version,
        Lock::NoKeyUpdate,
        scope,
    )
    .await?;
    let mut delta = MemberDelta::default();
    if kind == ResourceKind::Group {
        apply_member_changes(c, org, id, &update.member_changes, scope, &mut delta).await?;
    }
    let now = micros(update.now);
    let mut journal = Journal::new(org, update.now);
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
        // The reads go out right behind the write on the same connection, which runs them
        // in order: one round trip for all. When the write fails (a taken `userName`), the
        // reads fail too, as the transaction is aborted: the write's error is the one to tell.
        let (written, read, after) = tokio::join!(
            write,
            get_in(c, org, kind, id, load, scope),
            snapshot_after(c, org, kind, id)
        );
        written?;
        let read = read?.ok_or(StoreError::NotFound)?;
        journal_update(c, &mut journal, before, after?, &delta).await?;
        journal.commit(c).await?;
        return Ok(read);
    } else if delta.rows > 0 {
        let stmt = c
            .prepare_cached("UPDATE resources SET version = version + 1, last_modified = $3 WHERE org_id = $1 AND id = $2")
            .await?;
        c.execute(&stmt, &[&org.0, &id.0, &now]).await?;
    }
    let (read, after) = tokio::join!(
        get_in(c, org, kind, id, load, scope),
        snapshot_after(c, org, kind, id)
    );
    let read = read?.ok_or(StoreError::NotFound)?;
    journal_update(c, &mut journal, before, after?, &delta).await?;
    journal.commit(c).await?;
    Ok(read)
}

pub(crate) async fn delete_tx<C: GenericClient>(
    c: &C, org: OrgId, kind: ResourceKind, id: ResourceId, expected: Option<i64>, scope: Scope,
) -> Result<(), Failure> {
    let before = lock_snapshot(c, org, kind, id, expected, Lock::Update, scope).await?;
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
    // Only the resource's own `*.deleted`: its memberships end with it, silently.
    let mut journal = Journal::new(org, OffsetDateTime::now_utc());
    journal.push(match &before {
        Snap::User(_) => user_deleted(before.object()),
        Snap::Group(_) => group_deleted(before.object()),
    });
    journal.commit(c).await
}

#[async_trait]
impl ResourceStore for PgStore {
    async fn create_resource(
        &self, org: OrgId, kind: ResourceKind, new: NewResource,
    ) -> Result<StoredResource, StoreError> {
        transaction!(self, tx => create_tx(&tx, org, kind, &new, Scope::Scim).await)
    }

    async fn create_users(
        &self, org: OrgId, users: &[NewResource],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        transaction!(self, tx => batch::create_users_tx(&tx, org, users).await)
    }

    async fn get_resource(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId, load: Load,
    ) -> Result<Option<StoredResource>, StoreError> {
        let c = self.client().await?;
        Ok(get_one(&c, org, kind, id, load).await?)
    }

    async fn update_resource(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId, update: Update, load: Load,
    ) -> Result<StoredResource, StoreError> {
        transaction!(self, tx => update_tx(&tx, org, kind, id, &update, load, Scope::Scim).await)
    }

    async fn delete_resource(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId, expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        transaction!(self, tx => delete_tx(&tx, org, kind, id, expected_version, Scope::Scim).await)
    }

    async fn list_resources(
        &self, org: OrgId, kind: ResourceKind, q: &ListQuery,
    ) -> Result<Page, StoreError> {
        run(async {
            let client = self.client().await?;
            if client.statement_cache.size() > crate::STATEMENT_CACHE_LIMIT {
                client.statement_cache.clear();
            }
            let rows_sql = store_sql::scim_rows(&Postgres, org, kind, q);
            let sort = q
                .sort
                .as_ref()
                .and_then(|(path, order)| filter_sql::sort_key(path, kind).map(|k| (k, *order)));
            let key_sql = sort.as_ref().map(|(k, order)| (Sql::new(&k.expr), *order));
            let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
                Some(c) => {
                    let cur = self.cursors.open(org, c)?;
                    let key = match (&sort, &cur.key) {
                        (Some((k, _)), Some(kv)) => store_sql::key_value(kv, k.ty)?,
                        _ => None,
                    };
                    Some(Keyset { key, seq: cur.seq })
                }
                None => None,
            };
            let plan = plan_list(&Postgres, &rows_sql, key_sql.as_ref(), after.as_ref(), q);
            let cursor_mode = q.cursor.is_some();
            let key = sort.as_ref().map(|(k, _)| k);

            let (count_text, count_params) = prepared(&plan.count);
            let count_stmt = client.prepare_cached(&count_text).await?;
            if q.count == 0 {
                let total: i64 = client
                    .query_one(&count_stmt, &refs(&count_params))
                    .await?
                    .try_get(0)?;
                return Ok(Page {
                    resources: Vec::new(),
                    total: total as u64,
                    next_cursor: None,
                });
            }
            // The page with the token epoch (one row of nulls and the epoch when the page is
            // empty), and a user's groups, in one statement.
            let keyed = usize::from(key.is_some());
            let with_groups = kind == ResourceKind::User && q.load.relations;
            let epoch_col = 7 + keyed + 2 * usize::from(with_groups);
            let (page_text, page_params) =
                prepared(&members::page_with_epoch(org, &plan.page, with_groups));
            let page_stmt = client.prepare_cached(&page_text).await?;
            let mut rows = client.query(&page_stmt, &refs(&page_params)).await?;
            if let Some(row) = rows.first() {
                crate::tokens::observed(row, epoch_col)?;
            }
            rows.retain(|row| matches!(row.try_get::<_, Option<uuid::Uuid>>(0), Ok(Some(_))));
            let total: i64 = match plan.total_from_page(rows.len()) {
                Some(n) => n as i64,
                None => client
                    .query_one(&count_stmt, &refs(&count_params))
                    .await?
                    .try_get(0)?,
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
                let mut r = build(row)?;
                if with_groups {
                    r.groups = Some(members::groups_of_row(row, 7 + keyed)?);
                }
                resources.push(r);
            }
            if q.load.relations && !with_groups {
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
        })
        .await
    }

    async fn import_resource(
        &self, org: OrgId, r: &StoredResource, state: &DirectoryState,
    ) -> Result<(), StoreError> {
        let local = store_sql::state_local(state)?;
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

    async fn import_members(
        &self, org: OrgId, group: ResourceId, members: &[MemberView],
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
}
