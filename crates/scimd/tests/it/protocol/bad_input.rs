//! Bad input of every kind: a clear 4xx with a SCIM error body, nothing changed.

use super::*;

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
