//! The row of an organisation, with the columns both stores select it by.

use crate::columns::{Columns, time};
use directory::{OrgId, Organisation, StoreError};

/// The columns of `organisations`, in the order [`organisation`] reads them.
pub const ORG_COLS: &str = "id, name, kind, created";

/// A row of [`ORG_COLS`].
pub fn organisation(row: &dyn Columns) -> Result<Organisation, StoreError> {
    Ok(Organisation {
        id: OrgId(row.uuid(0)?),
        name: row.text(1)?,
        kind: row.text(2)?.parse().map_err(StoreError::Internal)?,
        created: time(row, 3)?,
    })
}
