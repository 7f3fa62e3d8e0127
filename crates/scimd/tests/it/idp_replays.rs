//! Replays of the request sequences that real identity providers send (docs/contract.md,
//! "Identity providers' habits"): Microsoft Entra ID with and without the `aadOptscim062020` flag, Okta's "SCIM 2.0
//! Spec Test" and import paging, Okta's user and group pushes, and JumpCloud's test connection.
//! Bodies keep the providers' quirks: capitalised ops, booleans as strings, client-sent `meta`,
//! explicit `null`s, a misspelt extension URN, path-less replaces with dotted keys.

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};

const MS_GROUP_URN: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
const ENTRA_FLAG: &str = "aadOptscim062020";

/// Entra's create-user body: the documented example with `meta`, an empty `roles`, explicit
/// `null`s (including a root-level `department` and `manager` that no schema defines) and the
/// misspelt enterprise URN from Microsoft's own page.
fn entra_create_user_body(upn: &str, external_id: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
        ],
        "externalId": external_id,
        "userName": upn,
        "active": true,
        "addresses": null,
        "displayName": "Test User",
        "emails": [{ "primary": true, "type": "work", "value": upn }],
        "meta": { "resourceType": "User" },
        "name": { "formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName" },
        "phoneNumbers": null,
        "title": null,
        "department": null,
        "manager": null,
        "roles": []
    })
}

#[track_caller]
fn assert_created(r: &Reply, base: &str, endpoint: &str) -> String {
    r.expect(201);
    let id = r.id();
    let body = r.json();
    let location = format!("{base}/{endpoint}/{id}");
    assert_eq!(
        r.header("location"),
        Some(location.as_str()),
        "Location header: {body}"
    );
    assert_eq!(
        body["meta"]["location"],
        json!(location),
        "meta.location: {body}"
    );
    assert_eq!(
        body["meta"]["resourceType"],
        json!(&endpoint[..endpoint.len() - 1]),
        "{body}"
    );
    let version = version_of(body);
    assert!(
        version.starts_with("W/\""),
        "meta.version is not a weak ETag: {version}"
    );
    assert_eq!(
        r.header("etag"),
        Some(version.as_str()),
        "ETag header must equal meta.version"
    );
    id
}

#[track_caller]
fn assert_empty_list(r: &Reply) {
    let body = r.expect_list();
    assert_eq!(body["totalResults"], json!(0), "{body}");
    assert_eq!(body["Resources"], json!([]), "{body}");
}

fn work_emails(user: &Value) -> Vec<Value> {
    user["emails"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["type"] == "work").cloned().collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- Entra: Test Connection

#[tokio::test]
async fn entra_test_connection_gets_empty_list_response() {
    let s = Server::start();
    let api = s.api();
    let probe = guid();
    let r = api
        .get(&format!("/Users?{}", filter_eq("userName", &probe)))
        .await;
    assert_empty_list(&r);

    // The same probe through the flagged tenant URL, and the group-side probe.
    let r = api
        .get(&format!(
            "/Users?{ENTRA_FLAG}&{}",
            filter_eq("userName", &guid())
        ))
        .await;
    assert_empty_list(&r);
    let r = api
        .get(&format!(
            "/Groups?excludedAttributes=members&{}",
            filter_eq("displayName", &guid())
        ))
        .await;
    assert_empty_list(&r);
    // Saving the provisioning configuration reads /Schemas.
    let r = api.get("/Schemas").await;
    let schemas = r.expect_list();
    let ids: HashSet<&str> = schemas["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(
        ids.contains(USER_URN) && ids.contains(GROUP_URN) && ids.contains(ENTERPRISE_URN),
        "{schemas}"
    );
}

#[tokio::test]
async fn entra_test_connection_with_wrong_token_is_refused() {
    let s = Server::start();
    let api = s.api_with_token(&format!("{}x", s.org.token));
    let r = api
        .get(&format!("/Users?{}", filter_eq("userName", &guid())))
        .await;
    let body = r.expect_error(401, None);
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn scimd_check_passes_against_a_running_server() {
    let s = Server::start();
    let (ok, stdout, stderr) = cli_status(&["check", &s.base, "--token", &s.org.token]);
    assert!(ok, "scimd check failed:\n{stdout}\n{stderr}");
}

#[tokio::test]
async fn scimd_check_fails_with_an_unknown_token() {
    let s = Server::start();
    let (ok, stdout, stderr) = cli_status(&["check", &s.base, "--token", "not-a-real-token"]);
    assert!(
        !ok,
        "scimd check passed with a bogus token:\n{stdout}\n{stderr}"
    );
}

// ---------------------------------------------------------------- Entra: users, legacy shapes

#[tokio::test]
async fn entra_user_sequence_with_legacy_shapes() {
    let s = Server::start();
    let api = s.api();
    let upn = format!("Test_User_{}@contoso.example", guid());
    let external_id = guid();

    // Matching query, then create.
    assert_empty_list(
        &api.get(&format!("/Users?{}", filter_eq("userName", &upn)))
            .await,
    );
    let r = api
        .post("/Users", &entra_create_user_body(&upn, &external_id))
        .await;
    let id = assert_created(&r, &s.base, "Users");
    let created = r.json();
    assert_eq!(created["userName"], json!(upn));
    assert_eq!(created["externalId"], json!(external_id));
    assert_eq!(created["active"], json!(true));
    assert_eq!(created["name"]["familyName"], json!("familyName"));
    assert_eq!(created["name"]["givenName"], json!("givenName"));
    assert_eq!(
        created["emails"],
        json!([{ "primary": true, "type": "work", "value": upn }])
    );
    for attr in [
        "addresses",
        "phoneNumbers",
        "title",
        "department",
        "manager",
    ] {
        assert!(
            created.get(attr).is_none_or(Value::is_null),
            "null '{attr}' came back with a value: {created}"
        );
    }

    // Read back by id and by the other matching attribute.
    let r = api.get(&format!("/Users/{id}")).await;
    r.expect(200);
    assert_eq!(r.json()["id"], json!(id));
    assert_eq!(r.json()["userName"], json!(upn));
    let r = api
        .get(&format!("/Users?{}", filter_eq("externalId", &external_id)))
        .await;
    r.expect_list();
    assert_eq!(r.total(), 1);
    assert_eq!(r.resource_ids(), vec![id.clone()]);

    // Legacy PATCH: capitalised op, value-path filter on the work e-mail, sub-attribute.
    let new_mail = format!("updated_{}@contoso.example", random_hex(8));
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": new_mail },
                { "op": "Replace", "path": "name.familyName", "value": "updatedFamilyName" }
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["name"]["familyName"], json!("updatedFamilyName"));
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(
        work_emails(&user),
        vec![json!({ "primary": true, "type": "work", "value": new_mail })],
        "{user}"
    );
    assert_eq!(user["name"]["familyName"], json!("updatedFamilyName"));
    assert_eq!(
        user["name"]["givenName"],
        json!("givenName"),
        "other sub-attributes must stay"
    );

    // Single-valued replace of userName.
    let new_upn = format!("renamed_{}@contoso.example", random_hex(8));
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "Replace", "path": "userName", "value": new_upn }])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["userName"], json!(new_upn));

    // Disable with the string "False" (legacy default).
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "Replace", "path": "active", "value": "False" }])),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json()["active"],
        json!(false),
        "active must be stored as a boolean"
    );
    let r = api.get(&format!("/Users/{id}")).await;
    r.expect(200);
    assert_eq!(r.json()["active"], json!(false));
    let r = api
        .get(&format!("/Users?{}", filter_eq("userName", &new_upn)))
        .await;
    r.expect_list();
    assert_eq!(r.total(), 1, "a disabled user is still found by filter");
    assert_eq!(r.resources()[0]["active"], json!(false));

    // Manager: plain string id (observed), then the documented array of {$ref, value}.
    let m1 = api
        .create_user(&format!("manager1_{}@contoso.example", random_hex(6)))
        .await;
    let m2 = api
        .create_user(&format!("manager2_{}@contoso.example", random_hex(6)))
        .await;
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(
                json!([{ "op": "Add", "path": format!("{ENTERPRISE_URN}:manager"), "value": m1 }]),
            ),
        )
        .await;
    r.expect(200);
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(
        user[ENTERPRISE_URN]["manager"]["value"],
        json!(m1),
        "manager nested under the URN: {user}"
    );
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{
                "op": "Add",
                "path": "manager",
                "value": [{ "$ref": format!("{}/Users/{m2}", s.base), "value": m2 }]
            }])),
        )
        .await;
    r.expect(200);
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(
        user[ENTERPRISE_URN]["manager"]["value"],
        json!(m2),
        "{user}"
    );
    assert!(
        user.get("manager").is_none(),
        "manager must not appear at the root: {user}"
    );

    // Manager removal: a replace with an empty value.
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "Replace", "path": format!("{ENTERPRISE_URN}:manager"), "value": "" }])),
        )
        .await;
    r.expect(200);
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert!(
        user[ENTERPRISE_URN]["manager"]["value"].is_null(),
        "manager still set: {user}"
    );

    // Hard delete.
    let r = api.delete(&format!("/Users/{id}")).await;
    r.expect(204);
    assert!(r.text.is_empty(), "204 carries no body: {}", r.text);
    let r = api.get(&format!("/Users/{id}")).await;
    r.expect_error(404, None);
    assert_empty_list(
        &api.get(&format!("/Users?{}", filter_eq("userName", &new_upn)))
            .await,
    );
}

#[tokio::test]
async fn entra_manager_check_filter_combines_id_and_manager() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("employee@contoso.example").await;
    let boss = api.create_user("boss@contoso.example").await;
    let other = api.create_user("other@contoso.example").await;
    api.patch(
        &format!("/Users/{id}"),
        &patch_op(
            json!([{ "op": "add", "path": format!("{ENTERPRISE_URN}:manager"), "value": boss }]),
        ),
    )
    .await
    .expect(200);
    let r = api
        .get(&format!(
            "/Users?{}",
            filter(&format!("id eq \"{id}\" and manager eq \"{boss}\""))
        ))
        .await;
    r.expect_list();
    assert_eq!(r.resource_ids(), vec![id.clone()]);
    let r = api
        .get(&format!(
            "/Users?{}",
            filter(&format!("id eq \"{id}\" and manager eq \"{other}\""))
        ))
        .await;
    assert_empty_list(&r);
}

/// Entra can match users on any attribute, e.g. `emails[type eq "work"].value` (docs/contract.md, "Identity providers' habits").
#[tokio::test]
async fn entra_matching_on_work_email_filters_by_value_path() {
    let s = Server::start();
    let api = s.api();
    let mut body = user_body("upn@contoso.example");
    body["emails"] = json!([
        { "value": "work@contoso.example", "type": "work", "primary": true },
        { "value": "home@contoso.example", "type": "home" }
    ]);
    let id = api.create_user_from(&body).await.id();
    let r = api
        .get(&format!(
            "/Users?{}",
            filter("emails[type eq \"work\"].value eq \"work@contoso.example\"")
        ))
        .await;
    r.expect_list();
    assert_eq!(r.resource_ids(), vec![id]);
    let r = api
        .get(&format!(
            "/Users?{}",
            filter("emails[type eq \"work\"].value eq \"home@contoso.example\"")
        ))
        .await;
    assert_empty_list(&r);
}

#[tokio::test]
async fn entra_replace_of_missing_work_email_creates_it() {
    let s = Server::start();
    let api = s.api();
    let id = api
        .create_user_from(&json!({ "schemas": [USER_URN], "userName": "no-mail@contoso.example" }))
        .await
        .id();
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "first@contoso.example" }])),
        )
        .await;
    r.expect(200);
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    let emails = user["emails"].as_array().cloned().unwrap_or_default();
    assert_eq!(emails.len(), 1, "{user}");
    assert_eq!(emails[0]["type"], json!("work"));
    assert_eq!(emails[0]["value"], json!("first@contoso.example"));
}

#[tokio::test]
async fn entra_string_booleans_are_accepted_in_every_observed_form() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("flip@contoso.example").await;
    for (op, value, expected) in [
        ("Replace", json!("False"), false),
        ("Replace", json!("True"), true),
        ("Add", json!("False"), false),
        ("replace", json!("true"), true),
        ("replace", json!("false"), false),
    ] {
        let r = api
            .patch(
                &format!("/Users/{id}"),
                &patch_op(json!([{ "op": op, "path": "active", "value": value }])),
            )
            .await;
        r.expect(200);
        let user = api.get(&format!("/Users/{id}")).await.json().clone();
        assert_eq!(
            user["active"],
            json!(expected),
            "after {op} active {value}: {user}"
        );
    }
}

// ---------------------------------------------------------------- Entra: users, aadOptscim062020

#[tokio::test]
async fn entra_user_sequence_with_aad_opt_flag_shapes() {
    let s = Server::start();
    let api = s.api();
    let upn = format!("Flag_User_{}@contoso.example", guid());
    let external_id = guid();

    assert_empty_list(
        &api.get(&format!(
            "/Users?{ENTRA_FLAG}&{}",
            filter_eq("userName", &upn)
        ))
        .await,
    );
    let r = api
        .post(
            &format!("/Users?{ENTRA_FLAG}"),
            &entra_create_user_body(&upn, &external_id),
        )
        .await;
    let id = assert_created(&r, &s.base, "Users");
    let user_url = format!("/Users/{id}?{ENTRA_FLAG}");
    api.get(&user_url).await.expect(200);

    // One path-less replace with dotted keys and fully-qualified extension keys.
    let r = api
        .patch(
            &user_url,
            &patch_op(json!([{
                "op": "replace",
                "value": {
                    "displayName": "Kimberly Caldwell",
                    "name.givenName": "Kimberly",
                    "name.familyName": "Caldwell",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "E-1001",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Engineering"
                }
            }])),
        )
        .await;
    r.expect(200);
    let user = api.get(&user_url).await.json().clone();
    assert_eq!(user["displayName"], json!("Kimberly Caldwell"), "{user}");
    assert_eq!(user["name"]["givenName"], json!("Kimberly"), "{user}");
    assert_eq!(user["name"]["familyName"], json!("Caldwell"), "{user}");
    assert_eq!(
        user["name"]["formatted"],
        json!("givenName familyName"),
        "a dotted key replaces only its sub-attribute: {user}"
    );
    assert_eq!(
        user[ENTERPRISE_URN]["employeeNumber"],
        json!("E-1001"),
        "{user}"
    );
    assert_eq!(
        user[ENTERPRISE_URN]["department"],
        json!("Engineering"),
        "{user}"
    );
    assert!(
        user.get("name.givenName").is_none(),
        "dotted key stored literally: {user}"
    );
    assert!(
        user.get(format!("{ENTERPRISE_URN}:employeeNumber"))
            .is_none(),
        "qualified key stored literally: {user}"
    );
    assert!(
        user["schemas"]
            .as_array()
            .is_some_and(|a| a.contains(&json!(ENTERPRISE_URN))),
        "schemas must list the extension once it has values: {user}"
    );

    // The work e-mail still comes with a path.
    let r = api
        .patch(
            &user_url,
            &patch_op(json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "kimberly@contoso.example" }])),
        )
        .await;
    r.expect(200);
    let user = api.get(&user_url).await.json().clone();
    assert_eq!(work_emails(&user).len(), 1, "{user}");
    assert_eq!(
        work_emails(&user)[0]["value"],
        json!("kimberly@contoso.example")
    );

    // Single-value add, lowercase.
    let r = api
        .patch(
            &user_url,
            &patch_op(json!([{ "op": "add", "path": "nickName", "value": "Kim" }])),
        )
        .await;
    r.expect(200);
    assert_eq!(api.get(&user_url).await.json()["nickName"], json!("Kim"));

    // Manager as a plain string with a lowercase op.
    let boss = api
        .create_user(&format!("boss_{}@contoso.example", random_hex(6)))
        .await;
    let r = api
        .patch(&user_url, &patch_op(json!([{ "op": "add", "path": format!("{ENTERPRISE_URN}:manager"), "value": boss }])))
        .await;
    r.expect(200);
    assert_eq!(
        api.get(&user_url).await.json()[ENTERPRISE_URN]["manager"]["value"],
        json!(boss)
    );

    // Disable with a real boolean.
    let r = api
        .patch(
            &user_url,
            &patch_op(json!([{ "op": "replace", "path": "active", "value": false }])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["active"], json!(false));
    assert_eq!(api.get(&user_url).await.json()["active"], json!(false));

    let r = api.delete(&user_url).await;
    r.expect(204);
    api.get(&user_url).await.expect_error(404, None);
}

// ---------------------------------------------------------------- Entra: groups

#[tokio::test]
async fn entra_group_sequence_creates_renames_and_fills_group() {
    let s = Server::start();
    let api = s.api();
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(
            api.create_user(&format!("member{i}_{}@contoso.example", random_hex(6)))
                .await,
        );
    }
    let name = format!("Group_{}", guid());
    let by_name = |n: &str| {
        format!(
            "/Groups?excludedAttributes=members&{}",
            filter_eq("displayName", n)
        )
    };

    assert_empty_list(&api.get(&by_name(&name)).await);
    let external_id = guid();
    let r = api
        .post(
            "/Groups",
            &json!({
                "schemas": [GROUP_URN, MS_GROUP_URN],
                "externalId": external_id,
                "displayName": name,
                "meta": { "resourceType": "Group" }
            }),
        )
        .await;
    let gid = assert_created(&r, &s.base, "Groups");
    assert_eq!(r.json()["displayName"], json!(name));
    assert!(
        r.json().get("members").is_none_or(|m| m == &json!([])),
        "a new group is empty: {}",
        r.text
    );

    let r = api
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    r.expect(200);
    assert_eq!(r.json()["displayName"], json!(name));
    assert_eq!(r.json()["externalId"], json!(external_id));
    assert!(
        r.json().get("members").is_none(),
        "excludedAttributes=members: {}",
        r.text
    );

    let r = api.get(&by_name(&name)).await;
    r.expect_list();
    assert_eq!(r.total(), 1);
    assert_eq!(r.resource_ids(), vec![gid.clone()]);
    assert!(
        r.resources()[0].get("members").is_none(),
        "excludedAttributes=members on a query: {}",
        r.text
    );

    // Rename.
    let new_name = format!("Renamed_{}", guid());
    let r = api
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{ "op": "Replace", "path": "displayName", "value": new_name }])),
        )
        .await;
    // A group PATCH without a projection answers 204 (members are not rendered).
    r.expect(204);
    assert!(r.text.is_empty(), "204 has no body: {}", r.text);
    assert!(r.header("etag").is_some(), "204 carries the new ETag");
    assert_eq!(
        api.get(&by_name(&new_name)).await.resource_ids(),
        vec![gid.clone()]
    );
    assert_empty_list(&api.get(&by_name(&name)).await);

    // Many members in one request, with Entra's null $ref.
    let adds: Vec<Value> = users
        .iter()
        .map(|u| json!({ "$ref": null, "value": u }))
        .collect();
    let r = api
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{ "op": "Add", "path": "members", "value": adds }])),
        )
        .await;
    r.expect(204);
    assert!(
        r.text.is_empty(),
        "group PATCH answers without a body: {}",
        r.text
    );
    let all: BTreeSet<String> = users.iter().cloned().collect();
    assert_eq!(api.member_ids(&gid).await, all);

    // Legacy removal: value array.
    let r = api
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": users[0] }] }])),
        )
        .await;
    r.expect(204);
    let expected: BTreeSet<String> = users[1..].iter().cloned().collect();
    assert_eq!(api.member_ids(&gid).await, expected);

    // Flag removal: filter path, no value.
    let r = api
        .patch(
            &format!("/Groups/{gid}?{ENTRA_FLAG}"),
            &patch_op(
                json!([{ "op": "remove", "path": format!("members[value eq \"{}\"]", users[1]) }]),
            ),
        )
        .await;
    r.expect(204);
    let expected: BTreeSet<String> = users[2..].iter().cloned().collect();
    assert_eq!(api.member_ids(&gid).await, expected);

    // attributes=members brings the members back in the PATCH response.
    let r = api
        .patch(
            &format!("/Groups/{gid}?attributes=members"),
            &patch_op(json!([{ "op": "Add", "path": "members", "value": [{ "$ref": null, "value": users[0] }] }])),
        )
        .await;
    r.expect(200);
    let expected: BTreeSet<String> = [&users[0], &users[2], &users[3]]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(member_values(r.json()), expected, "{}", r.text);

    let r = api.delete(&format!("/Groups/{gid}")).await;
    r.expect(204);
    api.get(&format!("/Groups/{gid}"))
        .await
        .expect_error(404, None);
    assert_empty_list(&api.get(&by_name(&new_name)).await);
    // The members themselves are untouched.
    for u in &users {
        api.get(&format!("/Users/{u}")).await.expect(200);
    }
}

// ---------------------------------------------------------------- Okta: SCIM 2.0 Spec Test

#[tokio::test]
async fn okta_spec_test_twelve_steps_pass() {
    let s = Server::start();
    let api = s.api();
    // The fixture needs one pre-existing user.
    let existing = format!("existing_{}@example.com", random_hex(8));
    api.create_user_from(&json!({
        "schemas": [USER_URN],
        "userName": existing,
        "name": { "givenName": "Pre", "familyName": "Existing" },
        "emails": [{ "primary": true, "value": existing, "type": "work" }],
        "active": true
    }))
    .await;

    // 1. First page of one.
    let r = api.get("/Users?count=1&startIndex=1").await;
    let list = r.expect_list();
    assert_eq!(list["itemsPerPage"], json!(1), "{list}");
    assert_eq!(list["startIndex"], json!(1), "{list}");
    assert_eq!(list["totalResults"], json!(1), "{list}");
    let first = &r.resources()[0];
    let first_id = first["id"].as_str().expect("id").to_owned();
    for (path, value) in [
        ("/name/familyName", json!("Existing")),
        ("/name/givenName", json!("Pre")),
        ("/userName", json!(existing)),
        ("/active", json!(true)),
        ("/emails/0/value", json!(existing)),
    ] {
        assert_eq!(first.pointer(path), Some(&value), "{path} in {first}");
    }

    // 2. That user by id.
    let r = api.get(&format!("/Users/{first_id}")).await;
    r.expect(200);
    assert_eq!(r.json()["id"], json!(first_id));
    assert_eq!(r.json()["userName"], json!(existing));
    assert_eq!(r.json()["name"]["familyName"], json!("Existing"));
    assert_eq!(r.json()["emails"][0]["value"], json!(existing));

    // 3. Filter by an invalid e-mail.
    assert_empty_list(
        &api.get(&format!(
            "/Users?{}",
            filter_eq("userName", &format!("invalid-{}", random_hex(10)))
        ))
        .await,
    );

    // 4. A user that does not exist.
    let body = api
        .get(&format!("/Users/{}", guid()))
        .await
        .expect_error(404, None)
        .clone();
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );

    // 5. Filter by a random userName.
    let random = format!("{}@example.com", random_hex(12));
    assert_empty_list(
        &api.get(&format!("/Users?{}", filter_eq("userName", &random)))
            .await,
    );

    // 6. Create, sent as application/json like the fixture does.
    let okta_user = json!({
        "schemas": [USER_URN],
        "userName": random,
        "name": { "givenName": "Okta", "familyName": "Tester" },
        "emails": [{ "primary": true, "value": random, "type": "work" }],
        "displayName": "Okta Tester",
        "locale": "en-US",
        "externalId": format!("00u{}", random_hex(17)),
        "groups": [],
        "password": "1mz050nq",
        "active": true
    });
    let r = api
        .send_raw(
            Method::POST,
            "/Users",
            serde_json::to_vec(&okta_user).expect("json"),
            "application/json",
        )
        .await;
    r.expect(201);
    let new_id = r.id();
    let created = r.json();
    assert_eq!(created["active"], json!(true));
    assert_eq!(created["userName"], json!(random));
    assert_eq!(created["name"]["givenName"], json!("Okta"));
    assert_eq!(created["name"]["familyName"], json!("Tester"));
    assert!(
        created.get("password").is_none(),
        "password is never returned: {created}"
    );

    // 7. Read it back.
    let r = api.get(&format!("/Users/{new_id}")).await;
    r.expect(200);
    assert_eq!(r.json()["userName"], json!(random));
    assert_eq!(r.json()["name"]["givenName"], json!("Okta"));
    assert_eq!(r.json()["name"]["familyName"], json!("Tester"));
    assert_eq!(r.json()["active"], json!(true));
    assert!(
        r.json().get("password").is_none(),
        "password is never returned: {}",
        r.text
    );

    // 8. Same userName again.
    let r = api
        .send_raw(
            Method::POST,
            "/Users",
            serde_json::to_vec(&okta_user).expect("json"),
            "application/json",
        )
        .await;
    r.expect_error(409, Some("uniqueness"));

    // 9. The userName in capitals: userName is caseExact false.
    let r = api
        .get(&format!(
            "/Users?{}",
            filter_eq("userName", &random.to_uppercase())
        ))
        .await;
    r.expect_list();
    assert_eq!(r.resource_ids(), vec![new_id.clone()]);

    // 10. Groups.
    let r = api.get("/Groups").await;
    r.expect_list();
    assert_eq!(r.total(), 0);

    // 11. Invalid credentials.
    let url = s.client.url("/Users?count=1&startIndex=1");
    let r = s
        .client
        .send_bytes(
            Method::GET,
            &url,
            None,
            None,
            SCIM_JSON,
            &[("Authorization", "non-token")],
        )
        .await;
    let body = r.expect_error(401, None);
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );

    // 12. Nonexistent user again.
    let body = api
        .get(&format!("/Users/{}", random_hex(18)))
        .await
        .expect_error(404, None)
        .clone();
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn okta_import_pages_through_every_user_exactly_once_in_stable_order() {
    let s = Server::start();
    let api = s.api();
    let mut created = HashSet::new();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..10 {
        let api = api.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in 0..25 {
                ids.push(
                    api.create_user(&format!("import{chunk:02}_{i:02}@example.com"))
                        .await,
                );
            }
            ids
        });
    }
    while let Some(ids) = tasks.join_next().await {
        created.extend(ids.expect("creating users"));
    }
    assert_eq!(created.len(), 250);

    let page_through = |count: u64| {
        let api = api.clone();
        async move {
            let mut order = Vec::new();
            let mut start = 1;
            loop {
                let r = api
                    .get(&format!("/Users?startIndex={start}&count={count}"))
                    .await;
                let body = r.expect_list();
                assert_eq!(body["totalResults"], json!(250), "{start}");
                assert_eq!(
                    body["startIndex"],
                    json!(start),
                    "the requested startIndex is echoed"
                );
                let ids = r.resource_ids();
                assert_eq!(body["itemsPerPage"], json!(ids.len()));
                assert_eq!(
                    ids.len() as u64,
                    count.min(250 - (start - 1)),
                    "page at {start}"
                );
                order.extend(ids);
                start += count;
                if start > 250 {
                    break;
                }
            }
            order
        }
    };
    let by_100 = page_through(100).await;
    assert_eq!(by_100.len(), 250);
    let distinct: HashSet<String> = by_100.iter().cloned().collect();
    assert_eq!(distinct, created, "every user exactly once");
    let again = page_through(100).await;
    assert_eq!(again, by_100, "order is stable between imports");
    let by_7 = page_through(7).await;
    assert_eq!(by_7, by_100, "order does not depend on the page size");
    // Past the end: an empty page, still with the total.
    let r = api.get("/Users?startIndex=251&count=100").await;
    r.expect_list();
    assert_eq!(r.total(), 250);
    assert!(r.resources().is_empty());
}

// ---------------------------------------------------------------- Okta: provisioning pushes

#[tokio::test]
async fn okta_user_push_updates_with_put_and_deactivates_with_pathless_patch() {
    let s = Server::start();
    let api = s.api();
    let user_name = format!("okta_{}@example.com", random_hex(8));
    let r = api
        .get(&format!(
            "/Users?{}&startIndex=1&count=100",
            filter_eq("userName", &user_name)
        ))
        .await;
    assert_empty_list(&r);
    let r = api
        .post(
            "/Users",
            &json!({
                "schemas": [USER_URN],
                "userName": user_name,
                "name": { "givenName": "Ada", "familyName": "Lovelace" },
                "emails": [{ "primary": true, "value": user_name, "type": "work" }],
                "displayName": "Ada Lovelace",
                "locale": "en-US",
                "externalId": "00u1abcdefGHIJKLM0h7",
                "groups": [],
                "password": "t0pSecret!",
                "active": true
            }),
        )
        .await;
    let id = assert_created(&r, &s.base, "Users");

    // Read-modify-write with PUT: the body is what GET returned (id, meta, schemas included).
    let mut current = api.get(&format!("/Users/{id}")).await.json().clone();
    current["name"]["familyName"] = json!("King");
    current["title"] = json!("Countess");
    let r = api.put(&format!("/Users/{id}"), &current).await;
    r.expect(200);
    assert_eq!(r.json()["name"]["familyName"], json!("King"));
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(user["name"]["familyName"], json!("King"));
    assert_eq!(user["title"], json!("Countess"));
    assert_eq!(user["userName"], json!(user_name));
    assert_eq!(user["externalId"], json!("00u1abcdefGHIJKLM0h7"));

    // Deactivate and reactivate: path-less replace with a boolean.
    for active in [false, true] {
        let r = api
            .patch(
                &format!("/Users/{id}"),
                &patch_op(json!([{ "op": "replace", "value": { "active": active } }])),
            )
            .await;
        r.expect(200);
        assert_eq!(r.json()["active"], json!(active));
        assert_eq!(
            api.get(&format!("/Users/{id}")).await.json()["active"],
            json!(active)
        );
    }
}

#[tokio::test]
async fn okta_group_push_renames_and_changes_membership() {
    let s = Server::start();
    let api = s.api();
    let u: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(
                api.create_user(&format!("push{i}_{}@example.com", random_hex(6)))
                    .await,
            );
        }
        v
    };
    let r = api
        .post(
            "/Groups",
            &json!({ "schemas": [GROUP_URN], "displayName": "Okta Push", "members": [] }),
        )
        .await;
    let gid = assert_created(&r, &s.base, "Groups");
    api.get(&format!("/Groups/{gid}")).await.expect(200);

    // Rename: path-less replace that carries the (unchanged) id.
    let r = api
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{ "op": "replace", "value": { "id": gid, "displayName": "Okta Push Renamed" } }])),
        )
        .await;
    r.expect(204);
    assert_eq!(
        api.get(&format!("/Groups/{gid}")).await.json()["displayName"],
        json!("Okta Push Renamed")
    );

    // Full membership push.
    let r = api
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{ "op": "replace", "path": "members", "value": [{ "value": u[0] }, { "value": u[1] }] }])),
        )
        .await;
    r.expect(204);
    assert_eq!(
        api.member_ids(&gid).await,
        BTreeSet::from([u[0].clone(), u[1].clone()])
    );

    // Incremental: remove by filter and add by value array in one request.
    let r = api
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([
                { "op": "remove", "path": format!("members[value eq \"{}\"]", u[0]) },
                { "op": "add", "path": "members", "value": [{ "value": u[2], "display": "push2" }, { "value": u[3], "display": "push3" }] }
            ])),
        )
        .await;
    r.expect(204);
    assert_eq!(
        api.member_ids(&gid).await,
        BTreeSet::from([u[1].clone(), u[2].clone(), u[3].clone()])
    );

    // Unlink.
    api.delete(&format!("/Groups/{gid}")).await.expect(204);
    api.get(&format!("/Groups/{gid}"))
        .await
        .expect_error(404, None);
}

// ---------------------------------------------------------------- JumpCloud

#[tokio::test]
async fn jumpcloud_test_connection_creates_and_deletes_test_user_and_group() {
    let s = Server::start();
    let api = s.api();
    let email = format!("jc-test-{}@example.com", random_hex(8));
    let r = api
        .post(
            "/Users",
            &json!({
                "schemas": [USER_URN],
                "userName": email,
                "name": { "givenName": "JumpCloud", "familyName": "Test" },
                "emails": [{ "value": email, "type": "work", "primary": true }],
                "active": true
            }),
        )
        .await;
    let uid = assert_created(&r, &s.base, "Users");
    let r = api
        .post("/Groups", &json!({ "schemas": [GROUP_URN], "displayName": format!("JumpCloud Test Group {}", random_hex(6)) }))
        .await;
    let gid = assert_created(&r, &s.base, "Groups");
    // Azure-style member add without a filter path.
    api.patch(
        &format!("/Groups/{gid}"),
        &patch_op(json!([{ "op": "add", "path": "members", "value": [{ "value": uid }] }])),
    )
    .await
    .expect(204);
    assert_eq!(api.member_ids(&gid).await, BTreeSet::from([uid.clone()]));

    api.delete(&format!("/Users/{uid}")).await.expect(204);
    api.delete(&format!("/Groups/{gid}")).await.expect(204);
    api.get(&format!("/Users/{uid}"))
        .await
        .expect_error(404, None);
    api.get(&format!("/Groups/{gid}"))
        .await
        .expect_error(404, None);
    assert_empty_list(&api.get("/Users").await);
    assert_empty_list(&api.get("/Groups").await);
}
