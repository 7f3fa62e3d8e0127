//! Token lifecycle, the connection state and administrators (docs/contract.md, "Tokens and the connection"): the rules an
//! administrator meets in the walkthrough, enforced here with the injected clock, whoever calls
//! (the CLI today, the console later).
//!
//! - a token is valid one year from its creation, and 4 days if it is never used (the
//!   hand-over window);
//! - at most two live tokens per organisation, so a replacement can be pasted into the identity
//!   provider while the old one still works;
//! - the last live token cannot be revoked: the administrator disconnects instead;
//! - the connection turns `active` on the first successful SCIM request with a token, which
//!   also queues the "directory sync set-up complete" notice.
//!
//! The token-count and last-token checks read then write: two administrators acting at the
//! same instant could both pass them. Acts are rare and by hand, so this is accepted for now.

use crate::clock::Clock;
use crate::ids::{AdminId, OrgId, OrgKind, Organisation, TokenId};
use crate::notify;
use crate::store::{
    ActivityEntry, AdminRole, Administrator, Connection, ConnectionState, Store, StoreError,
    TokenRecord,
};
use crate::token::{self, IssuedToken};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Most live (pending or active) tokens an organisation may hold.
pub const MAX_LIVE_TOKENS: usize = 2;
/// A token never used within this time of its creation expires.
pub const UNUSED_EXPIRY: Duration = Duration::days(4);

/// A token's state as administrators see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Not yet used; expires [`UNUSED_EXPIRY`] after creation unless used.
    Pending,
    /// Used at least once.
    Active,
    Expired,
    Revoked,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Pending => "pending",
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        }
    }

    pub fn is_live(self) -> bool {
        matches!(self, TokenState::Pending | TokenState::Active)
    }
}

/// When a token stops working unless revoked first: its expiry, or 4 days after creation while
/// it has never been used.
pub fn effective_expiry(t: &TokenRecord) -> OffsetDateTime {
    match t.first_used {
        Some(_) => t.expires,
        None => t.expires.min(t.created + UNUSED_EXPIRY),
    }
}

/// The state of `t` at `now`.
pub fn token_state(t: &TokenRecord, now: OffsetDateTime) -> TokenState {
    if t.revoked.is_some_and(|r| r <= now) {
        TokenState::Revoked
    } else if now >= effective_expiry(t) {
        TokenState::Expired
    } else if t.first_used.is_some() {
        TokenState::Active
    } else {
        TokenState::Pending
    }
}

/// A refusal or failure of an administrative act.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(
        "the organisation already has {MAX_LIVE_TOKENS} live tokens; revoke one before generating another"
    )]
    TooManyTokens,
    #[error(
        "this is the organisation's last live token and cannot be revoked; to stop directory sync, disconnect instead"
    )]
    LastLiveToken,
    #[error(
        "{0} is the organisation's last administrator with the administrator role and cannot be removed; add another administrator first"
    )]
    LastAdministrator(String),
    #[error("the organisation's kind cannot change once it has accounts")]
    KindLocked,
    #[error(
        "the organisation has site managers, a role that exists only in schools; remove them first"
    )]
    SiteManagersRemain,
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidTimeZone(String),
    #[error("no such organisation")]
    UnknownOrg,
    #[error("the organisation has no token {0}")]
    UnknownToken(TokenId),
    #[error("token {0} is already revoked")]
    AlreadyRevoked(TokenId),
    #[error("'{0}' is not an e-mail address")]
    InvalidEmail(String),
    #[error("the role site-manager exists only in schools")]
    RoleNotForKind,
    #[error("an administrator with e-mail {0} already exists in this organisation")]
    DuplicateAdmin(String),
    #[error("the organisation has no administrator with e-mail {0}")]
    UnknownAdmin(String),
    /// The password breaks the policy (see [`crate::setup::password_problem`]).
    #[error("{0}")]
    WeakPassword(String),
    #[error("cannot hash the password: {0}")]
    Password(String),
    #[error("no randomness available: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether the organisation may generate another token, given its tokens now.
pub fn can_generate(tokens: &[TokenView]) -> bool {
    tokens.iter().filter(|t| t.state.is_live()).count() < MAX_LIVE_TOKENS
}

/// Whether `t` may be revoked, given the organisation's tokens now: not once revoked, and
/// not while it is the last live one.
pub fn can_revoke(tokens: &[TokenView], t: &TokenView) -> bool {
    t.state != TokenState::Revoked
        && (!t.state.is_live()
            || tokens
                .iter()
                .any(|o| o.record.id != t.record.id && o.state.is_live()))
}

/// A token as listed: its record, its state now and when it stops working.
#[derive(Debug, Clone)]
pub struct TokenView {
    pub record: TokenRecord,
    pub state: TokenState,
    pub expires: OffsetDateTime,
}

/// The token, connection and administrator rules of one deployment.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Lifecycle {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Lifecycle { store, clock }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn record(&self, entry: ActivityEntry) -> Result<(), StoreError> {
        self.store.append_activity(vec![entry]).await
    }

    fn act(
        &self, org: OrgId, actor: &str, action: &str, target: String, detail: Option<String>,
    ) -> ActivityEntry {
        ActivityEntry::act(org, self.clock.now(), actor, action, target).with_detail(detail)
    }

    /// Generates a token: refused when the organisation already holds two live ones. The old
    /// tokens keep working. The connection becomes `pending` unless it is `active`.
    pub async fn generate_token(
        &self, org: &Organisation, actor: &str,
    ) -> Result<IssuedToken, LifecycleError> {
        let now = self.clock.now();
        let live = self
            .store
            .list_tokens(org.id)
            .await?
            .iter()
            .filter(|t| token_state(t, now).is_live())
            .count();
        if live >= MAX_LIVE_TOKENS {
            return Err(LifecycleError::TooManyTokens);
        }
        let issued =
            token::generate(org.id, now).map_err(|e| LifecycleError::Random(e.to_string()))?;
        self.store.insert_token(&issued.record).await?;
        let conn = self.connection(org.id).await?;
        if conn.state != ConnectionState::Active {
            self.store
                .set_connection(
                    org.id,
                    &Connection {
                        state: ConnectionState::Pending,
                        changed: now,
                    },
                )
                .await?;
        }
        self.record(self.act(
            org.id,
            actor,
            "token.generate",
            format!("token {} ({})", issued.record.id, issued.record.prefix),
            None,
        ))
        .await?;
        Ok(issued)
    }

    /// The organisation's tokens, oldest first, with their state now.
    pub async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenView>, LifecycleError> {
        let now = self.clock.now();
        Ok(self
            .store
            .list_tokens(org)
            .await?
            .into_iter()
            .map(|t| TokenView {
                state: token_state(&t, now),
                expires: effective_expiry(&t),
                record: t,
            })
            .collect())
    }

    /// Revokes a token, unless it is the organisation's last live one.
    pub async fn revoke_token(
        &self, org: OrgId, id: TokenId, actor: &str,
    ) -> Result<(), LifecycleError> {
        let now = self.clock.now();
        let tokens = self.store.list_tokens(org).await?;
        let target = tokens
            .iter()
            .find(|t| t.id == id)
            .ok_or(LifecycleError::UnknownToken(id))?;
        let state = token_state(target, now);
        if state == TokenState::Revoked {
            return Err(LifecycleError::AlreadyRevoked(id));
        }
        let other_live = tokens
            .iter()
            .filter(|t| t.id != id && token_state(t, now).is_live())
            .count();
        if state.is_live() && other_live == 0 {
            return Err(LifecycleError::LastLiveToken);
        }
        if !self.store.revoke_token(org, id, now).await? {
            return Err(LifecycleError::AlreadyRevoked(id));
        }
        self.record(self.act(
            org,
            actor,
            "token.revoke",
            format!("token {id} ({})", target.prefix),
            None,
        ))
        .await?;
        Ok(())
    }

    /// Stops directory sync: revokes every token and marks the connection `disconnected`.
    /// Returns how many tokens were revoked. (What happens to the synced accounts belongs to
    /// the disconnect feature proper.)
    pub async fn disconnect(&self, org: OrgId, actor: &str) -> Result<usize, LifecycleError> {
        let now = self.clock.now();
        let mut revoked = 0;
        for t in self.store.list_tokens(org).await? {
            if t.revoked.is_none() && self.store.revoke_token(org, t.id, now).await? {
                revoked += 1;
            }
        }
        self.store
            .set_connection(
                org,
                &Connection {
                    state: ConnectionState::Disconnected,
                    changed: now,
                },
            )
            .await?;
        self.record(self.act(
            org,
            actor,
            "disconnect",
            format!("{revoked} token(s) revoked"),
            None,
        ))
        .await?;
        Ok(revoked)
    }

    /// The connection state (`not connected` when never recorded).
    pub async fn connection(&self, org: OrgId) -> Result<Connection, StoreError> {
        Ok(self.store.get_connection(org).await?.unwrap_or(Connection {
            state: ConnectionState::NotConnected,
            changed: OffsetDateTime::UNIX_EPOCH,
        }))
    }

    /// The first successful SCIM request with `t` (its `first_used` is unset): records the use,
    /// turns the connection `active`, and queues "directory sync set-up complete". Safe to run
    /// twice (two requests racing, two instances): each step is idempotent and the notice has
    /// a unique key.
    pub async fn first_use(&self, t: &TokenRecord) -> Result<(), LifecycleError> {
        let now = self.clock.now();
        self.store.touch_token(t.org_id, t.id, now).await?;
        let conn = self.connection(t.org_id).await?;
        if conn.state != ConnectionState::Active {
            self.store
                .set_connection(
                    t.org_id,
                    &Connection {
                        state: ConnectionState::Active,
                        changed: now,
                    },
                )
                .await?;
        }
        if let Some(org) = self.store.get_org(t.org_id).await? {
            self.store
                .enqueue_notice(&notify::setup_complete(&org, t, now))
                .await?;
        }
        Ok(())
    }

    /// Adds an administrator. `site-manager` only in schools. A password, when given, is kept
    /// as an Argon2id hash.
    pub async fn add_admin(
        &self, org: &Organisation, email: &str, role: AdminRole, password: Option<&str>,
        actor: &str,
    ) -> Result<Administrator, LifecycleError> {
        let email = check_email(email)?;
        if role == AdminRole::SiteManager && org.kind != OrgKind::School {
            return Err(LifecycleError::RoleNotForKind);
        }
        let password_hash = password.map(hash_password).transpose()?;
        let admin = Administrator {
            id: AdminId::new(),
            org_id: org.id,
            email: email.to_owned(),
            role,
            password_hash,
            created: self.clock.now(),
        };
        match self.store.add_admin(&admin).await {
            Err(StoreError::Conflict(_)) => {
                return Err(LifecycleError::DuplicateAdmin(email.to_owned()));
            }
            other => other?,
        }
        self.record(self.act(
            org.id,
            actor,
            "admin.add",
            format!("{} ({})", admin.email, role.as_str()),
            None,
        ))
        .await?;
        Ok(admin)
    }

    /// The administrator of `org` with this e-mail address (any case).
    async fn admin_by_email(
        &self, org: OrgId, email: &str,
    ) -> Result<Administrator, LifecycleError> {
        let key = email.trim().to_lowercase();
        self.store
            .list_admins(org)
            .await?
            .into_iter()
            .find(|a| a.email.to_lowercase() == key)
            .ok_or_else(|| LifecycleError::UnknownAdmin(email.trim().to_owned()))
    }

    /// Removes an administrator and ends its sessions at once (logged). Never the last one
    /// with the `administrator` role: nobody could then manage tokens or administrators (an
    /// operator takes an organisation back with `admin add` or `admin set-password`). Like the
    /// token checks, this reads then writes.
    pub async fn remove_admin(
        &self, org: OrgId, email: &str, actor: &str,
    ) -> Result<Administrator, LifecycleError> {
        let admins = self.store.list_admins(org).await?;
        let key = email.trim().to_lowercase();
        let admin = admins
            .iter()
            .find(|a| a.email.to_lowercase() == key)
            .cloned()
            .ok_or_else(|| LifecycleError::UnknownAdmin(email.trim().to_owned()))?;
        let others = admins
            .iter()
            .filter(|a| a.id != admin.id && a.role == AdminRole::Administrator)
            .count();
        if admin.role == AdminRole::Administrator && others == 0 {
            return Err(LifecycleError::LastAdministrator(admin.email));
        }
        if !self.store.remove_admin(org, admin.id).await? {
            return Err(LifecycleError::UnknownAdmin(admin.email));
        }
        self.record(self.act(org, actor, "admin.remove", admin.email.clone(), None))
            .await?;
        Ok(admin)
    }

    /// Sets an administrator's password (the password policy applies), ends its sessions and
    /// lifts a lock-out of its address (logged).
    pub async fn set_admin_password(
        &self, org: OrgId, email: &str, password: &str, actor: &str,
    ) -> Result<Administrator, LifecycleError> {
        if let Some(p) = crate::setup::password_problem(password) {
            return Err(LifecycleError::WeakPassword(p));
        }
        let admin = self.admin_by_email(org, email).await?;
        let hash = hash_password(password)?;
        if !self.store.set_admin_password(org, admin.id, &hash).await? {
            return Err(LifecycleError::UnknownAdmin(admin.email));
        }
        self.record(self.act(org, actor, "admin.password", admin.email.clone(), None))
            .await?;
        Ok(admin)
    }

    /// When sign-ins for an administrator's address are refused (a lock-out after failed
    /// sign-ins, counted for the address in every organisation), if they are now.
    pub async fn locked_until(
        &self, email: &str,
    ) -> Result<Option<OffsetDateTime>, LifecycleError> {
        let now = self.clock.now();
        Ok(self
            .store
            .signin_throttle(&email.trim().to_lowercase())
            .await?
            .and_then(|t| t.locked_until)
            .filter(|u| *u > now))
    }

    /// Lifts a lock-out of an administrator's address and forgets its failed sign-ins
    /// (logged).
    pub async fn unlock_admin(
        &self, org: OrgId, email: &str, actor: &str,
    ) -> Result<Administrator, LifecycleError> {
        let admin = self.admin_by_email(org, email).await?;
        self.store
            .clear_signin_failures(&admin.email.to_lowercase())
            .await?;
        self.record(self.act(org, actor, "admin.unlock", admin.email.clone(), None))
            .await?;
        Ok(admin)
    }

    /// Ends every session of an administrator (logged); returns how many there were.
    pub async fn end_admin_sessions(
        &self, org: OrgId, email: &str, actor: &str,
    ) -> Result<u64, LifecycleError> {
        let admin = self.admin_by_email(org, email).await?;
        let n = self.store.end_admin_sessions(org, admin.id).await?;
        self.record(self.act(
            org,
            actor,
            "admin.sessions.end",
            admin.email,
            Some(format!("{n} session(s)")),
        ))
        .await?;
        Ok(n)
    }
}

/// An administrator's e-mail address, trimmed, or why it is not one.
pub fn check_email(email: &str) -> Result<&str, LifecycleError> {
    let email = email.trim();
    let valid = email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.contains(char::is_whitespace)
        && email.len() <= 254;
    if valid {
        Ok(email)
    } else {
        Err(LifecycleError::InvalidEmail(email.to_owned()))
    }
}

/// An Argon2id hash of `password` in PHC string form, with a random salt.
pub fn hash_password(password: &str) -> Result<String, LifecycleError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| LifecycleError::Random(e.to_string()))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| LifecycleError::Password(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| LifecycleError::Password(e.to_string()))
}

/// Whether `password` matches a hash made by [`hash_password`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_is_argon2id_and_verifies() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
    }
}
