//! SQLite's side of the shared SQL (`store-sql`): positional `?` placeholders, `json_each`
//! and `json_extract`, `0`/`1` for known conditions, and the conversion of the shared
//! parameter values for rusqlite. How one value is compared is in `filter_sql`.

use crate::filter_sql;
use rusqlite::types::Value as SqlValue;
use scim_core::filter::{CompValue, CompareOp};
use store_sql::filter::{Multi, Operand};
use store_sql::{Dialect, Sql, Value};

/// SQLite's dialect.
pub(crate) struct Sqlite;

impl Dialect for Sqlite {
    fn placeholder(&self, _: usize, _: &Value) -> String {
        "?".to_owned()
    }

    fn nulls(&self, _: bool) -> &'static str {
        // Already SQLite's own order (NULL is the smallest value).
        ""
    }

    fn truth(&self, b: bool) -> &'static str {
        if b { "1" } else { "0" }
    }

    fn json_text(&self, doc: &str, path: &[&str]) -> String {
        format!("json_extract({doc}, '$.{}')", path.join("."))
    }

    fn fold(&self, expr: &str) -> String {
        format!("scim_lower({expr})")
    }

    fn like_escape(&self) -> &'static str {
        " ESCAPE '\\'"
    }

    fn flag(&self, col: &str, value: bool) -> String {
        format!("{col} = {}", i32::from(value))
    }

    fn elements(&self, m: &Multi, _wrap_single: bool, sql: &mut Sql) {
        // `json_each` of a single value is that value alone already.
        filter_sql::elements(m, sql);
    }

    fn element_is_object(&self) -> Option<&'static str> {
        None
    }

    fn present(&self, operand: &Operand, sql: &mut Sql) {
        filter_sql::present(operand, sql);
    }

    fn compare(&self, operand: &Operand, op: CompareOp, v: &CompValue, sql: &mut Sql) {
        filter_sql::compare(operand, op, v, sql);
    }
}

/// A shared value as rusqlite binds it: booleans are integers, UUIDs their 16 bytes.
pub(crate) fn to_sqlite(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Int4(i) => SqlValue::Integer(i64::from(*i)),
        Value::Float(f) => SqlValue::Real(*f),
        Value::Text(t) => SqlValue::Text(t.clone()),
        Value::Uuid(u) => SqlValue::Blob(u.as_bytes().to_vec()),
        Value::Blob(b) => SqlValue::Blob(b.clone()),
    }
}

/// A statement's text and parameters, ready for rusqlite.
pub(crate) fn prepared(sql: &Sql) -> (String, Vec<SqlValue>) {
    (
        sql.render(&Sqlite),
        sql.params().iter().map(to_sqlite).collect(),
    )
}
