//! The outbox of notices on PostgreSQL. Several instances share it: a claim takes due rows
//! with `FOR UPDATE SKIP LOCKED` and pushes their `next_attempt` past a lease in the same
//! statement, so each row goes to one instance at a time.

use crate::journal::Journal;
use crate::rows::PgRow;
use crate::{Failure, PgStore, from_micros, micros, run};
use async_trait::async_trait;
use directory::events::token_notice;
use directory::store::{Notice, NoticeKind, OutboxStore};
use directory::{OrgId, StoreError};
use store_sql::notices::{NOTICE_COLS, notice};
use time::OffsetDateTime;
use tokio_postgres::Row;

fn notice_row(r: &Row) -> Result<Notice, Failure> {
    Ok(notice(&PgRow(r))?)
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn outbox_pending(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let n: i64 = c
            .query_one("SELECT COUNT(*) FROM notices WHERE sent IS NULL", &[])
            .await
            .map_err(Failure::from)?
            .try_get(0)
            .map_err(Failure::from)?;
        Ok(n as u64)
    }

    async fn enqueue_notice(&self, n: &directory::store::Notice) -> Result<bool, StoreError> {
        transaction!(self, tx => {
            let stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO notices ({NOTICE_COLS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                     ON CONFLICT (org_id, key) DO NOTHING"
                ))
                .await?;
            let added = tx
                .execute(
                    &stmt,
                    &[
                        &n.org_id.0,
                        &n.id.0,
                        &n.key,
                        &n.kind.as_str(),
                        &n.token_id.map(|t| t.0),
                        &n.threshold_days,
                        &n.subject,
                        &n.body,
                        &micros(n.created),
                        &n.attempts,
                        &micros(n.next_attempt),
                        &n.sent.map(micros),
                        &n.last_error,
                    ],
                )
                .await?
                == 1;
            // A new notice about a token is also an event, with the token's expiry; a notice
            // already there was reported when it was enqueued.
            let expired = match n.kind {
                NoticeKind::ExpiryReminder => Some(false),
                NoticeKind::TokenExpired => Some(true),
                NoticeKind::SetupComplete | NoticeKind::WebhookFailing => None,
            };
            if let (true, Some(expired), Some(token)) = (added, expired, n.token_id) {
                let stmt = tx
                    .prepare_cached("SELECT expires FROM tokens WHERE org_id = $1 AND id = $2")
                    .await?;
                if let Some(row) = tx.query_opt(&stmt, &[&n.org_id.0, &token.0]).await? {
                    let mut journal = Journal::new(n.org_id, n.created);
                    journal.push(token_notice(expired, token, from_micros(row.try_get(0)?)));
                    journal.commit(&tx).await?;
                }
            }
            Ok(added)
        })
    }

    async fn claim_notices(
        &self, now: OffsetDateTime, lease_until: OffsetDateTime, limit: u32,
    ) -> Result<Vec<directory::store::Notice>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "UPDATE notices SET attempts = attempts + 1, next_attempt = $2 \
                     WHERE (org_id, id) IN ( \
                         SELECT org_id, id FROM notices WHERE sent IS NULL AND next_attempt <= $1 \
                         ORDER BY next_attempt LIMIT $3 FOR UPDATE SKIP LOCKED) \
                     RETURNING {NOTICE_COLS}"
                ))
                .await?;
            let rows = c
                .query(
                    &stmt,
                    &[&micros(now), &micros(lease_until), &i64::from(limit)],
                )
                .await?;
            rows.iter().map(notice_row).collect()
        })
        .await
    }

    async fn complete_notice(
        &self, org: OrgId, id: directory::ids::NoticeId, sent: OffsetDateTime,
    ) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "UPDATE notices SET sent = $3, last_error = NULL WHERE org_id = $1 AND id = $2",
                )
                .await?;
            c.execute(&stmt, &[&org.0, &id.0, &micros(sent)]).await?;
            Ok(())
        })
        .await
    }

    async fn retry_notice(
        &self, org: OrgId, id: directory::ids::NoticeId, next_attempt: OffsetDateTime, error: &str,
    ) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "UPDATE notices SET next_attempt = $3, last_error = $4 \
                     WHERE org_id = $1 AND id = $2 AND sent IS NULL",
                )
                .await?;
            c.execute(&stmt, &[&org.0, &id.0, &micros(next_attempt), &error])
                .await?;
            Ok(())
        })
        .await
    }

    async fn list_notices(&self, org: OrgId) -> Result<Vec<directory::store::Notice>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {NOTICE_COLS} FROM notices WHERE org_id = $1 ORDER BY created, key"
                ))
                .await?;
            let rows = c.query(&stmt, &[&org.0]).await?;
            rows.iter().map(notice_row).collect()
        })
        .await
    }
}
