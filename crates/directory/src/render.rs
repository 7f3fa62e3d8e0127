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
    // The stored document becomes the response in place (no second map): `schemas` first,
    // then `id`, then the stored attributes in their order, the relations and `meta`.
    let mut out = match doc {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if out.keys().next().map(String::as_str) != Some("schemas") {
        let schemas = out
            .shift_remove("schemas")
            .unwrap_or_else(|| json!([r.kind.core_urn()]));
        out.shift_insert(0, "schemas".into(), schemas);
    }
    out.shift_insert(1, "id".into(), Value::String(r.id.to_string()));
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

    fn user(doc: Value) -> StoredResource {
        StoredResource {
            id: crate::ResourceId::new(),
            kind: ResourceKind::User,
            doc,
            version: 4,
            created: OffsetDateTime::UNIX_EPOCH,
            last_modified: OffsetDateTime::UNIX_EPOCH,
            members: None,
            groups: Some(Vec::new()),
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn schemas_then_id_then_the_stored_order_then_meta() {
        let r = user(json!({
            "userName": "a@example.com",
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "active": true,
            "displayName": "A",
        }));
        let out = into_rendered(r.clone(), "https://h/scim/v2");
        assert_eq!(
            keys(&out),
            ["schemas", "id", "userName", "active", "displayName", "meta"]
        );
        assert_eq!(out["id"], r.id.to_string());
        assert_eq!(out["meta"]["version"], "W/\"4\"");
        assert_eq!(out, render(&r, "https://h/scim/v2"));
        // No stored `schemas`: the core URN; an empty list of groups is left out.
        let bare = into_rendered(user(json!({ "userName": "b" })), "https://h/scim/v2");
        assert_eq!(keys(&bare), ["schemas", "id", "userName", "meta"]);
        assert_eq!(bare["schemas"], json!([ResourceKind::User.core_urn()]));
    }
}
