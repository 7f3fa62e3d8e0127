//! The port of the console's groups and the administrators' manual groups.

use super::*;

/// Groups as administrators see them (the console's Groups pages): every group whatever its
/// source, and a group's members, found and paged.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Groups in creation order, after the `next` of an earlier page.
    async fn list_groups(
        &self, org: OrgId, after: Option<&str>, count: u32,
    ) -> Result<GroupPage, StoreError>;

    async fn get_group(
        &self, org: OrgId, id: ResourceId,
    ) -> Result<Option<GroupSummary>, StoreError>;

    /// A page of the group's direct members; `None` when there is no such group.
    async fn list_group_members(
        &self, org: OrgId, group: ResourceId, q: &MemberQuery,
    ) -> Result<Option<MemberPage>, StoreError>;

    /// Every group (synced or manual) `member` is a direct member of, in creation order.
    async fn groups_of_member(
        &self, org: OrgId, member: ResourceId,
    ) -> Result<Vec<GroupView>, StoreError>;

    /// Creates a manual group (an administrator's) with its first members: accounts or groups
    /// of the organisation that SCIM has not deleted ([`StoreError::UnknownMember`] for any
    /// other). SCIM never sees it; applications do, with its events.
    async fn create_manual_group(
        &self, org: OrgId, new: NewResource,
    ) -> Result<StoredResource, StoreError>;

    /// Changes a manual group's document and members as [`ResourceStore::update_resource`]
    /// does a SCIM group's; [`StoreError::NotFound`] for a group directory sync owns.
    async fn update_manual_group(
        &self, org: OrgId, id: ResourceId, update: Update,
    ) -> Result<StoredResource, StoreError>;

    /// Deletes a manual group and its memberships ([`StoreError::NotFound`] for a group
    /// directory sync owns).
    async fn delete_manual_group(
        &self, org: OrgId, id: ResourceId, expected_version: Option<i64>,
    ) -> Result<(), StoreError>;
}
