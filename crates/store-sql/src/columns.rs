//! A result row as the shared decoders read it. Each store reads its driver's row through this
//! trait, in the types both agree on, so that a row becomes a model value in one place.

use directory::store::columns::{from_micros, kind_from};
use directory::store::{Source, StoredResource};
use directory::{ResourceId, StoreError};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// The columns of one row by position (from 0). What the stores store differently (a UUID as
/// bytes or as `uuid`, a document as text or as `jsonb`, an integer of any width) arrives here
/// as one type.
pub trait Columns {
    fn uuid(&self, i: usize) -> Result<Uuid, StoreError>;

    fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>, StoreError>;

    fn int(&self, i: usize) -> Result<i64, StoreError>;

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;

    fn text(&self, i: usize) -> Result<String, StoreError>;

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;

    /// A list of names (an array, or comma-separated text).
    fn text_list(&self, i: usize) -> Result<Vec<String>, StoreError>;

    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError>;

    fn flag(&self, i: usize) -> Result<bool, StoreError>;

    fn json(&self, i: usize) -> Result<Value, StoreError>;

    fn opt_json(&self, i: usize) -> Result<Option<Value>, StoreError>;

    /// A resource's SCIM document, its attributes in the order SCIM shows them (a store that
    /// keeps documents in its own key order restores this one).
    fn resource_doc(&self, i: usize, kind: ResourceKind) -> Result<Value, StoreError>;
}

/// The columns every resource statement selects first, as [`resource`] reads them.
pub const RESOURCE_COLS: &str = "r.id, r.kind, r.version, r.created, r.last_modified, r.doc";

/// The resource in the first columns of `row` ([`RESOURCE_COLS`]), without its relations.
pub fn resource(row: &dyn Columns) -> Result<StoredResource, StoreError> {
    let kind = kind_from(row.int(1)?);
    Ok(StoredResource {
        id: ResourceId(row.uuid(0)?),
        kind,
        doc: row.resource_doc(5, kind)?,
        version: row.int(2)?,
        created: time(row, 3)?,
        last_modified: time(row, 4)?,
        members: None,
        groups: None,
    })
}

/// The instant at column `i` (unix microseconds, as every timestamp is stored).
pub fn time(row: &dyn Columns, i: usize) -> Result<OffsetDateTime, StoreError> {
    Ok(from_micros(row.int(i)?))
}

pub fn opt_time(row: &dyn Columns, i: usize) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(row.opt_int(i)?.map(from_micros))
}

/// A 32-bit integer column (`int4`, or an SQLite integer).
pub fn int4(row: &dyn Columns, i: usize) -> Result<i32, StoreError> {
    narrow(row.int(i)?)
}

pub fn opt_int4(row: &dyn Columns, i: usize) -> Result<Option<i32>, StoreError> {
    row.opt_int(i)?.map(narrow).transpose()
}

fn narrow(v: i64) -> Result<i32, StoreError> {
    i32::try_from(v).map_err(|e| StoreError::Internal(e.to_string()))
}

/// The source (`scim`, `manual`) at column `i`.
pub fn source(row: &dyn Columns, i: usize) -> Result<Source, StoreError> {
    let source = row.text(i)?;
    Source::parse(&source).ok_or_else(|| StoreError::Internal(format!("bad source {source}")))
}

/// An account's local properties as the `local` column keeps them (JSON).
pub fn local_json(local: &directory::store::LocalProps) -> Result<Value, StoreError> {
    serde_json::to_value(local).map_err(|e| StoreError::Internal(e.to_string()))
}

/// A copied or imported resource's local properties ([`local_json`]); `None` for a group.
pub fn state_local(state: &directory::store::DirectoryState) -> Result<Option<Value>, StoreError> {
    state.local.as_ref().map(local_json).transpose()
}
