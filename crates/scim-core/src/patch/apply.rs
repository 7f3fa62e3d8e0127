//! Applying parsed operations to a canonical document (RFC 7644 section 3.5.2): the engine
//! that dispatches each operation, the path-less form, and group membership, which becomes
//! [`MemberChange`]s instead of document edits. The edits of one attribute are in `edit`.

use crate::canon::{
    Loc, Name, canon_attr, canon_member, is_empty, locate_attr, resolve_in, resolve_name,
    unknown_attribute,
};
use crate::error::{ScimError, ScimResult};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::path::PatchPath;
use crate::resource::normalize;
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceKind, registry};
use serde_json::{Map, Value};

use super::edit::{Mode, Target, remove_in, set_in, unwrap_simple, with_container};
use super::parse::pathless_object;
use super::{MemberChange, MemberRef, NULL, PatchOpKind, PatchOperation, PatchOutcome};

/// Applies operations atomically: on error nothing is applied and the input is untouched.
pub fn apply_patch(
    kind: ResourceKind, doc: &Value, ops: &[PatchOperation],
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
    let normalized = normalize(kind, &Value::Object(work))?;
    let changed = normalized.doc != *doc;
    Ok(PatchOutcome {
        doc: normalized.doc,
        changed,
        member_changes: engine.members,
        password: engine.password.or(normalized.password),
    })
}

struct Engine {
    kind: ResourceKind,
    password: Option<String>,
    members: Vec<MemberChange>,
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
    /// (`urn:...:enterprise:2.0:User:employeeNumber`) or an extension URN holding an object:
    /// Entra's path-less `replace` mixes all three in one operation.
    fn apply_pathless(
        &mut self, work: &mut Map<String, Value>, mode: Mode, value: &Value,
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
        &mut self, work: &mut Map<String, Value>, mode: Mode, urn: &'static str, v: &Value,
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
        &mut self, work: &mut Map<String, Value>, mode: Mode, target: &Target<'_>, v: &Value,
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
        &mut self, work: &mut Map<String, Value>, mode: Option<Mode>, path: &PatchPath,
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
        &mut self, work: &mut Map<String, Value>, mode: Mode, t: &Target<'_>, raw: &Value,
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
        &mut self, work: &mut Map<String, Value>, t: &Target<'_>, value: Option<&Value>,
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

    /// `members` operations with a path become [`MemberChange`]s. Entra removes members either
    /// by listing them in `value` or with a `members[value eq "..."]` path, and changes many
    /// members in one PATCH; both forms are accepted.
    fn members_path(
        &mut self, mode: Option<Mode>, t: &Target<'_>, value: Option<&Value>,
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
                    // Entra's legacy form: the members to remove are listed in `value`.
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

/// `value eq "a"` or `value eq "a" or value eq "b" ...` (Entra's filter form of a member
/// removal): the ids.
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
