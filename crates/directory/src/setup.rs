//! The first administrator of an organisation (`scimd serve` prints a one-time link that
//! creates it), and the password rule for administrators.
//!
//! A set-up link carries 256 random bits; only their SHA-256 hash is stored, keyed by the
//! organisation. A link works while it is unused, unexpired ([`LINK_LIFETIME`]) and the
//! organisation has no administrator; marking it used is one conditional write, so of two
//! requests racing with one link exactly one creates an administrator.

use crate::clock::Clock;
use crate::ids::{OrgId, OrgKind, Organisation};
use crate::lifecycle::{Lifecycle, LifecycleError, check_email};
use crate::organisation::check_name;
use crate::store::{AdminRole, Administrator, LinkPurpose, PasswordLink, Store, StoreError};
use crate::token::hash_secret;
use std::sync::Arc;
use time::Duration;

/// How long a set-up link works.
pub const LINK_LIFETIME: Duration = Duration::hours(24);
/// Shortest password an administrator may choose in the console.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password: Argon2 cost grows with it, so a huge one is refused before hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Unknown, used or expired; the caller learns no more than that.
    #[error("this set-up link is not valid: it was already used, has expired, or never existed")]
    InvalidLink,
    #[error("this organisation already has an administrator: sign in instead")]
    AlreadySetUp,
    #[error("{0}")]
    Password(String),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why `password` cannot be an administrator's password, if it cannot.
pub fn password_problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Some(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters long"
        ))
    } else if password.len() > MAX_PASSWORD_BYTES {
        Some(format!(
            "the password must be at most {MAX_PASSWORD_BYTES} bytes long"
        ))
    } else {
        None
    }
}

/// What the set-up page asks: the organisation's name and kind, and the first administrator.
#[derive(Debug, Clone, Copy)]
pub struct FirstRun<'a> {
    pub org_name: &'a str,
    pub kind: OrgKind,
    pub email: &'a str,
    pub password: &'a str,
}

/// Set-up links and administrators with passwords.
#[derive(Debug, Clone)]
pub struct Setup {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    lifecycle: Lifecycle,
}

impl Setup {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Setup {
            lifecycle: Lifecycle::new(store.clone(), clock.clone()),
            store,
            clock,
        }
    }

    /// Whether the organisation still has no administrator.
    pub async fn needs_first_admin(&self, org: OrgId) -> Result<bool, StoreError> {
        Ok(self.store.list_admins(org).await?.is_empty())
    }

    /// Makes a new link; returns its secret (the last part of the URL), shown once.
    pub async fn create_link(&self, org: OrgId) -> Result<String, SetupError> {
        let secret = crate::session::random_secret().map_err(LifecycleError::Random)?;
        let now = self.clock.now();
        self.store
            .insert_password_link(&PasswordLink {
                org_id: org,
                hash: hash_secret(&secret),
                purpose: LinkPurpose::Setup,
                admin_id: None,
                created: now,
                expires: now + LINK_LIFETIME,
                used: None,
            })
            .await?;
        Ok(secret)
    }

    /// Whether `secret` is a working link of `org` now.
    pub async fn check(&self, org: OrgId, secret: &str) -> Result<(), SetupError> {
        let now = self.clock.now();
        self.store
            .find_password_link(org, &hash_secret(secret))
            .await?
            .filter(|l| l.purpose == LinkPurpose::Setup && l.used.is_none() && l.expires > now)
            .ok_or(SetupError::InvalidLink)?;
        if !self.needs_first_admin(org).await? {
            return Err(SetupError::AlreadySetUp);
        }
        Ok(())
    }

    /// Uses the link once to name the organisation, choose its kind and create its first
    /// administrator (role `administrator`, Argon2id password). Input is checked before the
    /// link is spent; the kind may change only while the organisation has no accounts.
    pub async fn redeem(
        &self, org: &Organisation, secret: &str, first: &FirstRun<'_>,
    ) -> Result<(Administrator, Organisation), SetupError> {
        self.check(org.id, secret).await?;
        let email = check_email(first.email)?;
        if let Some(p) = password_problem(first.password) {
            return Err(SetupError::Password(p));
        }
        let name = check_name(first.org_name)?;
        if first.kind != org.kind && self.lifecycle.has_accounts(org.id).await? {
            return Err(LifecycleError::KindLocked.into());
        }
        if !self
            .store
            .use_password_link(
                org.id,
                &hash_secret(secret),
                LinkPurpose::Setup,
                self.clock.now(),
            )
            .await?
        {
            return Err(SetupError::InvalidLink);
        }
        let org = self
            .lifecycle
            .update_org(org.id, name, first.kind, "setup-link")
            .await?;
        // Argon2id runs here, on this task: a set-up happens once per organisation.
        let admin = self
            .lifecycle
            .add_admin(
                &org,
                email,
                AdminRole::Administrator,
                Some(first.password),
                "setup-link",
            )
            .await?;
        Ok((admin, org))
    }

    /// Adds an administrator with a password (the console's Settings page).
    pub async fn add_admin(
        &self, org: &Organisation, email: &str, role: AdminRole, password: &str, actor: &str,
    ) -> Result<Administrator, SetupError> {
        if let Some(p) = password_problem(password) {
            return Err(SetupError::Password(p));
        }
        Ok(self
            .lifecycle
            .add_admin(org, email, role, Some(password), actor)
            .await?)
    }
}
