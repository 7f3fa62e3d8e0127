//! Group memberships on PostgreSQL: loading a resource's relations (a User's groups, a
//! Group's members) and applying member changes, checked by foreign keys.

use super::{RESOURCE_COLS, SCIM_VISIBLE_COL, build};
use crate::Failure;
use deadpool_postgres::GenericClient;
use directory::store::columns::kind_from;
use directory::store::{GroupView, MemberView, StoredResource};
use directory::{OrgId, ResourceId, StoreError};
use scim_core::patch::{MemberChange, MemberRef};
use scim_core::schema::ResourceKind;
use uuid::Uuid;

/// Loads group `members` / user `groups` for resources of one kind, in one query. Members are
/// ordered by id, as SQLite's primary key orders them.
pub(crate) async fn load_relations<C: GenericClient>(
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

/// A user and its `groups` in one round trip (a user is in few groups; a group's members,
/// which can be many, keep their own query). Groups come in the order `load_relations`
/// gives them; only groups SCIM sees are listed.
pub(crate) async fn get_user_with_groups<C: GenericClient>(
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
pub(crate) async fn add_members<C: GenericClient>(
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

pub(crate) async fn apply_member_changes<C: GenericClient>(
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
                let mut g = [store_sql::members::group_stub(group)];
                load_relations(c, org, ResourceKind::Group, &mut g).await?;
                let [g] = g;
                let doomed =
                    store_sql::members::matching_members(filter, g.members.unwrap_or_default());
                remove_members(c, org, group, &doomed).await?
            }
        };
    }
    Ok(changed)
}
