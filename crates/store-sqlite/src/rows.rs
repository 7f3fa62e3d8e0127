//! SQLite rows as the shared decoders read them ([`store_sql::Columns`]): UUIDs are their 16
//! bytes, documents JSON text; and statements run with their rows handed to those decoders.

use crate::runtime::internal;
use crate::uuid_from;
use directory::StoreError;
use rusqlite::params_from_iter;
use scim_core::schema::ResourceKind;
use serde_json::Value;
use store_sql::{Columns, Sql};
use uuid::Uuid;

/// A driver row, read through [`Columns`].
pub(crate) struct SqliteRow<'a, 'r>(pub(crate) &'a rusqlite::Row<'r>);

impl Columns for SqliteRow<'_, '_> {
    fn uuid(&self, i: usize) -> Result<Uuid, StoreError> {
        uuid_from(
            self.0
                .get_ref(i)
                .map_err(internal)?
                .as_blob()
                .map_err(internal)?,
        )
    }

    fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>, StoreError> {
        let bytes = self.0.get_ref(i).map_err(internal)?;
        bytes
            .as_blob_or_null()
            .map_err(internal)?
            .map(uuid_from)
            .transpose()
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.0.get(i).map_err(internal)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.0.get(i).map_err(internal)
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.0.get(i).map_err(internal)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.0.get(i).map_err(internal)
    }

    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.0.get(i).map_err(internal)
    }

    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.0.get(i).map_err(internal)
    }

    fn text_list(&self, i: usize) -> Result<Vec<String>, StoreError> {
        // SQLite has no arrays: lists are kept as comma-separated text.
        let text = self
            .0
            .get_ref(i)
            .map_err(internal)?
            .as_str()
            .map_err(internal)?;
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn json(&self, i: usize) -> Result<Value, StoreError> {
        let text = self
            .0
            .get_ref(i)
            .map_err(internal)?
            .as_str()
            .map_err(internal)?;
        serde_json::from_str(text).map_err(internal)
    }

    fn opt_json(&self, i: usize) -> Result<Option<Value>, StoreError> {
        let text = self
            .0
            .get_ref(i)
            .map_err(internal)?
            .as_str_or_null()
            .map_err(internal)?;
        text.map(serde_json::from_str).transpose().map_err(internal)
    }

    fn resource_doc(&self, i: usize, _: ResourceKind) -> Result<Value, StoreError> {
        self.json(i)
    }
}

/// Runs a shared statement and decodes each row it returns with `decode`.
pub(crate) fn query<T>(
    c: &rusqlite::Connection, sql: &Sql, decode: impl FnMut(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let (text, args) = crate::dialect::prepared(sql);
    all(c, &text, params_from_iter(args.iter()), decode)
}

/// Every row `text` returns, decoded.
pub(crate) fn all<T>(
    c: &rusqlite::Connection, text: &str, params: impl rusqlite::Params,
    mut decode: impl FnMut(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(text).map_err(internal)?;
    let mut rows = stmt.query(params).map_err(internal)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(internal)? {
        out.push(decode(&SqliteRow(row))?);
    }
    Ok(out)
}

/// The first row of a shared statement, decoded, if it returns one.
pub(crate) fn query_opt<T>(
    c: &rusqlite::Connection, sql: &Sql, decode: impl FnOnce(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let (text, args) = crate::dialect::prepared(sql);
    first(c, &text, params_from_iter(args.iter()), decode)
}

/// The first row `text` returns, decoded, if there is one.
pub(crate) fn first<T>(
    c: &rusqlite::Connection, text: &str, params: impl rusqlite::Params,
    decode: impl FnOnce(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = c.prepare_cached(text).map_err(internal)?;
    let mut rows = stmt.query(params).map_err(internal)?;
    match rows.next().map_err(internal)? {
        Some(row) => decode(&SqliteRow(row)).map(Some),
        None => Ok(None),
    }
}

/// The count a shared `SELECT COUNT(*)` returns.
pub(crate) fn query_count(c: &rusqlite::Connection, sql: &Sql) -> Result<i64, StoreError> {
    let (text, args) = crate::dialect::prepared(sql);
    c.prepare_cached(&text)
        .map_err(internal)?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))
        .map_err(internal)
}
