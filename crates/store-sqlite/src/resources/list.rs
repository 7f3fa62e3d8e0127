//! List queries on SQLite: a filter, sort and page turned into one statement.

use super::members::load_relations;
use super::{RESOURCE_COLS, SCIM_VISIBLE, build, row_to_resource};
use crate::filter_sql;
use crate::filter_sql::Sql;
use crate::runtime::internal;
use directory::store::columns::kind_code;
use directory::store::{Cursor, CursorKey, ListQuery, Page};
use directory::{OrgId, StoreError};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use scim_core::messages::SortOrder;
use scim_core::schema::ResourceKind;
use serde_json::Value;

fn append_sql(sql: &mut Sql, other: &Sql) {
    sql.text.push_str(&other.text);
    sql.params.extend(other.params.iter().cloned());
}

fn sql_to_json(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::from(*i),
        SqlValue::Real(f) => Value::from(*f),
        SqlValue::Text(t) => Value::String(t.clone()),
        SqlValue::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

fn json_to_sql(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(SqlValue::Integer)
            .unwrap_or_else(|| SqlValue::Real(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
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
    conn: &Connection,
    cursors: &CursorKey,
    org: OrgId,
    kind: ResourceKind,
    q: &ListQuery,
) -> Result<Page, StoreError> {
    let mut base = Sql::default();
    // The kind is written into the SQL, not bound: the name indexes are partial (`WHERE kind
    // = 0` / `= 1`) and SQLite uses a partial index only when the query states its condition.
    base.text.push_str(&format!(
        "FROM resources r WHERE r.org_id = ? AND r.kind = {} AND {SCIM_VISIBLE}",
        kind_code(kind)
    ));
    base.params.push(SqlValue::Blob(org.0.as_bytes().to_vec()));
    if let Some(f) = &q.filter {
        base.text.push_str(" AND ");
        filter_sql::translate(f, kind, &mut base);
    }
    let sort = match &q.sort {
        Some((path, order)) => filter_sql::sort_expr(path, kind).map(|s| (s, *order)),
        None => None,
    };
    let desc = matches!(sort, Some((_, SortOrder::Descending)));
    let dir = if desc { "DESC" } else { "ASC" };
    let cmp = if desc { "<" } else { ">" };
    let key_expr = sort.as_ref().map(|(s, _)| s);

    let mut sql = Sql::default();
    sql.text.push_str("SELECT ");
    sql.text.push_str(RESOURCE_COLS);
    sql.text.push_str(", r.seq");
    if let Some(k) = key_expr {
        sql.text.push_str(", ");
        sql.text.push_str(&k.text);
        sql.params.extend(k.params.iter().cloned());
    }
    sql.text.push(' ');
    sql.text.push_str(&base.text);
    sql.params.extend(base.params.iter().cloned());

    let cursor_mode = q.cursor.is_some();
    if let Some(c) = q.cursor.as_deref().filter(|c| !c.is_empty()) {
        let cur = cursors.open(org, c)?;
        match (key_expr, &cur.key) {
            (Some(k), key) => {
                // Keyset over (sort key, seq). SQLite sorts NULL keys first ascending and
                // last descending, so rows without a key come after a non-null cursor key when
                // descending, and every non-null key comes after a null one when ascending.
                let kv = key.as_ref().map(json_to_sql).unwrap_or(SqlValue::Null);
                let null_key = matches!(kv, SqlValue::Null);
                let mut cond = Sql::default();
                cond.text.push_str(" AND ((");
                append_sql(&mut cond, k);
                cond.text.push_str(&format!(" {cmp} ?"));
                cond.params.push(kv.clone());
                cond.text.push_str(") OR (");
                append_sql(&mut cond, k);
                cond.text.push_str(&format!(" IS ? AND r.seq {cmp} ?)"));
                cond.params.push(kv);
                cond.params.push(SqlValue::Integer(cur.seq));
                if null_key != desc {
                    cond.text.push_str(" OR ");
                    append_sql(&mut cond, k);
                    cond.text
                        .push_str(if desc { " IS NULL" } else { " IS NOT NULL" });
                }
                cond.text.push(')');
                append_sql(&mut sql, &cond);
            }
            (None, _) => {
                sql.text.push_str(&format!(" AND r.seq {cmp} ?"));
                sql.params.push(SqlValue::Integer(cur.seq));
            }
        }
    }
    match key_expr {
        Some(k) => {
            sql.text
                .push_str(&format!(" ORDER BY {} {dir}, r.seq {dir}", k.text));
            sql.params.extend(k.params.iter().cloned());
        }
        None => sql.text.push_str(&format!(" ORDER BY r.seq {dir}")),
    }
    // One row more than asked tells whether there is a next page.
    sql.text.push_str(" LIMIT ? OFFSET ?");
    sql.params
        .push(SqlValue::Integer(q.count as i64 + i64::from(cursor_mode)));
    sql.params.push(SqlValue::Integer(if cursor_mode {
        0
    } else {
        q.start_index.saturating_sub(1) as i64
    }));

    let mut resources = Vec::new();
    let mut last: Option<Cursor> = None;
    let mut more = false;
    if q.count > 0 {
        let mut stmt = conn.prepare_cached(&sql.text).map_err(internal)?;
        let has_key = key_expr.is_some();
        let mut rows = stmt
            .query(params_from_iter(sql.params.iter()))
            .map_err(internal)?;
        while let Some(row) = rows.next().map_err(internal)? {
            if resources.len() as u64 == q.count {
                more = true;
                break;
            }
            let raw = row_to_resource(row).map_err(internal)?;
            let seq: i64 = row.get(6).map_err(internal)?;
            let key = if has_key {
                Some(sql_to_json(&row.get::<_, SqlValue>(7).map_err(internal)?))
            } else {
                None
            };
            last = Some(Cursor { seq, key });
            let mut r = build(raw)?;
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
    // A first page that holds everything tells the total itself (the provisioning clients'
    // existence checks): no second statement.
    let first_page = q.cursor.as_deref().is_none_or(str::is_empty) && q.start_index <= 1;
    let whole = !more && (cursor_mode || (resources.len() as u64) < q.count);
    let total = if q.count > 0 && first_page && whole {
        resources.len() as u64
    } else if q.filter.is_none() {
        // Kept by triggers (migration 0006): counting a million index entries took tens of
        // milliseconds on every page of an import.
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
    } else {
        let n: i64 = conn
            .prepare_cached(&format!("SELECT COUNT(*) {}", base.text))
            .map_err(internal)?
            .query_row(params_from_iter(base.params.iter()), |row| row.get(0))
            .map_err(internal)?;
        n as u64
    };
    Ok(Page {
        resources,
        total,
        next_cursor,
    })
}
