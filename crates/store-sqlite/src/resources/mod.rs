//! SCIM resources on SQLite: Users and Groups as SCIM sees them, their memberships, list
//! queries, and moving them to another database (`scimd copy`).

mod list;
mod members;

pub(crate) use list::{is_point_query, list};
pub(crate) use members::load_relations;
use members::{add_members, apply_member_changes};

use crate::journal::{self, Journal};
use crate::rows::SqliteRow;
use crate::runtime::{Effect, internal};

use crate::{SqliteStore, map_write_err};

use async_trait::async_trait;

use directory::store::columns::{active, external_id, from_micros, kind_code, micros, name_ci};

use directory::store::{
    DirectoryState, ListQuery, Load, MemberView, NewResource, Page, ResourceStore, Source,
    StoredResource, Update,
};

use directory::{OrgId, ResourceId, StoreError};

use rusqlite::{Connection, OptionalExtension, params};
use store_sql::Scope;

use scim_core::schema::ResourceKind;

pub(crate) use store_sql::RESOURCE_COLS;

/// What SCIM sees of `resources r`: rows directory sync owns that SCIM has not deleted (the
/// partial index `resources_scim_seq` states the same condition).
pub(crate) use store_sql::SCIM_VISIBLE;

pub(crate) fn build(row: &rusqlite::Row<'_>) -> Result<StoredResource, StoreError> {
    store_sql::resource(&SqliteRow(row))
}

/// A resource by id, as SCIM sees it (built once: it is the statement of every GET by id).
static GET_ONE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {RESOURCE_COLS} FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = ?3 AND {SCIM_VISIBLE}"
    )
});

fn get_one(
    conn: &Connection, org: OrgId, kind: ResourceKind, id: ResourceId, load: Load,
) -> Result<Option<StoredResource>, StoreError> {
    get_in(conn, org, kind, id, load, Scope::Scim)
}

/// A resource by id if it belongs to `scope`.
pub(crate) fn get_in(
    conn: &Connection, org: OrgId, kind: ResourceKind, id: ResourceId, load: Load, scope: Scope,
) -> Result<Option<StoredResource>, StoreError> {
    let other;
    let sql = match scope {
        Scope::Scim => GET_ONE_SQL.as_str(),
        _ => {
            other = format!(
                "SELECT {RESOURCE_COLS} FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = ?3 AND {}",
                scope.owns()
            );
            other.as_str()
        }
    };
    let mut stmt = conn.prepare_cached(sql).map_err(internal)?;
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
    let mut r = build(row)?;
    if load.relations {
        // While `rows` is open: the relations come from the row's own snapshot, in the same
        // read transaction (one lock and unlock of the database, not two).
        load_relations(conn, org, &mut r)?;
    }
    Ok(Some(r))
}

/// Inserts a resource of `scope` (with a group's first members) and journals it.
pub(crate) fn create_tx(
    c: &Connection, org: OrgId, kind: ResourceKind, new: &NewResource, scope: Scope,
) -> Result<StoredResource, StoreError> {
    let doc_text = serde_json::to_string(&new.doc).map_err(internal)?;
    let now = micros(new.now);
    c.prepare_cached(
        "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, external_id, doc, active, source) \
         VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5, ?6, ?7, ?8, ?9)",
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
        active(&new.doc),
        scope.source().as_str()
    ])
    .map_err(map_write_err)?;
    let mut members = None;
    let mut journal = Journal::new(org, new.now);
    if kind == ResourceKind::Group {
        let mut deltas = Vec::new();
        add_members(c, org, new.id, &new.members, scope, &mut deltas)?;
        if !new.members.is_empty() {
            let mut g = get_in(c, org, kind, new.id, Load { relations: true }, scope)?
                .ok_or(StoreError::NotFound)?;
            members = g.members.take();
        }
        journal.group_changed(c, new.id, None)?;
        journal.members_changed(c, new.id, &deltas)?;
    } else {
        journal.user_changed(c, new.id, None)?;
    }
    journal.append(c)?;
    Ok(new.created(kind, from_micros(now), members))
}

/// Applies an update to a resource of `scope` and journals it.
pub(crate) fn update_tx(
    c: &Connection, org: OrgId, kind: ResourceKind, id: ResourceId, update: Update, load: Load,
    scope: Scope,
) -> Result<StoredResource, StoreError> {
    let org_b = org.0.as_bytes().as_slice();
    let id_b = id.0.as_bytes().as_slice();
    type Current = (i64, i64, i64, Option<String>, Option<String>);
    let current: Option<Current> = c
        .prepare_cached(&format!("SELECT version, created, seq, name_ci, external_id FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = ?3 AND {}", scope.owns()))
        .map_err(internal)?
        .query_row(params![org_b, id_b, kind_code(kind)], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
        })
        .optional()
        .map_err(internal)?;
    let (version, created, seq, old_name, old_external) = match current {
        None => return Err(StoreError::NotFound),
        Some((v, ..)) if update.expected_version.is_some_and(|e| e != v) => {
            return Err(StoreError::VersionMismatch);
        }
        Some(found) => found,
    };
    let before = journal::object(c, org, id, kind)?;
    let mut journal = Journal::new(org, update.now);
    let mut deltas = Vec::new();
    let mut changed = 0;
    if kind == ResourceKind::Group {
        changed += apply_member_changes(c, org, id, &update.member_changes, scope, &mut deltas)?;
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
            (
                "UPDATE resources SET doc = ?2, version = version + 1, last_modified = ?3, active = ?4, \
              name_ci = ?5, external_id = ?6 WHERE seq = ?1",
                6,
            )
        } else {
            (
                "UPDATE resources SET doc = ?2, version = version + 1, last_modified = ?3, active = ?4 WHERE seq = ?1",
                4,
            )
        };
        let p = params![seq, doc_text, now, active(&doc), name, external];
        c.prepare_cached(sql)
            .map_err(internal)?
            .execute(&p[..n])
            .map_err(map_write_err)?;
        journal.changed(c, id, kind, before.as_ref(), &deltas)?;
        journal.append(c)?;
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
    journal.changed(c, id, kind, before.as_ref(), &deltas)?;
    journal.append(c)?;
    get_in(c, org, kind, id, load, scope)?.ok_or(StoreError::NotFound)
}

/// Deletes a resource of `scope` with its memberships, and journals it.
pub(crate) fn delete_tx(
    c: &Connection, org: OrgId, kind: ResourceKind, id: ResourceId, expected_version: Option<i64>,
    scope: Scope,
) -> Result<(), StoreError> {
    let org_b = org.0.as_bytes().as_slice();
    let id_b = id.0.as_bytes().as_slice();
    let current: Option<i64> = c
        .prepare_cached(&format!("SELECT version FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = ?3 AND {}", scope.owns()))
        .map_err(internal)?
        .query_row(params![org_b, id_b, kind_code(kind)], |row| row.get(0))
        .optional()
        .map_err(internal)?;
    match (current, expected_version) {
        (None, _) => return Err(StoreError::NotFound),
        (Some(v), Some(e)) if v != e => return Err(StoreError::VersionMismatch),
        _ => {}
    }
    // Its memberships end with it: only its own `*.deleted` is reported.
    let mut journal = Journal::new(org, time::OffsetDateTime::now_utc());
    journal.deleted(c, id, kind)?;
    // Memberships on both sides go with the resource; groups it was in change.
    c.prepare_cached(
        "UPDATE resources SET version = version + 1 WHERE org_id = ?1 AND kind = 1 AND id IN \
         (SELECT group_id FROM group_members WHERE org_id = ?1 AND member_id = ?2)",
    )
    .map_err(internal)?
    .execute(params![org_b, id_b])
    .map_err(internal)?;
    c.prepare_cached(
        "DELETE FROM group_members WHERE org_id = ?1 AND (member_id = ?2 OR group_id = ?2)",
    )
    .map_err(internal)?
    .execute(params![org_b, id_b])
    .map_err(internal)?;
    c.prepare_cached("DELETE FROM resources WHERE org_id = ?1 AND id = ?2")
        .map_err(internal)?
        .execute(params![org_b, id_b])
        .map_err(internal)?;
    journal.append(c)
}

#[async_trait]
impl ResourceStore for SqliteStore {
    async fn create_resource(
        &self, org: OrgId, kind: ResourceKind, new: NewResource,
    ) -> Result<StoredResource, StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                create_tx(c, org, kind, &new, Scope::Scim)
            })
            .await
    }

    async fn get_resource(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId, load: Load,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.rt.read_now(|c| get_one(c, org, kind, id, load)).await
    }

    async fn update_resource(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId, update: Update, load: Load,
    ) -> Result<StoredResource, StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                update_tx(c, org, kind, id, update, load, Scope::Scim)
            })
            .await
    }

    async fn delete_resource(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId, expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                delete_tx(c, org, kind, id, expected_version, Scope::Scim)
            })
            .await
    }

    async fn list_resources(
        &self, org: OrgId, kind: ResourceKind, query: &ListQuery,
    ) -> Result<Page, StoreError> {
        if is_point_query(kind, query) {
            return self
                .rt
                .read_now(|c| list(c, &self.cursors, org, kind, query))
                .await;
        }
        let q = query.clone();
        let cursors = self.cursors.clone();
        self.rt
            .scan(org, move |c| list(c, &cursors, org, kind, &q))
            .await
    }

    async fn import_resource(
        &self, org: OrgId, r: &StoredResource, state: &DirectoryState,
    ) -> Result<(), StoreError> {
        let r = r.clone();
        let state = state.clone();
        self.rt
            .write(Effect::Data, move |c| {
                let doc_text = serde_json::to_string(&r.doc).map_err(internal)?;
                let local = store_sql::state_local(&state)?.map(|v| v.to_string());
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
                let mut rows = stmt
                    .query(params![org.0.as_bytes().as_slice()])
                    .map_err(internal)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(internal)? {
                    let mut g = build(row)?;
                    load_relations(c, org, &mut g)?;
                    out.push((g, store_sql::source(&SqliteRow(row), 6)?));
                }
                Ok(out)
            })
            .await
    }

    async fn import_members(
        &self, org: OrgId, group: ResourceId, members: &[MemberView],
    ) -> Result<(), StoreError> {
        let members = members.to_vec();
        self.rt
            .write(Effect::Data, move |c| {
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
}
