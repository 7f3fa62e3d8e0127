//! Administrators' sessions: sign-in with e-mail and password (Argon2id) for one organisation,
//! a random 256-bit session secret of which only the SHA-256 hash is kept, looked up like a
//! SCIM token. Used by the administrative API (bearer) and the console (cookie).
//!
//! Lock-out: [`MAX_FAILURES`] failed sign-ins for one e-mail address of one organisation
//! within [`FAILURE_WINDOW`] refuse every sign-in for that address (even with the right
//! password) for [`LOCK_DURATION`]. The count lives in the store, so every instance sharing a
//! database shares it, and every sign-in path (API and console) is under it. Unknown addresses
//! are counted like known ones, so the lock-out tells nobody which addresses exist. Each
//! attempt is counted before its password is checked, so concurrent guesses share the budget
//! too. Password checks run a few at a time per process (see `Verifier`): a flood of sign-ins
//! gets [`SessionError::Busy`] instead of memory and the blocking pool.

use crate::clock::Clock;
use crate::ids::{OrgId, SessionId};
use crate::lifecycle::{check_email, verify_password};
use crate::setup::MAX_PASSWORD_BYTES;
use crate::store::{ActivityEntry, Administrator, SessionRecord, Store, StoreError};
use crate::token::hash_secret;
use base64::Engine;
use std::sync::Arc;
use time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// Every session secret starts with this (SCIM tokens start with `scimd_`).
pub const SESSION_PREFIX: &str = "scimds_";
/// Failed sign-ins for one address within [`FAILURE_WINDOW`] that lock it.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::minutes(15);
/// How long a locked address is refused.
pub const LOCK_DURATION: Duration = Duration::minutes(15);
/// Sign-ins that may wait for a password-check slot, per core, before more are refused.
const WAITING_PER_CORE: usize = 8;

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: SessionRecord,
    pub admin: Administrator,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown organisation, unknown e-mail, no password set, or a wrong password: the caller
    /// learns no more than that.
    #[error("the e-mail address or password is not correct")]
    BadCredentials,
    #[error("the session is missing, expired or signed out")]
    NoSession,
    /// Too many failed sign-ins for the address: refused until then, whatever the password.
    #[error(
        "too many failed sign-ins for this e-mail address: try again after {} UTC",
        hh_mm(*.0)
    )]
    LockedOut(time::OffsetDateTime),
    /// More sign-ins are being checked than the server takes at once: retry shortly.
    #[error("too many sign-ins are being checked at once; retry in a moment")]
    Busy,
    /// Refused before any check: no password of the policy is this long.
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes long")]
    PasswordTooLong,
    #[error("no randomness available: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone)]
pub struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    verifier: Arc<Verifier>,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Sessions {
            store,
            clock,
            verifier: Arc::new(Verifier::new()),
        }
    }

    /// Signs an administrator in; returns the session secret (shown once) and the session.
    ///
    /// The attempt is counted before the password is checked, in one atomic step of the store,
    /// so guesses sent together cannot all slip in under the lock-out: at most
    /// [`MAX_FAILURES`] of them are ever verified, and a correct password forgets the count.
    /// The check itself waits for one of a few verification slots (Argon2id costs about 19 MiB
    /// and tens of milliseconds of CPU each); when too many sign-ins already wait, it is
    /// refused with [`SessionError::Busy`] without being counted.
    pub async fn sign_in(
        &self,
        org: OrgId,
        email: &str,
        password: &str,
    ) -> Result<(String, SignedIn), SessionError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(SessionError::PasswordTooLong);
        }
        // No address can have this form: refused without a password check, and without an
        // activity entry that a stranger could fill with whatever they like.
        let Ok(email) = check_email(email) else {
            return Err(SessionError::BadCredentials);
        };
        let key = email.to_lowercase();
        let admission = self
            .verifier
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| SessionError::Busy)?;
        let now = self.clock.now();
        // Only a known organisation keeps counts and activity (its id is the key's first part).
        let org_known = self.store.get_org(org).await?.is_some();
        let attempt = if org_known {
            let t = self
                .store
                .note_signin_failure(org, &key, now, now - FAILURE_WINDOW)
                .await?;
            let locked = match t.locked_until.filter(|u| *u > now) {
                Some(until) => Some(until),
                // Guesses beyond the budget that were sent before the lock was set.
                None if t.failures > MAX_FAILURES => {
                    let until = now + LOCK_DURATION;
                    self.store.lock_signin(org, &key, until).await?;
                    Some(until)
                }
                None => None,
            };
            if let Some(until) = locked {
                self.note(org, "signin.locked", email).await;
                return Err(SessionError::LockedOut(until));
            }
            Some(t)
        } else {
            None
        };
        let admin = self
            .store
            .list_admins(org)
            .await?
            .into_iter()
            .find(|a| a.email.to_lowercase() == key);
        let hash = admin.as_ref().and_then(|a| a.password_hash.clone());
        let ok = self
            .verifier
            .verify(hash, password.to_owned(), admission)
            .await;
        let (Some(admin), true) = (admin, ok) else {
            if let Some(t) = attempt {
                self.note(org, "signin.failed", email).await;
                if t.failures >= MAX_FAILURES {
                    self.store
                        .lock_signin(org, &key, now + LOCK_DURATION)
                        .await?;
                    self.note(org, "signin.lockout", email).await;
                }
            }
            return Err(SessionError::BadCredentials);
        };
        self.store.clear_signin_failures(org, &key).await?;
        self.start(admin).await
    }

    /// Starts a session for an administrator whose identity was just proven another way (the
    /// set-up link that created them); logged as a sign-in.
    pub async fn start(&self, admin: Administrator) -> Result<(String, SignedIn), SessionError> {
        let now = self.clock.now();
        let org = admin.org_id;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SessionError::Random(e.to_string()))?;
        let secret = format!(
            "{SESSION_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let session = SessionRecord {
            org_id: org,
            id: SessionId::new(),
            hash: hash_secret(&secret),
            admin_id: admin.id,
            created: now,
            expires: now + SESSION_LIFETIME,
        };
        self.store.insert_session(&session).await?;
        self.note(org, "signin", &admin.email).await;
        Ok((secret, SignedIn { session, admin }))
    }

    /// The administrator behind a session secret, if the session is live.
    pub async fn authenticate(&self, secret: &str) -> Result<SignedIn, SessionError> {
        if !secret.starts_with(SESSION_PREFIX) {
            return Err(SessionError::NoSession);
        }
        let session = self
            .store
            .find_session_by_hash(&hash_secret(secret))
            .await?
            .filter(|s| s.expires > self.clock.now())
            .ok_or(SessionError::NoSession)?;
        let admin = self
            .store
            .list_admins(session.org_id)
            .await?
            .into_iter()
            .find(|a| a.id == session.admin_id)
            .ok_or(SessionError::NoSession)?;
        Ok(SignedIn { session, admin })
    }

    pub async fn sign_out(&self, s: &SignedIn) -> Result<(), SessionError> {
        self.store
            .delete_session(s.session.org_id, s.session.id)
            .await?;
        self.note(s.session.org_id, "signout", &s.admin.email).await;
        Ok(())
    }

    async fn note(&self, org: OrgId, action: &str, who: &str) {
        let entry = ActivityEntry::act(org, self.clock.now(), &format!("admin:{who}"), action, who);
        if let Err(e) = self.store.append_activity(vec![entry]).await {
            tracing::error!(error = %e, "cannot record a sign-in");
        }
    }
}

fn hh_mm(t: time::OffsetDateTime) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// Bounds the password checks of one process: Argon2id costs about 19 MiB and tens of
/// milliseconds of CPU each, on the blocking pool that SQLite reads share, so an unbounded
/// number of sign-ins (which anyone can send) would starve every tenant's requests.
#[derive(Debug)]
struct Verifier {
    /// Checks running at once: about one per core.
    running: Arc<Semaphore>,
    /// Sign-ins admitted at once, running or waiting for a slot; more are refused (busy).
    admission: Arc<Semaphore>,
}

impl Verifier {
    fn new() -> Verifier {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Verifier {
            running: Arc::new(Semaphore::new(cores)),
            admission: Arc::new(Semaphore::new(cores * WAITING_PER_CORE)),
        }
    }

    /// Verifies on the blocking pool once a slot is free. Without a hash a dummy verification
    /// still runs, so an unknown address takes as long as a wrong password.
    async fn verify(
        &self,
        hash: Option<String>,
        password: String,
        _admitted: OwnedSemaphorePermit,
    ) -> bool {
        let Ok(_slot) = self.running.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || match hash {
            Some(h) => verify_password(&password, &h),
            None => {
                let _ = verify_password(&password, dummy_hash());
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// An Argon2id hash of a password nobody types (made once, with a random salt).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        crate::lifecycle::hash_password("\u{0}no such administrator\u{0}").unwrap_or_default()
    })
}
