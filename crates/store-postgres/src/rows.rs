//! PostgreSQL rows as the shared decoders read them ([`store_sql::Columns`]): UUIDs are
//! `uuid`, documents `jsonb` (put back in registry key order), integers of every width; and
//! shared statements run with their rows handed to those decoders.

use crate::Failure;
use crate::dialect::{prepared, refs};
use deadpool_postgres::GenericClient;
use directory::StoreError;
use scim_core::schema::{AttributeDef, ResourceKind, registry};
use serde_json::{Map, Value};
use store_sql::{Columns, Sql};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// A driver row, read through [`Columns`].
pub(crate) struct PgRow<'a>(pub(crate) &'a Row);

fn db(e: tokio_postgres::Error) -> StoreError {
    Failure::Db(e).into()
}

impl Columns for PgRow<'_> {
    fn uuid(&self, i: usize) -> Result<Uuid, StoreError> {
        self.0.try_get(i).map_err(db)
    }

    fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>, StoreError> {
        self.0.try_get(i).map_err(db)
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Internal(format!("column {i} is NULL")))
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        // The driver reads an integer only as the Rust type of its own width.
        let ty = self.0.columns().get(i).map(|c| c.type_().clone());
        match ty {
            Some(Type::INT2) => Ok(self
                .0
                .try_get::<_, Option<i16>>(i)
                .map_err(db)?
                .map(i64::from)),
            Some(Type::INT4) => Ok(self
                .0
                .try_get::<_, Option<i32>>(i)
                .map_err(db)?
                .map(i64::from)),
            _ => self.0.try_get(i).map_err(db),
        }
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.0.try_get(i).map_err(db)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.0.try_get(i).map_err(db)
    }

    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.0.try_get(i).map_err(db)
    }

    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.0.try_get(i).map_err(db)
    }

    fn text_list(&self, i: usize) -> Result<Vec<String>, StoreError> {
        self.0.try_get(i).map_err(db)
    }

    fn json(&self, i: usize) -> Result<Value, StoreError> {
        self.0.try_get(i).map_err(db)
    }

    fn opt_json(&self, i: usize) -> Result<Option<Value>, StoreError> {
        self.0.try_get(i).map_err(db)
    }

    fn resource_doc(&self, i: usize, kind: ResourceKind) -> Result<Value, StoreError> {
        Ok(registry_order(kind, self.json(i)?))
    }
}

/// jsonb keeps object keys in its own order (shorter first); canonical documents list them in
/// registry order (`scim_core::resource`). Restoring that order makes a document read back
/// serialise exactly as it was written, as it does on SQLite. Keys the registry does not know
/// follow, in stored order.
fn registry_order(kind: ResourceKind, doc: Value) -> Value {
    let Value::Object(mut map) = doc else {
        return doc;
    };
    let reg = registry();
    let mut out = Map::with_capacity(map.len());
    if let Some(v) = map.shift_remove("schemas") {
        out.insert("schemas".to_owned(), v);
    }
    for def in reg.common.iter().chain(reg.core(kind).attributes.iter()) {
        if let Some(v) = map.shift_remove(def.name) {
            out.insert(def.name.to_owned(), order_value(def, v));
        }
    }
    for ext in reg.extensions(kind) {
        if let Some(v) = map.shift_remove(ext.id) {
            out.insert(ext.id.to_owned(), order_object(&ext.attributes, v));
        }
    }
    out.extend(map);
    Value::Object(out)
}

fn order_value(def: &AttributeDef, v: Value) -> Value {
    if def.sub_attributes.is_empty() {
        return v;
    }
    match v {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| order_object(&def.sub_attributes, i))
                .collect(),
        ),
        other => order_object(&def.sub_attributes, other),
    }
}

fn order_object(defs: &[AttributeDef], v: Value) -> Value {
    let Value::Object(mut map) = v else { return v };
    let mut out = Map::with_capacity(map.len());
    for def in defs {
        if let Some(v) = map.shift_remove(def.name) {
            out.insert(def.name.to_owned(), order_value(def, v));
        }
    }
    out.extend(map);
    Value::Object(out)
}

/// Runs a shared statement and decodes each row it returns with `decode`.
pub(crate) async fn query<C: GenericClient, T>(
    c: &C, sql: &Sql, decode: impl Fn(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Vec<T>, Failure> {
    let (text, args) = prepared(sql);
    let rows = c.query(&text, &refs(&args)).await?;
    Ok(rows
        .iter()
        .map(|row| decode(&PgRow(row)))
        .collect::<Result<_, _>>()?)
}

/// The row a shared statement returns by a unique key, decoded, if there is one.
pub(crate) async fn query_opt<C: GenericClient, T>(
    c: &C, sql: &Sql, decode: impl Fn(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Option<T>, Failure> {
    Ok(query(c, sql, decode).await?.pop())
}

/// The count a shared `SELECT COUNT(*)` returns.
pub(crate) async fn query_count<C: GenericClient>(c: &C, sql: &Sql) -> Result<i64, Failure> {
    let (text, args) = prepared(sql);
    Ok(c.query_one(&text, &refs(&args)).await?.try_get(0)?)
}
