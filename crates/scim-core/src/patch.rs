//! The PATCH engine (RFC 7644 section 3.5.2) with the identity-provider quirks of
//! `interop.md` (Q1-Q15).
//!
//! Operates on a canonical document (see [`crate::resource`]). Group membership is never
//! applied to the document: operations on `members` come back as [`MemberChange`]s for the
//! store to apply as row changes, so a 100,000-member group is never loaded to add one member.

use crate::error::ScimResult;
use crate::filter::Filter;
use crate::path::PatchPath;
use crate::schema::ResourceKind;
use serde_json::Value;

/// URN of the PatchOp message.
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// `add`, `remove` or `replace` (matched case-insensitively on input: Q1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Remove,
    Replace,
}

/// One parsed operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A group member reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub value: String,
    /// `"User"` or `"Group"` when the client said.
    pub member_type: Option<String>,
}

/// A change to a group's membership, in the order the operations gave them.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    Add(Vec<MemberRef>),
    Remove(Vec<String>),
    /// `remove members[filter]` where the filter is not simply `value eq` alternatives: the
    /// store removes the members it matches (the filter's paths are relative to a member:
    /// `value`, `type`, `display`).
    RemoveMatching(Filter),
    /// `remove members` with no value, or `replace members`: the whole set becomes this.
    ReplaceAll(Vec<MemberRef>),
}

/// The result of applying a PATCH.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The new canonical document.
    pub doc: Value,
    /// Whether `doc` differs from the input (a no-op PATCH must not bump the version).
    pub changed: bool,
    /// Membership changes (groups only).
    pub member_changes: Vec<MemberChange>,
    /// A `password` set by the PATCH, taken out of the document.
    pub password: Option<String>,
}

/// Parses a PatchOp body (`invalidSyntax` / `invalidPath` / `invalidValue` on error).
pub fn parse_patch(kind: ResourceKind, body: &Value) -> ScimResult<Vec<PatchOperation>> {
    crate::patch_impl::parse_patch(kind, body)
}

/// Applies operations atomically: on error nothing is applied and the input is untouched.
pub fn apply_patch(
    kind: ResourceKind,
    doc: &Value,
    ops: &[PatchOperation],
) -> ScimResult<PatchOutcome> {
    crate::patch_impl::apply_patch(kind, doc, ops)
}
