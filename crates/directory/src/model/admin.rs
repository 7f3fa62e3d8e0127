//! Administrators and what signing in keeps: sessions, set-up links and the lock-out.

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

/// A one-time link that creates an organisation's first administrator; only the hash of its
/// secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupLink {
    pub org_id: OrgId,
    pub hash: [u8; 32],
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
    pub used: Option<OffsetDateTime>,
}

/// Failed sign-ins for one e-mail address of one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigninThrottle {
    /// Failures since `window_start`.
    pub failures: u32,
    pub window_start: OffsetDateTime,
    /// Sign-ins are refused until then.
    pub locked_until: Option<OffsetDateTime>,
}
