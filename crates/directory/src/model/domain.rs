//! An organisation's e-mail domains.

use crate::ids::OrgId;
use time::OffsetDateTime;

/// A domain an organisation added, and whether it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRecord {
    pub org_id: OrgId,
    /// Lower-case, ASCII (IDNA).
    pub name: String,
    /// The value of the TXT record to publish.
    pub txt: String,
    pub created: OffsetDateTime,
    pub verified: Option<OffsetDateTime>,
    /// `dns`, or who forced it (`cli`).
    pub verified_by: Option<String>,
}
