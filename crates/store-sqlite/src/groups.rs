//! Groups as administrators see them on SQLite: every source, member counts, and a group's
//! members keyset by member id, found with the account search (`crate::search`).

use crate::dialect::prepared;
use crate::resources::{RESOURCE_COLS, build, create_tx, delete_tx, row_to_resource, update_tx};
use crate::runtime::{Effect, internal};
use crate::{SqliteStore, uuid_from};
use async_trait::async_trait;
use directory::store::columns::kind_from;
use directory::store::{
    Cursor, GroupPage, GroupStore, GroupSummary, GroupView, Load, MemberEntry, MemberPage,
    MemberQuery, NewResource, Source, StoredResource, Update,
};
use directory::{OrgId, ResourceId, StoreError};
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use scim_core::schema::ResourceKind;
use store_sql::Scope;
use store_sql::groups::{
    group_by_id, group_view, groups_count, groups_of, groups_page, members_page,
};

fn summary(row: &rusqlite::Row<'_>) -> Result<GroupSummary, StoreError> {
    let raw = row_to_resource(row).map_err(internal)?;
    let source: String = row.get(6).map_err(internal)?;
    let members: i64 = row.get(7).map_err(internal)?;
    Ok(GroupSummary {
        resource: build(raw)?,
        source: Source::parse(&source)
            .ok_or_else(|| StoreError::Internal(format!("bad source {source}")))?,
        members: members as u64,
    })
}

fn get_group_tx(
    c: &Connection,
    org: OrgId,
    id: ResourceId,
) -> Result<Option<GroupSummary>, StoreError> {
    let (text, args) = prepared(&group_by_id(org, id, RESOURCE_COLS));
    let mut stmt = c.prepare_cached(&text).map_err(internal)?;
    let mut rows = stmt
        .query(params_from_iter(args.iter()))
        .map_err(internal)?;
    match rows.next().map_err(internal)? {
        Some(row) => Ok(Some(summary(row)?)),
        None => Ok(None),
    }
}

#[async_trait]
impl GroupStore for SqliteStore {
    async fn list_groups(
        &self,
        org: OrgId,
        after: Option<&str>,
        count: u32,
    ) -> Result<GroupPage, StoreError> {
        let after = after.map(str::to_owned);
        let cursors = self.cursors.clone();
        let per_page = count.clamp(1, 1000);
        self.rt
            .scan(org, move |c| {
                let after = match after.as_deref() {
                    Some(a) => Some(cursors.open(org, a)?.seq),
                    None => None,
                };
                let (text, args) = prepared(&groups_count(org));
                let total: i64 = c
                    .prepare_cached(&text)
                    .map_err(internal)?
                    .query_row(params_from_iter(args.iter()), |r| r.get(0))
                    .map_err(internal)?;
                let (text, args) = prepared(&groups_page(org, RESOURCE_COLS, after, per_page));
                let mut stmt = c.prepare_cached(&text).map_err(internal)?;
                let mut rows = stmt
                    .query(params_from_iter(args.iter()))
                    .map_err(internal)?;
                let mut groups = Vec::new();
                let mut last = None;
                let mut more = false;
                while let Some(row) = rows.next().map_err(internal)? {
                    if groups.len() == per_page as usize {
                        more = true;
                        break;
                    }
                    groups.push(summary(row)?);
                    last = Some(row.get::<_, i64>(8).map_err(internal)?);
                }
                let next = match (more, last) {
                    (true, Some(seq)) => Some(cursors.seal(org, &Cursor { seq, key: None })?),
                    _ => None,
                };
                Ok(GroupPage {
                    groups,
                    total: total as u64,
                    next,
                })
            })
            .await
    }

    async fn get_group(
        &self,
        org: OrgId,
        id: ResourceId,
    ) -> Result<Option<GroupSummary>, StoreError> {
        self.rt.read_now(|c| get_group_tx(c, org, id)).await
    }

    async fn list_group_members(
        &self,
        org: OrgId,
        group: ResourceId,
        q: &MemberQuery,
    ) -> Result<Option<MemberPage>, StoreError> {
        let q = q.clone();
        self.rt
            .scan(org, move |c| {
                let exists: Option<i64> = c
                    .prepare_cached(
                        "SELECT 1 FROM resources WHERE org_id = ?1 AND id = ?2 AND kind = 1",
                    )
                    .map_err(internal)?
                    .query_row(
                        rusqlite::params![
                            org.0.as_bytes().as_slice(),
                            group.0.as_bytes().as_slice()
                        ],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(internal)?;
                if exists.is_none() {
                    return Ok(None);
                }
                let search = match q.search.as_deref() {
                    Some(text) => crate::search::condition(c, org, text)?.map(|s| s.condition),
                    None => None,
                };
                let per_page = q.count.clamp(1, 1000);
                let (text, args) = prepared(&members_page(
                    org,
                    group,
                    search.as_ref(),
                    q.after,
                    per_page,
                ));
                let mut stmt = c.prepare_cached(&text).map_err(internal)?;
                let mut rows = stmt
                    .query(params_from_iter(args.iter()))
                    .map_err(internal)?;
                let mut members = Vec::new();
                let mut more = false;
                while let Some(row) = rows.next().map_err(internal)? {
                    if members.len() == per_page as usize {
                        more = true;
                        break;
                    }
                    let id: Vec<u8> = row.get(0).map_err(internal)?;
                    let kind: i64 = row.get(1).map_err(internal)?;
                    let doc: String = row.get(2).map_err(internal)?;
                    members.push(MemberEntry {
                        id: ResourceId(uuid_from(&id)?),
                        kind: kind_from(kind),
                        doc: serde_json::from_str(&doc).map_err(internal)?,
                    });
                }
                let next = if more {
                    members.last().map(|m| m.id)
                } else {
                    None
                };
                Ok(Some(MemberPage { members, next }))
            })
            .await
    }

    async fn groups_of_member(
        &self,
        org: OrgId,
        member: ResourceId,
    ) -> Result<Vec<GroupView>, StoreError> {
        self.rt
            .read_now(|c| {
                let (text, args) = prepared(&groups_of(org, member, RESOURCE_COLS));
                let mut stmt = c.prepare_cached(&text).map_err(internal)?;
                let mut rows = stmt
                    .query(params_from_iter(args.iter()))
                    .map_err(internal)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(internal)? {
                    out.push(group_view(build(row_to_resource(row).map_err(internal)?)?));
                }
                Ok(out)
            })
            .await
    }

    async fn create_manual_group(
        &self,
        org: OrgId,
        new: NewResource,
    ) -> Result<StoredResource, StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                create_tx(c, org, ResourceKind::Group, &new, Scope::Manual)
            })
            .await
    }

    async fn update_manual_group(
        &self,
        org: OrgId,
        id: ResourceId,
        update: Update,
    ) -> Result<StoredResource, StoreError> {
        let load = Load { relations: false };
        self.rt
            .write(Effect::Data, move |c| {
                update_tx(c, org, ResourceKind::Group, id, update, load, Scope::Manual)
            })
            .await
    }

    async fn delete_manual_group(
        &self,
        org: OrgId,
        id: ResourceId,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                delete_tx(
                    c,
                    org,
                    ResourceKind::Group,
                    id,
                    expected_version,
                    Scope::Manual,
                )
            })
            .await
    }
}
