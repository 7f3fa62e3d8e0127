//! Administrators and what signing in keeps: sessions, password links and the lock-out.

use crate::ids::{AdminId, OrgId};
use time::OffsetDateTime;

/// An administrator's role. `SiteManager` exists only in schools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRole {
    Administrator,
    PeopleManager,
    SiteManager,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Administrator => "administrator",
            AdminRole::PeopleManager => "people-manager",
            AdminRole::SiteManager => "site-manager",
        }
    }
}

impl std::str::FromStr for AdminRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "administrator" => Ok(AdminRole::Administrator),
            "people-manager" => Ok(AdminRole::PeopleManager),
            "site-manager" => Ok(AdminRole::SiteManager),
            other => Err(format!(
                "unknown role '{other}' (expected administrator, people-manager or site-manager)"
            )),
        }
    }
}

/// A person who administers one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Administrator {
    pub id: AdminId,
    pub org_id: OrgId,
    pub email: String,
    pub role: AdminRole,
    /// An Argon2id PHC string, for the console; `None` until a password is set.
    pub password_hash: Option<String>,
    pub created: OffsetDateTime,
}

/// A signed-in administrator's session (API bearer or console cookie); only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub org_id: OrgId,
    pub id: crate::ids::SessionId,
    pub hash: [u8; 32],
    pub admin_id: AdminId,
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
}

/// What a password link is for. A link of one purpose never works as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Creates an organisation's first administrator (no administrator named).
    Setup,
    /// Sets a new password for an administrator who forgot theirs.
    Reset,
    /// Sets the first password of an invited administrator.
    Invite,
    /// A pending sign-in whose password matched in several organisations: one row per
    /// matching organisation, all with the same secret, which signs in to the chosen one.
    Signin,
    /// A pending sign-in whose password matched for an administrator with a second factor:
    /// the session opens once a code from the authenticator app (or a recovery code) is
    /// given with this secret.
    SecondStep,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Setup => "setup",
            LinkPurpose::Reset => "reset",
            LinkPurpose::Invite => "invite",
            LinkPurpose::Signin => "signin",
            LinkPurpose::SecondStep => "second-step",
        }
    }
}

impl std::str::FromStr for LinkPurpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "setup" => Ok(LinkPurpose::Setup),
            "reset" => Ok(LinkPurpose::Reset),
            "invite" => Ok(LinkPurpose::Invite),
            "signin" => Ok(LinkPurpose::Signin),
            "second-step" => Ok(LinkPurpose::SecondStep),
            other => Err(format!("unknown link purpose '{other}'")),
        }
    }
}

/// A one-time link (set-up, password reset, invitation, pending sign-in); only the hash of
/// its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordLink {
    pub org_id: OrgId,
    pub hash: [u8; 32],
    pub purpose: LinkPurpose,
    /// The administrator the link is for; `None` for a set-up link.
    pub admin_id: Option<AdminId>,
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
    pub used: Option<OffsetDateTime>,
}

/// Failed sign-ins for one folded e-mail address, across organisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigninThrottle {
    /// Failures since `window_start`.
    pub failures: u32,
    pub window_start: OffsetDateTime,
    /// Sign-ins are refused until then.
    pub locked_until: Option<OffsetDateTime>,
}

/// An administrator's second factor (TOTP, RFC 6238): the shared secret, whether a first code
/// confirmed it, and the newest time step a code was accepted for. Its `Debug` leaves the
/// secret out, so no log line can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecondFactor {
    pub org_id: OrgId,
    pub admin_id: AdminId,
    /// The raw secret (20 random bytes); authenticator apps get it in base32.
    pub secret: Vec<u8>,
    pub created: OffsetDateTime,
    /// `None` while the enrolment waits for its first code: it then protects nothing yet.
    pub confirmed: Option<OffsetDateTime>,
    /// The newest accepted time step (Unix time / 30 s); a code of this step or an earlier
    /// one is refused.
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondFactor")
            .field("org_id", &self.org_id)
            .field("admin_id", &self.admin_id)
            .field("secret", &"<redacted>")
            .field("created", &self.created)
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .finish()
    }
}
