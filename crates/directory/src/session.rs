//! Administrators' sessions: sign-in with e-mail and password (Argon2id) for one organisation,
//! a random 256-bit session secret of which only the SHA-256 hash is kept, looked up like a
//! SCIM token. Used by the administrative API (bearer) and the console (cookie).
//!
//! Lock-out: [`MAX_FAILURES`] failed sign-ins for one e-mail address of one organisation
//! within [`FAILURE_WINDOW`] refuse every sign-in for that address (even with the right
//! password) for [`LOCK_DURATION`]. The count lives in the store, so every instance sharing a
//! database shares it, and every sign-in path (API and console) is under it. Unknown addresses
//! are counted like known ones, so the lock-out tells nobody which addresses exist.

use crate::clock::Clock;
use crate::ids::{OrgId, SessionId};
use crate::lifecycle::verify_password;
use crate::store::{ActivityEntry, Administrator, SessionRecord, Store, StoreError};
use crate::token::hash_secret;
use base64::Engine;
use std::sync::Arc;
use time::Duration;

/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// Every session secret starts with this (SCIM tokens start with `scimd_`).
pub const SESSION_PREFIX: &str = "scimds_";
/// Failed sign-ins for one address within [`FAILURE_WINDOW`] that lock it.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::minutes(15);
/// How long a locked address is refused.
pub const LOCK_DURATION: Duration = Duration::minutes(15);

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
    #[error("no randomness available: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone)]
pub struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Sessions { store, clock }
    }

    /// Signs an administrator in; returns the session secret (shown once) and the session.
    /// The password check is slow on purpose (Argon2id): run it off the async threads.
    pub async fn sign_in(
        &self,
        org: OrgId,
        email: &str,
        password: &str,
    ) -> Result<(String, SignedIn), SessionError> {
        let key = email.trim().to_lowercase();
        let now = self.clock.now();
        // Only a known organisation keeps counts (its id is the key's first part).
        let org_known = self.store.get_org(org).await?.is_some();
        let throttle = if org_known {
            self.store.signin_throttle(org, &key).await?
        } else {
            None
        };
        if let Some(until) = throttle.and_then(|t| t.locked_until).filter(|u| *u > now) {
            self.note(org, "signin.locked", email.trim()).await;
            return Err(SessionError::LockedOut(until));
        }
        let admin = self
            .store
            .list_admins(org)
            .await?
            .into_iter()
            .find(|a| a.email.to_lowercase() == key);
        let hash = admin.as_ref().and_then(|a| a.password_hash.clone());
        let password = password.to_owned();
        let ok = verify_off_thread(hash, password).await;
        let (Some(admin), true) = (admin, ok) else {
            self.note(org, "signin.failed", email.trim()).await;
            if org_known {
                let t = self
                    .store
                    .note_signin_failure(org, &key, now, now - FAILURE_WINDOW)
                    .await?;
                if t.failures >= MAX_FAILURES {
                    self.store
                        .lock_signin(org, &key, now + LOCK_DURATION)
                        .await?;
                    self.note(org, "signin.lockout", email.trim()).await;
                }
            }
            return Err(SessionError::BadCredentials);
        };
        if throttle.is_some() {
            self.store.clear_signin_failures(org, &key).await?;
        }
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

/// Verifies on the blocking pool: Argon2id takes tens of milliseconds of CPU. Without a hash
/// a dummy verification still runs, so an unknown address takes as long as a wrong password.
async fn verify_off_thread(hash: Option<String>, password: String) -> bool {
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

/// An Argon2id hash of a password nobody types (made once, with a random salt).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        crate::lifecycle::hash_password("\u{0}no such administrator\u{0}").unwrap_or_default()
    })
}
