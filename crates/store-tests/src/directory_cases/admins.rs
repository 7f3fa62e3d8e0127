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
    use directory::setup::{LINK_LIFETIME, Setup, SetupError};
    let w = World::new(store.clone(), OrgKind::School).await;
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
            .redeem(&w.org, &secret, "not-an-address", "long enough password")
            .await,
        Err(SetupError::Lifecycle(_))
    ));
    assert!(matches!(
        setup
            .redeem(&w.org, &secret, "ann@example.com", "short")
            .await,
        Err(SetupError::Password(_))
    ));
    let admin = setup
        .redeem(&w.org, &secret, "ann@example.com", "long enough password")
        .await
        .expect("redeem");
    assert_eq!(admin.role, AdminRole::Administrator);
    assert!(
        admin
            .password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$"))
    );
    assert!(matches!(
        setup
            .redeem(&w.org, &secret, "eve@example.com", "long enough password")
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
