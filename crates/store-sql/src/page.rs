//! One page cut from the rows of a keyset query, which reads one row more than a page holds
//! so that the page knows whether another follows.

use directory::store::{Cursor, CursorKey};
use directory::{OrgId, StoreError};

/// Cuts one page from `rows` (each with its sequence number): the items, and the sequence
/// number the next page starts after, if there is one.
pub fn cut_page<T>(rows: Vec<(T, i64)>, per_page: u32) -> (Vec<T>, Option<i64>) {
    let per_page = usize::try_from(per_page).unwrap_or(usize::MAX);
    let more = rows.len() > per_page;
    let mut items = Vec::with_capacity(rows.len().min(per_page));
    let mut last = None;
    for (item, seq) in rows.into_iter().take(per_page) {
        items.push(item);
        last = Some(seq);
    }
    (items, if more { last } else { None })
}

/// The sealed cursor of the page after sequence number `next`, when there is one.
pub fn seal_next(
    cursors: &CursorKey,
    org: OrgId,
    next: Option<i64>,
) -> Result<Option<String>, StoreError> {
    next.map(|seq| cursors.seal(org, &Cursor { seq, key: None }))
        .transpose()
}

/// The sequence number a page starts after, from the cursor the client sent.
pub fn open_after(
    cursors: &CursorKey,
    org: OrgId,
    after: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    after.map(|a| Ok(cursors.open(org, a)?.seq)).transpose()
}
