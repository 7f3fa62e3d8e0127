//! Parsing of a PatchOp body (RFC 7644 section 3.5.2): the operations, their `op` (in any
//! case), their `path` (parsed and resolved against the registry) and their `value`.

use crate::canon::{is_empty, locate_attr};
use crate::error::{ScimError, ScimResult};
use crate::filter::{Filter, resolve_value_filter};
use crate::path::{AttrPath, PatchPath, parse_patch_path};
use crate::schema::{AttrType, AttributeDef, ResourceKind, registry};
use serde_json::{Map, Value};

use super::{PatchOpKind, PatchOperation, get_ci};

/// Parses a PatchOp body (`invalidSyntax` / `invalidPath` / `invalidValue` on error).
pub fn parse_patch(kind: ResourceKind, body: &Value) -> ScimResult<Vec<PatchOperation>> {
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
        // Entra's legacy default sends `Add`, `Replace`, `Remove`.
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
/// one-element array, the legacy Microsoft SCIM library's shape).
pub(super) fn pathless_object(v: &Value) -> Option<&Map<String, Value>> {
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
