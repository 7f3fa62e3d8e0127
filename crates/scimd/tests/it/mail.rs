//! Tokens, the connection, the activity log and e-mail notifications, driven against the real
//! binary with a real SMTP server (an in-process `mailin-embedded` sink on loopback).

use crate::common::*;
use serde_json::Value;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("address").port()
}

fn json_out(args: &[&str]) -> Value {
    serde_json::from_str(&cli(args)).expect("JSON output")
}

/// Polls `f` (at most 20 s) until it returns `Some`.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_use_of_a_token_sends_set_up_complete_naming_the_organisation() {
    let sink = SmtpSink::start();
    let server = Server::start_with(&["--smtp-url", &sink.url, "--mail-from", "scimd@example.com"]);
    let db = server.database.clone();
    cli(&[
        "admin",
        "add",
        "--org",
        &server.org.id,
        "--email",
        "ann@example.com",
        "--database",
        &db,
    ]);
    cli(&[
        "admin",
        "add",
        "--org",
        &server.org.id,
        "--email",
        "pat@example.com",
        "--role",
        "people-manager",
        "--database",
        &db,
    ]);
    let before = json_out(&[
        "token",
        "list",
        "--org",
        &server.org.id,
        "--format",
        "json",
        "--database",
        &db,
    ]);
    assert_eq!(before["connection"], "pending");
    assert_eq!(before["tokens"][0]["state"], "pending");

    // The identity provider's "Test Connection".
    server
        .api()
        .get(&format!("/Users?{}", filter_eq("userName", &guid())))
        .await
        .expect_list();

    let mail = sink.wait_for("Directory sync set-up complete");
    assert!(mail.data.contains("Org A"), "{}", mail.data);
    assert_eq!(mail.to, vec!["ann@example.com".to_owned()]);
    let after = json_out(&[
        "token",
        "list",
        "--org",
        &server.org.id,
        "--format",
        "json",
        "--database",
        &db,
    ]);
    assert_eq!(after["connection"], "active");
    assert_eq!(after["tokens"][0]["state"], "active");
    assert!(after["tokens"][0]["lastUsed"].is_string());
    // The token list never shows a secret.
    assert!(!after.to_string().contains(&server.org.token));

    // More requests send nothing more.
    server.api().get("/Users").await.expect_list();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sink.count(), 1);
    let outbox = json_out(&["outbox", "list", "--format", "json", "--database", &db]);
    assert_eq!(outbox.as_array().map(Vec::len), Some(1));
    assert_eq!(outbox[0]["state"], "sent");

    // Every SCIM request is in the activity log, with its token and status.
    let activity = cli(&["activity", "--org", &server.org.id, "--database", &db]);
    assert!(activity.contains("admin.add"), "{activity}");
    assert!(activity.contains("token.generate"), "{activity}");
    let gets = activity
        .lines()
        .filter(|l| l.contains("\tGET\t/scim/v2/Users\t200"))
        .count();
    assert_eq!(gets, 2, "{activity}");
    assert!(!activity.contains(&server.org.token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_that_is_down_loses_no_notice() {
    let url = format!("smtp://127.0.0.1:{}", closed_port());
    let server = Server::start_with(&["--smtp-url", &url]);
    let db = server.database.clone();
    cli(&[
        "admin",
        "add",
        "--org",
        &server.org.id,
        "--email",
        "ann@example.com",
        "--database",
        &db,
    ]);
    server.api().get("/Users").await.expect_list();
    let notice = eventually("a failed delivery attempt", || {
        let outbox = json_out(&["outbox", "list", "--format", "json", "--database", &db]);
        let n = outbox.as_array()?.first()?.clone();
        (n["attempts"].as_i64()? >= 1 && n["lastError"].is_string()).then_some(n)
    });
    assert_eq!(notice["kind"], "setup-complete");
    assert_eq!(notice["state"], "retrying");
    assert!(notice["sent"].is_null());
}

#[test]
fn a_malformed_smtp_url_is_a_clear_start_up_error() {
    let dir = TempDir::new("scimd-mail");
    let database = format!("sqlite://{}", dir.path().join("scimd.db").display());
    for bad in [
        "smtp//mail.example.com",
        "http://mail.example.com:25",
        "smtp://",
    ] {
        let (ok, _, stderr) = cli_status(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database,
            "--smtp-url",
            bad,
        ]);
        assert!(!ok, "scimd serve started with --smtp-url {bad}");
        assert!(stderr.contains("invalid SMTP URL"), "{bad}: {stderr}");
    }
}

#[test]
fn credentials_are_refused_over_a_connection_that_may_be_plain() {
    let sink = SmtpSink::start();
    let port = sink.url.rsplit(':').next().expect("port");
    let dir = TempDir::new("scimd-mail");
    let database = format!("sqlite://{}", dir.path().join("scimd.db").display());
    for url in [
        format!("smtp://u:p@127.0.0.1:{port}"),
        format!("smtp://u:p@127.0.0.1:{port}?tls=opportunistic"),
    ] {
        let (ok, _, stderr) =
            cli_status(&["mail", "test", "--to", "a@b.example", "--smtp-url", &url]);
        assert!(!ok, "mail test sent with {url}");
        assert!(
            stderr.contains("smtps://") && stderr.contains("?tls=required"),
            "{url}: {stderr}"
        );
        assert!(!stderr.contains("u:p@"), "{url}: {stderr}");
        let (ok, _, stderr) = cli_status(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database,
            "--smtp-url",
            &url,
        ]);
        assert!(!ok, "scimd serve started with --smtp-url {url}");
        assert!(stderr.contains("?tls=required"), "{url}: {stderr}");
        let (ok, stdout, _) = cli_status(&["config", "check", "--smtp-url", &url]);
        assert!(!ok, "config check accepted {url}");
        assert!(
            stdout.contains("# error:") && stdout.contains("?tls=required"),
            "{url}: {stdout}"
        );
    }
    // The sink never saw a connection that got as far as a message.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.count(), 0);
}

/// Counts the messages an SMTP server on loopback accepts.
#[derive(Clone)]
struct Counter(Arc<AtomicUsize>);

impl mailin_embedded::Handler for Counter {
    fn data_end(&mut self) -> mailin_embedded::Response {
        self.0.fetch_add(1, Ordering::SeqCst);
        mailin_embedded::response::OK
    }
}

/// An SMTP server on loopback that offers STARTTLS with a self-signed certificate, which
/// scimd does not trust; returns its port and its count of accepted messages.
fn starttls_sink(dir: &TempDir) -> (u16, Arc<AtomicUsize>) {
    // Both of rustls's providers are compiled in (through the dependencies): pick one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let key = rcgen::KeyPair::generate().expect("key pair");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    let cert_path = dir.path().join("sink.crt");
    let key_path = dir.path().join("sink.key");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP sink");
    let port = listener.local_addr().expect("address").port();
    let count = Arc::new(AtomicUsize::new(0));
    let mut server = mailin_embedded::Server::new(Counter(count.clone()));
    server
        .with_name("tls-sink.test")
        .with_ssl(mailin_embedded::SslConfig::SelfSigned {
            cert_path: cert_path.display().to_string(),
            key_path: key_path.display().to_string(),
        })
        .expect("STARTTLS set-up")
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, count)
}

#[test]
fn plain_smtp_takes_starttls_when_the_relay_offers_it() {
    let dir = TempDir::new("scimd-starttls");
    let (port, count) = starttls_sink(&dir);
    // Offered STARTTLS, scimd takes it; the certificate does not verify, so nothing is sent
    // rather than the message going out in clear.
    let (ok, _, stderr) = cli_status(&[
        "mail",
        "test",
        "--to",
        "ops@example.com",
        "--smtp-url",
        &format!("smtp://127.0.0.1:{port}"),
    ]);
    assert!(!ok, "the message went out without TLS");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert_eq!(count.load(Ordering::SeqCst), 0, "{stderr}");
    // ?tls=none is the explicit way to a plain connection (no credentials allowed).
    cli(&[
        "mail",
        "test",
        "--to",
        "ops@example.com",
        "--smtp-url",
        &format!("smtp://127.0.0.1:{port}?tls=none"),
    ]);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn mail_test_sends_a_message() {
    let sink = SmtpSink::start();
    cli(&[
        "mail",
        "test",
        "--to",
        "ops@example.com",
        "--smtp-url",
        &sink.url,
    ]);
    let m = sink.wait_for("scimd test message");
    assert_eq!(m.to, vec!["ops@example.com".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_commands_enforce_the_rules_and_disconnect_stops_sync() {
    let server = Server::start();
    let db = server.database.clone();
    let org = server.org.id.clone();
    // A replacement while the first token still works.
    let second = cli(&["token", "generate", "--org", &org, "--database", &db]);
    assert!(second.starts_with("scimd_") && !second.contains(char::is_whitespace));
    server.api().get("/Users").await.expect_list();
    server
        .api_with_token(&second)
        .get("/Users")
        .await
        .expect_list();
    let (ok, stdout, stderr) = cli_status(&["token", "generate", "--org", &org, "--database", &db]);
    assert!(!ok && stdout.is_empty(), "a third live token was issued");
    assert!(stderr.contains("revoke one"), "{stderr}");

    let list = json_out(&[
        "token",
        "list",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &db,
    ]);
    let ids: Vec<String> = list["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    cli(&["token", "revoke", "--org", &org, &ids[0], "--database", &db]);
    // Revocation takes effect on the next request.
    server.api().get("/Users").await.expect_error(401, None);
    let (ok, _, stderr) =
        cli_status(&["token", "revoke", "--org", &org, &ids[1], "--database", &db]);
    assert!(!ok, "the last live token was revoked");
    assert!(stderr.contains("disconnect"), "{stderr}");

    cli(&["disconnect", "--org", &org, "--database", &db]);
    let r = server.api_with_token(&second).get("/Users").await;
    let body = r.expect_error(401, None);
    assert_eq!(body["detail"], "invalid token");
    let list = json_out(&[
        "token",
        "list",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &db,
    ]);
    assert_eq!(list["connection"], "disconnected");
    assert!(
        list["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .all(|t| t["state"] == "revoked")
    );
    let text = cli(&["token", "list", "--org", &org, "--database", &db]);
    assert!(text.starts_with("connection: disconnected"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_are_logged_with_the_reason_and_clients_learn_nothing() {
    let server = Server::start();
    let db = server.database.clone();
    let unknown = format!("scimd_{}", random_hex(43));
    let r = server.api_with_token(&unknown).get("/Users").await;
    assert_eq!(r.expect_error(401, None)["detail"], "invalid token");
    let (second, first_id) = replace_first_token(&server);
    let r = server.api().get("/Users").await;
    assert_eq!(r.expect_error(401, None)["detail"], "invalid token");
    server
        .api_with_token(&second)
        .get("/Users")
        .await
        .expect_list();

    let activity = eventually("the refusal in the activity log", || {
        let a = cli(&["activity", "--org", &server.org.id, "--database", &db]);
        a.contains("refused: revoked token").then_some(a)
    });
    assert!(
        activity.contains(&format!("token={first_id}")),
        "{activity}"
    );
    // A token no organisation has is anyone's to send: it is counted, never logged as activity
    // (the revoked token's refusal above was logged after it, so it would be there by now).
    let unattributed = cli(&["activity", "--org", "unattributed", "--database", &db]);
    assert!(unattributed.is_empty(), "{unattributed}");
    let metrics = server
        .client
        .get(&format!("{}/metrics", server.origin), "")
        .await;
    assert!(
        metrics
            .text
            .lines()
            .any(|l| l == r#"scimd_auth_refused_total{reason="unknown"} 1"#),
        "{}",
        metrics.text
    );
    // --since filters by time.
    let later = cli(&[
        "activity",
        "--org",
        &server.org.id,
        "--since",
        "2999-01-01T00:00:00Z",
        "--database",
        &db,
    ]);
    assert!(later.is_empty(), "{later}");

    // A write names the resource it touched and what happened, never the body.
    let created = server
        .api_with_token(&second)
        .post(
            "/Users",
            &serde_json::json!({
                "schemas": [USER_URN],
                "userName": "kim@example.com",
                "password": "Hunter2-secret"
            }),
        )
        .await;
    created.expect(201);
    let id = created.id();
    let activity = eventually("the create in the activity log", || {
        let a = cli(&["activity", "--org", &server.org.id, "--database", &db]);
        a.contains(&format!("Users/{id}")).then_some(a)
    });
    let line = activity
        .lines()
        .find(|l| l.contains(&format!("Users/{id}")))
        .expect("line");
    assert!(line.contains("\tPOST\t/scim/v2/Users\t201\t"), "{line}");
    assert!(line.ends_with("\tcreated"), "{line}");
    assert!(!activity.contains("Hunter2-secret"));
}

/// Two instances on one database, the token's first use racing through both: the set-up
/// notice is enqueued and delivered exactly once (its row is unique; delivery is claimed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_send_the_set_up_notice_once() {
    let sink = SmtpSink::start();
    let args = [
        "--smtp-url",
        sink.url.as_str(),
        "--mail-from",
        "scimd@example.com",
    ];
    let a = Server::start_with(&args);
    cli(&[
        "admin",
        "add",
        "--org",
        &a.org.id,
        "--email",
        "ann@example.com",
        "--database",
        &a.database,
    ]);
    let b = a.another_instance_with(&args);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let api = if i % 2 == 0 { a.api() } else { b.api() };
        tasks.spawn(async move { api.get("/Users?count=1").await.status });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task"), 200);
    }
    sink.wait_for("Directory sync set-up complete");
    // Both instances run their delivery job every 2 s: give them several rounds.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(sink.count(), 1, "exactly one set-up notice");
    let outbox = json_out(&[
        "outbox",
        "list",
        "--format",
        "json",
        "--database",
        &a.database,
    ]);
    assert_eq!(outbox.as_array().map(Vec::len), Some(1), "{outbox}");
}

/// A relay that accepts connections and never says a word (a firewall that drops, a hung
/// process); it holds every connection until the test ends.
fn silent_relay() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_never_answers_slows_no_request_and_loses_no_notice() {
    let port = silent_relay();
    let url = format!("smtp://127.0.0.1:{port}?tls=none");
    let server = Server::start_with(&["--smtp-url", &url, "--mail-from", "scimd@example.com"]);
    let db = server.database.clone();
    let org = server.org.id.clone();
    cli(&[
        "admin",
        "add",
        "--org",
        &org,
        "--email",
        "ann@example.com",
        "--database",
        &db,
    ]);
    // The first use queues the set-up notice; its delivery then hangs on the relay.
    server.api().get("/Users").await.expect_list();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(5) {
        let t = Instant::now();
        server.api().get("/Users").await.expect_list();
        slowest = slowest.max(t.elapsed());
        // Below the per-token rate, like an identity provider.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "slowest SCIM GET while the relay hangs: {} ms",
        slowest.as_millis()
    );
    // The attempt gives up (the relay timeout), is recorded, and is scheduled again: the
    // notice stays in the outbox, unsent, until a relay takes it.
    // (The relay timeout is 20 s; the wait allows it twice over.)
    let deadline = Instant::now() + Duration::from_secs(40);
    let notice = loop {
        let list = json_out(&[
            "outbox",
            "list",
            "--org",
            &org,
            "--format",
            "json",
            "--database",
            &db,
        ]);
        let failed = list
            .as_array()
            .and_then(|l| l.iter().find(|n| n["lastError"].is_string()).cloned());
        if let Some(n) = failed {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "no failed attempt recorded: {list}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(notice["sent"].is_null(), "{notice}");
    assert!(notice["lastError"].is_string(), "{notice}");
    assert!(
        notice["nextAttempt"].as_str().unwrap_or_default()
            > notice["created"].as_str().unwrap_or_default(),
        "{notice}"
    );
    server.api().get("/Users").await.expect_list();
}
