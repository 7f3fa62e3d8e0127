//! List queries on SQLite: a filter, sort and page turned into one statement (planned by
//! `store_sql::plan_list`, which the PostgreSQL store shares).

use super::build;
use super::members::load_relations;
use crate::dialect::{Sqlite, prepared};
use crate::filter_sql;
use crate::runtime::internal;
use directory::store::columns::kind_code;
use directory::store::{Cursor, CursorKey, ListQuery, Page};
use directory::{OrgId, StoreError};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use store_sql::{Keyset, Value as Param, plan_list};

fn sql_to_json(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::from(*i),
        SqlValue::Real(f) => Value::from(*f),
        SqlValue::Text(t) => Value::String(t.clone()),
        SqlValue::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// A cursor's key bound again as it was read (SQLite's sort keys carry no declared type).
fn json_to_param(v: &Value) -> Option<Param> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => Param::Int(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(Param::Int)
            .unwrap_or_else(|| Param::Float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => Param::Text(s.clone()),
        other => Param::Text(other.to_string()),
    })
}

/// Whether a list query is a few index lookups (`eq` on `id`, the unique name or
/// `externalId`: the provisioning clients' existence check), cheap enough to run on the calling
/// thread. A group's members (possibly 100,000) are not.
pub(crate) fn is_point_query(kind: ResourceKind, q: &ListQuery) -> bool {
    use scim_core::filter::{CompValue, CompareOp, Filter};
    let Some(Filter::Compare(p, CompareOp::Eq, CompValue::Str(_))) = &q.filter else {
        return false;
    };
    let name = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    p.urn.is_none()
        && p.sub.is_none()
        && ["id", name, "externalId"]
            .iter()
            .any(|a| p.attr.eq_ignore_ascii_case(a))
        && !(kind == ResourceKind::Group && q.load.relations)
}

pub(crate) fn list(
    conn: &Connection, cursors: &CursorKey, org: OrgId, kind: ResourceKind, q: &ListQuery,
) -> Result<Page, StoreError> {
    let rows_sql = store_sql::scim_rows(&Sqlite, org, kind, q);
    let sort = match &q.sort {
        Some((path, order)) => filter_sql::sort_expr(path, kind).map(|s| (s, *order)),
        None => None,
    };
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            let cur = cursors.open(org, c)?;
            Some(Keyset {
                key: cur.key.as_ref().and_then(json_to_param),
                seq: cur.seq,
            })
        }
        None => None,
    };
    let plan = plan_list(&Sqlite, &rows_sql, sort.as_ref(), after.as_ref(), q);

    let cursor_mode = q.cursor.is_some();
    let mut resources = Vec::new();
    let mut last: Option<Cursor> = None;
    let mut more = false;
    if q.count > 0 {
        let (text, params) = prepared(&plan.page);
        let mut stmt = conn.prepare_cached(&text).map_err(internal)?;
        let has_key = sort.is_some();
        let mut rows = stmt
            .query(params_from_iter(params.iter()))
            .map_err(internal)?;
        while let Some(row) = rows.next().map_err(internal)? {
            if resources.len() as u64 == q.count {
                more = true;
                break;
            }
            let seq: i64 = row.get(6).map_err(internal)?;
            let key = if has_key {
                Some(sql_to_json(&row.get::<_, SqlValue>(7).map_err(internal)?))
            } else {
                None
            };
            last = Some(Cursor { seq, key });
            let mut r = build(row)?;
            if q.load.relations {
                load_relations(conn, org, &mut r)?;
            }
            resources.push(r);
        }
    }
    let next_cursor = if cursor_mode && more {
        last.as_ref().map(|c| cursors.seal(org, c)).transpose()?
    } else {
        None
    };
    let fetched = resources.len() + usize::from(more);
    let total = match plan.total_from_page(fetched).filter(|_| q.count > 0) {
        Some(n) => n,
        None if q.filter.is_none() => {
            // Kept by triggers (migration 0006): counting a million index entries took tens
            // of milliseconds on every page of an import.
            let n: Option<i64> = conn
                .prepare_cached("SELECT n FROM scim_counts WHERE org_id = ?1 AND kind = ?2")
                .map_err(internal)?
                .query_row(
                    params![org.0.as_bytes().as_slice(), kind_code(kind)],
                    |row| row.get(0),
                )
                .optional()
                .map_err(internal)?;
            n.unwrap_or(0).max(0) as u64
        }
        None => {
            let (text, params) = prepared(&plan.count);
            let n: i64 = conn
                .prepare_cached(&text)
                .map_err(internal)?
                .query_row(params_from_iter(params.iter()), |row| row.get(0))
                .map_err(internal)?;
            n as u64
        }
    };
    Ok(Page {
        resources,
        total,
        next_cursor,
    })
}
