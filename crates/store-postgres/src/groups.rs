//! Groups as administrators see them on PostgreSQL: every source, member counts, and a
//! group's members keyset by member id, found with the account search (`crate::search`).

use crate::dialect::{prepared, refs};
use crate::resources::{RESOURCE_COLS, build, create_tx, delete_tx, update_tx};
use crate::{Failure, PgStore, run};
use async_trait::async_trait;
use directory::store::columns::kind_from;
use directory::store::{
    Cursor, GroupPage, GroupStore, GroupSummary, GroupView, Load, MemberEntry, MemberPage,
    MemberQuery, NewResource, Source, StoredResource, Update,
};
use directory::{OrgId, ResourceId, StoreError};
use scim_core::schema::ResourceKind;
use store_sql::Scope;
use store_sql::groups::{
    group_by_id, group_view, groups_count, groups_of, groups_page, members_page,
};
use tokio_postgres::Row;

fn summary(row: &Row) -> Result<GroupSummary, Failure> {
    let source: String = row.try_get(6)?;
    let members: i64 = row.try_get(7)?;
    Ok(GroupSummary {
        resource: build(row)?,
        source: Source::parse(&source)
            .ok_or_else(|| StoreError::Internal(format!("bad source {source}")))?,
        members: members as u64,
    })
}

#[async_trait]
impl GroupStore for PgStore {
    async fn list_groups(
        &self,
        org: OrgId,
        after: Option<&str>,
        count: u32,
    ) -> Result<GroupPage, StoreError> {
        run(async {
            let c = self.client().await?;
            let after = match after {
                Some(a) => Some(self.cursors.open(org, a)?.seq),
                None => None,
            };
            let per_page = count.clamp(1, 1000);
            let (text, args) = prepared(&groups_count(org));
            let total: i64 = c.query_one(&text, &refs(&args)).await?.try_get(0)?;
            let (text, args) = prepared(&groups_page(org, RESOURCE_COLS, after, per_page));
            let rows = c.query(&text, &refs(&args)).await?;
            let more = rows.len() > per_page as usize;
            let mut groups = Vec::with_capacity(rows.len());
            let mut last = None;
            for row in rows.iter().take(per_page as usize) {
                groups.push(summary(row)?);
                last = Some(row.try_get::<_, i64>(8)?);
            }
            let next = match (more, last) {
                (true, Some(seq)) => Some(self.cursors.seal(org, &Cursor { seq, key: None })?),
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
        run(async {
            let c = self.client().await?;
            let (text, args) = prepared(&group_by_id(org, id, RESOURCE_COLS));
            c.query_opt(&text, &refs(&args))
                .await?
                .map(|row| summary(&row))
                .transpose()
        })
        .await
    }

    async fn list_group_members(
        &self,
        org: OrgId,
        group: ResourceId,
        q: &MemberQuery,
    ) -> Result<Option<MemberPage>, StoreError> {
        run(async {
            let c = self.client().await?;
            let exists = c
                .query_opt(
                    "SELECT 1 FROM resources WHERE org_id = $1 AND id = $2 AND kind = 1",
                    &[&org.0, &group.0],
                )
                .await?;
            if exists.is_none() {
                return Ok(None);
            }
            let search = q.search.as_deref().and_then(crate::search::condition);
            let per_page = q.count.clamp(1, 1000);
            let (text, args) = prepared(&members_page(
                org,
                group,
                search.as_ref(),
                q.after,
                per_page,
            ));
            let rows = c.query(&text, &refs(&args)).await?;
            let more = rows.len() > per_page as usize;
            let mut members = Vec::with_capacity(rows.len());
            for row in rows.iter().take(per_page as usize) {
                members.push(MemberEntry {
                    id: ResourceId(row.try_get(0)?),
                    kind: kind_from(row.try_get::<_, i16>(1)?),
                    doc: row.try_get(2)?,
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
        run(async {
            let c = self.client().await?;
            let (text, args) = prepared(&groups_of(org, member, RESOURCE_COLS));
            let stmt = c.prepare_cached(&text).await?;
            let mut out = Vec::new();
            for row in c.query(&stmt, &refs(&args)).await? {
                out.push(group_view(build(&row)?));
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
        transaction!(self, tx => create_tx(&tx, org, ResourceKind::Group, &new, Scope::Manual).await)
    }

    async fn update_manual_group(
        &self,
        org: OrgId,
        id: ResourceId,
        update: Update,
    ) -> Result<StoredResource, StoreError> {
        let load = Load { relations: false };
        transaction!(self, tx => update_tx(&tx, org, ResourceKind::Group, id, &update, load, Scope::Manual).await)
    }

    async fn delete_manual_group(
        &self,
        org: OrgId,
        id: ResourceId,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        transaction!(self, tx => delete_tx(&tx, org, ResourceKind::Group, id, expected_version, Scope::Manual).await)
    }
}
