//! The event log on PostgreSQL (docs/contract.md, "Events"): reading it and ageing it. Events
//! are appended by the writes themselves (`journal`).

use crate::rows::PgRow;
use crate::{Failure, PgStore, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::store::{Event, EventId, EventQuery, EventStore};
use directory::{OrgId, StoreError};
use store_sql::events::{EVENT_COLS, event};
use time::OffsetDateTime;
use tokio_postgres::Row;

fn event_row(row: &Row) -> Result<Event, Failure> {
    Ok(event(&PgRow(row))?)
}

#[async_trait]
impl EventStore for PgStore {
    async fn list_events(&self, org: OrgId, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        run(async {
            let c = self.client().await?;
            let limit = i64::from(q.limit);
            // A range of the primary key `(org_id, seq)`, read in its order.
            let rows = if q.types.is_empty() {
                let stmt = c
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLS} FROM events WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
                    ))
                    .await?;
                c.query(&stmt, &[&org.0, &q.after, &limit]).await?
            } else {
                let types: Vec<&str> = q.types.iter().map(|t| t.as_str()).collect();
                let stmt = c
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLS} FROM events WHERE org_id = $1 AND seq > $2 AND type = ANY($4) \
                         ORDER BY seq LIMIT $3"
                    ))
                    .await?;
                c.query(&stmt, &[&org.0, &q.after, &limit, &types]).await?
            };
            rows.iter().map(event_row).collect()
        })
        .await
    }

    async fn find_event(&self, org: OrgId, id: EventId) -> Result<Option<Event>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM events WHERE id = $2 AND org_id = $1"
                ))
                .await?;
            c.query_opt(&stmt, &[&org.0, &id.0])
                .await?
                .as_ref()
                .map(event_row)
                .transpose()
        })
        .await
    }

    async fn last_event_sequence(&self, org: OrgId) -> Result<i64, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached("SELECT last_seq FROM event_counters WHERE org_id = $1")
                .await?;
            Ok(match c.query_opt(&stmt, &[&org.0]).await? {
                Some(row) => row.try_get(0)?,
                None => 0,
            })
        })
        .await
    }

    /// Returns how many events went (their delivery records go too, uncounted). The counters
    /// stay, so numbering carries on.
    async fn purge_events(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = micros(before);
        transaction!(self, tx => {
            let events = tx
                .prepare_cached("DELETE FROM events WHERE created < $1")
                .await?;
            let gone = tx.execute(&events, &[&before]).await?;
            let deliveries = tx
                .prepare_cached("DELETE FROM webhook_deliveries WHERE at < $1")
                .await?;
            tx.execute(&deliveries, &[&before]).await?;
            Ok(gone)
        })
    }
}
