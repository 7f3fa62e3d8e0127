//! Service tests of the token, connection and notification rules (docs/contract.md, "Tokens and the connection"), on
//! a fresh SQLite database with a clock that only moves when told to and a recording mailer.

use async_trait::async_trait;
use directory::clock::FixedClock;
use directory::lifecycle::{Lifecycle, LifecycleError, TokenState};
use directory::notify::{CLAIM_LEASE, Mail, Mailer, Notifier};
use directory::store::{AdminRole, ConnectionState, NoticeKind};
use directory::token::{self, AuthFailure, TOUCH_INTERVAL, Tokens};
use directory::{Clock, OrgId, OrgKind, Organisation, Store};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

struct World {
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
    lc: Lifecycle,
    tokens: Tokens,
    notifier: Notifier,
    org: Organisation,
}

impl World {
    async fn new() -> World {
        World::of_kind(OrgKind::Business).await
    }

    async fn of_kind(kind: OrgKind) -> World {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lifecycle-tests");
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(format!("{}.db", uuid::Uuid::new_v4()));
        let store: Arc<dyn Store> =
            Arc::new(store_sqlite::SqliteStore::open(&path).expect("open SQLite"));
        let clock = Arc::new(FixedClock::new(T0));
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let org = Organisation {
            id: OrgId::new(),
            name: "Northwind Academy".into(),
            kind,
            created: T0,
        };
        store.create_org(&org).await.expect("org");
        World {
            lc: Lifecycle::new(store.clone(), dyn_clock.clone()),
            tokens: Tokens::new(store.clone(), dyn_clock.clone()),
            notifier: Notifier::new(store.clone(), dyn_clock),
            store,
            clock,
            org,
        }
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn auth(&self, secret: &str) -> Result<directory::store::TokenRecord, AuthFailure> {
        token::authenticate(self.store.as_ref(), self.clock.as_ref(), secret)
            .await
            .expect("store")
    }

    /// A SCIM request with `secret`, as the bearer extractor makes it.
    async fn use_token(&self, secret: &str) {
        let record = self.auth(secret).await.expect("token accepted");
        self.tokens.record_use(&record).await;
    }

    async fn last_used(&self) -> Option<OffsetDateTime> {
        let tokens = self.lc.list_tokens(self.org.id).await.expect("tokens");
        tokens[0].record.last_used
    }

    async fn admin(&self, email: &str) {
        self.lc
            .add_admin(&self.org, email, AdminRole::Administrator, None, "test")
            .await
            .expect("admin");
    }

    async fn notices(&self) -> Vec<directory::store::Notice> {
        self.store.list_notices(self.org.id).await.expect("notices")
    }
}

#[derive(Debug, Default)]
struct RecordingMailer {
    sent: Mutex<Vec<Mail>>,
    fail: Mutex<bool>,
}

impl RecordingMailer {
    fn set_failing(&self, fail: bool) {
        *self.fail.lock().expect("lock") = fail;
    }
    fn sent(&self) -> Vec<Mail> {
        self.sent.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: &Mail) -> Result<(), String> {
        if *self.fail.lock().expect("lock") {
            return Err("connection refused".into());
        }
        self.sent.lock().expect("lock").push(mail.clone());
        Ok(())
    }
}

#[tokio::test]
async fn token_is_valid_one_year_from_creation() {
    let w = World::new().await;
    let t = w.lc.generate_token(&w.org, "test").await.expect("token");
    assert_eq!(t.record.expires, T0 + Duration::days(365));
    w.use_token(&t.secret).await;
    w.advance(Duration::days(365) - Duration::seconds(1));
    assert!(w.auth(&t.secret).await.is_ok());
    w.advance(Duration::seconds(1));
    assert_eq!(w.auth(&t.secret).await.err(), Some(AuthFailure::Expired));
    let listed = w.lc.list_tokens(w.org.id).await.expect("list");
    assert_eq!(listed[0].state, TokenState::Expired);
}

#[tokio::test]
async fn a_third_live_token_is_refused_with_a_message_to_revoke_one() {
    let w = World::new().await;
    let a = w.lc.generate_token(&w.org, "test").await.expect("first");
    w.use_token(&a.secret).await;
    let b = w.lc.generate_token(&w.org, "test").await.expect("second");
    // Generating a replacement does not revoke the old token.
    assert!(w.auth(&a.secret).await.is_ok());
    let err =
        w.lc.generate_token(&w.org, "test")
            .await
            .expect_err("third refused");
    assert!(matches!(err, LifecycleError::TooManyTokens));
    assert!(err.to_string().contains("revoke one"), "{err}");
    w.lc.revoke_token(w.org.id, a.record.id, "test")
        .await
        .expect("revoke");
    w.lc.generate_token(&w.org, "test")
        .await
        .expect("room again after a revoke");
    // Expired tokens do not count either.
    let _ = b;
    w.advance(Duration::days(5));
    w.lc.generate_token(&w.org, "test")
        .await
        .expect("unused tokens expired after 4 days");
}

#[tokio::test]
async fn a_token_never_used_expires_four_days_after_creation() {
    let w = World::new().await;
    let unused = w.lc.generate_token(&w.org, "test").await.expect("token");
    let used = w.lc.generate_token(&w.org, "test").await.expect("token");
    w.advance(Duration::days(3));
    w.use_token(&used.secret).await;
    w.advance(Duration::days(1) - Duration::seconds(1));
    let listed = w.lc.list_tokens(w.org.id).await.expect("list");
    assert_eq!(listed[0].state, TokenState::Pending);
    assert_eq!(listed[0].expires, T0 + Duration::days(4));
    w.advance(Duration::seconds(1));
    assert_eq!(
        w.auth(&unused.secret).await.err(),
        Some(AuthFailure::Expired)
    );
    // Used within the window: valid for the year.
    assert!(w.auth(&used.secret).await.is_ok());
    let listed = w.lc.list_tokens(w.org.id).await.expect("list");
    assert_eq!(listed[0].state, TokenState::Expired);
    assert_eq!(listed[1].state, TokenState::Active);
}

#[tokio::test]
async fn the_last_live_token_cannot_be_revoked_but_disconnect_revokes_all() {
    let w = World::new().await;
    let a = w.lc.generate_token(&w.org, "test").await.expect("token");
    let err =
        w.lc.revoke_token(w.org.id, a.record.id, "test")
            .await
            .expect_err("last live token");
    assert!(matches!(err, LifecycleError::LastLiveToken));
    assert!(err.to_string().contains("disconnect"), "{err}");
    let b = w.lc.generate_token(&w.org, "test").await.expect("token");
    w.lc.revoke_token(w.org.id, a.record.id, "test")
        .await
        .expect("not the last one");
    assert_eq!(w.auth(&a.secret).await.err(), Some(AuthFailure::Revoked));
    assert!(matches!(
        w.lc.revoke_token(w.org.id, b.record.id, "test").await,
        Err(LifecycleError::LastLiveToken)
    ));
    assert!(matches!(
        w.lc.revoke_token(w.org.id, a.record.id, "test").await,
        Err(LifecycleError::AlreadyRevoked(_))
    ));
    assert_eq!(
        w.lc.disconnect(w.org.id, "test").await.expect("disconnect"),
        1
    );
    assert_eq!(w.auth(&b.secret).await.err(), Some(AuthFailure::Revoked));
    assert_eq!(
        w.lc.connection(w.org.id).await.expect("conn").state,
        ConnectionState::Disconnected
    );
    let acts: Vec<String> = w
        .store
        .list_activity(Some(w.org.id), None, 100)
        .await
        .expect("activity")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        acts,
        [
            "token.generate",
            "token.generate",
            "token.revoke",
            "disconnect"
        ]
    );
}

#[tokio::test]
async fn connection_goes_not_connected_pending_active_disconnected() {
    let w = World::new().await;
    let state = || async { w.lc.connection(w.org.id).await.expect("conn").state };
    assert_eq!(state().await, ConnectionState::NotConnected);
    let t = w.lc.generate_token(&w.org, "test").await.expect("token");
    assert_eq!(state().await, ConnectionState::Pending);
    w.advance(Duration::minutes(3));
    w.use_token(&t.secret).await;
    assert_eq!(state().await, ConnectionState::Active);
    let record = w.auth(&t.secret).await.expect("ok");
    assert_eq!(record.first_used, Some(T0 + Duration::minutes(3)));
    // A replacement token does not take an active connection back to pending.
    w.lc.generate_token(&w.org, "test").await.expect("token");
    assert_eq!(state().await, ConnectionState::Active);
    w.lc.disconnect(w.org.id, "test").await.expect("disconnect");
    assert_eq!(state().await, ConnectionState::Disconnected);
    let again = w.lc.generate_token(&w.org, "test").await.expect("token");
    assert_eq!(state().await, ConnectionState::Pending);
    w.use_token(&again.secret).await;
    assert_eq!(state().await, ConnectionState::Active);
}

/// After the first use, `last_used` is written at most once a minute per token and instance:
/// each instance remembers when it last wrote, whatever older use the (perhaps cached) record
/// it checked the token with still shows.
#[tokio::test]
async fn a_tokens_use_is_written_at_most_once_a_minute_per_instance() {
    let w = World::new().await;
    let t = w.lc.generate_token(&w.org, "test").await.expect("token");
    w.use_token(&t.secret).await;
    assert_eq!(w.last_used().await, Some(T0));
    // The record as a cache may go on giving it: used once, at T0.
    let cached = w.auth(&t.secret).await.expect("ok");
    assert_eq!((cached.first_used, cached.last_used), (Some(T0), Some(T0)));

    w.advance(TOUCH_INTERVAL - Duration::seconds(1));
    w.tokens.record_use(&cached).await;
    assert_eq!(w.last_used().await, Some(T0), "within the minute");
    w.advance(Duration::seconds(1));
    w.tokens.record_use(&cached).await;
    let written = T0 + TOUCH_INTERVAL;
    assert_eq!(w.last_used().await, Some(written), "a minute on");
    w.advance(Duration::seconds(30));
    w.tokens.record_use(&cached).await;
    assert_eq!(
        w.last_used().await,
        Some(written),
        "this instance wrote 30 s ago"
    );

    // Another instance has written nothing yet, and the record it is given is old.
    let other = Tokens::new(w.store.clone(), w.clock.clone());
    other.record_use(&cached).await;
    assert_eq!(w.last_used().await, Some(written + Duration::seconds(30)));
}

#[tokio::test]
async fn first_use_sends_set_up_complete_once_with_the_organisation_name() {
    let w = World::new().await;
    w.admin("ann@northwind.example").await;
    w.lc.add_admin(
        &w.org,
        "pat@northwind.example",
        AdminRole::PeopleManager,
        None,
        "test",
    )
    .await
    .expect("people manager");
    let t = w.lc.generate_token(&w.org, "test").await.expect("token");
    let record = w.auth(&t.secret).await.expect("ok");
    // Two requests racing on the first use: one notice.
    w.lc.first_use(&record).await.expect("first use");
    w.lc.first_use(&record).await.expect("first use again");
    let mailer = RecordingMailer::default();
    let r = w.notifier.deliver(&mailer).await.expect("deliver");
    assert_eq!((r.sent, r.failed), (1, 0));
    let sent = mailer.sent();
    assert_eq!(sent.len(), 1);
    // Only role administrator is notified.
    assert_eq!(sent[0].to, vec!["ann@northwind.example".to_owned()]);
    assert!(sent[0].subject.contains("set-up complete"));
    assert!(sent[0].body.contains("Northwind Academy"));
    assert_eq!(w.notifier.deliver(&mailer).await.expect("deliver").sent, 0);
    assert_eq!(w.notices().await.len(), 1);
}

#[tokio::test]
async fn each_reminder_threshold_and_the_expiry_notice_are_sent_exactly_once() {
    let w = World::new().await;
    w.admin("ann@northwind.example").await;
    let t = w.lc.generate_token(&w.org, "test").await.expect("token");
    w.use_token(&t.secret).await;
    let expires = t.record.expires;
    let mailer = RecordingMailer::default();
    let mut expected = vec!["setup-complete".to_owned()];
    let scan_twice = || async {
        let first = w.notifier.scan().await.expect("scan");
        assert_eq!(w.notifier.scan().await.expect("scan again"), 0);
        first
    };
    // Nothing is due before the 60-day mark.
    w.clock
        .advance(expires - Duration::days(60) - Duration::seconds(1) - w.clock.now());
    assert_eq!(scan_twice().await, 0);
    for days in [60, 30, 7, 1] {
        w.clock
            .advance(expires - Duration::days(days) - w.clock.now());
        assert_eq!(scan_twice().await, 1, "threshold {days}");
        // Scans later within the same threshold add nothing.
        w.advance(Duration::hours(6));
        assert_eq!(scan_twice().await, 0, "threshold {days}, later");
        expected.push(format!("expiry-reminder {days}"));
    }
    w.clock.advance(expires - w.clock.now());
    assert_eq!(scan_twice().await, 1, "expired");
    expected.push("token-expired".to_owned());
    w.advance(Duration::days(2));
    assert_eq!(scan_twice().await, 0);
    w.notifier.deliver(&mailer).await.expect("deliver");
    let kinds: Vec<String> = w
        .notices()
        .await
        .iter()
        .map(|n| match n.threshold_days {
            Some(d) => format!("{} {d}", n.kind.as_str()),
            None => n.kind.as_str().to_owned(),
        })
        .collect();
    assert_eq!(kinds, expected);
    assert_eq!(mailer.sent().len(), expected.len());
    assert!(
        mailer
            .sent()
            .iter()
            .any(|m| m.subject.contains("expires in 60 days"))
    );
    assert!(
        mailer
            .sent()
            .iter()
            .any(|m| m.subject.contains("has expired") && m.body.contains("Northwind Academy"))
    );
}

#[tokio::test]
async fn an_expired_token_with_a_live_replacement_sends_no_expiry_notice() {
    let w = World::new().await;
    let old = w.lc.generate_token(&w.org, "test").await.expect("token");
    w.use_token(&old.secret).await;
    w.clock
        .advance(old.record.expires - Duration::days(10) - w.clock.now());
    let new = w.lc.generate_token(&w.org, "test").await.expect("token");
    w.use_token(&new.secret).await;
    w.clock
        .advance(old.record.expires + Duration::hours(1) - w.clock.now());
    w.notifier.scan().await.expect("scan");
    assert!(
        w.notices()
            .await
            .iter()
            .all(|n| n.kind != NoticeKind::TokenExpired)
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_of_sending_sends_no_duplicate() {
    let w = World::new().await;
    w.admin("ann@northwind.example").await;
    let t = w.lc.generate_token(&w.org, "test").await.expect("token");
    w.use_token(&t.secret).await;
    w.clock
        .advance(t.record.expires - Duration::days(60) - w.clock.now());
    assert_eq!(w.notifier.scan().await.expect("scan"), 1);
    // The instance claims the due notices, then dies before sending or marking them.
    let claimed = w
        .store
        .claim_notices(w.clock.now(), w.clock.now() + CLAIM_LEASE, 100)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    // The restarted instance scans again and tries to deliver straight away.
    let restarted = Notifier::new(w.store.clone(), w.clock.clone());
    assert_eq!(restarted.scan().await.expect("scan"), 0);
    let mailer = RecordingMailer::default();
    assert_eq!(restarted.deliver(&mailer).await.expect("deliver").sent, 0);
    // Once the dead instance's claim lapses, each notice is sent once.
    w.advance(CLAIM_LEASE);
    assert_eq!(restarted.deliver(&mailer).await.expect("deliver").sent, 2);
    assert_eq!(restarted.scan().await.expect("scan"), 0);
    assert_eq!(restarted.deliver(&mailer).await.expect("deliver").sent, 0);
    assert_eq!(mailer.sent().len(), 2);
    assert!(w.notices().await.iter().all(|n| n.attempts == 2));
}

#[tokio::test]
async fn an_smtp_failure_keeps_the_notice_and_retries_with_backoff() {
    let w = World::new().await;
    w.admin("ann@northwind.example").await;
    let t = w.lc.generate_token(&w.org, "test").await.expect("token");
    w.use_token(&t.secret).await;
    let mailer = RecordingMailer::default();
    mailer.set_failing(true);
    assert_eq!(
        w.notifier.deliver(&mailer).await.expect("deliver").failed,
        1
    );
    let n = &w.notices().await[0];
    assert_eq!(n.attempts, 1);
    assert_eq!(n.sent, None);
    assert_eq!(n.last_error.as_deref(), Some("connection refused"));
    assert_eq!(n.next_attempt, w.clock.now() + Duration::seconds(30));
    // Not before the backoff.
    assert_eq!(
        w.notifier.deliver(&mailer).await.expect("deliver").failed,
        0
    );
    w.advance(Duration::seconds(30));
    assert_eq!(
        w.notifier.deliver(&mailer).await.expect("deliver").failed,
        1
    );
    assert_eq!(
        w.notices().await[0].next_attempt,
        w.clock.now() + Duration::seconds(60)
    );
    mailer.set_failing(false);
    w.advance(Duration::seconds(60));
    assert_eq!(w.notifier.deliver(&mailer).await.expect("deliver").sent, 1);
    assert_eq!(mailer.sent().len(), 1);
    assert!(w.notices().await[0].sent.is_some());
}

#[tokio::test]
async fn a_notice_waits_in_the_outbox_until_there_is_an_administrator() {
    let w = World::new().await;
    let t = w.lc.generate_token(&w.org, "test").await.expect("token");
    w.use_token(&t.secret).await;
    let mailer = RecordingMailer::default();
    assert_eq!(
        w.notifier.deliver(&mailer).await.expect("deliver").failed,
        1
    );
    assert!(
        w.notices().await[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no administrator"))
    );
    w.admin("ann@northwind.example").await;
    w.advance(Duration::minutes(1));
    assert_eq!(w.notifier.deliver(&mailer).await.expect("deliver").sent, 1);
}

#[tokio::test]
async fn administrators_roles_emails_and_password_hashes() {
    let w = World::new().await;
    let a =
        w.lc.add_admin(
            &w.org,
            "ann@northwind.example",
            AdminRole::Administrator,
            Some("s3cret pass"),
            "test",
        )
        .await
        .expect("admin");
    let hash = a.password_hash.expect("hash");
    assert!(hash.starts_with("$argon2id$"));
    assert!(directory::lifecycle::verify_password("s3cret pass", &hash));
    assert!(matches!(
        w.lc.add_admin(
            &w.org,
            "ANN@northwind.example",
            AdminRole::PeopleManager,
            None,
            "t"
        )
        .await,
        Err(LifecycleError::DuplicateAdmin(_))
    ));
    assert!(matches!(
        w.lc.add_admin(
            &w.org,
            "not-an-address",
            AdminRole::Administrator,
            None,
            "t"
        )
        .await,
        Err(LifecycleError::InvalidEmail(_))
    ));
    // site-manager exists only in schools.
    assert!(matches!(
        w.lc.add_admin(
            &w.org,
            "sam@northwind.example",
            AdminRole::SiteManager,
            None,
            "t"
        )
        .await,
        Err(LifecycleError::RoleNotForKind)
    ));
    let school = World::of_kind(OrgKind::School).await;
    school
        .lc
        .add_admin(
            &school.org,
            "sam@northwind.example",
            AdminRole::SiteManager,
            None,
            "t",
        )
        .await
        .expect("schools have site managers");
}

#[tokio::test]
async fn activity_older_than_the_retention_is_purged() {
    let w = World::new().await;
    w.lc.generate_token(&w.org, "test").await.expect("token");
    w.advance(Duration::days(89));
    w.lc.generate_token(&w.org, "test").await.expect("token");
    w.advance(Duration::days(2));
    assert_eq!(
        w.notifier
            .purge_activity(Duration::days(90))
            .await
            .expect("purge"),
        1
    );
    let left = w
        .store
        .list_activity(Some(w.org.id), None, 100)
        .await
        .expect("activity");
    assert_eq!(left.len(), 1);
}

/// Two page loads beginning an enrolment at once show the same key, so the one the
/// administrator scans is the one that confirms; a confirmed factor is not begun again.
#[tokio::test]
async fn enrolments_begun_at_once_show_one_key() {
    use directory::second_factor::{SecondFactorError, SecondFactors};
    use directory::session::Sessions;
    let w = World::new().await;
    let ann =
        w.lc.add_admin(
            &w.org,
            "ann@northwind.example",
            AdminRole::Administrator,
            None,
            "test",
        )
        .await
        .expect("admin");
    let clock: Arc<dyn Clock> = w.clock.clone();
    let factors = Arc::new(SecondFactors::new(
        w.store.clone(),
        clock.clone(),
        Sessions::new(w.store.clone(), clock),
    ));
    let mut pages = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (factors, ann, org) = (factors.clone(), ann.clone(), w.org.clone());
        pages.spawn(async move { factors.begin(&ann, &org).await.expect("begin").secret });
    }
    let mut keys = Vec::new();
    while let Some(key) = pages.join_next().await {
        keys.push(key.expect("task"));
    }
    keys.dedup();
    assert_eq!(keys.len(), 1, "one key for every page: {keys:?}");
    let stored = w
        .store
        .get_second_factor(w.org.id, ann.id)
        .await
        .expect("get")
        .expect("kept");
    assert!(stored.confirmed.is_none());
    let again = factors
        .begin(&ann, &w.org)
        .await
        .expect("begin again")
        .secret;
    assert_eq!(again, keys[0], "a later page load shows it too");
    // Confirmed, it is never begun again.
    assert!(
        w.store
            .confirm_second_factor(w.org.id, ann.id, 1, T0, &[])
            .await
            .expect("confirm")
    );
    assert!(matches!(
        factors.begin(&ann, &w.org).await,
        Err(SecondFactorError::AlreadyEnrolled)
    ));
}
