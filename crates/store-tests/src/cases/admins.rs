//! Administrators, password links, the sign-in lock-out, and sessions.

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

/// An address no other case (or earlier run on a shared database) uses: the lock-out and the
/// lookup by address span organisations.
fn unique_address(name: &str) -> String {
    format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple())
}

fn link_hash(n: u8) -> [u8; 32] {
    let mut hash = [n; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hash
}

pub async fn admins_are_found_by_address_across_organisations(store: Arc<dyn Store>) {
    let (one, two, three) = (
        new_org(&*store).await,
        new_org(&*store).await,
        new_org(&*store).await,
    );
    let email = unique_address("Ann");
    let a1 = admin(one.id, &email, AdminRole::Administrator);
    let a2 = admin(two.id, &email.to_uppercase(), AdminRole::PeopleManager);
    store.add_admin(&a1).await.expect("one");
    store.add_admin(&a2).await.expect("two");
    store
        .add_admin(&admin(
            three.id,
            &unique_address("bob"),
            AdminRole::Administrator,
        ))
        .await
        .expect("three");
    let found = store
        .find_admins_by_email(&email.to_lowercase())
        .await
        .expect("find");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&a1) && found.contains(&a2));
    let orgs: Vec<OrgId> = found.iter().map(|a| a.org_id).collect();
    let mut sorted = orgs.clone();
    sorted.sort_by_key(|o| o.0);
    assert_eq!(orgs, sorted, "ordered by organisation");
    assert!(
        store
            .find_admins_by_email(&unique_address("nobody"))
            .await
            .expect("find")
            .is_empty()
    );
}

pub async fn password_links_are_used_once_by_purpose_and_only_in_their_org(store: Arc<dyn Store>) {
    use directory::store::{LinkPurpose, PasswordLink};
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let ann = admin(org.id, &unique_address("ann"), AdminRole::Administrator);
    store.add_admin(&ann).await.expect("ann");
    let t = now();
    let hash = link_hash(3);
    let link = PasswordLink {
        org_id: org.id,
        hash,
        purpose: LinkPurpose::Reset,
        admin_id: Some(ann.id),
        created: t,
        expires: t + Duration::hours(1),
        used: None,
    };
    store.insert_password_link(&link).await.expect("insert");
    assert_eq!(
        store.find_password_link(org.id, &hash).await.expect("find"),
        Some(link.clone())
    );
    assert_eq!(
        store
            .find_password_link(other.id, &hash)
            .await
            .expect("find"),
        None
    );
    assert!(
        !store
            .use_password_link(other.id, &hash, LinkPurpose::Reset, t)
            .await
            .expect("other org")
    );
    assert!(
        !store
            .use_password_link(org.id, &hash, LinkPurpose::Invite, t)
            .await
            .expect("other purpose")
    );
    assert!(
        !store
            .use_password_link(org.id, &hash, LinkPurpose::Reset, t + Duration::hours(1))
            .await
            .expect("expired")
    );
    // Racing uses: exactly one wins.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .use_password_link(org.id, &hash, LinkPurpose::Reset, t)
                    .await
                    .expect("use")
            })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        if r.await.expect("join") {
            won += 1;
        }
    }
    assert_eq!(won, 1, "one use of a link, however many race");
    let used = store
        .find_password_link(org.id, &hash)
        .await
        .expect("find")
        .expect("link");
    assert_eq!(used.used, Some(t));

    // A new link retires the earlier unused one of the same purpose and administrator only.
    let reset = |n: u8, purpose: LinkPurpose, who: Option<AdminId>| PasswordLink {
        hash: link_hash(n),
        purpose,
        admin_id: who,
        ..link.clone()
    };
    let bob = admin(org.id, &unique_address("bob"), AdminRole::Administrator);
    store.add_admin(&bob).await.expect("bob");
    let first = reset(4, LinkPurpose::Reset, Some(ann.id));
    let bobs = reset(5, LinkPurpose::Reset, Some(bob.id));
    let invite = reset(6, LinkPurpose::Invite, Some(ann.id));
    let second = reset(7, LinkPurpose::Reset, Some(ann.id));
    for l in [&first, &bobs, &invite, &second] {
        store.insert_password_link(l).await.expect("insert");
    }
    let present = |h: [u8; 32]| {
        let store = store.clone();
        async move {
            store
                .find_password_link(org.id, &h)
                .await
                .expect("find")
                .is_some()
        }
    };
    assert!(
        !present(first.hash).await,
        "retired by the newer reset link"
    );
    assert!(present(bobs.hash).await && present(invite.hash).await);
    assert!(present(second.hash).await && present(hash).await);
    // Pending sign-in rows share one secret across organisations and retire nothing.
    let pending = link_hash(8);
    for (o, who) in [(org.id, ann.id), (other.id, ann.id)] {
        store
            .insert_password_link(&PasswordLink {
                org_id: o,
                hash: pending,
                purpose: LinkPurpose::Signin,
                admin_id: Some(who),
                created: t,
                expires: t + Duration::minutes(5),
                used: None,
            })
            .await
            .expect("pending");
    }
    assert!(present(pending).await && present(second.hash).await);
    assert!(
        !store
            .use_password_link(org.id, &pending, LinkPurpose::Reset, t)
            .await
            .expect("wrong purpose"),
        "a pending sign-in is no reset link"
    );
    // Racing choices of different organisations: one wins, and the choice is spent for all.
    let racers: Vec<_> = [org.id, other.id, org.id, other.id]
        .into_iter()
        .map(|o| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .use_password_link(o, &pending, LinkPurpose::Signin, t)
                    .await
                    .expect("use")
            })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        if r.await.expect("join") {
            won += 1;
        }
    }
    assert_eq!(won, 1, "one choice per pending sign-in");
    for o in [org.id, other.id] {
        assert!(
            store
                .find_password_link(o, &pending)
                .await
                .expect("find")
                .and_then(|l| l.used)
                .is_some(),
            "every row of the choice is used"
        );
    }
}

pub async fn signin_failures_count_within_a_window_per_address_across_orgs(store: Arc<dyn Store>) {
    let t = now();
    let window = Duration::minutes(15);
    let ann = unique_address("ann");
    let bob = unique_address("bob");
    assert_eq!(store.signin_throttle(&ann).await.expect("read"), None);
    for i in 1..=3u32 {
        let at = t + Duration::minutes(i64::from(i));
        let row = store
            .note_signin_failure(&ann, at, at - window)
            .await
            .expect("note");
        assert_eq!(row.failures, i);
        assert_eq!(row.window_start, t + Duration::minutes(1));
        assert_eq!(row.locked_until, None);
    }
    store
        .lock_signin(&ann, t + Duration::minutes(30))
        .await
        .expect("lock");
    let row = store
        .signin_throttle(&ann)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.failures, 3);
    assert_eq!(row.locked_until, Some(t + Duration::minutes(30)));
    // Other addresses keep their own counts.
    assert_eq!(store.signin_throttle(&bob).await.expect("read"), None);
    // Concurrent failures are all counted.
    let at = t + Duration::minutes(3);
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            let bob = bob.clone();
            tokio::spawn(async move { store.note_signin_failure(&bob, at, at - window).await })
        })
        .collect();
    for r in racers {
        r.await.expect("join").expect("note");
    }
    assert_eq!(
        store
            .signin_throttle(&bob)
            .await
            .expect("read")
            .map(|t| t.failures),
        Some(6)
    );
    // A failure after the window starts a new one.
    let late = t + Duration::minutes(40);
    let row = store
        .note_signin_failure(&ann, late, late - window)
        .await
        .expect("note");
    assert_eq!((row.failures, row.window_start), (1, late));
    assert_eq!(row.locked_until, None, "an ended lock is cleared");
    // A lock that ended inside the window restarts the count as well.
    store
        .lock_signin(&ann, late + Duration::minutes(1))
        .await
        .expect("lock");
    let after = late + Duration::minutes(2);
    let row = store
        .note_signin_failure(&ann, after, after - window)
        .await
        .expect("note");
    assert_eq!(
        (row.failures, row.window_start, row.locked_until),
        (1, after, None)
    );
    store.clear_signin_failures(&ann).await.expect("clear");
    assert_eq!(store.signin_throttle(&ann).await.expect("read"), None);
}

pub async fn admins_are_removed_and_reset_with_their_sessions_only_in_their_org(
    store: Arc<dyn Store>,
) {
    use directory::ids::SessionId;
    use directory::store::SessionRecord;
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let t = now();
    let ann = admin(org.id, &unique_address("ann"), AdminRole::Administrator);
    let bob = admin(org.id, &unique_address("bob"), AdminRole::PeopleManager);
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
        .note_signin_failure(&bob.email, t, t - Duration::minutes(15))
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
        store.signin_throttle(&bob.email).await.expect("read"),
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
    assert_eq!(left, vec![bob.email.clone()]);

    // Expired sessions and stale failure counts are purged; live ones stay.
    let old = SessionRecord {
        expires: t - Duration::minutes(1),
        ..session(&bob, 5)
    };
    let fresh = session(&bob, 6);
    store.insert_session(&old).await.expect("old");
    store.insert_session(&fresh).await.expect("fresh");
    let long_ago = t - Duration::hours(2);
    let (stale, recent) = (unique_address("stale"), unique_address("recent"));
    store
        .note_signin_failure(&stale, long_ago, long_ago)
        .await
        .expect("stale");
    store
        .note_signin_failure(&recent, t, t)
        .await
        .expect("recent");
    use directory::store::{LinkPurpose, PasswordLink};
    let link = |n: u8, expires: time::OffsetDateTime| PasswordLink {
        org_id: bob.org_id,
        hash: link_hash(n),
        purpose: LinkPurpose::Reset,
        admin_id: Some(bob.id),
        created: t - Duration::hours(2),
        expires,
        used: None,
    };
    let (expired, live_link) = (
        link(9, t - Duration::minutes(1)),
        link(10, t + Duration::hours(1)),
    );
    store
        .insert_password_link(&expired)
        .await
        .expect("expired link");
    // A set-up link, so inserting it does not retire the expired reset link.
    let live_link = PasswordLink {
        admin_id: None,
        purpose: LinkPurpose::Setup,
        ..live_link
    };
    store
        .insert_password_link(&live_link)
        .await
        .expect("live link");
    let purged = store
        .purge_sessions(t, t - Duration::minutes(15))
        .await
        .expect("purge");
    assert!(purged >= 3, "{purged}");
    assert_eq!(
        store
            .find_password_link(bob.org_id, &expired.hash)
            .await
            .expect("find"),
        None
    );
    assert!(
        store
            .find_password_link(bob.org_id, &live_link.hash)
            .await
            .expect("find")
            .is_some()
    );
    assert!(!live(&old).await && live(&fresh).await);
    assert_eq!(store.signin_throttle(&stale).await.expect("read"), None);
    assert!(
        store
            .signin_throttle(&recent)
            .await
            .expect("read")
            .is_some()
    );
}
