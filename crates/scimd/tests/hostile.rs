//! Hostile input against the real binary (SPEC section 8): malformed and truncated JSON, wrong
//! content types, bodies over the limit, 10,000-deep nesting, invalid UTF-8, control
//! characters, filters with SQL fragments, path traversal in ids, absurd paging, header floods.
//! Every answer is a 4xx with a SCIM error body (or, for transport-level abuse, a clean
//! refusal or close); the server stays up and the data is unchanged.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Asserts a 4xx with a SCIM error body whose `status` matches.
fn scim_4xx(r: &Reply) {
    assert!(
        (400..500).contains(&r.status),
        "{} {} -> {} {}",
        r.method,
        r.url,
        r.status,
        r.text
    );
    let body = r
        .body
        .as_ref()
        .unwrap_or_else(|| panic!("no SCIM error body: {} {}", r.url, r.text));
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{}",
        r.text
    );
    assert_eq!(body["status"], r.status.to_string(), "{}", r.text);
}

async fn raw(
    server: &Server,
    method: Method,
    path: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Reply {
    server
        .client
        .send_bytes(
            method,
            &server.client.url(path),
            Some(body),
            Some(&server.org.token),
            content_type,
            &[],
        )
        .await
}

/// Everything an organisation holds, as the SCIM API shows it.
async fn snapshot(api: &Api) -> (u64, u64, String) {
    let users = api.get("/Users?count=1000&sortBy=userName").await;
    let groups = api.get("/Groups?count=0").await;
    (users.total(), groups.total(), users.text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_4xx_and_changes_nothing() {
    let server = Server::start();
    let api = server.api();
    let id = api.create_user("target@hostile.example").await;
    api.create_group("Target group", &[id.as_str()]).await;
    let before = snapshot(&api).await;
    let json_ct = "application/scim+json";

    // Malformed, truncated, not JSON at all, wrong types.
    for body in [
        &b"{"[..],
        b"{\"userName\": \"x\"",
        b"{\"userName\": }",
        b"null",
        b"[]",
        b"\"just a string\"",
        b"{\"userName\": 42}",
        b"{\"userName\": [\"a\"]}",
        b"{\"schemas\": \"not-a-list\", \"userName\": \"y\"}",
    ] {
        scim_4xx(&raw(&server, Method::POST, "/Users", body.to_vec(), json_ct).await);
        scim_4xx(
            &raw(
                &server,
                Method::PUT,
                &format!("/Users/{id}"),
                body.to_vec(),
                json_ct,
            )
            .await,
        );
        scim_4xx(
            &raw(
                &server,
                Method::PATCH,
                &format!("/Users/{id}"),
                body.to_vec(),
                json_ct,
            )
            .await,
        );
    }
    // Wrong content types.
    let valid = serde_json::to_vec(&user_body("ct@hostile.example")).expect("json");
    for ct in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
    ] {
        scim_4xx(&raw(&server, Method::POST, "/Users", valid.clone(), ct).await);
    }
    // 10,000-deep nesting, in a body and in a filter.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    scim_4xx(&raw(&server, Method::POST, "/Users", deep.into_bytes(), json_ct).await);
    let deep_obj = format!(
        "{{\"userName\":\"deep@hostile.example\",\"x\":{}1{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    scim_4xx(
        &raw(
            &server,
            Method::POST,
            "/Users",
            deep_obj.into_bytes(),
            json_ct,
        )
        .await,
    );
    let deep_filter = format!(
        "{}userName eq \"x\"{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    scim_4xx(&api.get(&format!("/Users?{}", filter(&deep_filter))).await);
    // Invalid UTF-8, and control characters.
    scim_4xx(
        &raw(
            &server,
            Method::POST,
            "/Users",
            b"{\"userName\": \"\xff\xfe\"}".to_vec(),
            json_ct,
        )
        .await,
    );
    scim_4xx(
        &raw(
            &server,
            Method::POST,
            "/Users",
            b"{\"userName\": \"a\x01b\"}".to_vec(),
            json_ct,
        )
        .await,
    );
    scim_4xx(
        &api.post("/Users", &user_body("nul\u{0}byte@hostile.example"))
            .await,
    );
    scim_4xx(
        &api.patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "replace", "path": "userName", "value": "esc\u{1b}[31m@hostile.example" }])),
        )
        .await,
    );
    // Over the size limit (1 MiB): 413 with a SCIM error, the connection then closed.
    let mut sock = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n",
        server.org.token,
        (1 << 20) + 1
    );
    sock.write_all(head.as_bytes()).expect("send head");
    sock.write_all(&vec![b'x'; (1 << 20) + 1])
        .expect("send body");
    let mut answer = vec![0u8; 4096];
    let n = sock.read(&mut answer).expect("an answer");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("urn:ietf:params:scim:api:messages:2.0:Error")
            || answer.contains("content-length"),
        "{answer}"
    );
    // Filters with SQL in them are either a string compared as a string, or a syntax error.
    for f in [
        "userName eq \"x' OR '1'='1\"",
        "userName eq \"x\\\"; DROP TABLE resources; --\"",
        "userName eq \"%\"",
        "userName co \"_\"",
    ] {
        let r = api.get(&format!("/Users?{}", filter(f))).await;
        assert_eq!(r.status, 200, "{f}: {}", r.text);
        assert_eq!(r.total(), 0, "{f} matched: {}", r.text);
    }
    for f in [
        "userName eq x; DROP TABLE resources",
        "1=1",
        "userName eq \"a\" or 1=1",
        "userName eq \"a\") UNION SELECT * FROM tokens --",
        "userName sw",
    ] {
        let r = api.get(&format!("/Users?{}", filter(f))).await;
        scim_4xx(&r);
        assert_eq!(r.json()["scimType"], "invalidFilter", "{f}: {}", r.text);
    }
    // Path traversal and junk ids: not found, never anything else.
    for path in [
        "/Users/..%2F..%2Fetc%2Fpasswd",
        "/Users/%2e%2e",
        "/Users/..;",
        "/Users/%00",
        "/Users/' OR '1'='1",
        "/Groups/%2e%2e%2fUsers",
    ] {
        let r = api.get(path).await;
        scim_4xx(&r);
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        scim_4xx(&api.delete(path).await);
    }
    // Paging: absurd values are clamped as RFC 7644 says, junk is refused.
    let r = api.get("/Users?count=999999999999&startIndex=-5").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json()["itemsPerPage"].as_u64().is_some_and(|n| n <= 1000));
    assert_eq!(r.json()["startIndex"], 1);
    for q in ["count=abc", "startIndex=1e99", "count=-1x", "cursor=%00%01"] {
        scim_4xx(&api.get(&format!("/Users?{q}")).await);
    }

    // Transport-level abuse: a header flood is refused (431) or the connection closed.
    let mut sock = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut flood = String::from("GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n");
    for i in 0..2_000 {
        flood.push_str(&format!("X-Flood-{i}: {}\r\n", "y".repeat(64)));
    }
    flood.push_str("\r\n");
    let _ = sock.write_all(flood.as_bytes());
    let mut answer = Vec::new();
    let _ = sock.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty()
            || answer.starts_with("HTTP/1.1 431")
            || answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(200)]
    );

    // Alive, and nothing changed.
    let health = server
        .client
        .get(&format!("{}/healthz", server.origin), "")
        .await;
    assert_eq!(health.status, 200);
    assert_eq!(snapshot(&api).await, before);
}
