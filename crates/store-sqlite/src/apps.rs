//! Applications and webhook endpoints on SQLite: keys by hash, endpoints with their delivery
//! state and leases, and the delivery log.

use crate::b;
use crate::rows::{SqliteRow, all};
use crate::runtime::{Effect, blob, internal};
use crate::{SqliteStore, uuid_from};
use async_trait::async_trait;
use directory::ids::{AppId, WebhookId};
use directory::store::columns::micros;
use directory::store::{
    AppStore, Application, DeliveryRecord, DeliveryReport, EventType, WebhookEndpoint,
    WebhookSecret, WebhookStore,
};
use directory::{OrgId, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use store_sql::credentials::{APP_COLS, application};
use store_sql::webhooks::{DELIVERY_COLS, WEBHOOK_COLS, delivery, webhook};
use time::OffsetDateTime;

fn app_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Application, StoreError>> {
    Ok(application(&SqliteRow(row)))
}

fn map_app_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, Some(msg)) = &e
        && err.code == rusqlite::ErrorCode::ConstraintViolation
        && msg.contains("apps.name")
    {
        return StoreError::Conflict("name");
    }
    internal(e)
}

#[async_trait]
impl AppStore for SqliteStore {
    async fn insert_app(&self, app: &Application) -> Result<(), StoreError> {
        let a = app.clone();
        self.rt
            .write(Effect::Data, move |c| {
                c.prepare_cached(&format!(
                    "INSERT INTO apps ({APP_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ))
                .map_err(internal)?
                .execute(params![
                    b(&a.org_id.0),
                    b(&a.id.0),
                    a.name,
                    a.prefix,
                    a.hash.as_slice(),
                    micros(a.created),
                    a.last_used.map(micros),
                    a.revoked.map(micros)
                ])
                .map_err(map_app_err)?;
                Ok(())
            })
            .await
    }

    async fn list_apps(&self, org: OrgId) -> Result<Vec<Application>, StoreError> {
        self.rt
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {APP_COLS} FROM apps WHERE org_id = ?1 ORDER BY created, id"
                    ))
                    .map_err(internal)?;
                let rows = stmt
                    .query_map(params![b(&org.0)], app_row)
                    .map_err(internal)?;
                let mut out = Vec::new();
                for row in rows {
                    out.push(row.map_err(internal)??);
                }
                Ok(out)
            })
            .await
    }

    async fn find_app_by_hash(&self, hash: &[u8; 32]) -> Result<Option<Application>, StoreError> {
        self.rt
            .read_now(|c| {
                c.prepare_cached(&format!("SELECT {APP_COLS} FROM apps WHERE hash = ?1"))
                    .map_err(internal)?
                    .query_row(params![hash.as_slice()], app_row)
                    .optional()
                    .map_err(internal)?
                    .transpose()
            })
            .await
    }

    async fn touch_app(&self, org: OrgId, id: AppId, at: OffsetDateTime) -> Result<(), StoreError> {
        let t = micros(at);
        self.rt
            .execute(
                "UPDATE apps SET last_used = ?3 WHERE org_id = ?1 AND id = ?2 \
                 AND (last_used IS NULL OR last_used < ?3 - 60000000)",
                vec![blob(&org.0), blob(&id.0), t.into()],
            )
            .await?;
        Ok(())
    }

    async fn revoke_app(
        &self, org: OrgId, id: AppId, at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = self
            .rt
            .execute(
                "UPDATE apps SET revoked = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked IS NULL",
                vec![blob(&org.0), blob(&id.0), micros(at).into()],
            )
            .await?;
        Ok(n == 1)
    }
}

fn types_text(types: &[EventType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn query_webhooks(
    c: &Connection, sql: &str, args: impl rusqlite::Params,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    all(c, sql, args, webhook)
}

fn insert_deliveries(
    c: &Connection, org: OrgId, records: &[DeliveryRecord],
) -> Result<(), StoreError> {
    let mut insert = c
        .prepare_cached(
            "INSERT INTO webhook_deliveries (org_id, endpoint_id, event_id, event_seq, event_type, at, status, error, latency_ms, ok) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(internal)?;
    for r in records {
        insert
            .execute(params![
                b(&org.0),
                b(&r.endpoint.0),
                b(&r.event.0),
                r.sequence,
                r.event_type,
                micros(r.at),
                r.status,
                r.error,
                r.latency_ms,
                r.ok
            ])
            .map_err(internal)?;
    }
    Ok(())
}

/// The organisation of endpoint `id`, for attempts recorded outside a lease.
fn endpoint_org(c: &Connection, id: WebhookId) -> Result<Option<OrgId>, StoreError> {
    let org: Option<Vec<u8>> = c
        .prepare_cached("SELECT org_id FROM webhooks WHERE id = ?1")
        .map_err(internal)?
        .query_row(params![b(&id.0)], |r| r.get(0))
        .optional()
        .map_err(internal)?;
    org.map(|o| uuid_from(&o).map(OrgId)).transpose()
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_webhook(&self, w: &WebhookEndpoint) -> Result<(), StoreError> {
        let w = w.clone();
        self.rt
            .write(Effect::Data, move |c| {
                let secrets = serde_json::to_string(&w.secrets).map_err(internal)?;
                c.prepare_cached(&format!(
                    "INSERT INTO webhooks ({WEBHOOK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ))
                .map_err(internal)?
                .execute(params![
                    b(&w.org_id.0),
                    b(&w.id.0),
                    w.url,
                    types_text(&w.types),
                    secrets,
                    w.state.as_str(),
                    w.cursor,
                    w.attempts,
                    w.next_attempt.map(micros),
                    w.failing_since.map(micros),
                    micros(w.created),
                    w.last_delivery.map(micros),
                    w.last_status
                ])
                .map_err(internal)?;
                Ok(())
            })
            .await
    }

    async fn list_webhooks(&self, org: OrgId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.rt
            .read(move |c| {
                query_webhooks(
                    c,
                    &format!(
                        "SELECT {WEBHOOK_COLS} FROM webhooks WHERE org_id = ?1 ORDER BY created, id"
                    ),
                    params![b(&org.0)],
                )
            })
            .await
    }

    async fn get_webhook(
        &self, org: OrgId, id: WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        self.rt
            .read_now(|c| {
                Ok(query_webhooks(
                    c,
                    &format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE org_id = ?1 AND id = ?2"),
                    params![b(&org.0), b(&id.0)],
                )?
                .pop())
            })
            .await
    }

    async fn remove_webhook(&self, org: OrgId, id: WebhookId) -> Result<bool, StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                let n = c
                    .prepare_cached("DELETE FROM webhooks WHERE org_id = ?1 AND id = ?2")
                    .map_err(internal)?
                    .execute(params![b(&org.0), b(&id.0)])
                    .map_err(internal)?;
                c.prepare_cached(
                    "DELETE FROM webhook_deliveries WHERE org_id = ?1 AND endpoint_id = ?2",
                )
                .map_err(internal)?
                .execute(params![b(&org.0), b(&id.0)])
                .map_err(internal)?;
                Ok(n == 1)
            })
            .await
    }

    async fn set_webhook_secrets(
        &self, org: OrgId, id: WebhookId, secrets: &[WebhookSecret],
    ) -> Result<bool, StoreError> {
        let text = serde_json::to_string(secrets).map_err(internal)?;
        let n = self
            .rt
            .execute(
                "UPDATE webhooks SET secrets = ?3 WHERE org_id = ?1 AND id = ?2",
                vec![blob(&org.0), blob(&id.0), text.into()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn set_webhook_cursor(
        &self, org: OrgId, id: WebhookId, cursor: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .rt
            .execute(
                "UPDATE webhooks SET cursor = ?3, state = 'active', attempts = 0, next_attempt = NULL, \
                 failing_since = NULL WHERE org_id = ?1 AND id = ?2",
                vec![blob(&org.0), blob(&id.0), cursor.into()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn claim_webhooks(
        &self, owner: &str, now: OffsetDateTime, until: OffsetDateTime, limit: u32,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let owner = owner.to_owned();
        self.rt
            .write(Effect::LogOnly, move |c| {
                let (now, until) = (micros(now), micros(until));
                let due = "state = 'active' AND (next_attempt IS NULL OR next_attempt <= ?2) \
                     AND (lease_owner IS NULL OR lease_owner = ?1 OR lease_until < ?2)";
                let claimed = query_webhooks(
                    c,
                    &format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE {due} ORDER BY next_attempt, created LIMIT ?3"),
                    params![owner, now, i64::from(limit)],
                )?;
                let mut lease = c
                    .prepare_cached(
                        "UPDATE webhooks SET lease_owner = ?3, lease_until = ?4 WHERE org_id = ?1 AND id = ?2",
                    )
                    .map_err(internal)?;
                for w in &claimed {
                    lease
                        .execute(params![b(&w.org_id.0), b(&w.id.0), owner, until])
                        .map_err(internal)?;
                }
                Ok(claimed)
            })
            .await
    }

    async fn report_delivery(&self, report: &DeliveryReport) -> Result<bool, StoreError> {
        let r = report.clone();
        self.rt
            .write(Effect::LogOnly, move |c| {
                let last = r.attempts.last();
                let n = c
                    .prepare_cached(
                        "UPDATE webhooks SET cursor = ?4, state = ?5, attempts = ?6, next_attempt = ?7, \
                         failing_since = ?8, lease_owner = CASE WHEN ?9 IS NULL THEN NULL ELSE lease_owner END, \
                         lease_until = ?9, last_delivery = COALESCE(?10, last_delivery), \
                         last_status = CASE WHEN ?10 IS NULL THEN last_status ELSE ?11 END \
                         WHERE org_id = ?1 AND id = ?2 AND lease_owner = ?3",
                    )
                    .map_err(internal)?
                    .execute(params![
                        b(&r.org_id.0),
                        b(&r.endpoint.0),
                        r.owner,
                        r.cursor,
                        r.state.as_str(),
                        r.attempt_count,
                        r.next_attempt.map(micros),
                        r.failing_since.map(micros),
                        r.lease_until.map(micros),
                        last.map(|a| micros(a.at)),
                        last.and_then(|a| a.status)
                    ])
                    .map_err(internal)?;
                if n == 0 {
                    return Ok(false);
                }
                insert_deliveries(c, r.org_id, &r.attempts)?;
                Ok(true)
            })
            .await
    }

    async fn record_deliveries(&self, records: &[DeliveryRecord]) -> Result<(), StoreError> {
        let records = records.to_vec();
        self.rt
            .write(Effect::LogOnly, move |c| {
                for r in &records {
                    if let Some(org) = endpoint_org(c, r.endpoint)? {
                        insert_deliveries(c, org, std::slice::from_ref(r))?;
                    }
                }
                Ok(())
            })
            .await
    }

    async fn list_deliveries(
        &self, org: OrgId, id: WebhookId, limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.rt
            .read(move |c| {
                all(
                    c,
                    &format!(
                        "SELECT {DELIVERY_COLS} FROM webhook_deliveries \
                         WHERE org_id = ?1 AND endpoint_id = ?2 ORDER BY seq DESC LIMIT ?3"
                    ),
                    params![b(&org.0), b(&id.0), i64::from(limit)],
                    delivery,
                )
            })
            .await
    }
}
