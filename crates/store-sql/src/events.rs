//! The row of an event, with the columns both stores select it by.

use crate::columns::{Columns, time};
use directory::store::{Event, EventId, EventType};
use directory::{OrgId, StoreError};

/// The columns of `events`, in the order [`event`] reads them.
pub const EVENT_COLS: &str = "org_id, seq, id, type, created, data";

/// A row of [`EVENT_COLS`].
pub fn event(row: &dyn Columns) -> Result<Event, StoreError> {
    let kind = row.text(3)?;
    Ok(Event {
        org: OrgId(row.uuid(0)?),
        sequence: row.int(1)?,
        id: EventId(row.uuid(2)?),
        kind: EventType::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("bad event type {kind}")))?,
        created: time(row, 4)?,
        data: row.json(5)?,
    })
}
