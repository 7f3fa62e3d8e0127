//! Attribute paths (RFC 7644 section 3.10) and PATCH paths (RFC 7644 section 3.5.2).
//!
//! `userName`, `name.givenName`, `urn:...:enterprise:2.0:User:manager.value`,
//! `emails[type eq "work"].value`, `members[value eq "..."]`. Names are case-insensitive; the
//! parser keeps them as written and [`AttrPath::resolve`] turns them into the registry's spelling.

use crate::error::ScimResult;
use crate::filter::Filter;
use crate::schema::ResourceKind;

/// `[urn ":"] attr ["." sub]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN the path was qualified with. After [`AttrPath::resolve`]: `None` for core
    /// and common attributes, the extension's URN otherwise.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

/// A PATCH `path`: an attribute path, or a value path `attr[filter]` optionally followed by
/// `.sub`. When `filter` is set, `attr.sub` is `None` and the sub-attribute after the bracket is
/// in `sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

pub use crate::path_impl::{parse_attr_path, parse_patch_path};

impl AttrPath {
    /// A path with no URN and no sub-attribute.
    pub fn simple(attr: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            attr: attr.into(),
            sub: None,
        }
    }

    /// Canonicalises the path against the schemas of `kind`: names take the registry's
    /// spelling, a core URN is dropped, an extension URN takes its canonical form.
    /// Unknown attributes or sub-attributes are an error (`invalidPath`; callers parsing a
    /// filter map it to `invalidFilter`).
    pub fn resolve(&self, kind: ResourceKind) -> ScimResult<AttrPath> {
        crate::path_impl::resolve(self, kind)
    }
}
