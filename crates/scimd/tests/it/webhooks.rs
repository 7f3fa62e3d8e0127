//! Webhooks (docs/contract.md, "Webhooks"): the real binary delivers the organisation's events
//! to a receiver on loopback that verifies every signature with the Standard Webhooks
//! reference library. Deliveries go in sequence order, are retried until taken, survive a
//! receiver that is down, a `kill -9` under load and the loss of one of two instances, never
//! reach a private address unless allowed, and carry both signatures during a rotation.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;

const ALLOW: &[&str] = &["--allow-private-webhooks"];

/// An endpoint of the server's organisation at the receiver, the receiver trusting its
/// secret; returns its id and the sequence it starts after.
fn register(server: &Server, rx: &Receiver) -> (String, i64) {
    let org = server.org.id.as_str();
    let (id, secret) = add_webhook(server, org, &rx.url);
    rx.trust(&secret);
    let from = webhook_list(server, org)["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .find(|w| w["id"] == id.as_str())
        .and_then(|w| w["deliveredThrough"].as_i64())
        .expect("the endpoint's cursor");
    (id, from)
}

/// The events the endpoint is to get: those after `from`.
async fn events_after(server: &Server, key: &str, from: i64) -> Vec<Value> {
    all_events(server, key)
        .await
        .into_iter()
        .filter(|e| e["sequence"].as_i64().is_some_and(|s| s > from))
        .collect()
}

fn last_sequence(events: &[Value]) -> i64 {
    events
        .last()
        .and_then(|e| e["sequence"].as_i64())
        .expect("some event")
}

/// Polls the endpoint's delivery log until `check` holds of it (at most `within`).
async fn wait_log(
    server: &Server, id: &str, within: Duration, check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let log = webhook_deliveries(server, &server.org.id, id);
        if check(&log) {
            return log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the delivery log did not get there within {within:?}: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_users(api: &Api, n: usize, tag: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(api.create_user(&format!("{tag}{i}@hooks.example")).await);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_arrive_in_sequence_order_with_valid_signatures() {
    let server = Server::start_with(ALLOW);
    let rx = Receiver::start().await;
    let (id, from) = register(&server, &rx);
    let api = server.api();
    let users = create_users(&api, 12, &format!("order-{}-", random_hex(4))).await;
    let group = api.create_group("Hooks", &[&users[0], &users[1]]).await;
    api.patch(
        &format!("/Users/{}", users[2]),
        &patch_op(json!([{ "op": "replace", "path": "title", "value": "Chef" }])),
    )
    .await
    .expect(200);
    api.patch(
        &format!("/Groups/{group}"),
        &patch_op(
            json!([{ "op": "remove", "path": format!("members[value eq \"{}\"]", users[0]) }]),
        ),
    )
    .await
    .expect(204);
    api.delete(&format!("/Users/{}", users[3]))
        .await
        .expect(204);
    let key = app_key(&server, &server.org.id);
    let events = events_after(&server, &key, from).await;
    let got = rx
        .wait_delivered_through(last_sequence(&events), Duration::from_secs(30))
        .await;
    assert_in_order(&got, &events, 0);
    assert_eq!(got.len(), events.len(), "each event once");
    let kinds: BTreeSet<&str> = got.iter().map(|r| r.kind.as_str()).collect();
    for k in [
        "user.created",
        "user.updated",
        "user.deleted",
        "group.created",
        "group.member_added",
        "group.member_removed",
    ] {
        assert!(kinds.contains(k), "no {k} delivered: {kinds:?}");
    }
    let log = wait_log(&server, &id, Duration::from_secs(10), |log| {
        log.len() == events.len()
    })
    .await;
    assert!(
        log.iter().all(|d| d["ok"] == true && d["status"] == 204),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_refuses_the_first_deliveries_gets_them_again_in_order() {
    let server = Server::start_with(ALLOW);
    let rx = Receiver::start().await;
    rx.refuse_next(3, 500);
    let (id, from) = register(&server, &rx);
    create_users(&server.api(), 6, &format!("refuse-{}-", random_hex(4))).await;
    let key = app_key(&server, &server.org.id);
    let events = events_after(&server, &key, from).await;
    let got = rx
        .wait_delivered_through(last_sequence(&events), Duration::from_secs(60))
        .await;
    assert_in_order(&got, &events, 0);
    let refused: Vec<&Receipt> = got.iter().filter(|r| !r.ok()).collect();
    assert_eq!(refused.len(), 3);
    assert!(
        refused.iter().all(|r| r.id == got[0].id),
        "the first event, again"
    );
    let log = webhook_deliveries(&server, &server.org.id, &id);
    let failed: Vec<&Value> = log.iter().filter(|d| d["ok"] == false).collect();
    assert_eq!(failed.len(), 3, "{log:?}");
    assert!(failed.iter().all(|d| d["status"] == 500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_everything_once_it_is_back() {
    let server = Server::start_with(ALLOW);
    let mut rx = Receiver::start().await;
    let (id, from) = register(&server, &rx);
    rx.down();
    create_users(&server.api(), 5, &format!("down-{}-", random_hex(4))).await;
    // Two attempts at the first event found nobody listening.
    let log = wait_log(&server, &id, Duration::from_secs(40), |log| log.len() >= 2).await;
    assert!(
        log.iter()
            .all(|d| d["ok"] == false && d["status"].is_null() && d["sequence"] == from + 1),
        "{log:?}"
    );
    let error = log[0]["error"].as_str().unwrap_or("");
    assert!(error.starts_with("cannot connect"), "{error}");
    assert!(rx.receipts().is_empty());
    rx.up().await;
    let key = app_key(&server, &server.org.id);
    let events = events_after(&server, &key, from).await;
    let got = rx
        .wait_delivered_through(last_sequence(&events), Duration::from_secs(60))
        .await;
    assert_in_order(&got, &events, 0);
    assert_eq!(got.len(), events.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn kill9_under_concurrent_writers_loses_no_acknowledged_change_event() {
    let mut server = Server::start_with(ALLOW);
    let rx = Receiver::start().await;
    let (_, from) = register(&server, &rx);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let run = random_hex(6);
    let mut tasks = JoinSet::new();
    for w in 0..8 {
        let api = server.api();
        let acked = acked.clone();
        let run = run.clone();
        tasks.spawn(async move {
            // Writes until the server dies under it (bounded in count).
            for i in 0..5_000 {
                let r = api
                    .post(
                        "/Users",
                        &user_body(&format!("k{w}-{i}-{run}@crash.example")),
                    )
                    .await;
                if r.status != 201 {
                    return;
                }
                acked.lock().unwrap_or_else(|e| e.into_inner()).push(r.id());
            }
        });
    }
    // Until deliveries are under way, then a moment more.
    rx.wait_until("deliveries under way", Duration::from_secs(30), |got| {
        got.len() >= 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.kill9();
    while tasks.join_next().await.is_some() {}
    let acked = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(!acked.is_empty());
    // The restarted process takes the endpoint over once the dead one's lease lapses.
    let server = server.another_instance_with(ALLOW);
    let key = app_key(&server, &server.org.id);
    let events = events_after(&server, &key, from).await;
    let got = rx
        .wait_delivered_through(last_sequence(&events), Duration::from_secs(90))
        .await;
    assert_in_order(&got, &events, 1);
    let delivered: BTreeSet<&str> = got
        .iter()
        .filter(|r| r.ok() && r.kind == "user.created")
        .filter_map(|r| r.body["data"]["id"].as_str())
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !delivered.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged users whose event never came: {lost:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_target_is_refused_without_the_flag_and_the_attempt_logged() {
    let server = Server::start();
    let rx = Receiver::start().await;
    let (id, _) = register(&server, &rx);
    server.api().create_user("private@hooks.example").await;
    let log = wait_log(&server, &id, Duration::from_secs(20), |log| !log.is_empty()).await;
    let error = log[0]["error"].as_str().unwrap_or("");
    assert!(error.starts_with("refused address"), "{log:?}");
    assert_eq!(log[0]["ok"], false);
    assert!(log[0]["status"].is_null());
    let w = &webhook_list(&server, &server.org.id)["webhooks"][0];
    assert_eq!(w["state"], "active", "retried, not given up: {w}");
    assert!(w["attempts"].as_i64() >= Some(1), "{w}");
    assert!(rx.receipts().is_empty(), "nothing reached the receiver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rotation_both_secrets_sign_every_delivery() {
    let server = Server::start_with(ALLOW);
    let rx = Receiver::start().await;
    let (id, from) = register(&server, &rx);
    let new = rotate_secret(&server, &server.org.id, &id);
    rx.trust(&new);
    create_users(&server.api(), 3, &format!("rotate-{}-", random_hex(4))).await;
    let key = app_key(&server, &server.org.id);
    let events = events_after(&server, &key, from).await;
    let got = rx
        .wait_delivered_through(last_sequence(&events), Duration::from_secs(30))
        .await;
    assert_in_order(&got, &events, 0);
    // The old secret and the new one each verify every delivery on their own.
    assert!(got.iter().all(|r| r.verified == [true, true]), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_instances_on_postgres_deliver_each_event_once_in_order_and_survive_losing_one() {
    let db = TestDatabase::postgres();
    let mut a = Server::start_on_with(db, ALLOW);
    let rx = Receiver::start().await;
    let (_, from) = register(&a, &rx);
    let tag = random_hex(4);
    // The first instance takes the endpoint; then a second one joins.
    create_users(&a.api(), 5, &format!("pg-a-{tag}-")).await;
    let key = app_key(&a, &a.org.id);
    let events = events_after(&a, &key, from).await;
    rx.wait_delivered_through(last_sequence(&events), Duration::from_secs(30))
        .await;
    let b = a.another_instance_with(ALLOW);
    let mut tasks = JoinSet::new();
    for w in 0..4 {
        let api = if w % 2 == 0 { a.api() } else { b.api() };
        let tag = format!("pg-{w}-{tag}-");
        tasks.spawn(async move { create_users(&api, 10, &tag).await });
    }
    while tasks.join_next().await.is_some() {}
    let events = events_after(&b, &key, from).await;
    let got = rx
        .wait_delivered_through(last_sequence(&events), Duration::from_secs(30))
        .await;
    // Both alive: exactly once, in order, whichever instance wrote.
    assert_in_order(&got, &events, 0);
    assert_eq!(got.len(), events.len());

    // The holder dies in the middle of a run of deliveries: the other goes on.
    rx.delay(Duration::from_millis(20));
    let before = rx.receipts().len();
    let writes = {
        let api = b.api();
        let tag = format!("pg-b-{tag}-");
        tokio::spawn(async move { create_users(&api, 60, &tag).await })
    };
    rx.wait_until("deliveries under way", Duration::from_secs(30), |got| {
        got.len() >= before + 10
    })
    .await;
    a.kill9();
    writes.await.expect("writes");
    let events = events_after(&b, &key, from).await;
    let got = rx
        .wait_delivered_through(last_sequence(&events), Duration::from_secs(90))
        .await;
    assert_in_order(&got, &events, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_no_scim_request_and_its_delivery_times_out() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = Server::start_with(ALLOW);
    // Accepts every connection and never reads or answers: the connections are kept open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let held = Arc::new(Mutex::new(Vec::new()));
    {
        let (accepted, held) = (accepted.clone(), held.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                held.lock().expect("held").push(socket);
            }
        });
    }
    let (id, _) = add_webhook(&server, &server.org.id, &url);
    let api = server.api();
    api.create_user("first@hooks.example").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery was tried"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While the delivery hangs, SCIM writes go on: each is acknowledged before the attempt
    // has even ended.
    create_users(&api, 20, "meanwhile").await;
    assert!(
        webhook_deliveries(&server, &server.org.id, &id).is_empty(),
        "the hanging delivery had already ended"
    );
    let log = wait_log(&server, &id, Duration::from_secs(30), |log| !log.is_empty()).await;
    assert_eq!(log[0]["ok"], false, "{log:?}");
    assert!(log[0]["status"].is_null(), "{log:?}");
    assert!(
        log[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("no answer within")),
        "{log:?}"
    );
    let w = &webhook_list(&server, &server.org.id)["webhooks"][0];
    assert_eq!(w["state"], "active", "retried, not given up: {w}");
}
