//! Hostile input against the real binary (docs/contract.md, "Reliability and security promises"): malformed and truncated JSON, wrong
//! content types, bodies over the limit, 10,000-deep nesting, invalid UTF-8, control
//! characters, filters with SQL fragments, path traversal in ids, absurd paging, header floods.
//! Every answer is a 4xx with a SCIM error body (or, for transport-level abuse, a clean
//! refusal or close); the server stays up and the data is unchanged.

use crate::common::*;
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
    server: &Server, method: Method, path: &str, body: Vec<u8>, content_type: &str,
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

// ---- Strangers at the HTTP edge: metrics, activity, throttles, proxies, caching ----

const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A request with no `Authorization` header at all.
async fn without_token(server: &Server, method: Method, url: &str) -> Reply {
    server
        .client
        .send_bytes(method, url, None, None, "application/scim+json", &[])
        .await
}

async fn metrics_text(server: &Server) -> String {
    let r = without_token(server, Method::GET, &format!("{}/metrics", server.origin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
}

/// The value of the `scimd_auth_refused_total` series for `reason` (0 when absent).
fn refused(metrics: &str, reason: &str) -> u64 {
    let prefix = format!("scimd_auth_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0, |v| v.trim().parse().expect("a counter value"))
}

/// The activity entries of `org` (or `unattributed`), as the CLI prints them in JSON.
fn activity_entries(server: &Server, org: &str) -> Vec<serde_json::Value> {
    cli(&[
        "activity",
        "--org",
        org,
        "--format",
        "json",
        "--database",
        &server.database,
    ])
    .lines()
    .map(|l| serde_json::from_str(l).expect("an activity entry in JSON"))
    .collect()
}

/// Polls the activity of `org` (at most 20 s) until an entry satisfies `found`. The activity
/// writer keeps the order entries were queued in, so once a later request's entry is there,
/// every earlier request's entry (had there been one) is too.
fn wait_for_activity(
    server: &Server, org: &str, found: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let entries = activity_entries(server, org);
        if entries.iter().any(&found) {
            return entries;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for an activity entry of {org}: {entries:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn random_ipv4() -> String {
    let n = u32::from_str_radix(&random_hex(8), 16).expect("hex");
    std::net::Ipv4Addr::from(n).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_paths_and_methods_do_not_grow_the_metrics() {
    let server = Server::start();
    let api = server.api();
    let origin = server.origin.clone();
    // Every router (nested SCIM and API, merged console) labels by its route's template.
    let id = api.create_user("templates@hostile.example").await;
    api.get(&format!("/Users/{id}")).await.expect(200);
    let r = server
        .client
        .post(
            &format!("{origin}/api/v1/sessions"),
            &json!({ "organisation": server.org.id, "email": "x@hostile.example", "password": "wrong" }),
            "",
        )
        .await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    without_token(&server, Method::GET, &format!("{origin}/signin")).await;
    // One unmatched request of each kind and one metrics read first: the series they add
    // (route "other") exist before the baseline is taken.
    for url in [
        format!("{origin}/scim/v2/rprime"),
        format!("{origin}/api/v1/xprime"),
        format!("{origin}/prime"),
    ] {
        assert_eq!(without_token(&server, Method::GET, &url).await.status, 404);
    }
    metrics_text(&server).await;
    let before = metrics_text(&server).await;

    let mut segments = Vec::new();
    for i in 0..200 {
        let seg = random_hex(16);
        let url = match i % 3 {
            0 => format!("{origin}/scim/v2/r{seg}"),
            1 => format!("{origin}/api/v1/x{seg}"),
            _ => format!("{origin}/{seg}"),
        };
        let r = without_token(&server, Method::GET, &url).await;
        assert_eq!(r.status, 404, "{url}: {}", r.text);
        segments.push(seg);
    }
    let odd = Method::from_bytes(b"FOOBARMETHOD").expect("method");
    let r = api.send(odd, "/Users", None, &[]).await;
    assert!((400..500).contains(&r.status), "{}", r.text);

    let after = metrics_text(&server).await;
    assert!(
        after.len() < before.len() + 4096,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
    for seg in &segments {
        assert!(!after.contains(seg.as_str()), "{seg} is in /metrics");
    }
    assert!(!after.contains("FOOBARMETHOD"), "{after}");
    for line in [
        r#"route="/scim/v2/Users",method="OTHER""#,
        r#"route="/scim/v2/Users/{id}",method="GET",status="200""#,
        r#"route="/api/v1/sessions",method="POST""#,
        r#"route="/signin",method="GET""#,
        r#"route="other",method="GET",status="404""#,
    ] {
        assert!(after.contains(line), "no {line} in:\n{after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_write_no_activity_and_logged_paths_are_capped() {
    // A budget high enough that no request here is throttled: the refusals are counted exactly.
    let server = Server::start_with(&["--auth-failures-per-minute", "1000"]);
    let (second, first_id) = replace_first_token(&server);
    // A real but revoked token: its refusal is its organisation's business.
    server.api().get("/Users").await.expect_error(401, None);
    let unattributed_before = activity_entries(&server, "unattributed");

    let long = "A".repeat(30_000);
    let url = server.client.url(&format!("/Users/{long}"));
    let unknown = format!("scimd_{}", random_hex(43));
    for _ in 0..20 {
        let r = without_token(&server, Method::GET, &url).await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = server.api_with_token(&unknown).get(&url).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    // A valid token's request is logged, its path cut.
    let r = server.api_with_token(&second).get(&url).await;
    assert_eq!(r.status, 404, "{}", r.text);

    let org_entries = wait_for_activity(&server, &server.org.id, |e| {
        e["status"] == 404 && e["target"].as_str().is_some_and(|t| t.contains("AAAA"))
    });
    assert!(
        org_entries
            .iter()
            .any(|e| e["detail"] == "refused: revoked token"
                && e["token"].as_str() == Some(first_id.as_str())),
        "{org_entries:?}"
    );
    let unattributed = activity_entries(&server, "unattributed");
    assert_eq!(
        unattributed.len(),
        unattributed_before.len(),
        "strangers wrote activity, the first new one with a {}-byte target",
        unattributed
            .last()
            .and_then(|e| e["target"].as_str())
            .map_or(0, str::len)
    );
    for e in org_entries.iter().chain(&unattributed) {
        for field in ["target", "resource"] {
            let len = e[field].as_str().map_or(0, str::len);
            assert!(len <= 256, "{field} of {len} bytes: {e}");
        }
    }
    let cut = org_entries
        .iter()
        .find(|e| e["status"] == 404)
        .expect("the long request");
    assert!(
        cut["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("/scim/v2/Users/AAAA") && t.ends_with('…')),
        "{cut}"
    );
    assert!(
        !server.log_tail().contains(&long[..300]),
        "a whole path in the server log"
    );
    let metrics = metrics_text(&server).await;
    assert_eq!(refused(&metrics, "missing"), 20, "{metrics}");
    assert_eq!(refused(&metrics, "unknown"), 20, "{metrics}");
    assert_eq!(refused(&metrics, "revoked"), 1, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_failures_never_throttle_a_valid_credential() {
    let server = Server::start();
    add_admin(
        &server,
        &server.org.id,
        "ann@hostile.example",
        ADMIN_PASSWORD,
    );
    let session = api_session(
        &server,
        &server.org.id,
        "ann@hostile.example",
        ADMIN_PASSWORD,
    )
    .await;
    let bogus = server.api_with_token(&format!("scimd_{}", random_hex(43)));
    let mut statuses = Vec::new();
    for _ in 0..35 {
        statuses.push(bogus.get("/Users").await.status);
    }
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");

    // The address is throttled, but a valid token and a valid session still pass.
    server.api().get("/Users").await.expect(200);
    let accounts = format!("{}/api/v1/accounts", server.origin);
    let r = server.client.get(&accounts, &session).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Failures from it still get 429.
    let r = bogus.get("/Users").await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.header("retry-after").is_some());
    let r = server.client.get(&accounts, "not-a-session").await;
    assert_eq!(r.status, 429, "{}", r.text);

    // Throttled refusals are counted, and write no activity.
    let metrics = metrics_text(&server).await;
    assert!(refused(&metrics, "throttled") >= 1, "{metrics}");
    wait_for_activity(&server, &server.org.id, |e| e["status"] == 200);
    assert_eq!(
        activity_entries(&server, "unattributed"),
        Vec::<serde_json::Value>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_the_nearest_forwarded_address_counts() {
    let server = Server::start_with(&["--trust-proxy"]);
    let bogus = server.api_with_token(&format!("scimd_{}", random_hex(43)));
    let mut statuses = Vec::new();
    for _ in 0..35 {
        let forged = random_ipv4();
        let r = bogus
            .send(
                Method::GET,
                "/Users",
                None,
                &[
                    ("X-Forwarded-For", &forged),
                    ("X-Forwarded-For", "10.0.0.9"),
                ],
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Another client of the proxy is not affected.
    let r = bogus
        .send(
            Method::GET,
            "/Users",
            None,
            &[("X-Forwarded-For", "10.0.0.10")],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Neither is a valid token from the throttled address.
    let r = server
        .api()
        .send(
            Method::GET,
            "/Users",
            None,
            &[
                ("X-Forwarded-For", "192.0.2.1"),
                ("X-Forwarded-For", "10.0.0.9"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_never_cached_and_https_deployments_send_hsts() {
    let server = Server::start();
    add_admin(
        &server,
        &server.org.id,
        "ann@hostile.example",
        ADMIN_PASSWORD,
    );
    let sessions = format!("{}/api/v1/sessions", server.origin);
    let r = server
        .client
        .post(
            &sessions,
            &json!({ "organisation": server.org.id, "email": "ann@hostile.example", "password": ADMIN_PASSWORD }),
            "",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("strict-transport-security"), None);
    let session = r.json()["token"].as_str().expect("token").to_owned();
    let r = server
        .client
        .post(
            &format!("{}/api/v1/tokens", server.origin),
            &json!({}),
            &session,
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for url in [
        format!("{}/api/v1/accounts", server.origin),
        format!("{}/api/v1/nothing-here", server.origin),
    ] {
        let r = without_token(&server, Method::GET, &url).await;
        assert!((400..500).contains(&r.status), "{}", r.text);
        assert_eq!(r.header("cache-control"), Some("no-store"), "{url}");
    }
    let r = server.api().get("/Users").await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("strict-transport-security"), None);

    let https = Server::start_with(&["--public-url", "https://scim.example.test"]);
    for url in [
        format!("{}/healthz", https.origin),
        format!("{}/api/v1/accounts", https.origin),
        format!("{}/nothing-here", https.origin),
    ] {
        let r = without_token(&https, Method::GET, &url).await;
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000"),
            "{url}"
        );
    }
    let r = https.api().get("/Users").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
}

#[tokio::test]
async fn a_member_name_given_twice_is_refused_at_any_depth_and_changes_nothing() {
    let server = Server::start();
    let api = server.api();
    let id = api.create_user("twice@example.com").await;
    let before = api.user_count().await;
    let cases: [(Method, String, &str, &str); 3] = [
        (
            Method::POST,
            server.client.url("/Users"),
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@example.com","userName":"b@example.com"}"#,
            "userName",
        ),
        (
            Method::PUT,
            server.client.url(&format!("/Users/{id}")),
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"twice@example.com","name":{"givenName":"A","givenName":"B"}}"#,
            "givenName",
        ),
        (
            Method::PATCH,
            server.client.url(&format!("/Users/{id}")),
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false,"value":true}]}"#,
            "value",
        ),
    ];
    for (method, url, body, name) in cases {
        let r = server
            .client
            .send_bytes(
                method.clone(),
                &url,
                Some(body.as_bytes().to_vec()),
                Some(&server.org.token),
                SCIM_JSON,
                &[],
            )
            .await;
        let e = r.expect_error(400, Some("invalidSyntax"));
        assert!(
            e["detail"].as_str().unwrap_or_default().contains(name),
            "{method} {e}"
        );
    }
    assert_eq!(api.user_count().await, before);
    let user = api.get(&format!("/Users/{id}")).await;
    assert_eq!(user.json()["active"], json!(true));
    assert_eq!(
        user.json()["name"]["givenName"],
        json!("Given"),
        "{}",
        user.text
    );
    // The administrative API reads its bodies the same way.
    let r = server
        .client
        .send_bytes(
            Method::POST,
            &format!("{}/api/v1/sessions", server.origin),
            Some(
                br#"{"organisation":"x","email":"a@example.com","password":"p","password":"q"}"#
                    .to_vec(),
            ),
            None,
            "application/json",
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("password"), "{}", r.text);
}

#[tokio::test]
async fn bodies_without_or_with_a_foreign_content_type_get_415_in_each_surfaces_shape() {
    let server = Server::start();
    let api = server.api();
    let before = api.user_count().await;
    let http = reqwest::Client::new();
    let body = serde_json::to_vec(&user_body("no.type@example.com")).expect("body");
    for content_type in [None, Some("application/vnd.other+json"), Some("text/plain")] {
        let mut req = http
            .post(server.client.url("/Users"))
            .bearer_auth(&server.org.token)
            .body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.expect("request");
        assert_eq!(r.status().as_u16(), 415, "{content_type:?}");
        let v: serde_json::Value = r.json().await.expect("a SCIM error body");
        assert_eq!(v["schemas"][0], ERROR_URN, "{v}");
        assert_eq!(v["status"], "415");
    }
    assert_eq!(api.user_count().await, before);
    // application/json is as good as application/scim+json (RFC 7644 section 3.1).
    let r = http
        .post(server.client.url("/Users"))
        .bearer_auth(&server.org.token)
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 201);

    let r = http
        .post(format!("{}/api/v1/sessions", server.origin))
        .header("content-type", "text/plain")
        .body(r#"{"organisation":"x","email":"a@example.com","password":"p"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 415);
    let v: serde_json::Value = r.json().await.expect("the API's error body");
    assert_eq!(v["error"], "unsupported_media_type", "{v}");

    let r = http
        .post(format!("{}/signin", server.origin))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 415);
    assert!(
        r.text().await.unwrap_or_default().contains("forms only"),
        "the console's page"
    );
}
