//! Attribute paths (RFC 7644 section 3.10) and PATCH paths (RFC 7644 section 3.5.2).
//!
//! `userName`, `name.givenName`, `urn:...:enterprise:2.0:User:manager.value`,
//! `emails[type eq "work"].value`, `members[value eq "..."]`.
//!
//! # Syntax
//!
//! ```text
//! attrPath  = [URN ":"] ATTRNAME ["." ATTRNAME]
//! patchPath = attrPath ["[" valFilter "]" ["." ATTRNAME]]
//! ATTRNAME  = ALPHA *(ALPHA / DIGIT / "-" / "_") / "$ref"
//! ```
//!
//! `valFilter` is a filter of [`crate::filter`] whose paths are relative to the attribute
//! before the bracket; it cannot hold another value filter. A URN contains colons and dots of
//! its own (`...:enterprise:2.0:User`), so a path that starts with `urn:` is split at its
//! *last* colon: everything before it is the schema URN, everything after it is `attr[.sub]`
//! (attribute names contain neither colons nor dots).
//!
//! # Resolution
//!
//! Names are case-insensitive; the parser keeps them as written and [`AttrPath::resolve`] /
//! [`PatchPath::resolve`] turn them into the registry's spelling.

use std::fmt;

use crate::error::{ScimError, ScimResult};
use crate::filter::{Filter, MAX_FILTER_LEN, value_filter};
use crate::syntax::{Lexer, PResult, Syntax, SyntaxError, is_attr_name, split_attr_path};

mod resolve;

pub use crate::syntax::AttrPath;

/// A PATCH `path`: an attribute path, or a value path `attr[filter]` optionally followed by
/// `.sub`. When `filter` is set, `attr.sub` is `None` and the sub-attribute after the bracket is
/// in `sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

/// Parses an attribute path such as `name.givenName` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
///
/// Surrounding whitespace is ignored. Errors are 400 `invalidPath` with the byte offset of the
/// problem. The path is not resolved: see [`AttrPath::resolve`].
pub fn parse_attr_path(s: &str) -> ScimResult<AttrPath> {
    check_path_len(s)?;
    attr_path_syntax(s).map_err(|e| e.into_scim(Syntax::Path))
}

/// Parses a PATCH path: an attribute path, or `attr[filter]` optionally followed by `.sub`
/// (`emails[type eq "work"].value`, `members[value eq "2819c223"]`).
///
/// Errors, including those inside the value filter, are 400 `invalidPath` with the byte offset
/// of the problem. Value filters nest at most [`crate::filter::MAX_FILTER_DEPTH`] levels (the
/// bracket counts as one) and cannot contain further value filters. The path is not resolved:
/// see [`PatchPath::resolve`].
pub fn parse_patch_path(s: &str) -> ScimResult<PatchPath> {
    check_path_len(s)?;
    patch_path_syntax(s).map_err(|e| e.into_scim(Syntax::Path))
}

fn check_path_len(s: &str) -> ScimResult<()> {
    if s.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_path(format!(
            "path is {} bytes long; at most {MAX_FILTER_LEN} are accepted",
            s.len()
        )));
    }
    Ok(())
}

fn attr_path_syntax(s: &str) -> PResult<AttrPath> {
    let mut p = Lexer::new(s);
    let path = leading_attr_path(&mut p)?;
    p.skip_ws();
    if p.peek() == Some(b'[') {
        return Err(p.error_here("a value filter is not allowed in an attribute path"));
    }
    p.expect_end("after the attribute path")?;
    Ok(path)
}

fn patch_path_syntax(s: &str) -> PResult<PatchPath> {
    let mut p = Lexer::new(s);
    let attr = leading_attr_path(&mut p)?;
    p.skip_ws();
    let (filter, sub) = if p.peek() == Some(b'[') {
        let open = p.pos();
        if attr.sub.is_some() {
            return Err(SyntaxError::new(
                open,
                "a value filter must follow an attribute name without a sub-attribute",
            ));
        }
        p.bump();
        let filter = value_filter(&mut p, 1)?;
        p.close(b']', open)?;
        let sub = if p.peek() == Some(b'.') {
            p.bump();
            let (start, word) = p.take_word();
            if !is_attr_name(word) {
                return Err(SyntaxError::new(
                    start,
                    format!(
                        "expected a sub-attribute name after '.', found {}",
                        p.describe_at(start)
                    ),
                ));
            }
            Some(word.to_owned())
        } else {
            None
        };
        (Some(filter), sub)
    } else {
        (None, None)
    };
    p.expect_end("after the path")?;
    Ok(PatchPath { attr, filter, sub })
}

fn leading_attr_path(p: &mut Lexer<'_>) -> PResult<AttrPath> {
    p.skip_ws();
    let (start, word) = p.take_word();
    if word.is_empty() {
        return Err(SyntaxError::new(
            start,
            format!("expected an attribute path, found {}", p.describe_at(start)),
        ));
    }
    split_attr_path(word, start)
}

/// Prints `attr[filter].sub`, which [`parse_patch_path`] reads back to an equal path.
impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{CompValue, CompareOp};
    use crate::schema::{ENTERPRISE_URN, ResourceKind};

    fn path(urn: Option<&str>, attr: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            urn: urn.map(str::to_owned),
            attr: attr.to_owned(),
            sub: sub.map(str::to_owned),
        }
    }

    #[test]
    fn attr_path_splits_urn_at_last_colon_despite_dots_in_version() {
        let p = parse_attr_path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .expect("parses");
        assert_eq!(p, path(Some(ENTERPRISE_URN), "manager", Some("value")));
    }

    #[test]
    fn attr_path_keeps_names_as_written_until_resolved() {
        let p = parse_attr_path("  NAME.givenname ").expect("parses");
        assert_eq!(p, path(None, "NAME", Some("givenname")));
        let r = p.resolve(ResourceKind::User).expect("resolves");
        assert_eq!(r, path(None, "name", Some("givenName")));
    }

    #[test]
    fn attr_path_accepts_ref_sub_attribute() {
        let p = parse_attr_path("members.$ref").expect("parses");
        assert_eq!(
            p.resolve(ResourceKind::Group).expect("resolves"),
            path(None, "members", Some("$ref"))
        );
    }

    #[test]
    fn attr_path_rejects_malformed_names_with_offsets() {
        for (input, offset) in [
            ("", 0),
            ("9lives", 0),
            ("name.given.name", 10),
            ("name.", 5),
            ("foo:bar", 0),
            ("urn:x", 0),
            ("urn:a:b:", 8),
            ("emails[type eq \"work\"]", 6),
            ("userName eq", 9),
        ] {
            let err = parse_attr_path(input).expect_err(input);
            assert_eq!(err.scim_type, Some(crate::ScimType::InvalidPath), "{input}");
            assert!(
                err.detail
                    .starts_with(&format!("invalid path at offset {offset}:")),
                "{input}: {}",
                err.detail
            );
        }
    }

    #[test]
    fn resolve_drops_core_urn_and_canonicalises_extension_urn() {
        let p =
            parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:user:USERNAME").expect("parses");
        assert_eq!(
            p.resolve(ResourceKind::User).expect("resolves"),
            AttrPath::simple("userName")
        );
        let p = parse_attr_path(
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:department",
        )
        .expect("parses");
        assert_eq!(
            p.resolve(ResourceKind::User).expect("resolves"),
            path(Some(ENTERPRISE_URN), "department", None)
        );
    }

    #[test]
    fn resolve_rejects_unknown_attributes_as_invalid_path() {
        for input in ["foo", "name.foo", "userName.x", "members"] {
            let err = parse_attr_path(input)
                .expect("parses")
                .resolve(ResourceKind::User)
                .expect_err(input);
            assert_eq!(err.scim_type, Some(crate::ScimType::InvalidPath));
            assert!(err.detail.contains("unknown attribute"), "{}", err.detail);
        }
    }

    #[test]
    fn patch_path_with_value_filter_and_sub_attribute() {
        let p = parse_patch_path(r#"emails[type eq "work"].value"#).expect("parses");
        assert_eq!(p.attr, AttrPath::simple("emails"));
        assert_eq!(
            p.filter,
            Some(Filter::Compare(
                AttrPath::simple("type"),
                CompareOp::Eq,
                CompValue::Str("work".into())
            ))
        );
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
    }

    #[test]
    fn patch_path_resolves_filter_against_sub_attributes() {
        let p = parse_patch_path(r#"EMAILS[TYPE eq "work" and Primary eq "True"].VALUE"#)
            .expect("parses")
            .resolve(ResourceKind::User)
            .expect("resolves");
        assert_eq!(
            p.to_string(),
            r#"emails[type eq "work" and primary eq true].value"#
        );
        let p = parse_patch_path(r#"members[value eq "2819c223"]"#)
            .expect("parses")
            .resolve(ResourceKind::Group)
            .expect("resolves");
        assert_eq!(p.to_string(), r#"members[value eq "2819c223"]"#);
    }

    #[test]
    fn patch_path_plain_and_extension_forms() {
        let p =
            parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
                .expect("parses")
                .resolve(ResourceKind::User)
                .expect("resolves");
        assert_eq!(p.attr, path(Some(ENTERPRISE_URN), "manager", None));
        assert!(p.filter.is_none() && p.sub.is_none());
        let p = parse_patch_path("name.familyName").expect("parses");
        assert_eq!(p.attr, path(None, "name", Some("familyName")));
    }

    #[test]
    fn patch_path_errors_are_invalid_path_with_offsets() {
        for (input, offset) in [
            (r#"emails[type eq "work""#, 21),
            (r#"emails[type eqq "work"]"#, 12),
            (r#"emails[type eq "work"].value.x"#, 23),
            (r#"emails[type eq "work"]x"#, 22),
            (r#"name.givenName[type eq "x"]"#, 14),
            (r#"emails[members[value eq "x"]]"#, 14),
            ("emails[]", 7),
        ] {
            let err = parse_patch_path(input).expect_err(input);
            assert_eq!(err.scim_type, Some(crate::ScimType::InvalidPath), "{input}");
            assert!(
                err.detail
                    .starts_with(&format!("invalid path at offset {offset}:")),
                "{input}: {}",
                err.detail
            );
        }
    }

    #[test]
    fn patch_path_resolution_errors() {
        for (input, kind) in [
            (r#"userName[value eq "x"]"#, ResourceKind::User),
            (r#"name[givenName eq "x"]"#, ResourceKind::User),
            (r#"emails[foo eq "x"]"#, ResourceKind::User),
            (r#"emails[type eq "x"].foo"#, ResourceKind::User),
            (r#"members[value gt null]"#, ResourceKind::Group),
        ] {
            let err = parse_patch_path(input)
                .expect("parses")
                .resolve(kind)
                .expect_err(input);
            assert_eq!(err.scim_type, Some(crate::ScimType::InvalidPath), "{input}");
        }
    }

    #[test]
    fn patch_path_rejects_overlong_input_without_recursing() {
        let deep = format!("emails{}", "[".repeat(1_000_000));
        let err = parse_patch_path(&deep).expect_err("too long");
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidPath));
        let nested = format!("emails[{}type eq \"x\"", "(".repeat(40));
        let err = parse_patch_path(&nested).expect_err("too deep");
        assert!(err.detail.contains("deeper"), "{}", err.detail);
    }
}
