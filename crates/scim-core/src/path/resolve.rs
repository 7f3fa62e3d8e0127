//! Resolution of attribute and PATCH paths against the schema registry (RFC 7643 sections 4
//! and 8.7): names take the registry's spelling, a core URN is dropped, an extension URN takes
//! its canonical form, and a value filter is resolved against the sub-attributes of the
//! attribute it filters (RFC 7644 section 3.5.2). The lookups are the filter resolver's, so a
//! name means the same in a filter and in a path.

use crate::error::{ScimError, ScimResult};
use crate::filter::{canonical_path, locate, resolve_in_element, takes_value_filter_def};
use crate::schema::ResourceKind;

use super::{AttrPath, PatchPath};

impl AttrPath {
    /// Canonicalises the path against the schemas of `kind`: names take the registry's
    /// spelling, a core URN is dropped, an extension URN takes its canonical form.
    /// Unknown attributes or sub-attributes are an error (`invalidPath`; callers parsing a
    /// filter map it to `invalidFilter`).
    pub fn resolve(&self, kind: ResourceKind) -> ScimResult<AttrPath> {
        let (urn, attr, sub) = locate(kind, self).map_err(ScimError::invalid_path)?;
        Ok(canonical_path(urn, attr, sub))
    }
}

impl PatchPath {
    /// Canonicalises the path against the schemas of `kind`: the attribute as in
    /// [`AttrPath::resolve`], the value filter against the attribute's sub-attributes (with the
    /// rules of [`crate::filter::parse_filter`]), and the trailing sub-attribute.
    ///
    /// Errors are 400 `invalidPath`: unknown attributes, a value filter on an attribute that is
    /// not multi-valued and complex, or a filter that does not resolve.
    pub fn resolve(&self, kind: ResourceKind) -> ScimResult<PatchPath> {
        let (urn, def, sub_def) = locate(kind, &self.attr).map_err(ScimError::invalid_path)?;
        let attr = canonical_path(urn, def, sub_def);
        let Some(filter) = &self.filter else {
            if let Some(s) = &self.sub {
                return Err(ScimError::invalid_path(format!(
                    "sub-attribute '{s}' after '{}' needs a value filter before it",
                    self.attr
                )));
            }
            return Ok(PatchPath {
                attr,
                filter: None,
                sub: None,
            });
        };
        if sub_def.is_some() || !takes_value_filter_def(def) {
            return Err(ScimError::invalid_path(format!(
                "'{}' is not a multi-valued complex attribute, so it cannot take a value filter",
                self.attr
            )));
        }
        let filter = resolve_in_element(filter, def).map_err(ScimError::invalid_path)?;
        let sub = match &self.sub {
            None => None,
            Some(s) => Some(
                def.sub(s)
                    .ok_or_else(|| {
                        ScimError::invalid_path(format!(
                            "unknown sub-attribute '{s}' of '{}'",
                            def.name
                        ))
                    })?
                    .name
                    .to_owned(),
            ),
        };
        Ok(PatchPath {
            attr,
            filter: Some(filter),
            sub,
        })
    }
}
