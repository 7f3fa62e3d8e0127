//! One page cut from the rows of a keyset query, which reads one row more than a page holds
//! so that the page knows whether another follows.

use directory::store::{Account, AccountPage, Cursor, CursorKey, GroupPage, GroupSummary};
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

/// A page of a keyset list as the directory models it: its items, the count of all pages, and
/// where the next page starts.
pub trait ListPage {
    type Item;

    fn assemble(items: Vec<Self::Item>, total: u64, next: Option<String>) -> Self;
}

impl ListPage for AccountPage {
    type Item = Account;

    fn assemble(accounts: Vec<Account>, total: u64, next: Option<String>) -> Self {
        Self {
            accounts,
            total,
            total_exact: true,
            next,
        }
    }
}

impl ListPage for GroupPage {
    type Item = GroupSummary;

    fn assemble(groups: Vec<GroupSummary>, total: u64, next: Option<String>) -> Self {
        Self {
            groups,
            total,
            next,
        }
    }
}

/// One page of `org`'s list from `rows` (see [`cut_page`]) and the count of all pages, with
/// the sealed cursor of the next page.
pub fn keyset_page<P: ListPage>(
    cursors: &CursorKey, org: OrgId, rows: Vec<(P::Item, i64)>, per_page: u32, total: i64,
) -> Result<P, StoreError> {
    let (items, next) = cut_page(rows, per_page);
    Ok(P::assemble(
        items,
        total as u64,
        seal_next(cursors, org, next)?,
    ))
}

/// The sealed cursor of the page after sequence number `next`, when there is one.
pub fn seal_next(
    cursors: &CursorKey, org: OrgId, next: Option<i64>,
) -> Result<Option<String>, StoreError> {
    next.map(|seq| cursors.seal(org, &Cursor { seq, key: None }))
        .transpose()
}

/// The sequence number a page starts after, from the cursor the client sent.
pub fn open_after(
    cursors: &CursorKey, org: OrgId, after: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    after.map(|a| Ok(cursors.open(org, a)?.seq)).transpose()
}
