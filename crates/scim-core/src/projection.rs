//! `attributes` and `excludedAttributes` (RFC 7644 sections 3.4.2.5 and 3.9) with the
//! `returned` characteristic (RFC 7643 section 7): `always` attributes (`id`, and `schemas`)
//! are never removed, `never` ones never shown, `request` ones only when named in
//! `attributes`.
//!
//! A path naming an extension URN on its own (all attributes of that extension) is kept as an
//! [`AttrPath`] with that `urn` and an empty `attr`.

use crate::canon::{Name, resolve_name};
use crate::error::ScimResult;
use crate::path::AttrPath;
use crate::schema::{AttributeDef, ResourceKind, Returned, registry};
use serde_json::{Map, Value};

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
        kind: ResourceKind, attributes: Option<&str>, excluded: Option<&str>,
    ) -> ScimResult<Projection> {
        Ok(Projection {
            attributes: parse_list(kind, attributes)?,
            excluded: parse_list(kind, excluded)?,
        })
    }

    /// Whether the top-level attribute `name` (canonical, core or common; `urn` for an
    /// extension attribute) would appear in the output. Stores use it to skip loading
    /// `members` or a User's `groups`.
    pub fn includes(&self, kind: ResourceKind, urn: Option<&str>, name: &str) -> bool {
        let urn = urn.filter(|u| !u.eq_ignore_ascii_case(kind.core_urn()));
        match registry().locate(kind, urn, name) {
            Some(l) => !matches!(decide(self, l.extension, l.def), Keep::Nothing),
            // Not an attribute we know: shown only when no `attributes` list restricts the output.
            None => self.attributes.is_empty(),
        }
    }

    /// Applies the projection to a full rendered resource (with `id`, `meta`, `schemas`).
    pub fn apply(&self, kind: ResourceKind, resource: &mut Value) {
        let Some(obj) = resource.as_object_mut() else {
            return;
        };
        let reg = registry();
        let unrestricted = self.attributes.is_empty();
        obj.retain(|key, value| {
            if key.eq_ignore_ascii_case("schemas") {
                return true;
            }
            if let Some(ext) = reg.extension(kind, key) {
                let Value::Object(inner) = value else {
                    return unrestricted;
                };
                inner.retain(|k, v| match ext.attribute(k) {
                    Some(def) => keep_value(decide(self, Some(ext.id), def), def, v),
                    None => unrestricted,
                });
                return !inner.is_empty();
            }
            match reg.locate(kind, None, key) {
                Some(l) => keep_value(decide(self, None, l.def), l.def, value),
                None => unrestricted,
            }
        });
    }
}

fn parse_list(kind: ResourceKind, list: Option<&str>) -> ScimResult<Vec<AttrPath>> {
    let mut out = Vec::new();
    for item in list.unwrap_or("").split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let path = match resolve_name(kind, item)? {
            // Unknown names are ignored: clients send one list for several resource types.
            None => continue,
            Some(Name::Extension(urn)) => AttrPath {
                urn: Some(urn.to_owned()),
                attr: String::new(),
                sub: None,
            },
            Some(Name::Attr { ext, def, sub }) => AttrPath {
                urn: ext.map(str::to_owned),
                attr: def.name.to_owned(),
                sub: sub.map(|s| s.name.to_owned()),
            },
        };
        if !out.contains(&path) {
            out.push(path);
        }
    }
    Ok(out)
}

fn same_schema(p: &AttrPath, ext: Option<&str>) -> bool {
    match (p.urn.as_deref(), ext) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// `p` names the whole extension `ext`.
fn names_extension(p: &AttrPath, ext: Option<&str>) -> bool {
    ext.is_some() && p.attr.is_empty() && same_schema(p, ext)
}

/// `p` names attribute `name` of schema `ext` (whole, or one of its sub-attributes).
fn names_attr(p: &AttrPath, ext: Option<&str>, name: &str) -> bool {
    same_schema(p, ext) && p.attr.eq_ignore_ascii_case(name)
}

/// What happens to one top-level attribute.
enum Keep<'p> {
    All,
    Nothing,
    /// Only these sub-attributes (from `attributes`).
    Only(Vec<&'p str>),
    /// All but these sub-attributes (from `excludedAttributes`).
    Without(Vec<&'p str>),
}

fn decide<'p>(p: &'p Projection, ext: Option<&str>, def: &AttributeDef) -> Keep<'p> {
    match def.returned {
        Returned::Always => return Keep::All,
        Returned::Never => return Keep::Nothing,
        Returned::Default | Returned::Request => {}
    }
    if !p.attributes.is_empty() {
        let mut subs = Vec::new();
        for a in &p.attributes {
            if names_extension(a, ext) {
                return Keep::All;
            }
            if names_attr(a, ext, def.name) {
                match &a.sub {
                    None => return Keep::All,
                    Some(s) => subs.push(s.as_str()),
                }
            }
        }
        return if subs.is_empty() {
            Keep::Nothing
        } else {
            Keep::Only(subs)
        };
    }
    if def.returned == Returned::Request {
        return Keep::Nothing;
    }
    let mut subs = Vec::new();
    for e in &p.excluded {
        if names_extension(e, ext) {
            return Keep::Nothing;
        }
        if names_attr(e, ext, def.name) {
            match &e.sub {
                None => return Keep::Nothing,
                Some(s) => subs.push(s.as_str()),
            }
        }
    }
    if subs.is_empty() {
        Keep::All
    } else {
        Keep::Without(subs)
    }
}

/// Applies a decision to one attribute's value; `false` when nothing of it is left.
fn keep_value(keep: Keep<'_>, def: &AttributeDef, value: &mut Value) -> bool {
    let filter_subs = |o: &mut Map<String, Value>, keep: &Keep<'_>| {
        o.retain(|k, _| {
            let sub = def.sub(k);
            if sub.is_some_and(|s| s.returned == Returned::Never) {
                return false;
            }
            match keep {
                Keep::Only(names) => names.iter().any(|n| n.eq_ignore_ascii_case(k)),
                Keep::Without(names) => !names.iter().any(|n| n.eq_ignore_ascii_case(k)),
                Keep::All => sub.is_none_or(|s| s.returned != Returned::Request),
                Keep::Nothing => false,
            }
        });
    };
    match keep {
        Keep::Nothing => false,
        Keep::All if !has_hidden_subs(def) => true,
        keep => match value {
            Value::Object(o) => {
                filter_subs(o, &keep);
                !o.is_empty()
            }
            Value::Array(items) => {
                items.retain_mut(|item| match item {
                    Value::Object(o) => {
                        filter_subs(o, &keep);
                        !o.is_empty()
                    }
                    _ => matches!(keep, Keep::All | Keep::Without(_)),
                });
                !items.is_empty()
            }
            _ => matches!(keep, Keep::All | Keep::Without(_)),
        },
    }
}

/// Whether some sub-attribute is `returned: never` or `request` (none in the standard schemas;
/// checked so that `Keep::All` stays free of work in the common case).
fn has_hidden_subs(def: &AttributeDef) -> bool {
    def.sub_attributes
        .iter()
        .any(|s| matches!(s.returned, Returned::Never | Returned::Request))
}
