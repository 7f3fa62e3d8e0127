//! Signing in: the lock-out and the first administrator's set-up link.

use super::*;

pub async fn sign_in_locks_an_address_out_after_repeated_failures(store: Arc<dyn Store>) {
    use directory::session::{FAILURE_WINDOW, LOCK_DURATION, MAX_FAILURES, SessionError, Sessions};
    let w = World::new(store.clone(), OrgKind::Business).await;
    let sessions = Sessions::new(store.clone(), w.clock.clone());
    w.lc.add_admin(
        &w.org,
        "ann@example.com",
        AdminRole::Administrator,
        Some("correct horse battery"),
        "cli",
    )
    .await
    .expect("admin");
    // Failures spread beyond the window never lock.
    for _ in 0..MAX_FAILURES {
        let e = sessions
            .sign_in(w.org.id, "ann@example.com", "wrong")
            .await
            .expect_err("wrong password");
        assert!(matches!(e, SessionError::BadCredentials));
        w.clock.advance(FAILURE_WINDOW / 3);
    }
    sessions
        .sign_in(w.org.id, "ann@example.com", "correct horse battery")
        .await
        .expect("not locked");
    // MAX_FAILURES within the window lock the address, even for the right password.
    for _ in 0..MAX_FAILURES {
        sessions
            .sign_in(w.org.id, "ANN@example.com", "wrong")
            .await
            .expect_err("wrong password");
    }
    let e = sessions
        .sign_in(w.org.id, "ann@example.com", "correct horse battery")
        .await
        .expect_err("locked");
    assert!(matches!(e, SessionError::LockedOut(_)), "{e:?}");
    // Unknown addresses are counted like known ones; other organisations are unaffected.
    for _ in 0..MAX_FAILURES {
        sessions
            .sign_in(w.org.id, "nobody@example.com", "wrong")
            .await
            .expect_err("unknown");
    }
    assert!(matches!(
        sessions
            .sign_in(w.org.id, "nobody@example.com", "wrong")
            .await,
        Err(SessionError::LockedOut(_))
    ));
    let actions = w.actions().await;
    assert!(actions.contains(&"signin.lockout".to_owned()));
    assert!(actions.contains(&"signin.locked".to_owned()));
    w.clock.advance(LOCK_DURATION);
    sessions
        .sign_in(w.org.id, "ann@example.com", "correct horse battery")
        .await
        .expect("lock over");
}

pub async fn setup_link_creates_the_first_administrator_once(store: Arc<dyn Store>) {
    use directory::setup::{FirstRun, LINK_LIFETIME, Setup, SetupError};
    let w = World::new(store.clone(), OrgKind::School).await;
    let first = |email: &'static str, password: &'static str| FirstRun {
        org_name: "  Hillside Trading  ",
        kind: OrgKind::Business,
        email,
        password,
    };
    let other = World::new(store.clone(), OrgKind::Business).await;
    let setup = Setup::new(store.clone(), w.clock.clone());
    assert!(setup.needs_first_admin(w.org.id).await.expect("read"));
    let secret = setup.create_link(w.org.id).await.expect("link");
    setup.check(w.org.id, &secret).await.expect("valid");
    assert!(matches!(
        setup.check(other.org.id, &secret).await,
        Err(SetupError::InvalidLink)
    ));
    // Bad input does not spend the link.
    assert!(matches!(
        setup
            .redeem(
                &w.org,
                &secret,
                &first("not-an-address", "long enough password")
            )
            .await,
        Err(SetupError::Lifecycle(_))
    ));
    assert!(matches!(
        setup
            .redeem(&w.org, &secret, &first("ann@example.com", "short"))
            .await,
        Err(SetupError::Password(_))
    ));
    assert!(
        matches!(
            setup
                .redeem(
                    &w.org,
                    &secret,
                    &FirstRun {
                        org_name: " ",
                        ..first("ann@example.com", "long enough password")
                    }
                )
                .await,
            Err(SetupError::Lifecycle(_))
        ),
        "an empty name is refused before the link is spent"
    );
    let (admin, org) = setup
        .redeem(
            &w.org,
            &secret,
            &first("ann@example.com", "long enough password"),
        )
        .await
        .expect("redeem");
    assert_eq!(admin.role, AdminRole::Administrator);
    // The page's name and kind are applied (the organisation has no account yet).
    assert_eq!(
        (org.name.as_str(), org.kind),
        ("Hillside Trading", OrgKind::Business)
    );
    let stored = store.get_org(w.org.id).await.expect("get").expect("org");
    assert_eq!(
        (stored.name, stored.kind),
        (org.name.clone(), OrgKind::Business)
    );
    assert!(
        admin
            .password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$"))
    );
    assert!(matches!(
        setup
            .redeem(
                &w.org,
                &secret,
                &first("eve@example.com", "long enough password")
            )
            .await,
        Err(SetupError::InvalidLink)
    ));
    // A fresh link is refused once the organisation has an administrator.
    let again = setup.create_link(w.org.id).await.expect("link");
    assert!(matches!(
        setup.check(w.org.id, &again).await,
        Err(SetupError::AlreadySetUp)
    ));
    // Links expire.
    let setup_other = Setup::new(store.clone(), other.clock.clone());
    let late = setup_other.create_link(other.org.id).await.expect("link");
    other.clock.advance(LINK_LIFETIME);
    assert!(matches!(
        setup_other.check(other.org.id, &late).await,
        Err(SetupError::InvalidLink)
    ));
}

pub async fn last_administrator_stays_and_a_lock_out_is_lifted(store: Arc<dyn Store>) {
    use directory::lifecycle::LifecycleError;
    use directory::session::{MAX_FAILURES, SessionError, Sessions};
    let w = World::new(store.clone(), OrgKind::Business).await;
    let sessions = Sessions::new(store.clone(), w.clock.clone());
    for (email, role) in [
        ("ann@example.com", AdminRole::Administrator),
        ("pat@example.com", AdminRole::PeopleManager),
    ] {
        w.lc.add_admin(&w.org, email, role, Some("correct horse battery"), "cli")
            .await
            .expect("admin");
    }
    // Ann is the only one with the administrator role: never removed, whoever asks.
    assert!(matches!(
        w.lc.remove_admin(w.org.id, "ANN@example.com", "cli").await,
        Err(LifecycleError::LastAdministrator(_))
    ));
    assert_eq!(store.list_admins(w.org.id).await.expect("list").len(), 2);
    // A people manager may go; with a second administrator, so may Ann.
    w.lc.remove_admin(w.org.id, "pat@example.com", "cli")
        .await
        .expect("remove pat");
    w.lc.add_admin(
        &w.org,
        "bo@example.com",
        AdminRole::Administrator,
        Some("correct horse battery"),
        "cli",
    )
    .await
    .expect("bo");
    w.lc.remove_admin(w.org.id, "ann@example.com", "cli")
        .await
        .expect("remove ann");
    assert!(matches!(
        w.lc.remove_admin(w.org.id, "bo@example.com", "cli").await,
        Err(LifecycleError::LastAdministrator(_))
    ));
    // Bo locked out, then unlocked: the right password works at once.
    for _ in 0..MAX_FAILURES {
        let _ = sessions.sign_in(w.org.id, "bo@example.com", "wrong").await;
    }
    assert!(
        w.lc.locked_until(w.org.id, "Bo@example.com")
            .await
            .expect("read")
            .is_some()
    );
    assert!(matches!(
        sessions
            .sign_in(w.org.id, "bo@example.com", "correct horse battery")
            .await,
        Err(SessionError::LockedOut(_))
    ));
    w.lc.unlock_admin(w.org.id, "bo@example.com", "admin:x@example.com")
        .await
        .expect("unlock");
    assert_eq!(
        w.lc.locked_until(w.org.id, "bo@example.com")
            .await
            .expect("read"),
        None
    );
    sessions
        .sign_in(w.org.id, "bo@example.com", "correct horse battery")
        .await
        .expect("unlocked");
    assert!(matches!(
        w.lc.unlock_admin(w.org.id, "nobody@example.com", "cli")
            .await,
        Err(LifecycleError::UnknownAdmin(_))
    ));
}

pub async fn organisation_kind_follows_accounts_and_site_managers(store: Arc<dyn Store>) {
    use directory::lifecycle::LifecycleError;
    let w = World::new(store.clone(), OrgKind::School).await;
    w.lc.add_admin(
        &w.org,
        "site@example.com",
        AdminRole::SiteManager,
        None,
        "cli",
    )
    .await
    .expect("site manager");
    assert!(matches!(
        w.lc.update_org(w.org.id, "Shop", OrgKind::Business, "cli")
            .await,
        Err(LifecycleError::SiteManagersRemain)
    ));
    assert!(matches!(
        w.lc.update_org(w.org.id, "\u{0}", OrgKind::School, "cli")
            .await,
        Err(LifecycleError::InvalidName(_))
    ));
    let renamed =
        w.lc.update_org(w.org.id, "Hillside", OrgKind::School, "cli")
            .await
            .expect("rename");
    assert_eq!(renamed.name, "Hillside");
    assert!(!w.lc.has_accounts(w.org.id).await.expect("read"));
    crate::support::create_user(&*store, w.org.id, "pupil@example.com").await;
    assert!(w.lc.has_accounts(w.org.id).await.expect("read"));
    w.lc.remove_admin(w.org.id, "site@example.com", "cli")
        .await
        .expect("a site manager is no last administrator");
    assert!(matches!(
        w.lc.update_org(w.org.id, "Shop", OrgKind::Business, "cli")
            .await,
        Err(LifecycleError::KindLocked)
    ));
    let org = store.get_org(w.org.id).await.expect("get").expect("org");
    assert_eq!((org.name.as_str(), org.kind), ("Hillside", OrgKind::School));
}
