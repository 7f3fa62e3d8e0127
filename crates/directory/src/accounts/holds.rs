//! Releasing a held `userName` early. An account the identity provider deleted keeps its
//! `userName` for the organisation kind's hold (see [`super::hold_for`]), so that a person
//! deleted by mistake comes back as themselves; an administrator who knows the name should go
//! to someone else now can end that hold. The account is deleted for good and the act logged.

use super::{Directory, DirectoryError};
use crate::ids::{OrgId, ResourceId};

impl Directory {
    /// Ends the hold of a retired account at once: the account is deleted and its `userName`
    /// is free. Refused for an account that is not held.
    pub async fn release_hold(
        &self, org: OrgId, actor: &str, id: &str,
    ) -> Result<(), DirectoryError> {
        let a = self.get_account(org, id).await?;
        let Some(until) = a.hold_until.filter(|_| a.deleted.is_some()) else {
            return Err(DirectoryError::Invalid(format!(
                "account '{}' is not held: only an account deleted by directory sync holds its user name",
                a.user_name()
            )));
        };
        let rid: ResourceId = a.resource.id;
        // The store deletes a retired account whose hold has ended by the instant given: the
        // hold's own end is that instant.
        if !self.store.purge_retired_account(org, rid, until).await? {
            return Err(DirectoryError::NotFound(format!("account '{id}'")));
        }
        self.record(
            org,
            actor,
            "account.release",
            a.user_name().to_owned(),
            Some(format!("user name held until {until} released")),
            Some(rid.to_string()),
        )
        .await?;
        Ok(())
    }

    /// [`Directory::release_hold`] for the account holding `user_name` (compared
    /// case-insensitively, as SCIM compares userNames).
    pub async fn release_hold_of(
        &self, org: OrgId, actor: &str, user_name: &str,
    ) -> Result<(), DirectoryError> {
        let a = self
            .store
            .find_account_by_name(org, &user_name.to_lowercase())
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("account '{user_name}'")))?;
        self.release_hold(org, actor, &a.resource.id.to_string())
            .await
    }

    /// Every group an account is a direct member of, synced or manual.
    pub async fn account_groups(
        &self, org: OrgId, id: ResourceId,
    ) -> Result<Vec<crate::model::resource::GroupView>, DirectoryError> {
        Ok(self.store.groups_of_member(org, id).await?)
    }
}
