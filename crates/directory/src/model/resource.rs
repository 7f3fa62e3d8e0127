//! SCIM resources as the stores keep them: the document, its version and its relations, and
//! the queries and updates services hand to a store.

use crate::ids::ResourceId;
use scim_core::filter::Filter;
use scim_core::messages::SortOrder;
use scim_core::patch::MemberChange;
use scim_core::path::AttrPath;
use scim_core::schema::ResourceKind;
use serde_json::Value;
use time::OffsetDateTime;

/// A stored SCIM resource as the domain sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: ResourceId,
    pub kind: ResourceKind,
    /// The canonical document (see `scim_core::resource`), without `id`, `meta`, members or
    /// `groups`.
    pub doc: Value,
    /// Bumped on every change of the SCIM representation (`meta.version`).
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    /// Group members, when asked for.
    pub members: Option<Vec<MemberView>>,
    /// A User's groups, when asked for.
    pub groups: Option<Vec<GroupView>>,
}

/// A group member as rendered in `members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub id: ResourceId,
    pub kind: ResourceKind,
    pub display: Option<String>,
}

/// A group as rendered in a User's `groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub id: ResourceId,
    pub display: Option<String>,
}

/// What to load beside the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Group `members` / User `groups`.
    pub relations: bool,
}

/// A new resource.
#[derive(Debug, Clone)]
pub struct NewResource {
    pub id: ResourceId,
    pub doc: Value,
    pub now: OffsetDateTime,
    /// Initial members of a group.
    pub members: Vec<scim_core::patch::MemberRef>,
}

impl NewResource {
    /// The resource as a store holds it once created: version 1, created and last modified at
    /// `at` (the instant as stored, which may be coarser than `now`), with a group's first
    /// `members` when they were loaded.
    pub fn created(
        &self, kind: ResourceKind, at: OffsetDateTime, members: Option<Vec<MemberView>>,
    ) -> StoredResource {
        StoredResource {
            id: self.id,
            kind,
            doc: self.doc.clone(),
            version: 1,
            created: at,
            last_modified: at,
            members,
            groups: None,
        }
    }
}

/// An update computed by a service from a version it read.
#[derive(Debug, Clone)]
pub struct Update {
    /// The version the change was computed from; the store refuses with
    /// [`StoreError::VersionMismatch`](crate::store::StoreError::VersionMismatch) if the row moved on.
    /// `None` when the change does not depend on what was read (membership changes alone are
    /// set operations that commute with any other change), so no retry is needed under
    /// contention.
    pub expected_version: Option<i64>,
    /// The new document, when it changed.
    pub doc: Option<Value>,
    pub member_changes: Vec<MemberChange>,
    pub now: OffsetDateTime,
}

/// A list query, already validated.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort: Option<(AttrPath, SortOrder)>,
    /// 1-based index paging.
    pub start_index: u64,
    pub count: u64,
    /// RFC 9865 cursor paging: `Some("")` for the first page.
    pub cursor: Option<String>,
    pub load: Load,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    pub resources: Vec<StoredResource>,
    pub total: u64,
    pub next_cursor: Option<String>,
}
