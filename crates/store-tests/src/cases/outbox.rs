//! The outbox of notices.

use super::*;

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

pub async fn notices_are_enqueued_once_per_key(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    // Not due for an hour: the claim cases running beside this one claim every due notice of
    // the database, and must not take this one while it is being compared.
    let later = now() + Duration::hours(1);
    let n = notice(org.id, "expiry-reminder:t:30", later);
    assert!(store.enqueue_notice(&n).await.expect("enqueue"));
    let again = notice(org.id, "expiry-reminder:t:30", later);
    assert!(!store.enqueue_notice(&again).await.expect("enqueue again"));
    // Keys are per organisation.
    assert!(
        store
            .enqueue_notice(&notice(other.id, "expiry-reminder:t:30", later))
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
