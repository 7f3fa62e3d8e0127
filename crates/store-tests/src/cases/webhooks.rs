//! Webhook endpoints, their leases and their delivery log.
//!
//! Claims look across organisations, and the cases of a backend may share its database: a
//! claim at a later instant takes every endpoint due by then that no lease holds, another
//! case's too. The claim cases therefore take turns ([`CLAIMS`]), and keep to instants years
//! in the past: a foreign endpoint they happen to claim is held only until a moment long gone
//! for a claimer running on real time.

use super::*;
use directory::ids::WebhookId;
use directory::store::{
    DeliveryRecord, DeliveryReport, EventId, EventType, WebhookEndpoint, WebhookSecret,
    WebhookState,
};
use time::OffsetDateTime;

/// Held by each claim case for its whole run.
static CLAIMS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).expect("an instant")
}

fn endpoint(org: OrgId, next_attempt: Option<OffsetDateTime>) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookId::new(),
        org_id: org,
        url: format!("https://hooks.example.com/{}", uuid::Uuid::new_v4()),
        types: Vec::new(),
        secrets: vec![WebhookSecret {
            secret: "whsec_c2VjcmV0".into(),
            retires: None,
        }],
        state: WebhookState::Active,
        cursor: 0,
        attempts: 0,
        next_attempt,
        failing_since: None,
        created: now(),
        last_delivery: None,
        last_status: None,
    }
}

fn attempt(
    endpoint: WebhookId, sequence: i64, when: OffsetDateTime, status: Option<i32>,
) -> DeliveryRecord {
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    DeliveryRecord {
        endpoint,
        event: EventId::new(),
        sequence,
        event_type: EventType::UserCreated.as_str().to_owned(),
        at: when,
        status,
        error: (!ok).then(|| "connection refused".to_owned()),
        latency_ms: 12,
        ok,
    }
}

/// The endpoints of `org` among those claimed.
fn of(org: OrgId, claimed: Vec<WebhookEndpoint>) -> BTreeSet<WebhookId> {
    claimed
        .into_iter()
        .filter(|w| w.org_id == org)
        .map(|w| w.id)
        .collect()
}

pub async fn webhooks_round_trip_and_are_removed_with_their_log(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let mut a = endpoint(org.id, None);
    a.types = vec![EventType::UserCreated, EventType::GroupDeleted];
    a.secrets.push(WebhookSecret {
        secret: "whsec_b2xk".into(),
        retires: Some(1_900_000_000),
    });
    let mut b = endpoint(org.id, Some(now() + Duration::hours(2)));
    b.created = a.created + Duration::seconds(1);
    b.state = WebhookState::Failing;
    b.cursor = 17;
    b.attempts = 9;
    b.failing_since = Some(now() - Duration::days(3));
    b.last_delivery = Some(now() - Duration::minutes(5));
    b.last_status = Some(503);
    store.insert_webhook(&a).await.expect("insert");
    store.insert_webhook(&b).await.expect("insert");

    assert_eq!(
        store.list_webhooks(org.id).await.expect("list"),
        vec![a.clone(), b.clone()],
        "oldest first, as stored"
    );
    assert_eq!(
        store.get_webhook(org.id, a.id).await.expect("get"),
        Some(a.clone())
    );
    assert_eq!(store.get_webhook(other.id, a.id).await.expect("get"), None);
    assert!(
        store
            .list_webhooks(other.id)
            .await
            .expect("list")
            .is_empty()
    );

    // A rotation replaces the secrets.
    let rotated = vec![
        WebhookSecret {
            secret: "whsec_bmV3".into(),
            retires: None,
        },
        WebhookSecret {
            secret: "whsec_c2VjcmV0".into(),
            retires: Some(1_800_000_000),
        },
    ];
    assert!(
        store
            .set_webhook_secrets(org.id, a.id, &rotated)
            .await
            .expect("rotate")
    );
    assert!(
        !store
            .set_webhook_secrets(other.id, a.id, &[])
            .await
            .expect("rotate elsewhere")
    );
    assert!(
        !store
            .set_webhook_secrets(org.id, WebhookId::new(), &rotated)
            .await
            .expect("rotate unknown")
    );
    a.secrets = rotated;
    assert_eq!(
        store.get_webhook(org.id, a.id).await.expect("get"),
        Some(a.clone())
    );

    // A replay: delivery goes on after the cursor, as a healthy endpoint.
    assert!(
        !store
            .set_webhook_cursor(other.id, b.id, 3)
            .await
            .expect("replay elsewhere")
    );
    assert!(
        store
            .set_webhook_cursor(org.id, b.id, 3)
            .await
            .expect("replay")
    );
    b.cursor = 3;
    b.state = WebhookState::Active;
    b.attempts = 0;
    b.next_attempt = None;
    b.failing_since = None;
    assert_eq!(
        store.get_webhook(org.id, b.id).await.expect("get"),
        Some(b.clone()),
        "the last delivery is kept"
    );

    // The log: per endpoint, newest first.
    let t = now();
    let a1 = attempt(a.id, 1, t, Some(500));
    let a2 = attempt(a.id, 1, t + Duration::seconds(10), Some(204));
    let b1 = attempt(b.id, 4, t, None);
    store
        .record_deliveries(&[a1.clone(), b1.clone(), a2.clone()])
        .await
        .expect("record");
    assert_eq!(
        store.list_deliveries(org.id, a.id, 10).await.expect("log"),
        vec![a2.clone(), a1.clone()]
    );
    assert_eq!(
        store.list_deliveries(org.id, a.id, 1).await.expect("log"),
        vec![a2.clone()]
    );
    assert_eq!(
        store.list_deliveries(org.id, b.id, 10).await.expect("log"),
        vec![b1.clone()]
    );
    assert!(
        store
            .list_deliveries(other.id, a.id, 10)
            .await
            .expect("log elsewhere")
            .is_empty()
    );

    assert!(
        !store
            .remove_webhook(other.id, a.id)
            .await
            .expect("remove elsewhere")
    );
    assert!(store.remove_webhook(org.id, a.id).await.expect("remove"));
    assert!(
        !store
            .remove_webhook(org.id, a.id)
            .await
            .expect("remove again")
    );
    assert_eq!(store.get_webhook(org.id, a.id).await.expect("get"), None);
    assert!(
        store
            .list_deliveries(org.id, a.id, 10)
            .await
            .expect("log")
            .is_empty(),
        "the log goes with its endpoint"
    );
    assert_eq!(
        store.list_webhooks(org.id).await.expect("list"),
        vec![b.clone()]
    );
    assert_eq!(
        store.list_deliveries(org.id, b.id, 10).await.expect("log"),
        vec![b1]
    );
}

pub async fn webhook_claims_are_exclusive_between_owners(store: Arc<dyn Store>) {
    let _turn = CLAIMS.lock().await;
    // Claims at 2000-01-01, leases until 2010: past the other claim case's instants, so it
    // cannot take them either once this case is done.
    let t = at(946_684_800);
    let until = at(1_262_304_000);
    let org = new_org(&*store).await;
    let mut due = BTreeSet::new();
    for _ in 0..8 {
        let w = endpoint(org.id, Some(t - Duration::seconds(1)));
        store.insert_webhook(&w).await.expect("insert");
        due.insert(w.id);
    }
    let mut failing = endpoint(org.id, Some(t - Duration::seconds(1)));
    failing.state = WebhookState::Failing;
    store.insert_webhook(&failing).await.expect("insert");
    let later = endpoint(org.id, Some(t + Duration::hours(1)));
    store.insert_webhook(&later).await.expect("insert");

    let owners = [
        format!("a-{}", uuid::Uuid::new_v4()),
        format!("b-{}", uuid::Uuid::new_v4()),
    ];
    let mut claims = tokio::task::JoinSet::new();
    for owner in owners.clone() {
        let store = store.clone();
        claims.spawn(async move {
            let claimed = store.claim_webhooks(&owner, t, until, 10_000).await;
            (owner, claimed)
        });
    }
    let mut held: BTreeMap<String, BTreeSet<WebhookId>> = BTreeMap::new();
    while let Some(r) = claims.join_next().await {
        let (owner, claimed) = r.expect("task");
        held.insert(owner, of(org.id, claimed.expect("claim")));
    }
    let (a, b) = (&held[&owners[0]], &held[&owners[1]]);
    assert!(a.is_disjoint(b), "an endpoint leased twice: {a:?} {b:?}");
    let all: BTreeSet<WebhookId> = a.union(b).copied().collect();
    assert_eq!(
        all, due,
        "every due active endpoint leased, and only those (not failing, not later)"
    );

    // Held endpoints stay with their owner: each claims again and gets exactly its own back.
    for owner in &owners {
        let again = store
            .claim_webhooks(owner, t + Duration::seconds(5), until, 10_000)
            .await
            .expect("claim again");
        assert_eq!(&of(org.id, again), &held[owner], "renewed for {owner}");
    }
    let third = store
        .claim_webhooks("c", t + Duration::seconds(5), until, 10_000)
        .await
        .expect("claim");
    assert!(of(org.id, third).is_empty(), "no other owner takes them");
}

pub async fn webhook_leases_expire_and_reports_need_the_lease(store: Arc<dyn Store>) {
    let _turn = CLAIMS.lock().await;
    // 2001-01-01: after the other claim case's instants (which cannot reach this case's
    // endpoints, due later) and before its leases end.
    let t = at(978_307_200);
    let org = new_org(&*store).await;
    let w = endpoint(org.id, Some(t - Duration::seconds(1)));
    store.insert_webhook(&w).await.expect("insert");
    let (a, b) = (
        format!("a-{}", uuid::Uuid::new_v4()),
        format!("b-{}", uuid::Uuid::new_v4()),
    );
    let claim = |owner: String, now: OffsetDateTime, until: OffsetDateTime| {
        let store = store.clone();
        async move {
            of(
                org.id,
                store
                    .claim_webhooks(&owner, now, until, 10_000)
                    .await
                    .expect("claim"),
            )
            .contains(&w.id)
        }
    };
    assert!(claim(a.clone(), t, t + Duration::seconds(60)).await);
    assert!(
        !claim(
            b.clone(),
            t + Duration::seconds(30),
            t + Duration::seconds(90)
        )
        .await,
        "held by another owner"
    );
    // The lease ran out: the endpoint goes to whoever claims it next.
    assert!(
        claim(
            b.clone(),
            t + Duration::seconds(61),
            t + Duration::seconds(180)
        )
        .await
    );

    let report = |owner: &str, attempts: Vec<DeliveryRecord>, lease: Option<OffsetDateTime>| {
        DeliveryReport {
            endpoint: w.id,
            org_id: org.id,
            owner: owner.to_owned(),
            attempts,
            cursor: 5,
            state: WebhookState::Active,
            attempt_count: 0,
            next_attempt: Some(t + Duration::seconds(70)),
            failing_since: None,
            lease_until: lease,
        }
    };
    // The former owner's report comes too late and changes nothing.
    let stale = report(
        &a,
        vec![attempt(w.id, 1, t + Duration::seconds(62), Some(200))],
        Some(t + Duration::seconds(120)),
    );
    assert!(!store.report_delivery(&stale).await.expect("report"));
    assert_eq!(
        store.get_webhook(org.id, w.id).await.expect("get"),
        Some(w.clone())
    );
    assert!(
        store
            .list_deliveries(org.id, w.id, 10)
            .await
            .expect("log")
            .is_empty()
    );

    // The holder's report applies whole: the attempts, and the state from its last one.
    let first = attempt(w.id, 1, t + Duration::seconds(62), None);
    let second = attempt(w.id, 1, t + Duration::seconds(65), Some(204));
    let fresh = report(
        &b,
        vec![first.clone(), second.clone()],
        Some(t + Duration::seconds(180)),
    );
    assert!(store.report_delivery(&fresh).await.expect("report"));
    let mut expected = w.clone();
    expected.cursor = 5;
    expected.next_attempt = Some(t + Duration::seconds(70));
    expected.last_delivery = Some(second.at);
    expected.last_status = Some(204);
    assert_eq!(
        store.get_webhook(org.id, w.id).await.expect("get"),
        Some(expected.clone())
    );
    assert_eq!(
        store.list_deliveries(org.id, w.id, 10).await.expect("log"),
        vec![second.clone(), first.clone()],
        "newest first"
    );
    assert!(
        !claim(
            a.clone(),
            t + Duration::seconds(100),
            t + Duration::seconds(200)
        )
        .await,
        "the holder kept its lease"
    );

    // Given up: the next claimer gets it at once; the former holder's reports are refused.
    let mut release = report(&b, Vec::new(), None);
    release.state = WebhookState::Failing;
    release.attempt_count = 30;
    release.failing_since = Some(t);
    release.next_attempt = None;
    assert!(store.report_delivery(&release).await.expect("report"));
    expected.state = WebhookState::Failing;
    expected.attempts = 30;
    expected.failing_since = Some(t);
    expected.next_attempt = None;
    assert_eq!(
        store.get_webhook(org.id, w.id).await.expect("get"),
        Some(expected),
        "a report without attempts keeps the last delivery"
    );
    assert!(
        !claim(
            a.clone(),
            t + Duration::seconds(100),
            t + Duration::seconds(200)
        )
        .await,
        "a failing endpoint is not claimed"
    );
    assert!(
        store
            .set_webhook_cursor(org.id, w.id, 5)
            .await
            .expect("replay")
    );
    assert!(
        claim(
            a.clone(),
            t + Duration::seconds(100),
            t + Duration::seconds(200)
        )
        .await
    );
    assert!(
        !store
            .report_delivery(&report(&b, Vec::new(), None))
            .await
            .expect("report"),
        "the lease moved on"
    );
    assert_eq!(
        store
            .list_deliveries(org.id, w.id, 10)
            .await
            .expect("log")
            .len(),
        2
    );
}
