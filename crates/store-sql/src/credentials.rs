//! The rows of what the stores keep only hashes of: SCIM tokens, application keys and
//! one-time password links, with the columns each is selected by.

use crate::columns::{Columns, opt_time, time};
use directory::ids::{AdminId, AppId};
use directory::store::{Application, PasswordLink, TokenRecord};
use directory::{OrgId, StoreError, TokenId};

/// The columns of `tokens`, in the order [`token`] reads them.
pub const TOKEN_COLS: &str =
    "org_id, id, prefix, hash, created, expires, first_used, last_used, revoked";

/// The columns of `apps`, in the order [`application`] reads them.
pub const APP_COLS: &str = "org_id, id, name, prefix, hash, created, last_used, revoked";

/// The columns of `password_links` [`password_link`] reads (the key is known already).
pub const LINK_COLS: &str = "purpose, admin_id, created, expires, used";

/// A SHA-256 hash column.
fn hash(row: &dyn Columns, i: usize, what: &str) -> Result<[u8; 32], StoreError> {
    row.bytes(i)?
        .try_into()
        .map_err(|_| StoreError::Internal(format!("bad {what} hash")))
}

/// A row of [`TOKEN_COLS`].
pub fn token(row: &dyn Columns) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        org_id: OrgId(row.uuid(0)?),
        id: TokenId(row.uuid(1)?),
        prefix: row.text(2)?,
        hash: hash(row, 3, "token")?,
        created: time(row, 4)?,
        expires: time(row, 5)?,
        first_used: opt_time(row, 6)?,
        last_used: opt_time(row, 7)?,
        revoked: opt_time(row, 8)?,
    })
}

/// A row of [`APP_COLS`].
pub fn application(row: &dyn Columns) -> Result<Application, StoreError> {
    Ok(Application {
        org_id: OrgId(row.uuid(0)?),
        id: AppId(row.uuid(1)?),
        name: row.text(2)?,
        prefix: row.text(3)?,
        hash: hash(row, 4, "application key")?,
        created: time(row, 5)?,
        last_used: opt_time(row, 6)?,
        revoked: opt_time(row, 7)?,
    })
}

/// A row of [`LINK_COLS`] of the link `hash` of `org`.
pub fn password_link(
    org: OrgId, hash: &[u8; 32], row: &dyn Columns,
) -> Result<PasswordLink, StoreError> {
    Ok(PasswordLink {
        org_id: org,
        hash: *hash,
        purpose: row.text(0)?.parse().map_err(StoreError::Internal)?,
        admin_id: row.opt_uuid(1)?.map(AdminId),
        created: time(row, 2)?,
        expires: time(row, 3)?,
        used: opt_time(row, 4)?,
    })
}
