//! `attributes` / `excludedAttributes` on rendered resources (RFC 7644 sections 3.4.2.5, 3.9).

use scim_core::ScimType;
use scim_core::projection::Projection;
use scim_core::schema::{ENTERPRISE_URN, GROUP_URN, ResourceKind, USER_URN};
use serde_json::{Value, json};

fn rendered_user() -> Value {
    json!({
        "schemas": [USER_URN, ENTERPRISE_URN],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "ext-1",
        "userName": "bjensen@example.com",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "groups": [{"value": "g1", "display": "Staff"}],
        ENTERPRISE_URN: {"employeeNumber": "701984", "department": "Tour Operations"},
        "meta": {
            "resourceType": "User",
            "created": "2024-01-23T04:56:22Z",
            "lastModified": "2024-05-13T04:42:34Z",
            "version": "W/\"3\"",
            "location": "https://example.com/scim/v2/Users/2819c223-7f76-453a-919d-413861904646"
        }
    })
}

fn rendered_group() -> Value {
    json!({
        "schemas": [GROUP_URN],
        "id": "e9e30dba",
        "displayName": "Tour Guides",
        "members": [{"value": "u1", "type": "User", "display": "Babs", "$ref": "https://x/Users/u1"}],
        "meta": {"resourceType": "Group", "version": "W/\"1\""}
    })
}

fn project(kind: ResourceKind, doc: Value, attrs: Option<&str>, excl: Option<&str>) -> Value {
    let p = Projection::parse(kind, attrs, excl).expect("projection");
    let mut doc = doc;
    p.apply(kind, &mut doc);
    doc
}

#[test]
fn attributes_keep_schemas_id_and_only_the_requested_attributes() {
    let out = project(ResourceKind::User, rendered_user(), Some("userName"), None);
    assert_eq!(
        out,
        json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "userName": "bjensen@example.com"
        })
    );
}

#[test]
fn attributes_with_a_sub_attribute_keep_only_that_sub_attribute() {
    let out = project(
        ResourceKind::User,
        rendered_user(),
        Some("name.givenName, emails.value"),
        None,
    );
    assert_eq!(out["name"], json!({"givenName": "Barbara"}));
    assert_eq!(
        out["emails"],
        json!([{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}])
    );
    assert!(out.get("userName").is_none());
}

#[test]
fn attributes_tolerate_whitespace_case_and_unknown_names() {
    let out = project(
        ResourceKind::User,
        rendered_user(),
        Some(" USERNAME ,, nosuchthing , Active"),
        None,
    );
    assert_eq!(out["userName"], "bjensen@example.com");
    assert_eq!(out["active"], true);
    assert!(out.get("emails").is_none());
}

#[test]
fn urn_qualified_extension_attribute_keeps_the_urn_object_with_just_it() {
    let out = project(
        ResourceKind::User,
        rendered_user(),
        Some(&format!("{ENTERPRISE_URN}:department")),
        None,
    );
    assert_eq!(
        out[ENTERPRISE_URN],
        json!({"department": "Tour Operations"})
    );
    assert!(out.get("userName").is_none());
}

#[test]
fn extension_urn_in_attributes_means_all_of_its_attributes() {
    let out = project(
        ResourceKind::User,
        rendered_user(),
        Some(ENTERPRISE_URN),
        None,
    );
    assert_eq!(out[ENTERPRISE_URN], rendered_user()[ENTERPRISE_URN]);
}

#[test]
fn core_urn_qualified_names_are_accepted() {
    let out = project(
        ResourceKind::User,
        rendered_user(),
        Some(&format!("{USER_URN}:userName")),
        None,
    );
    assert_eq!(out["userName"], "bjensen@example.com");
}

#[test]
fn meta_is_shown_with_attributes_only_when_requested() {
    let out = project(ResourceKind::User, rendered_user(), Some("userName"), None);
    assert!(out.get("meta").is_none());
    let out = project(
        ResourceKind::User,
        rendered_user(),
        Some("meta.version"),
        None,
    );
    assert_eq!(out["meta"], json!({"version": "W/\"3\""}));
}

#[test]
fn excluded_attributes_remove_them_but_never_id() {
    let out = project(
        ResourceKind::User,
        rendered_user(),
        None,
        Some("id,emails,name.familyName,meta"),
    );
    assert_eq!(out["id"], "2819c223-7f76-453a-919d-413861904646");
    assert!(out.get("emails").is_none());
    assert!(out.get("meta").is_none());
    assert_eq!(out["name"], json!({"givenName": "Barbara"}));
    assert_eq!(out["userName"], "bjensen@example.com");
}

#[test]
fn excluded_extension_attribute_and_whole_extension() {
    let out = project(
        ResourceKind::User,
        rendered_user(),
        None,
        Some(&format!("{ENTERPRISE_URN}:department")),
    );
    assert_eq!(out[ENTERPRISE_URN], json!({"employeeNumber": "701984"}));

    let out = project(
        ResourceKind::User,
        rendered_user(),
        None,
        Some(&format!(
            "{ENTERPRISE_URN}:department,{ENTERPRISE_URN}:employeeNumber"
        )),
    );
    assert!(
        out.get(ENTERPRISE_URN).is_none(),
        "empty extension object removed"
    );

    let out = project(
        ResourceKind::User,
        rendered_user(),
        None,
        Some(ENTERPRISE_URN),
    );
    assert!(out.get(ENTERPRISE_URN).is_none());
}

#[test]
fn no_projection_leaves_the_resource_as_rendered_but_never_shows_password() {
    let out = project(ResourceKind::User, rendered_user(), None, None);
    assert_eq!(out, rendered_user());
    let mut with_password = rendered_user();
    with_password["password"] = json!("secret");
    let out = project(ResourceKind::User, with_password, None, None);
    assert!(out.get("password").is_none());
    let mut with_password = rendered_user();
    with_password["password"] = json!("secret");
    let out = project(ResourceKind::User, with_password, Some("password"), None);
    assert!(out.get("password").is_none());
}

#[test]
fn excluded_members_drops_them_and_tells_stores_not_to_load_them() {
    let p = Projection::parse(ResourceKind::Group, None, Some("members")).expect("parse");
    assert!(!p.includes(ResourceKind::Group, None, "members"));
    assert!(p.includes(ResourceKind::Group, None, "displayName"));
    let mut g = rendered_group();
    p.apply(ResourceKind::Group, &mut g);
    assert!(g.get("members").is_none());
    assert_eq!(g["displayName"], "Tour Guides");
}

#[test]
fn includes_answers_for_members_and_groups() {
    let kind = ResourceKind::Group;
    let none = Projection::parse(kind, None, None).expect("parse");
    assert!(none.includes(kind, None, "members"));
    let only_name = Projection::parse(kind, Some("displayName"), None).expect("parse");
    assert!(!only_name.includes(kind, None, "members"));
    assert!(only_name.includes(kind, None, "id"));
    let member_ids = Projection::parse(kind, Some("members.value"), None).expect("parse");
    assert!(member_ids.includes(kind, None, "members"));
    let display_only = Projection::parse(kind, None, Some("members.display")).expect("parse");
    assert!(display_only.includes(kind, None, "members"));

    let user = ResourceKind::User;
    let p = Projection::parse(user, None, Some("groups")).expect("parse");
    assert!(!p.includes(user, None, "groups"));
    let p = Projection::parse(user, Some("userName"), None).expect("parse");
    assert!(!p.includes(user, None, "groups"));
    assert!(!p.includes(user, Some(ENTERPRISE_URN), "manager"));
    let p = Projection::parse(user, Some(ENTERPRISE_URN), None).expect("parse");
    assert!(p.includes(user, Some(ENTERPRISE_URN), "manager"));
    assert!(!p.includes(user, None, "password"));
}

#[test]
fn member_sub_attribute_projection_applies_to_each_member() {
    let out = project(
        ResourceKind::Group,
        rendered_group(),
        Some("members.value"),
        None,
    );
    assert_eq!(out["members"], json!([{"value": "u1"}]));
    assert!(out.get("displayName").is_none());
}

#[test]
fn syntactically_invalid_name_is_invalid_path() {
    for bad in [
        "user name",
        "name.",
        ".name",
        "emails[type eq \"work\"]",
        "1abc",
    ] {
        let e = Projection::parse(ResourceKind::User, Some(bad), None).expect_err(bad);
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}");
        let e = Projection::parse(ResourceKind::User, None, Some(bad)).expect_err(bad);
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}");
    }
}
