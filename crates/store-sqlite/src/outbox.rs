//! The outbox of notices on SQLite. With one writer, claiming notices needs no row locks: the
//! claim is one write job.

use crate::SqliteStore;
use crate::b;
use crate::journal::Journal;
use crate::rows::all;
use crate::runtime::{Effect, internal};
use async_trait::async_trait;
use directory::events::notice_event;
use directory::store::columns::{from_micros, micros};
use directory::store::{Notice, OutboxStore};
use directory::{OrgId, StoreError};
use rusqlite::{Connection as Db, OptionalExtension, params};
use store_sql::notices::{NOTICE_COLS, notice};
use time::OffsetDateTime;

fn query_notices(
    c: &Db, sql: &str, args: impl rusqlite::Params,
) -> Result<Vec<Notice>, StoreError> {
    all(c, sql, args, notice)
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn outbox_pending(&self) -> Result<u64, StoreError> {
        self.rt
            .read_now(|c| {
                c.prepare_cached("SELECT COUNT(*) FROM notices WHERE sent IS NULL")
                    .map_err(internal)?
                    .query_row([], |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
                    .map_err(internal)
            })
            .await
    }

    async fn enqueue_notice(&self, notice: &directory::store::Notice) -> Result<bool, StoreError> {
        let n = notice.clone();
        self.rt.write(Effect::LogOnly, move |c| {
            let added = c
                .prepare_cached(
                    "INSERT INTO notices (org_id, id, key, kind, token_id, threshold, subject, body, created, attempts, next_attempt, sent, last_error) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                     ON CONFLICT (org_id, key) DO NOTHING",
                )
                .map_err(internal)?
                .execute(params![
                    b(&n.org_id.0),
                    b(&n.id.0),
                    n.key,
                    n.kind.as_str(),
                    n.token_id.map(|t| t.0.as_bytes().to_vec()),
                    n.threshold_days,
                    n.subject,
                    n.body,
                    micros(n.created),
                    n.attempts,
                    micros(n.next_attempt),
                    n.sent.map(micros),
                    n.last_error
                ])
                .map_err(internal)?;
            if added == 1
                && let Some(token) = n.token_id
            {
                let expires: Option<i64> = c
                    .prepare_cached("SELECT expires FROM tokens WHERE org_id = ?1 AND id = ?2")
                    .map_err(internal)?
                    .query_row(params![b(&n.org_id.0), b(&token.0)], |r| r.get(0))
                    .optional()
                    .map_err(internal)?;
                if let Some(e) = expires.and_then(|t| notice_event(n.kind, token, from_micros(t))) {
                    let mut journal = Journal::new(n.org_id, n.created);
                    journal.push(e);
                    journal.append(c)?;
                }
            }
            Ok(added == 1)
        })
        .await
    }

    async fn claim_notices(
        &self, now: OffsetDateTime, lease_until: OffsetDateTime, limit: u32,
    ) -> Result<Vec<directory::store::Notice>, StoreError> {
        self.rt.write(Effect::LogOnly, move |c| {
            let due = query_notices(
                c,
                &format!(
                    "SELECT {NOTICE_COLS} FROM notices WHERE sent IS NULL AND next_attempt <= ?1 \
                     ORDER BY next_attempt LIMIT ?2"
                ),
                params![micros(now), i64::from(limit)],
            )?;
            let mut stmt = c
                .prepare_cached(
                    "UPDATE notices SET attempts = attempts + 1, next_attempt = ?3 WHERE org_id = ?1 AND id = ?2",
                )
                .map_err(internal)?;
            let mut out = Vec::with_capacity(due.len());
            for mut n in due {
                stmt.execute(params![b(&n.org_id.0), b(&n.id.0), micros(lease_until)])
                    .map_err(internal)?;
                n.attempts += 1;
                n.next_attempt = lease_until;
                out.push(n);
            }
            Ok(out)
        })
        .await
    }

    async fn complete_notice(
        &self, org: OrgId, id: directory::ids::NoticeId, sent: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.rt
            .write(Effect::LogOnly, move |c| {
                c.prepare_cached(
                    "UPDATE notices SET sent = ?3, last_error = NULL WHERE org_id = ?1 AND id = ?2",
                )
                .map_err(internal)?
                .execute(params![b(&org.0), b(&id.0), micros(sent)])
                .map_err(internal)?;
                Ok(())
            })
            .await
    }

    async fn retry_notice(
        &self, org: OrgId, id: directory::ids::NoticeId, next_attempt: OffsetDateTime, error: &str,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.rt.write(Effect::LogOnly, move |c| {
            c.prepare_cached(
                "UPDATE notices SET next_attempt = ?3, last_error = ?4 WHERE org_id = ?1 AND id = ?2 AND sent IS NULL",
            )
            .map_err(internal)?
            .execute(params![b(&org.0), b(&id.0), micros(next_attempt), error])
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn list_notices(&self, org: OrgId) -> Result<Vec<directory::store::Notice>, StoreError> {
        self.rt
            .read(move |c| {
                query_notices(
                    c,
                    &format!(
                        "SELECT {NOTICE_COLS} FROM notices WHERE org_id = ?1 ORDER BY created, key"
                    ),
                    params![b(&org.0)],
                )
            })
            .await
    }
}
