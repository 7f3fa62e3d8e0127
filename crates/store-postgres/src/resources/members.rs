//! Group memberships on PostgreSQL: loading a resource's relations (a User's groups, a
//! Group's members) and applying member changes, checked by foreign keys.

use super::{RESOURCE_COLS, SCIM_VISIBLE_COL, build};
use crate::Failure;
use crate::tokens::EPOCH;
use deadpool_postgres::GenericClient;
use directory::store::columns::kind_from;
use directory::store::{GroupView, MemberView, StoredResource};
use directory::{OrgId, ResourceId, StoreError};
use scim_core::patch::{MemberChange, MemberRef};
use scim_core::schema::ResourceKind;
use std::collections::HashMap;
use store_sql::Scope;
use store_sql::{Sql, Value};
use tokio_postgres::Row;
use uuid::Uuid;

/// Loads group `members` / user `groups` for resources of one kind, in one query. Members are
/// ordered by id, as SQLite's primary key orders them.
pub(crate) async fn load_relations<C: GenericClient>(
    c: &C, org: OrgId, kind: ResourceKind, rs: &mut [StoredResource],
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

/// A user and its `groups` in one round trip (a user is in few groups; a group's members,
/// which can be many, keep their own query). Groups come in the order `load_relations`
/// gives them; only groups SCIM sees are listed.
pub(crate) async fn get_user_with_groups<C: GenericClient>(
    c: &C, org: OrgId, id: ResourceId,
) -> Result<Option<StoredResource>, Failure> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {RESOURCE_COLS}, g.ids, g.names, {SCIM_VISIBLE_COL}, {EPOCH} FROM resources r CROSS JOIN LATERAL \
             (SELECT {USER_GROUPS} WHERE gm.org_id = r.org_id AND gm.member_id = r.id) g \
             WHERE r.org_id = $1 AND r.id = $2"
        ))
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&org.0, &id.0]).await? else {
        return Ok(None);
    };
    crate::tokens::observed(&row, 9)?;
    let mut r = build(&row)?;
    if r.kind != ResourceKind::User || !row.try_get::<_, bool>(8)? {
        return Ok(None);
    }
    r.groups = Some(groups_of_row(&row, 6)?);
    Ok(Some(r))
}

/// The groups of a user from the `ids` and `names` arrays at `at` and `at + 1` of a row
/// ([`USER_GROUPS`]).
pub(crate) fn groups_of_row(row: &Row, at: usize) -> Result<Vec<GroupView>, Failure> {
    let ids: Option<Vec<Uuid>> = row.try_get(at)?;
    let names: Option<Vec<Option<String>>> = row.try_get(at + 1)?;
    Ok(ids
        .unwrap_or_default()
        .into_iter()
        .zip(names.unwrap_or_default())
        .map(|(id, display)| GroupView {
            id: ResourceId(id),
            display,
        })
        .collect())
}

/// A SCIM list's `page` with, after its columns, the groups of each user when `with_groups`
/// (`ids`, `names`), then the token epoch. The epoch comes first in the join, so an empty page
/// is one row of nulls with it; a join on `true` is a nested loop with that one row outside,
/// which keeps the page's order.
pub(crate) fn page_with_epoch(org: OrgId, page: &Sql, with_groups: bool) -> Sql {
    let mut sql =
        Sql::new("SELECT p.*, e.epoch FROM (SELECT epoch FROM token_epoch) e LEFT JOIN LATERAL (");
    if with_groups {
        sql.push("SELECT q.*, g.ids, g.names FROM (");
        sql.append(page);
        sql.push(&format!(
            ") q CROSS JOIN LATERAL (SELECT {USER_GROUPS} WHERE gm.org_id = "
        ));
        sql.bind(Value::Uuid(org.0));
        sql.push(" AND gm.member_id = q.id) g");
    } else {
        sql.append(page);
    }
    sql.push(") p ON true");
    sql
}

/// A user's groups as two arrays, `ids` and `names`, in group-id order, from `group_members
/// gm` (the caller names the member): only synced groups that SCIM shows.
const USER_GROUPS: &str = "array_agg(gm.group_id ORDER BY gm.group_id) AS ids, \
     array_agg(x.doc ->> 'displayName' ORDER BY gm.group_id) AS names \
     FROM group_members gm JOIN resources x ON x.org_id = gm.org_id AND x.id = gm.group_id \
     AND x.source = 'scim' AND x.deleted IS NULL";

/// The membership rows a write inserted and deleted, in the order it did, for the member
/// events (docs/contract.md, "Events"). A member removed and added again by the same write (a
/// `ReplaceAll` that keeps it, or a removal and an add in one PATCH) is no change and is
/// dropped; `rows` still counts every row touched, which is what moves the group's version.
#[derive(Debug, Default)]
pub(crate) struct MemberDelta {
    /// `(added, member id, member kind code)`; `None` where a later change undid one.
    changes: Vec<Option<(bool, Uuid, i16)>>,
    /// Where each member's standing change is in `changes`.
    standing: HashMap<Uuid, usize>,
    pub(crate) rows: u64,
}

impl MemberDelta {
    fn note(&mut self, added: bool, id: Uuid, kind: i16) {
        self.rows += 1;
        if let Some(i) = self.standing.remove(&id) {
            // A member has at most one standing change: an insert of a row already there and
            // a delete of a row not there touch nothing and are never noted.
            self.changes[i] = None;
        } else {
            self.standing.insert(id, self.changes.len());
            self.changes.push(Some((added, id, kind)));
        }
    }

    /// Members added less members removed, net.
    pub(crate) fn net(&self) -> i64 {
        self.changes()
            .map(|(added, _, _)| if added { 1 } else { -1 })
            .sum()
    }

    /// The net changes, in the order they were made.
    pub(crate) fn changes(&self) -> impl Iterator<Item = (bool, Uuid, i16)> + '_ {
        self.changes.iter().flatten().copied()
    }
}

/// Adds members, noting the rows it inserted in `delta`. Members must be in the same
/// organisation and admitted by `scope` (for SCIM: visible to SCIM); each is locked (`FOR SHARE`) until the transaction ends, against deletion and
/// against retirement (SCIM DELETE of a user, which locks it `FOR NO KEY UPDATE`): whichever
/// comes second sees the other's outcome. Looked up by key alone (see `get_one`); visibility
/// is read from the locked row.
pub(crate) async fn add_members<C: GenericClient>(
    c: &C, org: OrgId, group: ResourceId, refs: &[MemberRef], scope: Scope, delta: &mut MemberDelta,
) -> Result<(), Failure> {
    let find = c
        .prepare_cached(&format!(
            "SELECT kind, {} FROM resources r WHERE r.org_id = $1 AND r.id = $2 FOR SHARE",
            scope.admits()
        ))
        .await?;
    let insert = c
        .prepare_cached(
            "INSERT INTO group_members (org_id, group_id, member_id, member_kind) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?;
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
        if c.execute(&insert, &[&org.0, &group.0, &mid, &mk]).await? == 1 {
            delta.note(true, mid, mk);
        }
    }
    Ok(())
}

async fn remove_members<C: GenericClient>(
    c: &C, org: OrgId, group: ResourceId, ids: &[String], delta: &mut MemberDelta,
) -> Result<(), Failure> {
    let del = c
        .prepare_cached(
            "DELETE FROM group_members WHERE org_id = $1 AND group_id = $2 AND member_id = $3 RETURNING member_kind",
        )
        .await?;
    for id in ids {
        if let Ok(mid) = Uuid::parse_str(id)
            && let Some(row) = c.query_opt(&del, &[&org.0, &group.0, &mid]).await?
        {
            delta.note(false, mid, row.try_get(0)?);
        }
    }
    Ok(())
}

/// Applies member changes in order, noting in `delta` the rows they inserted and deleted.
pub(crate) async fn apply_member_changes<C: GenericClient>(
    c: &C, org: OrgId, group: ResourceId, changes: &[MemberChange], scope: Scope,
    delta: &mut MemberDelta,
) -> Result<(), Failure> {
    for change in changes {
        match change {
            MemberChange::Add(refs) => add_members(c, org, group, refs, scope, delta).await?,
            MemberChange::Remove(ids) => remove_members(c, org, group, ids, delta).await?,
            MemberChange::ReplaceAll(refs) => {
                let stmt = c
                    .prepare_cached(
                        "DELETE FROM group_members WHERE org_id = $1 AND group_id = $2 RETURNING member_id, member_kind",
                    )
                    .await?;
                let mut removed = c
                    .query(&stmt, &[&org.0, &group.0])
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get::<_, Uuid>(0)?, r.try_get::<_, i16>(1)?)))
                    .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
                // In member-id order, as a group's members are listed.
                removed.sort_unstable();
                for (mid, mk) in removed {
                    delta.note(false, mid, mk);
                }
                add_members(c, org, group, refs, scope, delta).await?;
            }
            MemberChange::RemoveMatching(filter) => {
                let mut g = [store_sql::members::group_stub(group)];
                load_relations(c, org, ResourceKind::Group, &mut g).await?;
                let [g] = g;
                let doomed =
                    store_sql::members::matching_members(filter, g.members.unwrap_or_default());
                remove_members(c, org, group, &doomed, delta).await?
            }
        }
    }
    Ok(())
}
