//! Tokens: storage, use, revocation, and changes seen through another handle.

use super::*;

pub async fn tokens_round_trip_and_touch(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let mut t = token(org.id, 1);
    t.revoked = Some(now());
    store.insert_token(&t).await.expect("insert");
    assert_eq!(
        store.find_token_by_hash(&t.hash).await.expect("find"),
        Some(t.clone())
    );
    assert_eq!(
        store.find_token_by_hash(&[0xEE; 32]).await.expect("find"),
        None
    );
    assert_eq!(
        store.list_tokens(org.id).await.expect("list"),
        vec![t.clone()]
    );
    assert_eq!(store.list_tokens(other.id).await.expect("list"), vec![]);

    let first = now();
    store.touch_token(org.id, t.id, first).await.expect("touch");
    let later = first + Duration::seconds(5);
    store.touch_token(org.id, t.id, later).await.expect("touch");
    // An older use arriving late does not move last_used back.
    store.touch_token(org.id, t.id, first).await.expect("touch");
    // Another organisation cannot touch it.
    store
        .touch_token(other.id, t.id, later + Duration::hours(1))
        .await
        .expect("touch");
    let got = store
        .find_token_by_hash(&t.hash)
        .await
        .expect("find")
        .expect("token");
    assert_eq!(got.first_used, Some(first));
    assert_eq!(got.last_used, Some(later));

    // The hash is unique across organisations.
    let mut dup = token(other.id, 2);
    dup.hash = t.hash;
    assert!(store.insert_token(&dup).await.is_err());
}

/// `a` and `b` are two handles on one database, as two processes are (`serve`, and `scimd
/// token revoke` or another instance): a token change made through `b` is seen by the very next
/// lookup through `a`, whatever `a` keeps in memory.
pub async fn token_changes_through_another_handle_are_seen_at_once(
    a: Arc<dyn Store>, b: Arc<dyn Store>,
) {
    // Both lookups: alone, and after the caller has read the change mark (a GET that may be
    // answered from the read cache), which a store may use instead of its token epoch.
    for with_mark in [false, true] {
        let find = |store: Arc<dyn Store>, hash: [u8; 32]| async move {
            let found = if with_mark {
                let mark = store.change_mark();
                store.find_token_by_hash_at(&hash, mark).await
            } else {
                store.find_token_by_hash(&hash).await
            };
            found.expect("find")
        };
        let org = new_org(&*a).await;
        let t = token(org.id, 3);
        a.insert_token(&t).await.expect("insert");
        for _ in 0..3 {
            assert_eq!(find(a.clone(), t.hash).await, Some(t.clone()));
        }
        let used = now();
        b.touch_token(org.id, t.id, used).await.expect("touch");
        let seen = find(a.clone(), t.hash).await;
        assert_eq!(
            seen.expect("token").first_used,
            Some(used),
            "marks: {with_mark}"
        );
        let revoked = used + Duration::seconds(1);
        assert!(b.revoke_token(org.id, t.id, revoked).await.expect("revoke"));
        let seen = find(a.clone(), t.hash).await;
        assert_eq!(
            seen.expect("token").revoked,
            Some(revoked),
            "marks: {with_mark}"
        );
        // And the other way round: a change through `a` reaches `b`, which had it cached.
        let t2 = token(org.id, 4);
        b.insert_token(&t2).await.expect("insert");
        assert!(find(b.clone(), t2.hash).await.is_some());
        assert!(
            a.revoke_token(org.id, t2.id, revoked)
                .await
                .expect("revoke")
        );
        let seen = find(b.clone(), t2.hash).await;
        assert_eq!(
            seen.expect("token").revoked,
            Some(revoked),
            "marks: {with_mark}"
        );
    }
}

pub async fn token_revoke_marks_once_and_only_in_its_org(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let t = long_lived_token(org.id);
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
