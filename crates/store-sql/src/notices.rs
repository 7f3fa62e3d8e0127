//! The row of a notice of the outbox, with the columns both stores select it by.

use crate::columns::{Columns, int4, opt_int4, opt_time, time};
use directory::ids::NoticeId;
use directory::store::{Notice, NoticeKind};
use directory::{OrgId, StoreError, TokenId};

/// The columns of `notices`, in the order [`notice`] reads them.
pub const NOTICE_COLS: &str = "org_id, id, key, kind, token_id, threshold, subject, body, created, attempts, next_attempt, sent, last_error";

/// A row of [`NOTICE_COLS`].
pub fn notice(row: &dyn Columns) -> Result<Notice, StoreError> {
    let kind = row.text(3)?;
    Ok(Notice {
        org_id: OrgId(row.uuid(0)?),
        id: NoticeId(row.uuid(1)?),
        key: row.text(2)?,
        kind: NoticeKind::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("bad notice kind {kind}")))?,
        token_id: row.opt_uuid(4)?.map(TokenId),
        threshold_days: opt_int4(row, 5)?,
        subject: row.text(6)?,
        body: row.text(7)?,
        created: time(row, 8)?,
        attempts: int4(row, 9)?,
        next_attempt: time(row, 10)?,
        sent: opt_time(row, 11)?,
        last_error: row.opt_text(12)?,
    })
}
