//! Groups in the directory service: every group whatever its source, and a group's members,
//! paged and found (the console's Groups pages); manual groups, which administrators create,
//! rename, fill and delete, as they do manual accounts. A group directory sync owns is
//! read-only here: its identity provider changes it.

use super::{Directory, DirectoryError};
use crate::ids::{OrgId, ResourceId};
use crate::store::{
    GroupPage, GroupSummary, MemberPage, MemberQuery, NewResource, Source, StoreError, Update,
};
use scim_core::patch::{MemberChange, MemberRef};
use scim_core::resource::normalize;
use scim_core::schema::ResourceKind;
use serde_json::json;

/// The longest group name accepted, in characters.
const MAX_NAME: usize = 256;

/// What an administrator asks to change in a manual group.
#[derive(Debug, Clone, Default)]
pub struct GroupEdit {
    /// A new `displayName`.
    pub display_name: Option<String>,
    /// Accounts to add, by `userName` (as an administrator knows them).
    pub add_user_names: Vec<String>,
    /// Members to remove, by id.
    pub remove: Vec<String>,
}

/// A group name as given, trimmed; refused when empty or too long.
fn group_name(name: &str) -> Result<String, DirectoryError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DirectoryError::Invalid("a group needs a name".into()));
    }
    if name.chars().count() > MAX_NAME {
        return Err(DirectoryError::Invalid(format!(
            "a group name has at most {MAX_NAME} characters"
        )));
    }
    Ok(name.to_owned())
}

fn group_not_found(id: &str) -> DirectoryError {
    DirectoryError::NotFound(format!("group '{id}'"))
}

/// The ids among member references (all of them are ids: the service resolved the names).
fn member_ids(refs: &[MemberRef]) -> Vec<ResourceId> {
    refs.iter().filter_map(|m| m.value.parse().ok()).collect()
}

/// A store error, a refused member (deleted since it was looked up) said as the caller's.
fn member_refusal(e: StoreError) -> DirectoryError {
    match e {
        StoreError::UnknownMember(m) => {
            DirectoryError::Invalid(format!("'{m}' is not an account of this organisation"))
        }
        other => other.into(),
    }
}

/// A group's `displayName`, as stored.
fn display_name(g: &GroupSummary) -> String {
    g.resource
        .doc
        .get("displayName")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A group document with `displayName` `name`, as SCIM would store it.
fn group_doc(name: &str) -> Result<serde_json::Value, DirectoryError> {
    Ok(
        normalize(ResourceKind::Group, &json!({ "displayName": name }))
            .map_err(|e| DirectoryError::Invalid(e.detail))?
            .doc,
    )
}

impl Directory {
    /// Groups in creation order, after the `next` of an earlier page.
    pub async fn list_groups(
        &self, org: OrgId, after: Option<&str>, count: u32,
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
        &self, org: OrgId, id: &str, q: &MemberQuery,
    ) -> Result<(GroupSummary, MemberPage), DirectoryError> {
        let group = self.group(org, id).await?;
        let page = self
            .store
            .list_group_members(org, group.resource.id, q)
            .await?
            .ok_or_else(|| group_not_found(id))?;
        Ok((group, page))
    }

    /// A group of the organisation by id, whatever its source.
    async fn group(&self, org: OrgId, id: &str) -> Result<GroupSummary, DirectoryError> {
        let rid: ResourceId = id.parse().map_err(|_| group_not_found(id))?;
        self.store
            .get_group(org, rid)
            .await?
            .ok_or_else(|| group_not_found(id))
    }

    /// Creates a manual group with the accounts named (by `userName`) as its first members;
    /// logged. An unknown name refuses the whole creation.
    pub async fn create_group(
        &self, org: OrgId, actor: &str, display_name: &str, user_names: &[String],
    ) -> Result<GroupSummary, DirectoryError> {
        let name = group_name(display_name)?;
        let (members, added) = self.accounts_named(org, user_names).await?;
        let new = NewResource {
            id: ResourceId::new(),
            doc: group_doc(&name)?,
            now: self.clock.now(),
            members,
        };
        let named = member_ids(&new.members);
        let created = self
            .store
            .create_manual_group(org, new)
            .await
            .map_err(member_refusal)?;
        self.roles_after(org, created.id, named, false, false).await;
        self.record(
            org,
            actor,
            "group.create",
            name,
            (!added.is_empty()).then(|| added.join("; ")),
            Some(format!("Groups/{}", created.id)),
        )
        .await?;
        self.manual_group(org, &created.id.to_string()).await
    }

    /// The accounts named by `userName` (not deleted), as members to add, with the log's
    /// words for them.
    async fn accounts_named(
        &self, org: OrgId, user_names: &[String],
    ) -> Result<(Vec<MemberRef>, Vec<String>), DirectoryError> {
        let mut refs = Vec::new();
        let mut added = Vec::new();
        for user_name in user_names {
            let account = self
                .store
                .find_account_by_name(org, &user_name.trim().to_lowercase())
                .await?
                .filter(|a| a.deleted.is_none())
                .ok_or_else(|| {
                    DirectoryError::Invalid(format!(
                        "there is no account with userName '{}'",
                        user_name.trim()
                    ))
                })?;
            added.push(format!("added: {}", account.user_name()));
            refs.push(MemberRef {
                value: account.resource.id.to_string(),
                member_type: None,
            });
        }
        Ok((refs, added))
    }

    /// Renames a manual group, adds accounts to it and removes members, in one change; logged.
    pub async fn edit_group(
        &self, org: OrgId, actor: &str, id: &str, edit: GroupEdit,
    ) -> Result<GroupSummary, DirectoryError> {
        let group = self.manual_group(org, id).await?;
        let mut changed = Vec::new();
        let doc = match edit.display_name.as_deref() {
            Some(name) => {
                let name = group_name(name)?;
                let doc = group_doc(&name)?;
                (doc != group.resource.doc).then(|| {
                    changed.push(format!("name: {name}"));
                    doc
                })
            }
            None => None,
        };
        let (refs, added) = self.accounts_named(org, &edit.add_user_names).await?;
        changed.extend(added);
        let mut named = member_ids(&refs);
        named.extend(
            edit.remove
                .iter()
                .filter_map(|m| m.parse::<ResourceId>().ok()),
        );
        let mut member_changes = Vec::new();
        if !refs.is_empty() {
            member_changes.push(MemberChange::Add(refs));
        }
        if !edit.remove.is_empty() {
            changed.push(format!("removed: {}", edit.remove.len()));
            member_changes.push(MemberChange::Remove(edit.remove.clone()));
        }
        if doc.is_none() && member_changes.is_empty() {
            return Ok(group);
        }
        let update = Update {
            expected_version: doc.as_ref().map(|_| group.resource.version),
            doc,
            member_changes,
            now: self.clock.now(),
        };
        let rid = group.resource.id;
        let renamed = update.doc.is_some();
        self.store
            .update_manual_group(org, rid, update)
            .await
            .map_err(member_refusal)?;
        self.roles_after(org, rid, named, renamed, renamed).await;
        self.record(
            org,
            actor,
            "group.edit",
            display_name(&group),
            Some(changed.join("; ")),
            Some(format!("Groups/{rid}")),
        )
        .await?;
        self.manual_group(org, id).await
    }

    /// Deletes a manual group (its members stay, in no group); logged.
    pub async fn delete_group(
        &self, org: OrgId, actor: &str, id: &str,
    ) -> Result<(), DirectoryError> {
        let group = self.manual_group(org, id).await?;
        let rid = group.resource.id;
        self.store.delete_manual_group(org, rid, None).await?;
        self.roles_after(org, rid, Vec::new(), true, false).await;
        self.record(
            org,
            actor,
            "group.delete",
            display_name(&group),
            None,
            Some(format!("Groups/{rid}")),
        )
        .await?;
        Ok(())
    }

    /// Applies `memberOf` rules after a manual group's write (see
    /// [`crate::roles::after_group_change`]).
    async fn roles_after(
        &self, org: OrgId, group: ResourceId, named: Vec<ResourceId>, bulk: bool, renamed: bool,
    ) {
        let (store, now) = (self.store.clone(), self.clock.now());
        crate::roles::after_group_change(store, now, org, group, named, bulk, renamed).await;
    }

    /// A group an administrator may change: refused as read-only when directory sync owns it.
    async fn manual_group(&self, org: OrgId, id: &str) -> Result<GroupSummary, DirectoryError> {
        let group = self.group(org, id).await?;
        if group.source == Source::Scim {
            return Err(DirectoryError::ReadOnly("group".into()));
        }
        Ok(group)
    }
}
