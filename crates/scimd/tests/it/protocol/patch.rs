//! PATCH semantics (RFC 7644 section 3.5.2): atomic, and as clients need it.

use super::*;

#[tokio::test]
async fn no_op_patch_keeps_meta_version() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("noop@example.com").await;
    let before = api.get(&format!("/Users/{id}")).await.json().clone();
    for ops in [
        json!([{ "op": "replace", "path": "displayName", "value": "Given Family" }]),
        json!([{ "op": "replace", "path": "active", "value": true }]),
        json!([{ "op": "replace", "value": { "name": { "givenName": "Given", "familyName": "Family", "formatted": "Given Family" } } }]),
        json!([{ "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "noop@example.com" }]),
    ] {
        let r = api
            .patch(&format!("/Users/{id}"), &patch_op(ops.clone()))
            .await;
        r.expect(200);
        assert_eq!(
            version_of(r.json()),
            version_of(&before),
            "{ops} changed the version"
        );
        assert_eq!(r.header("etag"), Some(version_of(&before).as_str()));
    }
    let after = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(
        after["meta"], before["meta"],
        "meta.version and lastModified stay"
    );

    let u = api.create_user("member-noop@example.com").await;
    let g = api.create_group("No-op group", &[&u]).await;
    let before = version_of(api.get(&format!("/Groups/{g}")).await.json());
    let r = api
        .patch(
            &format!("/Groups/{g}"),
            &patch_op(json!([{ "op": "add", "path": "members", "value": [{ "value": u }] }])),
        )
        .await;
    r.expect(204);
    assert_eq!(
        r.header("etag").map(str::to_owned),
        Some(before.clone()),
        "adding an existing member is a no-op"
    );
    assert_eq!(
        version_of(api.get(&format!("/Groups/{g}")).await.json()),
        before
    );
    assert_eq!(api.member_ids(&g).await, BTreeSet::from([u]));
}

#[tokio::test]
async fn failing_patch_changes_nothing() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("atomic@example.com").await;
    let before = api.get(&format!("/Users/{id}")).await.json().clone();
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                { "op": "replace", "path": "displayName", "value": "Changed" },
                { "op": "remove" }
            ])),
        )
        .await;
    r.expect_error(400, Some("noTarget"));
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                { "op": "replace", "path": "title", "value": "Changed" },
                { "op": "replace", "path": "active", "value": "not a boolean" }
            ])),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                { "op": "add", "path": "nickName", "value": "Changed" },
                { "op": "replace", "path": "emails[value eq \"nobody@example.com\"].value", "value": "x@example.com" }
            ])),
        )
        .await;
    r.expect_error(400, Some("noTarget"));
    assert_eq!(
        api.get(&format!("/Users/{id}")).await.json(),
        &before,
        "a failed PATCH left changes behind"
    );

    // Groups: a valid member add followed by an invalid member add.
    let u = api.create_user("good-member@example.com").await;
    let g = api.create_group("Atomic group", &[]).await;
    let gbefore = api.get(&format!("/Groups/{g}")).await.json().clone();
    let r = api
        .patch(
            &format!("/Groups/{g}"),
            &patch_op(json!([
                { "op": "replace", "path": "displayName", "value": "Changed" },
                { "op": "add", "path": "members", "value": [{ "value": u }] },
                { "op": "add", "path": "members", "value": [{ "value": guid() }] }
            ])),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert_eq!(api.get(&format!("/Groups/{g}")).await.json(), &gbefore);
}

#[tokio::test]
async fn patch_of_read_only_attributes_is_400_mutability() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("readonly@example.com").await;
    let before = api.get(&format!("/Users/{id}")).await.json().clone();
    for op in [
        json!({ "op": "replace", "path": "id", "value": "another-id" }),
        json!({ "op": "replace", "path": "meta.created", "value": "2001-01-01T00:00:00Z" }),
    ] {
        let r = api
            .patch(&format!("/Users/{id}"), &patch_op(json!([op])))
            .await;
        r.expect_error(400, Some("mutability"));
    }
    assert_eq!(api.get(&format!("/Users/{id}")).await.json(), &before);
}

#[tokio::test]
async fn post_ignores_client_sent_id_and_meta() {
    let s = Server::start();
    let api = s.api();
    let mut body = user_body("ignored@example.com");
    body["id"] = json!("client-chosen-id");
    body["meta"] = json!({ "resourceType": "User", "created": "2001-01-01T00:00:00Z", "version": "W/\"999\"" });
    let r = api.post("/Users", &body).await;
    r.expect(201);
    let id = r.id();
    assert_ne!(id, "client-chosen-id");
    assert_ne!(r.json()["meta"]["created"], json!("2001-01-01T00:00:00Z"));
    assert_ne!(r.json()["meta"]["version"], json!("W/\"999\""));
    api.get("/Users/client-chosen-id")
        .await
        .expect_error(404, None);
}

#[tokio::test]
async fn put_replaces_the_whole_resource() {
    let s = Server::start();
    let api = s.api();
    let mut body = user_body("put@example.com");
    body["title"] = json!("Old title");
    body["nickName"] = json!("Nick");
    let id = api.create_user_from(&body).await.id();
    let r = api
        .put(
            &format!("/Users/{id}"),
            &json!({ "schemas": [USER_URN], "userName": "put@example.com", "title": "New title", "active": false }),
        )
        .await;
    r.expect(200);
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(user["title"], json!("New title"));
    assert_eq!(user["active"], json!(false));
    for gone in ["nickName", "emails", "name", "displayName"] {
        assert!(user.get(gone).is_none(), "PUT left {gone} behind: {user}");
    }
    // PUT onto another user's userName is a uniqueness conflict.
    let other = api.create_user("other@example.com").await;
    let r = api
        .put(&format!("/Users/{other}"), &user_body("PUT@example.com"))
        .await;
    r.expect_error(409, Some("uniqueness"));
    // So is a PATCH rename.
    let r = api
        .patch(
            &format!("/Users/{other}"),
            &patch_op(json!([{ "op": "replace", "path": "userName", "value": "Put@Example.com" }])),
        )
        .await;
    r.expect_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn root_search_finds_users_and_groups() {
    let s = Server::start();
    let api = s.api();
    let u = api.create_user("root@example.com").await;
    let g = api.create_group("Root group", &[]).await;
    let r = api
        .post("/.search", &json!({ "schemas": [SEARCH_URN] }))
        .await;
    r.expect_list();
    assert_eq!(r.total(), 2);
    let ids: BTreeSet<String> = r.resource_ids().into_iter().collect();
    assert_eq!(ids, BTreeSet::from([u.clone(), g]));
    let r = api
        .post(
            "/.search",
            &json!({ "schemas": [SEARCH_URN], "filter": "userName eq \"root@example.com\"" }),
        )
        .await;
    r.expect_list();
    assert_eq!(r.resource_ids(), vec![u]);
}

#[tokio::test]
async fn content_type_is_scim_json_everywhere() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("ctype@example.com").await;
    for r in [
        api.get("/Users").await,
        api.get(&format!("/Users/{id}")).await,
        api.get("/ServiceProviderConfig").await,
        api.get("/Schemas").await,
        api.get("/ResourceTypes").await,
        api.get("/Users/nope").await,
        api.get(&format!("/Users?{}", filter("bad filter"))).await,
        api.post("/Users", &user_body("ctype@example.com")).await,
    ] {
        assert!(
            r.content_type().starts_with(SCIM_JSON),
            "{} {}: Content-Type '{}'",
            r.method,
            r.url,
            r.content_type()
        );
    }
}
