//! Tokens as stored: never the secret.

use crate::ids::{OrgId, TokenId};
use time::OffsetDateTime;

/// A token as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: TokenId,
    pub org_id: OrgId,
    /// The first characters of the secret, safe to show.
    pub prefix: String,
    pub hash: [u8; 32],
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
    pub first_used: Option<OffsetDateTime>,
    pub last_used: Option<OffsetDateTime>,
    pub revoked: Option<OffsetDateTime>,
}
