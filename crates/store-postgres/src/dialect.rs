//! PostgreSQL's side of the shared SQL (`store-sql`): numbered placeholders with an explicit
//! cast, jsonb access, `TRUE`/`FALSE`, and the conversion of the shared parameter values for
//! tokio-postgres. How one value is compared is in `filter_sql`.

use crate::filter_sql;
use scim_core::filter::{CompValue, CompareOp};
use store_sql::filter::{Multi, Operand};
use store_sql::{Dialect, Sql, Value};
use tokio_postgres::types::ToSql;

/// PostgreSQL's dialect.
pub(crate) struct Postgres;

impl Dialect for Postgres {
    fn placeholder(&self, n: usize, v: &Value) -> String {
        // The cast means PostgreSQL never has to guess a parameter's type from its context.
        let cast = match v {
            Value::Null | Value::Text(_) => "text",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "bigint",
            Value::Int4(_) => "int4",
            Value::Float(_) => "float8",
            Value::Uuid(_) => "uuid",
            Value::Blob(_) => "bytea",
        };
        format!("${n}::{cast}")
    }

    fn nulls(&self, desc: bool) -> &'static str {
        if desc { " NULLS LAST" } else { " NULLS FIRST" }
    }

    fn truth(&self, b: bool) -> &'static str {
        if b { "TRUE" } else { "FALSE" }
    }

    fn json_text(&self, doc: &str, path: &[&str]) -> String {
        match path {
            [name] => format!("{doc} ->> '{name}'"),
            _ => format!("{doc} #>> '{{{}}}'", path.join(",")),
        }
    }

    fn fold(&self, expr: &str) -> String {
        // ICU's root-locale lower() (see the migration).
        format!("scim_fold({expr})")
    }

    fn like_escape(&self) -> &'static str {
        // Backslash is PostgreSQL's escape already.
        ""
    }

    fn flag(&self, col: &str, value: bool) -> String {
        if value {
            col.to_owned()
        } else {
            format!("NOT {col}")
        }
    }

    fn elements(&self, m: &Multi, wrap_single: bool, sql: &mut Sql) {
        filter_sql::elements(m, wrap_single, sql);
    }

    fn element_is_object(&self) -> Option<&'static str> {
        Some("jsonb_typeof(e.value) = 'object'")
    }

    fn present(&self, operand: &Operand, sql: &mut Sql) {
        filter_sql::present(operand, sql);
    }

    fn compare(&self, operand: &Operand, op: CompareOp, v: &CompValue, sql: &mut Sql) {
        filter_sql::compare(operand, op, v, sql);
    }
}

/// A bound parameter as the driver takes it.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

fn to_param(v: &Value) -> Param {
    match v {
        Value::Null => Box::new(None::<String>),
        Value::Bool(b) => Box::new(*b),
        Value::Int(i) => Box::new(*i),
        Value::Int4(i) => Box::new(*i),
        Value::Float(f) => Box::new(*f),
        Value::Text(t) => Box::new(t.clone()),
        Value::Uuid(u) => Box::new(*u),
        Value::Blob(b) => Box::new(b.clone()),
    }
}

/// A statement's text and parameters, ready for tokio-postgres (see [`refs`]).
pub(crate) fn prepared(sql: &Sql) -> (String, Vec<Param>) {
    (
        sql.render(&Postgres),
        sql.params().iter().map(to_param).collect(),
    )
}

/// The parameters as the driver's query functions take them.
pub(crate) fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}
