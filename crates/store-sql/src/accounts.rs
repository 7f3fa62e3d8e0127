//! The account statements and checks both stores share: the console's account list, the
//! checks before an account is changed or retired, and the statements that retire one.

use crate::columns::{Columns, opt_time, resource, source};
use crate::{Dialect, Sql, Value};
use directory::store::{Account, AccountChange, AccountQuery, LocalProps, Status};
use directory::{OrgId, ResourceId, StoreError};
use time::OffsetDateTime;

/// The columns an account adds to a resource row, after the resource's own.
pub const ACCOUNT_COLS: &str = "r.source, r.deleted, r.hold_until, r.local";

/// The statements of one page of the account list.
#[derive(Debug)]
pub struct AccountPlan {
    /// Every account the query matches.
    pub count: Sql,
    /// `SELECT <cols>, ACCOUNT_COLS, r.seq`, one row more than the page holds (which tells
    /// whether there is a next page).
    pub page: Sql,
    /// Accounts in a page.
    pub per_page: u32,
    /// For the first page of a search: [`AccountPlan::page`]'s rows with the count of every
    /// match in a last column, for a store that counts a search by reading its matches
    /// (PostgreSQL): one reading of them then serves both. `None` after a cursor, where the
    /// page's rows are not all the matches.
    pub counted_page: Option<Sql>,
}

/// Plans a page of the account list of `org`, after the account with sequence number
/// `after`, selecting `cols` (of the resource row `r`) before the account columns. `search` is
/// the store's condition on `r` for `q.search` (see [`crate::search`]), when there is one.
pub fn plan_accounts(
    d: &impl Dialect, org: OrgId, q: &AccountQuery, search: Option<&Sql>, cols: &str,
    after: Option<i64>,
) -> AccountPlan {
    let mut rows = Sql::new("FROM resources r WHERE r.org_id = ");
    rows.bind(Value::Uuid(org.0));
    rows.push(" AND r.kind = 0");
    if let Some(search) = search {
        rows.push(" AND ");
        rows.append(search);
    }
    if let Some(source) = q.source {
        rows.push(&format!(" AND r.source = '{}'", source.as_str()));
    }
    match q.status {
        Some(Status::Active) => {
            rows.push(" AND r.deleted IS NULL AND ");
            rows.push(&d.flag("r.active", true));
        }
        Some(Status::Deactivated) => {
            rows.push(" AND (r.deleted IS NOT NULL OR ");
            rows.push(&d.flag("r.active", false));
            rows.push(")");
        }
        None => {}
    }
    let mut count = Sql::new("SELECT COUNT(*) ");
    count.append(&rows);
    let per_page = q.count.clamp(1, 1000);
    // The matches are read once, as bare sequence numbers, then counted and cut to a page;
    // only the page's rows are read whole. A window over whole rows held every match's
    // document (13,000 of them for a common given name at 1,000,000 accounts, past
    // `work_mem`); and with the page's order and limit in the same query the planner walked
    // the organisation's accounts in order filtering each (400 ms) where the search index
    // finds them (6 ms). The materialised list leaves it only the index to choose.
    let counted_page = (search.is_some() && after.is_none()).then(|| {
        let mut counted = Sql::new("WITH m AS MATERIALIZED (SELECT r.seq ");
        counted.append(&rows);
        counted.push(&format!(
            ") SELECT {cols}, {ACCOUNT_COLS}, r.seq, (SELECT COUNT(*) FROM m) \
             FROM (SELECT seq FROM m ORDER BY seq LIMIT {}) t \
             JOIN resources r ON r.org_id = ",
            per_page + 1
        ));
        counted.bind(Value::Uuid(org.0));
        counted.push(" AND r.kind = 0 AND r.seq = t.seq ORDER BY r.seq");
        counted
    });
    let mut page = Sql::new(&format!("SELECT {cols}, {ACCOUNT_COLS}, r.seq "));
    page.append(&rows);
    if let Some(seq) = after {
        page.push(" AND r.seq > ");
        page.bind(Value::Int(seq));
    }
    page.push(&format!(" ORDER BY r.seq LIMIT {}", per_page + 1));
    AccountPlan {
        count,
        page,
        per_page,
        counted_page,
    }
}

/// The checks before an account is changed: a deleted account is not found, and the version
/// the caller read must be the current one. Returns the instant the change is stamped with.
pub fn check_change(
    current: &Account, change: &AccountChange,
) -> Result<OffsetDateTime, StoreError> {
    if current.deleted.is_some() {
        return Err(StoreError::NotFound);
    }
    if change
        .expected_version
        .is_some_and(|v| v != current.resource.version)
    {
        return Err(StoreError::VersionMismatch);
    }
    Ok(change.now.unwrap_or(current.resource.last_modified))
}

/// The check before an account is retired: `current` is its version when SCIM sees it.
pub fn check_retire(current: Option<i64>, expected: Option<i64>) -> Result<(), StoreError> {
    match (current, expected) {
        (None, _) => Err(StoreError::NotFound),
        (Some(v), Some(e)) if v != e => Err(StoreError::VersionMismatch),
        _ => Ok(()),
    }
}

/// The statements that retire a user at `at` (unix microseconds), kept until `hold_until`:
/// it leaves its groups (which change, as a deleted member's would), then is marked deleted.
pub fn retire_statements(org: OrgId, id: ResourceId, at: i64, hold_until: i64) -> [Sql; 3] {
    let mut bump = Sql::new("UPDATE resources SET version = version + 1, last_modified = ");
    bump.bind(Value::Int(at));
    bump.push(" WHERE org_id = ");
    bump.bind(Value::Uuid(org.0));
    bump.push(" AND kind = 1 AND id IN (SELECT group_id FROM group_members WHERE org_id = ");
    bump.bind(Value::Uuid(org.0));
    bump.push(" AND member_id = ");
    bump.bind(Value::Uuid(id.0));
    bump.push(")");
    let mut unlink = Sql::new("DELETE FROM group_members WHERE org_id = ");
    unlink.bind(Value::Uuid(org.0));
    unlink.push(" AND member_id = ");
    unlink.bind(Value::Uuid(id.0));
    let mut retire = Sql::new("UPDATE resources SET deleted = ");
    retire.bind(Value::Int(at));
    retire.push(", hold_until = ");
    retire.bind(Value::Int(hold_until));
    retire.push(", version = version + 1, last_modified = ");
    retire.bind(Value::Int(at));
    retire.push(" WHERE org_id = ");
    retire.bind(Value::Uuid(org.0));
    retire.push(" AND id = ");
    retire.bind(Value::Uuid(id.0));
    [bump, unlink, retire]
}

/// The account of a row that selects [`RESOURCE_COLS`](crate::RESOURCE_COLS), then
/// [`ACCOUNT_COLS`].
pub fn account(row: &dyn Columns) -> Result<Account, StoreError> {
    Ok(Account {
        resource: resource(row)?,
        source: source(row, 6)?,
        deleted: opt_time(row, 7)?,
        hold_until: opt_time(row, 8)?,
        local: match row.opt_json(9)? {
            Some(v) => {
                serde_json::from_value(v).map_err(|e| StoreError::Internal(e.to_string()))?
            }
            None => LocalProps::default(),
        },
    })
}

/// A row of [`AccountPlan::page`]: the account, and its sequence number for the cursor.
pub fn account_page_row(row: &dyn Columns) -> Result<(Account, i64), StoreError> {
    Ok((account(row)?, row.int(10)?))
}
