//! Groups in the directory service: every group whatever its source, and a group's members,
//! paged and found (the console's Groups pages).

use super::{Directory, DirectoryError};
use crate::ids::{OrgId, ResourceId};
use crate::store::{GroupPage, GroupSummary, MemberPage, MemberQuery, StoreError};

impl Directory {
    /// Groups in creation order, after the `next` of an earlier page.
    pub async fn list_groups(
        &self,
        org: OrgId,
        after: Option<&str>,
        count: u32,
    ) -> Result<GroupPage, DirectoryError> {
        match self.store.list_groups(org, after, count).await {
            Err(StoreError::InvalidCursor) => Err(DirectoryError::Invalid(
                "the page cursor is not valid".into(),
            )),
            other => Ok(other?),
        }
    }

    /// A group and one page of its members (`q.search`: those the account search finds).
    pub async fn group_members(
        &self,
        org: OrgId,
        id: &str,
        q: &MemberQuery,
    ) -> Result<(GroupSummary, MemberPage), DirectoryError> {
        let not_found = || DirectoryError::NotFound(format!("group '{id}'"));
        let rid: ResourceId = id.parse().map_err(|_| not_found())?;
        let group = self
            .store
            .get_group(org, rid)
            .await?
            .ok_or_else(not_found)?;
        let page = self
            .store
            .list_group_members(org, rid, q)
            .await?
            .ok_or_else(not_found)?;
        Ok((group, page))
    }
}
