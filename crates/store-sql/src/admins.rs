//! The rows of administrators and of what signing in keeps (sessions, the lock-out counters,
//! sealed secrets waiting to be revealed), with the columns both stores select them by.

use crate::columns::{Columns, opt_time, time};
use directory::ids::{AdminId, SessionId};
use directory::store::{Administrator, Reveal, SessionRecord, SigninThrottle};
use directory::{OrgId, StoreError};

/// The columns of `administrators`, in the order [`administrator`] reads them.
pub const ADMIN_COLS: &str = "org_id, id, email, role, password_hash, created";

/// The columns of `sessions` [`session`] reads (the hash is known already).
pub const SESSION_COLS: &str = "org_id, id, admin_id, created, expires";

/// The columns of `signin_failures` [`throttle`] reads.
pub const THROTTLE_COLS: &str = "failures, window_start, locked_until";

/// A row of [`ADMIN_COLS`].
pub fn administrator(row: &dyn Columns) -> Result<Administrator, StoreError> {
    Ok(Administrator {
        org_id: OrgId(row.uuid(0)?),
        id: AdminId(row.uuid(1)?),
        email: row.text(2)?,
        role: row.text(3)?.parse().map_err(StoreError::Internal)?,
        password_hash: row.opt_text(4)?,
        created: time(row, 5)?,
    })
}

/// A row of [`SESSION_COLS`] of the session `hash`.
pub fn session(hash: &[u8; 32], row: &dyn Columns) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        org_id: OrgId(row.uuid(0)?),
        id: SessionId(row.uuid(1)?),
        hash: *hash,
        admin_id: AdminId(row.uuid(2)?),
        created: time(row, 3)?,
        expires: time(row, 4)?,
    })
}

/// A row of [`THROTTLE_COLS`].
pub fn throttle(row: &dyn Columns) -> Result<SigninThrottle, StoreError> {
    Ok(SigninThrottle {
        failures: u32::try_from(row.int(0)?).unwrap_or(0),
        window_start: time(row, 1)?,
        locked_until: opt_time(row, 2)?,
    })
}

/// The `sealed, expires` of a reveal taken for `admin`.
pub fn reveal(
    org: OrgId, hash: &[u8; 32], admin: AdminId, row: &dyn Columns,
) -> Result<Reveal, StoreError> {
    Ok(Reveal {
        org_id: org,
        hash: *hash,
        admin_id: admin,
        sealed: row.bytes(0)?,
        expires: time(row, 1)?,
    })
}
