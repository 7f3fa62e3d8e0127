//! The storage port. One implementation per database; one conformance suite for all.
//!
//! Every method but [`Store::find_token_by_hash`] takes the organisation first and touches
//! only that organisation's rows. Stores return domain values, never rows.

use crate::ids::{OrgId, Organisation, ResourceId, TokenId};
use async_trait::async_trait;
use scim_core::filter::Filter;
use scim_core::messages::SortOrder;
use scim_core::patch::MemberChange;
use scim_core::path::AttrPath;
use scim_core::schema::ResourceKind;
use serde_json::Value;
use time::OffsetDateTime;

/// What can go wrong in a store, in domain terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key was violated; the field names which (`userName`, `externalId`, ...).
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// The resource does not exist (in this organisation).
    #[error("not found")]
    NotFound,
    /// The resource changed since the version the caller read (optimistic concurrency).
    #[error("version mismatch")]
    VersionMismatch,
    /// A group member that does not exist in the organisation.
    #[error("member '{0}' does not exist")]
    UnknownMember(String),
    /// A cursor that does not decode or belongs to another query.
    #[error("invalid cursor")]
    InvalidCursor,
    /// Anything else: logged, shown to clients as a 500 without details.
    #[error("storage failure: {0}")]
    Internal(String),
}

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

/// An update computed by a service from a version it read.
#[derive(Debug, Clone)]
pub struct Update {
    /// The version the change was computed from; the store refuses with
    /// [`StoreError::VersionMismatch`] if the row moved on.
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

/// A token as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: TokenId,
    pub org_id: OrgId,
    /// The first characters of the secret, safe to show.
    pub prefix: String,
    pub hash: [u8; 32],
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
    pub first_used: Option<OffsetDateTime>,
    pub last_used: Option<OffsetDateTime>,
    pub revoked: Option<OffsetDateTime>,
}

/// The storage port.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    async fn create_org(&self, org: &Organisation) -> Result<(), StoreError>;
    async fn get_org(&self, id: OrgId) -> Result<Option<Organisation>, StoreError>;
    async fn list_orgs(&self) -> Result<Vec<Organisation>, StoreError>;

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    /// The one cross-organisation lookup: finds a token by the hash of its secret.
    async fn find_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError>;
    async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenRecord>, StoreError>;
    /// Records use of a token at `at`: sets `first_used` if unset, and `last_used`.
    async fn touch_token(
        &self,
        org: OrgId,
        id: TokenId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    async fn create_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        new: NewResource,
    ) -> Result<StoredResource, StoreError>;
    async fn get_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        load: Load,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// Applies an update atomically and returns the resource afterwards (with relations
    /// loaded when `load` says so).
    async fn update_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        update: Update,
        load: Load,
    ) -> Result<StoredResource, StoreError>;
    /// Deletes a resource and its memberships. `expected_version` guards against a stale
    /// `If-Match`.
    async fn delete_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError>;
    async fn list_resources(
        &self,
        org: OrgId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<Page, StoreError>;
}
