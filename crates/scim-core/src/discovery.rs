//! Discovery documents: `/ServiceProviderConfig` (RFC 7643 section 5, with the RFC 9865
//! section 3 `pagination` block), `/ResourceTypes` (RFC 7643 section 6) and `/Schemas`
//! (RFC 7643 sections 7 and 8.7), all rendered from the schema registry so they cannot drift
//! from what the server enforces.
//!
//! These are pure functions of their inputs; the server renders them once per base URL and
//! caches the bytes. Characteristics are written in the camelCase of RFC 7643 section 8.7.1
//! and absent optional members are omitted rather than written as `null`, which Entra's
//! validator checks.

use crate::messages::list_response;
use crate::schema::{
    AttrType, AttributeDef, RESOURCE_TYPE_URN, ResourceKind, SCHEMA_URN, SPC_URN, SchemaDef,
    registry,
};
use serde_json::{Map, Value, json};

/// The limits and options advertised in the ServiceProviderConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `bulk.maxOperations` (RFC 7643 section 5).
    pub bulk_max_operations: usize,
    /// `bulk.maxPayloadSize`, in bytes (RFC 7643 section 5).
    pub bulk_max_payload_bytes: usize,
    /// `filter.maxResults` (RFC 7643 section 5).
    pub filter_max_results: usize,
    /// `pagination.defaultPageSize` (RFC 9865 section 3).
    pub default_page_size: usize,
    /// `pagination.maxPageSize` (RFC 9865 section 3).
    pub max_page_size: usize,
    /// `pagination.cursorTimeout`, in seconds (RFC 9865 section 3).
    pub cursor_timeout_secs: u64,
    /// `documentationUri`; omitted from the document when `None`.
    pub documentation_uri: Option<String>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            bulk_max_operations: 1000,
            bulk_max_payload_bytes: 1_048_576,
            filter_max_results: 1000,
            default_page_size: 100,
            max_page_size: 1000,
            cursor_timeout_secs: 3600,
            documentation_uri: None,
        }
    }
}

/// A base URL without trailing slashes, so `location`s never contain `//`.
fn base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

fn meta(resource_type: &str, location: String) -> Value {
    json!({ "resourceType": resource_type, "location": location })
}

/// The ServiceProviderConfig resource (RFC 7643 section 5).
///
/// Pagination (RFC 9865 section 3) advertises both methods with index as the default:
/// Entra and Okta page by `startIndex`/`count` and must keep working unchanged.
pub fn service_provider_config(cfg: &ServiceConfig, base_url: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([SPC_URN]));
    if let Some(uri) = &cfg.documentation_uri {
        doc.insert("documentationUri".into(), Value::String(uri.clone()));
    }
    doc.insert("patch".into(), json!({ "supported": true }));
    doc.insert(
        "bulk".into(),
        json!({
            "supported": true,
            "maxOperations": cfg.bulk_max_operations,
            "maxPayloadSize": cfg.bulk_max_payload_bytes,
        }),
    );
    doc.insert(
        "filter".into(),
        json!({ "supported": true, "maxResults": cfg.filter_max_results }),
    );
    doc.insert("changePassword".into(), json!({ "supported": false }));
    doc.insert("sort".into(), json!({ "supported": true }));
    doc.insert("etag".into(), json!({ "supported": true }));
    doc.insert(
        "authenticationSchemes".into(),
        json!([{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication by a bearer token generated in the scimd console or CLI.",
            "primary": true,
        }]),
    );
    doc.insert(
        "pagination".into(),
        json!({
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": cfg.default_page_size,
            "maxPageSize": cfg.max_page_size,
            "cursorTimeout": cfg.cursor_timeout_secs,
        }),
    );
    doc.insert(
        "meta".into(),
        meta(
            "ServiceProviderConfig",
            format!("{}/ServiceProviderConfig", base(base_url)),
        ),
    );
    Value::Object(doc)
}

const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

fn resource_type_doc(kind: ResourceKind, base_url: &str) -> Value {
    let reg = registry();
    let core = reg.core(kind);
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([RESOURCE_TYPE_URN]));
    doc.insert("id".into(), json!(kind.name()));
    doc.insert("name".into(), json!(kind.name()));
    doc.insert("endpoint".into(), json!(kind.endpoint()));
    doc.insert("description".into(), json!(core.description));
    doc.insert("schema".into(), json!(core.id));
    let extensions = reg.extensions(kind);
    if !extensions.is_empty() {
        // No extension is required: identity providers that know nothing of the enterprise
        // schema must still be able to create users.
        let list: Vec<Value> = extensions
            .iter()
            .map(|ext| json!({ "schema": ext.id, "required": false }))
            .collect();
        doc.insert("schemaExtensions".into(), Value::Array(list));
    }
    doc.insert(
        "meta".into(),
        meta(
            "ResourceType",
            format!("{}/ResourceTypes/{}", base(base_url), kind.name()),
        ),
    );
    Value::Object(doc)
}

/// Every ResourceType resource (RFC 7643 section 6): User (with the enterprise extension,
/// optional) and Group.
pub fn resource_types(base_url: &str) -> Vec<Value> {
    KINDS
        .iter()
        .map(|kind| resource_type_doc(*kind, base_url))
        .collect()
}

/// The ResourceType with this id (`User` or `Group`). The match is exact, as for any resource
/// id: ids are compared as served.
pub fn resource_type(id: &str, base_url: &str) -> Option<Value> {
    KINDS
        .iter()
        .find(|kind| kind.name() == id)
        .map(|kind| resource_type_doc(*kind, base_url))
}

/// One attribute definition in the form of RFC 7643 section 7: `canonicalValues`,
/// `referenceTypes` and `subAttributes` appear only when they have content.
fn attribute_doc(attr: &AttributeDef) -> Value {
    let mut doc = Map::new();
    doc.insert("name".into(), json!(attr.name));
    doc.insert("type".into(), json!(attr.ty.as_str()));
    doc.insert("multiValued".into(), json!(attr.multi_valued));
    doc.insert("description".into(), json!(attr.description));
    doc.insert("required".into(), json!(attr.required));
    if !attr.canonical_values.is_empty() {
        doc.insert("canonicalValues".into(), json!(attr.canonical_values));
    }
    doc.insert("caseExact".into(), json!(attr.case_exact));
    doc.insert("mutability".into(), json!(attr.mutability.as_str()));
    doc.insert("returned".into(), json!(attr.returned.as_str()));
    doc.insert("uniqueness".into(), json!(attr.uniqueness.as_str()));
    if !attr.reference_types.is_empty() {
        doc.insert("referenceTypes".into(), json!(attr.reference_types));
    }
    if attr.ty == AttrType::Complex && !attr.sub_attributes.is_empty() {
        let subs: Vec<Value> = attr.sub_attributes.iter().map(attribute_doc).collect();
        doc.insert("subAttributes".into(), Value::Array(subs));
    }
    Value::Object(doc)
}

fn schema_doc(schema: &SchemaDef, base_url: &str) -> Value {
    let attributes: Vec<Value> = schema.attributes.iter().map(attribute_doc).collect();
    json!({
        "schemas": [SCHEMA_URN],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": attributes,
        "meta": meta("Schema", format!("{}/Schemas/{}", base(base_url), schema.id)),
    })
}

fn served_schemas() -> [&'static SchemaDef; 3] {
    let reg = registry();
    [&reg.user, &reg.enterprise, &reg.group]
}

/// Every Schema resource (RFC 7643 section 7): User, EnterpriseUser and Group.
///
/// The common attributes (`id`, `externalId`, `meta`) belong to no schema (RFC 7643
/// section 3.1) and are deliberately not listed, as in the RFC's section 8.7.1 example.
pub fn schemas(base_url: &str) -> Vec<Value> {
    served_schemas()
        .iter()
        .map(|s| schema_doc(s, base_url))
        .collect()
}

/// The Schema resource whose id is `id`. Schema URNs are matched case-insensitively, as
/// everywhere else in SCIM (RFC 7643 section 2.1); the document carries the canonical spelling.
pub fn schema(id: &str, base_url: &str) -> Option<Value> {
    served_schemas()
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| schema_doc(s, base_url))
}

/// A ListResponse of discovery resources. Discovery endpoints ignore paging (RFC 7644
/// section 4), so every resource is on the one page starting at 1.
pub fn list_of(resources: Vec<Value>) -> Value {
    let total = resources.len() as u64;
    list_response(resources, Some(total), Some(1), None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_URN, GROUP_URN, USER_URN};

    const BASE: &str = "https://scim.example.com/scim/v2";

    #[test]
    fn documentation_uri_is_omitted_when_unset_and_written_when_set() {
        let doc = service_provider_config(&ServiceConfig::default(), BASE);
        assert!(doc.get("documentationUri").is_none());
        let cfg = ServiceConfig {
            documentation_uri: Some("https://docs.example.com/scim".into()),
            ..ServiceConfig::default()
        };
        let doc = service_provider_config(&cfg, BASE);
        assert_eq!(doc["documentationUri"], "https://docs.example.com/scim");
    }

    #[test]
    fn service_provider_config_reflects_configured_limits() {
        let cfg = ServiceConfig {
            bulk_max_operations: 7,
            bulk_max_payload_bytes: 2048,
            filter_max_results: 50,
            default_page_size: 20,
            max_page_size: 200,
            cursor_timeout_secs: 60,
            documentation_uri: None,
        };
        let doc = service_provider_config(&cfg, BASE);
        assert_eq!(doc["bulk"]["maxOperations"], 7);
        assert_eq!(doc["bulk"]["maxPayloadSize"], 2048);
        assert_eq!(doc["filter"]["maxResults"], 50);
        assert_eq!(doc["pagination"]["defaultPageSize"], 20);
        assert_eq!(doc["pagination"]["maxPageSize"], 200);
        assert_eq!(doc["pagination"]["cursorTimeout"], 60);
        assert_eq!(doc["pagination"]["defaultPaginationMethod"], "index");
    }

    #[test]
    fn trailing_slash_in_base_url_does_not_double_up() {
        let doc = service_provider_config(&ServiceConfig::default(), "https://h/scim/v2/");
        assert_eq!(
            doc["meta"]["location"],
            "https://h/scim/v2/ServiceProviderConfig"
        );
        let doc = schema(USER_URN, "https://h/scim/v2/").expect("user schema");
        assert_eq!(
            doc["meta"]["location"],
            format!("https://h/scim/v2/Schemas/{USER_URN}")
        );
    }

    #[test]
    fn resource_type_lookup_is_exact() {
        assert!(resource_type("User", BASE).is_some());
        assert!(resource_type("Group", BASE).is_some());
        assert!(resource_type("user", BASE).is_none());
        assert!(resource_type("Users", BASE).is_none());
    }

    #[test]
    fn user_resource_type_lists_optional_enterprise_extension_and_group_none() {
        let user = resource_type("User", BASE).expect("user");
        assert_eq!(
            user["schemaExtensions"],
            json!([{ "schema": ENTERPRISE_URN, "required": false }])
        );
        assert_eq!(user["endpoint"], "/Users");
        let group = resource_type("Group", BASE).expect("group");
        assert!(group.get("schemaExtensions").is_none());
        assert_eq!(group["schema"], GROUP_URN);
        assert_eq!(
            group["meta"]["location"],
            format!("{BASE}/ResourceTypes/Group")
        );
    }

    #[test]
    fn schema_lookup_ignores_case_and_rejects_unknown_ids() {
        let doc = schema(&ENTERPRISE_URN.to_uppercase(), BASE).expect("enterprise");
        assert_eq!(doc["id"], ENTERPRISE_URN);
        assert!(schema("urn:example:nothing", BASE).is_none());
        assert!(schema("User", BASE).is_none());
    }

    #[test]
    fn schemas_do_not_list_common_attributes() {
        for doc in schemas(BASE) {
            let names: Vec<&str> = doc["attributes"]
                .as_array()
                .expect("attributes")
                .iter()
                .filter_map(|a| a["name"].as_str())
                .collect();
            for common in ["id", "externalId", "meta"] {
                assert!(!names.contains(&common), "{} lists {common}", doc["id"]);
            }
        }
    }

    #[test]
    fn simple_attributes_have_no_sub_attributes_or_empty_lists() {
        let doc = schema(USER_URN, BASE).expect("user");
        let user_name = &doc["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        let obj = user_name.as_object().expect("object");
        for absent in ["subAttributes", "canonicalValues", "referenceTypes"] {
            assert!(!obj.contains_key(absent), "{absent}");
        }
        assert!(obj.values().all(|v| !v.is_null()));
    }

    #[test]
    fn list_of_wraps_everything_in_one_page() {
        let list = list_of(resource_types(BASE));
        assert_eq!(list["totalResults"], 2);
        assert_eq!(list["itemsPerPage"], 2);
        assert_eq!(list["startIndex"], 1);
        assert_eq!(list["Resources"][0]["id"], "User");
    }
}
