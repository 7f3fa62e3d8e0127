//! Protocol messages: query and SearchRequest parameters (RFC 7644 sections 3.4.2 and 3.4.3,
//! RFC 9865 section 2), the ListResponse (RFC 7644 section 3.4.2, RFC 9865 section 2.2) and the
//! BulkRequest / BulkResponse pair with `bulkId` references (RFC 7644 section 3.7).
//!
//! Parsing is tolerant where identity providers are known to deviate (parameter and key names
//! in any case, unknown parameters such as Entra's `aadOptscim062020` ignored) and strict
//! where a guess could return the wrong data (a non-numeric `count`, a malformed cursor).

use std::collections::{HashMap, HashSet};

use crate::error::{ScimError, ScimResult, ScimType};
use serde_json::{Map, Value, json};

/// URN of the ListResponse message (RFC 7644 section 3.4.2).
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// URN of the SearchRequest message (RFC 7644 section 3.4.3).
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// URN of the BulkRequest message (RFC 7644 section 3.7).
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// URN of the BulkResponse message (RFC 7644 section 3.7).
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// `sortOrder` (RFC 7644 section 3.4.2.3). Ascending is the default when `sortBy` is given
/// without an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// The parameters of a query, from the URL (`GET /Users?...`) or a SearchRequest body.
///
/// Values are kept as the client sent them; `filter`, `sortBy`, `attributes` and
/// `excludedAttributes` are parsed by their own modules. Paging is normalised as RFC 7644
/// section 3.4.2.4 asks: `startIndex` below 1 becomes 1 and a negative `count` becomes 0. No
/// server cap is applied here; that depends on configuration the caller holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: SortOrder,
    pub start_index: Option<u64>,
    pub count: Option<u64>,
    /// RFC 9865 cursor. `Some("")` is the first page of a cursor-paged query (an empty
    /// `cursor=` parameter); `None` means the client asked for index paging or nothing.
    pub cursor: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

/// One query parameter or SearchRequest key that `ListParams` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Filter,
    SortBy,
    SortOrder,
    StartIndex,
    Count,
    Cursor,
    Attributes,
    ExcludedAttributes,
}

impl Param {
    /// Parameter names are matched case-insensitively: SCIM structural names are not
    /// case-sensitive (RFC 7644 section 3.4.2, interop Q14).
    fn from_name(name: &str) -> Option<Param> {
        const NAMES: [(&str, Param); 8] = [
            ("filter", Param::Filter),
            ("sortBy", Param::SortBy),
            ("sortOrder", Param::SortOrder),
            ("startIndex", Param::StartIndex),
            ("count", Param::Count),
            ("cursor", Param::Cursor),
            ("attributes", Param::Attributes),
            ("excludedAttributes", Param::ExcludedAttributes),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, p)| *p)
    }
}

/// An integer parameter as sent: its sign and magnitude, saturated so that absurdly large
/// values still mean "as many as you allow" rather than an error.
#[derive(Debug, Clone, Copy)]
struct Int {
    negative: bool,
    magnitude: u64,
}

impl Int {
    fn parse(text: &str) -> Option<Int> {
        let text = text.trim();
        let (negative, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let magnitude = digits.parse::<u64>().unwrap_or(u64::MAX);
        Some(Int {
            negative,
            magnitude,
        })
    }

    fn from_json(value: &Value) -> Option<Int> {
        match value {
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Some(Int {
                        negative: false,
                        magnitude: u,
                    })
                } else if let Some(i) = n.as_i64() {
                    Some(Int {
                        negative: i < 0,
                        magnitude: i.unsigned_abs(),
                    })
                } else {
                    // A float is accepted only when it is integral (`10.0`); serialisers in
                    // some client languages emit every number that way.
                    let f = n.as_f64()?;
                    (f.fract() == 0.0 && f.is_finite()).then(|| Int {
                        negative: f < 0.0,
                        // Saturating float-to-int conversion is the intent here.
                        magnitude: f.abs() as u64,
                    })
                }
            }
            Value::String(s) => Int::parse(s),
            _ => None,
        }
    }

    /// `startIndex` (RFC 7644 section 3.4.2.4): "A value less than 1 SHALL be interpreted as 1."
    fn as_start_index(self) -> u64 {
        if self.negative {
            1
        } else {
            self.magnitude.max(1)
        }
    }

    /// `count` (RFC 7644 section 3.4.2.4): "A negative value SHALL be interpreted as 0."
    fn as_count(self) -> u64 {
        if self.negative { 0 } else { self.magnitude }
    }
}

/// Whether `s` consists only of RFC 3986 section 2.3 unreserved characters, the alphabet
/// RFC 9865 section 2.1 allows for cursor values.
fn is_unreserved(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl ListParams {
    /// Parses URL query parameters (already percent-decoded).
    ///
    /// - Names are case-insensitive; unknown names are ignored, so Entra's
    ///   `aadOptscim062020` flag and cache-busting parameters do no harm.
    /// - When a parameter repeats, the last occurrence wins.
    /// - An empty `filter`, `sortBy`, `attributes` or `excludedAttributes` counts as absent;
    ///   an empty `cursor` asks for the first page with cursor paging (RFC 9865 section 2.1).
    /// - `startIndex` and `cursor` together are refused with 400 `invalidValue`: they select
    ///   two different paging methods and RFC 9865 gives no rule to pick one, so answering
    ///   either way could silently skip or repeat resources.
    pub fn from_query(pairs: &[(String, String)]) -> ScimResult<ListParams> {
        let mut params = ListParams::default();
        for (name, value) in pairs {
            let Some(param) = Param::from_name(name) else {
                continue;
            };
            match param {
                Param::StartIndex => {
                    params.start_index = Some(parse_start_index(&Value::String(value.clone()))?)
                }
                Param::Count => params.count = Some(parse_count(&Value::String(value.clone()))?),
                Param::Cursor => params.cursor = Some(parse_cursor(value)?),
                Param::SortOrder => params.sort_order = parse_sort_order(value)?,
                Param::Filter => params.filter = non_empty(value),
                Param::SortBy => params.sort_by = non_empty(value),
                Param::Attributes => params.attributes = non_empty(value),
                Param::ExcludedAttributes => params.excluded_attributes = non_empty(value),
            }
        }
        params.check_paging_method()?;
        Ok(params)
    }

    /// Parses a SearchRequest body (`POST /.search`, RFC 7644 section 3.4.3; RFC 9865 adds
    /// `cursor`).
    ///
    /// Keys are case-insensitive and unknown keys (including `schemas`, which is not checked:
    /// interop Q15) are ignored; a `null` value counts as absent. `attributes` and
    /// `excludedAttributes` may be arrays of strings, as RFC 7644 defines them, or a
    /// comma-separated string as in a URL; `startIndex` and `count` may be numbers or numeric
    /// strings. A body that is not an object is 400 `invalidSyntax`.
    pub fn from_search_body(body: &Value) -> ScimResult<ListParams> {
        let Some(object) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "a SearchRequest body must be a JSON object",
            ));
        };
        let mut params = ListParams::default();
        for (key, value) in object {
            let Some(param) = Param::from_name(key) else {
                continue;
            };
            if value.is_null() {
                continue;
            }
            match param {
                Param::StartIndex => params.start_index = Some(parse_start_index(value)?),
                Param::Count => params.count = Some(parse_count(value)?),
                Param::Cursor => params.cursor = Some(parse_cursor(body_string(key, value)?)?),
                Param::SortOrder => params.sort_order = parse_sort_order(body_string(key, value)?)?,
                Param::Filter => params.filter = non_empty(body_string(key, value)?),
                Param::SortBy => params.sort_by = non_empty(body_string(key, value)?),
                Param::Attributes => params.attributes = attribute_list(key, value)?,
                Param::ExcludedAttributes => {
                    params.excluded_attributes = attribute_list(key, value)?
                }
            }
        }
        params.check_paging_method()?;
        Ok(params)
    }

    fn check_paging_method(&self) -> ScimResult<()> {
        if self.start_index.is_some() && self.cursor.is_some() {
            return Err(ScimError::invalid_value(
                "startIndex and cursor cannot be combined: use startIndex for index paging or cursor for cursor paging",
            ));
        }
        Ok(())
    }
}

fn non_empty(value: &str) -> Option<String> {
    (!value.trim().is_empty()).then(|| value.to_owned())
}

fn parse_start_index(value: &Value) -> ScimResult<u64> {
    Int::from_json(value)
        .map(Int::as_start_index)
        .ok_or_else(|| {
            ScimError::invalid_value(format!("startIndex must be an integer, got {value}"))
        })
}

/// A `count` that is not an integer is RFC 9865's `invalidCount` (section 2.4).
fn parse_count(value: &Value) -> ScimResult<u64> {
    Int::from_json(value).map(Int::as_count).ok_or_else(|| {
        ScimError::bad_request(
            ScimType::InvalidCount,
            format!("count must be an integer, got {value}"),
        )
    })
}

fn parse_cursor(value: &str) -> ScimResult<String> {
    if is_unreserved(value) {
        Ok(value.to_owned())
    } else {
        Err(ScimError::bad_request(
            ScimType::InvalidCursor,
            "cursor may contain only letters, digits, '-', '.', '_' and '~'",
        ))
    }
}

fn parse_sort_order(value: &str) -> ScimResult<SortOrder> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("ascending") {
        Ok(SortOrder::Ascending)
    } else if value.eq_ignore_ascii_case("descending") {
        Ok(SortOrder::Descending)
    } else {
        Err(ScimError::invalid_value(format!(
            "sortOrder must be \"ascending\" or \"descending\", got \"{value}\""
        )))
    }
}

fn body_string<'a>(key: &str, value: &'a Value) -> ScimResult<&'a str> {
    value
        .as_str()
        .ok_or_else(|| ScimError::invalid_value(format!("{key} must be a string")))
}

/// `attributes` / `excludedAttributes` in a SearchRequest: a JSON array of strings per RFC 7644
/// section 3.4.3, or the URL form (one comma-separated string), normalised to the URL form.
fn attribute_list(key: &str, value: &Value) -> ScimResult<Option<String>> {
    match value {
        Value::String(s) => Ok(non_empty(s)),
        Value::Array(items) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                let name = item.as_str().ok_or_else(|| {
                    ScimError::invalid_value(format!("{key} must be an array of strings"))
                })?;
                if !name.trim().is_empty() {
                    names.push(name.trim());
                }
            }
            Ok((!names.is_empty()).then(|| names.join(",")))
        }
        _ => Err(ScimError::invalid_value(format!(
            "{key} must be an array of strings"
        ))),
    }
}

/// A ListResponse (RFC 7644 section 3.4.2; RFC 9865 section 2.2).
///
/// `Resources` is always present, `[]` for zero hits: Entra and Okta expect a ListResponse
/// with `totalResults: 0`, not a 404 or an empty body (interop 2.7.2). `totalResults` is
/// omitted only when the caller passes `None`, which RFC 9865 allows for cursor paging when
/// the total cannot be estimated. `itemsPerPage` is the number of resources on this page.
pub fn list_response(
    resources: Vec<Value>,
    total_results: Option<u64>,
    start_index: Option<u64>,
    next_cursor: Option<String>,
    previous_cursor: Option<String>,
) -> Value {
    let mut body = Map::new();
    body.insert("schemas".into(), json!([LIST_RESPONSE_URN]));
    if let Some(total) = total_results {
        body.insert("totalResults".into(), json!(total));
    }
    body.insert("itemsPerPage".into(), json!(resources.len()));
    if let Some(start) = start_index {
        body.insert("startIndex".into(), json!(start));
    }
    if let Some(next) = next_cursor {
        body.insert("nextCursor".into(), Value::String(next));
    }
    if let Some(previous) = previous_cursor {
        body.insert("previousCursor".into(), Value::String(previous));
    }
    body.insert("Resources".into(), Value::Array(resources));
    Value::Object(body)
}

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
/// `bulkId:` references would otherwise be ambiguous. `schemas` is not checked (interop Q15).
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
    value: &mut Value,
    resolve: &dyn Fn(&str) -> Option<String>,
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

    fn query(pairs: &[(&str, &str)]) -> ScimResult<ListParams> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ListParams::from_query(&pairs)
    }

    fn scim_type(result: ScimResult<impl std::fmt::Debug>) -> (u16, Option<ScimType>) {
        let err = result.expect_err("expected an error");
        (err.status, err.scim_type)
    }

    // ---- from_query ----

    #[test]
    fn query_without_parameters_is_all_defaults() {
        let p = query(&[]).expect("parse");
        assert_eq!(p, ListParams::default());
        assert_eq!(p.sort_order, SortOrder::Ascending);
    }

    #[test]
    fn query_reads_every_parameter() {
        let p = query(&[
            ("filter", "userName eq \"a\""),
            ("sortBy", "name.familyName"),
            ("sortOrder", "descending"),
            ("startIndex", "11"),
            ("count", "5"),
            ("attributes", "userName,emails"),
            ("excludedAttributes", "groups"),
        ])
        .expect("parse");
        assert_eq!(p.filter.as_deref(), Some("userName eq \"a\""));
        assert_eq!(p.sort_by.as_deref(), Some("name.familyName"));
        assert_eq!(p.sort_order, SortOrder::Descending);
        assert_eq!(p.start_index, Some(11));
        assert_eq!(p.count, Some(5));
        assert_eq!(p.cursor, None);
        assert_eq!(p.attributes.as_deref(), Some("userName,emails"));
        assert_eq!(p.excluded_attributes.as_deref(), Some("groups"));
    }

    #[test]
    fn query_parameter_names_are_case_insensitive() {
        let p = query(&[
            ("FILTER", "x pr"),
            ("startindex", "3"),
            ("COUNT", "7"),
            ("SortOrder", "DESCENDING"),
            ("excludedattributes", "members"),
        ])
        .expect("parse");
        assert_eq!(p.filter.as_deref(), Some("x pr"));
        assert_eq!(p.start_index, Some(3));
        assert_eq!(p.count, Some(7));
        assert_eq!(p.sort_order, SortOrder::Descending);
        assert_eq!(p.excluded_attributes.as_deref(), Some("members"));
    }

    #[test]
    fn query_ignores_entra_aad_opt_flag_and_unknown_parameters() {
        let p = query(&[
            ("aadOptscim062020", ""),
            ("filter", "externalId eq \"x\""),
            ("_", "1700000000"),
        ])
        .expect("parse");
        assert_eq!(p.filter.as_deref(), Some("externalId eq \"x\""));
        assert_eq!(p.start_index, None);
    }

    #[test]
    fn query_start_index_below_one_is_one() {
        assert_eq!(
            query(&[("startIndex", "0")]).expect("0").start_index,
            Some(1)
        );
        assert_eq!(
            query(&[("startIndex", "-5")]).expect("-5").start_index,
            Some(1)
        );
    }

    #[test]
    fn query_negative_count_is_zero() {
        assert_eq!(query(&[("count", "-1")]).expect("parse").count, Some(0));
        assert_eq!(query(&[("count", "0")]).expect("parse").count, Some(0));
    }

    #[test]
    fn query_huge_count_saturates_instead_of_failing() {
        let p = query(&[("count", "99999999999999999999999")]).expect("parse");
        assert_eq!(p.count, Some(u64::MAX));
    }

    #[test]
    fn query_non_numeric_start_index_is_invalid_value() {
        for bad in ["abc", "", "1.5", "1e3", "--1"] {
            assert_eq!(
                scim_type(query(&[("startIndex", bad)])),
                (400, Some(ScimType::InvalidValue)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn query_non_numeric_count_is_invalid_count() {
        for bad in ["ten", "", "2.0x"] {
            assert_eq!(
                scim_type(query(&[("count", bad)])),
                (400, Some(ScimType::InvalidCount)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn query_unknown_sort_order_is_invalid_value() {
        assert_eq!(
            scim_type(query(&[("sortOrder", "up")])),
            (400, Some(ScimType::InvalidValue))
        );
    }

    #[test]
    fn query_empty_cursor_asks_for_first_cursor_page() {
        let p = query(&[("cursor", ""), ("count", "10")]).expect("parse");
        assert_eq!(p.cursor.as_deref(), Some(""));
        assert_eq!(p.count, Some(10));
    }

    #[test]
    fn query_cursor_with_unreserved_characters_is_kept_verbatim() {
        let p = query(&[("cursor", "VZUTiy-_.~09az")]).expect("parse");
        assert_eq!(p.cursor.as_deref(), Some("VZUTiy-_.~09az"));
    }

    #[test]
    fn query_cursor_with_reserved_characters_is_invalid_cursor() {
        for bad in ["abc=", "a+b", "a/b", "a b", "é", "a%20b"] {
            assert_eq!(
                scim_type(query(&[("cursor", bad)])),
                (400, Some(ScimType::InvalidCursor)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn query_start_index_with_cursor_is_invalid_value() {
        assert_eq!(
            scim_type(query(&[("startIndex", "1"), ("cursor", "abc")])),
            (400, Some(ScimType::InvalidValue))
        );
    }

    #[test]
    fn query_empty_filter_and_attributes_count_as_absent() {
        let p = query(&[("filter", ""), ("attributes", " "), ("sortBy", "")]).expect("parse");
        assert_eq!(p.filter, None);
        assert_eq!(p.attributes, None);
        assert_eq!(p.sort_by, None);
    }

    #[test]
    fn query_repeated_parameter_takes_last_value() {
        let p = query(&[("count", "5"), ("count", "9")]).expect("parse");
        assert_eq!(p.count, Some(9));
    }

    // ---- from_search_body ----

    #[test]
    fn search_body_reads_rfc_example() {
        let body = json!({
            "schemas": [SEARCH_REQUEST_URN],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10
        });
        let p = ListParams::from_search_body(&body).expect("parse");
        assert_eq!(p.attributes.as_deref(), Some("displayName,userName"));
        assert_eq!(p.filter.as_deref(), Some("displayName sw \"smith\""));
        assert_eq!(p.start_index, Some(1));
        assert_eq!(p.count, Some(10));
    }

    #[test]
    fn search_body_keys_are_case_insensitive_and_unknown_keys_ignored() {
        let body = json!({
            "FILTER": "active eq true",
            "SortBy": "userName",
            "sortorder": "Descending",
            "excludedattributes": "groups, emails",
            "somethingElse": {"x": 1}
        });
        let p = ListParams::from_search_body(&body).expect("parse");
        assert_eq!(p.filter.as_deref(), Some("active eq true"));
        assert_eq!(p.sort_by.as_deref(), Some("userName"));
        assert_eq!(p.sort_order, SortOrder::Descending);
        assert_eq!(p.excluded_attributes.as_deref(), Some("groups, emails"));
    }

    #[test]
    fn search_body_accepts_numeric_strings_and_normalises_paging() {
        let body = json!({"startIndex": "0", "count": "-3"});
        let p = ListParams::from_search_body(&body).expect("parse");
        assert_eq!(p.start_index, Some(1));
        assert_eq!(p.count, Some(0));
        let body = json!({"startIndex": 2.0, "count": -1});
        let p = ListParams::from_search_body(&body).expect("parse");
        assert_eq!(p.start_index, Some(2));
        assert_eq!(p.count, Some(0));
    }

    #[test]
    fn search_body_null_values_count_as_absent() {
        let body = json!({"filter": null, "count": null, "attributes": null});
        assert_eq!(
            ListParams::from_search_body(&body).expect("parse"),
            ListParams::default()
        );
    }

    #[test]
    fn search_body_that_is_not_an_object_is_invalid_syntax() {
        for body in [json!([]), json!("filter"), json!(null), json!(3)] {
            assert_eq!(
                scim_type(ListParams::from_search_body(&body)),
                (400, Some(ScimType::InvalidSyntax))
            );
        }
    }

    #[test]
    fn search_body_wrong_types_are_rejected() {
        let cases = [
            (json!({"count": "many"}), ScimType::InvalidCount),
            (json!({"count": 1.5}), ScimType::InvalidCount),
            (json!({"startIndex": true}), ScimType::InvalidValue),
            (json!({"filter": 3}), ScimType::InvalidValue),
            (json!({"attributes": [1, 2]}), ScimType::InvalidValue),
            (json!({"cursor": "a/b"}), ScimType::InvalidCursor),
            (
                json!({"cursor": "ab", "startIndex": 1}),
                ScimType::InvalidValue,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                scim_type(ListParams::from_search_body(&body)),
                (400, Some(expected)),
                "{body}"
            );
        }
    }

    #[test]
    fn search_body_cursor_is_read() {
        let p = ListParams::from_search_body(&json!({"cursor": "", "count": 2})).expect("parse");
        assert_eq!(p.cursor.as_deref(), Some(""));
    }

    // ---- list_response ----

    #[test]
    fn list_response_with_zero_results_has_empty_resources_and_zero_total() {
        let body = list_response(Vec::new(), Some(0), Some(1), None, None);
        assert_eq!(
            body,
            json!({
                "schemas": [LIST_RESPONSE_URN],
                "totalResults": 0,
                "itemsPerPage": 0,
                "startIndex": 1,
                "Resources": []
            })
        );
    }

    #[test]
    fn list_response_items_per_page_counts_resources() {
        let body = list_response(
            vec![json!({"id": "a"}), json!({"id": "b"})],
            Some(7),
            Some(3),
            None,
            None,
        );
        assert_eq!(body["itemsPerPage"], 2);
        assert_eq!(body["totalResults"], 7);
        assert_eq!(body["startIndex"], 3);
        assert_eq!(body["Resources"][1]["id"], "b");
    }

    #[test]
    fn list_response_for_cursor_paging_omits_total_and_start_index() {
        let body = list_response(
            vec![json!({"id": "a"})],
            None,
            None,
            Some("next1".into()),
            Some("prev0".into()),
        );
        let obj = body.as_object().expect("object");
        assert!(!obj.contains_key("totalResults"));
        assert!(!obj.contains_key("startIndex"));
        assert_eq!(body["nextCursor"], "next1");
        assert_eq!(body["previousCursor"], "prev0");
    }

    #[test]
    fn list_response_last_cursor_page_has_no_next_cursor() {
        let body = list_response(vec![], Some(4), None, None, Some("p".into()));
        assert!(body.get("nextCursor").is_none());
        assert_eq!(body["Resources"], json!([]));
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
