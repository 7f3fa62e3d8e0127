//! The directory's rules (docs/contract.md, "Directory semantics"), whoever calls (the API, the CLI, the console):
//!
//! - an account provisioned by directory sync (`scim`) is read-only to administrators except
//!   its local properties; a manual account is editable;
//! - local properties never touch the SCIM document or `meta.version`;
//! - conflicts (an incoming `userName` that matches an account directory sync does not own) are
//!   listed, downloaded as CSV and merged: the account is handed to directory sync, with the
//!   document the identity provider sent, so its next filter finds it;
//! - disconnect revokes every token and hands every synced account and group to the
//!   administrators (manual); nothing is deleted;
//! - domains are added with a TXT value to publish, verified by DNS (or forced by an operator);
//! - every act goes to the activity log.

use crate::clock::Clock;
use crate::ids::{OrgId, OrgKind, Organisation, ResourceId};
use crate::lifecycle::{Lifecycle, LifecycleError};
use crate::store::{
    Account, AccountChange, AccountPage, AccountQuery, ActivityEntry, ConflictRecord, DomainRecord,
    LocalProps, NewResource, Source, Store, StoreError,
};
use async_trait::async_trait;
use scim_core::resource::normalize;
use scim_core::schema::ResourceKind;
use serde_json::{Map, Value};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// How long a SCIM-deleted account's `userName` stays reserved.
pub fn hold_for(kind: OrgKind) -> Duration {
    match kind {
        OrgKind::Business => Duration::days(30),
        OrgKind::School => Duration::days(120),
    }
}

/// The role a new account gets when none is given.
pub fn default_local(kind: OrgKind) -> LocalProps {
    LocalProps {
        roles: vec![
            match kind {
                OrgKind::Business => "staff",
                OrgKind::School => "student",
            }
            .to_owned(),
        ],
        ..LocalProps::default()
    }
}

/// Most roles or locations on one account, and the longest value.
const MAX_LOCAL_VALUES: usize = 32;
const MAX_LOCAL_LEN: usize = 128;

/// A refusal or failure of a directory act, in words an administrator can act on.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0} not found")]
    NotFound(String),
    #[error(
        "'{0}' is managed by directory sync: change it in the identity provider, or disconnect directory sync to edit it here"
    )]
    ReadOnly(String),
    #[error("{0}")]
    Invalid(String),
    /// A unique value already in use: the field it is about, and the message.
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("the account changed since it was read; reload and try again")]
    Stale,
    #[error("{0}")]
    Dns(String),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionMismatch => DirectoryError::Stale,
            // A taken unique value stays a store conflict, so it keeps the field it names.
            other => DirectoryError::Store(other),
        }
    }
}

/// What an administrator asks to change on an account.
#[derive(Debug, Clone, Default)]
pub struct AccountEdit {
    /// SCIM attributes to set (top-level: `name`, `displayName`, `emails`, `active`, ...); a
    /// `null` removes one. Refused on accounts directory sync owns.
    pub attributes: Map<String, Value>,
    /// New local properties, replacing the old ones.
    pub local: Option<LocalProps>,
    /// The `meta.version` the edit was made from, when the caller knows it.
    pub expected_version: Option<i64>,
}

/// The result of a TXT lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtOutcome {
    Found,
    /// No record with the value; the values that were there.
    Missing {
        seen: Vec<String>,
    },
}

/// The DNS port: does `domain` publish a TXT record with `value`?
#[async_trait]
pub trait TxtLookup: Send + Sync + std::fmt::Debug {
    async fn lookup(&self, domain: &str, value: &str) -> Result<TxtOutcome, String>;
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq)]
pub enum MergeOutcome {
    /// The account is now directory sync's, with the identity provider's document.
    Merged(Box<Account>),
    /// The account is gone (or SCIM already owns it): the conflict was dropped and the identity
    /// provider's next create succeeds.
    Dropped,
}

/// The directory service.
#[derive(Debug, Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    lifecycle: Lifecycle,
}

impl Directory {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Directory {
            lifecycle: Lifecycle::new(store.clone(), clock.clone()),
            store,
            clock,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn record(
        &self, org: OrgId, actor: &str, action: &str, target: String, detail: Option<String>,
        resource: Option<String>,
    ) -> Result<(), StoreError> {
        self.store
            .append_activity(vec![
                ActivityEntry::act(org, self.clock.now(), actor, action, target)
                    .with_detail(detail)
                    .with_resource(resource),
            ])
            .await
    }

    async fn org(&self, org: OrgId) -> Result<Organisation, DirectoryError> {
        self.store
            .get_org(org)
            .await?
            .ok_or_else(|| DirectoryError::NotFound("organisation".into()))
    }

    // ---- accounts ----

    pub async fn list_accounts(
        &self, org: OrgId, q: &AccountQuery,
    ) -> Result<AccountPage, DirectoryError> {
        match self.store.list_accounts(org, q).await {
            Err(StoreError::InvalidCursor) => Err(DirectoryError::Invalid(
                "the page cursor is not valid".into(),
            )),
            other => Ok(other?),
        }
    }

    pub async fn get_account(&self, org: OrgId, id: &str) -> Result<Account, DirectoryError> {
        let not_found = || DirectoryError::NotFound(format!("account '{id}'"));
        let rid: ResourceId = id.parse().map_err(|_| not_found())?;
        self.store
            .get_account(org, rid)
            .await?
            .ok_or_else(not_found)
    }

    /// Creates a manual account from SCIM-shaped attributes (`userName` required).
    pub async fn create_account(
        &self, org: OrgId, actor: &str, attributes: &Value, local: Option<LocalProps>,
    ) -> Result<Account, DirectoryError> {
        let o = self.org(org).await?;
        let normalized = normalize(ResourceKind::User, attributes)
            .map_err(|e| DirectoryError::Invalid(e.detail))?;
        let local = match local {
            Some(l) => {
                let l = check_local(o.kind, l)?;
                let cat = crate::roles::catalogue(self.store.as_ref(), org, o.kind).await?;
                let roles = l
                    .roles
                    .iter()
                    .map(|r| cat.check(r))
                    .collect::<Result<Vec<_>, _>>()?;
                crate::roles::edit_local(
                    o.kind,
                    &default_local(o.kind),
                    &roles,
                    &[],
                    &l.locations,
                    &[],
                )
                .with_school(l.grade_level, l.sis_username)
            }
            None => default_local(o.kind),
        };
        let new = NewResource {
            id: ResourceId::new(),
            doc: normalized.doc,
            now: self.clock.now(),
            members: Vec::new(),
        };
        let account = match self
            .store
            .create_account(org, new, Source::Manual, &local)
            .await
        {
            Err(StoreError::Conflict(_)) => {
                return Err(DirectoryError::Conflict(
                    "userName",
                    format!(
                        "an account with userName '{}' already exists (or is reserved after a deletion)",
                        attributes
                            .get("userName")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    ),
                ));
            }
            other => other?,
        };
        crate::roles::after_write(
            self.store.as_ref(),
            org,
            &[account.resource.id],
            false,
            self.clock.now(),
        )
        .await?;
        self.record(
            org,
            actor,
            "account.create",
            account.user_name().to_owned(),
            None,
            Some(format!("Users/{}", account.resource.id)),
        )
        .await?;
        Ok(account)
    }

    /// Edits an account: local properties on any account, SCIM attributes only on manual ones.
    pub async fn edit_account(
        &self, org: OrgId, actor: &str, id: &str, edit: AccountEdit,
    ) -> Result<Account, DirectoryError> {
        let current = self.get_account(org, id).await?;
        if current.deleted.is_some() {
            return Err(DirectoryError::Invalid(format!(
                "account '{id}' was deleted by directory sync and is held until its userName frees up; it cannot be edited"
            )));
        }
        let o = self.org(org).await?;
        if let Some(attr) = edit.attributes.keys().next()
            && current.source == Source::Scim
        {
            return Err(DirectoryError::ReadOnly(attr.clone()));
        }
        let doc = if edit.attributes.is_empty() {
            None
        } else {
            let mut doc = current.resource.doc.clone();
            let obj = doc.as_object_mut().ok_or_else(|| {
                DirectoryError::Invalid("stored document is not an object".into())
            })?;
            for (k, v) in &edit.attributes {
                if matches!(k.as_str(), "id" | "meta" | "schemas" | "groups") {
                    return Err(DirectoryError::Invalid(format!(
                        "'{k}' cannot be set by an administrator"
                    )));
                }
                if v.is_null() {
                    obj.remove(k);
                } else {
                    obj.insert(k.clone(), v.clone());
                }
            }
            let normalized = normalize(ResourceKind::User, &doc)
                .map_err(|e| DirectoryError::Invalid(e.detail))?;
            (normalized.doc != current.resource.doc).then_some(normalized.doc)
        };
        let local = match edit.local {
            Some(l) => Some(self.local_edit(org, o.kind, &current, l).await?),
            None => None,
        };
        let changed: Vec<&str> = edit
            .attributes
            .keys()
            .map(String::as_str)
            .chain(local.as_ref().map(|_| "local properties"))
            .collect();
        let account = self
            .store
            .update_account(
                org,
                current.resource.id,
                AccountChange {
                    expected_version: Some(
                        edit.expected_version.unwrap_or(current.resource.version),
                    ),
                    doc,
                    source: None,
                    local,
                    now: Some(self.clock.now()),
                },
            )
            .await?;
        crate::roles::after_write(
            self.store.as_ref(),
            org,
            &[account.resource.id],
            false,
            self.clock.now(),
        )
        .await?;
        self.record(
            org,
            actor,
            "account.edit",
            account.user_name().to_owned(),
            Some(format!("changed: {}", changed.join(", "))),
            Some(format!("Users/{}", account.resource.id)),
        )
        .await?;
        Ok(account)
    }

    /// The local properties an edit asks for, read as changes of the hand-set values: a role
    /// or location the account did not have is added by hand (a role from the catalogue), one
    /// it had and the edit leaves out loses its hand-set source. A role only a rule gives
    /// cannot be taken away by hand: the refusal names the rule.
    async fn local_edit(
        &self, org: OrgId, kind: OrgKind, current: &Account, wanted: LocalProps,
    ) -> Result<LocalProps, DirectoryError> {
        let wanted = check_local(kind, wanted)?;
        let have = &current.local;
        let added: Vec<&String> = wanted
            .roles
            .iter()
            .filter(|r| !have.roles.contains(r))
            .collect();
        let mut add_roles = Vec::new();
        if !added.is_empty() {
            let cat = crate::roles::catalogue(self.store.as_ref(), org, kind).await?;
            for r in added {
                add_roles.push(cat.check(r)?);
            }
        }
        let remove_roles: Vec<String> = have
            .roles
            .iter()
            .filter(|r| !wanted.roles.contains(r))
            .cloned()
            .collect();
        let sources = crate::roles::sources_of_roles(kind, have);
        for r in &remove_roles {
            let s = sources.get(r).cloned().unwrap_or_default();
            if !s.iter().any(|s| s == crate::roles::MANUAL)
                && s.iter().any(|s| s.starts_with("rule:"))
            {
                let rules = self.store.list_role_rules(org).await?;
                let by = crate::roles::rule_of(&rules, &s).unwrap_or_else(|| "a rule".into());
                return Err(DirectoryError::Invalid(format!(
                    "the role '{r}' comes from the rule '{by}' and stays while the rule applies; change the rule instead"
                )));
            }
        }
        let add_locations: Vec<String> = wanted
            .locations
            .iter()
            .filter(|l| !have.locations.contains(l))
            .cloned()
            .collect();
        let remove_locations: Vec<String> = have
            .locations
            .iter()
            .filter(|l| !wanted.locations.contains(l))
            .cloned()
            .collect();
        Ok(crate::roles::edit_local(
            kind,
            have,
            &add_roles,
            &remove_roles,
            &add_locations,
            &remove_locations,
        )
        .with_school(wanted.grade_level, wanted.sis_username))
    }

    // ---- connection ----

    /// Disconnects directory sync: every token revoked, the connection `disconnected`, every
    /// synced account and group manual. Returns (tokens revoked, resources released).
    pub async fn disconnect(
        &self, org: OrgId, actor: &str,
    ) -> Result<(usize, u64), DirectoryError> {
        let revoked = self.lifecycle.disconnect(org, actor).await?;
        let released = self.store.release_sync(org).await?;
        self.record(
            org,
            actor,
            "disconnect.release",
            format!("{released} account(s) and group(s) are now manual"),
            None,
            None,
        )
        .await?;
        Ok((revoked, released))
    }

    pub async fn auto_merge(&self, org: OrgId) -> Result<bool, DirectoryError> {
        Ok(self.store.sync_policy(org, "").await?.auto_merge)
    }

    pub async fn set_auto_merge(
        &self, org: OrgId, actor: &str, on: bool,
    ) -> Result<(), DirectoryError> {
        self.store.set_auto_merge(org, on).await?;
        self.record(
            org,
            actor,
            "settings.auto-merge",
            if on { "on" } else { "off" }.to_owned(),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    // ---- conflicts ----

    pub async fn list_conflicts(&self, org: OrgId) -> Result<Vec<ConflictRecord>, DirectoryError> {
        Ok(self.store.list_conflicts(org).await?)
    }

    /// Every conflict as CSV (RFC 4180), for the "Download conflicts" button and the CLI.
    pub async fn conflicts_csv(&self, org: OrgId) -> Result<String, DirectoryError> {
        let conflicts = self.list_conflicts(org).await?;
        let mut out = String::from(
            "userName,existingAccountId,existingSource,incomingDisplayName,incomingExternalId,firstSeen,lastSeen,attempts\r\n",
        );
        for c in conflicts {
            let existing = self.store.get_account(org, c.account_id).await?;
            let field = |v: &str| csv_field(v);
            let row = [
                field(&c.user_name),
                field(&c.account_id.to_string()),
                field(
                    existing
                        .as_ref()
                        .map(|a| a.source.as_str())
                        .unwrap_or("gone"),
                ),
                field(
                    c.incoming
                        .get("displayName")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ),
                field(
                    c.incoming
                        .get("externalId")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ),
                field(&rfc3339(c.first_seen)),
                field(&rfc3339(c.last_seen)),
                c.attempts.to_string(),
            ];
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        Ok(out)
    }

    /// Merges one conflict (by `userName`, any case): the existing account becomes directory
    /// sync's, with the document the identity provider sent; its local properties stay.
    pub async fn merge_conflict(
        &self, org: OrgId, actor: &str, user_name: &str,
    ) -> Result<MergeOutcome, DirectoryError> {
        let key = user_name.to_lowercase();
        let conflict = self
            .store
            .list_conflicts(org)
            .await?
            .into_iter()
            .find(|c| c.name_ci == key)
            .ok_or_else(|| DirectoryError::NotFound(format!("conflict for '{user_name}'")))?;
        let outcome = self.take_over(org, &conflict).await?;
        self.store.delete_conflict(org, &key).await?;
        self.record(
            org,
            actor,
            "conflict.merge",
            conflict.user_name.clone(),
            Some(match &outcome {
                MergeOutcome::Merged(_) => "account handed to directory sync".to_owned(),
                MergeOutcome::Dropped => "account no longer exists; conflict dropped".to_owned(),
            }),
            Some(format!("Users/{}", conflict.account_id)),
        )
        .await?;
        Ok(outcome)
    }

    /// Merges every conflict; returns how many accounts were handed to directory sync.
    pub async fn merge_all(&self, org: OrgId, actor: &str) -> Result<usize, DirectoryError> {
        let mut merged = 0;
        for c in self.store.list_conflicts(org).await? {
            if let MergeOutcome::Merged(_) = self.merge_conflict(org, actor, &c.user_name).await? {
                merged += 1;
            }
        }
        Ok(merged)
    }

    async fn take_over(
        &self, org: OrgId, c: &ConflictRecord,
    ) -> Result<MergeOutcome, DirectoryError> {
        for _ in 0..8 {
            let Some(account) = self.store.get_account(org, c.account_id).await? else {
                return Ok(MergeOutcome::Dropped);
            };
            if account.deleted.is_some() || account.source == Source::Scim {
                return Ok(MergeOutcome::Dropped);
            }
            match adopt(
                self.store.as_ref(),
                org,
                &account,
                &c.incoming,
                self.clock.now(),
            )
            .await
            {
                Err(StoreError::VersionMismatch) => continue,
                Err(StoreError::Conflict(_)) => {
                    return Err(DirectoryError::Conflict(
                        "userName",
                        format!(
                            "the identity provider's userName for '{}' is taken by another account",
                            c.user_name
                        ),
                    ));
                }
                other => return Ok(MergeOutcome::Merged(Box::new(other?))),
            }
        }
        Err(DirectoryError::Stale)
    }

    // ---- jobs ----

    /// Purges accounts whose `userName` hold has ended (idempotent, any instance).
    pub async fn purge_retired(&self) -> Result<u64, DirectoryError> {
        Ok(self.store.purge_retired(self.clock.now()).await?)
    }

    /// Deletes expired console sessions, and failed-sign-in counts that neither count within
    /// their window nor lock anything any more.
    pub async fn purge_sessions(&self) -> Result<u64, DirectoryError> {
        let now = self.clock.now();
        Ok(self
            .store
            .purge_sessions(now, now - crate::session::FAILURE_WINDOW)
            .await?)
    }
}

/// Hands `account` to directory sync with the identity provider's `incoming` document.
pub(crate) async fn adopt(
    store: &dyn Store, org: OrgId, account: &Account, incoming: &Value, now: OffsetDateTime,
) -> Result<Account, StoreError> {
    let adopted = store
        .update_account(
            org,
            account.resource.id,
            AccountChange {
                expected_version: Some(account.resource.version),
                doc: Some(incoming.clone()),
                source: Some(Source::Scim),
                local: None,
                now: Some(now),
            },
        )
        .await?;
    crate::roles::after_write(store, org, &[adopted.resource.id], false, now).await?;
    Ok(adopted)
}

/// Validates local properties for an organisation of `kind`.
pub fn check_local(kind: OrgKind, mut l: LocalProps) -> Result<LocalProps, DirectoryError> {
    fn clean(what: &str, values: Vec<String>) -> Result<Vec<String>, DirectoryError> {
        if values.len() > MAX_LOCAL_VALUES {
            return Err(DirectoryError::Invalid(format!(
                "at most {MAX_LOCAL_VALUES} {what}"
            )));
        }
        let mut out: Vec<String> = Vec::new();
        for v in values {
            let v = v.trim().to_owned();
            if v.is_empty() || v.len() > MAX_LOCAL_LEN || v.chars().any(char::is_control) {
                return Err(DirectoryError::Invalid(format!(
                    "each of the {what} must be 1 to {MAX_LOCAL_LEN} printable characters"
                )));
            }
            if !out.contains(&v) {
                out.push(v);
            }
        }
        Ok(out)
    }
    l.roles = clean("roles", l.roles)?;
    l.locations = clean("locations", l.locations)?;
    for (what, v) in [
        ("gradeLevel", &mut l.grade_level),
        ("sisUsername", &mut l.sis_username),
    ] {
        if let Some(s) = v.as_mut() {
            *s = s.trim().to_owned();
            if kind != OrgKind::School {
                return Err(DirectoryError::Invalid(format!(
                    "{what} is a property of school accounts only"
                )));
            }
            if s.len() > MAX_LOCAL_LEN || s.chars().any(char::is_control) {
                return Err(DirectoryError::Invalid(format!(
                    "{what} must be at most {MAX_LOCAL_LEN} printable characters"
                )));
            }
        }
        if v.as_deref() == Some("") {
            *v = None;
        }
    }
    Ok(l)
}

/// Whether a spreadsheet could read `v` as a formula (OWASP's CSV injection list): a leading
/// TAB or CR, or `= + - @` as the first character after any blanks, which spreadsheets skip.
fn is_formula_like(v: &str) -> bool {
    v.starts_with(['\t', '\r']) || v.trim_start().starts_with(['=', '+', '-', '@'])
}

fn csv_field(v: &str) -> String {
    // Quoted with a leading ', which spreadsheets show as text and do not evaluate.
    let v = if is_formula_like(v) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\r', '\n']) || v.starts_with('\'') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

mod domains;
mod groups;
pub use groups::GroupEdit;
mod holds;
#[cfg(test)]
mod tests;
