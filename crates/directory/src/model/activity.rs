//! The activity log.

use crate::ids::{OrgId, TokenId};
use time::OffsetDateTime;

/// One line of the activity log: a SCIM request or an administrative act. Never holds a
/// secret, a password or a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEntry {
    /// `None` when no organisation could be named (a missing or unknown token).
    pub org_id: Option<OrgId>,
    pub at: OffsetDateTime,
    /// The token a SCIM request authenticated with (or tried to).
    pub token_id: Option<TokenId>,
    /// Who acted: `scim`, `cli`, `system`.
    pub actor: String,
    /// The HTTP method, or the administrative act (`token.generate`, ...).
    pub action: String,
    /// The request path (without its query), or what the act was about.
    pub target: String,
    /// The HTTP status of a SCIM request.
    pub status: Option<u16>,
    /// How long a SCIM request took, in microseconds.
    pub duration_us: Option<i64>,
    /// The resource touched (`Users/<id>`), when there is one.
    pub resource: Option<String>,
    /// What happened, in words: the reason a token was refused, what changed.
    pub detail: Option<String>,
}

impl ActivityEntry {
    /// An act on `org` that is not an HTTP request (no token, status or duration).
    pub fn act(
        org: OrgId, at: OffsetDateTime, actor: &str, action: &str, target: impl Into<String>,
    ) -> Self {
        ActivityEntry {
            org_id: Some(org),
            at,
            token_id: None,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.into(),
            status: None,
            duration_us: None,
            resource: None,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }

    pub fn with_resource(mut self, resource: Option<String>) -> Self {
        self.resource = resource;
        self
    }
}
