//! The in-memory filter evaluator (RFC 7644 section 3.4.2.2). Its semantics are the contract
//! the SQL translations of the stores implement too, and the store conformance suite uses it
//! as the oracle. Where the RFC leaves room (a missing attribute, `eq null`, values of the
//! wrong type), the choices are listed on [`matches()`].

use std::cmp::Ordering;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::schema::{AttrType, AttributeDef, ResourceKind};
use crate::syntax::AttrPath;

use super::resolve::{Scope, Target, find, string_bool, takes_value_filter};
use super::{CompValue, CompareOp, Filter, chain};

/// Case folding for attributes that are not `caseExact`: Unicode lower case
/// ([`str::to_lowercase`]), applied to both sides of a comparison.
///
/// SQL translations must fold the same way; SQLite's built-in `lower()` folds ASCII only, so
/// a store registers this function as an SQL function instead.
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

/// Evaluates a filter against a resource document of `kind` in canonical form: core and
/// common attributes at the top level under their registry spelling, extension attributes
/// under the key of their extension URN, `schemas` an array of URNs.
///
/// The semantics, which the SQL translations implement too:
///
/// - **Missing is false.** A comparison or `pr` on an attribute that is absent, `null`, or
///   (for a sub-attribute) whose parent is absent, is false. `not` and `ne` are plain boolean
///   negations of that result, so `not (title eq "x")` and `title ne "x"` are *true* for a
///   resource without a title, and `f or not (f)` is true for every `f`.
/// - **`ne` is `not eq`**, also for multi-valued attributes: `emails.type ne "work"` holds
///   when *no* email has type `work` (not when some email has another type).
/// - **Multi-valued: any element.** Every other comparison, and `pr`, holds if it holds for
///   at least one element (`emails.value co "@x"`: some email contains `@x`). A value path
///   `emails[type eq "work" and value co "@x"]` holds if one element satisfies the whole
///   inner filter.
/// - **`pr`** holds for a value that is not `null`, `""`, `[]` or `{}`; for a multi-valued
///   attribute, if some element is such a value.
/// - **`eq null` means "not present"** (RFC 7644 leaves it open): `x eq null` is
///   `not (x pr)` and `x ne null` is `x pr`. Other operators never take `null` (the
///   resolver rejects them).
/// - **Strings** (also `reference` and `binary`) compare with [`fold_case`] on both sides
///   unless the attribute is `caseExact` (`id`, `externalId`, `meta.resourceType`,
///   `meta.location`, `meta.version`). `co`/`sw`/`ew` are substring, prefix and suffix
///   tests (an empty operand always matches); `gt`/`ge`/`lt`/`le` compare the (folded)
///   strings byte by byte, which is Unicode code point order.
/// - **dateTime** attributes (`meta.created`, `meta.lastModified`): `eq` and the ordering
///   operators parse both sides as RFC 3339 and compare instants (`...T01:00:00+01:00` equals
///   `...T00:00:00Z`); if either side does not parse, there is no match. `co`/`sw`/`ew`
///   never match.
/// - **Numbers** (integer, decimal attributes) compare numerically as `f64`; `co`/`sw`/`ew`
///   never match.
/// - **Booleans** support `eq` (and so `ne`); `true`/`false` or the strings `"true"`/
///   `"false"` in any case. Other operators never match.
/// - **Type mismatches never match** (a number compared with a string attribute, a string
///   with a number attribute, a non-boolean string with a boolean, or a document value of
///   the wrong JSON type), so their `ne` holds.
/// - An unknown attribute (possible only in an unresolved filter) behaves as a missing one.
pub fn matches(filter: &Filter, resource: &Value, kind: ResourceKind) -> bool {
    eval(filter, Scope::Resource(kind), resource)
}

/// Evaluates a filter whose paths are relative to one element of the complex attribute
/// `parent` (the `type eq "work"` of PATCH path `emails[type eq "work"].value`) against one
/// element, with the semantics of [`matches()`]. An element that is not an object has no
/// sub-attributes, so only negations can hold for it.
pub fn matches_value(filter: &Filter, element: &Value, parent: &AttributeDef) -> bool {
    eval(filter, Scope::Element(parent), element)
}

fn eval(f: &Filter, scope: Scope<'_>, doc: &Value) -> bool {
    match f {
        Filter::And(..) => chain(f).into_iter().all(|g| eval(g, scope, doc)),
        Filter::Or(..) => chain(f).into_iter().any(|g| eval(g, scope, doc)),
        Filter::Not(a) => !eval(a, scope, doc),
        Filter::Present(p) => {
            find(scope, p).is_ok_and(|t| any_value(&t, scope, doc, &mut |v| is_present(v)))
        }
        Filter::Compare(p, CompareOp::Ne, v) => !compare(scope, doc, p, CompareOp::Eq, v),
        Filter::Compare(p, op, v) => compare(scope, doc, p, *op, v),
        Filter::ValuePath(p, inner) => {
            if let Scope::Element(_) = scope {
                return false;
            }
            let Ok(t) = find(scope, p) else {
                return false;
            };
            if !takes_value_filter(&t) {
                return false;
            }
            let element_scope = Scope::Element(t.attr);
            match attribute_value(&t, scope, doc) {
                Some(Value::Array(items)) => items
                    .iter()
                    .any(|e| e.is_object() && eval(inner, element_scope, e)),
                _ => false,
            }
        }
    }
}

/// The JSON value of a target's top-level attribute (or of the sub-attribute named directly
/// in an element scope).
fn attribute_value<'v>(t: &Target<'_>, scope: Scope<'_>, doc: &'v Value) -> Option<&'v Value> {
    match (scope, t.urn) {
        (Scope::Resource(_), Some(urn)) => doc.get(urn)?.get(t.attr.name),
        _ => doc.get(t.attr.name),
    }
}

/// The elements of a value: an array's items, or the value itself.
fn elements(v: &Value) -> std::slice::Iter<'_, Value> {
    match v {
        Value::Array(items) => items.iter(),
        other => std::slice::from_ref(other).iter(),
    }
}

/// Whether `pred` holds for some value the target names: each element of a multi-valued
/// attribute, and for `attr.sub` the `sub` of each element of `attr`.
fn any_value(
    t: &Target<'_>, scope: Scope<'_>, doc: &Value, pred: &mut dyn FnMut(&Value) -> bool,
) -> bool {
    let Some(v) = attribute_value(t, scope, doc) else {
        return false;
    };
    match t.sub {
        None => elements(v).any(pred),
        Some(sub) => {
            elements(v).any(|e| e.get(sub.name).is_some_and(|s| elements(s).any(&mut *pred)))
        }
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// A comparison other than `ne`.
fn compare(scope: Scope<'_>, doc: &Value, p: &AttrPath, op: CompareOp, v: &CompValue) -> bool {
    let Ok(mut t) = find(scope, p) else {
        return false;
    };
    if t.def().ty == AttrType::Complex {
        match t.value_sub_attribute() {
            Some(value) => t.sub = Some(value),
            None => return false,
        }
    }
    let def = t.def();
    if *v == CompValue::Null {
        return op == CompareOp::Eq && !any_value(&t, scope, doc, &mut |x| is_present(x));
    }
    any_value(&t, scope, doc, &mut |x| compare_one(op, def, x, v))
}

fn ordering_holds(op: CompareOp, ord: Option<Ordering>) -> bool {
    let Some(ord) = ord else {
        return false;
    };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn string_holds(op: CompareOp, a: &str, b: &str) -> bool {
    match op {
        CompareOp::Co => a.contains(b),
        CompareOp::Sw => a.starts_with(b),
        CompareOp::Ew => a.ends_with(b),
        _ => ordering_holds(op, Some(a.cmp(b))),
    }
}

fn instant(s: &str) -> Option<i128> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// One document value against the comparison value, for the attribute `def`.
fn compare_one(op: CompareOp, def: &AttributeDef, x: &Value, v: &CompValue) -> bool {
    match def.ty {
        AttrType::Boolean => {
            let wanted = match v {
                CompValue::Bool(b) => Some(*b),
                CompValue::Str(s) => string_bool(s),
                _ => None,
            };
            match (x.as_bool(), wanted) {
                (Some(a), Some(b)) => op == CompareOp::Eq && a == b,
                _ => false,
            }
        }
        AttrType::Integer | AttrType::Decimal => match (x.as_f64(), v) {
            (Some(a), CompValue::Num(n)) => {
                ordering_holds(op, n.as_f64().and_then(|b| a.partial_cmp(&b)))
            }
            _ => false,
        },
        AttrType::DateTime => match (x.as_str(), v) {
            (Some(a), CompValue::Str(b)) => match (instant(a), instant(b)) {
                (Some(a), Some(b)) => ordering_holds(op, Some(a.cmp(&b))),
                _ => false,
            },
            _ => false,
        },
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex => {
            match (x.as_str(), v) {
                (Some(a), CompValue::Str(b)) if def.case_exact => string_holds(op, a, b),
                (Some(a), CompValue::Str(b)) => string_holds(op, &fold_case(a), &fold_case(b)),
                _ => false,
            }
        }
    }
}
