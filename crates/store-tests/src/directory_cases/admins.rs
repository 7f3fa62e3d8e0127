//! Signing in (by address, across organisations), the lock-out, the organisation chooser,
//! password links and the first administrator's set-up link.

use super::*;
use directory::session::{SessionError, SignInOutcome, SignedIn};

/// An address no other case uses (the lock-out and the lookup span organisations).
fn address(name: &str) -> String {
    format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple())
}

fn signed(o: Result<SignInOutcome, SessionError>) -> (String, SignedIn) {
    match o {
        Ok(SignInOutcome::SignedIn(secret, s)) => (secret, s),
        other => panic!("expected a session, got {other:?}"),
    }
}

pub async fn sign_in_locks_an_address_out_after_repeated_failures(store: Arc<dyn Store>) {
    use directory::session::{FAILURE_WINDOW, LOCK_DURATION, MAX_FAILURES, Sessions};
    let w = World::new(store.clone(), OrgKind::Business).await;
    let other = World::new(store.clone(), OrgKind::Business).await;
    let sessions = Sessions::new(store.clone(), w.clock.clone());
    let ann = address("ann");
    for (world, password) in [
        (&w, "correct horse battery"),
        (&other, "another long password"),
    ] {
        world
            .lc
            .add_admin(
                &world.org,
                &ann,
                AdminRole::Administrator,
                Some(password),
                "cli",
            )
            .await
            .expect("admin");
    }
    // Failures spread beyond the window never lock.
    for _ in 0..MAX_FAILURES {
        let e = sessions
            .sign_in(None, &ann, "wrong")
            .await
            .expect_err("wrong password");
        assert!(matches!(e, SessionError::BadCredentials));
        w.clock.advance(FAILURE_WINDOW / 3);
    }
    let (_, s) = signed(sessions.sign_in(None, &ann, "correct horse battery").await);
    assert_eq!(
        s.admin.org_id, w.org.id,
        "the organisation the password matched"
    );
    // MAX_FAILURES within the window, split across both organisations (the API names one),
    // lock the address in both, even for the right password.
    for i in 0..MAX_FAILURES {
        let org = if i % 2 == 0 { w.org.id } else { other.org.id };
        sessions
            .sign_in(Some(org), &ann.to_uppercase(), "wrong")
            .await
            .expect_err("wrong password");
    }
    for (org, password) in [
        (None, "correct horse battery"),
        (Some(other.org.id), "another long password"),
    ] {
        let e = sessions
            .sign_in(org, &ann, password)
            .await
            .expect_err("locked");
        assert!(matches!(e, SessionError::LockedOut(_)), "{e:?}");
    }
    // Unknown addresses are counted like known ones.
    let nobody = address("nobody");
    for _ in 0..MAX_FAILURES {
        sessions
            .sign_in(None, &nobody, "wrong")
            .await
            .expect_err("unknown");
    }
    assert!(matches!(
        sessions.sign_in(None, &nobody, "wrong").await,
        Err(SessionError::LockedOut(_))
    ));
    for world in [&w, &other] {
        let actions = world.actions().await;
        assert!(
            actions.contains(&"signin.lockout".to_owned()),
            "{actions:?}"
        );
        assert!(actions.contains(&"signin.locked".to_owned()), "{actions:?}");
    }
    w.clock.advance(LOCK_DURATION);
    signed(sessions.sign_in(None, &ann, "correct horse battery").await);
}

pub async fn one_password_in_several_organisations_asks_which(store: Arc<dyn Store>) {
    use directory::session::{CHOICE_LIFETIME, Sessions};
    let w = World::new(store.clone(), OrgKind::Business).await;
    let other = World::new(store.clone(), OrgKind::School).await;
    let third = World::new(store.clone(), OrgKind::Business).await;
    let sessions = Sessions::new(store.clone(), w.clock.clone());
    let ann = address("ann");
    for (world, password) in [
        (&w, "the same long password"),
        (&other, "the same long password"),
        (&third, "a different password"),
    ] {
        world
            .lc
            .add_admin(
                &world.org,
                &ann,
                AdminRole::Administrator,
                Some(password),
                "cli",
            )
            .await
            .expect("admin");
    }
    let Ok(SignInOutcome::Choose {
        handle,
        organisations,
    }) = sessions.sign_in(None, &ann, "the same long password").await
    else {
        panic!("expected a choice");
    };
    let mut ids: Vec<OrgId> = organisations.iter().map(|o| o.id).collect();
    ids.sort_by_key(|o| o.0);
    let mut want = vec![w.org.id, other.org.id];
    want.sort_by_key(|o| o.0);
    assert_eq!(ids, want, "only where the password matched");
    // The handle cannot choose an organisation the password did not match.
    assert!(matches!(
        sessions.choose(&handle, third.org.id).await,
        Err(SessionError::InvalidChoice)
    ));
    assert!(matches!(
        sessions.choose("not a handle", other.org.id).await,
        Err(SessionError::InvalidChoice)
    ));
    let (secret, s) = signed(sessions.choose(&handle, other.org.id).await);
    assert_eq!(s.admin.org_id, other.org.id);
    assert_eq!(
        sessions
            .authenticate(&secret)
            .await
            .expect("live")
            .admin
            .org_id,
        other.org.id
    );
    assert!(
        matches!(
            sessions.choose(&handle, other.org.id).await,
            Err(SessionError::InvalidChoice)
        ),
        "a choice is used once"
    );
    // The other password signs straight into its organisation; a choice expires.
    let (_, s) = signed(sessions.sign_in(None, &ann, "a different password").await);
    assert_eq!(s.admin.org_id, third.org.id);
    let Ok(SignInOutcome::Choose { handle, .. }) =
        sessions.sign_in(None, &ann, "the same long password").await
    else {
        panic!("expected a choice");
    };
    w.clock.advance(CHOICE_LIFETIME);
    assert!(matches!(
        sessions.choose(&handle, w.org.id).await,
        Err(SessionError::InvalidChoice)
    ));
    // The API's organisation parameter picks one without a choice.
    let (_, s) = signed(
        sessions
            .sign_in(Some(w.org.id), &ann, "the same long password")
            .await,
    );
    assert_eq!(s.admin.org_id, w.org.id);
}

pub async fn reset_and_invite_links_set_a_password_once(store: Arc<dyn Store>) {
    use directory::passwords::{INVITE_LIFETIME, PasswordError, Passwords, RESET_LIFETIME};
    use directory::session::Sessions;
    let w = World::new(store.clone(), OrgKind::Business).await;
    let other = World::new(store.clone(), OrgKind::Business).await;
    let sessions = Sessions::new(store.clone(), w.clock.clone());
    let passwords = Passwords::new(store.clone(), w.clock.clone(), sessions.clone());
    let ann = address("ann");
    w.lc.add_admin(
        &w.org,
        &ann,
        AdminRole::Administrator,
        Some("the old long password"),
        "cli",
    )
    .await
    .expect("admin");
    let (old, _) = signed(sessions.sign_in(None, &ann, "the old long password").await);
    let link = passwords
        .issue_reset(w.org.id, &ann.to_uppercase(), "cli")
        .await
        .expect("link");
    assert!(
        link.url("https://console.example")
            .starts_with(&format!("https://console.example/password/{}/", w.org.id))
    );
    passwords
        .check_link(w.org.id, &link.secret)
        .await
        .expect("valid");
    assert!(matches!(
        passwords.check_link(other.org.id, &link.secret).await,
        Err(PasswordError::InvalidLink)
    ));
    // A weak password does not spend the link.
    assert!(matches!(
        passwords.redeem(w.org.id, &link.secret, "short").await,
        Err(PasswordError::Weak(_))
    ));
    let (secret, s) = match passwords
        .redeem(w.org.id, &link.secret, "a brand new password")
        .await
    {
        Ok(SignInOutcome::SignedIn(secret, s)) => (secret, s),
        other => panic!("expected a session, got {other:?}"),
    };
    assert_eq!(s.admin.org_id, w.org.id);
    sessions.authenticate(&secret).await.expect("signed in");
    assert!(
        sessions.authenticate(&old).await.is_err(),
        "earlier sessions end"
    );
    assert!(matches!(
        passwords
            .redeem(w.org.id, &link.secret, "yet another password")
            .await,
        Err(PasswordError::InvalidLink)
    ));
    signed(sessions.sign_in(None, &ann, "a brand new password").await);
    // Reset links expire after an hour.
    let late = passwords
        .issue_reset(w.org.id, &ann, "cli")
        .await
        .expect("link");
    w.clock.advance(RESET_LIFETIME);
    assert!(matches!(
        passwords
            .redeem(w.org.id, &late.secret, "a third long password")
            .await,
        Err(PasswordError::InvalidLink)
    ));
    // An invitation creates an administrator who cannot sign in until the link is used.
    let bob = address("bob");
    let invite = passwords
        .invite(&w.org, &bob, AdminRole::PeopleManager, "admin:ann")
        .await
        .expect("invite");
    assert!(invite.expires - w.clock.now() == INVITE_LIFETIME);
    assert!(matches!(
        sessions.sign_in(None, &bob, "").await,
        Err(SessionError::BadCredentials)
    ));
    assert!(matches!(
        passwords
            .invite(&w.org, &bob, AdminRole::PeopleManager, "admin:ann")
            .await,
        Err(PasswordError::Lifecycle(_))
    ));
    w.clock.advance(Duration::days(6));
    passwords
        .redeem(w.org.id, &invite.secret, "bob's own long password")
        .await
        .expect("accept");
    assert!(matches!(
        passwords
            .redeem(w.org.id, &invite.secret, "bob's own long password")
            .await,
        Err(PasswordError::InvalidLink)
    ));
    let (bob_secret, s) = signed(
        sessions
            .sign_in(None, &bob, "bob's own long password")
            .await,
    );
    assert_eq!(s.admin.role, AdminRole::PeopleManager);
    // Changing one's own password needs the current one and ends the other sessions.
    assert!(matches!(
        passwords
            .change_own(&s, "wrong", "a changed long password")
            .await,
        Err(PasswordError::WrongPassword)
    ));
    let (fresh, _) = passwords
        .change_own(&s, "bob's own long password", "a changed long password")
        .await
        .expect("change");
    assert!(sessions.authenticate(&bob_secret).await.is_err());
    sessions
        .authenticate(&fresh)
        .await
        .expect("this browser stays");
    let actions = w.actions().await;
    for a in [
        "admin.password.reset-link",
        "admin.password.reset",
        "admin.invite",
        "admin.invite.accepted",
        "admin.password.changed",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a} in {actions:?}");
    }
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
        let _ = sessions
            .sign_in(Some(w.org.id), "bo@example.com", "wrong")
            .await;
    }
    assert!(
        w.lc.locked_until("Bo@example.com")
            .await
            .expect("read")
            .is_some()
    );
    assert!(matches!(
        sessions
            .sign_in(Some(w.org.id), "bo@example.com", "correct horse battery")
            .await,
        Err(SessionError::LockedOut(_))
    ));
    w.lc.unlock_admin(w.org.id, "bo@example.com", "admin:x@example.com")
        .await
        .expect("unlock");
    assert_eq!(
        w.lc.locked_until("bo@example.com").await.expect("read"),
        None
    );
    sessions
        .sign_in(Some(w.org.id), "bo@example.com", "correct horse battery")
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
