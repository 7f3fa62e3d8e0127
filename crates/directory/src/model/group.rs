//! Groups as administrators see them in the console: whatever their source, with their
//! member counts, and a group's members in pages.

use super::account::Source;
use super::resource::StoredResource;
use crate::ids::ResourceId;
use scim_core::schema::ResourceKind;
use serde_json::Value;

/// A group with its source and how many direct members it has.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    pub resource: StoredResource,
    pub source: Source,
    pub members: u64,
}

/// One page of groups, in creation order.
#[derive(Debug, Clone)]
pub struct GroupPage {
    pub groups: Vec<GroupSummary>,
    /// Groups in all pages.
    pub total: u64,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
}

/// A page of a group's members: keyset by member id, optionally those a search finds (the
/// account search's meaning, docs/contract.md "Account search"; a search finds users only).
#[derive(Debug, Clone, Default)]
pub struct MemberQuery {
    pub search: Option<String>,
    /// The `next` of the previous page: the last member id it showed.
    pub after: Option<ResourceId>,
    pub count: u32,
}

/// A member as the group page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberEntry {
    pub id: ResourceId,
    pub kind: ResourceKind,
    /// The member's SCIM document (a user's or a nested group's).
    pub doc: Value,
}

/// One page of a group's members, in member-id order.
#[derive(Debug, Clone)]
pub struct MemberPage {
    pub members: Vec<MemberEntry>,
    pub next: Option<ResourceId>,
}
