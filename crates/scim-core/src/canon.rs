//! Shared building blocks of normalisation, projection and PATCH: resolving attribute names
//! against the registry, and checking one value against its attribute definition while turning
//! it into its canonical form (RFC 7643 sections 2.3-2.5).
//!
//! Keeping this in one place is what lets PATCH promise that it can never produce a document
//! that `normalize` would refuse: both run every value through [`canon_attr`].

use crate::error::{ScimError, ScimResult};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceKind, registry};
use serde_json::{Map, Value};
use std::fmt;

/// Where a value sits in the request, for error messages (`emails[0].primary`,
/// `urn:...:User:manager.value`). Rendered only when an error needs it, so checking a valid
/// document allocates no path strings.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Loc<'a> {
    Name(&'a str),
    Ext(&'a str, &'a str),
    Sub(&'a Loc<'a>, &'a str),
    Index(&'a Loc<'a>, usize),
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Name(n) => f.write_str(n),
            Loc::Ext(urn, n) => write!(f, "{urn}:{n}"),
            Loc::Sub(parent, n) => write!(f, "{parent}.{n}"),
            Loc::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A name resolved against the schemas of a resource kind.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Name {
    /// An attribute (core, common or extension), optionally one of its sub-attributes.
    Attr {
        /// `None` for core and common attributes, the canonical URN for an extension.
        ext: Option<&'static str>,
        def: &'static AttributeDef,
        sub: Option<&'static AttributeDef>,
    },
    /// An extension URN on its own: all the attributes of that extension.
    Extension(&'static str),
}

/// ASCII case-insensitive `starts_with` that never slices inside a character.
pub(crate) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// RFC 7643 section 2.1 `ATTRNAME = ALPHA *(nameChar)`, plus `$ref` for sub-attributes.
fn valid_attr_name(s: &str) -> bool {
    if s == "$ref" || s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Resolves `name`, `name.sub`, `urn:...:name[.sub]` or a bare extension URN.
///
/// `Ok(None)`: well-formed but no schema of `kind` defines it (unknown schema URN, attribute or
/// sub-attribute). `Err(invalidPath)`: not an attribute name at all.
///
/// An unqualified name that the core schema lacks but an extension defines (`manager`,
/// `department`) resolves to the extension: Entra's documented legacy manager PATCH uses the
/// bare `manager` path, and its sample bodies put enterprise attributes at the root.
pub(crate) fn resolve_name(kind: ResourceKind, s: &str) -> ScimResult<Option<Name>> {
    if starts_with_ci(s, "urn:") {
        let reg = registry();
        let core = kind.core_urn();
        let candidates =
            std::iter::once((core, false)).chain(reg.extensions(kind).iter().map(|e| (e.id, true)));
        for (urn, is_ext) in candidates {
            if s.len() == urn.len() && s.eq_ignore_ascii_case(urn) {
                return Ok(is_ext.then_some(Name::Extension(urn)));
            }
            if starts_with_ci(s, urn) && s.as_bytes().get(urn.len()) == Some(&b':') {
                let rest = &s[urn.len() + 1..];
                return resolve_in(kind, is_ext.then_some(urn), rest);
            }
        }
        return Ok(None);
    }
    resolve_in(kind, None, s)
}

/// Resolves `name[.sub]` within one schema (`urn`: `None` for core and common attributes).
pub(crate) fn resolve_in(
    kind: ResourceKind, urn: Option<&'static str>, s: &str,
) -> ScimResult<Option<Name>> {
    let (attr, sub) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    if !valid_attr_name(attr) || sub.is_some_and(|b| !valid_attr_name(b)) {
        return Err(ScimError::invalid_path(format!(
            "'{s}' is not a valid attribute path"
        )));
    }
    let Some((ext, def)) = locate_attr(kind, urn, attr) else {
        return Ok(None);
    };
    let sub = match sub {
        None => None,
        Some(name) => match def.sub(name) {
            Some(d) => Some(d),
            None => return Ok(None),
        },
    };
    Ok(Some(Name::Attr { ext, def, sub }))
}

/// Finds a top-level attribute: `urn` qualified (core URN or none: core and common attributes;
/// an extension URN: that extension), falling back from an unqualified name to the extensions
/// (see [`resolve_name`]).
pub(crate) fn locate_attr(
    kind: ResourceKind, urn: Option<&str>, attr: &str,
) -> Option<(Option<&'static str>, &'static AttributeDef)> {
    let reg = registry();
    reg.locate(kind, urn, attr)
        .map(|l| (l.extension, l.def))
        .or_else(|| match urn {
            None => reg
                .extensions(kind)
                .iter()
                .find_map(|e| e.attribute(attr).map(|d| (Some(e.id), d))),
            Some(_) => None,
        })
}

/// The display path of an attribute for error messages: `name` or `urn:...:name`.
pub(crate) fn attr_label(ext: Option<&str>, name: &str) -> String {
    match ext {
        Some(urn) => format!("{urn}:{name}"),
        None => name.to_owned(),
    }
}

fn must_be(path: impl fmt::Display, what: &str) -> ScimError {
    ScimError::invalid_value(format!("attribute '{path}' must be {what}"))
}

/// 400 `invalidValue` for a value given to an attribute that no schema defines.
pub(crate) fn unknown_attribute(path: impl fmt::Display) -> ScimError {
    ScimError::invalid_value(format!(
        "attribute '{path}' is not defined by the schemas of this resource"
    ))
}

/// Whether a value counts as "no value": `null`, `""`, `[]`, `{}` (RFC 7643 section 2.5, with
/// the empty string that Microsoft's validator uses to clear attributes).
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Checks and canonicalises the value of attribute `def` (single- or multi-valued).
/// `Ok(None)` means unassigned.
pub(crate) fn canon_attr(
    def: &AttributeDef, v: &Value, path: &Loc<'_>,
) -> ScimResult<Option<Value>> {
    if def.multi_valued {
        Ok(canon_multi(def, v, path)?.map(Value::Array))
    } else {
        canon_single(def, v, path)
    }
}

/// Canonical elements of a multi-valued attribute. A lone element (an object for a complex
/// attribute, a scalar otherwise) is accepted and wrapped.
pub(crate) fn canon_multi(
    def: &AttributeDef, v: &Value, path: &Loc<'_>,
) -> ScimResult<Option<Vec<Value>>> {
    let out = match v {
        Value::Null => return Ok(None),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if let Some(c) = canon_single(def, item, &Loc::Index(path, i))? {
                    out.push(c);
                }
            }
            out
        }
        Value::Object(_) if def.ty == AttrType::Complex => {
            canon_single(def, v, path)?.into_iter().collect()
        }
        _ if def.ty != AttrType::Complex => canon_single(def, v, path)?.into_iter().collect(),
        _ => return Err(must_be(path, "an array")),
    };
    check_one_primary(&out, path)?;
    Ok((!out.is_empty()).then_some(out))
}

/// RFC 7643 section 2.4: at most one value of a multi-valued attribute is primary.
pub(crate) fn check_one_primary(items: &[Value], path: &Loc<'_>) -> ScimResult<()> {
    let primaries = items
        .iter()
        .filter(|e| e.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "attribute '{path}' has more than one value with 'primary' true"
        )));
    }
    Ok(())
}

/// Canonicalises one value of `def`'s type (for a multi-valued attribute: one element).
pub(crate) fn canon_single(
    def: &AttributeDef, v: &Value, path: &Loc<'_>,
) -> ScimResult<Option<Value>> {
    if v.is_null() {
        return Ok(None);
    }
    match def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => match v {
            // Stored exactly as sent (Entra expects values back unchanged, with no reformatting
            // such as phone-number normalisation); only the empty string means "no value".
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(_) => Ok(Some(v.clone())),
            _ => Err(must_be(path, "a string")),
        },
        AttrType::Boolean => match v {
            Value::Bool(_) => Ok(Some(v.clone())),
            // Entra's legacy PATCH and Microsoft's tests send "True" / "False".
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            _ => Err(must_be(path, "a boolean")),
        },
        AttrType::Integer => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(v.clone())),
            _ => Err(must_be(path, "an integer")),
        },
        AttrType::Decimal => match v {
            Value::Number(_) => Ok(Some(v.clone())),
            _ => Err(must_be(path, "a decimal number")),
        },
        AttrType::DateTime => match v {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        must_be(path, "a dateTime (RFC 3339, e.g. 2024-05-01T12:00:00Z)")
                    })?;
                Ok(Some(v.clone()))
            }
            _ => Err(must_be(path, "a dateTime string")),
        },
        AttrType::Complex => canon_complex(def, v, path),
    }
}

/// A complex value: known sub-attributes in registry order, readOnly ones dropped.
///
/// A single-valued complex attribute with a `value` sub-attribute (the enterprise `manager`)
/// also accepts a bare string id and a one-element array: Entra has sent `manager` in all
/// three shapes.
fn canon_complex(def: &AttributeDef, v: &Value, path: &Loc<'_>) -> ScimResult<Option<Value>> {
    let reference_like = !def.multi_valued && def.sub("value").is_some();
    let obj = match v {
        Value::Object(o) => o,
        Value::String(s) if reference_like => {
            if s.is_empty() {
                return Ok(None);
            }
            let mut o = Map::new();
            o.insert("value".to_owned(), v.clone());
            return Ok(Some(Value::Object(o)));
        }
        Value::Array(items) if reference_like => {
            return match items.as_slice() {
                [] => Ok(None),
                [one] if !one.is_array() => canon_complex(def, one, path),
                _ => Err(must_be(path, "a single value")),
            };
        }
        _ => return Err(must_be(path, "a complex value (JSON object)")),
    };
    let mut staged: Vec<(&AttributeDef, Option<Value>)> = Vec::with_capacity(obj.len());
    for (k, sv) in obj {
        let Some(sub) = def.sub(k) else {
            if is_empty(sv) {
                continue;
            }
            return Err(unknown_attribute(Loc::Sub(path, k)));
        };
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        let c = canon_attr(sub, sv, &Loc::Sub(path, sub.name))?;
        // Two spellings of one sub-attribute: the later one wins, as for JSON keys.
        staged.retain(|(d, _)| d.name != sub.name);
        staged.push((sub, c));
    }
    let mut out = Map::new();
    for sub in &def.sub_attributes {
        if let Some((_, Some(c))) = staged.iter().find(|(d, _)| d.name == sub.name) {
            out.insert(sub.name.to_owned(), c.clone());
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// A canonical Group member `{value, type?}` (RFC 7643 section 4.2): `$ref` and `display` are
/// derived when rendering, so they are dropped; `type` takes the canonical `User` / `Group`.
pub(crate) fn canon_member(
    v: &Value, path: &Loc<'_>,
) -> ScimResult<Option<(String, Option<String>)>> {
    let obj = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => return Err(must_be(path, "a complex value (JSON object)")),
    };
    let mut value = None;
    let mut ty = None;
    for (k, sv) in obj {
        if k.eq_ignore_ascii_case("value") {
            match sv {
                Value::String(s) if !s.is_empty() => value = Some(s.clone()),
                _ => return Err(must_be(Loc::Sub(path, "value"), "a non-empty string")),
            }
        } else if k.eq_ignore_ascii_case("type") {
            ty = match sv {
                Value::Null => None,
                Value::String(s) if s.eq_ignore_ascii_case("User") => Some("User".to_owned()),
                Value::String(s) if s.eq_ignore_ascii_case("Group") => Some("Group".to_owned()),
                _ => return Err(must_be(Loc::Sub(path, "type"), "\"User\" or \"Group\"")),
            };
        } else if k.eq_ignore_ascii_case("$ref") || k.eq_ignore_ascii_case("display") {
            // Derived from `value` when rendering.
        } else if !is_empty(sv) {
            return Err(unknown_attribute(Loc::Sub(path, k)));
        }
    }
    match value {
        Some(value) => Ok(Some((value, ty))),
        None => Err(ScimError::invalid_value(format!(
            "attribute '{path}.value' is required"
        ))),
    }
}

/// The canonical JSON of a member.
pub(crate) fn member_json(value: &str, ty: Option<&str>) -> Value {
    let mut o = Map::new();
    o.insert("value".to_owned(), Value::String(value.to_owned()));
    if let Some(t) = ty {
        o.insert("type".to_owned(), Value::String(t.to_owned()));
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Returned, Uniqueness};
    use serde_json::json;

    fn def(ty: AttrType) -> AttributeDef {
        AttributeDef {
            name: "x",
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            description: "",
            sub_attributes: Vec::new(),
        }
    }

    fn check(ty: AttrType, v: Value) -> ScimResult<Option<Value>> {
        canon_attr(&def(ty), &v, &Loc::Name("x"))
    }

    #[test]
    fn date_time_must_be_rfc3339_and_is_kept_as_sent() {
        let sent = json!("2024-05-01T12:00:00.5+02:00");
        assert_eq!(check(AttrType::DateTime, sent.clone()), Ok(Some(sent)));
        for bad in [json!("2024-05-01"), json!("yesterday"), json!(1714564800)] {
            let e = check(AttrType::DateTime, bad).expect_err("not RFC 3339");
            assert_eq!(e.scim_type, Some(crate::ScimType::InvalidValue));
        }
    }

    #[test]
    fn integers_and_decimals_are_numbers() {
        assert_eq!(check(AttrType::Integer, json!(-3)), Ok(Some(json!(-3))));
        assert!(check(AttrType::Integer, json!(1.5)).is_err());
        assert!(check(AttrType::Integer, json!("3")).is_err());
        assert_eq!(check(AttrType::Decimal, json!(1.5)), Ok(Some(json!(1.5))));
        assert!(check(AttrType::Decimal, json!("1.5")).is_err());
    }

    #[test]
    fn locations_render_like_the_request() {
        let emails = Loc::Name("emails");
        let first = Loc::Index(&emails, 0);
        assert_eq!(Loc::Sub(&first, "primary").to_string(), "emails[0].primary");
        let manager = Loc::Ext("urn:x:User", "manager");
        assert_eq!(
            Loc::Sub(&manager, "value").to_string(),
            "urn:x:User:manager.value"
        );
    }

    #[test]
    fn names_resolve_with_extension_fallback_and_reject_bad_syntax() {
        let kind = ResourceKind::User;
        assert!(matches!(
            resolve_name(kind, "Manager"),
            Ok(Some(Name::Attr { ext: Some(_), .. }))
        ));
        assert!(matches!(
            resolve_name(
                kind,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ),
            Ok(Some(Name::Extension(_)))
        ));
        assert!(matches!(resolve_name(kind, "urn:x:y:z"), Ok(None)));
        assert!(matches!(resolve_name(kind, "name.nope"), Ok(None)));
        assert!(resolve_name(kind, "na me").is_err());
        assert!(resolve_name(kind, "é").is_err());
    }
}
