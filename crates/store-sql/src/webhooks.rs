//! The rows of webhook endpoints and their deliveries, with the columns both stores select
//! them by.

use crate::columns::{Columns, int4, opt_int4, opt_time, time};
use directory::ids::WebhookId;
use directory::store::{DeliveryRecord, EventId, EventType, WebhookEndpoint, WebhookState};
use directory::{OrgId, StoreError};

/// The columns of `webhooks`, in the order [`webhook`] reads them.
pub const WEBHOOK_COLS: &str = "org_id, id, url, types, secrets, state, cursor, attempts, next_attempt, \
     failing_since, created, last_delivery, last_status";

/// The columns of `webhook_deliveries` [`delivery`] reads, newest first.
pub const DELIVERY_COLS: &str =
    "endpoint_id, event_id, event_seq, event_type, at, status, error, latency_ms, ok";

fn bad(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("bad {what} {value}"))
}

/// A row of [`WEBHOOK_COLS`].
pub fn webhook(row: &dyn Columns) -> Result<WebhookEndpoint, StoreError> {
    let state = row.text(5)?;
    Ok(WebhookEndpoint {
        org_id: OrgId(row.uuid(0)?),
        id: WebhookId(row.uuid(1)?),
        url: row.text(2)?,
        types: row
            .text_list(3)?
            .iter()
            .map(|t| EventType::parse(t).ok_or_else(|| bad("event type", t)))
            .collect::<Result<_, _>>()?,
        secrets: serde_json::from_value(row.json(4)?).map_err(|e| bad("webhook secrets", e))?,
        state: WebhookState::parse(&state).ok_or_else(|| bad("webhook state", &state))?,
        cursor: row.int(6)?,
        attempts: int4(row, 7)?,
        next_attempt: opt_time(row, 8)?,
        failing_since: opt_time(row, 9)?,
        created: time(row, 10)?,
        last_delivery: opt_time(row, 11)?,
        last_status: opt_int4(row, 12)?,
    })
}

/// A row of [`DELIVERY_COLS`].
pub fn delivery(row: &dyn Columns) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        endpoint: WebhookId(row.uuid(0)?),
        event: EventId(row.uuid(1)?),
        sequence: row.int(2)?,
        event_type: row.text(3)?,
        at: time(row, 4)?,
        status: opt_int4(row, 5)?,
        error: row.opt_text(6)?,
        latency_ms: row.int(7)?,
        ok: row.flag(8)?,
    })
}
