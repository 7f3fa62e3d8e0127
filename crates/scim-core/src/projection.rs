//! `attributes` and `excludedAttributes` (RFC 7644 sections 3.4.2.5 and 3.9) with the
//! `returned` characteristic: `always` attributes (`id`, and `schemas`) are never removed,
//! `never` ones never shown, `request` ones only when named in `attributes`.

use crate::error::ScimResult;
use crate::path::AttrPath;
use crate::schema::ResourceKind;
use serde_json::Value;

/// A parsed, resolved projection for one resource kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    /// Resolved paths of `attributes` (empty: not given).
    pub attributes: Vec<AttrPath>,
    /// Resolved paths of `excludedAttributes`.
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// Parses the comma-separated query parameters. Unknown attribute names are ignored
    /// (RFC 7644 leaves it open; clients send lists meant for several resource types);
    /// a syntactically invalid path is 400 `invalidPath`.
    pub fn parse(
        kind: ResourceKind,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> ScimResult<Projection> {
        crate::projection_impl::parse(kind, attributes, excluded)
    }

    /// Whether the top-level attribute `name` (canonical, core or common; `urn` for an
    /// extension attribute) would appear in the output. Stores use it to skip loading
    /// `members` or a User's `groups`.
    pub fn includes(&self, kind: ResourceKind, urn: Option<&str>, name: &str) -> bool {
        crate::projection_impl::includes(self, kind, urn, name)
    }

    /// Applies the projection to a full rendered resource (with `id`, `meta`, `schemas`).
    pub fn apply(&self, kind: ResourceKind, resource: &mut Value) {
        crate::projection_impl::apply(self, kind, resource)
    }
}
