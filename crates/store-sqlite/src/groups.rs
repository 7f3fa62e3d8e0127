//! Groups as administrators see them on SQLite: every source, member counts, and a group's
//! members keyset by member id, found with the account search (`crate::search`).

use crate::SqliteStore;
use crate::resources::{RESOURCE_COLS, create_tx, delete_tx, update_tx};
use crate::rows::{query, query_count, query_opt};
use crate::runtime::Effect;
use async_trait::async_trait;
use directory::store::{GroupPage, GroupStore, GroupSummary, GroupView, Load};
use directory::store::{MemberPage, MemberQuery, NewResource, StoredResource, Update};
use directory::{OrgId, ResourceId, StoreError};
use scim_core::schema::ResourceKind;
use store_sql::groups as sql;
use store_sql::{Scope, keyset_page, open_after, resource};

#[async_trait]
impl GroupStore for SqliteStore {
    async fn list_groups(
        &self, org: OrgId, after: Option<&str>, count: u32,
    ) -> Result<GroupPage, StoreError> {
        let after = after.map(str::to_owned);
        let cursors = self.cursors.clone();
        let per_page = count.clamp(1, 1000);
        self.rt
            .scan(org, move |c| {
                let after = open_after(&cursors, org, after.as_deref())?;
                let total = query_count(c, &sql::groups_count(org))?;
                let page = sql::groups_page(org, RESOURCE_COLS, after, per_page);
                let rows = query(c, &page, sql::group_page_row)?;
                keyset_page(&cursors, org, rows, per_page, total)
            })
            .await
    }

    async fn get_group(
        &self, org: OrgId, id: ResourceId,
    ) -> Result<Option<GroupSummary>, StoreError> {
        self.rt
            .read_now(|c| {
                query_opt(
                    c,
                    &sql::group_by_id(org, id, RESOURCE_COLS),
                    sql::group_summary,
                )
            })
            .await
    }

    async fn list_group_members(
        &self, org: OrgId, group: ResourceId, q: &MemberQuery,
    ) -> Result<Option<MemberPage>, StoreError> {
        let q = q.clone();
        self.rt
            .scan(org, move |c| {
                if query_opt(c, &sql::group_exists(org, group), |_| Ok(()))?.is_none() {
                    return Ok(None);
                }
                let search = match q.search.as_deref() {
                    Some(text) => crate::search::condition(c, org, text)?.map(|s| s.condition),
                    None => None,
                };
                let per_page = q.count.clamp(1, 1000);
                let page = sql::members_page(org, group, search.as_ref(), q.after, per_page);
                let members = query(c, &page, sql::member_entry)?;
                Ok(Some(sql::member_page(members, per_page)))
            })
            .await
    }

    async fn groups_of_member(
        &self, org: OrgId, member: ResourceId,
    ) -> Result<Vec<GroupView>, StoreError> {
        self.rt
            .read_now(|c| {
                query(c, &sql::groups_of(org, member, RESOURCE_COLS), |row| {
                    Ok(sql::group_view(resource(row)?))
                })
            })
            .await
    }

    async fn create_manual_group(
        &self, org: OrgId, new: NewResource,
    ) -> Result<StoredResource, StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                create_tx(c, org, ResourceKind::Group, &new, Scope::Manual)
            })
            .await
    }

    async fn update_manual_group(
        &self, org: OrgId, id: ResourceId, update: Update,
    ) -> Result<StoredResource, StoreError> {
        let load = Load { relations: false };
        self.rt
            .write(Effect::Data, move |c| {
                update_tx(c, org, ResourceKind::Group, id, update, load, Scope::Manual)
            })
            .await
    }

    async fn delete_manual_group(
        &self, org: OrgId, id: ResourceId, expected_version: Option<i64>,
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
