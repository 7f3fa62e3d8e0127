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
    /// What the query asks of an account row `r` of the organisation: each condition starts
    /// with ` AND ` (empty for the whole list), for a store that plans a search its own way.
    pub conditions: Sql,
}

/// Plans a page of the account list of `org`, after the account with sequence number
/// `after`, selecting `cols` (of the resource row `r`) before the account columns. `search` is
/// the store's condition on `r` for `q.search` (see [`crate::search`]), when there is one.
pub fn plan_accounts(
    d: &impl Dialect, org: OrgId, q: &AccountQuery, search: Option<&Sql>, cols: &str,
    after: Option<i64>,
) -> AccountPlan {
    let mut conditions = Sql::default();
    if let Some(search) = search {
        conditions.push(" AND ");
        conditions.append(search);
    }
    if let Some(source) = q.source {
        conditions.push(&format!(" AND r.source = '{}'", source.as_str()));
    }
    match q.status {
        Some(Status::Active) => {
            conditions.push(" AND r.deleted IS NULL AND ");
            conditions.push(&d.flag("r.active", true));
        }
        Some(Status::Deactivated) => {
            conditions.push(" AND (r.deleted IS NOT NULL OR ");
            conditions.push(&d.flag("r.active", false));
            conditions.push(")");
        }
        None => {}
    }
    let mut rows = org_accounts(org);
    rows.append(&conditions);
    let mut count = Sql::new("SELECT COUNT(*) ");
    count.append(&rows);
    let per_page = q.count.clamp(1, 1000);
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
        conditions,
    }
}

/// `FROM` the account rows `r` of `org`, for conditions to follow.
pub fn org_accounts(org: OrgId) -> Sql {
    let mut rows = Sql::new("FROM resources r WHERE r.org_id = ");
    rows.bind(Value::Uuid(org.0));
    rows.push(" AND r.kind = 0");
    rows
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
