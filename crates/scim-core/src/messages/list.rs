//! Query and SearchRequest parameters (RFC 7644 sections 3.4.2 and 3.4.3, RFC 9865 section 2)
//! and the ListResponse (RFC 7644 section 3.4.2, RFC 9865 section 2.2).

use crate::error::{ScimError, ScimResult, ScimType};
use serde_json::{Map, Value, json};

use super::Int;

/// URN of the ListResponse message (RFC 7644 section 3.4.2).
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// URN of the SearchRequest message (RFC 7644 section 3.4.3).
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

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
    /// case-sensitive (RFC 7644 section 3.4.2; Microsoft's guidance for Entra says the same).
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
    /// Entra's requests list schema URNs freely) are ignored; a `null` value counts as absent. `attributes` and
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
/// with `totalResults: 0`, not a 404 or an empty body. `totalResults` is
/// omitted only when the caller passes `None`, which RFC 9865 allows for cursor paging when
/// the total cannot be estimated. `itemsPerPage` is the number of resources on this page.
pub fn list_response(
    resources: Vec<Value>, total_results: Option<u64>, start_index: Option<u64>,
    next_cursor: Option<String>, previous_cursor: Option<String>,
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
}
