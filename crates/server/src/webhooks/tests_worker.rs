//! The worker and the test event on the real SQLite store, delivering to a receiver on
//! loopback that verifies every signature with the Standard Webhooks reference library.

use super::{Sender, Worker, WorkerConfig};
use crate::testing::{TestApp, user};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use directory::ids::WebhookId;
use directory::store::{
    AdminRole, EventQuery, NoticeKind, WebhookEndpoint, WebhookSecret, WebhookState,
};
use serde_json::Value;
use standardwebhooks::Webhook;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// One request the receiver got, and the status it answered.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
    status: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    fn sequence(&self) -> i64 {
        self.json()["sequence"].as_i64().expect("sequence")
    }
}

/// A receiver on 127.0.0.1 that answers `fail_status` to the next `fail` requests, 204 after.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    fail: Arc<AtomicUsize>,
    fail_status: u16,
}

impl Receiver {
    async fn start(fail: usize, fail_status: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let r = Receiver {
            url: format!("http://{addr}/hook"),
            got: Arc::default(),
            fail: Arc::new(AtomicUsize::new(fail)),
            fail_status,
        };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let r = state.clone();
                async move {
                    let failing = r
                        .fail
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let status = if failing { r.fail_status } else { 204 };
                    r.got.lock().expect("lock").push(Got {
                        headers,
                        body,
                        status,
                    });
                    StatusCode::from_u16(status).expect("status")
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().expect("lock").clone()
    }
}

/// Waits (at most 20 s) until `check` holds.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn quick() -> WorkerConfig {
    WorkerConfig {
        poll_every: Duration::from_millis(20),
        claim_every: Duration::from_millis(50),
        first_retry: time::Duration::milliseconds(100),
        ..WorkerConfig::default()
    }
}

async fn app(allow_private: bool) -> TestApp {
    TestApp::with(|s| {
        s.with_webhooks(Arc::new(
            Sender::new(allow_private).expect("webhook client"),
        ))
    })
    .await
}

fn worker(t: &TestApp, config: WorkerConfig) -> Worker {
    Worker::start(
        t.state.store.clone(),
        t.state.clock.clone(),
        t.state.webhooks.clone().expect("sender"),
        config,
    )
}

/// An endpoint of the test organisation at `url`, signing with `secret`.
async fn add_endpoint(t: &TestApp, url: &str, secrets: Vec<WebhookSecret>) -> WebhookEndpoint {
    let ep = WebhookEndpoint {
        id: WebhookId::new(),
        org_id: t.org.id,
        url: url.to_owned(),
        types: Vec::new(),
        secrets,
        state: WebhookState::Active,
        cursor: 0,
        attempts: 0,
        next_attempt: None,
        failing_since: None,
        created: t.state.clock.now(),
        last_delivery: None,
        last_status: None,
    };
    t.state.store.insert_webhook(&ep).await.expect("endpoint");
    ep
}

fn current(secret: &str) -> Vec<WebhookSecret> {
    vec![WebhookSecret {
        secret: secret.to_owned(),
        retires: None,
    }]
}

async fn create_users(t: &TestApp, token: &str, n: usize) {
    for i in 0..n {
        let name = format!("u{i}-{}@example.com", uuid::Uuid::now_v7().simple());
        let a = t
            .scim(Method::POST, "/scim/v2/Users", token, user(&name))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    }
}

fn verify(secret: &str, g: &Got) {
    Webhook::new(secret)
        .expect("secret")
        .verify(&g.body, &g.headers)
        .unwrap_or_else(|e| panic!("signature does not verify: {e}"));
    let id = g.headers["webhook-id"].to_str().expect("id");
    assert_eq!(g.json()["id"], id);
    assert_eq!(g.headers[header::CONTENT_TYPE], "application/json");
    let agent = g.headers[header::USER_AGENT].to_str().expect("agent");
    assert!(agent.starts_with("scimd/"), "{agent}");
}

#[tokio::test]
async fn events_reach_the_receiver_in_sequence_order_each_signed_once() {
    let t = app(true).await;
    let rx = Receiver::start(0, 500).await;
    let secret = directory::apps::generate_secret().expect("secret");
    let ep = add_endpoint(&t, &rx.url, current(&secret)).await;
    let w = worker(&t, quick());
    let token = t.token().await;
    create_users(&t, &token, 30).await;
    let store = t.state.store.clone();
    let head = store.last_event_sequence(t.org.id).await.expect("head");
    assert!(head >= 30);
    until("every event delivered", || async {
        rx.got().len() as i64 >= head
    })
    .await;
    let events = store
        .list_events(
            t.org.id,
            &EventQuery {
                after: 0,
                limit: 1000,
                types: Vec::new(),
            },
        )
        .await
        .expect("events");
    let got = rx.got();
    assert_eq!(got.len(), events.len(), "each event once");
    for (g, e) in got.iter().zip(&events) {
        verify(&secret, g);
        assert_eq!(g.json(), e.to_json(), "the body is the event");
    }
    until("the cursor reported", || async {
        store
            .get_webhook(t.org.id, ep.id)
            .await
            .expect("read")
            .is_some_and(|e| e.cursor == head)
    })
    .await;
    let log = store
        .list_deliveries(t.org.id, ep.id, 1000)
        .await
        .expect("log");
    assert_eq!(log.len(), events.len());
    assert!(log.iter().all(|d| d.ok && d.status == Some(204)));
    w.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_refusing_receiver_gets_the_same_event_again_and_nothing_after_it_first() {
    let t = app(true).await;
    let rx = Receiver::start(3, 503).await;
    let secret = directory::apps::generate_secret().expect("secret");
    let ep = add_endpoint(&t, &rx.url, current(&secret)).await;
    let w = worker(&t, quick());
    let token = t.token().await;
    create_users(&t, &token, 5).await;
    let head = t
        .state
        .store
        .last_event_sequence(t.org.id)
        .await
        .expect("head");
    until("every event delivered", || async {
        rx.got().iter().filter(|g| g.status == 204).count() as i64 >= head
    })
    .await;
    let mut delivered = 0;
    for g in rx.got() {
        verify(&secret, &g);
        // Nothing is sent before the event ahead of it was taken.
        assert_eq!(g.sequence(), delivered + 1, "sent out of order");
        if g.status == 204 {
            delivered += 1;
        }
    }
    assert_eq!(delivered, head);
    assert_eq!(rx.got().len() as i64, head + 3, "three refusals retried");
    let log = t
        .state
        .store
        .list_deliveries(t.org.id, ep.id, 1000)
        .await
        .expect("log");
    let failed: Vec<_> = log.iter().filter(|d| !d.ok).collect();
    assert_eq!(failed.len(), 3);
    assert!(
        failed
            .iter()
            .all(|d| d.status == Some(503) && d.sequence == 1)
    );
    assert!(
        failed[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("503"))
    );
    w.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_replay_delivers_again_from_the_event_named() {
    let t = app(true).await;
    let rx = Receiver::start(0, 500).await;
    let secret = directory::apps::generate_secret().expect("secret");
    let ep = add_endpoint(&t, &rx.url, current(&secret)).await;
    let w = worker(&t, quick());
    let token = t.token().await;
    create_users(&t, &token, 4).await;
    let store = t.state.store.clone();
    let head = store.last_event_sequence(t.org.id).await.expect("head");
    until("every event delivered", || async {
        rx.got().len() as i64 >= head
    })
    .await;
    until("the cursor reported", || async {
        store
            .get_webhook(t.org.id, ep.id)
            .await
            .expect("read")
            .is_some_and(|e| e.cursor == head)
    })
    .await;
    // Idle: the replay alone must wake the endpoint.
    assert!(
        store
            .set_webhook_cursor(t.org.id, ep.id, 1)
            .await
            .expect("replay")
    );
    until("delivered again from 2", || async {
        rx.got().len() as i64 >= 2 * head - 1
    })
    .await;
    let again: Vec<i64> = rx.got()[head as usize..]
        .iter()
        .map(Got::sequence)
        .collect();
    assert_eq!(again, (2..=head).collect::<Vec<_>>());
    w.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_private_target_without_the_flag_is_refused_and_the_attempt_logged() {
    let t = app(false).await;
    let rx = Receiver::start(0, 500).await;
    let secret = directory::apps::generate_secret().expect("secret");
    let ep = add_endpoint(&t, &rx.url, current(&secret)).await;
    let w = worker(&t, quick());
    let token = t.token().await;
    create_users(&t, &token, 1).await;
    let store = t.state.store.clone();
    until("a refused attempt logged", || async {
        !store
            .list_deliveries(t.org.id, ep.id, 10)
            .await
            .expect("log")
            .is_empty()
    })
    .await;
    let log = store
        .list_deliveries(t.org.id, ep.id, 10)
        .await
        .expect("log");
    let error = log[0].error.clone().unwrap_or_default();
    assert!(error.starts_with("refused address"), "{error}");
    assert!(!log[0].ok && log[0].status.is_none());
    let now = store
        .get_webhook(t.org.id, ep.id)
        .await
        .expect("read")
        .expect("ep");
    assert_eq!(now.cursor, 0);
    assert!(now.attempts >= 1 && now.failing_since.is_some());
    w.stop(Duration::from_secs(5)).await;
    assert!(rx.got().is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn retries_that_ran_out_mark_the_endpoint_failing_and_notify_once() {
    let t = app(true).await;
    let rx = Receiver::start(usize::MAX, 500).await;
    let secret = directory::apps::generate_secret().expect("secret");
    let store = t.state.store.clone();
    // An endpoint failing for three days already: the next failed attempt is its last.
    let since = t.state.clock.now() - super::RETRY_FOR - time::Duration::minutes(1);
    let mut ep = add_endpoint(&t, &rx.url, current(&secret)).await;
    store.remove_webhook(t.org.id, ep.id).await.expect("remove");
    ep.attempts = 80;
    ep.failing_since = Some(since);
    store.insert_webhook(&ep).await.expect("endpoint");
    let w = worker(&t, quick());
    let token = t.token().await;
    create_users(&t, &token, 1).await;
    until("failing", || async {
        store
            .get_webhook(t.org.id, ep.id)
            .await
            .expect("read")
            .is_some_and(|e| e.state == WebhookState::Failing)
    })
    .await;
    let failing = store
        .get_webhook(t.org.id, ep.id)
        .await
        .expect("read")
        .expect("ep");
    assert_eq!(failing.cursor, 0, "the event is kept for a replay");
    assert_eq!(
        failing.failing_since.map(|t| t.unix_timestamp()),
        Some(since.unix_timestamp())
    );
    let notices: Vec<_> = store
        .list_notices(t.org.id)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|n| n.kind == NoticeKind::WebhookFailing)
        .collect();
    assert_eq!(notices.len(), 1);
    assert!(notices[0].body.contains(&rx.url), "{}", notices[0].body);
    // Enqueued again for the same episode (another instance, a retried report): still one.
    let org = store.get_org(t.org.id).await.expect("org").expect("org");
    let again = directory::notify::webhook_failing(&org, &failing, since, "x", t.state.clock.now());
    assert!(!store.enqueue_notice(&again).await.expect("enqueue"));
    // No more attempts once failing.
    let attempts = rx.got().len();
    create_users(&t, &token, 1).await;
    w.stop(Duration::from_secs(5)).await;
    assert_eq!(rx.got().len(), attempts);
}

async fn post_test(t: &TestApp, path: &str, session: &str) -> crate::testing::Answer {
    t.send(
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {session}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

#[tokio::test]
async fn the_test_event_is_signed_logged_and_resumes_a_failing_endpoint() {
    let t = app(true).await;
    let rx = Receiver::start(1, 500).await;
    let store = t.state.store.clone();
    let old = directory::apps::generate_secret().expect("secret");
    let new = directory::apps::generate_secret().expect("secret");
    let retires = t.state.clock.now().unix_timestamp() + 3600;
    let mut ep = add_endpoint(
        &t,
        &rx.url,
        vec![
            WebhookSecret {
                secret: new.clone(),
                retires: None,
            },
            WebhookSecret {
                secret: old.clone(),
                retires: Some(retires),
            },
        ],
    )
    .await;
    store.remove_webhook(t.org.id, ep.id).await.expect("remove");
    ep.state = WebhookState::Failing;
    ep.cursor = 0;
    store.insert_webhook(&ep).await.expect("endpoint");
    let admin = t.session(AdminRole::Administrator).await;
    let path = format!("/api/v1/webhooks/{}/test", ep.id);

    // The receiver refuses the first: the answer says so, the endpoint stays failing.
    let a = post_test(&t, &path, &admin).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["ok"], false);
    assert_eq!(a.json()["status"], 500);
    let still = store
        .get_webhook(t.org.id, ep.id)
        .await
        .expect("read")
        .expect("ep");
    assert_eq!(still.state, WebhookState::Failing);

    let a = post_test(&t, &path, &admin).await;
    assert_eq!(a.json()["ok"], true, "{}", a.text());
    assert_eq!(a.json()["eventType"], "test");
    let got = rx.got();
    assert_eq!(got.len(), 2);
    let body = got[1].json();
    assert_eq!(body["type"], "test");
    assert_eq!(body["sequence"], 0);
    assert_eq!(body["organisation"], t.org.id.to_string());
    // Both secrets of the rotation sign; each verifies alone.
    verify(&old, &got[1]);
    verify(&new, &got[1]);
    let resumed = store
        .get_webhook(t.org.id, ep.id)
        .await
        .expect("read")
        .expect("ep");
    assert_eq!(resumed.state, WebhookState::Active);
    let log = store
        .list_deliveries(t.org.id, ep.id, 10)
        .await
        .expect("log");
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|d| d.event_type == "test" && d.sequence == 0)
    );

    // Only administrators, only of the endpoint's organisation.
    let manager = t.session(AdminRole::PeopleManager).await;
    assert_eq!(
        post_test(&t, &path, &manager).await.status,
        StatusCode::FORBIDDEN
    );
    let unknown = format!("/api/v1/webhooks/{}/test", WebhookId::new());
    assert_eq!(
        post_test(&t, &unknown, &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let garbage = post_test(&t, "/api/v1/webhooks/not-an-id/test", &admin).await;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);
    assert_eq!(garbage.json()["error"], "not_found");
    assert_eq!(
        post_test(&t, &path, "").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(rx.got().len(), 2, "refused requests sent nothing");
}

#[tokio::test]
async fn another_organisations_endpoint_is_not_found_and_untouched() {
    let t = app(true).await;
    let rx = Receiver::start(0, 500).await;
    let other = directory::Organisation {
        id: directory::OrgId::new(),
        name: "Org B".into(),
        kind: directory::OrgKind::Business,
        created: OffsetDateTime::now_utc(),
    };
    t.state.store.create_org(&other).await.expect("org");
    let secret = directory::apps::generate_secret().expect("secret");
    let theirs = WebhookEndpoint {
        org_id: other.id,
        ..add_endpoint(&t, &rx.url, current(&secret)).await
    };
    t.state
        .store
        .remove_webhook(t.org.id, theirs.id)
        .await
        .expect("remove");
    t.state
        .store
        .insert_webhook(&theirs)
        .await
        .expect("endpoint");
    let admin = t.session(AdminRole::Administrator).await;
    let a = post_test(&t, &format!("/api/v1/webhooks/{}/test", theirs.id), &admin).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(rx.got().is_empty());
}

#[tokio::test]
async fn the_console_form_sends_a_test_and_returns_to_the_applications_page() {
    let t = app(true).await;
    let rx = Receiver::start(0, 500).await;
    let secret = directory::apps::generate_secret().expect("secret");
    let ep = add_endpoint(&t, &rx.url, current(&secret)).await;
    let session = t.session(AdminRole::Administrator).await;
    let path = format!("/console/applications/webhooks/{}/test", ep.id);
    let post = |form: String| {
        Request::builder()
            .method(Method::POST)
            .uri(&path)
            .header(header::COOKIE, format!("scimd_session={session}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .expect("request")
    };
    // Without the form's token: refused before the handler, nothing sent.
    let a = t.send(post(String::new())).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(rx.got().is_empty());
    let csrf = crate::console::csrf::token_for(&session);
    let a = t.send(post(format!("csrf={csrf}"))).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    assert_eq!(
        a.header(header::LOCATION),
        format!("/applications/webhooks/{}?done=tested", ep.id)
    );
    assert_eq!(rx.got().len(), 1);
    verify(&secret, &rx.got()[0]);
}
