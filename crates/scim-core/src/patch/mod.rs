//! The PATCH engine (RFC 7644 section 3.5.2), tolerant of the forms identity providers send.
//!
//! Operates on a canonical document (see [`crate::resource`]). Group membership is never
//! applied to the document: operations on `members` come back as [`MemberChange`]s for the
//! store to apply as row changes, so a 100,000-member group is never loaded to add one member.
//! Operations apply atomically (RFC 7644 section 3.5.2): [`apply_patch`] works on a copy and
//! runs the result through [`crate::resource::normalize`], so no sequence of operations can
//! store what a create would refuse.
//!
//! # Choices where the RFC leaves room
//!
//! (also pinned by the crate's PATCH tests)
//! - `op` is matched case-insensitively: Entra's legacy default sends `Add`, `Replace`,
//!   `Remove`.
//! - `add` and `replace` of `null`, `""` (or `{}` for a complex attribute) on a single-valued
//!   attribute clear it (Microsoft's validator clears attributes that way). `add` of an
//!   empty list to a multi-valued attribute changes nothing.
//! - `add` / `replace` on a complex single-valued attribute merge the given sub-attributes
//!   (RFC 7644 section 3.5.2.1/3.5.2.3), except that a value carrying a new `value` (the
//!   enterprise `manager`) replaces the whole reference, so a stale `$ref` never survives.
//! - `add` / `replace` on a path filtered by `type eq "..."` create the element when none
//!   matches (Entra sets `emails[type eq "work"].value` on users without a work e-mail); any
//!   other filter that matches nothing is `noTarget`.
//! - Removing a required attribute (`userName`, Group `displayName`), or clearing it, is
//!   `invalidValue`; targeting a readOnly attribute (`id`, `meta`, `groups`,
//!   `manager.displayName`) or changing an immutable one is `mutability`.
//! - An `add`/`replace` whose path names an attribute no schema defines is ignored when its
//!   value is empty (a `null` is no value) and `invalidPath` otherwise.
//! - `remove members` with an empty list as its value changes nothing (only a missing or
//!   `null` value removes every member).
//! - A path-less `add` / `replace` value may have dotted (`name.givenName`) and
//!   fully-qualified extension keys, and may come wrapped in a one-element array.
//!
//! # Layout
//!
//! `parse` reads a PatchOp body into [`PatchOperation`]s, `apply` runs them, and `edit` holds
//! the edits of one attribute in the working copy.

use crate::filter::Filter;
use crate::path::PatchPath;
use serde_json::{Map, Value};

mod apply;
mod edit;
mod parse;

pub use apply::apply_patch;
pub use parse::parse_patch;

/// URN of the PatchOp message.
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// `add`, `remove` or `replace` (matched case-insensitively on input).
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

static NULL: Value = Value::Null;

/// A JSON object member looked up case-insensitively (RFC 7644 section 3.10: structural names
/// such as `op`, `path` and `value` are not case-sensitive).
fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}
