//! The BulkRequest / BulkResponse pair and `bulkId` references (RFC 7644 section 3.7).

use std::collections::{HashMap, HashSet};

use crate::error::{ScimError, ScimResult};
use serde_json::{Map, Value, json};

use super::Int;

/// URN of the BulkRequest message (RFC 7644 section 3.7).
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// URN of the BulkResponse message (RFC 7644 section 3.7).
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// The HTTP method of one bulk operation (RFC 7644 section 3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    /// The method as written in a BulkResponse.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }

    /// Case-insensitive: RFC 7644 does not say methods in a body are case-sensitive, and
    /// clients that write `"post"` exist.
    pub fn parse(text: &str) -> Option<BulkMethod> {
        [
            BulkMethod::Post,
            BulkMethod::Put,
            BulkMethod::Patch,
            BulkMethod::Delete,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// One operation of a BulkRequest.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    pub method: BulkMethod,
    /// Required for POST so later operations can refer to the new resource.
    pub bulk_id: Option<String>,
    /// The `If-Match` precondition for PUT, PATCH and DELETE (RFC 7644 section 3.7).
    pub version: Option<String>,
    /// Relative to the base URL, e.g. `/Users` or `/Groups/{id}`; always starts with `/`.
    pub path: String,
    /// The body a standalone request would carry; present for POST, PUT and PATCH.
    pub data: Option<Value>,
}

/// A parsed BulkRequest.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many errors (RFC 7644 section 3.7); `None` means process every
    /// operation whatever fails.
    pub fail_on_errors: Option<u64>,
    pub operations: Vec<BulkOperation>,
}

/// Looks a key up case-insensitively (RFC 7643 section 2.1: attribute names are
/// case-insensitive), treating `null` as absent.
fn get_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

/// Parses a BulkRequest body (RFC 7644 section 3.7).
///
/// Errors: a body that is not an object or has no `Operations` array is 400 `invalidSyntax`;
/// more than `max_operations` operations is 413 (RFC 7644 section 3.7.4), checked before any
/// operation is looked at; a malformed operation is 400 `invalidValue` naming its index. An
/// operation that is missing a required member (`method`, `path`, `bulkId` for POST, `data` for
/// POST, PUT and PATCH) or repeats another operation's `bulkId` is refused, since later
/// `bulkId:` references would otherwise be ambiguous. `schemas` is not checked: clients list
/// schema URNs freely, and the body's shape is unambiguous.
pub fn parse_bulk(body: &Value, max_operations: usize) -> ScimResult<BulkRequest> {
    let Some(object) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "a BulkRequest body must be a JSON object",
        ));
    };
    let Some(Value::Array(items)) = get_ci(object, "Operations") else {
        return Err(ScimError::invalid_syntax(
            "a BulkRequest must have an \"Operations\" array",
        ));
    };
    if items.len() > max_operations {
        return Err(ScimError::payload_too_large(format!(
            "the bulk request has {} operations; the maximum is {max_operations}",
            items.len()
        )));
    }
    let fail_on_errors = match get_ci(object, "failOnErrors") {
        None => None,
        Some(v) => match Int::from_json(v) {
            Some(n) if !n.negative => Some(n.magnitude),
            _ => {
                return Err(ScimError::invalid_value(
                    "failOnErrors must be a non-negative integer",
                ));
            }
        },
    };
    let mut seen_bulk_ids = HashSet::new();
    let mut operations = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let op = parse_bulk_operation(index, item)?;
        if let Some(id) = &op.bulk_id
            && !seen_bulk_ids.insert(id.clone())
        {
            return Err(ScimError::invalid_value(format!(
                "Operations[{index}]: bulkId \"{id}\" is used by an earlier operation"
            )));
        }
        operations.push(op);
    }
    Ok(BulkRequest {
        fail_on_errors,
        operations,
    })
}

fn parse_bulk_operation(index: usize, item: &Value) -> ScimResult<BulkOperation> {
    let bad = |what: &str| ScimError::invalid_value(format!("Operations[{index}]: {what}"));
    let Some(op) = item.as_object() else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{index}] must be a JSON object"
        )));
    };
    let optional_string = |key: &str| -> ScimResult<Option<String>> {
        match get_ci(op, key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&format!("{key} must be a string"))),
        }
    };

    let method = match get_ci(op, "method") {
        None => return Err(bad("method is required")),
        Some(Value::String(s)) => BulkMethod::parse(s).ok_or_else(|| {
            bad(&format!(
                "method must be POST, PUT, PATCH or DELETE, got \"{s}\""
            ))
        })?,
        Some(_) => return Err(bad("method must be a string")),
    };
    let path = optional_string("path")?.ok_or_else(|| bad("path is required"))?;
    if !path.starts_with('/') {
        return Err(bad(&format!(
            "path must start with \"/\" (for example \"/Users\"), got \"{path}\""
        )));
    }
    let bulk_id = optional_string("bulkId")?;
    if bulk_id.as_deref().is_some_and(str::is_empty) {
        return Err(bad("bulkId must not be empty"));
    }
    if method == BulkMethod::Post && bulk_id.is_none() {
        return Err(bad("bulkId is required for POST"));
    }
    let version = optional_string("version")?;
    let data = get_ci(op, "data").cloned();
    if method != BulkMethod::Delete && data.is_none() {
        return Err(bad(&format!("data is required for {}", method.as_str())));
    }
    Ok(BulkOperation {
        method,
        bulk_id,
        version,
        path,
        data,
    })
}

/// The outcome of one bulk operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOpResult {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    /// The resource's URL; absent when the operation failed before a resource existed.
    pub location: Option<String>,
    pub version: Option<String>,
    pub status: u16,
    /// An Error body for a failed operation; successful operations carry none.
    pub response: Option<Value>,
}

/// A BulkResponse (RFC 7644 section 3.7.3). `status` is a string, as in the RFC's examples
/// and in the Error message.
pub fn bulk_response(results: &[BulkOpResult]) -> Value {
    let operations: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut op = Map::new();
            if let Some(location) = &r.location {
                op.insert("location".into(), Value::String(location.clone()));
            }
            op.insert("method".into(), Value::String(r.method.as_str().into()));
            if let Some(bulk_id) = &r.bulk_id {
                op.insert("bulkId".into(), Value::String(bulk_id.clone()));
            }
            if let Some(version) = &r.version {
                op.insert("version".into(), Value::String(version.clone()));
            }
            op.insert("status".into(), Value::String(r.status.to_string()));
            if let Some(response) = &r.response {
                op.insert("response".into(), response.clone());
            }
            Value::Object(op)
        })
        .collect();
    json!({
        "schemas": [BULK_RESPONSE_URN],
        "Operations": operations,
    })
}

/// Prefix of a reference to a resource created earlier in the same BulkRequest.
const BULK_ID_PREFIX: &str = "bulkId:";

/// The bulkId named by `s` if it is exactly `bulkId:<id>` with a non-empty id.
fn bulk_ref(s: &str) -> Option<&str> {
    s.strip_prefix(BULK_ID_PREFIX).filter(|id| !id.is_empty())
}

fn visit_strings<'a>(value: &'a Value, f: &mut dyn FnMut(&'a str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| visit_strings(v, f)),
        Value::Object(map) => map.values().for_each(|v| visit_strings(v, f)),
        _ => {}
    }
}

fn visit_strings_mut(value: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|v| visit_strings_mut(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| visit_strings_mut(v, f)),
        _ => {}
    }
}

/// The bulkIds that `value` refers to with `bulkId:<id>` strings anywhere in it, each once, in
/// order of first appearance. The bulk executor uses this to order operations and to detect
/// circular references (RFC 7644 section 3.7.1).
pub fn bulk_id_refs(value: &Value) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut refs = Vec::new();
    visit_strings(value, &mut |s| {
        if let Some(id) = bulk_ref(s)
            && seen.insert(id)
        {
            refs.push(id.to_owned());
        }
    });
    refs
}

/// Replaces every string of the exact form `bulkId:<id>` anywhere in `value` (object values at
/// any depth, array items) with `resolve(id)`, the id of the resource that operation created
/// (RFC 7644 section 3.7.2). Object keys are never rewritten.
///
/// If any reference cannot be resolved, returns `Err` with the first such bulkId and leaves
/// `value` untouched, so the operation can be reported as failed with its data intact.
pub fn replace_bulk_ids(
    value: &mut Value, resolve: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let mut resolved = HashMap::new();
    for id in bulk_id_refs(value) {
        let target = resolve(&id).ok_or_else(|| id.clone())?;
        resolved.insert(id, target);
    }
    if resolved.is_empty() {
        return Ok(());
    }
    visit_strings_mut(value, &mut |s| {
        if let Some(target) = bulk_ref(s).and_then(|id| resolved.get(id)) {
            *s = target.clone();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;

    fn scim_type(result: ScimResult<impl std::fmt::Debug>) -> (u16, Option<ScimType>) {
        let err = result.expect_err("expected an error");
        (err.status, err.scim_type)
    }

    // ---- parse_bulk ----

    fn rfc_bulk_request() -> Value {
        json!({
            "schemas": [BULK_REQUEST_URN],
            "failOnErrors": 1,
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "qwerty",
                    "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}
                },
                {
                    "method": "PUT",
                    "path": "/Users/b7c14771-226c-4d05-8860-134711653041",
                    "version": "W/\"3694e05e9dff591\"",
                    "data": {"userName": "Bob"}
                },
                {
                    "method": "PATCH",
                    "path": "/Groups/e9e30dba",
                    "data": {"Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:qwerty"}]}]}
                },
                {
                    "method": "DELETE",
                    "path": "/Users/5d8d29d3",
                    "version": "W/\"0ee8add0a938e1a\""
                }
            ]
        })
    }

    #[test]
    fn parse_bulk_reads_every_method() {
        let req = parse_bulk(&rfc_bulk_request(), 10).expect("parse");
        assert_eq!(req.fail_on_errors, Some(1));
        let methods: Vec<BulkMethod> = req.operations.iter().map(|o| o.method).collect();
        assert_eq!(
            methods,
            [
                BulkMethod::Post,
                BulkMethod::Put,
                BulkMethod::Patch,
                BulkMethod::Delete
            ]
        );
        assert_eq!(req.operations[0].bulk_id.as_deref(), Some("qwerty"));
        assert_eq!(req.operations[0].path, "/Users");
        assert_eq!(
            req.operations[1].version.as_deref(),
            Some("W/\"3694e05e9dff591\"")
        );
        assert_eq!(req.operations[1].data, Some(json!({"userName": "Bob"})));
        assert_eq!(req.operations[3].data, None);
    }

    #[test]
    fn parse_bulk_keys_and_methods_are_case_insensitive() {
        let body = json!({
            "operations": [{"METHOD": "post", "Path": "/Groups", "BULKID": "g1", "Data": {}}],
            "FailOnErrors": "2"
        });
        let req = parse_bulk(&body, 10).expect("parse");
        assert_eq!(req.fail_on_errors, Some(2));
        assert_eq!(req.operations[0].method, BulkMethod::Post);
        assert_eq!(req.operations[0].bulk_id.as_deref(), Some("g1"));
    }

    #[test]
    fn parse_bulk_without_fail_on_errors_is_none() {
        let body = json!({"Operations": []});
        let req = parse_bulk(&body, 10).expect("parse");
        assert_eq!(req.fail_on_errors, None);
        assert!(req.operations.is_empty());
    }

    #[test]
    fn parse_bulk_not_an_object_or_without_operations_is_invalid_syntax() {
        for body in [
            json!([]),
            json!({}),
            json!({"Operations": {}}),
            json!({"Operations": null}),
            json!({"Operations": [42]}),
        ] {
            assert_eq!(
                scim_type(parse_bulk(&body, 10)),
                (400, Some(ScimType::InvalidSyntax)),
                "{body}"
            );
        }
    }

    #[test]
    fn parse_bulk_over_max_operations_is_413_naming_the_limit() {
        let err = parse_bulk(&rfc_bulk_request(), 3).expect_err("too many");
        assert_eq!(err.status, 413);
        assert_eq!(err.scim_type, None);
        assert!(err.detail.contains('3'), "{}", err.detail);
        assert!(err.detail.contains('4'), "{}", err.detail);
    }

    #[test]
    fn parse_bulk_post_without_bulk_id_is_invalid_value() {
        let body = json!({"Operations": [{"method": "POST", "path": "/Users", "data": {}}]});
        let err = parse_bulk(&body, 10).expect_err("no bulkId");
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        assert!(err.detail.contains("Operations[0]"), "{}", err.detail);
        assert!(err.detail.contains("bulkId"), "{}", err.detail);
    }

    #[test]
    fn parse_bulk_malformed_operations_are_invalid_value() {
        let cases = [
            json!({"path": "/Users/1"}),
            json!({"method": "GET", "path": "/Users/1"}),
            json!({"method": 1, "path": "/Users/1"}),
            json!({"method": "DELETE"}),
            json!({"method": "DELETE", "path": "Users/1"}),
            json!({"method": "DELETE", "path": "https://x/Users/1"}),
            json!({"method": "PUT", "path": "/Users/1"}),
            json!({"method": "DELETE", "path": "/Users/1", "version": 3}),
            json!({"method": "POST", "path": "/Users", "bulkId": "", "data": {}}),
        ];
        for op in cases {
            let body = json!({"Operations": [op]});
            assert_eq!(
                scim_type(parse_bulk(&body, 10)),
                (400, Some(ScimType::InvalidValue)),
                "{body}"
            );
        }
    }

    #[test]
    fn parse_bulk_duplicate_bulk_id_is_invalid_value() {
        let body = json!({"Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}},
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {}}
        ]});
        let err = parse_bulk(&body, 10).expect_err("duplicate");
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        assert!(err.detail.contains("Operations[1]"), "{}", err.detail);
    }

    #[test]
    fn parse_bulk_negative_fail_on_errors_is_invalid_value() {
        let body = json!({"failOnErrors": -1, "Operations": []});
        assert_eq!(
            scim_type(parse_bulk(&body, 10)),
            (400, Some(ScimType::InvalidValue))
        );
    }

    // ---- bulk_response ----

    #[test]
    fn bulk_response_writes_status_as_string_and_omits_absent_fields() {
        let results = [
            BulkOpResult {
                method: BulkMethod::Post,
                bulk_id: Some("qwerty".into()),
                location: Some("https://example.com/v2/Users/92b7".into()),
                version: Some("W/\"oY4m4wn58tkVjJxK\"".into()),
                status: 201,
                response: None,
            },
            BulkOpResult {
                method: BulkMethod::Delete,
                bulk_id: None,
                location: None,
                version: None,
                status: 404,
                response: Some(ScimError::not_found("no such user").to_json()),
            },
        ];
        let body = bulk_response(&results);
        assert_eq!(body["schemas"], json!([BULK_RESPONSE_URN]));
        assert_eq!(
            body["Operations"][0],
            json!({
                "location": "https://example.com/v2/Users/92b7",
                "method": "POST",
                "bulkId": "qwerty",
                "version": "W/\"oY4m4wn58tkVjJxK\"",
                "status": "201"
            })
        );
        let failed = body["Operations"][1].as_object().expect("object");
        assert_eq!(failed["status"], "404");
        assert_eq!(failed["method"], "DELETE");
        assert_eq!(failed["response"]["status"], "404");
        assert!(!failed.contains_key("location"));
        assert!(!failed.contains_key("bulkId"));
    }

    #[test]
    fn bulk_response_with_no_results_has_empty_operations() {
        assert_eq!(bulk_response(&[])["Operations"], json!([]));
    }

    // ---- bulkId references ----

    #[test]
    fn replace_bulk_ids_rewrites_references_nested_in_members() {
        let mut data = json!({
            "displayName": "Tour Guides",
            "members": [
                {"type": "User", "value": "bulkId:qwerty"},
                {"type": "Group", "value": "bulkId:ytrewq"},
                {"type": "User", "value": "existing-id"}
            ]
        });
        let resolve = |id: &str| match id {
            "qwerty" => Some("92b725cd".to_owned()),
            "ytrewq" => Some("e9e30dba".to_owned()),
            _ => None,
        };
        replace_bulk_ids(&mut data, &resolve).expect("resolved");
        assert_eq!(data["members"][0]["value"], "92b725cd");
        assert_eq!(data["members"][1]["value"], "e9e30dba");
        assert_eq!(data["members"][2]["value"], "existing-id");
    }

    #[test]
    fn replace_bulk_ids_reaches_patch_values_and_plain_arrays() {
        let mut data = json!({
            "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:a"}]}],
            "tags": ["bulkId:a", "keep"]
        });
        replace_bulk_ids(&mut data, &|_| Some("X".to_owned())).expect("resolved");
        assert_eq!(data["Operations"][0]["value"][0]["value"], "X");
        assert_eq!(data["tags"], json!(["X", "keep"]));
    }

    #[test]
    fn replace_bulk_ids_leaves_non_references_alone() {
        let original = json!({
            "a": "bulkId:",
            "b": "BULKID:x",
            "c": "prefix bulkId:x",
            "d": "bulkid:x",
            "bulkId:key": 1,
            "e": [1, true, null]
        });
        let mut data = original.clone();
        replace_bulk_ids(&mut data, &|_| Some("X".to_owned())).expect("nothing to resolve");
        assert_eq!(data, original);
    }

    #[test]
    fn replace_bulk_ids_unresolved_reference_is_reported_and_value_untouched() {
        let original = json!({"members": [{"value": "bulkId:known"}, {"value": "bulkId:missing"}]});
        let mut data = original.clone();
        let resolve = |id: &str| (id == "known").then(|| "1".to_owned());
        assert_eq!(
            replace_bulk_ids(&mut data, &resolve),
            Err("missing".to_owned())
        );
        assert_eq!(data, original);
    }

    #[test]
    fn replace_bulk_ids_on_a_bare_string_value() {
        let mut data = json!("bulkId:m");
        replace_bulk_ids(&mut data, &|_| Some("mgr".to_owned())).expect("resolved");
        assert_eq!(data, json!("mgr"));
    }

    #[test]
    fn bulk_id_refs_lists_each_reference_once_in_order() {
        let data = json!({
            "manager": {"value": "bulkId:m"},
            "members": [{"value": "bulkId:b"}, {"value": "bulkId:a"}, {"value": "bulkId:b"}],
            "other": "not-a-ref"
        });
        assert_eq!(bulk_id_refs(&data), ["m", "b", "a"]);
        assert!(bulk_id_refs(&json!({"x": [1, 2]})).is_empty());
    }
}
