//! Roles by rule (docs/contract.md, "Roles and rules"): an organisation's own roles beside its
//! kind's defaults, and the ordered rules that derive roles and locations from what the
//! identity provider sends.

use crate::ids::RuleId;
use time::OffsetDateTime;

/// How a rule's condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOp {
    /// The attribute (any of its values) equals the value, ignoring case.
    Equals,
    /// The attribute (any of its values) starts with the value, ignoring case.
    StartsWith,
    /// The account is a direct member of a group whose `displayName` (ignoring case) or id is
    /// the value; the rule has no attribute.
    MemberOf,
}

impl RuleOp {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleOp::Equals => "equals",
            RuleOp::StartsWith => "startsWith",
            RuleOp::MemberOf => "memberOf",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "equals" => Some(RuleOp::Equals),
            "startsWith" => Some(RuleOp::StartsWith),
            "memberOf" => Some(RuleOp::MemberOf),
            _ => None,
        }
    }
}

/// A rule's condition on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCondition {
    /// A SCIM attribute path (`title`, `userType`, `name.givenName`, or a full
    /// `urn:...:User:department`); empty for [`RuleOp::MemberOf`].
    pub attribute: String,
    pub op: RuleOp,
    pub value: String,
}

/// One rule of an organisation: when its condition holds, the account gets its roles and
/// locations (marked `rule:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    pub id: RuleId,
    /// Rules apply in this order (lower first); the result is their union.
    pub position: i64,
    pub name: String,
    pub condition: RuleCondition,
    pub roles: Vec<String>,
    pub locations: Vec<String>,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}
