//! The PATCH engine (RFC 7644 section 3.5.2) against the request shapes that real identity
//! providers send (Entra's legacy and flagged forms, Okta's, Microsoft's validator), plus
//! PATCH laws as property tests.

use proptest::prelude::*;
use scim_core::ScimType;
use scim_core::patch::{
    MemberChange, MemberRef, PATCH_OP_URN, PatchOutcome, apply_patch, parse_patch,
};
use scim_core::resource::normalize;
use scim_core::schema::{ENTERPRISE_URN, ResourceKind, USER_URN};
use scim_core::{ScimError, ScimResult};
use serde_json::{Value, json};

fn patch(kind: ResourceKind, doc: &Value, body: Value) -> ScimResult<PatchOutcome> {
    let ops = parse_patch(kind, &body)?;
    apply_patch(kind, doc, &ops)
}

fn ops(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": operations})
}

/// Applies and returns the new document, failing the test on error.
fn user_patch(doc: &Value, operations: Value) -> Value {
    match patch(ResourceKind::User, doc, ops(operations)) {
        Ok(out) => out.doc,
        Err(e) => panic!("patch failed: {e}"),
    }
}

fn user_patch_err(doc: &Value, operations: Value) -> ScimError {
    let before = doc.clone();
    let e = patch(ResourceKind::User, doc, ops(operations)).expect_err("expected an error");
    assert_eq!(*doc, before);
    e
}

fn group_changes(operations: Value) -> ScimResult<PatchOutcome> {
    patch(ResourceKind::Group, &group(), ops(operations))
}

/// A stored user, as `normalize` leaves it.
fn user() -> Value {
    normalize(
        ResourceKind::User,
        &json!({
            "userName": "bjensen@example.com",
            "externalId": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen"},
            "displayName": "Babs Jensen",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
            ENTERPRISE_URN: {
                "employeeNumber": "701984",
                "department": "Tour Operations",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d"}
            }
        }),
    )
    .expect("fixture")
    .doc
}

fn group() -> Value {
    normalize(
        ResourceKind::Group,
        &json!({"displayName": "Tour Guides", "externalId": "g-ext"}),
    )
    .expect("fixture")
    .doc
}

fn err_type(e: &ScimError) -> Option<ScimType> {
    assert_eq!(e.status, 400);
    e.scim_type
}

// --- Entra ID ----------------------------------------------------------------------------

#[test]
fn entra_legacy_patch_replaces_work_email_and_family_name() {
    let doc = user_patch(
        &user(),
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
        ]),
    );
    assert_eq!(doc["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(doc["emails"][0]["primary"], true);
    assert_eq!(doc["name"]["familyName"], "updatedFamilyName");
    assert_eq!(doc["name"]["givenName"], "Barbara");
}

#[test]
fn patch_replace_work_email_leaves_home_email() {
    let doc = user_patch(
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]),
    );
    assert_eq!(
        doc["emails"],
        json!([
            {"value": "new@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ])
    );
}

#[test]
fn patch_replace_work_email_value_creates_the_work_email_when_missing() {
    let start = user_patch(
        &user(),
        json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
    );
    let doc = user_patch(
        &start,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "w@example.com"}]),
    );
    assert_eq!(
        doc["emails"],
        json!([
            {"value": "babs@jensen.org", "type": "home"},
            {"value": "w@example.com", "type": "work"}
        ])
    );
}

#[test]
fn patch_add_work_address_street_creates_the_work_address() {
    let doc = user_patch(
        &user(),
        json!([
            {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield"}
        ]),
    );
    assert_eq!(
        doc["addresses"],
        json!([{"streetAddress": "1 Main St", "locality": "Springfield", "type": "work"}])
    );
}

#[test]
fn patch_clearing_a_missing_typed_value_is_a_no_op() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": ""}])),
    )
    .expect("patch");
    assert!(!out.changed);
}

#[test]
fn patch_filter_other_than_type_equality_matching_nothing_is_no_target() {
    for op in [
        json!({"op": "replace", "path": "emails[value eq \"nobody@x\"].type", "value": "other"}),
        json!({"op": "replace", "path": "emails[type eq \"other\" and primary eq true].value", "value": "x@y"}),
        json!({"op": "remove", "path": "emails[type eq \"other\"]"}),
        json!({"op": "remove", "path": "emails[type eq \"other\"].value"}),
    ] {
        let e = user_patch_err(&user(), json!([op]));
        assert_eq!(err_type(&e), Some(ScimType::NoTarget), "{op}");
    }
}

#[test]
fn entra_legacy_disable_with_string_false_sets_active_false() {
    for value in [json!("False"), json!("false"), json!(false)] {
        let doc = user_patch(
            &user(),
            json!([{"op": "Replace", "path": "active", "value": value}]),
        );
        assert_eq!(doc["active"], false);
    }
}

#[test]
fn add_op_setting_active_false_deactivates() {
    let doc = user_patch(
        &user(),
        json!([{"op": "Add", "path": "active", "value": "False"}]),
    );
    assert_eq!(doc["active"], false);
    let doc = user_patch(&user(), json!([{"op": "add", "value": {"active": false}}]));
    assert_eq!(doc["active"], false);
}

#[test]
fn okta_pathless_replace_active_false_deactivates() {
    let out = patch(
        ResourceKind::User,
        &user(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}]
        }),
    )
    .expect("okta");
    assert!(out.changed);
    assert_eq!(out.doc["active"], false);
    let mut expected = user();
    expected["active"] = json!(false);
    assert_eq!(out.doc, expected);
}

#[test]
fn entra_flag_pathless_replace_with_dotted_and_qualified_keys() {
    let doc = user_patch(
        &user(),
        json!([{
            "op": "replace",
            "value": {
                "displayName": "Jamie Lee",
                "name.givenName": "Jamie",
                "name.familyName": "Lee",
                "active": "True",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "1234",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "m-2"
            }
        }]),
    );
    assert_eq!(doc["displayName"], "Jamie Lee");
    assert_eq!(
        doc["name"],
        json!({"formatted": "Ms. Barbara J Jensen", "familyName": "Lee", "givenName": "Jamie"})
    );
    assert_eq!(doc["active"], true);
    assert_eq!(
        doc[ENTERPRISE_URN],
        json!({"employeeNumber": "1234", "department": "Tour Operations", "manager": {"value": "m-2"}})
    );
}

#[test]
fn pathless_value_with_extension_urn_object_sets_extension_attributes() {
    let start = normalize(ResourceKind::User, &json!({"userName": "a"}))
        .expect("user")
        .doc;
    let doc = user_patch(
        &start,
        json!([{"op": "add", "value": {ENTERPRISE_URN: {"Department": "Sales", "costCenter": "C9"}}}]),
    );
    assert_eq!(
        doc,
        json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": "a",
            ENTERPRISE_URN: {"costCenter": "C9", "department": "Sales"}
        })
    );
}

#[test]
fn pathless_value_ignores_schemas_meta_and_id() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "replace", "value": {
            "schemas": [USER_URN],
            "id": "2819c223",
            "meta": {"resourceType": "User"},
            "displayName": "Babs Jensen"
        }}])),
    )
    .expect("patch");
    assert!(!out.changed);
}

#[test]
fn op_names_match_in_any_case() {
    for op in ["Add", "ADD", "add", "Replace", "rEpLaCe"] {
        let doc = user_patch(
            &user(),
            json!([{"op": op, "path": "nickName", "value": "Babs"}]),
        );
        assert_eq!(doc["nickName"], "Babs", "{op}");
    }
    let doc = user_patch(&user(), json!([{"op": "Remove", "path": "nickName"}]));
    assert!(doc.get("nickName").is_none());
}

#[test]
fn operations_key_and_operation_keys_match_in_any_case_and_schemas_may_be_missing() {
    let out = patch(
        ResourceKind::User,
        &user(),
        json!({"operations": [{"OP": "replace", "Path": "title", "VALUE": "Boss"}]}),
    )
    .expect("patch");
    assert_eq!(out.doc["title"], "Boss");
}

#[test]
fn malformed_patch_bodies_are_refused_with_the_right_scim_type() {
    let cases = [
        (json!([]), ScimType::InvalidSyntax),
        (json!({"schemas": [PATCH_OP_URN]}), ScimType::InvalidSyntax),
        (json!({"Operations": []}), ScimType::InvalidSyntax),
        (
            json!({"Operations": {"op": "add"}}),
            ScimType::InvalidSyntax,
        ),
        (json!({"Operations": ["add"]}), ScimType::InvalidSyntax),
        (
            json!({"Operations": [{"op": "move", "path": "title", "value": "x"}]}),
            ScimType::InvalidSyntax,
        ),
        (
            json!({"Operations": [{"path": "title", "value": "x"}]}),
            ScimType::InvalidSyntax,
        ),
        (
            json!({"Operations": [{"op": "add", "path": "title"}]}),
            ScimType::InvalidSyntax,
        ),
        (
            json!({"Operations": [{"op": "remove"}]}),
            ScimType::NoTarget,
        ),
        (
            json!({"Operations": [{"op": "replace", "value": "x"}]}),
            ScimType::InvalidValue,
        ),
        (
            json!({"Operations": [{"op": "add", "path": "emails[type eq ]", "value": "x"}]}),
            ScimType::InvalidPath,
        ),
        (
            json!({"Operations": [{"op": "add", "path": "title[type eq \"x\"]", "value": "x"}]}),
            ScimType::InvalidPath,
        ),
        (
            json!({"Operations": [{"op": "add", "path": "favouriteColour", "value": "blue"}]}),
            ScimType::InvalidPath,
        ),
        (
            json!({"Operations": [{"op": "remove", "path": "favouriteColour"}]}),
            ScimType::InvalidPath,
        ),
        (
            json!({"Operations": [{"op": "add", "path": 7, "value": "x"}]}),
            ScimType::InvalidPath,
        ),
    ];
    for (body, want) in cases {
        let e = parse_patch(ResourceKind::User, &body).expect_err("malformed");
        assert_eq!(err_type(&e), Some(want), "{body}: {}", e.detail);
    }
}

#[test]
fn unknown_path_with_an_empty_value_is_ignored() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([
            {"op": "replace", "path": "favouriteColour", "value": null},
            {"op": "add", "path": "urn:example:ext:1.0:User:shoeSize", "value": ""}
        ])),
    )
    .expect("ignored");
    assert!(!out.changed);
}

#[test]
fn add_to_multi_valued_appends_without_exact_duplicates() {
    let doc = user_patch(
        &user(),
        json!([{"op": "add", "path": "emails", "value": [
            {"value": "babs@jensen.org", "type": "home"},
            {"value": "b@other.org", "type": "other"}
        ]}]),
    );
    assert_eq!(
        doc["emails"],
        json!([
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"},
            {"value": "b@other.org", "type": "other"}
        ])
    );
}

#[test]
fn adding_a_primary_value_makes_the_others_non_primary() {
    let doc = user_patch(
        &user(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "new@x", "type": "other", "primary": "True"}]}]),
    );
    assert_eq!(doc["emails"][0]["primary"], false);
    assert_eq!(doc["emails"][2]["primary"], true);

    let doc = user_patch(
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
    );
    assert_eq!(doc["emails"][0]["primary"], false);
    assert_eq!(doc["emails"][1]["primary"], true);
}

#[test]
fn patch_cannot_produce_two_primary_values() {
    let e = user_patch_err(
        &user(),
        json!([{"op": "replace", "path": "emails.primary", "value": true}]),
    );
    assert_eq!(err_type(&e), Some(ScimType::InvalidValue));
    assert!(e.detail.contains("emails"), "{}", e.detail);
}

#[test]
fn replace_multi_valued_without_filter_replaces_all_values() {
    let doc = user_patch(
        &user(),
        json!([{"op": "replace", "path": "emails", "value": [{"value": "only@x", "type": "work"}]}]),
    );
    assert_eq!(doc["emails"], json!([{"value": "only@x", "type": "work"}]));
}

#[test]
fn add_and_replace_of_a_complex_value_merge_its_sub_attributes() {
    let doc = user_patch(
        &user(),
        json!([{"op": "add", "path": "name", "value": {"middleName": "Jane"}}]),
    );
    assert_eq!(doc["name"]["middleName"], "Jane");
    assert_eq!(doc["name"]["givenName"], "Barbara");

    let doc = user_patch(
        &user(),
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs", "formatted": null}}]),
    );
    assert_eq!(
        doc["name"],
        json!({"familyName": "Jensen", "givenName": "Babs"})
    );
}

#[test]
fn replace_of_a_filtered_element_replaces_it_and_add_merges_into_it() {
    let doc = user_patch(
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@x", "type": "home"}}]),
    );
    assert_eq!(doc["emails"][1], json!({"value": "h@x", "type": "home"}));
    let doc = user_patch(
        &user(),
        json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": {"display": "Home"}}]),
    );
    assert_eq!(
        doc["emails"][1],
        json!({"value": "babs@jensen.org", "display": "Home", "type": "home"})
    );
}

#[test]
fn remove_with_filter_removes_matching_elements_or_sub_attributes() {
    let doc = user_patch(
        &user(),
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    );
    assert_eq!(
        doc["emails"],
        json!([{"value": "bjensen@example.com", "type": "work", "primary": true}])
    );
    let doc = user_patch(
        &user(),
        json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]),
    );
    assert_eq!(
        doc["emails"][0],
        json!({"value": "bjensen@example.com", "type": "work"})
    );
    let doc = user_patch(&user(), json!([{"op": "remove", "path": "phoneNumbers"}]));
    assert!(doc.get("phoneNumbers").is_none());
}

#[test]
fn legacy_remove_with_listed_values_removes_those_elements() {
    let doc = user_patch(
        &user(),
        json!([{"op": "Remove", "path": "emails", "value": [{"value": "babs@jensen.org"}]}]),
    );
    assert_eq!(doc["emails"].as_array().map(Vec::len), Some(1));
}

// --- manager (a plain id, an object or a legacy one-element array) ----------------------

#[test]
fn manager_set_as_plain_string_object_or_legacy_array() {
    let m = |doc: &Value| doc[ENTERPRISE_URN]["manager"].clone();
    let doc = user_patch(
        &user(),
        json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1"}]),
    );
    assert_eq!(
        m(&doc),
        json!({"value": "m-1"}),
        "a new id drops the old $ref"
    );

    let doc = user_patch(
        &user(),
        json!([{"op": "Add", "path": "manager", "value": [{"$ref": "https://x/Users/m-2", "value": "m-2"}]}]),
    );
    assert_eq!(
        m(&doc),
        json!({"value": "m-2", "$ref": "https://x/Users/m-2"})
    );

    let doc = user_patch(
        &user(),
        json!([{"op": "replace", "path": format!("{ENTERPRISE_URN}:manager"), "value": {"value": "m-3", "displayName": "Boss"}}]),
    );
    assert_eq!(m(&doc), json!({"value": "m-3"}));

    let doc = user_patch(
        &user(),
        json!([{"op": "replace", "path": format!("{ENTERPRISE_URN}:manager.value"), "value": "m-4"}]),
    );
    assert_eq!(m(&doc)["value"], "m-4");
}

#[test]
fn manager_removed_by_replace_with_an_empty_value() {
    for empty in [json!(""), json!(null), json!({}), json!([])] {
        let doc = user_patch(
            &user(),
            json!([{"op": "Replace", "path": format!("{ENTERPRISE_URN}:manager"), "value": empty}]),
        );
        assert!(doc[ENTERPRISE_URN].get("manager").is_none(), "{empty}");
        assert_eq!(doc[ENTERPRISE_URN]["department"], "Tour Operations");
    }
}

#[test]
fn manager_display_name_is_read_only() {
    let e = user_patch_err(
        &user(),
        json!([{"op": "replace", "path": format!("{ENTERPRISE_URN}:manager.displayName"), "value": "X"}]),
    );
    assert_eq!(err_type(&e), Some(ScimType::Mutability));
}

// --- clearing, unwrapping, mutability ------------------------------------------------------

#[test]
fn replace_with_null_or_empty_string_clears_the_attribute() {
    for empty in [json!(null), json!("")] {
        let doc = user_patch(
            &user(),
            json!([
                {"op": "replace", "path": "displayName", "value": empty},
                {"op": "replace", "path": "name.formatted", "value": empty},
                {"op": "replace", "path": format!("{ENTERPRISE_URN}:department"), "value": empty},
            ]),
        );
        assert!(doc.get("displayName").is_none());
        assert!(doc["name"].get("formatted").is_none());
        assert!(doc[ENTERPRISE_URN].get("department").is_none());
    }
}

#[test]
fn clearing_or_removing_a_required_attribute_is_invalid_value() {
    for op in [
        json!({"op": "remove", "path": "userName"}),
        json!({"op": "replace", "path": "userName", "value": ""}),
        json!({"op": "replace", "path": "userName", "value": null}),
    ] {
        let e = user_patch_err(&user(), json!([op]));
        assert_eq!(err_type(&e), Some(ScimType::InvalidValue), "{op}");
        assert!(e.detail.contains("userName"), "{}", e.detail);
    }
    let e = group_changes(json!([{"op": "remove", "path": "displayName"}])).expect_err("required");
    assert_eq!(err_type(&e), Some(ScimType::InvalidValue));
}

#[test]
fn legacy_wrapped_value_for_a_simple_attribute_is_unwrapped() {
    let doc = user_patch(
        &user(),
        json!([
            {"op": "Add", "path": "nickName", "value": [{"$ref": null, "value": "Babs"}]},
            {"op": "Replace", "path": "active", "value": [{"$ref": null, "value": "False"}]}
        ]),
    );
    assert_eq!(doc["nickName"], "Babs");
    assert_eq!(doc["active"], false);
}

#[test]
fn modifying_read_only_attributes_is_mutability() {
    for op in [
        json!({"op": "replace", "path": "id", "value": "x"}),
        json!({"op": "remove", "path": "id"}),
        json!({"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}),
        json!({"op": "add", "path": "groups", "value": [{"value": "g1"}]}),
        json!({"op": "add", "value": {"groups": [{"value": "g1"}]}}),
    ] {
        let e = user_patch_err(&user(), json!([op]));
        assert_eq!(err_type(&e), Some(ScimType::Mutability), "{op}");
    }
}

#[test]
fn wrong_value_type_is_invalid_value_naming_the_attribute() {
    let e = user_patch_err(
        &user(),
        json!([{"op": "replace", "path": "active", "value": "maybe"}]),
    );
    assert_eq!(err_type(&e), Some(ScimType::InvalidValue));
    assert!(e.detail.contains("'active'"), "{}", e.detail);
    let e = user_patch_err(
        &user(),
        json!([{"op": "replace", "value": {"favouriteColour": "blue"}}]),
    );
    assert_eq!(err_type(&e), Some(ScimType::InvalidValue));
    assert!(e.detail.contains("favouriteColour"), "{}", e.detail);
}

#[test]
fn schemas_follow_the_extension_attributes_present() {
    let start = normalize(ResourceKind::User, &json!({"userName": "a"}))
        .expect("user")
        .doc;
    let doc = user_patch(
        &start,
        json!([{"op": "add", "path": format!("{ENTERPRISE_URN}:department"), "value": "D"}]),
    );
    assert_eq!(doc["schemas"], json!([USER_URN, ENTERPRISE_URN]));
    let doc = user_patch(
        &doc,
        json!([{"op": "remove", "path": format!("{ENTERPRISE_URN}:department")}]),
    );
    assert_eq!(doc, start);
}

#[test]
fn extension_urn_as_path_targets_the_whole_extension() {
    let doc = user_patch(
        &user(),
        json!([{"op": "replace", "path": ENTERPRISE_URN, "value": {"division": "North"}}]),
    );
    assert_eq!(doc[ENTERPRISE_URN]["division"], "North");
    assert_eq!(doc[ENTERPRISE_URN]["department"], "Tour Operations");
    let doc = user_patch(&user(), json!([{"op": "remove", "path": ENTERPRISE_URN}]));
    assert!(doc.get(ENTERPRISE_URN).is_none());
    assert_eq!(doc["schemas"], json!([USER_URN]));
}

#[test]
fn replacing_a_value_with_itself_reports_no_change() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([
            {"op": "replace", "path": "userName", "value": "bjensen@example.com"},
            {"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}
        ])),
    )
    .expect("patch");
    assert!(!out.changed);
    assert_eq!(out.doc, user());
}

#[test]
fn password_set_by_patch_is_handed_out_not_stored() {
    let out = patch(
        ResourceKind::User,
        &user(),
        ops(json!([{"op": "replace", "path": "password", "value": "t0ps3cret"}])),
    )
    .expect("patch");
    assert_eq!(out.password.as_deref(), Some("t0ps3cret"));
    assert!(out.doc.get("password").is_none());
    assert!(!out.changed);
}

#[test]
fn patch_is_atomic_when_a_later_operation_fails() {
    let doc = user();
    let saved = doc.clone();
    let first = json!({"op": "replace", "path": "displayName", "value": "Changed"});
    let prefix = patch(ResourceKind::User, &doc, ops(json!([first.clone()]))).expect("prefix");
    assert!(prefix.changed);
    let e = patch(
        ResourceKind::User,
        &doc,
        ops(json!([first, {"op": "remove", "path": "emails[type eq \"pager\"]"}])),
    )
    .expect_err("second op has no target");
    assert_eq!(err_type(&e), Some(ScimType::NoTarget));
    assert_eq!(doc, saved);
}

// --- groups (members as row changes; both forms of removal; many in one PATCH) ----------

fn member(id: &str) -> MemberRef {
    MemberRef {
        value: id.to_owned(),
        member_type: None,
    }
}

#[test]
fn entra_group_member_add_and_legacy_remove_become_member_changes() {
    let out = group_changes(json!([
        {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}
    ]))
    .expect("add");
    assert_eq!(
        out.member_changes,
        vec![MemberChange::Add(vec![member("f648f8d5ea4e4cd38e9c")])]
    );
    assert!(!out.changed);
    assert_eq!(out.doc, group());

    let out = group_changes(json!([
        {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}
    ]))
    .expect("remove");
    assert_eq!(
        out.member_changes,
        vec![MemberChange::Remove(vec![
            "f648f8d5ea4e4cd38e9c".to_owned()
        ])]
    );
}

#[test]
fn entra_flag_member_remove_by_filter_becomes_remove_of_ids() {
    let out = group_changes(json!([
        {"op": "remove", "path": "members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"}
    ]))
    .expect("remove");
    assert_eq!(
        out.member_changes,
        vec![MemberChange::Remove(vec![
            "7f4bc1a3-285e-48ae-8202-5accb43efb0e".to_owned()
        ])]
    );
    let out = group_changes(json!([
        {"op": "remove", "path": "members[value eq \"a\" or value eq \"b\" or VALUE eq \"c\"]"}
    ]))
    .expect("remove");
    assert_eq!(
        out.member_changes,
        vec![MemberChange::Remove(vec![
            "a".into(),
            "b".into(),
            "c".into()
        ])]
    );
}

#[test]
fn member_remove_by_another_filter_is_remove_matching() {
    let out = group_changes(json!([
        {"op": "remove", "path": "members[TYPE eq \"Group\"]"}
    ]))
    .expect("remove");
    match out.member_changes.as_slice() {
        [MemberChange::RemoveMatching(f)] => {
            assert!(format!("{f:?}").contains("\"type\""), "{f:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn member_remove_without_value_and_replace_set_the_whole_membership() {
    let out = group_changes(json!([{"op": "remove", "path": "members"}])).expect("remove all");
    assert_eq!(out.member_changes, vec![MemberChange::ReplaceAll(vec![])]);
    let out = group_changes(json!([
        {"op": "replace", "path": "members", "value": [{"value": "u1", "type": "User"}, {"value": "g2", "type": "group"}]}
    ]))
    .expect("replace");
    assert_eq!(
        out.member_changes,
        vec![MemberChange::ReplaceAll(vec![
            MemberRef {
                value: "u1".into(),
                member_type: Some("User".into())
            },
            MemberRef {
                value: "g2".into(),
                member_type: Some("Group".into())
            },
        ])]
    );
}

#[test]
fn okta_group_push_renames_and_changes_members_in_one_patch() {
    let out = group_changes(json!([
        {"op": "replace", "value": {"id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", "displayName": "Test SCIMv2"}},
        {"op": "remove", "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"},
        {"op": "add", "path": "members", "value": [
            {"value": "23a35c27-23d3-4c03-b4c5-6443c09e7173", "display": "test.user@okta.local"},
            {"value": "19ec9a4c-4d1e-4a0c-9a32-b8a29c0a0c33", "display": "other.user@okta.local"}
        ]},
        {"op": "add", "value": {"members": [{"value": "u9"}]}}
    ]))
    .expect("okta group patch");
    assert!(out.changed);
    assert_eq!(out.doc["displayName"], "Test SCIMv2");
    assert_eq!(
        out.member_changes,
        vec![
            MemberChange::Remove(vec!["89bb1940-b905-4575-9e7f-6f887cfb368e".into()]),
            MemberChange::Add(vec![
                member("23a35c27-23d3-4c03-b4c5-6443c09e7173"),
                member("19ec9a4c-4d1e-4a0c-9a32-b8a29c0a0c33"),
            ]),
            MemberChange::Add(vec![member("u9")]),
        ]
    );
}

#[test]
fn many_member_operations_in_one_patch_keep_their_order() {
    let operations: Vec<Value> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                json!({"op": "Add", "path": "members", "value": [{"value": format!("u{i}")}]})
            } else {
                json!({"op": "Remove", "path": "members", "value": [{"value": format!("u{}", i - 1)}]})
            }
        })
        .collect();
    let out = group_changes(Value::Array(operations)).expect("many");
    assert_eq!(out.member_changes.len(), 50);
    assert_eq!(
        out.member_changes[48],
        MemberChange::Add(vec![member("u48")])
    );
    assert_eq!(
        out.member_changes[49],
        MemberChange::Remove(vec!["u48".into()])
    );
}

#[test]
fn member_values_must_be_non_empty_strings() {
    for value in [
        json!([{"value": ""}]),
        json!([{"value": 42}]),
        json!([{"display": "no id"}]),
        json!(["u1"]),
        json!("u1"),
    ] {
        let e = group_changes(json!([{"op": "add", "path": "members", "value": value}]))
            .expect_err("bad member");
        assert_eq!(err_type(&e), Some(ScimType::InvalidValue), "{value}");
    }
}

#[test]
fn member_sub_attributes_and_filtered_adds_are_refused() {
    let e = group_changes(
        json!([{"op": "replace", "path": "members[value eq \"u1\"].type", "value": "Group"}]),
    )
    .expect_err("immutable");
    assert_eq!(err_type(&e), Some(ScimType::Mutability));
    let e = group_changes(
        json!([{"op": "add", "path": "members[value eq \"u1\"]", "value": {"value": "u1"}}]),
    )
    .expect_err("filtered add");
    assert_eq!(err_type(&e), Some(ScimType::InvalidPath));
}

#[test]
fn remove_members_with_an_empty_list_changes_nothing() {
    let out =
        group_changes(json!([{"op": "remove", "path": "members", "value": []}])).expect("noop");
    assert!(out.member_changes.is_empty());
}

// --- properties ----------------------------------------------------------------------------

fn replace_op() -> impl Strategy<Value = Value> {
    let text = "[a-zA-Z0-9 @.]{0,10}";
    prop_oneof![
        text.prop_map(|v| json!({"op": "replace", "path": "displayName", "value": v})),
        text.prop_map(|v| json!({"op": "Replace", "path": "name.givenName", "value": v})),
        text.prop_map(|v| json!({"op": "replace", "path": "emails[type eq \"work\"].value", "value": v})),
        text.prop_map(|v| json!({"op": "replace", "path": "emails[type eq \"home\"].display", "value": v})),
        prop_oneof![Just("True"), Just("False"), Just("false")]
            .prop_map(|v| json!({"op": "Replace", "path": "active", "value": v})),
        text.prop_map(|v| json!({"op": "replace", "value": {"name.familyName": v, "title": v}})),
        text.prop_map(|v| json!({"op": "replace", "path": format!("{ENTERPRISE_URN}:manager"), "value": v})),
        text.prop_map(|v| json!({"op": "replace", "path": "phoneNumbers", "value": [{"value": v, "type": "mobile"}]})),
        text.prop_map(|v| json!({"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": v})),
        any::<bool>().prop_map(|b| json!({"op": "replace", "path": "emails[type eq \"home\"].primary", "value": b})),
    ]
}

fn start_doc() -> impl Strategy<Value = Value> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(home, name, ext)| {
        let mut d = user();
        if !home {
            d = user_patch(
                &d,
                json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
            );
        }
        if !name {
            d = user_patch(&d, json!([{"op": "remove", "path": "name"}]));
        }
        if !ext {
            d = user_patch(&d, json!([{"op": "remove", "path": ENTERPRISE_URN}]));
        }
        d
    })
}

proptest! {
    #[test]
    fn replacing_twice_equals_replacing_once(doc in start_doc(), op in replace_op()) {
        let once = patch(ResourceKind::User, &doc, ops(json!([op.clone()])));
        let twice = patch(ResourceKind::User, &doc, ops(json!([op.clone(), op])));
        match (once, twice) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a.doc, b.doc),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "once {:?} twice {:?}", a, b),
        }
    }

    #[test]
    fn failing_last_operation_leaves_the_document_unchanged(
        doc in start_doc(),
        prefix in proptest::collection::vec(replace_op(), 1..4),
        failing in prop_oneof![
            Just(json!({"op": "remove", "path": "emails[type eq \"pager\"]"})),
            Just(json!({"op": "remove", "path": "userName"})),
            Just(json!({"op": "replace", "path": "id", "value": "x"})),
            Just(json!({"op": "replace", "path": "active", "value": "maybe"})),
        ],
    ) {
        let saved = doc.clone();
        let prefix_only = patch(ResourceKind::User, &doc, ops(Value::Array(prefix.clone())));
        let mut all = prefix;
        all.push(failing);
        let result = patch(ResourceKind::User, &doc, ops(Value::Array(all)));
        prop_assert!(result.is_err());
        prop_assert_eq!(&doc, &saved);
        // The caller sees an error, never the prefix's document, even when the prefix
        // alone would have changed something.
        if let Ok(p) = prefix_only {
            prop_assert_eq!(p.changed, p.doc != saved);
        }
    }

    #[test]
    fn patch_results_are_canonical(doc in start_doc(), op in replace_op()) {
        if let Ok(out) = patch(ResourceKind::User, &doc, ops(json!([op]))) {
            let again = normalize(ResourceKind::User, &out.doc).expect("valid");
            prop_assert_eq!(again.doc.to_string(), out.doc.to_string());
        }
    }
}
