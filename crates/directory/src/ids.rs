//! Identifiers, parsed at the boundary, and the organisation.

use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("Identifier of ", $what, " (a UUID).")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) identifier.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

uuid_id!(OrgId, "an organisation");
uuid_id!(TokenId, "a SCIM bearer token");
uuid_id!(ResourceId, "a SCIM resource (User or Group)");
uuid_id!(RuleId, "a role rule of an organisation");

/// Business or school: decides default roles and the `userName` hold after deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgKind {
    Business,
    School,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Business => "business",
            OrgKind::School => "school",
        }
    }
}

impl FromStr for OrgKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "business" => Ok(OrgKind::Business),
            "school" => Ok(OrgKind::School),
            other => Err(format!(
                "unknown organisation kind '{other}' (expected business or school)"
            )),
        }
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    pub kind: OrgKind,
    pub created: time::OffsetDateTime,
}

uuid_id!(AdminId, "an administrator");
uuid_id!(NoticeId, "a notice in the outbox");
uuid_id!(SessionId, "an administrator's session");
uuid_id!(
    AppId,
    "an application (a client of the directory API and the events)"
);
uuid_id!(WebhookId, "a webhook endpoint");
