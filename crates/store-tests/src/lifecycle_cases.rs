//! Conformance cases for the token lifecycle, connection state, administrators, activity log
//! and outbox methods of [`directory::Store`].

use crate::support::*;
use directory::ids::{AdminId, NoticeId};
use directory::store::{
    ActivityEntry, AdminRole, Administrator, Connection, ConnectionState, Notice, NoticeKind,
    TokenRecord,
};
use directory::{OrgId, Store, StoreError, TokenId};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::Duration;

fn token(org: OrgId) -> TokenRecord {
    let mut hash = [7u8; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    TokenRecord {
        id: TokenId::new(),
        org_id: org,
        prefix: "scimd_abcdef".into(),
        hash,
        created: now(),
        expires: now() + Duration::days(365),
        first_used: None,
        last_used: None,
        revoked: None,
    }
}

fn admin(org: OrgId, email: &str, role: AdminRole) -> Administrator {
    Administrator {
        id: AdminId::new(),
        org_id: org,
        email: email.to_owned(),
        role,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        created: now(),
    }
}

fn entry(org: Option<OrgId>, at: time::OffsetDateTime, action: &str) -> ActivityEntry {
    ActivityEntry {
        org_id: org,
        at,
        token_id: Some(TokenId::new()),
        actor: "scim".into(),
        action: action.into(),
        target: "/scim/v2/Users".into(),
        status: Some(201),
        duration_us: Some(1234),
        resource: Some("Users/abc".into()),
        detail: None,
    }
}

fn notice(org: OrgId, key: &str, due: time::OffsetDateTime) -> Notice {
    Notice {
        id: NoticeId::new(),
        org_id: org,
        key: key.to_owned(),
        kind: NoticeKind::ExpiryReminder,
        token_id: Some(TokenId::new()),
        threshold_days: Some(30),
        subject: "subject".into(),
        body: "body".into(),
        created: now(),
        attempts: 0,
        next_attempt: due,
        sent: None,
        last_error: None,
    }
}

pub async fn token_revoke_marks_once_and_only_in_its_org(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let t = token(org.id);
    store.insert_token(&t).await.expect("insert");
    let at = now();
    assert!(
        !store
            .revoke_token(other.id, t.id, at)
            .await
            .expect("revoke")
    );
    assert!(store.revoke_token(org.id, t.id, at).await.expect("revoke"));
    assert!(
        !store
            .revoke_token(org.id, t.id, at + Duration::hours(1))
            .await
            .expect("revoke again")
    );
    assert!(
        !store
            .revoke_token(org.id, TokenId::new(), at)
            .await
            .expect("unknown")
    );
    let found = store
        .find_token_by_hash(&t.hash)
        .await
        .expect("find")
        .expect("token");
    assert_eq!(found.revoked, Some(at));
}

pub async fn connection_state_round_trips_per_org(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    assert_eq!(store.get_connection(org.id).await.expect("get"), None);
    for state in [
        ConnectionState::Pending,
        ConnectionState::Active,
        ConnectionState::Disconnected,
        ConnectionState::NotConnected,
    ] {
        let c = Connection {
            state,
            changed: now(),
        };
        store.set_connection(org.id, &c).await.expect("set");
        assert_eq!(store.get_connection(org.id).await.expect("get"), Some(c));
    }
    assert_eq!(store.get_connection(other.id).await.expect("get"), None);
}

pub async fn admins_are_unique_by_email_case_insensitively_per_org(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let a = admin(org.id, "Ann@Example.com", AdminRole::Administrator);
    let b = admin(org.id, "bob@example.com", AdminRole::PeopleManager);
    store.add_admin(&a).await.expect("add");
    store.add_admin(&b).await.expect("add");
    let dup = admin(org.id, "ann@example.COM", AdminRole::Administrator);
    assert!(matches!(
        store.add_admin(&dup).await,
        Err(StoreError::Conflict("email"))
    ));
    // The same person may administer another organisation.
    store
        .add_admin(&admin(
            other.id,
            "ann@example.com",
            AdminRole::Administrator,
        ))
        .await
        .expect("other org");
    let listed = store.list_admins(org.id).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&a) && listed.contains(&b));
    assert_eq!(store.list_admins(other.id).await.expect("list").len(), 1);
}

pub async fn activity_appends_lists_since_and_purges(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let t0 = now() - Duration::days(100);
    let old = entry(Some(org.id), t0, "GET");
    let mid = entry(Some(org.id), t0 + Duration::days(50), "POST");
    let mut new = entry(Some(org.id), t0 + Duration::days(99), "DELETE");
    new.token_id = None;
    new.status = None;
    new.duration_us = None;
    new.resource = None;
    new.detail = Some("refused: revoked token".into());
    let elsewhere = entry(Some(other.id), t0 + Duration::days(60), "PATCH");
    store
        .append_activity(vec![
            new.clone(),
            old.clone(),
            mid.clone(),
            elsewhere.clone(),
        ])
        .await
        .expect("append");
    store.append_activity(vec![]).await.expect("empty batch");
    assert_eq!(
        store
            .list_activity(Some(org.id), None, 100)
            .await
            .expect("list"),
        vec![old.clone(), mid.clone(), new.clone()]
    );
    assert_eq!(
        store
            .list_activity(Some(org.id), Some(mid.at), 100)
            .await
            .expect("since"),
        vec![mid.clone(), new.clone()]
    );
    assert_eq!(
        store
            .list_activity(Some(org.id), None, 1)
            .await
            .expect("limit"),
        vec![old.clone()]
    );
    // Entries no organisation could be named for are kept apart.
    let unattributed = entry(None, now(), "GET");
    store
        .append_activity(vec![unattributed.clone()])
        .await
        .expect("append");
    let listed = store
        .list_activity(None, Some(unattributed.at), 10_000)
        .await
        .expect("list");
    assert!(listed.contains(&unattributed));
    assert!(listed.iter().all(|e| e.org_id.is_none()));

    let purged = store
        .purge_activity(t0 + Duration::days(10))
        .await
        .expect("purge");
    assert!(purged >= 1);
    assert_eq!(
        store
            .list_activity(Some(org.id), None, 100)
            .await
            .expect("list"),
        vec![mid, new]
    );
    assert_eq!(
        store
            .list_activity(Some(other.id), None, 100)
            .await
            .expect("list"),
        vec![elsewhere]
    );
}

/// A slow request is logged in a later batch than quicker ones that started after it; lists
/// still come in `at` order, with `since` and `limit` applied across batches.
pub async fn activity_lists_in_time_order_across_batches(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let t0 = now() - Duration::hours(1);
    let at = |s: i64| entry(Some(org.id), t0 + Duration::seconds(s), &format!("GET {s}"));
    let (e0, e1, e2, e3, e4) = (at(0), at(1), at(2), at(3), at(4));
    for batch in [
        vec![e0.clone(), e2.clone()],
        vec![e1.clone(), e3.clone()],
        vec![e4.clone()],
    ] {
        store.append_activity(batch).await.expect("append");
    }
    let list = |since: Option<i64>, limit: u32| {
        let store = store.clone();
        async move {
            store
                .list_activity(
                    Some(org.id),
                    since.map(|s| t0 + Duration::seconds(s)),
                    limit,
                )
                .await
                .expect("list")
        }
    };
    assert_eq!(list(None, 2).await, vec![e0.clone(), e1.clone()]);
    assert_eq!(
        list(None, 3).await,
        vec![e0.clone(), e1.clone(), e2.clone()]
    );
    assert_eq!(list(Some(1), 2).await, vec![e1.clone(), e2.clone()]);
    assert_eq!(list(Some(3), 100).await, vec![e3, e4]);
    assert_eq!(list(None, 0).await, vec![]);
    // Equal times keep the order they were logged in, even when the later batch began earlier.
    let other = new_org(&*store).await;
    let t = t0 + Duration::seconds(10);
    let x = entry(Some(other.id), t, "X");
    let slow = entry(Some(other.id), t - Duration::seconds(3), "slow");
    let y = entry(Some(other.id), t, "Y");
    store
        .append_activity(vec![x.clone()])
        .await
        .expect("append");
    store
        .append_activity(vec![slow.clone(), y.clone()])
        .await
        .expect("append");
    for (limit, expected) in [(100, vec![slow.clone(), x.clone(), y]), (2, vec![slow, x])] {
        let listed = store
            .list_activity(Some(other.id), None, limit)
            .await
            .expect("list");
        assert_eq!(listed, expected, "limit {limit}");
    }
}

/// Purging at a time in the middle of one batch keeps the batch's newer entries. Purging is
/// for every organisation at once: run it only on a database no other test uses.
pub async fn activity_purge_keeps_the_newer_entries_of_a_batch(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let t0 = now() - Duration::hours(1);
    let at = |s: i64| entry(Some(org.id), t0 + Duration::seconds(s), &format!("GET {s}"));
    let (e0, e1, e2) = (at(0), at(1), at(2));
    store
        .append_activity(vec![e2.clone(), e0, e1.clone()])
        .await
        .expect("append");
    let purged = store
        .purge_activity(t0 + Duration::seconds(1))
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert_eq!(
        store
            .list_activity(Some(org.id), None, 100)
            .await
            .expect("list"),
        vec![e1, e2]
    );
}

pub async fn notices_are_enqueued_once_per_key(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let n = notice(org.id, "expiry-reminder:t:30", now());
    assert!(store.enqueue_notice(&n).await.expect("enqueue"));
    let again = notice(org.id, "expiry-reminder:t:30", now());
    assert!(!store.enqueue_notice(&again).await.expect("enqueue again"));
    // Keys are per organisation.
    assert!(
        store
            .enqueue_notice(&notice(other.id, "expiry-reminder:t:30", now()))
            .await
            .expect("other org")
    );
    assert_eq!(store.list_notices(org.id).await.expect("list"), vec![n]);
}

pub async fn notice_claims_are_exclusive_leased_and_final_once_sent(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let t = now() - Duration::minutes(1);
    let mut mine = Vec::new();
    for i in 0..6 {
        let n = notice(org.id, &format!("k{i}"), t);
        store.enqueue_notice(&n).await.expect("enqueue");
        mine.push(n.id);
    }
    let lease = now() + Duration::minutes(5);
    // Several claimers at once (instances): each notice goes to exactly one of them.
    let mut claims = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = store.clone();
        claims.spawn(async move { store.claim_notices(now(), lease, 10_000).await });
    }
    let mut seen: BTreeMap<NoticeId, usize> = BTreeMap::new();
    while let Some(r) = claims.join_next().await {
        for n in r.expect("task").expect("claim") {
            if n.org_id == org.id {
                assert_eq!(n.attempts, 1);
                assert_eq!(n.next_attempt, lease);
                *seen.entry(n.id).or_default() += 1;
            }
        }
    }
    assert_eq!(seen.len(), mine.len(), "every due notice claimed");
    assert!(seen.values().all(|c| *c == 1), "claimed twice: {seen:?}");
    // Leased: not claimable again until the lease lapses.
    let again = store
        .claim_notices(now(), lease, 10_000)
        .await
        .expect("claim");
    assert!(again.iter().all(|n| n.org_id != org.id));

    let after = lease + Duration::seconds(1);
    let sent_at = now();
    store
        .complete_notice(org.id, mine[0], sent_at)
        .await
        .expect("complete");
    store
        .retry_notice(
            org.id,
            mine[1],
            after + Duration::hours(1),
            "connection refused",
        )
        .await
        .expect("retry");
    let reclaimed: Vec<Notice> = store
        .claim_notices(after, after + Duration::minutes(5), 10_000)
        .await
        .expect("claim")
        .into_iter()
        .filter(|n| n.org_id == org.id)
        .collect();
    assert_eq!(reclaimed.len(), mine.len() - 2);
    assert!(reclaimed.iter().all(|n| n.attempts == 2));
    assert!(reclaimed.iter().all(|n| n.id != mine[0] && n.id != mine[1]));

    let listed = store.list_notices(org.id).await.expect("list");
    let first = listed.iter().find(|n| n.id == mine[0]).expect("sent one");
    assert_eq!(first.sent, Some(sent_at));
    let second = listed
        .iter()
        .find(|n| n.id == mine[1])
        .expect("retried one");
    assert_eq!(second.last_error.as_deref(), Some("connection refused"));
    assert_eq!(second.next_attempt, after + Duration::hours(1));
    assert_eq!(second.sent, None);
    // A sent notice is never retried.
    store
        .retry_notice(org.id, mine[0], after, "late failure")
        .await
        .expect("retry");
    let listed = store.list_notices(org.id).await.expect("list");
    let first = listed.iter().find(|n| n.id == mine[0]).expect("sent one");
    assert_eq!(first.sent, Some(sent_at));
    assert_eq!(first.last_error, None);
}

pub async fn setup_links_are_used_once_and_only_in_their_org(store: Arc<dyn Store>) {
    use directory::store::SetupLink;
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let t = now();
    let mut hash = [3u8; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let link = SetupLink {
        org_id: org.id,
        hash,
        created: t,
        expires: t + Duration::hours(24),
        used: None,
    };
    store.insert_setup_link(&link).await.expect("insert");
    assert_eq!(
        store.find_setup_link(org.id, &hash).await.expect("find"),
        Some(link.clone())
    );
    assert_eq!(
        store.find_setup_link(other.id, &hash).await.expect("find"),
        None
    );
    assert!(
        !store
            .use_setup_link(other.id, &hash, t)
            .await
            .expect("other org")
    );
    assert!(
        !store
            .use_setup_link(org.id, &hash, t + Duration::hours(24))
            .await
            .expect("expired")
    );
    assert!(store.use_setup_link(org.id, &hash, t).await.expect("use"));
    assert!(
        !store
            .use_setup_link(org.id, &hash, t)
            .await
            .expect("use again")
    );
    let used = store
        .find_setup_link(org.id, &hash)
        .await
        .expect("find")
        .expect("link");
    assert_eq!(used.used, Some(t));
}

pub async fn signin_failures_count_within_a_window_per_org_and_address(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let t = now();
    let window = Duration::minutes(15);
    assert_eq!(
        store
            .signin_throttle(org.id, "ann@example.com")
            .await
            .expect("read"),
        None
    );
    for i in 1..=3u32 {
        let at = t + Duration::minutes(i64::from(i));
        let row = store
            .note_signin_failure(org.id, "ann@example.com", at, at - window)
            .await
            .expect("note");
        assert_eq!(row.failures, i);
        assert_eq!(row.window_start, t + Duration::minutes(1));
        assert_eq!(row.locked_until, None);
    }
    store
        .lock_signin(org.id, "ann@example.com", t + Duration::minutes(30))
        .await
        .expect("lock");
    let row = store
        .signin_throttle(org.id, "ann@example.com")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.failures, 3);
    assert_eq!(row.locked_until, Some(t + Duration::minutes(30)));
    // Other addresses and organisations keep their own counts.
    assert_eq!(
        store
            .signin_throttle(other.id, "ann@example.com")
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store
            .signin_throttle(org.id, "bob@example.com")
            .await
            .expect("read"),
        None
    );
    // A failure after the window starts a new one.
    let late = t + Duration::minutes(40);
    let row = store
        .note_signin_failure(org.id, "ann@example.com", late, late - window)
        .await
        .expect("note");
    assert_eq!((row.failures, row.window_start), (1, late));
    assert_eq!(row.locked_until, None, "an ended lock is cleared");
    // A lock that ended inside the window restarts the count as well.
    store
        .lock_signin(org.id, "ann@example.com", late + Duration::minutes(1))
        .await
        .expect("lock");
    let after = late + Duration::minutes(2);
    let row = store
        .note_signin_failure(org.id, "ann@example.com", after, after - window)
        .await
        .expect("note");
    assert_eq!(
        (row.failures, row.window_start, row.locked_until),
        (1, after, None)
    );
    store
        .clear_signin_failures(org.id, "ann@example.com")
        .await
        .expect("clear");
    assert_eq!(
        store
            .signin_throttle(org.id, "ann@example.com")
            .await
            .expect("read"),
        None
    );
}

pub async fn admins_are_removed_and_reset_with_their_sessions_only_in_their_org(
    store: Arc<dyn Store>,
) {
    use directory::ids::SessionId;
    use directory::store::{SessionRecord, SetupLink};
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let t = now();
    let ann = admin(org.id, "ann@example.com", AdminRole::Administrator);
    let bob = admin(org.id, "bob@example.com", AdminRole::PeopleManager);
    store.add_admin(&ann).await.expect("ann");
    store.add_admin(&bob).await.expect("bob");
    let session = |who: &Administrator, n: u8| {
        let mut hash = [n; 32];
        hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        SessionRecord {
            org_id: who.org_id,
            id: SessionId::new(),
            hash,
            admin_id: who.id,
            created: t,
            expires: t + Duration::hours(12),
        }
    };
    let (ann1, ann2, bob1) = (session(&ann, 1), session(&ann, 2), session(&bob, 3));
    for s in [&ann1, &ann2, &bob1] {
        store.insert_session(s).await.expect("session");
    }
    let live = |s: &SessionRecord| {
        let store = store.clone();
        let hash = s.hash;
        async move {
            store
                .find_session_by_hash(&hash)
                .await
                .expect("find")
                .is_some()
        }
    };

    // Another organisation's id names nothing here.
    assert_eq!(
        store
            .end_admin_sessions(other.id, ann.id)
            .await
            .expect("end"),
        0
    );
    assert!(!store.remove_admin(other.id, ann.id).await.expect("remove"));
    assert!(
        !store
            .set_admin_password(other.id, ann.id, "$argon2id$x")
            .await
            .expect("set")
    );
    assert!(live(&ann1).await && live(&bob1).await);

    assert_eq!(
        store.end_admin_sessions(org.id, ann.id).await.expect("end"),
        2
    );
    assert!(!live(&ann1).await && !live(&ann2).await);
    assert!(live(&bob1).await, "another administrator's session stays");

    store
        .note_signin_failure(org.id, "bob@example.com", t, t - Duration::minutes(15))
        .await
        .expect("failure");
    assert!(
        store
            .set_admin_password(org.id, bob.id, "$argon2id$new")
            .await
            .expect("set")
    );
    assert!(!live(&bob1).await, "a new password ends the sessions");
    assert_eq!(
        store
            .signin_throttle(org.id, "bob@example.com")
            .await
            .expect("read"),
        None,
        "and lifts the lock-out"
    );
    let bob_now = store.list_admins(org.id).await.expect("list");
    assert_eq!(
        bob_now
            .iter()
            .find(|a| a.id == bob.id)
            .and_then(|a| a.password_hash.as_deref()),
        Some("$argon2id$new")
    );

    let ann3 = session(&ann, 4);
    store.insert_session(&ann3).await.expect("session");
    assert!(store.remove_admin(org.id, ann.id).await.expect("remove"));
    assert!(!store.remove_admin(org.id, ann.id).await.expect("again"));
    assert!(!live(&ann3).await, "a removed administrator's sessions end");
    let left: Vec<_> = store
        .list_admins(org.id)
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.email)
        .collect();
    assert_eq!(left, vec!["bob@example.com".to_owned()]);

    // Expired sessions and stale failure counts are purged; live ones stay.
    let old = SessionRecord {
        expires: t - Duration::minutes(1),
        ..session(&bob, 5)
    };
    let fresh = session(&bob, 6);
    store.insert_session(&old).await.expect("old");
    store.insert_session(&fresh).await.expect("fresh");
    let long_ago = t - Duration::hours(2);
    store
        .note_signin_failure(org.id, "stale@example.com", long_ago, long_ago)
        .await
        .expect("stale");
    store
        .note_signin_failure(org.id, "recent@example.com", t, t)
        .await
        .expect("recent");
    let purged = store
        .purge_sessions(t, t - Duration::minutes(15))
        .await
        .expect("purge");
    assert!(purged >= 2, "{purged}");
    assert!(!live(&old).await && live(&fresh).await);
    assert_eq!(
        store
            .signin_throttle(org.id, "stale@example.com")
            .await
            .expect("read"),
        None
    );
    assert!(
        store
            .signin_throttle(org.id, "recent@example.com")
            .await
            .expect("read")
            .is_some()
    );

    // A new set-up link retires the earlier unused one.
    let link = |n: u8| {
        let mut hash = [n; 32];
        hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        SetupLink {
            org_id: org.id,
            hash,
            created: t,
            expires: t + Duration::hours(24),
            used: None,
        }
    };
    let (first, second) = (link(7), link(8));
    store.insert_setup_link(&first).await.expect("first");
    store.insert_setup_link(&second).await.expect("second");
    assert_eq!(
        store
            .find_setup_link(org.id, &first.hash)
            .await
            .expect("find"),
        None
    );
    assert!(
        store
            .find_setup_link(org.id, &second.hash)
            .await
            .expect("find")
            .is_some()
    );
}
