//! Passwords an administrator sets through a one-time link (a forgotten password, an
//! invitation), and changing one's own password.
//!
//! A link carries 256 random bits; only their SHA-256 hash is stored, as a
//! [`PasswordLink`] of purpose reset ([`RESET_LIFETIME`]) or invite ([`INVITE_LIFETIME`]) in
//! the administrator's organisation, which its path names (`/password/{org}/{secret}`). Using
//! it is one conditional write, so of racing requests exactly one sets a password. Setting
//! the password ends the administrator's sessions and lifts the lock-out of its address (one
//! store transaction), is logged, and signs the person in.
//!
//! The forgotten-password form answers the same whatever the address: its work
//! ([`Passwords::request_reset`]) runs after the answer, in the background.

use crate::clock::Clock;
use crate::ids::{OrgId, Organisation};
use crate::lifecycle::{Lifecycle, LifecycleError, check_email, hash_password};
use crate::notify::{Mail, Mailer};
use crate::session::{SessionError, Sessions, SignInOutcome, SignedIn, random_secret};
use crate::setup::password_problem;
use crate::store::{
    ActivityEntry, AdminRole, Administrator, LinkPurpose, PasswordLink, Store, StoreError,
};
use crate::token::hash_secret;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// How long a forgotten-password link works.
pub const RESET_LIFETIME: Duration = Duration::hours(1);
/// How long an invitation works.
pub const INVITE_LIFETIME: Duration = Duration::days(7);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Unknown, used, expired, or its administrator is gone; the caller learns no more.
    #[error("this link is not valid: it was already used, has expired, or never existed")]
    InvalidLink,
    #[error("the current password is not correct")]
    WrongPassword,
    #[error("{0}")]
    Weak(String),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A link just made; its secret is shown or sent once.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub org: Organisation,
    pub admin: Administrator,
    pub purpose: LinkPurpose,
    pub secret: String,
    pub expires: OffsetDateTime,
}

impl IssuedLink {
    /// The link under the console's origin (`https://host`).
    pub fn url(&self, origin: &str) -> String {
        format!(
            "{}/password/{}/{}",
            origin.trim_end_matches('/'),
            self.org.id,
            self.secret
        )
    }

    /// The e-mail that carries the link.
    pub fn mail(&self, origin: &str) -> Mail {
        let url = self.url(origin);
        let (subject, body) = match self.purpose {
            LinkPurpose::Invite => (
                format!("You are invited to administer {} in scimd", self.org.name),
                format!(
                    "You were added as an administrator ({}) of {} in scimd.\n\n\
                     Choose your password with this link (it works once, for 7 days):\n{url}\n",
                    self.admin.role.as_str(),
                    self.org.name
                ),
            ),
            _ => (
                format!("Reset your scimd password for {}", self.org.name),
                format!(
                    "Someone asked to reset the password of {} for {} in scimd.\n\n\
                     Set a new password with this link (it works once, for 1 hour):\n{url}\n\n\
                     If you did not ask for this, ignore this message: your password is unchanged.\n",
                    self.admin.email, self.org.name
                ),
            ),
        };
        Mail {
            to: vec![self.admin.email.clone()],
            subject,
            body,
        }
    }
}

/// What a working link is for, to show on its page.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub org: Organisation,
    pub email: String,
    pub purpose: LinkPurpose,
}

/// Reset and invitation links, and password changes.
#[derive(Debug, Clone)]
pub struct Passwords {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    lifecycle: Lifecycle,
    sessions: Sessions,
}

impl Passwords {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, sessions: Sessions) -> Self {
        Passwords {
            lifecycle: Lifecycle::new(store.clone(), clock.clone()),
            store,
            clock,
            sessions,
        }
    }

    async fn record(&self, org: OrgId, actor: &str, action: &str, target: &str) {
        let entry = ActivityEntry::act(org, self.clock.now(), actor, action, target);
        if let Err(e) = self.store.append_activity(vec![entry]).await {
            tracing::error!(error = %e, action, "cannot record a password act");
        }
    }

    async fn issue(
        &self, org: Organisation, admin: Administrator, purpose: LinkPurpose,
    ) -> Result<IssuedLink, PasswordError> {
        let secret = random_secret().map_err(LifecycleError::Random)?;
        let now = self.clock.now();
        let expires = now
            + match purpose {
                LinkPurpose::Invite => INVITE_LIFETIME,
                _ => RESET_LIFETIME,
            };
        self.store
            .insert_password_link(&PasswordLink {
                org_id: org.id,
                hash: hash_secret(&secret),
                purpose,
                admin_id: Some(admin.id),
                created: now,
                expires,
                used: None,
            })
            .await?;
        Ok(IssuedLink {
            org,
            admin,
            purpose,
            secret,
            expires,
        })
    }

    /// A reset link for one administrator (`scimd admin reset-password`), logged.
    pub async fn issue_reset(
        &self, org: OrgId, email: &str, actor: &str,
    ) -> Result<IssuedLink, PasswordError> {
        let key = email.trim().to_lowercase();
        let o = self.store.get_org(org).await?.ok_or(StoreError::NotFound)?;
        let admin = self
            .store
            .list_admins(org)
            .await?
            .into_iter()
            .find(|a| a.email.to_lowercase() == key)
            .ok_or_else(|| LifecycleError::UnknownAdmin(email.trim().to_owned()))?;
        let target = admin.email.clone();
        let link = self.issue(o, admin, LinkPurpose::Reset).await?;
        self.record(org, actor, "admin.password.reset-link", &target)
            .await;
        Ok(link)
    }

    /// The forgotten-password form's work, run after its (identical) answer: one reset link
    /// per organisation where the address is an administrator, e-mailed through `mailer`.
    /// Without a mailer nothing is made (the log says why). Returns how many were sent.
    pub async fn request_reset(
        &self, email: &str, origin: &str, mailer: Option<&dyn Mailer>,
    ) -> Result<usize, PasswordError> {
        let Some(mailer) = mailer else {
            tracing::warn!("a forgotten-password e-mail was asked for, but SMTP is not configured");
            return Ok(0);
        };
        let Ok(email) = check_email(email) else {
            return Ok(0);
        };
        let mut sent = 0;
        for admin in self
            .store
            .find_admins_by_email(&email.to_lowercase())
            .await?
        {
            let Some(o) = self.store.get_org(admin.org_id).await? else {
                continue;
            };
            let org = o.id;
            let target = admin.email.clone();
            let link = self.issue(o, admin, LinkPurpose::Reset).await?;
            match mailer.send(&link.mail(origin)).await {
                Ok(()) => {
                    sent += 1;
                    self.record(org, "forgot-password", "admin.password.reset-link", &target)
                        .await;
                }
                Err(e) => tracing::error!(error = %e, "cannot send a password reset e-mail"),
            }
        }
        Ok(sent)
    }

    /// Adds an administrator without a password and makes the invitation link with which
    /// they choose one (logged as the addition).
    pub async fn invite(
        &self, org: &Organisation, email: &str, role: AdminRole, actor: &str,
    ) -> Result<IssuedLink, PasswordError> {
        let admin = self
            .lifecycle
            .add_admin(org, email, role, None, actor)
            .await?;
        match self
            .issue(org.clone(), admin.clone(), LinkPurpose::Invite)
            .await
        {
            Ok(link) => {
                self.record(org.id, actor, "admin.invite", &admin.email)
                    .await;
                Ok(link)
            }
            Err(e) => {
                // Nobody could ever sign in as this administrator: take it back.
                let _ = self.store.remove_admin(org.id, admin.id).await;
                Err(e)
            }
        }
    }

    /// The working reset or invitation link `secret` of `org`, and whom it is for.
    pub async fn check_link(&self, org: OrgId, secret: &str) -> Result<LinkView, PasswordError> {
        let now = self.clock.now();
        let link = self
            .store
            .find_password_link(org, &hash_secret(secret))
            .await?
            .filter(|l| {
                matches!(l.purpose, LinkPurpose::Reset | LinkPurpose::Invite)
                    && l.used.is_none()
                    && l.expires > now
            })
            .ok_or(PasswordError::InvalidLink)?;
        let admin = self.link_admin(&link).await?;
        let o = self
            .store
            .get_org(org)
            .await?
            .ok_or(PasswordError::InvalidLink)?;
        Ok(LinkView {
            org: o,
            email: admin.email,
            purpose: link.purpose,
        })
    }

    async fn link_admin(&self, link: &PasswordLink) -> Result<Administrator, PasswordError> {
        self.store
            .list_admins(link.org_id)
            .await?
            .into_iter()
            .find(|a| Some(a.id) == link.admin_id)
            .ok_or(PasswordError::InvalidLink)
    }

    /// Uses the link once to set the administrator's password (the policy applies, checked
    /// before the link is spent): its sessions end, the lock-out of its address is lifted,
    /// the act is logged, and a new session is opened (or, for an administrator with a second
    /// factor, the second step of a sign-in begins).
    pub async fn redeem(
        &self, org: OrgId, secret: &str, password: &str,
    ) -> Result<SignInOutcome, PasswordError> {
        let view = self.check_link(org, secret).await?;
        if let Some(p) = password_problem(password) {
            return Err(PasswordError::Weak(p));
        }
        let hash = hash_secret(secret);
        let link = self
            .store
            .find_password_link(org, &hash)
            .await?
            .ok_or(PasswordError::InvalidLink)?;
        let password_hash = hash_password(password)?;
        if !self
            .store
            .use_password_link(org, &hash, view.purpose, self.clock.now())
            .await?
        {
            return Err(PasswordError::InvalidLink);
        }
        let admin = self.link_admin(&link).await?;
        if !self
            .store
            .set_admin_password(org, admin.id, &password_hash)
            .await?
        {
            return Err(PasswordError::InvalidLink);
        }
        let action = match view.purpose {
            LinkPurpose::Invite => "admin.invite.accepted",
            _ => "admin.password.reset",
        };
        self.record(org, &format!("admin:{}", admin.email), action, &admin.email)
            .await;
        // A new password is one factor: an administrator with a second factor still gives
        // a code before a session opens.
        Ok(self.sessions.proceed(admin).await?)
    }

    /// Changes the signed-in administrator's own password after checking the current one
    /// (under the sign-in lock-out): every session of theirs ends, and a new one is returned
    /// for this browser. Logged.
    pub async fn change_own(
        &self, who: &SignedIn, current: &str, new: &str,
    ) -> Result<(String, SignedIn), PasswordError> {
        if let Some(p) = password_problem(new) {
            return Err(PasswordError::Weak(p));
        }
        if !self.sessions.recheck(&who.admin, current).await? {
            return Err(PasswordError::WrongPassword);
        }
        let password_hash = hash_password(new)?;
        let org = who.admin.org_id;
        if !self
            .store
            .set_admin_password(org, who.admin.id, &password_hash)
            .await?
        {
            return Err(SessionError::NoSession.into());
        }
        self.record(
            org,
            &format!("admin:{}", who.admin.email),
            "admin.password.changed",
            &who.admin.email,
        )
        .await;
        Ok(self.sessions.open(who.admin.clone()).await?)
    }
}
