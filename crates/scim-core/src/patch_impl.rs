//! The PATCH engine: RFC 7644 section 3.5.2 with the identity-provider quirks of interop.md.
//!
//! Choices where the RFC leaves room (also listed in the tests):
//! - `add` and `replace` of `null`, `""` (or `{}` for a complex attribute) on a single-valued
//!   attribute clear it (Q11; Microsoft's validator clears attributes that way). `add` of an
//!   empty list to a multi-valued attribute changes nothing.
//! - `add` / `replace` on a complex single-valued attribute merge the given sub-attributes
//!   (RFC 7644 section 3.5.2.1/3.5.2.3), except that a value carrying a new `value` (the
//!   enterprise `manager`) replaces the whole reference, so a stale `$ref` never survives.
//! - `add` / `replace` on a path filtered by `type eq "..."` create the element when none
//!   matches (SPEC section 2); any other filter that matches nothing is `noTarget`.
//! - Removing a required attribute (`userName`, Group `displayName`), or clearing it, is
//!   `invalidValue`; targeting a readOnly attribute (`id`, `meta`, `groups`,
//!   `manager.displayName`) or changing an immutable one is `mutability`.
//! - An `add`/`replace` whose path names an attribute no schema defines is ignored when its
//!   value is empty (a `null` is no value) and `invalidPath` otherwise.
//! - `remove members` with an empty list as its value changes nothing (only a missing or
//!   `null` value removes every member).

use crate::canon::{
    Loc, Name, attr_label, canon_attr, canon_member, canon_multi, canon_single, is_empty,
    locate_attr, resolve_in, resolve_name, unknown_attribute,
};
use crate::error::{ScimError, ScimResult};
use crate::filter::{CompValue, CompareOp, Filter, matches_value, resolve_value_filter};
use crate::patch::{MemberChange, MemberRef, PatchOpKind, PatchOperation, PatchOutcome};
use crate::path::{AttrPath, PatchPath, parse_patch_path};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceKind, registry};
use serde_json::{Map, Value};

static NULL: Value = Value::Null;

/// A JSON object member looked up case-insensitively (RFC 7644 section 3.10, Q14).
fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

pub(crate) fn parse_patch(kind: ResourceKind, body: &Value) -> ScimResult<Vec<PatchOperation>> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a PatchOp body must be a JSON object"))?;
    // `schemas` is not checked: a body with `Operations` is unambiguous, and clients that
    // misspell or omit the PatchOp URN still mean a PATCH.
    let ops = match get_ci(obj, "Operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        Some(Value::Array(_)) => {
            return Err(ScimError::invalid_syntax(
                "'Operations' must hold at least one operation",
            ));
        }
        Some(_) => return Err(ScimError::invalid_syntax("'Operations' must be an array")),
        None => {
            return Err(ScimError::invalid_syntax(
                "a PatchOp body needs an 'Operations' array (RFC 7644 section 3.5.2)",
            ));
        }
    };
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        if let Some(op) = parse_op(kind, op, i)? {
            out.push(op);
        }
    }
    Ok(out)
}

/// One operation; `None` when it is to be ignored (an empty value for an unknown attribute).
fn parse_op(kind: ResourceKind, op: &Value, i: usize) -> ScimResult<Option<PatchOperation>> {
    let Value::Object(o) = op else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}] must be a JSON object"
        )));
    };
    let op_kind = match get_ci(o, "op") {
        // Q1: Entra's legacy default sends `Add`, `Replace`, `Remove`.
        Some(Value::String(s)) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].op must be 'add', 'remove' or 'replace', not {other}"
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}] needs an 'op'"
            )));
        }
    };
    let path = match get_ci(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim()),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{i}].path must be a string"
            )));
        }
    };
    let value = get_ci(o, "value").cloned();
    match (op_kind, path, &value) {
        (PatchOpKind::Remove, None, _) => {
            return Err(ScimError::no_target(format!(
                "Operations[{i}]: 'remove' needs a 'path' (RFC 7644 section 3.5.2.2)"
            )));
        }
        (PatchOpKind::Add | PatchOpKind::Replace, _, None) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}]: '{}' needs a 'value'",
                op_name(op_kind)
            )));
        }
        (PatchOpKind::Add | PatchOpKind::Replace, None, Some(v))
            if pathless_object(v).is_none() =>
        {
            return Err(ScimError::invalid_value(format!(
                "Operations[{i}]: without a 'path', the value of '{}' must be a JSON object of attributes",
                op_name(op_kind)
            )));
        }
        _ => {}
    }
    let path = match path {
        None => None,
        Some(s) => match resolve_patch_path(kind, s)? {
            Some(p) => Some(p),
            // The PATCH form of "a null for an unknown attribute is just ignored".
            None if op_kind != PatchOpKind::Remove && value.as_ref().is_none_or(is_empty) => {
                return Ok(None);
            }
            None => {
                return Err(ScimError::invalid_path(format!(
                    "Operations[{i}]: path '{s}' names no attribute of a {}",
                    kind.name()
                )));
            }
        },
    };
    Ok(Some(PatchOperation {
        op: op_kind,
        path,
        value,
    }))
}

fn op_name(op: PatchOpKind) -> &'static str {
    match op {
        PatchOpKind::Add => "add",
        PatchOpKind::Remove => "remove",
        PatchOpKind::Replace => "replace",
    }
}

/// The attributes object of a path-less `add`/`replace` (also accepted wrapped in a
/// one-element array, the legacy Microsoft library's shape, Q12).
fn pathless_object(v: &Value) -> Option<&Map<String, Value>> {
    match v {
        Value::Object(o) => Some(o),
        Value::Array(a) => match a.as_slice() {
            [Value::Object(o)] => Some(o),
            _ => None,
        },
        _ => None,
    }
}

/// Parses a PATCH path and canonicalises it against `kind`. `Ok(None)`: well-formed, but no
/// schema defines it. A bare extension URN is returned with an empty `attr` (the whole
/// extension object).
fn resolve_patch_path(kind: ResourceKind, s: &str) -> ScimResult<Option<PatchPath>> {
    if let Some(ext) = registry()
        .extensions(kind)
        .iter()
        .find(|e| e.id.eq_ignore_ascii_case(s))
    {
        return Ok(Some(PatchPath {
            attr: AttrPath {
                urn: Some(ext.id.to_owned()),
                attr: String::new(),
                sub: None,
            },
            filter: None,
            sub: None,
        }));
    }
    let parsed = parse_patch_path(s)?;
    let Some((ext, def)) = locate_attr(kind, parsed.attr.urn.as_deref(), &parsed.attr.attr) else {
        return Ok(None);
    };
    let sub_name = parsed.attr.sub.as_deref().or(parsed.sub.as_deref());
    let sub = match sub_name {
        None => None,
        Some(n) => match def.sub(n) {
            Some(d) => Some(d.name.to_owned()),
            None => return Ok(None),
        },
    };
    let filter = match &parsed.filter {
        None => None,
        Some(f) => {
            if !(def.multi_valued && def.ty == AttrType::Complex) {
                return Err(ScimError::invalid_path(format!(
                    "'{s}': a value filter needs a multi-valued complex attribute"
                )));
            }
            Some(canon_filter(f, def, s)?)
        }
    };
    let attr = AttrPath {
        urn: ext.map(str::to_owned),
        attr: def.name.to_owned(),
        sub: if filter.is_none() { sub.clone() } else { None },
    };
    let sub = if filter.is_some() { sub } else { None };
    Ok(Some(PatchPath { attr, filter, sub }))
}

/// Resolves a value filter against the sub-attributes of `def` (canonical spelling, so that
/// stores receiving [`MemberChange::RemoveMatching`] see `value`, `type`, `display`); in a
/// PATCH path its errors are `invalidPath`.
fn canon_filter(f: &Filter, def: &AttributeDef, s: &str) -> ScimResult<Filter> {
    resolve_value_filter(f, def)
        .map_err(|e| ScimError::invalid_path(format!("path '{s}': {}", e.detail)))
}

/// Evaluates a value filter against one element of a multi-valued attribute.
fn element_matches(filter: &Filter, element: &Value, def: &AttributeDef) -> bool {
    matches_value(filter, element, def)
}

pub(crate) fn apply_patch(
    kind: ResourceKind,
    doc: &Value,
    ops: &[PatchOperation],
) -> ScimResult<PatchOutcome> {
    // Atomicity (RFC 7644 section 3.5.2): every operation works on a copy; the first error
    // drops it, so the caller's document is never half-patched.
    let Value::Object(original) = doc else {
        return Err(ScimError::internal());
    };
    let mut work = original.clone();
    let mut engine = Engine {
        kind,
        password: None,
        members: Vec::new(),
    };
    for op in ops {
        engine.apply_op(&mut work, op)?;
    }
    // The same checks as a POST body (types, one primary, required attributes), and the same
    // canonical form, so no sequence of operations can store what a create would refuse.
    let normalized = crate::resource::normalize(kind, &Value::Object(work))?;
    let changed = normalized.doc != *doc;
    Ok(PatchOutcome {
        doc: normalized.doc,
        changed,
        member_changes: engine.members,
        password: engine.password.or(normalized.password),
    })
}

/// A resolved target inside the document.
struct Target<'f> {
    ext: Option<&'static str>,
    def: &'static AttributeDef,
    sub: Option<&'static AttributeDef>,
    filter: Option<&'f Filter>,
}

impl Target<'_> {
    fn label(&self) -> String {
        let base = attr_label(self.ext, self.def.name);
        match (self.filter, self.sub) {
            (None, None) => base,
            (None, Some(s)) => format!("{base}.{}", s.name),
            (Some(_), None) => format!("{base}[filter]"),
            (Some(_), Some(s)) => format!("{base}[filter].{}", s.name),
        }
    }
}

struct Engine {
    kind: ResourceKind,
    password: Option<String>,
    members: Vec<MemberChange>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Add,
    Replace,
}

impl Engine {
    fn apply_op(&mut self, work: &mut Map<String, Value>, op: &PatchOperation) -> ScimResult<()> {
        let value = op.value.as_ref();
        let mode = match op.op {
            PatchOpKind::Add => Mode::Add,
            PatchOpKind::Replace => Mode::Replace,
            PatchOpKind::Remove => {
                let Some(path) = &op.path else {
                    return Err(ScimError::no_target("'remove' needs a 'path'"));
                };
                return self.apply_path(work, None, path, value);
            }
        };
        match &op.path {
            Some(path) => self.apply_path(work, Some(mode), path, value),
            None => self.apply_pathless(work, mode, value.unwrap_or(&NULL)),
        }
    }

    fn is_members(&self, ext: Option<&str>, def: &AttributeDef) -> bool {
        self.kind == ResourceKind::Group && ext.is_none() && def.name == "members"
    }

    /// RFC 7644 section 3.5.2.1/3.5.2.3 without `path`: each key of the object is an attribute
    /// to add or replace. Keys may be dotted (`name.givenName`), fully qualified
    /// (`urn:...:enterprise:2.0:User:employeeNumber`) or an extension URN holding an object (Q4).
    fn apply_pathless(
        &mut self,
        work: &mut Map<String, Value>,
        mode: Mode,
        value: &Value,
    ) -> ScimResult<()> {
        let Some(obj) = pathless_object(value) else {
            return Err(ScimError::invalid_value(
                "without a 'path', the value must be a JSON object of attributes",
            ));
        };
        for (key, v) in obj {
            // Okta's rename sends `{id, displayName}`; echoed `schemas`/`meta` carry nothing.
            if ["schemas", "meta", "id"]
                .iter()
                .any(|k| key.eq_ignore_ascii_case(k))
            {
                continue;
            }
            match resolve_name(self.kind, key).ok().flatten() {
                Some(Name::Extension(urn)) => self.set_extension(work, mode, urn, v)?,
                Some(Name::Attr { ext, def, sub }) => {
                    let target = Target {
                        ext,
                        def,
                        sub,
                        filter: None,
                    };
                    self.set_checked(work, mode, &target, v)?;
                }
                None if is_empty(v) => {}
                None => return Err(unknown_attribute(key)),
            }
        }
        Ok(())
    }

    /// Path-less or bare-URN value for an extension: each of its keys is an attribute of it.
    fn set_extension(
        &mut self,
        work: &mut Map<String, Value>,
        mode: Mode,
        urn: &'static str,
        v: &Value,
    ) -> ScimResult<()> {
        match v {
            _ if is_empty(v) => {
                if mode == Mode::Replace {
                    work.remove(urn);
                }
                Ok(())
            }
            Value::Object(inner) => {
                // Some clients serialise an extension object with its own `schemas` list.
                for (k, iv) in inner
                    .iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("schemas"))
                {
                    match resolve_in(self.kind, Some(urn), k).ok().flatten() {
                        Some(Name::Attr { ext, def, sub }) => {
                            let target = Target {
                                ext,
                                def,
                                sub,
                                filter: None,
                            };
                            self.set_checked(work, mode, &target, iv)?;
                        }
                        _ if is_empty(iv) => {}
                        _ => return Err(unknown_attribute(Loc::Ext(urn, k))),
                    }
                }
                Ok(())
            }
            _ => Err(ScimError::invalid_value(format!(
                "attribute '{urn}' must be a complex value (JSON object)"
            ))),
        }
    }

    /// A path-less key: readOnly attributes with a value are refused, members become changes.
    fn set_checked(
        &mut self,
        work: &mut Map<String, Value>,
        mode: Mode,
        target: &Target<'_>,
        v: &Value,
    ) -> ScimResult<()> {
        if is_read_only(target) {
            if is_empty(v) {
                return Ok(());
            }
            return Err(read_only(target));
        }
        if self.is_members(target.ext, target.def) {
            if target.sub.is_some() {
                return Err(members_immutable());
            }
            return self.members_set(mode, v);
        }
        self.set(work, mode, target, v)
    }

    /// An operation with a `path`; `mode` is `None` for `remove`.
    fn apply_path(
        &mut self,
        work: &mut Map<String, Value>,
        mode: Option<Mode>,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> ScimResult<()> {
        let attr = &path.attr;
        if attr.attr.is_empty() {
            let ext = attr
                .urn
                .as_deref()
                .and_then(|u| registry().extension(self.kind, u))
                .ok_or_else(|| ScimError::invalid_path("empty attribute path"))?;
            return match mode {
                None => {
                    work.remove(ext.id);
                    Ok(())
                }
                Some(mode) => self.set_extension(work, mode, ext.id, value.unwrap_or(&NULL)),
            };
        }
        let (ext, def) = locate_attr(self.kind, attr.urn.as_deref(), &attr.attr)
            .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute '{}'", attr.attr)))?;
        let sub = match attr.sub.as_deref().or(path.sub.as_deref()) {
            None => None,
            Some(n) => Some(def.sub(n).ok_or_else(|| {
                ScimError::invalid_path(format!("unknown sub-attribute '{}.{n}'", def.name))
            })?),
        };
        if path.filter.is_some() && !(def.multi_valued && def.ty == AttrType::Complex) {
            return Err(ScimError::invalid_path(format!(
                "a value filter needs a multi-valued complex attribute, not '{}'",
                def.name
            )));
        }
        let target = Target {
            ext,
            def,
            sub,
            filter: path.filter.as_ref(),
        };
        if is_read_only(&target) {
            return Err(read_only(&target));
        }
        if self.is_members(ext, def) {
            return self.members_path(mode, &target, value);
        }
        match mode {
            Some(mode) => self.set(work, mode, &target, value.unwrap_or(&NULL)),
            None => self.remove(work, &target, value),
        }
    }

    fn set(
        &mut self,
        work: &mut Map<String, Value>,
        mode: Mode,
        t: &Target<'_>,
        raw: &Value,
    ) -> ScimResult<()> {
        if self.kind == ResourceKind::User && t.ext.is_none() && t.def.name == "password" {
            // writeOnly: handed to the caller, never stored in the document.
            if let Some(Value::String(p)) =
                canon_attr(t.def, unwrap_simple(t.def, raw), &Loc::Name("password"))?
            {
                self.password = Some(p);
            }
            return Ok(());
        }
        let label = t.label();
        with_container(work, t.ext, |c| set_in(c, mode, t, raw, &label))
    }

    fn remove(
        &mut self,
        work: &mut Map<String, Value>,
        t: &Target<'_>,
        value: Option<&Value>,
    ) -> ScimResult<()> {
        let label = t.label();
        if t.def.required && t.sub.is_none() && t.filter.is_none() {
            return Err(ScimError::invalid_value(format!(
                "attribute '{label}' is required and cannot be removed"
            )));
        }
        if self.kind == ResourceKind::User && t.ext.is_none() && t.def.name == "password" {
            // Nothing is stored to remove.
            return Ok(());
        }
        with_container(work, t.ext, |c| remove_in(c, t, value, &label))
    }

    /// Path-less `members` or `members` with a path and no filter, for add/replace.
    fn members_set(&mut self, mode: Mode, v: &Value) -> ScimResult<()> {
        let refs = member_refs(v)?;
        match mode {
            Mode::Add if refs.is_empty() => {}
            Mode::Add => self.members.push(MemberChange::Add(refs)),
            Mode::Replace => self.members.push(MemberChange::ReplaceAll(refs)),
        }
        Ok(())
    }

    /// `members` operations with a path (Q7, Q10): become [`MemberChange`]s.
    fn members_path(
        &mut self,
        mode: Option<Mode>,
        t: &Target<'_>,
        value: Option<&Value>,
    ) -> ScimResult<()> {
        if t.sub.is_some() {
            return Err(members_immutable());
        }
        match (mode, t.filter) {
            (Some(mode), None) => self.members_set(mode, value.unwrap_or(&NULL)),
            (Some(_), Some(_)) => Err(ScimError::invalid_path(
                "members cannot be changed through a filter; add or remove them instead",
            )),
            (None, None) => {
                match value {
                    // RFC 7644 section 3.5.2.2: no value, every member goes.
                    None | Some(Value::Null) => {
                        self.members.push(MemberChange::ReplaceAll(Vec::new()));
                    }
                    Some(v) if is_empty(v) => {}
                    // Q7 legacy form: the members to remove are listed in `value`.
                    Some(v) => {
                        let ids: Vec<String> =
                            member_refs(v)?.into_iter().map(|m| m.value).collect();
                        self.members.push(MemberChange::Remove(ids));
                    }
                }
                Ok(())
            }
            (None, Some(f)) => {
                let mut ids = Vec::new();
                if value_eq_ids(f, &mut ids) {
                    self.members.push(MemberChange::Remove(ids));
                } else {
                    self.members.push(MemberChange::RemoveMatching(f.clone()));
                }
                Ok(())
            }
        }
    }
}

fn is_read_only(t: &Target<'_>) -> bool {
    t.def.mutability == Mutability::ReadOnly
        || t.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
}

fn read_only(t: &Target<'_>) -> ScimError {
    ScimError::mutability(format!(
        "attribute '{}' is readOnly and cannot be modified",
        t.label()
    ))
}

fn members_immutable() -> ScimError {
    ScimError::mutability(
        "the sub-attributes of a group member are immutable; add or remove the member instead",
    )
}

/// Member references from `[{value, type?}, ...]` (or one object); ids must be non-empty
/// strings.
fn member_refs(v: &Value) -> ScimResult<Vec<MemberRef>> {
    let items: &[Value] = match v {
        Value::Null => &[],
        Value::Array(a) => a,
        Value::Object(_) => std::slice::from_ref(v),
        _ => {
            return Err(ScimError::invalid_value(
                "the value for 'members' must be an array of {\"value\": id}",
            ));
        }
    };
    let mut out: Vec<MemberRef> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some((value, member_type)) =
            canon_member(item, &Loc::Index(&Loc::Name("members"), i))?
            && !out.iter().any(|m| m.value == value)
        {
            out.push(MemberRef { value, member_type });
        }
    }
    Ok(out)
}

/// `value eq "a"` or `value eq "a" or value eq "b" ...` (Q7 with the flag): the ids.
fn value_eq_ids(f: &Filter, out: &mut Vec<String>) -> bool {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(s))
            if p.attr.eq_ignore_ascii_case("value") && p.sub.is_none() && p.urn.is_none() =>
        {
            out.push(s.clone());
            true
        }
        Filter::Or(a, b) => value_eq_ids(a, out) && value_eq_ids(b, out),
        _ => false,
    }
}

/// The `type` of a filter that is exactly `type eq "..."`: such a path names an element that
/// `add`/`replace` may create (SPEC section 2; Entra's `emails[type eq "work"].value`).
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

/// Q12: `[{"$ref": null, "value": X}]` (or `[X]`) for a simple single-valued attribute is X.
fn unwrap_simple<'v>(def: &AttributeDef, raw: &'v Value) -> &'v Value {
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
fn with_container<R>(
    work: &mut Map<String, Value>,
    ext: Option<&str>,
    f: impl FnOnce(&mut Map<String, Value>) -> R,
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
    def: &AttributeDef,
    old: Option<&Value>,
    new: Option<&Value>,
    label: &str,
) -> ScimResult<()> {
    if def.mutability == Mutability::Immutable && old.is_some() && old != new {
        return Err(ScimError::mutability(format!(
            "attribute '{label}' is immutable and already has a value"
        )));
    }
    Ok(())
}

fn set_in(
    c: &mut Map<String, Value>,
    mode: Mode,
    t: &Target<'_>,
    raw: &Value,
    label: &str,
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
    c: &mut Map<String, Value>,
    mode: Mode,
    def: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    raw: &Value,
    label: &str,
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

fn remove_in(
    c: &mut Map<String, Value>,
    t: &Target<'_>,
    value: Option<&Value>,
    label: &str,
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
