//! The directory (docs/contract.md, "Directory semantics"): accounts as the organisation sees them, and the conflicts
//! directory sync runs into.

use super::columns;
use super::resource::StoredResource;
use crate::ids::{OrgId, OrgKind, ResourceId};
use serde_json::Value;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Who owns an account's (or group's) imported attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Provisioned by directory sync: read-only to administrators but for local properties.
    Scim,
    /// Created by an administrator, or left behind by a disconnected connection.
    Manual,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Scim => "scim",
            Source::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scim" => Some(Source::Scim),
            "manual" => Some(Source::Manual),
            _ => None,
        }
    }
}

/// An account's status in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// `active: false`, or deleted over SCIM and held until its `userName` frees up.
    Deactivated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Deactivated => "deactivated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Status::Active),
            "deactivated" => Some(Status::Deactivated),
            _ => None,
        }
    }
}

/// The organisation's own properties of an account: never sent over SCIM, never part of
/// `meta.version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalProps {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub locations: Vec<String>,
    /// Schools only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade_level: Option<String>,
    /// Schools only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sis_username: Option<String>,
    /// Where each role came from: `manual` (set by hand), `default` (the kind's default role)
    /// or `rule:<id>`; kept by the directory, never taken from a client. Empty on accounts
    /// from before role rules: see [`crate::roles::sources_of_roles`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub role_sources: BTreeMap<String, Vec<String>>,
    /// Where each location came from: `manual` or `rule:<id>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub location_sources: BTreeMap<String, Vec<String>>,
}

impl LocalProps {
    /// These properties with a school's grade level and SIS username.
    pub fn with_school(
        mut self, grade_level: Option<String>, sis_username: Option<String>,
    ) -> Self {
        self.grade_level = grade_level;
        self.sis_username = sis_username;
        self
    }
}

/// An account (a User resource) with what only the directory knows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub resource: StoredResource,
    pub source: Source,
    /// When SCIM deleted it; it is then invisible to SCIM and held until `hold_until`.
    pub deleted: Option<OffsetDateTime>,
    pub hold_until: Option<OffsetDateTime>,
    pub local: LocalProps,
}

impl Account {
    pub fn status(&self) -> Status {
        if self.deleted.is_some() || !columns::active(&self.resource.doc) {
            Status::Deactivated
        } else {
            Status::Active
        }
    }

    /// The `userName`.
    pub fn user_name(&self) -> &str {
        self.resource
            .doc
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// What the directory keeps beside a resource's SCIM representation (`scimd copy`).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryState {
    pub source: Source,
    pub deleted: Option<OffsetDateTime>,
    pub hold_until: Option<OffsetDateTime>,
    /// Accounts only.
    pub local: Option<LocalProps>,
}

impl DirectoryState {
    pub fn of_account(a: &Account) -> Self {
        DirectoryState {
            source: a.source,
            deleted: a.deleted,
            hold_until: a.hold_until,
            local: Some(a.local.clone()),
        }
    }

    pub fn of_group(source: Source) -> Self {
        DirectoryState {
            source,
            deleted: None,
            hold_until: None,
            local: None,
        }
    }
}

/// An account search for administrators: keyset paging in creation order.
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// Case-insensitive: 3 or more characters match anywhere in `userName`, `displayName`,
    /// given or family name or an e-mail address; 1 or 2 the start of `userName`.
    pub search: Option<String>,
    pub source: Option<Source>,
    pub status: Option<Status>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    pub count: u32,
}

/// One page of accounts.
#[derive(Debug, Clone)]
pub struct AccountPage {
    pub accounts: Vec<Account>,
    /// Matching accounts in all pages; when not [`AccountPage::total_exact`], at least this
    /// many (the store stopped counting there, see [`SEARCH_COUNT_CAP`]).
    pub total: u64,
    /// Whether `total` is every match, or only a lower bound.
    pub total_exact: bool,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
}

/// Where a store may stop counting a search's matches: past this many, an
/// [`AccountPage`] says "at least this many" instead (docs/contract.md, "Account search").
pub const SEARCH_COUNT_CAP: u64 = 1000;

/// A change to an account, whatever its source. Each part is optional.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    /// Refuse with [`StoreError::VersionMismatch`](crate::store::StoreError::VersionMismatch) unless the account is at this version.
    pub expected_version: Option<i64>,
    /// A new SCIM document (bumps `meta.version`).
    pub doc: Option<Value>,
    /// A new source (directory sync taking over an account, or letting it go).
    pub source: Option<Source>,
    /// New local properties (never bumps `meta.version`).
    pub local: Option<LocalProps>,
    pub now: Option<OffsetDateTime>,
}

/// What a SCIM create needs to know about the organisation, read at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPolicy {
    pub kind: OrgKind,
    pub auto_merge: bool,
    /// The organisation's verified domains (lower-case).
    pub verified_domains: Vec<String>,
    /// Whether the `userName` asked about is an administrator's sign-in.
    pub admin_collision: bool,
}

/// An incoming SCIM account that collided with an account directory sync does not own.
/// One per `(organisation, userName)`, however often the identity provider retries.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictRecord {
    pub org_id: OrgId,
    /// The folded `userName`: the key.
    pub name_ci: String,
    pub user_name: String,
    /// The existing account.
    pub account_id: ResourceId,
    /// The document the identity provider sent (latest attempt).
    pub incoming: Value,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    pub attempts: i64,
}
