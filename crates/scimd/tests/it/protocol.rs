//! The SCIM protocol as RFC 7643 / 7644 / 9865 and docs/contract.md ("The SCIM service") define it, driven against
//! the real binary: bad input of every kind, discovery, conditional requests, projection,
//! sorting, filters, index and cursor paging, Bulk, membership and PATCH atomicity.

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Ids of the users a filter selects (through `GET /Users?filter=`).
async fn select(api: &Api, expr: &str) -> BTreeSet<String> {
    let r = api.get(&format!("/Users?{}", filter(expr))).await;
    assert_eq!(r.status, 200, "filter `{expr}`: {}", r.text);
    r.expect_list();
    r.resource_ids().into_iter().collect()
}

// ---------------------------------------------------------------- bad input

#[tokio::test]
async fn malformed_json_is_400_invalid_syntax() {
    let s = Server::start();
    let api = s.api();
    for body in [
        &b"{\"userName\": \"x@example.com\","[..],
        b"not json",
        b"",
        b"{\"userName\" \"x\"}",
    ] {
        let r = api
            .send_raw(Method::POST, "/Users", body.to_vec(), SCIM_JSON)
            .await;
        r.expect_error(400, Some("invalidSyntax"));
    }
    let id = api.create_user("target@example.com").await;
    let r = api
        .send_raw(
            Method::PATCH,
            &format!("/Users/{id}"),
            b"{\"Operations\": [".to_vec(),
            SCIM_JSON,
        )
        .await;
    r.expect_error(400, Some("invalidSyntax"));
    let r = api
        .send_raw(Method::POST, "/Bulk", b"[[[".to_vec(), SCIM_JSON)
        .await;
    r.expect_error(400, Some("invalidSyntax"));
    assert_eq!(api.user_count().await, 1);
}

#[tokio::test]
async fn invalid_utf8_body_is_400_and_creates_nothing() {
    let s = Server::start();
    let api = s.api();
    let mut body =
        b"{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    body.extend_from_slice(b"@example.com\"}");
    let r = api.send_raw(Method::POST, "/Users", body, SCIM_JSON).await;
    r.expect_error(400, None);
    assert_eq!(api.user_count().await, 0);
}

#[tokio::test]
async fn body_of_two_megabytes_is_413_with_scim_error() {
    let s = Server::start();
    // Each request on a new connection: this test is about the answer, not keep-alive (see
    // `connection_stays_usable_after_a_413`).
    let fresh = || Api {
        client: Client::new(&s.origin, &s.base),
        token: s.org.token.clone(),
    };
    let mut user = user_body("big@example.com");
    user["displayName"] = json!("x".repeat(2 * 1024 * 1024));
    let r = fresh().post("/Users", &user).await;
    r.expect_error(413, None);
    let bulk = json!({
        "schemas": [BULK_REQUEST_URN],
        "Operations": [{ "method": "POST", "path": "/Users", "bulkId": "big", "data": user }]
    });
    let r = fresh().post("/Bulk", &bulk).await;
    r.expect_error(413, None);
    let id = fresh().create_user("small@example.com").await;
    let r = fresh()
        .patch(
            &format!("/Users/{id}"),
            &patch_op(
                json!([{ "op": "replace", "path": "title", "value": "x".repeat(2 * 1024 * 1024) }]),
            ),
        )
        .await;
    r.expect_error(413, None);
    // The server still answers, and nothing was changed.
    assert_eq!(fresh().user_count().await, 1);
    assert!(
        fresh()
            .get(&format!("/Users/{id}"))
            .await
            .json()
            .get("title")
            .is_none()
    );
}

/// An identity provider keeps its connections alive: after refusing a body as too large, the
/// server must either leave the connection usable or announce `Connection: close`, so that the
/// client's next request does not fail on a connection the server dropped silently. Driven on
/// one raw socket so that the outcome does not depend on a client's connection pool.
#[tokio::test]
async fn connection_stays_usable_after_a_413() {
    let s = Server::start();
    let mut stream = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = serde_json::to_vec(
        &json!({ "userName": "big@example.com", "displayName": "x".repeat(2 * 1024 * 1024) }),
    )
    .expect("json");
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n",
        s.port,
        s.org.token,
        body.len()
    );
    // The server may answer before it has read everything; a failed write is not the point.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&body));
    let (status, headers, _) =
        read_http_response(&mut stream).expect("a response to the large request");
    assert_eq!(status, 413);
    if headers
        .iter()
        .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"))
    {
        return;
    }
    let next = format!(
        "GET /scim/v2/ServiceProviderConfig HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\r\n",
        s.port, s.org.token
    );
    let sent = stream.write_all(next.as_bytes());
    let answer = sent.ok().and_then(|()| read_http_response(&mut stream));
    assert!(
        matches!(answer, Some((200, _, _))),
        "the 413 did not say `Connection: close`, but the connection was dropped: {answer:?}"
    );
}

/// A raw HTTP response: status, lower-cased header names with values, body.
type RawResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// Reads one HTTP/1.1 response with a `Content-Length` body; `None` when the connection ends.
fn read_http_response(stream: &mut TcpStream) -> Option<RawResponse> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some((status, headers, body))
}

#[tokio::test]
async fn unknown_attribute_with_a_value_is_400_invalid_value_naming_it() {
    let s = Server::start();
    let api = s.api();
    let mut user = user_body("unknown@example.com");
    user["favouriteColour"] = json!("blue");
    let body = api
        .post("/Users", &user)
        .await
        .expect_error(400, Some("invalidValue"))
        .clone();
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("favouriteColour")),
        "{body}"
    );

    let mut user = user_body("unknown@example.com");
    user[ENTERPRISE_URN] = json!({ "department": "R&D", "shoeSize": "44" });
    user["schemas"] = json!([USER_URN, ENTERPRISE_URN]);
    let body = api
        .post("/Users", &user)
        .await
        .expect_error(400, Some("invalidValue"))
        .clone();
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("shoeSize")),
        "{body}"
    );

    let mut user = user_body("unknown@example.com");
    user["name"]["nickname"] = json!("Al");
    let body = api
        .post("/Users", &user)
        .await
        .expect_error(400, Some("invalidValue"))
        .clone();
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("nickname")),
        "{body}"
    );
    assert_eq!(api.user_count().await, 0);

    // A null is simply no value.
    let mut user = user_body("unknown@example.com");
    user["favouriteColour"] = Value::Null;
    let r = api.post("/Users", &user).await;
    r.expect(201);
    assert!(r.json().get("favouriteColour").is_none(), "{}", r.text);
    let id = r.id();

    // PUT and path-less PATCH refuse it the same way, and change nothing.
    let before = api.get(&format!("/Users/{id}")).await.json().clone();
    let mut user = user_body("unknown@example.com");
    user["favouriteColour"] = json!("green");
    let body = api
        .put(&format!("/Users/{id}"), &user)
        .await
        .expect_error(400, Some("invalidValue"))
        .clone();
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("favouriteColour")),
        "{body}"
    );
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "replace", "value": { "favouriteColour": "red" } }])),
        )
        .await;
    let body = r.expect_error(400, None).clone();
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("favouriteColour")),
        "{body}"
    );
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "add", "path": "favouriteColour", "value": "red" }])),
        )
        .await;
    let body = r.expect_error(400, None).clone();
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("favouriteColour")),
        "{body}"
    );
    assert_eq!(api.get(&format!("/Users/{id}")).await.json(), &before);
}

#[tokio::test]
async fn wrong_types_are_400_invalid_value() {
    let s = Server::start();
    let api = s.api();
    for (attr, value) in [
        ("active", json!(5)),
        ("active", json!("maybe")),
        ("emails", json!("x")),
        ("emails", json!([{ "value": 5 }])),
        ("userName", json!(12)),
        ("name", json!("Alice")),
        ("displayName", json!(["a", "b"])),
    ] {
        let mut user = user_body("typed@example.com");
        user[attr] = value.clone();
        let r = api.post("/Users", &user).await;
        assert_eq!(r.status, 400, "{attr}: {value} was accepted: {}", r.text);
        r.expect_error(400, Some("invalidValue"));
    }
    assert_eq!(api.user_count().await, 0);

    let id = api.create_user("typed@example.com").await;
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "replace", "path": "active", "value": 5 }])),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "replace", "path": "emails", "value": "x" }])),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert_eq!(
        api.get(&format!("/Users/{id}")).await.json()["active"],
        json!(true)
    );
}

#[tokio::test]
async fn user_without_user_name_is_400_invalid_value() {
    let s = Server::start();
    let api = s.api();
    let r = api
        .post(
            "/Users",
            &json!({ "schemas": [USER_URN], "displayName": "Nobody" }),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    let r = api
        .post("/Groups", &json!({ "schemas": [GROUP_URN] }))
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert_eq!(api.user_count().await, 0);
}

#[tokio::test]
async fn invalid_filters_are_400_invalid_filter() {
    let s = Server::start();
    let api = s.api();
    api.create_user("someone@example.com").await;
    for expr in [
        "userName eq",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "userName eq \"a\")",
        "userName eq \"a\" and",
        "emails[type eq \"work\"",
        "userName eq \"unterminated",
        "and userName eq \"a\"",
        "active gt true",
        "userName eq 'single'",
    ] {
        let r = api.get(&format!("/Users?{}", filter(expr))).await;
        assert_eq!(r.status, 400, "`{expr}` was accepted: {}", r.text);
        r.expect_error(400, Some("invalidFilter"));
        let r = api
            .post(
                "/Users/.search",
                &json!({ "schemas": [SEARCH_URN], "filter": expr }),
            )
            .await;
        r.expect_error(400, Some("invalidFilter"));
    }
}

#[tokio::test]
async fn thousand_nested_parentheses_are_refused_and_server_keeps_serving() {
    let mut s = Server::start();
    let api = s.api();
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(1000), ")".repeat(1000));
    let r = api.get(&format!("/Users?{}", filter(&deep))).await;
    r.expect_error(400, None);
    let r = api
        .post(
            "/Users/.search",
            &json!({ "schemas": [SEARCH_URN], "filter": deep }),
        )
        .await;
    r.expect_error(400, None);
    let nots = format!(
        "{}userName eq \"a\"{}",
        "not (".repeat(1000),
        ")".repeat(1000)
    );
    let r = api
        .post(
            "/Users/.search",
            &json!({ "schemas": [SEARCH_URN], "filter": nots }),
        )
        .await;
    r.expect_error(400, None);
    let brackets = format!(
        "emails[{}value eq \"a\"{}]",
        "(".repeat(1000),
        ")".repeat(1000)
    );
    let r = api
        .post(
            "/Users/.search",
            &json!({ "schemas": [SEARCH_URN], "filter": brackets }),
        )
        .await;
    r.expect_error(400, None);
    let id = api.create_user("alive@example.com").await;
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "replace", "path": format!("emails[{}type eq \"work\"{}].value", "(".repeat(1000), ")".repeat(1000)), "value": "x@example.com" }])),
        )
        .await;
    r.expect_error(400, None);
    // Still alive and well.
    assert!(s.is_running(), "the server died:\n{}", s.log_tail());
    api.get("/ServiceProviderConfig").await.expect(200);
    assert_eq!(
        select(&api, "userName eq \"alive@example.com\"").await,
        BTreeSet::from([id])
    );
}

// ---------------------------------------------------------------- discovery and routing

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

// ---------------------------------------------------------------- ETags

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("etag@example.com").await;
    let r = api.get(&format!("/Users/{id}")).await;
    r.expect(200);
    let etag = r.header("etag").expect("an ETag header").to_owned();
    assert_eq!(etag, version_of(r.json()));
    assert!(etag.starts_with("W/\"") && etag.ends_with('"'), "{etag}");

    let r = api
        .send(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("If-None-Match", &etag)],
        )
        .await;
    assert_eq!(r.status, 304, "{}", r.text);
    assert!(r.text.is_empty(), "304 carries no body");
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let r = api
        .send(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("If-None-Match", "W/\"no-such-version\"")],
        )
        .await;
    r.expect(200);

    api.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{ "op": "replace", "path": "title", "value": "New" }])),
    )
    .await
    .expect(200);
    let r = api
        .send(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("If-None-Match", &etag)],
        )
        .await;
    r.expect(200);
    assert_ne!(
        r.header("etag"),
        Some(etag.as_str()),
        "the version changes with the resource"
    );

    let gid = api.create_group("ETag group", &[]).await;
    let getag = api
        .get(&format!("/Groups/{gid}"))
        .await
        .header("etag")
        .expect("group ETag")
        .to_owned();
    let r = api
        .send(
            Method::GET,
            &format!("/Groups/{gid}"),
            None,
            &[("If-None-Match", &getag)],
        )
        .await;
    assert_eq!(r.status, 304);
}

#[tokio::test]
async fn stale_if_match_is_412_and_changes_nothing() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("ifmatch@example.com").await;
    let path = format!("/Users/{id}");
    let stale = api
        .get(&path)
        .await
        .header("etag")
        .expect("ETag")
        .to_owned();
    api.patch(
        &path,
        &patch_op(json!([{ "op": "replace", "path": "title", "value": "First" }])),
    )
    .await
    .expect(200);
    let before = api.get(&path).await.json().clone();
    let current = version_of(&before);
    assert_ne!(current, stale);

    let r = api
        .send(
            Method::PATCH,
            &path,
            Some(&patch_op(
                json!([{ "op": "replace", "path": "title", "value": "Second" }]),
            )),
            &[("If-Match", &stale)],
        )
        .await;
    r.expect_error(412, None);
    let mut put = user_body("ifmatch@example.com");
    put["title"] = json!("Put");
    api.send(Method::PUT, &path, Some(&put), &[("If-Match", &stale)])
        .await
        .expect_error(412, None);
    api.send(Method::DELETE, &path, None, &[("If-Match", &stale)])
        .await
        .expect_error(412, None);
    assert_eq!(
        api.get(&path).await.json(),
        &before,
        "a refused conditional write changed the user"
    );

    // The current version is accepted.
    let r = api
        .send(
            Method::PATCH,
            &path,
            Some(&patch_op(
                json!([{ "op": "replace", "path": "title", "value": "Second" }]),
            )),
            &[("If-Match", &current)],
        )
        .await;
    r.expect(200);
    let newer = r.header("etag").expect("ETag").to_owned();
    api.send(Method::PUT, &path, Some(&put), &[("If-Match", &newer)])
        .await
        .expect(200);
    let newest = api
        .get(&path)
        .await
        .header("etag")
        .expect("ETag")
        .to_owned();
    api.send(Method::DELETE, &path, None, &[("If-Match", &newest)])
        .await
        .expect(204);
    api.get(&path).await.expect_error(404, None);

    // Groups too.
    let gid = api.create_group("Conditional", &[]).await;
    let gpath = format!("/Groups/{gid}");
    let stale = api
        .get(&gpath)
        .await
        .header("etag")
        .expect("ETag")
        .to_owned();
    api.patch(
        &gpath,
        &patch_op(json!([{ "op": "replace", "path": "displayName", "value": "Renamed" }])),
    )
    .await
    .expect(204);
    let r = api
        .send(
            Method::PATCH,
            &gpath,
            Some(&patch_op(
                json!([{ "op": "replace", "path": "displayName", "value": "Stale" }]),
            )),
            &[("If-Match", &stale)],
        )
        .await;
    r.expect_error(412, None);
    assert_eq!(
        api.get(&gpath).await.json()["displayName"],
        json!("Renamed")
    );
}

// ---------------------------------------------------------------- projection

#[tokio::test]
async fn attributes_and_excluded_attributes_shape_every_response() {
    let s = Server::start();
    let api = s.api();
    let mut body = user_body("shape@example.com");
    body["schemas"] = json!([USER_URN, ENTERPRISE_URN]);
    body[ENTERPRISE_URN] = json!({ "department": "R&D", "costCenter": "42" });
    body["password"] = json!("s3cret-Pass");
    body["emails"] = json!([
        { "value": "shape@example.com", "type": "work", "primary": true },
        { "value": "shape@home.example", "type": "home" }
    ]);
    let r = api.post("/Users?attributes=userName", &body).await;
    r.expect(201);
    assert_eq!(r.json()["userName"], json!("shape@example.com"));
    assert!(
        r.json().get("displayName").is_none(),
        "POST honours attributes: {}",
        r.text
    );
    let id = r.id();
    let get = |q: String| {
        let api = api.clone();
        let id = id.clone();
        async move {
            let r = api.get(&format!("/Users/{id}?{q}")).await;
            r.expect(200);
            r.json().clone()
        }
    };

    let u = get("attributes=userName".into()).await;
    assert_eq!(u["id"], json!(id));
    assert_eq!(u["userName"], json!("shape@example.com"));
    for absent in [
        "name",
        "emails",
        "displayName",
        "active",
        ENTERPRISE_URN,
        "password",
    ] {
        assert!(
            u.get(absent).is_none(),
            "attributes=userName returned {absent}: {u}"
        );
    }

    let u = get("attributes=name.givenName".into()).await;
    assert_eq!(u["name"], json!({ "givenName": "Given" }), "{u}");

    let u = get("attributes=emails.value".into()).await;
    assert_eq!(
        u["emails"],
        json!([{ "value": "shape@example.com" }, { "value": "shape@home.example" }]),
        "{u}"
    );

    let u = get(format!(
        "attributes={}",
        enc(&format!("{USER_URN}:userName"))
    ))
    .await;
    assert_eq!(u["userName"], json!("shape@example.com"));
    assert!(u.get("displayName").is_none(), "{u}");

    let u = get(format!(
        "attributes={}",
        enc(&format!("{ENTERPRISE_URN}:department"))
    ))
    .await;
    assert_eq!(u[ENTERPRISE_URN], json!({ "department": "R&D" }), "{u}");
    assert!(u.get("userName").is_none(), "{u}");

    let u = get("excludedAttributes=emails,name".into()).await;
    assert!(u.get("emails").is_none() && u.get("name").is_none(), "{u}");
    assert_eq!(u["userName"], json!("shape@example.com"));
    assert_eq!(u["active"], json!(true));
    assert_eq!(u[ENTERPRISE_URN]["costCenter"], json!("42"));

    let u = get("excludedAttributes=id,userName".into()).await;
    assert_eq!(u["id"], json!(id), "id is returned always: {u}");

    let u = get("attributes=password".into()).await;
    assert!(
        u.get("password").is_none(),
        "password is returned never: {u}"
    );
    let u = get(String::new()).await;
    assert!(
        u.get("password").is_none(),
        "password is returned never: {u}"
    );

    // Lists and searches.
    let r = api.get("/Users?attributes=userName,active").await;
    r.expect_list();
    for res in r.resources() {
        assert_eq!(
            keys(res)
                .intersection(&BTreeSet::from(["name".to_owned(), "emails".to_owned()]))
                .count(),
            0,
            "{res}"
        );
        assert_eq!(res["userName"], json!("shape@example.com"));
        assert_eq!(res["active"], json!(true));
        assert_eq!(res["id"], json!(id));
    }
    let r = api.get("/Users?excludedAttributes=emails").await;
    assert!(
        r.resources()[0].get("emails").is_none() && r.resources()[0]["userName"].is_string(),
        "{}",
        r.text
    );
    let r = api
        .post(
            "/Users/.search",
            &json!({ "schemas": [SEARCH_URN], "attributes": ["displayName"] }),
        )
        .await;
    r.expect_list();
    assert_eq!(r.resources()[0]["displayName"], json!("Given Family"));
    assert!(r.resources()[0].get("userName").is_none(), "{}", r.text);

    // PATCH and PUT responses too.
    let r = api
        .patch(
            &format!("/Users/{id}?attributes=title"),
            &patch_op(json!([{ "op": "replace", "path": "title", "value": "Shaper" }])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["title"], json!("Shaper"));
    assert!(r.json().get("userName").is_none(), "{}", r.text);

    // Group members are excluded on request, list and single.
    let gid = api.create_group("Shaped", &[&id]).await;
    let r = api
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    assert!(
        r.json().get("members").is_none() && r.json()["displayName"] == "Shaped",
        "{}",
        r.text
    );
    let r = api.get(&format!("/Groups/{gid}")).await;
    assert_eq!(member_values(r.json()), BTreeSet::from([id.clone()]));
    let r = api.get("/Groups?attributes=displayName").await;
    assert!(r.resources()[0].get("members").is_none(), "{}", r.text);
}

// ---------------------------------------------------------------- sorting and filters

#[tokio::test]
async fn sort_by_and_sort_order_order_lists() {
    let s = Server::start();
    let api = s.api();
    let mut ids = std::collections::HashMap::new();
    for (user_name, family) in [
        ("charlie@example.com", "Able"),
        ("alice@example.com", "Cole"),
        ("Bob@example.com", "Baker"),
    ] {
        let mut body = user_body(user_name);
        body["name"]["familyName"] = json!(family);
        ids.insert(user_name, api.create_user_from(&body).await.id());
    }
    let names = |r: &Reply| -> Vec<String> {
        r.resources()
            .iter()
            .map(|u| u["userName"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let r = api.get("/Users?sortBy=userName").await;
    r.expect_list();
    assert_eq!(
        names(&r),
        [
            "alice@example.com",
            "Bob@example.com",
            "charlie@example.com"
        ],
        "userName is caseExact false"
    );
    let r = api.get("/Users?sortBy=userName&sortOrder=descending").await;
    assert_eq!(
        names(&r),
        [
            "charlie@example.com",
            "Bob@example.com",
            "alice@example.com"
        ]
    );
    let r = api
        .get("/Users?sortBy=name.familyName&sortOrder=ascending")
        .await;
    assert_eq!(
        names(&r),
        [
            "charlie@example.com",
            "Bob@example.com",
            "alice@example.com"
        ]
    );
    let r = api.get("/Users?sortBy=userName&count=2&startIndex=2").await;
    assert_eq!(names(&r), ["Bob@example.com", "charlie@example.com"]);
    let r = api
        .post("/Users/.search", &json!({ "schemas": [SEARCH_URN], "sortBy": "name.familyName", "sortOrder": "descending" }))
        .await;
    r.expect_list();
    assert_eq!(
        names(&r),
        [
            "alice@example.com",
            "Bob@example.com",
            "charlie@example.com"
        ]
    );

    for name in ["Zulu", "alpha", "Mike"] {
        api.create_group(name, &[]).await;
    }
    let r = api
        .get("/Groups?sortBy=displayName&sortOrder=descending&excludedAttributes=members")
        .await;
    let groups: Vec<&str> = r
        .resources()
        .iter()
        .filter_map(|g| g["displayName"].as_str())
        .collect();
    assert_eq!(groups, ["Zulu", "Mike", "alpha"]);
}

#[tokio::test]
async fn filter_grammar_selects_the_right_users() {
    let s = Server::start();
    let api = s.api();
    let ann = api
        .create_user_from(&json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": "ann@example.com",
            "externalId": "AbC-1",
            "title": "Engineer",
            "name": { "familyName": "Archer", "givenName": "Ann" },
            "emails": [{ "type": "work", "value": "ann@example.com" }, { "type": "home", "value": "ann@home.example" }],
            "active": true,
            ENTERPRISE_URN: { "department": "R&D" }
        }))
        .await
        .id();
    let bob = api
        .create_user_from(&json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": "bob@example.org",
            "title": "Manager",
            "name": { "familyName": "Baker", "givenName": "Bob" },
            "emails": [{ "type": "work", "value": "bob@example.org" }],
            "active": false,
            ENTERPRISE_URN: { "department": "Sales" }
        }))
        .await
        .id();
    let cy = api
        .create_user_from(&json!({
            "schemas": [USER_URN],
            "userName": "cy@sample.net",
            "name": { "familyName": "Cole", "givenName": "Cy" },
            "emails": [{ "type": "home", "value": "cy@home.example" }],
            "active": true
        }))
        .await
        .id();
    let set = |ids: &[&String]| -> BTreeSet<String> { ids.iter().map(|s| (*s).clone()).collect() };
    let cases: Vec<(&str, BTreeSet<String>)> = vec![
        ("userName sw \"ann\"", set(&[&ann])),
        ("userName ew \".org\"", set(&[&bob])),
        ("userName co \"example\"", set(&[&ann, &bob])),
        ("userName ne \"ann@example.com\"", set(&[&bob, &cy])),
        ("title pr", set(&[&ann, &bob])),
        ("not (title pr)", set(&[&cy])),
        ("title eq \"engineer\"", set(&[&ann])),
        ("active eq false", set(&[&bob])),
        ("emails[type eq \"home\"]", set(&[&ann, &cy])),
        (
            "emails[type eq \"work\" and value ew \".org\"]",
            set(&[&bob]),
        ),
        ("emails.value co \"home.example\"", set(&[&ann, &cy])),
        (
            "title eq \"Engineer\" or title eq \"Manager\"",
            set(&[&ann, &bob]),
        ),
        ("(active eq true) and (title pr)", set(&[&ann])),
        (
            "userName eq \"nobody\" or not (userName eq \"nobody\") and active eq false",
            set(&[&bob]),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Sales\"",
            set(&[&bob]),
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"cy@sample.net\"",
            set(&[&cy]),
        ),
        ("name.familyName gt \"B\"", set(&[&bob, &cy])),
        ("name.familyName le \"Baker\"", set(&[&ann, &bob])),
        ("USERNAME EQ \"ANN@EXAMPLE.COM\"", set(&[&ann])),
        ("externalId eq \"AbC-1\"", set(&[&ann])),
        ("externalId eq \"abc-1\"", set(&[])),
        (
            "meta.created gt \"2000-01-01T00:00:00Z\"",
            set(&[&ann, &bob, &cy]),
        ),
        ("meta.created lt \"2000-01-01T00:00:00Z\"", set(&[])),
    ];
    for (expr, expected) in cases {
        assert_eq!(select(&api, expr).await, expected, "filter `{expr}`");
    }
    assert_eq!(
        select(&api, &format!("id eq \"{bob}\"")).await,
        set(&[&bob])
    );
    assert_eq!(
        select(&api, &format!("id eq \"{ann}\" or id eq \"{cy}\"")).await,
        set(&[&ann, &cy])
    );
}

// ---------------------------------------------------------------- paging

#[tokio::test]
async fn count_zero_returns_only_the_total() {
    let s = Server::start();
    let api = s.api();
    for i in 0..3 {
        api.create_user(&format!("count{i}@example.com")).await;
    }
    let r = api.get("/Users?count=0").await;
    let body = r.expect_list();
    assert_eq!(body["totalResults"], json!(3));
    assert_eq!(body["Resources"], json!([]));
    let r = api.get("/Users?startIndex=0&count=2").await;
    let body = r.expect_list();
    assert_eq!(body["startIndex"], json!(1), "startIndex below 1 is 1");
    assert_eq!(r.resources().len(), 2);
}

#[tokio::test]
async fn cursor_paging_visits_every_user_exactly_once() {
    let s = Server::start();
    let api = s.api();
    let mut created = HashSet::new();
    for i in 0..35 {
        created.insert(api.create_user(&format!("cursor{i:02}@example.com")).await);
    }
    let mut seen = Vec::new();
    let mut url = "/Users?cursor=&count=10".to_owned();
    let mut pages = 0;
    loop {
        let r = api.get(&url).await;
        let body = r.expect_list().clone();
        pages += 1;
        assert!(pages <= 4, "too many pages");
        if let Some(total) = body.get("totalResults") {
            assert_eq!(total, &json!(35));
        }
        let ids = r.resource_ids();
        assert_eq!(body["itemsPerPage"], json!(ids.len()));
        seen.extend(ids.iter().cloned());
        match body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => {
                assert_eq!(ids.len(), 10, "a page with a nextCursor is full");
                assert!(!next.is_empty());
                assert!(
                    next.bytes().all(
                        |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
                    ),
                    "cursors use unreserved characters only: {next}"
                );
                url = format!("/Users?cursor={next}&count=10");
            }
            None => {
                assert_eq!(ids.len(), 5, "the last page");
                break;
            }
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 35);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), created);

    // The same through a SearchRequest.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = api
            .post(
                "/Users/.search",
                &json!({ "schemas": [SEARCH_URN], "cursor": cursor, "count": 20 }),
            )
            .await;
        r.expect_list();
        seen.extend(r.resource_ids());
        match r.json().get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 35);
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), created);
}

#[tokio::test]
async fn garbage_cursor_is_400_invalid_cursor() {
    let s = Server::start();
    let api = s.api();
    for i in 0..3 {
        api.create_user(&format!("garbage{i}@example.com")).await;
    }
    for cursor in ["garbage", "AAAAAAAAAAAAAAAA", "0", "zzzz-zzzz"] {
        let r = api.get(&format!("/Users?cursor={cursor}&count=2")).await;
        r.expect_error(400, Some("invalidCursor"));
    }
    // A real cursor with one character changed is no better.
    let r = api.get("/Users?cursor=&count=1").await;
    let next = r.json()["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_owned();
    let mut forged: Vec<char> = next.chars().collect();
    let i = forged.len() / 2;
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let r = api
        .get(&format!("/Users?cursor={}&count=1", enc(&forged)))
        .await;
    assert!(r.status == 400 || r.status == 200, "{}", r.text);
    if r.status == 400 {
        r.expect_error(400, Some("invalidCursor"));
    }
}

// ---------------------------------------------------------------- Bulk

#[tokio::test]
async fn bulk_resolves_bulk_id_references() {
    let s = Server::start();
    let api = s.api();
    let r = api
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST_URN],
                "Operations": [
                    { "method": "POST", "path": "/Users", "bulkId": "u1", "data": user_body("bulk1@example.com") },
                    { "method": "POST", "path": "/Groups", "bulkId": "g1",
                      "data": { "schemas": [GROUP_URN], "displayName": "Bulk group", "members": [{ "type": "User", "value": "bulkId:u1" }] } }
                ]
            }),
        )
        .await;
    r.expect(200);
    let body = r.json();
    assert_eq!(body["schemas"], json!([BULK_RESPONSE_URN]), "{body}");
    let ops = body["Operations"].as_array().expect("Operations");
    assert_eq!(ops.len(), 2, "{body}");
    for (op, bulk_id, endpoint) in [(&ops[0], "u1", "Users"), (&ops[1], "g1", "Groups")] {
        assert_eq!(op["status"], json!("201"), "{op}");
        assert_eq!(op["method"], json!("POST"), "{op}");
        assert_eq!(op["bulkId"], json!(bulk_id), "{op}");
        let location = op["location"].as_str().expect("location");
        assert!(
            location.starts_with(&format!("{}/{endpoint}/", s.base)),
            "{location}"
        );
    }
    let user_id = ops[0]["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .expect("user id")
        .to_owned();
    let group_loc = ops[1]["location"]
        .as_str()
        .expect("group location")
        .to_owned();
    let r = api.get(&group_loc).await;
    r.expect(200);
    assert_eq!(member_values(r.json()), BTreeSet::from([user_id.clone()]));
    let user = api.get(&format!("/Users/{user_id}")).await.json().clone();
    assert_eq!(user["userName"], json!("bulk1@example.com"));

    // A reference to a bulkId that comes later in the request also resolves.
    let r = api
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST_URN],
                "Operations": [
                    { "method": "POST", "path": "/Groups", "bulkId": "g2",
                      "data": { "schemas": [GROUP_URN], "displayName": "Forward", "members": [{ "value": "bulkId:u2" }] } },
                    { "method": "POST", "path": "/Users", "bulkId": "u2", "data": user_body("bulk2@example.com") }
                ]
            }),
        )
        .await;
    r.expect(200);
    let ops = r.json()["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ops.len(), 2, "{}", r.text);
    assert!(ops.iter().all(|o| o["status"] == "201"), "{}", r.text);
}

#[tokio::test]
async fn bulk_fail_on_errors_stops_after_the_first_error() {
    let s = Server::start();
    let api = s.api();
    let ops = json!([
        { "method": "POST", "path": "/Users", "bulkId": "a", "data": user_body("first@example.com") },
        { "method": "POST", "path": "/Users", "bulkId": "b", "data": { "schemas": [USER_URN], "displayName": "no userName" } },
        { "method": "POST", "path": "/Users", "bulkId": "c", "data": user_body("third@example.com") }
    ]);
    let r = api
        .post(
            "/Bulk",
            &json!({ "schemas": [BULK_REQUEST_URN], "failOnErrors": 1, "Operations": ops }),
        )
        .await;
    r.expect(200);
    let results = r.json()["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        results.len(),
        2,
        "processing stops after the first error: {}",
        r.text
    );
    assert_eq!(results[0]["status"], json!("201"));
    assert_eq!(results[1]["status"], json!("400"));
    assert_eq!(
        results[1]["response"]["status"],
        json!("400"),
        "{}",
        results[1]
    );
    assert_eq!(
        results[1]["response"]["schemas"],
        json!([ERROR_URN]),
        "{}",
        results[1]
    );
    assert_eq!(
        select(&api, "userName eq \"third@example.com\"").await,
        BTreeSet::new()
    );
    assert_eq!(api.user_count().await, 1);

    // Without failOnErrors every operation runs.
    let ops = json!([
        { "method": "POST", "path": "/Users", "bulkId": "d", "data": { "schemas": [USER_URN], "displayName": "no userName" } },
        { "method": "POST", "path": "/Users", "bulkId": "e", "data": user_body("fifth@example.com") }
    ]);
    let r = api
        .post(
            "/Bulk",
            &json!({ "schemas": [BULK_REQUEST_URN], "Operations": ops }),
        )
        .await;
    r.expect(200);
    let results = r.json()["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), 2, "{}", r.text);
    assert_eq!(results[0]["status"], json!("400"));
    assert_eq!(results[1]["status"], json!("201"));
    assert_eq!(api.user_count().await, 2);
}

#[tokio::test]
async fn bulk_with_more_than_max_operations_is_413() {
    let s = Server::start();
    let api = s.api();
    let max = api.get("/ServiceProviderConfig").await.json()["bulk"]["maxOperations"]
        .as_u64()
        .expect("maxOperations");
    let ops: Vec<Value> = (0..=max)
        .map(|i| json!({ "method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": { "userName": format!("u{i}@e.x") } }))
        .collect();
    let r = api
        .post(
            "/Bulk",
            &json!({ "schemas": [BULK_REQUEST_URN], "Operations": ops }),
        )
        .await;
    r.expect_error(413, None);
    assert_eq!(
        api.user_count().await,
        0,
        "nothing of a refused Bulk request is applied"
    );
}

// ---------------------------------------------------------------- membership

#[tokio::test]
async fn user_groups_attribute_reflects_membership() {
    let s = Server::start();
    let api = s.api();
    let uid = api.create_user("member@example.com").await;
    let g1 = api.create_group("First", &[&uid]).await;
    let g2 = api.create_group("Second", &[]).await;
    api.patch(
        &format!("/Groups/{g2}"),
        &patch_op(json!([{ "op": "add", "path": "members", "value": [{ "value": uid }] }])),
    )
    .await
    .expect(204);
    let user = api.get(&format!("/Users/{uid}")).await.json().clone();
    let groups = user["groups"].as_array().cloned().unwrap_or_default();
    let values: BTreeSet<String> = groups
        .iter()
        .filter_map(|g| g["value"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(values, BTreeSet::from([g1.clone(), g2.clone()]), "{user}");
    for g in &groups {
        let name = if g["value"] == json!(g1) {
            "First"
        } else {
            "Second"
        };
        assert!(
            g.get("display").is_none_or(|d| d == name),
            "display of {g} is not the group's name"
        );
        assert!(
            g.get("$ref").is_none_or(|r| r
                == &json!(format!(
                    "{}/Groups/{}",
                    s.base,
                    g["value"].as_str().unwrap_or("")
                ))),
            "{g}"
        );
    }

    api.patch(
        &format!("/Groups/{g1}"),
        &patch_op(json!([{ "op": "remove", "path": format!("members[value eq \"{uid}\"]") }])),
    )
    .await
    .expect(204);
    let user = api.get(&format!("/Users/{uid}")).await.json().clone();
    let groups: Vec<&str> = user["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["value"].as_str())
        .collect();
    assert_eq!(groups, vec![g2.as_str()], "{user}");

    api.delete(&format!("/Groups/{g2}")).await.expect(204);
    let user = api.get(&format!("/Users/{uid}")).await.json().clone();
    assert!(
        user["groups"].as_array().is_none_or(Vec::is_empty),
        "{user}"
    );

    // groups is read-only.
    let r = api
        .patch(
            &format!("/Users/{uid}"),
            &patch_op(json!([{ "op": "add", "path": "groups", "value": [{ "value": g1 }] }])),
        )
        .await;
    r.expect_error(400, Some("mutability"));
    assert_eq!(api.member_ids(&g1).await, BTreeSet::new());
}

#[tokio::test]
async fn deleting_a_user_removes_it_from_its_groups() {
    let s = Server::start();
    let api = s.api();
    let u1 = api.create_user("leaver@example.com").await;
    let u2 = api.create_user("stayer@example.com").await;
    let g = api.create_group("Team", &[&u1, &u2]).await;
    let other = api.create_group("Other", &[&u1]).await;
    api.delete(&format!("/Users/{u1}")).await.expect(204);
    assert_eq!(api.member_ids(&g).await, BTreeSet::from([u2.clone()]));
    assert_eq!(api.member_ids(&other).await, BTreeSet::new());
    let r = api
        .get(&format!("/Groups?{}", filter_eq("members.value", &u1)))
        .await;
    r.expect_list();
    assert_eq!(r.total(), 0);
}

#[tokio::test]
async fn nested_groups_are_members_of_type_group() {
    let s = Server::start();
    let api = s.api();
    let inner = api.create_group("Inner", &[]).await;
    let outer = api.create_group("Outer", &[&inner]).await;
    let r = api.get(&format!("/Groups/{outer}")).await;
    r.expect(200);
    let members = r.json()["members"].as_array().cloned().unwrap_or_default();
    assert_eq!(members.len(), 1, "{}", r.text);
    assert_eq!(members[0]["value"], json!(inner));
    assert_eq!(members[0]["type"], json!("Group"));
    // Deleting the inner group takes it out of the outer one.
    api.delete(&format!("/Groups/{inner}")).await.expect(204);
    assert_eq!(api.member_ids(&outer).await, BTreeSet::new());
}

// ---------------------------------------------------------------- PATCH semantics

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

// ---------------------------------------------------------------- representation

#[tokio::test]
async fn every_rfc_7643_user_attribute_round_trips() {
    let s = Server::start();
    let api = s.api();
    let boss = api.create_user("boss@example.com").await;
    let core = json!({
        "externalId": "ext-Full-1",
        "userName": "full@example.com",
        "name": {
            "formatted": "Dr. Rosalind E. Franklin, PhD",
            "familyName": "Franklin",
            "givenName": "Rosalind",
            "middleName": "Elsie",
            "honorificPrefix": "Dr.",
            "honorificSuffix": "PhD"
        },
        "displayName": "Rosalind Franklin",
        "nickName": "Ros",
        "profileUrl": "https://people.example.com/rfranklin",
        "title": "Crystallographer",
        "userType": "Researcher",
        "preferredLanguage": "en-GB",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "active": true,
        "emails": [
            { "value": "rfranklin@example.com", "type": "work", "primary": true },
            { "value": "ros@home.example", "type": "home" }
        ],
        "phoneNumbers": [
            { "value": "+44 20 7946 0000", "type": "work" },
            { "value": "(020) 7946-0001", "type": "mobile" }
        ],
        "ims": [{ "value": "ros.franklin", "type": "xmpp" }],
        "photos": [{ "value": "https://photos.example.com/rfranklin.jpg", "type": "photo" }],
        "addresses": [{
            "type": "work",
            "streetAddress": "1 Lab Lane",
            "locality": "London",
            "region": "Greater London",
            "postalCode": "WC2R 2LS",
            "country": "GB",
            "formatted": "1 Lab Lane\nLondon WC2R 2LS\nGB",
            "primary": true
        }],
        "entitlements": [{ "value": "Lab access" }],
        "roles": [{ "value": "Researcher", "display": "Researcher", "type": "job", "primary": false }],
        "x509Certificates": [{ "value": "TUlJQ2RqQ0NBZDZnQXdJQkFnSUJBREFO" }]
    });
    let enterprise = json!({
        "employeeNumber": "1920",
        "costCenter": "X-Ray",
        "organization": "King's College",
        "division": "Biophysics",
        "department": "Structure"
    });
    let mut body = core.clone();
    body["schemas"] = json!([USER_URN, ENTERPRISE_URN]);
    body["password"] = json!("Photo51!");
    body[ENTERPRISE_URN] = enterprise.clone();
    body[ENTERPRISE_URN]["manager"] = json!({ "value": boss });
    let id = api.create_user_from(&body).await.id();
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    for (key, sent) in core.as_object().expect("object") {
        assert_eq!(&user[key], sent, "{key} did not come back as sent: {user}");
    }
    for (key, sent) in enterprise.as_object().expect("object") {
        assert_eq!(
            &user[ENTERPRISE_URN][key], sent,
            "{key} did not come back as sent: {user}"
        );
    }
    assert_eq!(user[ENTERPRISE_URN]["manager"]["value"], json!(boss));
    assert!(user.get("password").is_none());
    let schemas: BTreeSet<&str> = user["schemas"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(schemas, BTreeSet::from([USER_URN, ENTERPRISE_URN]));
}

/// Local properties (the default role `staff` or `student`, locations, grade) belong to the
/// organisation and are never sent back over SCIM.
#[tokio::test]
async fn local_properties_are_never_returned_over_scim() {
    let s = Server::start();
    let school = s.org_of_kind("school");
    for api in [s.api(), s.api_as(&school)] {
        let r = api.post("/Users", &user_body("local@example.com")).await;
        r.expect(201);
        assert!(r.json().get("roles").is_none(), "{}", r.text);
        let id = r.id();
        let user = api.get(&format!("/Users/{id}")).await.json().clone();
        assert!(
            user.get("roles").is_none(),
            "a local role leaked into SCIM: {user}"
        );
        let mut with_roles = user_body("roles@example.com");
        with_roles["roles"] = json!([{ "value": "Teacher" }]);
        let r = api.post("/Users", &with_roles).await;
        r.expect(201);
        assert_eq!(
            r.json()["roles"],
            json!([{ "value": "Teacher" }]),
            "{}",
            r.text
        );
    }
}

#[tokio::test]
async fn attribute_names_are_case_insensitive() {
    let s = Server::start();
    let api = s.api();
    let r = api
        .post(
            "/Users",
            &json!({
                "SCHEMAS": [USER_URN],
                "USERNAME": "caps@example.com",
                "Name": { "GivenName": "Cap", "FAMILYNAME": "Locks" },
                "Emails": [{ "VALUE": "caps@example.com", "Type": "work" }],
                "ACTIVE": true
            }),
        )
        .await;
    r.expect(201);
    let id = r.id();
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(user["userName"], json!("caps@example.com"), "{user}");
    assert_eq!(user["name"]["givenName"], json!("Cap"), "{user}");
    assert_eq!(user["name"]["familyName"], json!("Locks"), "{user}");
    assert_eq!(
        user["emails"][0]["value"],
        json!("caps@example.com"),
        "{user}"
    );
    assert_eq!(user["active"], json!(true), "{user}");
    assert!(
        user.get("USERNAME").is_none() && user.get("Name").is_none(),
        "canonical names only: {user}"
    );

    let r = api
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "SCHEMAS": [PATCH_URN],
                "operations": [
                    { "OP": "REPLACE", "PATH": "NAME.FAMILYNAME", "VALUE": "Keys" },
                    { "op": "add", "path": "EMAILS[TYPE EQ \"work\"].VALUE", "value": "keys@example.com" }
                ]
            }),
        )
        .await;
    r.expect(200);
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(user["name"]["familyName"], json!("Keys"), "{user}");
    assert_eq!(
        user["emails"][0]["value"],
        json!("keys@example.com"),
        "{user}"
    );
    assert_eq!(
        select(&api, "NAME.FAMILYNAME eq \"Keys\"").await,
        BTreeSet::from([id])
    );
}

#[tokio::test]
async fn patch_setting_a_new_primary_clears_the_old_one() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("primary@example.com").await;
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "add", "path": "emails", "value": [{ "value": "new@example.com", "type": "home", "primary": true }] }])),
        )
        .await;
    r.expect(200);
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    let emails = user["emails"].as_array().cloned().unwrap_or_default();
    assert_eq!(emails.len(), 2, "{user}");
    let primaries: Vec<&str> = emails
        .iter()
        .filter(|e| e["primary"] == json!(true))
        .filter_map(|e| e["value"].as_str())
        .collect();
    assert_eq!(
        primaries,
        vec!["new@example.com"],
        "at most one primary: {user}"
    );
}

#[tokio::test]
async fn replacing_or_removing_all_members_empties_the_group() {
    let s = Server::start();
    let api = s.api();
    let a = api.create_user("a@example.com").await;
    let b = api.create_user("b@example.com").await;
    let g = api.create_group("Emptied", &[&a, &b]).await;
    api.patch(
        &format!("/Groups/{g}"),
        &patch_op(json!([{ "op": "replace", "path": "members", "value": [] }])),
    )
    .await
    .expect(204);
    assert_eq!(api.member_ids(&g).await, BTreeSet::new());
    api.patch(
        &format!("/Groups/{g}"),
        &patch_op(
            json!([{ "op": "add", "path": "members", "value": [{ "value": a }, { "value": b }] }]),
        ),
    )
    .await
    .expect(204);
    assert_eq!(
        api.member_ids(&g).await,
        BTreeSet::from([a.clone(), b.clone()])
    );
    api.patch(
        &format!("/Groups/{g}"),
        &patch_op(json!([{ "op": "remove", "path": "members" }])),
    )
    .await
    .expect(204);
    assert_eq!(api.member_ids(&g).await, BTreeSet::new());
    // The users are untouched.
    api.get(&format!("/Users/{a}")).await.expect(200);
    api.get(&format!("/Users/{b}")).await.expect(200);
}
