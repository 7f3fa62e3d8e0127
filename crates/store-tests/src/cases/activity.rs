//! The activity log.

use super::*;

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
