//! Token lifecycle, connection state, administrators, activity log and outbox on PostgreSQL.
//! Several instances share the outbox: a claim takes due rows with `FOR UPDATE SKIP LOCKED`
//! and pushes their `next_attempt` past a lease in the same statement, so each row goes to one
//! instance at a time.

use crate::{Failure, PgStore, from_micros, micros};
use directory::ids::{AdminId, NoticeId};
use directory::store::{
    ActivityEntry, AdminRole, Administrator, Connection, ConnectionState, Notice, NoticeKind,
};
use directory::{OrgId, StoreError, TokenId};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

fn org_key(org: Option<OrgId>) -> Uuid {
    org.map(|o| o.0).unwrap_or(Uuid::nil())
}

const NOTICE_COLS: &str = "org_id, id, key, kind, token_id, threshold, subject, body, created, attempts, next_attempt, sent, last_error";

fn notice_row(r: &Row) -> Result<Notice, Failure> {
    let kind: String = r.try_get(3)?;
    Ok(Notice {
        org_id: OrgId(r.try_get(0)?),
        id: NoticeId(r.try_get(1)?),
        key: r.try_get(2)?,
        kind: NoticeKind::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("bad notice kind {kind}")))?,
        token_id: r.try_get::<_, Option<Uuid>>(4)?.map(TokenId),
        threshold_days: r.try_get(5)?,
        subject: r.try_get(6)?,
        body: r.try_get(7)?,
        created: from_micros(r.try_get(8)?),
        attempts: r.try_get(9)?,
        next_attempt: from_micros(r.try_get(10)?),
        sent: r.try_get::<_, Option<i64>>(11)?.map(from_micros),
        last_error: r.try_get(12)?,
    })
}

impl PgStore {
    pub(crate) async fn lc_revoke_token(
        &self,
        org: OrgId,
        id: TokenId,
        at: OffsetDateTime,
    ) -> Result<bool, Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE tokens SET revoked = $3 WHERE org_id = $1 AND id = $2 AND revoked IS NULL",
            )
            .await?;
        Ok(c.execute(&stmt, &[&org.0, &id.0, &micros(at)]).await? == 1)
    }

    pub(crate) async fn lc_get_connection(
        &self,
        org: OrgId,
    ) -> Result<Option<Connection>, Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT state, changed FROM connections WHERE org_id = $1")
            .await?;
        let Some(row) = c.query_opt(&stmt, &[&org.0]).await? else {
            return Ok(None);
        };
        let state: String = row.try_get(0)?;
        Ok(Some(Connection {
            state: ConnectionState::parse(&state)
                .ok_or_else(|| StoreError::Internal(format!("bad state {state}")))?,
            changed: from_micros(row.try_get(1)?),
        }))
    }

    pub(crate) async fn lc_set_connection(
        &self,
        org: OrgId,
        conn: &Connection,
    ) -> Result<(), Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO connections (org_id, state, changed) VALUES ($1, $2, $3) \
                 ON CONFLICT (org_id) DO UPDATE SET state = excluded.state, changed = excluded.changed",
            )
            .await?;
        c.execute(
            &stmt,
            &[&org.0, &conn.state.as_str(), &micros(conn.changed)],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn lc_add_admin(&self, a: &Administrator) -> Result<(), Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO administrators (org_id, id, email, email_ci, role, password_hash, created) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await?;
        let result = c
            .execute(
                &stmt,
                &[
                    &a.org_id.0,
                    &a.id.0,
                    &a.email,
                    &a.email.to_lowercase(),
                    &a.role.as_str(),
                    &a.password_hash,
                    &micros(a.created),
                ],
            )
            .await;
        match result {
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::Conflict("email").into())
            }
            other => other.map(|_| ()).map_err(Failure::from),
        }
    }

    pub(crate) async fn lc_list_admins(&self, org: OrgId) -> Result<Vec<Administrator>, Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT id, email, role, password_hash, created FROM administrators \
                 WHERE org_id = $1 ORDER BY created, email_ci",
            )
            .await?;
        let rows = c.query(&stmt, &[&org.0]).await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get(2)?;
                Ok(Administrator {
                    id: AdminId(r.try_get(0)?),
                    org_id: org,
                    email: r.try_get(1)?,
                    role: role.parse::<AdminRole>().map_err(StoreError::Internal)?,
                    password_hash: r.try_get(3)?,
                    created: from_micros(r.try_get(4)?),
                })
            })
            .collect()
    }

    /// One statement for the whole batch (`UNNEST` of column arrays): one round trip and one
    /// transaction however many entries.
    pub(crate) async fn lc_append_activity(
        &self,
        entries: &[ActivityEntry],
    ) -> Result<(), Failure> {
        if entries.is_empty() {
            return Ok(());
        }
        let org: Vec<Uuid> = entries.iter().map(|e| org_key(e.org_id)).collect();
        let at: Vec<i64> = entries.iter().map(|e| micros(e.at)).collect();
        let token: Vec<Option<Uuid>> = entries.iter().map(|e| e.token_id.map(|t| t.0)).collect();
        let actor: Vec<&str> = entries.iter().map(|e| e.actor.as_str()).collect();
        let action: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        let target: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
        let status: Vec<Option<i32>> = entries.iter().map(|e| e.status.map(i32::from)).collect();
        let duration: Vec<Option<i64>> = entries.iter().map(|e| e.duration_us).collect();
        let resource: Vec<Option<&str>> = entries.iter().map(|e| e.resource.as_deref()).collect();
        let detail: Vec<Option<&str>> = entries.iter().map(|e| e.detail.as_deref()).collect();
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO activity (org_id, at, token_id, actor, action, target, status, duration_us, resource, detail) \
                 SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::int[], $8::bigint[], $9::text[], $10::text[])",
            )
            .await?;
        c.execute(
            &stmt,
            &[
                &org, &at, &token, &actor, &action, &target, &status, &duration, &resource, &detail,
            ],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn lc_list_activity(
        &self,
        org: Option<OrgId>,
        since: Option<OffsetDateTime>,
        limit: u32,
    ) -> Result<Vec<ActivityEntry>, Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT at, token_id, actor, action, target, status, duration_us, resource, detail \
                 FROM activity WHERE org_id = $1 AND at >= $2 ORDER BY at, seq LIMIT $3",
            )
            .await?;
        let rows = c
            .query(
                &stmt,
                &[
                    &org_key(org),
                    &since.map(micros).unwrap_or(i64::MIN),
                    &i64::from(limit),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ActivityEntry {
                    org_id: org,
                    at: from_micros(r.try_get(0)?),
                    token_id: r.try_get::<_, Option<Uuid>>(1)?.map(TokenId),
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    target: r.try_get(4)?,
                    status: r
                        .try_get::<_, Option<i32>>(5)?
                        .and_then(|s| u16::try_from(s).ok()),
                    duration_us: r.try_get(6)?,
                    resource: r.try_get(7)?,
                    detail: r.try_get(8)?,
                })
            })
            .collect()
    }

    pub(crate) async fn lc_purge_activity(&self, before: OffsetDateTime) -> Result<u64, Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("DELETE FROM activity WHERE at < $1")
            .await?;
        Ok(c.execute(&stmt, &[&micros(before)]).await?)
    }

    pub(crate) async fn lc_enqueue_notice(&self, n: &Notice) -> Result<bool, Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "INSERT INTO notices ({NOTICE_COLS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (org_id, key) DO NOTHING"
            ))
            .await?;
        let added = c
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
            .await?;
        Ok(added == 1)
    }

    pub(crate) async fn lc_claim_notices(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Notice>, Failure> {
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
    }

    pub(crate) async fn lc_complete_notice(
        &self,
        org: OrgId,
        id: NoticeId,
        sent: OffsetDateTime,
    ) -> Result<(), Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE notices SET sent = $3, last_error = NULL WHERE org_id = $1 AND id = $2",
            )
            .await?;
        c.execute(&stmt, &[&org.0, &id.0, &micros(sent)]).await?;
        Ok(())
    }

    pub(crate) async fn lc_retry_notice(
        &self,
        org: OrgId,
        id: NoticeId,
        next_attempt: OffsetDateTime,
        error: &str,
    ) -> Result<(), Failure> {
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
    }

    pub(crate) async fn lc_list_notices(&self, org: OrgId) -> Result<Vec<Notice>, Failure> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {NOTICE_COLS} FROM notices WHERE org_id = $1 ORDER BY created, key"
            ))
            .await?;
        let rows = c.query(&stmt, &[&org.0]).await?;
        rows.iter().map(notice_row).collect()
    }
}
