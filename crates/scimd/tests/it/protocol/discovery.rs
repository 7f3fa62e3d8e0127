//! Discovery and routing: what the server says it supports, and every route it answers.

use super::*;

#[tokio::test]
async fn discovery_endpoints_describe_the_server() {
    let s = Server::start();
    let api = s.api();
    let r = api.get("/ServiceProviderConfig").await;
    r.expect(200);
    let spc = r.json();
    assert_eq!(
        spc["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    for feature in ["patch", "bulk", "filter", "sort", "etag"] {
        assert_eq!(spc[feature]["supported"], json!(true), "{feature}: {spc}");
    }
    assert!(
        spc["bulk"]["maxOperations"].as_u64().is_some_and(|n| n > 0),
        "{spc}"
    );
    assert!(
        spc["bulk"]["maxPayloadSize"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{spc}"
    );
    assert!(
        spc["filter"]["maxResults"].as_u64().is_some_and(|n| n > 0),
        "{spc}"
    );
    assert_eq!(
        spc["authenticationSchemes"][0]["type"],
        json!("oauthbearertoken"),
        "{spc}"
    );
    assert_eq!(spc["pagination"]["cursor"], json!(true), "{spc}");
    assert_eq!(spc["pagination"]["index"], json!(true), "{spc}");
    assert_eq!(
        spc["pagination"]["defaultPaginationMethod"],
        json!("index"),
        "{spc}"
    );

    let r = api.get("/ResourceTypes").await;
    r.expect_list();
    let types: Vec<(String, String, String)> = r
        .resources()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("").to_owned(),
                t["endpoint"].as_str().unwrap_or("").to_owned(),
                t["schema"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        types.contains(&("User".into(), "/Users".into(), USER_URN.into())),
        "{types:?}"
    );
    assert!(
        types.contains(&("Group".into(), "/Groups".into(), GROUP_URN.into())),
        "{types:?}"
    );
    let user_type = r
        .resources()
        .iter()
        .find(|t| t["name"] == "User")
        .expect("User type")
        .clone();
    assert!(
        user_type["schemaExtensions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["schema"] == ENTERPRISE_URN)),
        "{user_type}"
    );
    api.get("/ResourceTypes/User").await.expect(200);

    let r = api.get("/Schemas").await;
    r.expect_list();
    let ids: HashSet<String> = r
        .resources()
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    for urn in [USER_URN, GROUP_URN, ENTERPRISE_URN] {
        assert!(ids.contains(urn), "{urn} missing from /Schemas");
    }
    let r = api.get(&format!("/Schemas/{USER_URN}")).await;
    r.expect(200);
    let schema = r.json();
    assert_eq!(schema["id"], json!(USER_URN));
    let user_name = schema["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "userName"))
        .expect("userName in the User schema")
        .clone();
    assert_eq!(user_name["type"], json!("string"));
    assert_eq!(user_name["required"], json!(true));
    assert_eq!(user_name["caseExact"], json!(false));
    assert_eq!(user_name["uniqueness"], json!("server"));
    let groups = schema["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "groups"))
        .expect("groups");
    assert_eq!(groups["mutability"], json!("readOnly"));
    api.get(&format!("/Schemas/{ENTERPRISE_URN}"))
        .await
        .expect(200);
    api.get(&format!("/Schemas/{GROUP_URN}")).await.expect(200);
    api.get("/Schemas/urn:example:nothing")
        .await
        .expect_error(404, None);
}

#[tokio::test]
async fn discovery_endpoints_refuse_writes_with_405() {
    let s = Server::start();
    let api = s.api();
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/Schemas",
        &format!("/Schemas/{USER_URN}"),
    ] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let r = api.send(method.clone(), path, Some(&json!({})), &[]).await;
            assert_eq!(r.status, 405, "{method} {path}: {}", r.text);
            r.expect_error(405, None);
        }
    }
}

#[tokio::test]
async fn unknown_paths_are_404_with_scim_body() {
    let s = Server::start();
    let api = s.api();
    for path in ["/Nope", "/Users/x/y", "/users2", "/Groups/a/b/c"] {
        api.get(path).await.expect_error(404, None);
    }
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        api.send(method, "/Nope", Some(&json!({})), &[])
            .await
            .expect_error(404, None);
    }
}

#[tokio::test]
async fn me_answers_501() {
    let s = Server::start();
    let api = s.api();
    api.get("/Me").await.expect_error(501, None);
    api.post("/Me", &user_body("me@example.com"))
        .await
        .expect_error(501, None);
    api.patch(
        "/Me",
        &patch_op(json!([{ "op": "replace", "path": "title", "value": "x" }])),
    )
    .await
    .expect_error(501, None);
    api.delete("/Me").await.expect_error(501, None);
    assert_eq!(api.user_count().await, 0);
}

#[tokio::test]
async fn missing_or_malformed_credentials_are_401() {
    let s = Server::start();
    for auth in [
        None,
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer"),
        Some("Bearer "),
        Some("non-token"),
    ] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        for path in ["/Users", "/Groups", &format!("/Users/{}", guid())] {
            let url = s.client.url(path);
            let r = s
                .client
                .send_bytes(Method::GET, &url, None, None, SCIM_JSON, &headers)
                .await;
            let body = r.expect_error(401, None);
            assert!(
                body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{auth:?} {path}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored() {
    let s = Server::start();
    let api = s.api();
    let r = api
        .post(
            "/Users?aadOptscim062020&foo=bar",
            &user_body("query@example.com"),
        )
        .await;
    r.expect(201);
    let id = r.id();
    api.get("/Users?aadOptscim062020").await.expect_list();
    let r = api
        .get(&format!(
            "/Users?foo=bar&{}&AzureAdScimPatch2017",
            filter_eq("userName", "query@example.com")
        ))
        .await;
    assert_eq!(r.resource_ids(), vec![id.clone()]);
    api.get(&format!("/Users/{id}?whatever=1"))
        .await
        .expect(200);
    api.patch(
        &format!("/Users/{id}?x=y"),
        &patch_op(json!([{ "op": "replace", "path": "title", "value": "Tester" }])),
    )
    .await
    .expect(200);
    api.get("/ServiceProviderConfig?aadOptscim062020")
        .await
        .expect(200);
    api.get("/Groups?zzz=1").await.expect_list();
    api.delete(&format!("/Users/{id}?aadOptscim062020"))
        .await
        .expect(204);
}
