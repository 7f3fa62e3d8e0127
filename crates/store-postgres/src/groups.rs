//! Groups as administrators see them on PostgreSQL: every source, member counts, and a
//! group's members keyset by member id, found with the account search (`crate::search`).

use crate::dialect::{prepared, refs};
use crate::resources::{RESOURCE_COLS, create_tx, delete_tx, update_tx};
use crate::rows::{PgRow, query, query_count, query_opt};
use crate::{PgStore, run};
use async_trait::async_trait;
use directory::store::{GroupPage, GroupStore, GroupSummary, GroupView, Load};
use directory::store::{MemberPage, MemberQuery, NewResource, StoredResource, Update};
use directory::{OrgId, ResourceId, StoreError};
use scim_core::schema::ResourceKind;
use store_sql::groups as sql;
use store_sql::{Scope, keyset_page, open_after, resource};

#[async_trait]
impl GroupStore for PgStore {
    async fn list_groups(
        &self, org: OrgId, after: Option<&str>, count: u32,
    ) -> Result<GroupPage, StoreError> {
        run(async {
            let c = self.client().await?;
            let after = open_after(&self.cursors, org, after)?;
            let per_page = count.clamp(1, 1000);
            let total = query_count(&c, &sql::groups_count(org)).await?;
            let page = sql::groups_page(org, RESOURCE_COLS, after, per_page);
            let rows = query(&c, &page, sql::group_page_row).await?;
            Ok(keyset_page(&self.cursors, org, rows, per_page, total)?)
        })
        .await
    }

    async fn get_group(
        &self, org: OrgId, id: ResourceId,
    ) -> Result<Option<GroupSummary>, StoreError> {
        run(async {
            let c = self.client().await?;
            query_opt(
                &c,
                &sql::group_by_id(org, id, RESOURCE_COLS),
                sql::group_summary,
            )
            .await
        })
        .await
    }

    async fn list_group_members(
        &self, org: OrgId, group: ResourceId, q: &MemberQuery,
    ) -> Result<Option<MemberPage>, StoreError> {
        run(async {
            let c = self.client().await?;
            if query_opt(&c, &sql::group_exists(org, group), |_| Ok(()))
                .await?
                .is_none()
            {
                return Ok(None);
            }
            let search = q.search.as_deref().and_then(crate::search::condition);
            let per_page = q.count.clamp(1, 1000);
            let search = search.as_ref().map(|s| &s.indexed);
            let page = sql::members_page(org, group, search, q.after, per_page);
            let members = query(&c, &page, sql::member_entry).await?;
            Ok(Some(sql::member_page(members, per_page)))
        })
        .await
    }

    async fn groups_of_member(
        &self, org: OrgId, member: ResourceId,
    ) -> Result<Vec<GroupView>, StoreError> {
        run(async {
            let c = self.client().await?;
            let (text, args) = prepared(&sql::groups_of(org, member, RESOURCE_COLS));
            let stmt = c.prepare_cached(&text).await?;
            let mut out = Vec::new();
            for row in c.query(&stmt, &refs(&args)).await? {
                out.push(sql::group_view(resource(&PgRow(&row))?));
            }
            Ok(out)
        })
        .await
    }

    async fn create_manual_group(
        &self, org: OrgId, new: NewResource,
    ) -> Result<StoredResource, StoreError> {
        transaction!(self, tx => create_tx(&tx, org, ResourceKind::Group, &new, Scope::Manual).await)
    }

    async fn update_manual_group(
        &self, org: OrgId, id: ResourceId, update: Update,
    ) -> Result<StoredResource, StoreError> {
        let load = Load { relations: false };
        transaction!(self, tx => update_tx(&tx, org, ResourceKind::Group, id, &update, load, Scope::Manual).await)
    }

    async fn delete_manual_group(
        &self, org: OrgId, id: ResourceId, expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        transaction!(self, tx => delete_tx(&tx, org, ResourceKind::Group, id, expected_version, Scope::Manual).await)
    }
}
