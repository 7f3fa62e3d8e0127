//! Validation and normalisation of incoming User and Group JSON (RFC 7643 sections 2-4,
//! RFC 7644 section 3.3 and 3.5.1), tolerant of real identity providers' quirks.
//!
//! The normalised ("canonical") document is what stores keep and what PATCH operates on:
//! - keys take the registry's spelling; core attributes at the top level; extension attributes
//!   nested under their canonical URN key;
//! - `schemas` lists the core URN followed by each extension URN that has a value;
//! - readOnly attributes (`id`, `meta`, `groups`, sub-attributes such as `manager.displayName`)
//!   are dropped; `password` is taken out (returned separately, never stored in the document);
//! - `null`, `[]`, `{}` and complex values whose sub-attributes are all unassigned are removed
//!   (RFC 7643 section 2.5: unassigned);
//! - booleans given as `"True"`/`"false"` strings become JSON booleans;
//! - Group `members` are kept as `[{ "value": id, "type"?: "User"|"Group" }]` (`$ref`,
//!   `display` dropped: they are derived when rendering).

use crate::error::ScimResult;
use crate::schema::ResourceKind;
use serde_json::Value;

/// What a client sent, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The canonical document (see the module docs). Never contains `id`, `meta`, `groups` or
    /// `password`.
    pub doc: Value,
    /// The `password` if one was sent (writeOnly, returned never).
    pub password: Option<String>,
}

/// Validates and normalises a create (POST) or replace (PUT) body of `kind`.
///
/// Errors: 400 `invalidSyntax` when the body is not a JSON object; 400 `invalidValue` naming
/// the attribute for a wrong type, a non-null value of an attribute no schema defines, more
/// than one `primary: true`, a missing required attribute (`userName`, Group `displayName`).
pub fn normalize(kind: ResourceKind, body: &Value) -> ScimResult<Normalized> {
    crate::resource_impl::normalize(kind, body)
}
