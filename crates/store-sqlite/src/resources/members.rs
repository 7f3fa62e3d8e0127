//! Group memberships on SQLite: loading a resource's relations and applying member changes.

use crate::journal::MemberDelta;
use crate::runtime::internal;
use crate::uuid_from;
use directory::store::columns::kind_from;
use directory::store::{GroupView, MemberView, StoredResource};
use directory::{OrgId, ResourceId, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use scim_core::patch::{MemberChange, MemberRef};
use scim_core::schema::ResourceKind;
use store_sql::Scope;

pub(crate) fn load_relations(
    conn: &Connection, org: OrgId, r: &mut StoredResource,
) -> Result<(), StoreError> {
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

/// Adds members, reporting each row inserted in `deltas`; returns how many rows changed.
/// Members must exist in the same organisation and be admitted by `scope`.
pub(crate) fn add_members(
    conn: &Connection, org: OrgId, group: ResourceId, refs: &[MemberRef], scope: Scope,
    deltas: &mut Vec<MemberDelta>,
) -> Result<usize, StoreError> {
    let org_b = org.0.as_bytes().as_slice();
    let mut find = conn
        .prepare_cached(&format!(
            "SELECT kind FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND {}",
            scope.admits()
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
        let n = insert
            .execute(params![
                org_b,
                group.0.as_bytes().as_slice(),
                mid.as_bytes().as_slice(),
                mk
            ])
            .map_err(internal)?;
        if n > 0 {
            deltas.push(MemberDelta {
                id: ResourceId(mid),
                kind: kind_from(mk),
                added: true,
            });
        }
        changed += n;
    }
    Ok(changed)
}

fn remove_members(
    conn: &Connection, org: OrgId, group: ResourceId, ids: &[String], deltas: &mut Vec<MemberDelta>,
) -> Result<usize, StoreError> {
    let mut find = conn
        .prepare_cached(
            "SELECT member_kind FROM group_members WHERE org_id = ?1 AND group_id = ?2 AND member_id = ?3",
        )
        .map_err(internal)?;
    let mut del = conn
        .prepare_cached(
            "DELETE FROM group_members WHERE org_id = ?1 AND group_id = ?2 AND member_id = ?3",
        )
        .map_err(internal)?;
    let mut changed = 0;
    for id in ids {
        let Ok(mid) = uuid::Uuid::parse_str(id) else {
            continue;
        };
        let key = params![
            org.0.as_bytes().as_slice(),
            group.0.as_bytes().as_slice(),
            mid.as_bytes().as_slice()
        ];
        let kind: Option<i64> = find
            .query_row(key, |row| row.get(0))
            .optional()
            .map_err(internal)?;
        let Some(kind) = kind else {
            continue;
        };
        changed += del.execute(key).map_err(internal)?;
        deltas.push(MemberDelta {
            id: ResourceId(mid),
            kind: kind_from(kind),
            added: false,
        });
    }
    Ok(changed)
}

/// A group's members with their kinds.
fn member_kinds(
    conn: &Connection, org: OrgId, group: ResourceId,
) -> Result<Vec<(ResourceId, ResourceKind)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT member_id, member_kind FROM group_members WHERE org_id = ?1 AND group_id = ?2",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(
            params![org.0.as_bytes().as_slice(), group.0.as_bytes().as_slice()],
            |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?)),
        )
        .map_err(internal)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind) = row.map_err(internal)?;
        out.push((ResourceId(uuid_from(&id)?), kind_from(kind)));
    }
    Ok(out)
}

/// Applies member changes, reporting every row inserted or deleted in `deltas`.
pub(crate) fn apply_member_changes(
    conn: &Connection, org: OrgId, group: ResourceId, changes: &[MemberChange], scope: Scope,
    deltas: &mut Vec<MemberDelta>,
) -> Result<usize, StoreError> {
    let mut changed = 0;
    for change in changes {
        changed += match change {
            MemberChange::Add(refs) => add_members(conn, org, group, refs, scope, deltas)?,
            MemberChange::Remove(ids) => remove_members(conn, org, group, ids, deltas)?,
            MemberChange::ReplaceAll(refs) => {
                let before = member_kinds(conn, org, group)?;
                let removed = conn
                    .execute(
                        "DELETE FROM group_members WHERE org_id = ?1 AND group_id = ?2",
                        params![org.0.as_bytes().as_slice(), group.0.as_bytes().as_slice()],
                    )
                    .map_err(internal)?;
                // Every row removed, then every row added: the journal nets out the members
                // put back.
                deltas.extend(before.into_iter().map(|(id, kind)| MemberDelta {
                    id,
                    kind,
                    added: false,
                }));
                let n = add_members(conn, org, group, refs, scope, deltas)?;
                removed + n
            }
            MemberChange::RemoveMatching(filter) => {
                let mut g = store_sql::members::group_stub(group);
                load_relations(conn, org, &mut g)?;
                let doomed =
                    store_sql::members::matching_members(filter, g.members.unwrap_or_default());
                remove_members(conn, org, group, &doomed, deltas)?
            }
        };
    }
    Ok(changed)
}
