//! Administrators' sessions: sign-in with e-mail and password (Argon2id), a random 256-bit
//! session secret of which only the SHA-256 hash is kept, looked up like a SCIM token. Used by
//! the administrative API (bearer) and the console (cookie).
//!
//! Sign-in needs no organisation: the address's administrators are found in every
//! organisation ([`crate::store::AdminStore::find_admins_by_email`]) and the password is
//! checked against each. One match signs in; several give a [`SignInOutcome::Choose`] with a
//! short-lived handle (stored as [`LinkPurpose::Signin`] rows, one per matching organisation),
//! which [`Sessions::choose`] turns into a session in the chosen one only.
//!
//! Two-step verification ([`crate::second_factor`]): a correct password for an administrator
//! with a second factor opens no session yet but gives a [`SignInOutcome::SecondStep`], a
//! short-lived handle (a [`LinkPurpose::SecondStep`] row, so any instance can finish it) that
//! [`Sessions::second_step`] turns into a session with a code from the authenticator app or a
//! recovery code. Wrong codes count toward the lock-out below like wrong passwords, and the
//! failures of an address are forgotten only once a session opens. An administrator whose
//! organisation requires a second factor and who has none gets a session that is marked
//! [`SignedIn::enrol_first`]: the console sends it to enrolment, the API refuses it.
//!
//! Lock-out: [`MAX_FAILURES`] failed sign-ins for one folded e-mail address, in any
//! organisations, within [`FAILURE_WINDOW`] refuse every sign-in for that address everywhere
//! (even with the right password) for [`LOCK_DURATION`]. The count lives in the store, so
//! every instance sharing a database shares it, and every sign-in path (API and console) is
//! under it. Unknown addresses are counted like known ones, and an address with no
//! administrator still costs one password check, so neither the answer nor the lock-out tells
//! which addresses exist. Each attempt is counted before its password is checked, so
//! concurrent guesses share the budget too. Password checks run a few at a time per process
//! (see `Verifier`): a flood of sign-ins gets [`SessionError::Busy`] instead of memory and
//! the blocking pool.

use crate::clock::Clock;
use crate::ids::{OrgId, Organisation, SessionId};
use crate::lifecycle::{check_email, verify_password};
use crate::setup::MAX_PASSWORD_BYTES;
use crate::store::{
    ActivityEntry, Administrator, LinkPurpose, PasswordLink, SessionRecord, SigninThrottle, Store,
    StoreError,
};
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
/// How long the choice of organisation after a sign-in stays open.
pub const CHOICE_LIFETIME: Duration = Duration::minutes(5);
/// How long the second step of a sign-in (the code) stays open after the password.
pub const SECOND_STEP_LIFETIME: Duration = Duration::minutes(5);
/// Sign-ins that may wait for a password-check slot, per core, before more are refused.
const WAITING_PER_CORE: usize = 8;

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: SessionRecord,
    pub admin: Administrator,
    /// The organisation requires a second factor and this administrator has none: only
    /// enrolment (and signing out) is open to this session until then.
    pub enrol_first: bool,
}

/// What a sign-in with a correct password gives.
#[derive(Debug)]
pub enum SignInOutcome {
    /// The session secret (shown once) and the session.
    SignedIn(String, SignedIn),
    /// The password matched in several organisations: the caller chooses one of these with
    /// `handle` ([`Sessions::choose`], within [`CHOICE_LIFETIME`]).
    Choose {
        handle: String,
        organisations: Vec<Organisation>,
    },
    /// The administrator has a second factor: the session opens when a code is given with
    /// `handle` ([`Sessions::second_step`], within [`SECOND_STEP_LIFETIME`]).
    SecondStep {
        handle: String,
        admin: Administrator,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown organisation, unknown e-mail, no password set, or a wrong password: the caller
    /// learns no more than that.
    #[error("the e-mail address or password is not correct")]
    BadCredentials,
    #[error("the session is missing, expired or signed out")]
    NoSession,
    /// The choice of organisation is unknown, used, expired, or names an organisation the
    /// password did not match.
    #[error("this sign-in has expired or was already used: sign in again")]
    InvalidChoice,
    /// The code of a second step is wrong, malformed or was already used.
    #[error("the code is not correct, or was already used")]
    WrongCode,
    /// The password is right, and the administrator has two-step verification: a code is
    /// needed as well (the API's sign-in without its `code`).
    #[error(
        "this administrator has two-step verification: repeat the sign-in with \"code\" set to the current code of the authenticator app, or to a recovery code"
    )]
    CodeRequired,
    /// The organisation requires two-step verification and this administrator has none yet.
    #[error(
        "the organisation requires two-step verification: set it up in the console (Settings) before using this"
    )]
    EnrolmentRequired,
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

    /// Signs an administrator in by address and password, in `org` only when one is given
    /// (the API's optional parameter); otherwise in whichever organisations the password
    /// matches (see the module documentation).
    ///
    /// The attempt is counted before the password is checked, in one atomic step of the store,
    /// so guesses sent together cannot all slip in under the lock-out: at most
    /// [`MAX_FAILURES`] of them are ever verified, and a correct password forgets the count.
    /// The check itself waits for one of a few verification slots (Argon2id costs about 19 MiB
    /// and tens of milliseconds of CPU each); when too many sign-ins already wait, it is
    /// refused with [`SessionError::Busy`] without being counted.
    pub async fn sign_in(
        &self, org: Option<OrgId>, email: &str, password: &str,
    ) -> Result<SignInOutcome, SessionError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(SessionError::PasswordTooLong);
        }
        // No address can have this form: refused without a password check, and without an
        // activity entry that a stranger could fill with whatever they like.
        let Ok(email) = check_email(email) else {
            return Err(SessionError::BadCredentials);
        };
        let key = email.to_lowercase();
        let admission = self.admit()?;
        let now = self.clock.now();
        // Every organisation of the address hears of a lock-out; failures, where tried.
        let everywhere = self.store.find_admins_by_email(&key).await?;
        let candidates: Vec<Administrator> = everywhere
            .iter()
            .filter(|a| org.is_none_or(|o| a.org_id == o))
            .cloned()
            .collect();
        let attempt = self.count_attempt(&key, now, &everywhere, email).await?;
        let hashes = candidates.iter().map(|a| a.password_hash.clone()).collect();
        let matches = self
            .verifier
            .verify_all(hashes, password.to_owned(), admission)
            .await;
        let matched: Vec<Administrator> = candidates
            .iter()
            .zip(matches)
            .filter(|(_, ok)| *ok)
            .map(|(a, _)| a.clone())
            .collect();
        if matched.is_empty() {
            for a in &candidates {
                self.note(a.org_id, "signin.failed", email).await;
            }
            if attempt.failures >= MAX_FAILURES {
                self.store.lock_signin(&key, now + LOCK_DURATION).await?;
                for a in &everywhere {
                    self.note(a.org_id, "signin.lockout", email).await;
                }
            }
            return Err(SessionError::BadCredentials);
        }
        if let [admin] = matched.as_slice() {
            return self.proceed(admin.clone()).await;
        }
        // The failures are forgotten when a session can follow the choice without a code.
        let mut any_factor = false;
        for a in &matched {
            any_factor |= self.has_factor(a).await?;
        }
        if !any_factor {
            self.store.clear_signin_failures(&key).await?;
        }
        let handle = random_secret().map_err(SessionError::Random)?;
        let mut organisations = Vec::with_capacity(matched.len());
        for admin in &matched {
            let Some(o) = self.store.get_org(admin.org_id).await? else {
                continue;
            };
            self.store
                .insert_password_link(&PasswordLink {
                    org_id: admin.org_id,
                    hash: hash_secret(&handle),
                    purpose: LinkPurpose::Signin,
                    admin_id: Some(admin.id),
                    created: now,
                    expires: now + CHOICE_LIFETIME,
                    used: None,
                })
                .await?;
            organisations.push(o);
        }
        Ok(SignInOutcome::Choose {
            handle,
            organisations,
        })
    }

    /// Finishes a sign-in whose password matched in several organisations: `handle` (from
    /// [`SignInOutcome::Choose`]) signs in to `org` once, and only where it matched.
    pub async fn choose(&self, handle: &str, org: OrgId) -> Result<SignInOutcome, SessionError> {
        let now = self.clock.now();
        let hash = hash_secret(handle);
        let link = self
            .store
            .find_password_link(org, &hash)
            .await?
            .filter(|l| l.purpose == LinkPurpose::Signin && l.used.is_none() && l.expires > now)
            .ok_or(SessionError::InvalidChoice)?;
        if !self
            .store
            .use_password_link(org, &hash, LinkPurpose::Signin, now)
            .await?
        {
            return Err(SessionError::InvalidChoice);
        }
        let admin = self
            .store
            .list_admins(org)
            .await?
            .into_iter()
            .find(|a| Some(a.id) == link.admin_id)
            .ok_or(SessionError::InvalidChoice)?;
        self.proceed(admin).await
    }

    /// Whether the administrator has a confirmed second factor.
    async fn has_factor(&self, admin: &Administrator) -> Result<bool, StoreError> {
        Ok(self
            .store
            .get_second_factor(admin.org_id, admin.id)
            .await?
            .is_some_and(|f| f.confirmed.is_some()))
    }

    /// After an administrator's password (or password link) was proven: a session, or the
    /// second step when they have a second factor.
    pub(crate) async fn proceed(
        &self, admin: Administrator,
    ) -> Result<SignInOutcome, SessionError> {
        if !self.has_factor(&admin).await? {
            self.store
                .clear_signin_failures(&admin.email.to_lowercase())
                .await?;
            let (secret, signed) = self.open(admin).await?;
            return Ok(SignInOutcome::SignedIn(secret, signed));
        }
        let handle = random_secret().map_err(SessionError::Random)?;
        let now = self.clock.now();
        self.store
            .insert_password_link(&PasswordLink {
                org_id: admin.org_id,
                hash: hash_secret(&handle),
                purpose: LinkPurpose::SecondStep,
                admin_id: Some(admin.id),
                created: now,
                expires: now + SECOND_STEP_LIFETIME,
                used: None,
            })
            .await?;
        Ok(SignInOutcome::SecondStep { handle, admin })
    }

    /// Finishes a sign-in's second step: `handle` (from [`SignInOutcome::SecondStep`]) with
    /// a current code of the authenticator app, or an unused recovery code, opens a session
    /// once. The attempt counts toward the address's lock-out like a password; a code works
    /// once (its time step must be later than the last one accepted), and a recovery code
    /// is spent (logged).
    pub async fn second_step(
        &self, org: OrgId, handle: &str, code: &str,
    ) -> Result<(String, SignedIn), SessionError> {
        let now = self.clock.now();
        let hash = hash_secret(handle);
        let link = self
            .store
            .find_password_link(org, &hash)
            .await?
            .filter(|l| l.purpose == LinkPurpose::SecondStep && l.used.is_none() && l.expires > now)
            .ok_or(SessionError::InvalidChoice)?;
        let admin = self
            .store
            .list_admins(org)
            .await?
            .into_iter()
            .find(|a| Some(a.id) == link.admin_id)
            .ok_or(SessionError::InvalidChoice)?;
        let key = admin.email.to_lowercase();
        let attempt = self
            .count_attempt(&key, now, std::slice::from_ref(&admin), &admin.email)
            .await?;
        let accepted =
            crate::second_factor::use_code(self.store.as_ref(), now, &admin, code).await?;
        let Some(accepted) = accepted else {
            self.note(org, "signin.2fa.failed", &admin.email).await;
            if attempt.failures >= MAX_FAILURES {
                self.store.lock_signin(&key, now + LOCK_DURATION).await?;
                self.note(org, "signin.lockout", &admin.email).await;
            }
            return Err(SessionError::WrongCode);
        };
        if !self
            .store
            .use_password_link(org, &hash, LinkPurpose::SecondStep, now)
            .await?
        {
            return Err(SessionError::InvalidChoice);
        }
        self.store.clear_signin_failures(&key).await?;
        if accepted == crate::second_factor::Accepted::Recovery {
            let left = self.store.recovery_codes_left(org, admin.id).await?;
            let entry = ActivityEntry::act(
                org,
                now,
                &format!("admin:{}", admin.email),
                "admin.2fa.recovery.used",
                &admin.email,
            )
            .with_detail(Some(format!("{left} recovery code(s) left")));
            if let Err(e) = self.store.append_activity(vec![entry]).await {
                tracing::error!(error = %e, "cannot record a recovery code's use");
            }
        }
        self.open(admin).await
    }

    /// The administrator a live second step is for (to name them on its page).
    pub async fn pending_second_step(
        &self, org: OrgId, handle: &str,
    ) -> Result<Option<Administrator>, SessionError> {
        let now = self.clock.now();
        let Some(link) = self
            .store
            .find_password_link(org, &hash_secret(handle))
            .await?
            .filter(|l| {
                l.purpose == LinkPurpose::SecondStep && l.used.is_none() && l.expires > now
            })
        else {
            return Ok(None);
        };
        Ok(self
            .store
            .list_admins(org)
            .await?
            .into_iter()
            .find(|a| Some(a.id) == link.admin_id))
    }

    /// Counts a code check of a signed-in administrator (Settings) toward the address's
    /// lock-out, before the code is checked; refused when the address is locked.
    pub(crate) async fn count_code_attempt(
        &self, admin: &Administrator,
    ) -> Result<SigninThrottle, SessionError> {
        let key = admin.email.to_lowercase();
        self.count_attempt(
            &key,
            self.clock.now(),
            std::slice::from_ref(admin),
            &admin.email,
        )
        .await
    }

    /// Settles a counted code check: a right code forgets the failures, the last wrong one
    /// of the budget locks the address.
    pub(crate) async fn settle_code_attempt(
        &self, admin: &Administrator, attempt: SigninThrottle, ok: bool,
    ) -> Result<(), SessionError> {
        let key = admin.email.to_lowercase();
        if ok {
            self.store.clear_signin_failures(&key).await?;
        } else if attempt.failures >= MAX_FAILURES {
            self.store
                .lock_signin(&key, self.clock.now() + LOCK_DURATION)
                .await?;
            self.note(admin.org_id, "signin.lockout", &admin.email)
                .await;
        }
        Ok(())
    }

    /// Whether the administrator must enrol a second factor before anything else: their
    /// organisation requires one and they have none.
    async fn enrolment_due(&self, admin: &Administrator) -> Result<bool, StoreError> {
        Ok(self.store.second_factor_required(admin.org_id).await?
            && !self.has_factor(admin).await?)
    }

    /// Checks an administrator's current password (changing one's own password), under the
    /// same lock-out and verification slots as a sign-in.
    pub(crate) async fn recheck(
        &self, admin: &Administrator, password: &str,
    ) -> Result<bool, SessionError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(SessionError::PasswordTooLong);
        }
        let key = admin.email.to_lowercase();
        let admission = self.admit()?;
        let now = self.clock.now();
        let attempt = self
            .count_attempt(&key, now, std::slice::from_ref(admin), &admin.email)
            .await?;
        let ok = self
            .verifier
            .verify_all(
                vec![admin.password_hash.clone()],
                password.to_owned(),
                admission,
            )
            .await
            .first()
            .copied()
            .unwrap_or(false);
        if ok {
            self.store.clear_signin_failures(&key).await?;
        } else if attempt.failures >= MAX_FAILURES {
            self.store.lock_signin(&key, now + LOCK_DURATION).await?;
        }
        Ok(ok)
    }

    fn admit(&self) -> Result<OwnedSemaphorePermit, SessionError> {
        self.verifier
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| SessionError::Busy)
    }

    /// Counts one attempt for the address; refuses it when the address is locked.
    async fn count_attempt(
        &self, key: &str, now: time::OffsetDateTime, candidates: &[Administrator], email: &str,
    ) -> Result<SigninThrottle, SessionError> {
        let t = self
            .store
            .note_signin_failure(key, now, now - FAILURE_WINDOW)
            .await?;
        let locked = match t.locked_until.filter(|u| *u > now) {
            Some(until) => Some(until),
            // Guesses beyond the budget that were sent before the lock was set.
            None if t.failures > MAX_FAILURES => {
                let until = now + LOCK_DURATION;
                self.store.lock_signin(key, until).await?;
                Some(until)
            }
            None => None,
        };
        if let Some(until) = locked {
            for a in candidates {
                self.note(a.org_id, "signin.locked", email).await;
            }
            return Err(SessionError::LockedOut(until));
        }
        Ok(t)
    }

    /// Opens a session for an administrator whose credentials were checked (a password, or a
    /// password link just used).
    pub(crate) async fn open(
        &self, admin: Administrator,
    ) -> Result<(String, SignedIn), SessionError> {
        let now = self.clock.now();
        let secret = format!(
            "{SESSION_PREFIX}{}",
            random_secret().map_err(SessionError::Random)?
        );
        let session = SessionRecord {
            org_id: admin.org_id,
            id: SessionId::new(),
            hash: hash_secret(&secret),
            admin_id: admin.id,
            created: now,
            expires: now + SESSION_LIFETIME,
        };
        self.store.insert_session(&session).await?;
        self.note(admin.org_id, "signin", &admin.email).await;
        let enrol_first = self.enrolment_due(&admin).await?;
        Ok((
            secret,
            SignedIn {
                session,
                admin,
                enrol_first,
            },
        ))
    }

    /// Starts a session for an administrator whose identity was just proven another way (the
    /// set-up link that created them); logged as a sign-in.
    pub async fn start(&self, admin: Administrator) -> Result<(String, SignedIn), SessionError> {
        self.open(admin).await
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
        let enrol_first = self.enrolment_due(&admin).await?;
        Ok(SignedIn {
            session,
            admin,
            enrol_first,
        })
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

    /// Verifies `password` against each hash, on the blocking pool once a slot is free.
    /// Without any hash a dummy verification still runs, and an administrator without a
    /// password costs one too, so an unknown address takes as long as a wrong password.
    async fn verify_all(
        &self, hashes: Vec<Option<String>>, password: String, _admitted: OwnedSemaphorePermit,
    ) -> Vec<bool> {
        let n = hashes.len();
        let Ok(_slot) = self.running.acquire().await else {
            return vec![false; n];
        };
        tokio::task::spawn_blocking(move || {
            if hashes.is_empty() {
                let _ = verify_password(&password, dummy_hash());
            }
            hashes
                .iter()
                .map(|h| match h {
                    Some(h) => verify_password(&password, h),
                    None => {
                        let _ = verify_password(&password, dummy_hash());
                        false
                    }
                })
                .collect()
        })
        .await
        .unwrap_or_else(|_| vec![false; n])
    }
}

/// 256 random bits, base64url: a session, link or handle secret.
pub(crate) fn random_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// An Argon2id hash of a password nobody types (made once, with a random salt).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        crate::lifecycle::hash_password("\u{0}no such administrator\u{0}").unwrap_or_default()
    })
}
