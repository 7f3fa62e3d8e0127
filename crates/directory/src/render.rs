//! Turning a stored resource into the SCIM representation clients see: the canonical document
//! plus `id`, derived `members` / `groups`, and `meta` (RFC 7643 section 3.1).

use crate::store::StoredResource;
use scim_core::schema::ResourceKind;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The weak ETag / `meta.version` of a resource version (RFC 7644 section 3.14).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` / `If-None-Match` header value names `version` (`*` names any).
pub fn etag_list_matches(header: &str, version: i64) -> bool {
    let current = etag(version);
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current || t.strip_prefix("W/").unwrap_or(t) == &current[2..])
}

/// RFC 3339 timestamp as SCIM renders it.
pub fn timestamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The resource's URL below `base_url`.
pub fn location(base_url: &str, kind: ResourceKind, id: &impl std::fmt::Display) -> String {
    format!("{base_url}{}/{id}", kind.endpoint())
}

/// Renders the full representation; projection is applied afterwards by the caller.
pub fn render(r: &StoredResource, base_url: &str) -> Value {
    render_doc(r, r.doc.clone(), base_url)
}

/// [`render`] for a resource that is not needed afterwards: its document is moved, not copied.
pub fn into_rendered(mut r: StoredResource, base_url: &str) -> Value {
    let doc = std::mem::take(&mut r.doc);
    render_doc(&r, doc, base_url)
}

fn render_doc(r: &StoredResource, doc: Value, base_url: &str) -> Value {
    let mut out = Map::with_capacity(16);
    let mut fields = match doc {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let schemas = match fields.get_mut("schemas") {
        Some(s) => s.take(),
        None => json!([r.kind.core_urn()]),
    };
    out.insert("schemas".into(), schemas);
    out.insert("id".into(), Value::String(r.id.to_string()));
    for (k, v) in fields {
        if k != "schemas" {
            out.insert(k, v);
        }
    }
    if let Some(members) = &r.members {
        let list: Vec<Value> = members
            .iter()
            .map(|m| {
                let mut o = json!({
                    "value": m.id.to_string(),
                    "$ref": location(base_url, m.kind, &m.id),
                    "type": m.kind.name(),
                });
                if let Some(d) = &m.display {
                    o["display"] = Value::String(d.clone());
                }
                o
            })
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    if let Some(groups) = r.groups.as_ref().filter(|g| !g.is_empty()) {
        let list: Vec<Value> = groups
            .iter()
            .map(|g| {
                let mut o = json!({
                    "value": g.id.to_string(),
                    "$ref": location(base_url, ResourceKind::Group, &g.id),
                    "type": "direct",
                });
                if let Some(d) = &g.display {
                    o["display"] = Value::String(d.clone());
                }
                o
            })
            .collect();
        out.insert("groups".into(), Value::Array(list));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": r.kind.name(),
            "created": timestamp(r.created),
            "lastModified": timestamp(r.last_modified),
            "location": location(base_url, r.kind, &r.id),
            "version": etag(r.version),
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_matching_accepts_weak_strong_and_star() {
        assert!(etag_list_matches("W/\"3\"", 3));
        assert!(etag_list_matches("\"3\"", 3));
        assert!(etag_list_matches("*", 9));
        assert!(etag_list_matches("W/\"1\", W/\"3\"", 3));
        assert!(!etag_list_matches("W/\"2\"", 3));
    }
}
