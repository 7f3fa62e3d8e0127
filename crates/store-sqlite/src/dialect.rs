//! SQLite's side of the shared SQL (`store-sql`): positional `?` placeholders, and the
//! conversion of the shared parameter values for rusqlite.

use rusqlite::types::Value as SqlValue;
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
