//! Webhook endpoints, their delivery state and their delivery log on PostgreSQL. Several
//! instances deliver: each endpoint is leased to one of them at a time (`lease_owner` until
//! `lease_until`), claimed with `FOR UPDATE SKIP LOCKED`, and a worker's report is applied only
//! while it still holds the lease, so deliveries to one endpoint stay in sequence order.

use crate::rows::PgRow;
use crate::{Failure, PgStore, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::ids::WebhookId;
use directory::store::{
    DeliveryRecord, DeliveryReport, WebhookEndpoint, WebhookSecret, WebhookStore,
};
use directory::{OrgId, StoreError};
use serde_json::Value;
use store_sql::webhooks::{DELIVERY_COLS, WEBHOOK_COLS, delivery, webhook};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

fn bad(what: &str, value: impl std::fmt::Display) -> Failure {
    Failure::Store(StoreError::Internal(format!("bad {what} {value}")))
}

fn webhook_row(row: &Row) -> Result<WebhookEndpoint, Failure> {
    Ok(webhook(&PgRow(row))?)
}

fn delivery_row(row: &Row) -> Result<DeliveryRecord, Failure> {
    Ok(delivery(&PgRow(row))?)
}

fn secrets_json(secrets: &[WebhookSecret]) -> Result<Value, Failure> {
    serde_json::to_value(secrets).map_err(|e| bad("webhook secrets", e))
}

/// The delivery records as columns, for one `unnest` insert.
struct Columns {
    endpoint: Vec<Uuid>,
    event: Vec<Uuid>,
    sequence: Vec<i64>,
    event_type: Vec<String>,
    at: Vec<i64>,
    status: Vec<Option<i32>>,
    error: Vec<Option<String>>,
    latency: Vec<i64>,
    ok: Vec<bool>,
}

impl Columns {
    fn of(records: &[DeliveryRecord]) -> Columns {
        Columns {
            endpoint: records.iter().map(|r| r.endpoint.0).collect(),
            event: records.iter().map(|r| r.event.0).collect(),
            sequence: records.iter().map(|r| r.sequence).collect(),
            event_type: records.iter().map(|r| r.event_type.clone()).collect(),
            at: records.iter().map(|r| micros(r.at)).collect(),
            status: records.iter().map(|r| r.status).collect(),
            error: records.iter().map(|r| r.error.clone()).collect(),
            latency: records.iter().map(|r| r.latency_ms).collect(),
            ok: records.iter().map(|r| r.ok).collect(),
        }
    }
}

/// The `unnest` of [`Columns`] bound from `$first` on, as `d`, with each record's place `n`.
fn unnest(first: usize) -> String {
    let types = [
        "uuid", "uuid", "bigint", "text", "bigint", "int4", "text", "bigint", "bool",
    ];
    let args: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", first + i))
        .collect();
    format!(
        "unnest({}) WITH ORDINALITY \
         AS d (endpoint_id, event_id, event_seq, event_type, at, status, error, latency_ms, ok, n)",
        args.join(", ")
    )
}

const DELIVERY_INSERT: &str = "INSERT INTO webhook_deliveries \
     (org_id, endpoint_id, event_id, event_seq, event_type, at, status, error, latency_ms, ok)";

#[async_trait]
impl WebhookStore for PgStore {
    async fn insert_webhook(&self, w: &WebhookEndpoint) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "INSERT INTO webhooks ({WEBHOOK_COLS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ))
                .await?;
            let types: Vec<&str> = w.types.iter().map(|t| t.as_str()).collect();
            c.execute(
                &stmt,
                &[
                    &w.org_id.0,
                    &w.id.0,
                    &w.url,
                    &types,
                    &secrets_json(&w.secrets)?,
                    &w.state.as_str(),
                    &w.cursor,
                    &w.attempts,
                    &w.next_attempt.map(micros),
                    &w.failing_since.map(micros),
                    &micros(w.created),
                    &w.last_delivery.map(micros),
                    &w.last_status,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn list_webhooks(&self, org: OrgId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {WEBHOOK_COLS} FROM webhooks WHERE org_id = $1 ORDER BY created, id"
                ))
                .await?;
            c.query(&stmt, &[&org.0])
                .await?
                .iter()
                .map(webhook_row)
                .collect()
        })
        .await
    }

    async fn get_webhook(
        &self, org: OrgId, id: WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {WEBHOOK_COLS} FROM webhooks WHERE org_id = $1 AND id = $2"
                ))
                .await?;
            c.query_opt(&stmt, &[&org.0, &id.0])
                .await?
                .as_ref()
                .map(webhook_row)
                .transpose()
        })
        .await
    }

    async fn remove_webhook(&self, org: OrgId, id: WebhookId) -> Result<bool, StoreError> {
        transaction!(self, tx => {
            let endpoint = tx
                .prepare_cached("DELETE FROM webhooks WHERE org_id = $1 AND id = $2")
                .await?;
            if tx.execute(&endpoint, &[&org.0, &id.0]).await? == 0 {
                return Ok(false);
            }
            let log = tx
                .prepare_cached("DELETE FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2")
                .await?;
            tx.execute(&log, &[&org.0, &id.0]).await?;
            Ok(true)
        })
    }

    async fn set_webhook_secrets(
        &self, org: OrgId, id: WebhookId, secrets: &[WebhookSecret],
    ) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached("UPDATE webhooks SET secrets = $3 WHERE org_id = $1 AND id = $2")
                .await?;
            Ok(c.execute(&stmt, &[&org.0, &id.0, &secrets_json(secrets)?])
                .await?
                == 1)
        })
        .await
    }

    async fn set_webhook_cursor(
        &self, org: OrgId, id: WebhookId, cursor: i64,
    ) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "UPDATE webhooks SET cursor = $3, attempts = 0, next_attempt = NULL, \
                     failing_since = NULL, state = 'active' WHERE org_id = $1 AND id = $2",
                )
                .await?;
            Ok(c.execute(&stmt, &[&org.0, &id.0, &cursor]).await? == 1)
        })
        .await
    }

    /// One statement: the due endpoints no other owner holds are locked (skipping those a
    /// concurrent claim is locking) and leased in the same step, so two instances never
    /// hold one endpoint. A row another claim leased after this statement's snapshot is
    /// re-checked on its newest version when locked, and left out.
    async fn claim_webhooks(
        &self, owner: &str, now: OffsetDateTime, until: OffsetDateTime, limit: u32,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "UPDATE webhooks SET lease_owner = $1, lease_until = $3 \
                     WHERE (org_id, id) IN ( \
                         SELECT org_id, id FROM webhooks \
                         WHERE state = 'active' AND (next_attempt IS NULL OR next_attempt <= $2) \
                         AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $2) \
                         ORDER BY next_attempt NULLS FIRST LIMIT $4 FOR UPDATE SKIP LOCKED) \
                     RETURNING {WEBHOOK_COLS}"
                ))
                .await?;
            c.query(
                &stmt,
                &[&owner, &micros(now), &micros(until), &i64::from(limit)],
            )
            .await?
            .iter()
            .map(webhook_row)
            .collect()
        })
        .await
    }

    async fn report_delivery(&self, r: &DeliveryReport) -> Result<bool, StoreError> {
        let last = r.attempts.last();
        let cols = Columns::of(&r.attempts);
        transaction!(self, tx => {
            // The lease check and the new state in one statement, which locks the row: a
            // claim by another owner cannot come in between.
            let state = tx
                .prepare_cached(
                    "UPDATE webhooks SET cursor = $4, state = $5, attempts = $6, next_attempt = $7, \
                     failing_since = $8, \
                     last_delivery = CASE WHEN $9 THEN $10 ELSE last_delivery END, \
                     last_status = CASE WHEN $9 THEN $11 ELSE last_status END, \
                     lease_until = $12::bigint, \
                     lease_owner = CASE WHEN $12::bigint IS NULL THEN NULL ELSE lease_owner END \
                     WHERE org_id = $1 AND id = $2 AND lease_owner = $3",
                )
                .await?;
            let held = tx
                .execute(
                    &state,
                    &[
                        &r.org_id.0,
                        &r.endpoint.0,
                        &r.owner,
                        &r.cursor,
                        &r.state.as_str(),
                        &r.attempt_count,
                        &r.next_attempt.map(micros),
                        &r.failing_since.map(micros),
                        &last.is_some(),
                        &last.map(|a| micros(a.at)),
                        &last.and_then(|a| a.status),
                        &r.lease_until.map(micros),
                    ],
                )
                .await?
                == 1;
            if held && !r.attempts.is_empty() {
                let insert = tx
                    .prepare_cached(&format!(
                        "{DELIVERY_INSERT} SELECT $1, d.endpoint_id, d.event_id, d.event_seq, d.event_type, \
                         d.at, d.status, d.error, d.latency_ms, d.ok FROM {} ORDER BY d.n",
                        unnest(2)
                    ))
                    .await?;
                tx.execute(
                    &insert,
                    &[
                        &r.org_id.0,
                        &cols.endpoint,
                        &cols.event,
                        &cols.sequence,
                        &cols.event_type,
                        &cols.at,
                        &cols.status,
                        &cols.error,
                        &cols.latency,
                        &cols.ok,
                    ],
                )
                .await?;
            }
            Ok(held)
        })
    }

    /// Each record joins the log of its endpoint's organisation; records of an endpoint that
    /// no longer exists are dropped with it.
    async fn record_deliveries(&self, records: &[DeliveryRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let cols = Columns::of(records);
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "{DELIVERY_INSERT} SELECT w.org_id, d.endpoint_id, d.event_id, d.event_seq, d.event_type, \
                     d.at, d.status, d.error, d.latency_ms, d.ok FROM {} \
                     JOIN webhooks w ON w.id = d.endpoint_id ORDER BY d.n",
                    unnest(1)
                ))
                .await?;
            c.execute(
                &stmt,
                &[
                    &cols.endpoint,
                    &cols.event,
                    &cols.sequence,
                    &cols.event_type,
                    &cols.at,
                    &cols.status,
                    &cols.error,
                    &cols.latency,
                    &cols.ok,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn list_deliveries(
        &self, org: OrgId, id: WebhookId, limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLS} \
                     FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2 \
                     ORDER BY seq DESC LIMIT $3"
                ))
                .await?;
            c.query(&stmt, &[&org.0, &id.0, &i64::from(limit)])
                .await?
                .iter()
                .map(delivery_row)
                .collect()
        })
        .await
    }
}
