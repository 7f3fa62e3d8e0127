//! Name resolution for filters: every attribute path is looked up in the registry
//! (RFC 7643 sections 4 and 8.7) and takes its canonical spelling, in one of two scopes: a
//! resource's top level, or one element of a multi-valued complex attribute (inside a value
//! path, RFC 7644 section 3.4.2.2, or a PATCH path, RFC 7644 section 3.5.2).
//!
//! The evaluator finds attributes through the same [`find`], so a resolved filter and the
//! document it is evaluated against agree on every name. PATCH path resolution uses
//! [`locate`], [`canonical_path`] and [`resolve_in_element`] from here.

use crate::error::{ScimError, ScimResult};
use crate::schema::{
    AttrType, AttributeDef, Mutability, ResourceKind, Returned, Uniqueness, registry,
};
use crate::syntax::AttrPath;

use super::{CompValue, CompareOp, Filter, chain};

/// A path located in the registry: the canonical extension URN (`None` for core and common
/// attributes), the top-level attribute and, if the path names one, the sub-attribute.
pub(crate) type Located = (
    Option<&'static str>,
    &'static AttributeDef,
    Option<&'static AttributeDef>,
);

/// Finds a path's attribute definitions; the error is a client-facing message.
pub(crate) fn locate(kind: ResourceKind, p: &AttrPath) -> Result<Located, String> {
    let unknown = || format!("unknown attribute '{p}' for {}", kind.name());
    let found = registry()
        .locate(kind, p.urn.as_deref(), &p.attr)
        .ok_or_else(unknown)?;
    let sub = match &p.sub {
        None => None,
        Some(s) => Some(found.def.sub(s).ok_or_else(unknown)?),
    };
    Ok((found.extension, found.def, sub))
}

/// The canonical path of a located attribute.
pub(crate) fn canonical_path(
    urn: Option<&str>, attr: &AttributeDef, sub: Option<&AttributeDef>,
) -> AttrPath {
    AttrPath {
        urn: urn.map(str::to_owned),
        attr: attr.name.to_owned(),
        sub: sub.map(|s| s.name.to_owned()),
    }
}

/// `schemas` (RFC 7643 section 3): on every resource and filterable (RFC 7644 section 3.4.2.2
/// has `schemas eq "urn:...:enterprise:2.0:User"`), but in no schema, so not in the registry.
/// URIs compare case-insensitively here, like schema URNs everywhere else in scimd.
static SCHEMAS_ATTRIBUTE: AttributeDef = AttributeDef {
    name: "schemas",
    ty: AttrType::Reference,
    multi_valued: true,
    required: true,
    case_exact: false,
    mutability: Mutability::ReadOnly,
    returned: Returned::Always,
    uniqueness: Uniqueness::None,
    canonical_values: &[],
    reference_types: &["uri"],
    description: "The schema URIs the resource uses.",
    sub_attributes: Vec::new(),
};

/// Where paths are looked up: a resource's top level, or one element of a complex attribute
/// (inside a value path, or for PATCH).
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    Resource(ResourceKind),
    Element(&'a AttributeDef),
}

/// A path found in a scope.
pub(super) struct Target<'a> {
    /// Canonical extension URN, for resource-level extension attributes.
    pub(super) urn: Option<&'static str>,
    pub(super) attr: &'a AttributeDef,
    pub(super) sub: Option<&'a AttributeDef>,
}

impl<'a> Target<'a> {
    /// The definition of what the path names.
    pub(super) fn def(&self) -> &'a AttributeDef {
        self.sub.unwrap_or(self.attr)
    }

    fn path(&self) -> AttrPath {
        canonical_path(self.urn, self.attr, self.sub)
    }

    /// RFC 7644 section 3.4.2.2: comparing a multi-valued complex attribute that has a `value`
    /// sub-attribute compares that sub-attribute (`emails co "x"` means `emails.value co "x"`).
    /// The same holds for a single-valued one such as the enterprise `manager`, which Entra
    /// compares with a plain id.
    pub(super) fn value_sub_attribute(&self) -> Option<&'a AttributeDef> {
        if self.sub.is_none() && self.attr.ty == AttrType::Complex {
            self.attr.sub("value")
        } else {
            None
        }
    }
}

pub(super) fn find<'a>(scope: Scope<'a>, p: &AttrPath) -> Result<Target<'a>, String> {
    match scope {
        Scope::Resource(kind) => {
            let core = p
                .urn
                .as_deref()
                .is_none_or(|u| u.eq_ignore_ascii_case(kind.core_urn()));
            if core && p.attr.eq_ignore_ascii_case(SCHEMAS_ATTRIBUTE.name) {
                if p.sub.is_some() {
                    return Err(format!("unknown attribute '{p}' for {}", kind.name()));
                }
                return Ok(Target {
                    urn: None,
                    attr: &SCHEMAS_ATTRIBUTE,
                    sub: None,
                });
            }
            let (urn, attr, sub) = locate(kind, p)?;
            Ok(Target { urn, attr, sub })
        }
        Scope::Element(parent) => {
            let unknown = || format!("unknown sub-attribute '{p}' of '{}'", parent.name);
            if p.urn.is_some() || p.sub.is_some() {
                return Err(unknown());
            }
            let attr = parent.sub(&p.attr).ok_or_else(unknown)?;
            Ok(Target {
                urn: None,
                attr,
                sub: None,
            })
        }
    }
}

/// RFC 7644 section 3.4.2.2 (`valuePath`) and 3.5.2: value filters select elements of a
/// multi-valued complex attribute.
pub(super) fn takes_value_filter(t: &Target<'_>) -> bool {
    t.sub.is_none() && t.attr.multi_valued && t.attr.ty == AttrType::Complex
}

pub(crate) fn takes_value_filter_def(def: &AttributeDef) -> bool {
    def.multi_valued && def.ty == AttrType::Complex
}

pub(super) fn string_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn resolve_in(f: &Filter, scope: Scope<'_>) -> Result<Filter, String> {
    Ok(match f {
        Filter::And(..) | Filter::Or(..) => {
            let is_and = matches!(f, Filter::And(..));
            let mut operands = chain(f).into_iter();
            let mut acc = match operands.next() {
                Some(first) => resolve_in(first, scope)?,
                None => return Err("empty logical expression".to_owned()),
            };
            for operand in operands {
                let right = Box::new(resolve_in(operand, scope)?);
                acc = if is_and {
                    Filter::And(Box::new(acc), right)
                } else {
                    Filter::Or(Box::new(acc), right)
                };
            }
            acc
        }
        Filter::Not(a) => Filter::Not(Box::new(resolve_in(a, scope)?)),
        Filter::Present(p) => Filter::Present(find(scope, p)?.path()),
        Filter::Compare(p, op, v) => {
            let mut t = find(scope, p)?;
            if t.def().ty == AttrType::Complex {
                let Some(value) = t.value_sub_attribute() else {
                    return Err(format!(
                        "complex attribute '{p}' cannot be compared directly; \
                         compare one of its sub-attributes"
                    ));
                };
                t.sub = Some(value);
            }
            let def = t.def();
            let ordering = matches!(
                op,
                CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
            );
            if ordering && matches!(def.ty, AttrType::Boolean | AttrType::Binary) {
                return Err(format!(
                    "operator '{}' cannot be used on {} attribute '{}'",
                    op.as_str(),
                    def.ty.as_str(),
                    t.path()
                ));
            }
            if *v == CompValue::Null && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return Err(format!(
                    "operator '{}' cannot compare with null (only 'eq' and 'ne' can)",
                    op.as_str()
                ));
            }
            // Entra's legacy requests send booleans as the strings "True" / "False": store
            // them as booleans so that stores see one type.
            let v = match v {
                CompValue::Str(s) if def.ty == AttrType::Boolean => {
                    string_bool(s).map_or_else(|| v.clone(), CompValue::Bool)
                }
                _ => v.clone(),
            };
            Filter::Compare(t.path(), *op, v)
        }
        Filter::ValuePath(p, inner) => {
            if let Scope::Element(_) = scope {
                return Err("value filters cannot be nested".to_owned());
            }
            let t = find(scope, p)?;
            if !takes_value_filter(&t) {
                return Err(format!(
                    "'{p}' is not a multi-valued complex attribute, so it cannot take a value filter"
                ));
            }
            Filter::ValuePath(
                t.path(),
                Box::new(resolve_in(inner, Scope::Element(t.attr))?),
            )
        }
    })
}

/// Resolves a value filter against the sub-attributes of `parent`; the error is a message.
pub(crate) fn resolve_in_element(f: &Filter, parent: &AttributeDef) -> Result<Filter, String> {
    resolve_in(f, Scope::Element(parent))
}

/// Resolves a raw filter for `kind` (400 `invalidFilter` on error):
///
/// - names take the registry's spelling; the core URN is dropped, an extension URN takes its
///   canonical spelling (core and common attributes end up with `urn: None`, extension
///   attributes with `urn: Some(extension URN)`);
/// - `schemas` is accepted as a multi-valued, case-insensitive string attribute;
/// - paths inside a value path are sub-attributes of the value path's attribute, which must be
///   multi-valued and complex;
/// - an unknown attribute or sub-attribute is an error naming it
///   (`unknown attribute 'foo' for User`);
/// - comparing a multi-valued complex attribute that has a `value` sub-attribute compares
///   that sub-attribute, and the AST says so: `emails co "x"` becomes `emails.value co "x"`;
///   comparing any other complex attribute (`name eq "x"`) is an error (`pr` is fine);
/// - `gt`/`ge`/`lt`/`le` on boolean or binary attributes is an error (RFC 7644 section
///   3.4.2.2), and so is any operator other than `eq`/`ne` with `null`;
/// - a string `"true"`/`"false"` (any case) compared with a boolean attribute becomes the
///   boolean.
///
/// Other type mismatches (`userName eq 5`) are kept: they never match.
pub fn resolve_filter(f: &Filter, kind: ResourceKind) -> ScimResult<Filter> {
    resolve_in(f, Scope::Resource(kind)).map_err(ScimError::invalid_filter)
}

/// Resolves a value filter (such as the `type eq "work"` of `emails[type eq "work"]`) against
/// the sub-attributes of `parent`, with the rules of [`resolve_filter`]
/// (400 `invalidFilter` on error).
pub fn resolve_value_filter(f: &Filter, parent: &AttributeDef) -> ScimResult<Filter> {
    resolve_in_element(f, parent).map_err(ScimError::invalid_filter)
}

/// The definition of what a path names for `kind`: the sub-attribute's for `name.givenName`,
/// the attribute's otherwise (`emails` gives the complex `emails`, not `emails.value`).
/// Knows `schemas`, which the registry does not. `None` for unknown paths.
pub fn attribute_def(kind: ResourceKind, path: &AttrPath) -> Option<&'static AttributeDef> {
    find(Scope::Resource(kind), path).ok().map(|t| t.def())
}
