//! The transport under clients that do not play along, on the real binary, over plain HTTP and
//! over TLS alike: headers trickled a byte at a time, idle keep-alive connections, header
//! fields over the limit, and more connections than the server holds open.

use crate::common::*;
use crate::operations::{certificate, tls_client};
use serde_json::json;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The most a bounded test waits for the server to close a connection it should close.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// Sends one byte of a request head every 300 ms (never the end of it) until the server
/// closes the connection; returns whether it did within [`CLOSE_WITHIN`].
fn trickle_until_closed(stream: &mut impl Write) -> bool {
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    if stream.write_all(head).is_err() {
        return true;
    }
    let started = Instant::now();
    while started.elapsed() < CLOSE_WITHIN {
        std::thread::sleep(Duration::from_millis(300));
        if stream
            .write_all(b"a")
            .and_then(|()| stream.flush())
            .is_err()
        {
            return true;
        }
    }
    false
}

/// Whether the peer has closed the connection (a read gives end of stream or a reset) within
/// [`CLOSE_WITHIN`]; bytes it sends first are read and dropped.
fn closed_by_peer(stream: &mut impl Read) -> bool {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while started.elapsed() < CLOSE_WITHIN {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return true,
        }
    }
    false
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    s
}

/// A TLS client connection trusting `trusted`, its handshake done.
fn tls_connect(
    port: u16, trusted: &[u8],
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut tls = rustls::StreamOwned::new(tls_client(trusted), connect(port));
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
    }
    tls
}

#[tokio::test]
async fn clients_that_trickle_their_headers_are_cut_off_over_http_and_tls() {
    let dir = TempDir::new("transport-tls");
    let (cert, key, der) = certificate(&dir, "localhost");
    let plain = Server::start_with(&["--header-timeout-secs", "2"]);
    let tls = Server::start_with(&[
        "--header-timeout-secs",
        "2",
        "--tls-cert",
        cert.to_str().expect("path"),
        "--tls-key",
        key.to_str().expect("path"),
    ]);
    let (plain_port, tls_port) = (plain.port, tls.port);
    let (over_http, over_tls) = tokio::task::spawn_blocking(move || {
        let mut s = connect(plain_port);
        let over_http = trickle_until_closed(&mut s);
        let mut t = tls_connect(tls_port, &der);
        let over_tls = trickle_until_closed(&mut t);
        (over_http, over_tls)
    })
    .await
    .expect("join");
    assert!(
        over_http,
        "a trickling client kept its connection over HTTP"
    );
    assert!(over_tls, "a trickling client kept its connection over TLS");
    // The servers are fine and answer others.
    assert_eq!(
        plain
            .client
            .get("/ServiceProviderConfig", &plain.org.token)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let server = Server::start_with(&["--header-timeout-secs", "2"]);
    let port = server.port;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = connect(port);
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("request");
        // The answer arrives, then nothing more is sent: the connection is idle.
        closed_by_peer(&mut s)
    })
    .await
    .expect("join");
    assert!(closed, "an idle keep-alive connection stayed open");
}

#[tokio::test]
async fn header_fields_over_the_limit_get_431_and_change_nothing() {
    let server = Server::start();
    let api = server.api();
    let before = api.user_count().await;
    let pad = "p".repeat(20 * 1024);
    let r = server
        .client
        .send(
            reqwest::Method::POST,
            "/Users",
            Some(&user_body("too.many.headers@example.com")),
            &server.org.token,
            &[("x-padding", pad.as_str())],
        )
        .await;
    let body = r.expect_error(431, None);
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("header"),
        "{body}"
    );
    assert_eq!(api.user_count().await, before);
    // Just under the limit is fine.
    let pad = "p".repeat(12 * 1024);
    let r = server
        .client
        .send(
            reqwest::Method::POST,
            "/Users",
            Some(&json!({"schemas": [USER_URN], "userName": "fits@example.com"})),
            &server.org.token,
            &[("x-padding", pad.as_str())],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn beyond_the_connection_cap_new_connections_are_refused_and_open_ones_served() {
    let server = Server::start_with(&["--max-connections", "8"]);
    let port = server.port;
    let (refused, still_served) = tokio::task::spawn_blocking(move || {
        let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut open: Vec<TcpStream> = Vec::new();
        for _ in 0..8 {
            let mut s = connect(port);
            s.write_all(request).expect("request");
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).expect("an answer");
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
            open.push(s);
        }
        // A ninth connection is closed without an answer.
        let mut extra = connect(port);
        let _ = extra.write_all(request);
        let refused = closed_by_peer(&mut extra);
        // An established one is still served.
        let mut first = open.remove(0);
        first.write_all(request).expect("request");
        let mut buf = [0u8; 512];
        let n = first.read(&mut buf).unwrap_or(0);
        let still_served = String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200");
        (refused, still_served)
    })
    .await
    .expect("join");
    assert!(refused, "a connection beyond the cap was served");
    assert!(still_served, "an open connection stopped being served");
    // Once they are gone (the server sees the closes a moment later), new connections are
    // served again.
    let served_again = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + CLOSE_WITHIN;
        while Instant::now() < deadline {
            let mut s = connect(port);
            if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .is_ok()
            {
                let mut buf = [0u8; 512];
                if let Ok(n) = s.read(&mut buf)
                    && String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200")
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    })
    .await
    .expect("join");
    assert!(
        served_again,
        "new connections stayed refused after the others closed"
    );
}

#[tokio::test]
async fn ten_thousand_idle_connections_leave_new_ones_served_and_are_closed_in_time() {
    const IDLE: usize = 10_000;
    let server = Server::start_with(&["--header-timeout-secs", "3"]);
    let port = server.port;
    let opening = Instant::now();
    let idle = tokio::task::spawn_blocking(move || {
        (0..IDLE)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("an idle connection"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("join");
    assert_eq!(idle.len(), IDLE);
    eprintln!(
        "{IDLE} connections opened in {} ms",
        opening.elapsed().as_millis()
    );
    // New connections are still answered, health and SCIM alike (latency is printed, for the
    // record; it is measured in the benchmarks, not asserted here).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let started = Instant::now();
    let health = fresh
        .get(format!("{}/healthz", server.origin))
        .send()
        .await
        .expect("healthz");
    let health_ms = started.elapsed().as_millis();
    assert_eq!(health.status().as_u16(), 200);
    let started = Instant::now();
    let users = fresh
        .get(server.client.url("/Users?count=1"))
        .bearer_auth(&server.org.token)
        .send()
        .await
        .expect("SCIM GET");
    let scim_ms = started.elapsed().as_millis();
    assert_eq!(users.status().as_u16(), 200);
    eprintln!("with {IDLE} idle connections: /healthz {health_ms} ms, SCIM GET {scim_ms} ms");
    // The idle ones are closed by the header timeout (a sample is enough to tell).
    let closed = tokio::task::spawn_blocking(move || {
        idle.into_iter()
            .step_by(IDLE / 50)
            .map(|mut s| {
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .expect("timeout");
                closed_by_peer(&mut s)
            })
            .filter(|c| *c)
            .count()
    })
    .await
    .expect("join");
    assert_eq!(
        closed, 50,
        "idle connections left open past the header timeout"
    );
}
