//! The plan of a SCIM list: one page statement and one count statement over the same rows,
//! paged by offset or by keyset over (sort key, `seq`).

use crate::{Dialect, RESOURCE_COLS, Sql, Value};
use directory::model::columns::kind_code;
use directory::store::ListQuery;
use directory::{OrgId, StoreError};
use scim_core::messages::SortOrder;
use scim_core::schema::ResourceKind;

/// The SQL type of a sort key, where a backend knows it: it decides how a cursor's key is
/// bound again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Text,
    Int,
    Float,
    Bool,
}

/// A cursor's key bound with the sort key's type; a key of another type is a cursor of another
/// query. `Ok(None)` for a NULL key.
pub fn key_value(key: &serde_json::Value, ty: KeyType) -> Result<Option<Value>, StoreError> {
    use serde_json::Value as J;
    Ok(Some(match (ty, key) {
        (_, J::Null) => return Ok(None),
        (KeyType::Text, J::String(s)) => Value::Text(s.clone()),
        (KeyType::Int, J::Number(n)) => Value::Int(n.as_i64().ok_or(StoreError::InvalidCursor)?),
        (KeyType::Float, J::Number(n)) => {
            Value::Float(n.as_f64().ok_or(StoreError::InvalidCursor)?)
        }
        (KeyType::Bool, J::Bool(b)) => Value::Bool(*b),
        _ => return Err(StoreError::InvalidCursor),
    }))
}

/// Where the next page starts: after the row with this sort key (`None` when it had none)
/// and sequence number.
#[derive(Debug, Clone)]
pub struct Keyset {
    pub key: Option<Value>,
    pub seq: i64,
}

/// The statements of one list query.
#[derive(Debug)]
pub struct ListPlan {
    /// `SELECT <RESOURCE_COLS>, r.seq[, <sort key>] ...`: the sequence number is the column
    /// after the resource's, the sort key (when sorted) the one after that.
    pub page: Sql,
    /// `SELECT COUNT(*)` over every row the filter matches.
    pub count: Sql,
    /// Rows the page statement returns at most: one more than asked in cursor mode, which
    /// tells whether there is a next page.
    pub limit: i64,
    pub offset: i64,
    keyset: bool,
}

impl ListPlan {
    /// The total, when the page that returned `fetched` rows tells it alone: a page that
    /// starts at the first match, or holds rows, and is not full ends at the last match (the
    /// common lookup, `userName eq`, finds 0 or 1 and needs no count).
    pub fn total_from_page(&self, fetched: usize) -> Option<u64> {
        let fetched = i64::try_from(fetched).ok()?;
        (!self.keyset && fetched < self.limit && (fetched > 0 || self.offset == 0))
            .then(|| u64::try_from(self.offset + fetched).unwrap_or(0))
    }
}

/// The rows SCIM shows: synced and not deleted.
pub const SCIM_VISIBLE: &str = "r.source = 'scim' AND r.deleted IS NULL";

/// The rows a SCIM list reads (`FROM resources r WHERE ...`): the organisation's resources of
/// one kind that SCIM shows, under the query's filter. The kind is written into the SQL, not
/// bound: the name indexes are partial on `kind`, and neither SQLite (which uses a partial
/// index only when the query states its condition) nor a generic PostgreSQL plan for `kind =
/// $2` could use them.
pub fn scim_rows(d: &impl Dialect, org: OrgId, kind: ResourceKind, q: &ListQuery) -> Sql {
    let mut rows = Sql::new("FROM resources r WHERE r.org_id = ");
    rows.bind(Value::Uuid(org.0));
    rows.push(&format!(
        " AND r.kind = {} AND {SCIM_VISIBLE}",
        kind_code(kind)
    ));
    if let Some(f) = &q.filter {
        rows.push(" AND ");
        crate::lower_filter(d, f, kind, &mut rows);
    }
    rows
}

/// Plans a list over `rows` (see [`scim_rows`]), selecting [`RESOURCE_COLS`] of the row `r`,
/// ordered by `sort` (an expression and its order) then `seq`, after `after` when a cursor
/// names a row.
pub fn plan_list(
    d: &impl Dialect, rows: &Sql, sort: Option<&(Sql, SortOrder)>, after: Option<&Keyset>,
    q: &ListQuery,
) -> ListPlan {
    let desc = matches!(sort, Some((_, SortOrder::Descending)));
    let (dir, cmp) = if desc { ("DESC", "<") } else { ("ASC", ">") };
    let key = sort.map(|(k, _)| k);

    let mut page = Sql::new("SELECT ");
    page.push(RESOURCE_COLS);
    page.push(", r.seq");
    if let Some(k) = key {
        page.push(", ");
        page.append(k);
    }
    page.push(" ");
    page.append(rows);
    if let Some(after) = after {
        match (key, &after.key) {
            // NULL keys come first ascending and last descending: after a non-null key come
            // the NULL ones when descending; after a NULL key every non-null one ascending.
            (Some(k), Some(kv)) => {
                page.push(" AND (");
                page.append(k);
                page.push(&format!(" {cmp} "));
                page.bind(kv.clone());
                page.push(" OR (");
                page.append(k);
                page.push(" = ");
                page.bind(kv.clone());
                page.push(&format!(" AND r.seq {cmp} "));
                page.bind(Value::Int(after.seq));
                page.push(")");
                if desc {
                    page.push(" OR ");
                    page.append(k);
                    page.push(" IS NULL");
                }
                page.push(")");
            }
            (Some(k), None) => {
                page.push(" AND ((");
                page.append(k);
                page.push(&format!(" IS NULL AND r.seq {cmp} "));
                page.bind(Value::Int(after.seq));
                page.push(")");
                if !desc {
                    page.push(" OR ");
                    page.append(k);
                    page.push(" IS NOT NULL");
                }
                page.push(")");
            }
            (None, _) => {
                page.push(&format!(" AND r.seq {cmp} "));
                page.bind(Value::Int(after.seq));
            }
        }
    }
    match key {
        Some(k) => {
            page.push(" ORDER BY ");
            page.append(k);
            page.push(&format!(" {dir}{}, r.seq {dir}", d.nulls(desc)));
        }
        None => page.push(&format!(" ORDER BY r.seq {dir}")),
    }
    let cursor_mode = q.cursor.is_some();
    let limit = i64::try_from(q.count)
        .unwrap_or(i64::MAX)
        .saturating_add(i64::from(cursor_mode));
    let offset = if cursor_mode {
        0
    } else {
        i64::try_from(q.start_index.saturating_sub(1)).unwrap_or(i64::MAX)
    };
    page.push(" LIMIT ");
    page.bind(Value::Int(limit));
    page.push(" OFFSET ");
    page.bind(Value::Int(offset));

    let mut count = Sql::new("SELECT COUNT(*) ");
    count.append(rows);
    ListPlan {
        page,
        count,
        limit,
        offset,
        keyset: q.cursor.as_deref().is_some_and(|c| !c.is_empty()),
    }
}
