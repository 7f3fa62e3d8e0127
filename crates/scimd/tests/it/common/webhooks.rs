//! A webhook receiver on 127.0.0.1 for the black-box suites: it verifies every delivery with
//! the Standard Webhooks reference library against the secrets it is told, records what it
//! got and what it answered, can refuse a number of deliveries, and can go down (its port
//! closed, every connection dropped) and come back on the same port. Plus the CLI and API
//! steps around endpoints and the event log.

#![allow(dead_code)]

use super::*;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: String,
    pub sequence: i64,
    pub kind: String,
    pub body: Value,
    /// What the receiver answered.
    pub status: u16,
    /// Whether the signature verified with each secret the receiver was told, in order.
    pub verified: Vec<bool>,
    pub at: Instant,
}

impl Receipt {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Default)]
struct State {
    receipts: Mutex<Vec<Receipt>>,
    secrets: Mutex<Vec<String>>,
    refuse: AtomicUsize,
    refuse_status: AtomicU16,
    delay_ms: AtomicU64,
}

/// The receiver; dropping it stops it.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`
    pub url: String,
    port: u16,
    state: Arc<State>,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// A receiver on a free port, verifying with `secrets` (more can be added later).
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(State::default());
        let serving = Some(tokio::spawn(serve(listener, state.clone())));
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            state,
            serving,
        }
    }

    /// Verifies deliveries with `secret` too.
    pub fn trust(&self, secret: &str) {
        self.state
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(secret.to_owned());
    }

    /// Answers `status` to the next `n` deliveries.
    pub fn refuse_next(&self, n: usize, status: u16) {
        self.state.refuse_status.store(status, Ordering::SeqCst);
        self.state.refuse.store(n, Ordering::SeqCst);
    }

    /// Waits this long before answering each delivery.
    pub fn delay(&self, by: Duration) {
        self.state
            .delay_ms
            .store(by.as_millis() as u64, Ordering::SeqCst);
    }

    /// Closes the port and drops every connection: deliveries find nobody listening.
    pub fn down(&mut self) {
        if let Some(s) = self.serving.take() {
            s.abort();
        }
    }

    /// Listens on the same port again.
    pub async fn up(&mut self) {
        self.down();
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen on port {} again: {e}", self.port),
            }
        };
        self.serving = Some(tokio::spawn(serve(listener, self.state.clone())));
    }

    /// Everything received so far, in order of arrival.
    pub fn receipts(&self) -> Vec<Receipt> {
        self.state
            .receipts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The deliveries it took (answered 2xx), in order of arrival.
    pub fn delivered(&self) -> Vec<Receipt> {
        self.receipts().into_iter().filter(Receipt::ok).collect()
    }

    /// Waits until `check` holds of the receipts (at most `within`), and returns them.
    pub async fn wait_until(
        &self, what: &str, within: Duration, check: impl Fn(&[Receipt]) -> bool,
    ) -> Vec<Receipt> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.receipts();
            if check(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get {what} within {within:?}; it got {} request(s): {:?}",
                got.len(),
                got.iter()
                    .map(|r| (r.sequence, r.status))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the receiver took every sequence up to `last` (at most `within`).
    pub async fn wait_delivered_through(&self, last: i64, within: Duration) -> Vec<Receipt> {
        self.wait_until(&format!("every event through {last}"), within, |got| {
            got.iter().filter(|r| r.ok()).any(|r| r.sequence >= last)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

/// Accepts connections until aborted; the connections are this task's, so aborting it
/// drops them too.
async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { receive(&state, headers, body).await }
            }),
        );
        connections.spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
        // Finished connections are reaped as new ones come.
        while connections.try_join_next().is_some() {}
    }
}

async fn receive(state: &State, headers: HeaderMap, body: Bytes) -> StatusCode {
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let secrets = state
        .secrets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let verified = secrets
        .iter()
        .map(|s| {
            standardwebhooks::Webhook::new(s)
                .and_then(|w| w.verify(&body, &headers))
                .is_ok()
        })
        .collect();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let header_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let refused = state
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if refused {
        state.refuse_status.load(Ordering::SeqCst)
    } else {
        204
    };
    assert_eq!(
        json["id"].as_str(),
        Some(header_id.as_str()),
        "webhook-id is the event's id"
    );
    state
        .receipts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Receipt {
            id: header_id,
            sequence: json["sequence"].as_i64().unwrap_or(-1),
            kind: json["type"].as_str().unwrap_or("").to_owned(),
            body: json,
            status,
            verified,
            at: Instant::now(),
        });
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// `scimd webhook add --org ORG --url URL`: the endpoint's id and its secret.
pub fn add_webhook(server: &Server, org: &str, url: &str) -> (String, String) {
    let secret = cli(&[
        "webhook",
        "add",
        "--org",
        org,
        "--url",
        url,
        "--database",
        &server.database,
    ]);
    assert!(
        secret.starts_with("whsec_"),
        "webhook add printed {secret:?}"
    );
    let list = webhook_list(server, org);
    let id = list["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .rev()
        .find(|w| w["url"] == url)
        .and_then(|w| w["id"].as_str())
        .expect("the endpoint listed")
        .to_owned();
    (id, secret)
}

/// `scimd webhook list --format json`.
pub fn webhook_list(server: &Server, org: &str) -> Value {
    let out = cli(&[
        "webhook",
        "list",
        "--org",
        org,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("webhook list JSON ({e}): {out}"))
}

/// `scimd webhook deliveries --format json`: the endpoint's attempts, newest first.
pub fn webhook_deliveries(server: &Server, org: &str, id: &str) -> Vec<Value> {
    let out = cli(&[
        "webhook",
        "deliveries",
        "--org",
        org,
        id,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("deliveries JSON ({e}): {out}"));
    v["deliveries"].as_array().expect("deliveries").clone()
}

/// `scimd webhook rotate-secret`: the new secret.
pub fn rotate_secret(server: &Server, org: &str, id: &str) -> String {
    let secret = cli(&[
        "webhook",
        "rotate-secret",
        "--org",
        org,
        id,
        "--database",
        &server.database,
    ]);
    assert!(
        secret.starts_with("whsec_"),
        "rotate-secret printed {secret:?}"
    );
    secret
}

/// A new application key of `org`.
pub fn app_key(server: &Server, org: &str) -> String {
    cli(&[
        "app",
        "create",
        "--org",
        org,
        "--name",
        &format!("reader-{}", random_hex(6)),
        "--database",
        &server.database,
    ])
}

/// Every kept event of the key's organisation, oldest first, through the events API.
pub async fn all_events(server: &Server, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("{}/api/v1/events?limit=1000&after={a}", server.origin),
            None => format!("{}/api/v1/events?limit=1000", server.origin),
        };
        let r = server.client.get(&path, key).await;
        assert_eq!(r.status, 200, "{}", r.text);
        out.extend(r.json()["data"].as_array().expect("data").iter().cloned());
        match r.json()["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => return out,
        }
    }
}

/// Asserts that `got` is what one endpoint's deliveries in order look like for `events`:
/// every signature verifies, every body is its event, every event is taken (answered 2xx),
/// and nothing is sent before the event ahead of it was taken: after a refusal comes the same
/// event again. Delivery may start again from an earlier event at most `restarts` times (a
/// crash or a takeover resends what was delivered but not yet reported).
pub fn assert_in_order(got: &[Receipt], events: &[Value], restarts: usize) {
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().expect("sequence"))
        .collect();
    let index = |seq: i64| {
        seqs.iter()
            .position(|s| *s == seq)
            .unwrap_or_else(|| panic!("a delivery of event {seq}, not one expected: {seqs:?}"))
    };
    // The index of the next event due: the one after the last taken in this run.
    let mut due = 0usize;
    let mut taken = vec![false; seqs.len()];
    let mut rewinds = 0;
    for r in got {
        assert!(
            !r.verified.is_empty() && r.verified.iter().all(|v| *v),
            "a delivery whose signature does not verify: {r:?}"
        );
        let i = index(r.sequence);
        assert_eq!(r.body, events[i], "the body is the event");
        assert!(
            i <= due,
            "event {} sent before event {:?} was taken",
            r.sequence,
            seqs.get(due)
        );
        if i < due {
            rewinds += 1;
        }
        due = i;
        if r.ok() {
            taken[i] = true;
            due = i + 1;
        }
    }
    let missing: Vec<i64> = seqs
        .iter()
        .zip(&taken)
        .filter(|(_, t)| !**t)
        .map(|(s, _)| *s)
        .collect();
    assert!(missing.is_empty(), "events never taken: {missing:?}");
    assert!(
        rewinds <= restarts,
        "delivery started over {rewinds} times (at most {restarts} expected)"
    );
}
