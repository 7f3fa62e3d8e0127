//! Parser and resolver for attribute and PATCH paths.

use crate::error::{ScimError, ScimResult};
use crate::path::{AttrPath, PatchPath};
use crate::schema::ResourceKind;

/// Parses an attribute path (`invalidPath` on error).
pub fn parse_attr_path(_s: &str) -> ScimResult<AttrPath> {
    Err(ScimError::invalid_path("not yet implemented"))
}

/// Parses a PATCH path (`invalidPath` on error).
pub fn parse_patch_path(_s: &str) -> ScimResult<PatchPath> {
    Err(ScimError::invalid_path("not yet implemented"))
}

pub(crate) fn resolve(_p: &AttrPath, _kind: ResourceKind) -> ScimResult<AttrPath> {
    Err(ScimError::invalid_path("not yet implemented"))
}
