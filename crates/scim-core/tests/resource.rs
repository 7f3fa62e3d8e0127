//! Normalisation of create/replace bodies: the canonical document, identity-provider quirks,
//! and the errors that name the offending attribute.

use proptest::prelude::*;
use scim_core::ScimType;
use scim_core::resource::normalize;
use scim_core::schema::{ENTERPRISE_URN, GROUP_URN, ResourceKind, USER_URN};
use serde_json::{Value, json};

fn user(body: Value) -> Value {
    normalize(ResourceKind::User, &body)
        .unwrap_or_else(|e| panic!("normalize failed: {e}"))
        .doc
}

fn user_err(body: Value) -> scim_core::ScimError {
    normalize(ResourceKind::User, &body).expect_err("expected an error")
}

/// Entra's documented "Create User" request: `meta`, an empty `roles`, and in its second
/// example explicit nulls, root-level `department`/`manager` and the misspelt enterprise URN.
fn entra_create_body() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com",
        "active": true,
        "addresses": null,
        "displayName": "Test User",
        "emails": [{
            "primary": true,
            "type": "work",
            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"
        }],
        "meta": { "resourceType": "User" },
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName"
        },
        "phoneNumbers": null,
        "roles": [],
        "title": null,
        "department": null,
        "manager": null
    })
}

#[test]
fn entra_create_body_keeps_values_and_drops_meta_nulls_and_empty_roles() {
    let doc = user(entra_create_body());
    assert_eq!(
        doc,
        json!({
            "schemas": [USER_URN],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com",
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName"
            },
            "displayName": "Test User",
            "active": true,
            "emails": [{
                "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
                "type": "work",
                "primary": true
            }]
        })
    );
}

#[test]
fn canonical_document_lists_schemas_first_and_attributes_in_registry_order() {
    let doc = user(json!({
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        "active": true,
        "userName": "a@example.com",
        "externalId": "x1",
    }));
    let keys: Vec<&str> = doc
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "schemas",
            "externalId",
            "userName",
            "active",
            ENTERPRISE_URN
        ]
    );
}

#[test]
fn group_create_with_microsoft_schema_urn_is_accepted_and_empty_members_dropped() {
    let doc = normalize(
        ResourceKind::Group,
        &json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:Group",
                "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
            ],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"},
            "members": []
        }),
    )
    .expect("group")
    .doc;
    assert_eq!(
        doc,
        json!({
            "schemas": [GROUP_URN],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName"
        })
    );
}

#[test]
fn okta_create_body_with_password_and_empty_groups_takes_the_password_out() {
    let n = normalize(
        ResourceKind::User,
        &json!({
            "schemas": [USER_URN],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": true
        }),
    )
    .expect("okta body");
    assert_eq!(n.password.as_deref(), Some("1mz050nq"));
    assert!(n.doc.get("password").is_none());
    assert!(n.doc.get("groups").is_none());
    assert_eq!(n.doc["locale"], "en-US");
}

#[test]
fn attribute_names_in_any_case_take_the_registry_spelling() {
    let doc = user(json!({
        "USERNAME": "a@example.com",
        "Name": {"GIVENNAME": "Ada", "familyname": "Lovelace"},
        "EMAILS": [{"Value": "a@example.com", "TYPE": "work", "Primary": true}],
        "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"EmployeeNumber": "42"}
    }));
    assert_eq!(doc["userName"], "a@example.com");
    assert_eq!(
        doc["name"],
        json!({"familyName": "Lovelace", "givenName": "Ada"})
    );
    assert_eq!(
        doc["emails"],
        json!([{"value": "a@example.com", "type": "work", "primary": true}])
    );
    assert_eq!(doc[ENTERPRISE_URN], json!({"employeeNumber": "42"}));
    assert_eq!(doc["schemas"], json!([USER_URN, ENTERPRISE_URN]));
}

#[test]
fn string_booleans_in_any_case_become_booleans() {
    for (sent, want) in [
        ("True", true),
        ("False", false),
        ("true", true),
        ("FALSE", false),
    ] {
        let doc = user(json!({"userName": "a", "active": sent}));
        assert_eq!(doc["active"], json!(want), "{sent}");
    }
}

#[test]
fn wrong_type_is_invalid_value_naming_the_attribute_path() {
    let cases = [
        (
            json!({"userName": "a", "emails": [{"value": "x"}, {"value": "y", "primary": "yes"}]}),
            "emails[1].primary",
        ),
        (json!({"userName": "a", "active": 1}), "active"),
        (json!({"userName": 5}), "userName"),
        (json!({"userName": "a", "name": "Ada"}), "name"),
        (
            json!({"userName": "a", "name": {"givenName": ["Ada"]}}),
            "name.givenName",
        ),
        (
            json!({"userName": "a", "emails": "a@example.com"}),
            "emails",
        ),
        (
            json!({"userName": "a", ENTERPRISE_URN: {"department": {"name": "x"}}}),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ),
        (
            json!({"userName": "a", ENTERPRISE_URN: "x"}),
            ENTERPRISE_URN,
        ),
    ];
    for (body, path) in cases {
        let e = user_err(body);
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(
            e.detail.contains(&format!("'{path}'")),
            "{path}: {}",
            e.detail
        );
    }
}

#[test]
fn unknown_attribute_with_a_value_is_refused_by_name_but_null_is_ignored() {
    let e = user_err(json!({"userName": "a", "favouriteColour": "blue"}));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(e.detail.contains("favouriteColour"), "{}", e.detail);

    let e = user_err(json!({"userName": "a", "name": {"nick": "x"}}));
    assert!(e.detail.contains("name.nick"), "{}", e.detail);

    let e = user_err(json!({"userName": "a", ENTERPRISE_URN: {"badge": "7"}}));
    assert!(
        e.detail.contains(&format!("{ENTERPRISE_URN}:badge")),
        "{}",
        e.detail
    );

    let e = user_err(json!({"userName": "a", "urn:example:custom:1.0:User": {"x": 1}}));
    assert!(
        e.detail.contains("urn:example:custom:1.0:User"),
        "{}",
        e.detail
    );

    let doc = user(json!({
        "userName": "a",
        "favouriteColour": null,
        "urn:example:custom:1.0:User": null,
        "name": {"nick": null}
    }));
    assert_eq!(doc, json!({"schemas": [USER_URN], "userName": "a"}));
}

#[test]
fn more_than_one_primary_value_is_refused() {
    let e = user_err(json!({
        "userName": "a",
        "emails": [
            {"value": "a@x", "primary": true},
            {"value": "b@x", "primary": "True"}
        ]
    }));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(e.detail.contains("emails"), "{}", e.detail);
}

#[test]
fn missing_or_empty_user_name_and_group_display_name_are_refused() {
    for body in [
        json!({"active": true}),
        json!({"userName": ""}),
        json!({"userName": null}),
    ] {
        let e = user_err(body);
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("userName"), "{}", e.detail);
    }
    let e = normalize(ResourceKind::Group, &json!({"externalId": "g"})).expect_err("no name");
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(e.detail.contains("displayName"), "{}", e.detail);
}

#[test]
fn body_that_is_not_an_object_is_invalid_syntax() {
    for body in [json!([]), json!("x"), json!(null)] {
        let e = user_err(body);
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    }
}

#[test]
fn read_only_attributes_are_ignored_whatever_their_value() {
    let doc = user(json!({
        "id": 17,
        "userName": "a",
        "meta": "nonsense",
        "groups": [{"value": "g1", "display": "G"}],
        ENTERPRISE_URN: {"manager": {"value": "m1", "displayName": "Boss"}}
    }));
    assert_eq!(
        doc,
        json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": "a",
            ENTERPRISE_URN: {"manager": {"value": "m1"}}
        })
    );
}

#[test]
fn fully_qualified_extension_keys_are_folded_under_the_urn() {
    let doc = user(json!({
        "userName": "a",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m7",
        ENTERPRISE_URN: {"costCenter": "C1"},
        "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Ada"
    }));
    assert_eq!(doc["displayName"], "Ada");
    assert_eq!(
        doc[ENTERPRISE_URN],
        json!({"costCenter": "C1", "department": "Sales", "manager": {"value": "m7"}})
    );
}

#[test]
fn root_level_enterprise_attribute_is_folded_under_the_urn() {
    let doc = user(json!({"userName": "a", "department": "Sales"}));
    assert_eq!(doc[ENTERPRISE_URN], json!({"department": "Sales"}));
}

#[test]
fn manager_as_string_object_or_one_element_array_becomes_a_reference_object() {
    let forms = [
        (json!("m1"), json!({"value": "m1"})),
        (json!({"value": "m1"}), json!({"value": "m1"})),
        (
            json!({"value": "m1", "$ref": "../Users/m1", "displayName": "Boss"}),
            json!({"value": "m1", "$ref": "../Users/m1"}),
        ),
        (
            json!([{"$ref": "../Users/m1", "value": "m1"}]),
            json!({"value": "m1", "$ref": "../Users/m1"}),
        ),
        (json!(["m1"]), json!({"value": "m1"})),
    ];
    for (sent, want) in forms {
        let doc = user(json!({"userName": "a", ENTERPRISE_URN: {"manager": sent.clone()}}));
        assert_eq!(doc[ENTERPRISE_URN]["manager"], want, "{sent}");
    }
    for empty in [json!(""), json!([]), json!({}), json!(null)] {
        let doc = user(json!({"userName": "a", ENTERPRISE_URN: {"manager": empty}}));
        assert_eq!(doc, json!({"schemas": [USER_URN], "userName": "a"}));
    }
    let e = user_err(json!({"userName": "a", ENTERPRISE_URN: {"manager": ["m1", "m2"]}}));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn schemas_lists_extensions_actually_present_whatever_the_client_listed() {
    let doc = user(json!({
        "schemas": [USER_URN, ENTERPRISE_URN, "urn:example:other"],
        "userName": "a"
    }));
    assert_eq!(doc["schemas"], json!([USER_URN]));
    let doc = user(json!({"userName": "a", ENTERPRISE_URN: {"division": "D"}}));
    assert_eq!(doc["schemas"], json!([USER_URN, ENTERPRISE_URN]));
}

#[test]
fn values_are_stored_exactly_as_sent() {
    let doc = user(json!({
        "userName": "  Mixed.Case@Example.COM ",
        "phoneNumbers": [{"value": "+1 (555) 010-0000", "type": "work"}],
        "timezone": "America/Los_Angeles"
    }));
    assert_eq!(doc["userName"], "  Mixed.Case@Example.COM ");
    assert_eq!(doc["phoneNumbers"][0]["value"], "+1 (555) 010-0000");
}

#[test]
fn single_object_for_a_multi_valued_attribute_is_wrapped() {
    let doc = user(json!({"userName": "a", "emails": {"value": "a@x", "type": "work"}}));
    assert_eq!(doc["emails"], json!([{"value": "a@x", "type": "work"}]));
}

#[test]
fn empty_elements_and_sub_attributes_are_unassigned() {
    let doc = user(json!({
        "userName": "a",
        "name": {"givenName": null, "familyName": ""},
        "emails": [{"value": null}, {}, {"value": "b@x", "display": null}],
        "addresses": [{"type": "work", "streetAddress": "1 Main St", "primary": "false"}]
    }));
    assert!(doc.get("name").is_none());
    assert_eq!(doc["emails"], json!([{"value": "b@x"}]));
    assert_eq!(
        doc["addresses"],
        json!([{"streetAddress": "1 Main St", "type": "work", "primary": false}])
    );
}

#[test]
fn group_members_keep_only_value_and_canonical_type() {
    let doc = normalize(
        ResourceKind::Group,
        &json!({
            "displayName": "Staff",
            "members": [
                {"value": "u1", "$ref": "https://x/Users/u1", "display": "U One"},
                {"value": "g2", "type": "group"},
                {"value": "u1", "type": "User"}
            ]
        }),
    )
    .expect("group")
    .doc;
    assert_eq!(
        doc["members"],
        json!([{"value": "u1"}, {"value": "g2", "type": "Group"}])
    );
}

#[test]
fn group_member_without_a_value_or_with_an_odd_type_is_refused() {
    for (members, path) in [
        (json!([{"display": "x"}]), "members[0].value"),
        (json!([{"value": ""}]), "members[0].value"),
        (json!([{"value": "u1"}, {"value": 3}]), "members[1].value"),
        (
            json!([{"value": "u1", "type": "Device"}]),
            "members[0].type",
        ),
    ] {
        let e = normalize(
            ResourceKind::Group,
            &json!({"displayName": "G", "members": members}),
        )
        .expect_err("bad member");
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains(path), "{path}: {}", e.detail);
    }
}

#[test]
fn user_attributes_are_unknown_on_a_group() {
    let e = normalize(
        ResourceKind::Group,
        &json!({"displayName": "G", "userName": "x"}),
    )
    .expect_err("userName on a group");
    assert!(e.detail.contains("userName"), "{}", e.detail);
    let e = normalize(
        ResourceKind::Group,
        &json!({"displayName": "G", ENTERPRISE_URN: {"department": "x"}}),
    )
    .expect_err("enterprise on a group");
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

// --- properties -------------------------------------------------------------------------

/// Random spellings of one name.
fn any_case(name: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), name.len()).prop_map(move |flips| {
        name.chars()
            .zip(flips)
            .map(|(c, up)| {
                if up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    })
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!("")),
        "[a-z .@]{1,8}".prop_map(Value::from),
    ]
}

fn boolean() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        Just(json!("True")),
        Just(json!("false")),
    ]
}

fn email() -> impl Strategy<Value = Value> {
    (
        text(),
        prop_oneof![Just(json!("work")), Just(json!("home")), Just(Value::Null)],
    )
        .prop_map(|(v, t)| json!({"value": v, "type": t}))
}

prop_compose! {
    fn user_body()(
        user_key in any_case("userName"),
        user_name in "[a-z]{1,6}@x",
        active_key in any_case("active"),
        active in boolean(),
        given in text(),
        family in text(),
        emails in proptest::collection::vec(email(), 0..3),
        primary in proptest::option::of(0usize..3),
        dept in text(),
        manager in prop_oneof![
            Just(Value::Null),
            "[a-z0-9]{1,4}".prop_map(Value::from),
            "[a-z0-9]{1,4}".prop_map(|m| json!([{"$ref": null, "value": m}])),
        ],
        qualified in any::<bool>(),
    ) -> Value {
        let mut emails = emails;
        if let Some(p) = primary
            && let Some(Value::Object(e)) = emails.get_mut(p)
        {
            e.insert("primary".into(), json!("True"));
        }
        let mut body = json!({
            user_key: user_name,
            active_key: active,
            "name": {"givenName": given, "familyName": family},
            "emails": emails,
            "meta": {"resourceType": "User"},
            "roles": [],
        });
        if qualified {
            body[format!("{ENTERPRISE_URN}:department")] = dept;
            body[format!("{ENTERPRISE_URN}:manager")] = manager;
        } else {
            body[ENTERPRISE_URN] = json!({"department": dept, "manager": manager});
        }
        body
    }
}

proptest! {
    #[test]
    fn normalize_is_idempotent(body in user_body()) {
        let once = normalize(ResourceKind::User, &body).expect("valid body");
        let twice = normalize(ResourceKind::User, &once.doc).expect("canonical body");
        prop_assert_eq!(&twice.doc, &once.doc);
        // Same key order too: stores may compare serialised documents.
        prop_assert_eq!(twice.doc.to_string(), once.doc.to_string());
    }
}
