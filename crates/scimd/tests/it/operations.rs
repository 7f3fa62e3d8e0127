//! Running it for real, on the binary: health and readiness, Prometheus metrics after SCIM
//! calls, a request id on every answer, per-token rate limits and the failed-authentication
//! throttle (429 with Retry-After), and HTTPS: a SCIM call over TLS, TLS 1.0 and 1.1 refused,
//! a new certificate served after SIGHUP.

use crate::common;
use crate::common::{Server, TempDir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_request_ids() {
    let server = Server::start();
    let api = server.api();
    let id = api.create_user("metrics@example.com").await;
    api.get(&format!("/Users/{id}")).await.expect(200);
    api.get("/Users/not-a-user").await.expect(404);
    let plain = |path: &str| format!("{}{path}", server.origin);
    let health = server.client.get(&plain("/healthz"), "").await;
    assert_eq!(health.status, 200);
    let ready = server.client.get(&plain("/readyz"), "").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let id_header = health.header("x-request-id").expect("x-request-id");
    assert_eq!(id_header.len(), 32, "{id_header}");

    let metrics = server.client.get(&plain("/metrics"), "").await;
    assert_eq!(metrics.status, 200);
    let text = &metrics.text;
    let has = |needle: &str| {
        text.lines().any(|l| {
            l.starts_with("scimd_http_requests_total") && needle.split('&').all(|n| l.contains(n))
        })
    };
    assert!(
        has(r#"route="/scim/v2/Users"&method="POST"&status="201"&org_kind="business""#),
        "{text}"
    );
    assert!(has(r#"route="/scim/v2/Users/{id}"&status="200""#), "{text}");
    assert!(has(r#"route="/scim/v2/Users/{id}"&status="404""#), "{text}");
    assert!(
        text.contains("scimd_http_request_duration_seconds_bucket"),
        "{text}"
    );
    // SQLite reports its writer queue, PostgreSQL its pool.
    assert!(
        text.contains("scimd_db_write_queue") || text.contains("scimd_db_pool_connections"),
        "{text}"
    );
    assert!(text.contains("scimd_outbox_pending"), "{text}");
    assert!(
        text.contains("scimd_token_expiry_horizon_seconds"),
        "{text}"
    );
    assert!(!text.contains(&server.org.token), "no secrets in metrics");
}

/// A read repeated while nothing changed is answered from memory on SQLite (never on
/// PostgreSQL); a conditional read never is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_reads_are_answered_from_memory_on_sqlite() {
    let server = Server::start();
    let api = server.api();
    let id = api.create_user("repeat@example.com").await;
    let counts = || async {
        let text = server
            .client
            .get(&format!("{}/metrics", server.origin), "")
            .await
            .text;
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        (
            value("scimd_read_cache_hits_total "),
            value("scimd_read_cache_misses_total "),
        )
    };
    let first = api.get(&format!("/Users/{id}")).await;
    first.expect(200);
    let before = counts().await;
    for _ in 0..3 {
        let again = api.get(&format!("/Users/{id}")).await;
        again.expect(200);
        assert_eq!(again.json(), first.json());
        assert_eq!(again.header("etag"), first.header("etag"));
        assert_eq!(again.content_type(), first.content_type());
    }
    let etag = first.header("etag").expect("etag").to_owned();
    api.send(
        reqwest::Method::GET,
        &format!("/Users/{id}"),
        None,
        &[("If-None-Match", &etag)],
    )
    .await
    .expect(304);
    let after = counts().await;
    let hits = after.0 - before.0;
    if server.database.starts_with("postgres") {
        assert_eq!(hits, 0, "PostgreSQL keeps no answers");
    } else {
        assert_eq!(
            (hits, after.1 - before.1),
            (3, 0),
            "three answers given again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_gets_429_and_others_do_not() {
    let server = Server::start_with(&["--rate-limit-per-token", "5"]);
    let other = server.second_org();
    let api = server.api();
    let mut limited = None;
    for _ in 0..40 {
        let r = api.get("/Users?count=1").await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = limited.expect("a 429 within 40 requests at 5/s with a burst of 10");
    assert!(r.header("retry-after").is_some(), "Retry-After");
    assert_eq!(r.json()["status"], "429");
    // Another organisation's token has its own budget.
    server
        .api_as(&other)
        .get("/Users?count=1")
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_authentication_is_throttled() {
    let server = Server::start_with(&["--auth-failures-per-minute", "3"]);
    let bad = server.api_with_token("scimd_not-a-real-token");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(bad.get("/Users").await.status);
    }
    assert!(statuses.iter().take(3).all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The address is throttled for its failures; a valid token still passes.
    let r = bad.get("/Users").await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.header("retry-after").is_some());
    server.api().get("/Users").await.expect(200);
}

/// A self-signed certificate for `localhost`, written as PEM files.
pub(crate) fn certificate(
    dir: &TempDir, name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let key = rcgen::KeyPair::generate().expect("key pair");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("self-signed");
    let cert_path = dir.path().join(format!("{name}.crt"));
    let key_path = dir.path().join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path, cert.der().to_vec())
}

/// A TLS client for `localhost` that trusts `trusted` (DER) alone.
pub(crate) fn tls_client(trusted: &[u8]) -> rustls::ClientConnection {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(trusted.to_vec()))
        .expect("trust the test certificate");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    rustls::ClientConnection::new(Arc::new(config), name).expect("client")
}

/// Connects with TLS trusting `trusted` (DER), sends one HTTP/1.1 request and returns the
/// peer's certificate and the response text.
fn https(port: u16, trusted: &[u8], request: &str) -> (Vec<u8>, String) {
    let mut conn = tls_client(trusted);
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(request.as_bytes()).expect("send over TLS");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let peer = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .expect("a peer certificate");
    (peer, String::from_utf8_lossy(&out).into_owned())
}

/// Sends a bare ClientHello offering only `version` (0x0301 TLS 1.0, 0x0302 TLS 1.1) and
/// returns the first byte of the answer (0x15 is an alert, 0x16 a handshake) or `None` when the
/// server just closed.
fn legacy_hello(port: u16, version: [u8; 2]) -> Option<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version); // client_version
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x14, 0x00, 0x2f]); // two CBC suites
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut hs = vec![0x01, 0x00, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut record = vec![
        0x16,
        version[0],
        version[1],
        (hs.len() >> 8) as u8,
        hs.len() as u8,
    ];
    record.extend_from_slice(&hs);
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    sock.write_all(&record).expect("send hello");
    let mut first = [0u8; 1];
    match sock.read(&mut first) {
        Ok(1) => Some(first[0]),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_scim_refuses_old_tls_and_reloads_on_sighup() {
    let dir = TempDir::new("tls");
    let (cert, key, first_der) = certificate(&dir, "first");
    let server = Server::start_with(&[
        "--tls-cert",
        cert.to_str().expect("path"),
        "--tls-key",
        key.to_str().expect("path"),
    ]);
    let port = server.port;
    let token = server.org.token.clone();
    let request = format!(
        "GET /scim/v2/Users?count=1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let (peer, response) = {
        let request = request.clone();
        let der = first_der.clone();
        tokio::task::spawn_blocking(move || https(port, &der, &request))
            .await
            .expect("join")
    };
    assert_eq!(peer, first_der);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("ListResponse"), "{response}");

    for version in [[0x03, 0x01], [0x03, 0x02]] {
        let answer = tokio::task::spawn_blocking(move || legacy_hello(port, version))
            .await
            .expect("join");
        assert_ne!(
            answer,
            Some(0x16),
            "TLS {version:?} must not get a ServerHello"
        );
    }

    // A new certificate in the same files, then SIGHUP: new connections get it.
    let (_, _, second_der) = {
        let (c2, k2, der) = certificate(&dir, "second");
        std::fs::copy(&c2, &cert).expect("replace cert");
        std::fs::copy(&k2, &key).expect("replace key");
        (c2, k2, der)
    };
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let mut served = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let der = second_der.clone();
        let request = request.clone();
        let attempt = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(|| https(port, &der, &request)).ok()
        })
        .await
        .expect("join");
        if let Some((peer, response)) = attempt {
            served = peer;
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            break;
        }
    }
    assert_eq!(served, second_der, "the reloaded certificate is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_no_secret() {
    let server = Server::start_with(&["--log-format", "json"]);
    let secret = "scimd_this-secret-must-never-be-logged";
    let r = server.api_with_token(secret).get("/Users").await;
    assert_eq!(r.status, 401);
    let id = r.header("x-request-id").expect("x-request-id").to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let tail = server.log_tail();
        if let Some(l) = tail.lines().find(|l| l.contains("authentication refused")) {
            break l.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged:\n{tail}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let entry: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(entry["span"]["id"], id.as_str(), "{line}");
    assert_eq!(entry["span"]["route"], "/scim/v2/Users", "{line}");
    assert!(!server.log_tail().contains(secret), "the secret was logged");
}

/// A SQLite scan still running when its request times out is interrupted: the request gets
/// 503, the reader it held is free again at once instead of when the scan would have ended,
/// and `/metrics` counts it. The scan: 120 `co` filters on a multi-valued attribute over
/// 30,000 users, sorted by it, several times the 1 s timeout on any build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_past_the_request_timeout_is_interrupted_and_counted() {
    let first = Server::start_on(common::TestDatabase::sqlite());
    let started = std::time::Instant::now();
    common::cli(&[
        "import",
        "--org",
        &first.org.id,
        "--generate",
        "30000",
        "--database",
        &first.database,
    ]);
    // Measured, never asserted: how long the fixture takes.
    eprintln!("importing 30,000 users took {:?}", started.elapsed());
    let server = first.another_instance_with(&["--request-timeout-secs", "1"]);
    drop(first);
    let terms: Vec<String> = (0..120)
        .map(|i| format!("emails co \"absent{i}\""))
        .collect();
    let slow = format!(
        "/Users?filter={}&sortBy=emails.value&sortOrder=descending&count=10",
        common::enc(&terms.join(" or "))
    );
    server.api().get(&slow).await.expect(503);

    let metrics = server
        .client
        .get(&format!("{}/metrics", server.origin), "")
        .await;
    assert_eq!(metrics.status, 200);
    let interrupted: f64 = metrics
        .text
        .lines()
        .find_map(|l| l.strip_prefix("scimd_db_queries_interrupted_total "))
        .unwrap_or_else(|| panic!("no interrupted-query counter in\n{}", metrics.text))
        .trim()
        .parse()
        .expect("a number");
    assert!(interrupted >= 1.0, "{interrupted}");
    // The reader is back: a point read and a small list are answered.
    let id = server.api().create_user("after@example.com").await;
    server.api().get(&format!("/Users/{id}")).await.expect(200);
    server.api().get("/Users?count=5").await.expect_list();
}
