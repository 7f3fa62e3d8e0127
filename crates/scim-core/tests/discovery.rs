//! The discovery documents against their committed copies in `tests/golden/`, plus checks
//! that every registry attribute is advertised with RFC 7643 characteristic values.
//!
//! After an intended change, regenerate the copies with
//! `UPDATE_GOLDEN=1 cargo test -p scim-core --test discovery` and review the diff.

use scim_core::discovery::{
    ServiceConfig, list_of, resource_types, schema, schemas, service_provider_config,
};
use scim_core::schema::{AttributeDef, ENTERPRISE_URN, GROUP_URN, USER_URN, registry};
use serde_json::Value;
use std::path::PathBuf;

const BASE: &str = "https://scim.example.com/scim/v2";

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(name)
}

/// Compares `rendered` with the golden file, or rewrites the file when `UPDATE_GOLDEN=1`.
/// Values are compared after parsing, so whitespace in the file does not matter.
fn check_golden(name: &str, rendered: &Value) {
    let path = golden_path(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        let mut text = serde_json::to_string_pretty(rendered).expect("serialise");
        text.push('\n');
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create golden dir");
        std::fs::write(&path, text).expect("write golden file");
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    let golden: Value = serde_json::from_str(&text).expect("golden file is JSON");
    assert!(
        &golden == rendered,
        "{name} differs from the rendered document; if the change is intended, rerun with \
         UPDATE_GOLDEN=1 and review the diff.\nrendered:\n{}",
        serde_json::to_string_pretty(rendered).expect("serialise")
    );
}

#[test]
fn service_provider_config_matches_golden_file() {
    check_golden(
        "service_provider_config.json",
        &service_provider_config(&ServiceConfig::default(), BASE),
    );
}

#[test]
fn resource_types_match_golden_file() {
    check_golden("resource_types.json", &list_of(resource_types(BASE)));
}

#[test]
fn schemas_match_golden_file() {
    check_golden("schemas.json", &list_of(schemas(BASE)));
}

fn find<'a>(attributes: &'a Value, name: &str) -> Option<&'a Value> {
    attributes
        .as_array()?
        .iter()
        .find(|a| a["name"].as_str() == Some(name))
}

fn assert_advertised(defs: &[AttributeDef], rendered: &Value, context: &str) {
    for def in defs {
        let attr = find(rendered, def.name)
            .unwrap_or_else(|| panic!("{context}: attribute {} is not advertised", def.name));
        assert_eq!(attr["type"], def.ty.as_str(), "{context}.{}", def.name);
        assert_eq!(
            attr["mutability"],
            def.mutability.as_str(),
            "{context}.{}",
            def.name
        );
        assert_eq!(
            attr["returned"],
            def.returned.as_str(),
            "{context}.{}",
            def.name
        );
        assert_eq!(
            attr["uniqueness"],
            def.uniqueness.as_str(),
            "{context}.{}",
            def.name
        );
        assert_eq!(
            attr["multiValued"], def.multi_valued,
            "{context}.{}",
            def.name
        );
        assert_eq!(attr["required"], def.required, "{context}.{}", def.name);
        assert_eq!(attr["caseExact"], def.case_exact, "{context}.{}", def.name);
        if !def.sub_attributes.is_empty() {
            assert_advertised(
                &def.sub_attributes,
                &attr["subAttributes"],
                &format!("{context}.{}", def.name),
            );
        }
    }
    let rendered_count = rendered.as_array().map_or(0, Vec::len);
    assert_eq!(
        rendered_count,
        defs.len(),
        "{context}: extra attributes advertised"
    );
}

#[test]
fn every_registry_attribute_is_advertised_with_its_characteristics() {
    let reg = registry();
    for def in [&reg.user, &reg.enterprise, &reg.group] {
        let doc = schema(def.id, BASE).unwrap_or_else(|| panic!("{} is not served", def.id));
        assert_eq!(doc["name"], def.name);
        assert_advertised(&def.attributes, &doc["attributes"], def.id);
    }
    let ids: Vec<Value> = schemas(BASE).into_iter().map(|s| s["id"].clone()).collect();
    assert_eq!(ids, [USER_URN, ENTERPRISE_URN, GROUP_URN]);
}

/// Checks one attribute (and its sub-attributes) against RFC 7643 section 7: each
/// characteristic is one of the allowed keywords and no member is `null`.
fn check_characteristics(attr: &Value, context: &str) {
    const TYPES: [&str; 8] = [
        "string",
        "boolean",
        "decimal",
        "integer",
        "dateTime",
        "reference",
        "binary",
        "complex",
    ];
    const MUTABILITY: [&str; 4] = ["readOnly", "readWrite", "immutable", "writeOnly"];
    const RETURNED: [&str; 4] = ["always", "never", "default", "request"];
    const UNIQUENESS: [&str; 3] = ["none", "server", "global"];

    let obj = attr.as_object().expect("attribute is an object");
    let name = obj["name"].as_str().expect("name is a string");
    let here = format!("{context}.{name}");
    let keyword = |key: &str, allowed: &[&str]| {
        let value = obj[key]
            .as_str()
            .unwrap_or_else(|| panic!("{here}: {key} missing"));
        assert!(allowed.contains(&value), "{here}: {key} = {value:?}");
    };
    keyword("type", &TYPES);
    keyword("mutability", &MUTABILITY);
    keyword("returned", &RETURNED);
    keyword("uniqueness", &UNIQUENESS);
    for flag in ["multiValued", "required", "caseExact"] {
        assert!(obj[flag].is_boolean(), "{here}: {flag} is not a boolean");
    }
    assert!(obj["description"].is_string(), "{here}: description");
    for (key, value) in obj {
        assert!(!value.is_null(), "{here}: {key} is null");
    }
    for list in ["canonicalValues", "referenceTypes"] {
        if let Some(values) = obj.get(list) {
            let values = values.as_array().expect("list is an array");
            assert!(!values.is_empty(), "{here}: empty {list} should be omitted");
            assert!(values.iter().all(Value::is_string), "{here}: {list}");
        }
    }
    let is_complex = obj["type"] == "complex";
    match obj.get("subAttributes") {
        Some(subs) => {
            assert!(
                is_complex,
                "{here}: subAttributes on a non-complex attribute"
            );
            for sub in subs.as_array().expect("subAttributes is an array") {
                assert!(sub.get("subAttributes").is_none(), "{here}: nested complex");
                check_characteristics(sub, &here);
            }
        }
        None => assert!(!is_complex, "{here}: complex without subAttributes"),
    }
}

#[test]
fn every_characteristic_is_an_rfc_keyword() {
    for doc in schemas(BASE) {
        let context = doc["id"].as_str().expect("id").to_owned();
        for attr in doc["attributes"].as_array().expect("attributes") {
            check_characteristics(attr, &context);
        }
    }
}

#[test]
fn password_is_never_returned() {
    let user = schema(USER_URN, BASE).expect("user schema");
    let password = find(&user["attributes"], "password").expect("password");
    assert_eq!(password["returned"], "never");
    assert_eq!(password["mutability"], "writeOnly");
}

#[test]
fn user_name_is_required_and_unique_per_server() {
    let user = schema(USER_URN, BASE).expect("user schema");
    let user_name = find(&user["attributes"], "userName").expect("userName");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["caseExact"], false);
}

#[test]
fn every_discovery_resource_has_schemas_and_a_location_under_the_base_url() {
    let mut all = resource_types(BASE);
    all.extend(schemas(BASE));
    all.push(service_provider_config(&ServiceConfig::default(), BASE));
    for doc in all {
        assert!(
            doc["schemas"].as_array().is_some_and(|s| s.len() == 1),
            "{doc}"
        );
        let location = doc["meta"]["location"].as_str().expect("meta.location");
        assert!(location.starts_with(&format!("{BASE}/")), "{location}");
        assert!(doc["meta"]["resourceType"].is_string());
    }
}
