//! Edits of one attribute in the working copy of a document, for `add`, `replace` and
//! `remove` (RFC 7644 sections 3.5.2.1-3.5.2.3): plain attributes, sub-attributes, and
//! elements of a multi-valued attribute selected by a value filter. Every value goes through
//! the same canonicalisation as a POST body.

use crate::canon::{Loc, attr_label, canon_attr, canon_multi, canon_single, is_empty};
use crate::error::{ScimError, ScimResult};
use crate::filter::{CompValue, CompareOp, Filter, matches_value};
use crate::schema::{AttrType, AttributeDef, Mutability};
use serde_json::{Map, Value};

use super::{NULL, get_ci};

/// A resolved target inside the document.
pub(super) struct Target<'f> {
    pub(super) ext: Option<&'static str>,
    pub(super) def: &'static AttributeDef,
    pub(super) sub: Option<&'static AttributeDef>,
    pub(super) filter: Option<&'f Filter>,
}

impl Target<'_> {
    pub(super) fn label(&self) -> String {
        let base = attr_label(self.ext, self.def.name);
        match (self.filter, self.sub) {
            (None, None) => base,
            (None, Some(s)) => format!("{base}.{}", s.name),
            (Some(_), None) => format!("{base}[filter]"),
            (Some(_), Some(s)) => format!("{base}[filter].{}", s.name),
        }
    }
}

/// `add` or `replace`; `remove` has its own functions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Add,
    Replace,
}

/// Evaluates a value filter against one element of a multi-valued attribute.
fn element_matches(filter: &Filter, element: &Value, def: &AttributeDef) -> bool {
    matches_value(filter, element, def)
}

/// The `type` of a filter that is exactly `type eq "..."`: such a path names an element that
/// `add`/`replace` may create: Entra sets `emails[type eq "work"].value` whether or not the
/// user has a work e-mail yet.
fn type_eq(f: &Filter) -> Option<&str> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(s))
            if p.attr.eq_ignore_ascii_case("type") && p.sub.is_none() =>
        {
            Some(s)
        }
        _ => None,
    }
}

/// `[{"$ref": null, "value": X}]` (or `[X]`) for a simple single-valued attribute is X: the
/// legacy Microsoft SCIM library wraps every value that way.
pub(super) fn unwrap_simple<'v>(def: &AttributeDef, raw: &'v Value) -> &'v Value {
    if def.ty == AttrType::Complex || def.multi_valued {
        return raw;
    }
    match raw {
        Value::Array(a) => match a.as_slice() {
            [] => &NULL,
            [Value::Object(o)] => get_ci(o, "value").unwrap_or(raw),
            [one] => one,
            _ => raw,
        },
        _ => raw,
    }
}

/// Runs `f` on the object that holds the attribute: the document, or its extension object
/// (created on demand, dropped again when left empty).
pub(super) fn with_container<R>(
    work: &mut Map<String, Value>, ext: Option<&str>, f: impl FnOnce(&mut Map<String, Value>) -> R,
) -> R {
    match ext {
        None => f(work),
        Some(urn) => {
            let mut inner = match work.remove(urn) {
                Some(Value::Object(o)) => o,
                _ => Map::new(),
            };
            let r = f(&mut inner);
            if !inner.is_empty() {
                work.insert(urn.to_owned(), Value::Object(inner));
            }
            r
        }
    }
}

fn take_items(c: &mut Map<String, Value>, name: &str) -> Vec<Value> {
    match c.remove(name) {
        Some(Value::Array(a)) => a,
        Some(v) if !v.is_null() => vec![v],
        _ => Vec::new(),
    }
}

fn put_items(c: &mut Map<String, Value>, name: &str, mut items: Vec<Value>) {
    items.retain(|e| !is_empty(e));
    if !items.is_empty() {
        c.insert(name.to_owned(), Value::Array(items));
    }
}

fn take_obj(c: &mut Map<String, Value>, name: &str) -> Map<String, Value> {
    match c.remove(name) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    }
}

fn put_obj(c: &mut Map<String, Value>, name: &str, o: Map<String, Value>) {
    if !o.is_empty() {
        c.insert(name.to_owned(), Value::Object(o));
    }
}

fn is_primary(e: &Value) -> bool {
    e.get("primary") == Some(&Value::Bool(true))
}

/// RFC 7644 section 3.5.2: making a value primary makes every other value non-primary.
fn demote_others(items: &mut [Value], keep: &[usize]) {
    for (i, e) in items.iter_mut().enumerate() {
        if !keep.contains(&i)
            && is_primary(e)
            && let Value::Object(o) = e
        {
            o.insert("primary".to_owned(), Value::Bool(false));
        }
    }
}

fn set_sub(element: &mut Value, sub: &AttributeDef, v: Option<Value>) {
    if let Value::Object(o) = element {
        match v {
            Some(v) => {
                o.insert(sub.name.to_owned(), v);
            }
            None => {
                o.remove(sub.name);
            }
        }
    }
}

fn check_immutable(
    def: &AttributeDef, old: Option<&Value>, new: Option<&Value>, label: &str,
) -> ScimResult<()> {
    if def.mutability == Mutability::Immutable && old.is_some() && old != new {
        return Err(ScimError::mutability(format!(
            "attribute '{label}' is immutable and already has a value"
        )));
    }
    Ok(())
}

pub(super) fn set_in(
    c: &mut Map<String, Value>, mode: Mode, t: &Target<'_>, raw: &Value, label: &str,
) -> ScimResult<()> {
    let def = t.def;
    if let Some(f) = t.filter {
        return set_filtered(c, mode, def, f, t.sub, raw, label);
    }
    if let Some(sub) = t.sub {
        let v = canon_attr(sub, unwrap_simple(sub, raw), &Loc::Name(label))?;
        if def.multi_valued {
            // `emails.value` without a filter: every element (or a first one).
            let mut items = take_items(c, def.name);
            if items.is_empty() {
                if let Some(v) = v {
                    let mut o = Map::new();
                    o.insert(sub.name.to_owned(), v);
                    items.push(Value::Object(o));
                }
            } else {
                for e in &mut items {
                    set_sub(e, sub, v.clone());
                }
            }
            put_items(c, def.name, items);
        } else {
            let mut o = take_obj(c, def.name);
            check_immutable(sub, o.get(sub.name), v.as_ref(), label)?;
            match v {
                Some(v) => o.insert(sub.name.to_owned(), v),
                None => o.remove(sub.name),
            };
            put_obj(c, def.name, o);
        }
        return Ok(());
    }
    if def.multi_valued {
        let new = canon_multi(def, raw, &Loc::Name(label))?.unwrap_or_default();
        match mode {
            Mode::Replace => put_items(c, def.name, new),
            Mode::Add => {
                let mut items = take_items(c, def.name);
                if new.iter().any(is_primary) {
                    demote_others(&mut items, &[]);
                }
                for n in new {
                    if !items.contains(&n) {
                        items.push(n);
                    }
                }
                put_items(c, def.name, items);
            }
        }
        return Ok(());
    }
    if def.ty == AttrType::Complex {
        let v = canon_attr(def, raw, &Loc::Name(label))?;
        match (v, raw) {
            // A new reference (`manager.value`) replaces the old one, `$ref` included.
            (Some(Value::Object(new)), _) if new.contains_key("value") => {
                c.insert(def.name.to_owned(), Value::Object(new));
            }
            // Merge: given sub-attributes replace, explicit nulls clear, the rest stays.
            (v, Value::Object(r)) if !r.is_empty() => {
                let mut o = take_obj(c, def.name);
                for (k, sv) in r {
                    if let Some(sd) = def.sub(k)
                        && is_empty(sv)
                        && sd.mutability != Mutability::ReadOnly
                    {
                        o.remove(sd.name);
                    }
                }
                if let Some(Value::Object(new)) = v {
                    o.extend(new);
                }
                put_obj(c, def.name, o);
            }
            (Some(v), _) => {
                c.insert(def.name.to_owned(), v);
            }
            (None, _) => {
                c.remove(def.name);
            }
        }
        return Ok(());
    }
    let v = canon_attr(def, unwrap_simple(def, raw), &Loc::Name(label))?;
    check_immutable(def, c.get(def.name), v.as_ref(), label)?;
    match v {
        Some(v) => c.insert(def.name.to_owned(), v),
        None => c.remove(def.name),
    };
    Ok(())
}

/// `attr[filter]` and `attr[filter].sub` for add/replace (RFC 7644 section 3.5.2.1, 3.5.2.3).
fn set_filtered(
    c: &mut Map<String, Value>, mode: Mode, def: &AttributeDef, filter: &Filter,
    sub: Option<&AttributeDef>, raw: &Value, label: &str,
) -> ScimResult<()> {
    let mut items = take_items(c, def.name);
    let hits: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| element_matches(filter, e, def))
        .map(|(i, _)| i)
        .collect();
    let no_target = || {
        ScimError::no_target(format!(
            "no value of '{}' matches the filter of '{label}'",
            def.name
        ))
    };
    match sub {
        Some(sd) => {
            let v = canon_attr(sd, unwrap_simple(sd, raw), &Loc::Name(label))?;
            if hits.is_empty() {
                match (type_eq(filter), v) {
                    (Some(ty), Some(v)) => {
                        if sd.name == "primary" && v == Value::Bool(true) {
                            demote_others(&mut items, &[]);
                        }
                        let mut o = Map::new();
                        o.insert("type".to_owned(), Value::String(ty.to_owned()));
                        o.insert(sd.name.to_owned(), v);
                        items.push(Value::Object(o));
                    }
                    // Clearing a value of an element that does not exist: already so.
                    (Some(_), None) => {}
                    (None, _) => return Err(no_target()),
                }
            } else {
                if sd.name == "primary" && v == Some(Value::Bool(true)) {
                    demote_others(&mut items, &hits);
                }
                for &i in &hits {
                    set_sub(&mut items[i], sd, v.clone());
                }
            }
        }
        None => {
            let elem_raw = match raw {
                Value::Array(a) if a.len() == 1 => &a[0],
                other => other,
            };
            let v = canon_single(def, elem_raw, &Loc::Name(label))?;
            if hits.is_empty() {
                match (type_eq(filter), v) {
                    (Some(ty), Some(Value::Object(mut o))) => {
                        if def.sub("type").is_some() && !o.contains_key("type") {
                            o.insert("type".to_owned(), Value::String(ty.to_owned()));
                        }
                        if is_primary(&Value::Object(o.clone())) {
                            demote_others(&mut items, &[]);
                        }
                        items.push(Value::Object(o));
                    }
                    (Some(_), _) => {}
                    (None, _) => return Err(no_target()),
                }
            } else {
                if v.as_ref().is_some_and(is_primary) {
                    demote_others(&mut items, &hits);
                }
                match (mode, v) {
                    (Mode::Replace, Some(v)) => {
                        for &i in &hits {
                            items[i] = v.clone();
                        }
                    }
                    (Mode::Replace, None) => {
                        items = items
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| !hits.contains(i))
                            .map(|(_, e)| e)
                            .collect();
                    }
                    (Mode::Add, Some(Value::Object(new))) => {
                        for &i in &hits {
                            if let Value::Object(o) = &mut items[i] {
                                o.extend(new.clone());
                            }
                        }
                    }
                    (Mode::Add, _) => {}
                }
            }
        }
    }
    put_items(c, def.name, items);
    Ok(())
}

pub(super) fn remove_in(
    c: &mut Map<String, Value>, t: &Target<'_>, value: Option<&Value>, label: &str,
) -> ScimResult<()> {
    let def = t.def;
    if let Some(f) = t.filter {
        let mut items = take_items(c, def.name);
        let hits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, e)| element_matches(f, e, def))
            .map(|(i, _)| i)
            .collect();
        if hits.is_empty() {
            return Err(ScimError::no_target(format!(
                "no value of '{}' matches the filter of '{label}'",
                def.name
            )));
        }
        match t.sub {
            None => {
                items = items
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !hits.contains(i))
                    .map(|(_, e)| e)
                    .collect();
            }
            Some(sd) => {
                for &i in &hits {
                    set_sub(&mut items[i], sd, None);
                }
            }
        }
        put_items(c, def.name, items);
        return Ok(());
    }
    match t.sub {
        Some(sd) if def.multi_valued => {
            let mut items = take_items(c, def.name);
            for e in &mut items {
                set_sub(e, sd, None);
            }
            put_items(c, def.name, items);
        }
        Some(sd) => {
            let mut o = take_obj(c, def.name);
            check_immutable(sd, o.get(sd.name), None, label)?;
            o.remove(sd.name);
            put_obj(c, def.name, o);
        }
        None if def.multi_valued && value.is_some_and(|v| !is_empty(v)) => {
            // The legacy Microsoft shape, `remove` with the values to drop listed in `value`:
            // an element goes when it has every sub-attribute given.
            let listed =
                canon_multi(def, value.unwrap_or(&NULL), &Loc::Name(label))?.unwrap_or_default();
            let mut items = take_items(c, def.name);
            items.retain(|e| !listed.iter().any(|l| contains_all(e, l)));
            put_items(c, def.name, items);
        }
        None => {
            check_immutable(def, c.get(def.name), None, label)?;
            c.remove(def.name);
        }
    }
    Ok(())
}

/// Every member of `part` (an object) is in `whole` with the same value.
fn contains_all(whole: &Value, part: &Value) -> bool {
    match (whole, part) {
        (Value::Object(w), Value::Object(p)) => p.iter().all(|(k, v)| w.get(k) == Some(v)),
        _ => whole == part,
    }
}
