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
//!
//! Choices beyond the RFC, for identity providers' sake:
//! - an empty string is no value, like `null` (Microsoft's validator clears attributes by
//!   sending `""`), so a required `userName: ""` is missing; any other string is kept as sent;
//! - an extension attribute is accepted nested under its URN, as a fully-qualified top-level
//!   key (`"urn:...:enterprise:2.0:User:department"`), or unqualified at the top level when the
//!   core schema has no attribute of that name (Entra's sample bodies put `department` and
//!   `manager` there);
//! - duplicate Group members (same `value`) collapse to the first;
//! - the client's `schemas` is not checked against the body: it is recomputed from the
//!   attributes that are present.

use crate::canon::{
    Loc, Name, canon_attr, canon_member, is_empty, member_json, resolve_in, resolve_name,
    unknown_attribute,
};
use crate::error::{ScimError, ScimResult};
use crate::schema::{AttributeDef, Mutability, ResourceKind, registry};
use serde_json::{Map, Value};

/// What a client sent, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The canonical document (see the module docs). Never contains `id`, `meta`, `groups` or
    /// `password`.
    pub doc: Value,
    /// The `password` if one was sent (writeOnly, returned never).
    pub password: Option<String>,
}

/// A raw value as given, or the object assembled from dotted / fully-qualified sub-attribute
/// keys (`"urn:...:User:manager.value"`).
enum Raw<'b> {
    Given(&'b Value),
    Built(Value),
}

impl Raw<'_> {
    fn value(&self) -> &Value {
        match self {
            Raw::Given(v) => v,
            Raw::Built(v) => v,
        }
    }
}

static NULL: Value = Value::Null;

type Attrs<'b> = Vec<(&'static str, Raw<'b>)>;

/// Raw values gathered per attribute before they are checked, so that the nested, the
/// fully-qualified and the dotted spellings of one attribute end up in one place. Borrowed
/// from the body: a valid document is copied once, into its canonical form.
#[derive(Default)]
struct Staged<'b> {
    /// Core and common attributes, by canonical name.
    core: Attrs<'b>,
    /// Extension attributes, by extension URN then canonical name.
    ext: Vec<(&'static str, Attrs<'b>)>,
}

fn get<'a, 'b>(attrs: &'a Attrs<'b>, name: &str) -> Option<&'a Raw<'b>> {
    attrs.iter().find(|(n, _)| *n == name).map(|(_, r)| r)
}

impl<'b> Staged<'b> {
    fn put(
        &mut self, ext: Option<&'static str>, def: &'static AttributeDef,
        sub: Option<&'static AttributeDef>, v: &'b Value,
    ) {
        // readOnly values are ignored on input (RFC 7644 section 3.3, RFC 7643 section 7).
        if def.mutability == Mutability::ReadOnly
            || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
        {
            return;
        }
        let attrs = match ext {
            None => &mut self.core,
            Some(urn) => {
                let i = match self.ext.iter().position(|(u, _)| *u == urn) {
                    Some(i) => i,
                    None => {
                        self.ext.push((urn, Vec::new()));
                        self.ext.len() - 1
                    }
                };
                &mut self.ext[i].1
            }
        };
        let slot = match attrs.iter().position(|(n, _)| *n == def.name) {
            Some(i) => &mut attrs[i].1,
            None => {
                attrs.push((def.name, Raw::Given(&NULL)));
                let last = attrs.len() - 1;
                &mut attrs[last].1
            }
        };
        match (sub, &mut *slot) {
            // `manager` nested and `manager.value` fully qualified: merge them.
            (None, Raw::Built(Value::Object(old))) if v.is_object() => {
                if let Value::Object(new) = v {
                    old.extend(new.iter().map(|(k, sv)| (k.clone(), sv.clone())));
                }
            }
            (None, _) => *slot = Raw::Given(v),
            (Some(sub), _) => {
                let mut obj = match slot.value() {
                    Value::Object(o) => o.clone(),
                    _ => Map::new(),
                };
                obj.insert(sub.name.to_owned(), v.clone());
                *slot = Raw::Built(Value::Object(obj));
            }
        }
    }
}

/// Validates and normalises a create (POST) or replace (PUT) body of `kind`.
///
/// Errors: 400 `invalidSyntax` when the body is not a JSON object; 400 `invalidValue` naming
/// the attribute for a wrong type, a non-null value of an attribute no schema defines, more
/// than one `primary: true`, a missing required attribute (`userName`, Group `displayName`).
pub fn normalize(kind: ResourceKind, body: &Value) -> ScimResult<Normalized> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a SCIM resource must be a JSON object"))?;
    let mut staged = Staged::default();
    for (key, v) in obj {
        // The client's `schemas` may list URNs we do not know (Entra's Group create names a
        // Microsoft schema), or misspelt ones (Entra's `...enterprise:2.0User`); ours is
        // recomputed from what is actually present.
        if key.eq_ignore_ascii_case("schemas") {
            if !matches!(v, Value::Array(_) | Value::Null) {
                return Err(ScimError::invalid_syntax(
                    "'schemas' must be a list of schema URNs",
                ));
            }
            continue;
        }
        match resolve_name(kind, key).ok().flatten() {
            Some(Name::Attr { ext, def, sub }) => staged.put(ext, def, sub, v),
            Some(Name::Extension(urn)) => match v {
                Value::Null => {}
                Value::Object(inner) => {
                    // Some clients serialise an extension object with its own `schemas` list.
                    for (ik, iv) in inner
                        .iter()
                        .filter(|(k, _)| !k.eq_ignore_ascii_case("schemas"))
                    {
                        match resolve_in(kind, Some(urn), ik).ok().flatten() {
                            Some(Name::Attr { ext, def, sub }) => staged.put(ext, def, sub, iv),
                            _ if is_empty(iv) => {}
                            _ => return Err(unknown_attribute(Loc::Ext(urn, ik))),
                        }
                    }
                }
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "attribute '{urn}' must be a complex value (JSON object)"
                    )));
                }
            },
            None if is_empty(v) => {}
            None => return Err(unknown_attribute(key)),
        }
    }
    build(kind, &staged)
}

/// Checks every staged value and assembles the canonical document in registry order.
fn build(kind: ResourceKind, staged: &Staged) -> ScimResult<Normalized> {
    let reg = registry();
    let core = reg.core(kind);
    let mut out = Map::new();
    let mut schemas = vec![Value::String(kind.core_urn().to_owned())];
    out.insert("schemas".to_owned(), Value::Null);
    let mut password = None;
    for def in reg.common.iter().chain(core.attributes.iter()) {
        let Some(raw) = get(&staged.core, def.name) else {
            continue;
        };
        let raw = raw.value();
        let loc = Loc::Name(def.name);
        if kind == ResourceKind::User && def.name == "password" {
            if let Some(Value::String(p)) = canon_attr(def, raw, &loc)? {
                password = Some(p);
            }
            continue;
        }
        let value = if kind == ResourceKind::Group && def.name == "members" {
            canon_members(raw)?
        } else {
            canon_attr(def, raw, &loc)?
        };
        if let Some(value) = value {
            out.insert(def.name.to_owned(), value);
        }
    }
    for ext in reg.extensions(kind) {
        let Some((_, raw)) = staged.ext.iter().find(|(u, _)| *u == ext.id) else {
            continue;
        };
        let mut obj = Map::new();
        for def in &ext.attributes {
            if let Some(v) = get(raw, def.name)
                && let Some(c) = canon_attr(def, v.value(), &Loc::Ext(ext.id, def.name))?
            {
                obj.insert(def.name.to_owned(), c);
            }
        }
        if !obj.is_empty() {
            out.insert(ext.id.to_owned(), Value::Object(obj));
            schemas.push(Value::String(ext.id.to_owned()));
        }
    }
    out.insert("schemas".to_owned(), Value::Array(schemas));
    check_required(kind, &out)?;
    Ok(Normalized {
        doc: Value::Object(out),
        password,
    })
}

/// RFC 7643 sections 4.1 and 4.2: `userName` and Group `displayName` are required.
pub(crate) fn check_required(kind: ResourceKind, doc: &Map<String, Value>) -> ScimResult<()> {
    let reg = registry();
    let missing = reg
        .core(kind)
        .attributes
        .iter()
        .chain(
            reg.extensions(kind)
                .iter()
                .flat_map(|e| e.attributes.iter()),
        )
        .find(|d| d.required && !doc.contains_key(d.name));
    if let Some(d) = missing {
        return Err(ScimError::invalid_value(format!(
            "attribute '{}' is required",
            d.name
        )));
    }
    // The name that identifies the resource is shown, compared and signed in with: no
    // control characters (a NUL or an escape sequence in a userName is an attack or a bug).
    let key = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    if let Some(name) = doc.get(key).and_then(Value::as_str)
        && name.chars().any(char::is_control)
    {
        return Err(ScimError::invalid_value(format!(
            "attribute '{key}' must not contain control characters"
        )));
    }
    Ok(())
}

/// Group members as `[{value, type?}]`, without duplicate ids (the first one wins).
fn canon_members(raw: &Value) -> ScimResult<Option<Value>> {
    let single;
    let items: &[Value] = match raw {
        Value::Null => return Ok(None),
        Value::Array(a) => a,
        Value::Object(_) => {
            single = [raw.clone()];
            &single
        }
        _ => {
            return Err(ScimError::invalid_value(
                "attribute 'members' must be an array",
            ));
        }
    };
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some((value, ty)) = canon_member(item, &Loc::Index(&Loc::Name("members"), i))?
            && seen.insert(value.clone())
        {
            out.push(member_json(&value, ty.as_deref()));
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}
