//! Administrators, set-up links, the sign-in lock-out, and sessions.

use super::*;

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
