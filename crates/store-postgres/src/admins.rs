//! Administrators on PostgreSQL, and what signing in keeps: sessions and the sign-in
//! lock-out counters (per folded address). The counter is one upsert, so failures on several instances at
//! once are all counted.

use crate::rows::PgRow;
use crate::{Failure, PgStore, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::ids::SessionId;
use directory::store::{AdminStore, Administrator, SessionRecord, SigninThrottle};
use directory::{OrgId, StoreError};
use store_sql::admins::{ADMIN_COLS, SESSION_COLS, administrator, session, throttle};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

fn throttle_row(r: &Row) -> Result<SigninThrottle, Failure> {
    Ok(throttle(&PgRow(r))?)
}

#[async_trait]
impl AdminStore for PgStore {
    async fn add_admin(&self, a: &directory::store::Administrator) -> Result<(), StoreError> {
        run(async {
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
        })
        .await
    }

    async fn list_admins(
        &self, org: OrgId,
    ) -> Result<Vec<directory::store::Administrator>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    &format!("SELECT {ADMIN_COLS} FROM administrators WHERE org_id = $1 ORDER BY created, email_ci"),
                )
                .await?;
            let rows = c.query(&stmt, &[&org.0]).await?;
            rows.iter()
                .map(|r| Ok(administrator(&PgRow(r))?))
                .collect()
        })
        .await
    }

    async fn find_admins_by_email(&self, email_ci: &str) -> Result<Vec<Administrator>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {ADMIN_COLS} FROM administrators WHERE email_ci = $1 ORDER BY org_id"
                ))
                .await?;
            let rows = c.query(&stmt, &[&email_ci]).await?;
            rows.iter().map(|r| Ok(administrator(&PgRow(r))?)).collect()
        })
        .await
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            c.execute(
                "INSERT INTO sessions (org_id, id, hash, admin_id, created, expires) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &s.org_id.0,
                    &s.id.0,
                    &s.hash.as_slice(),
                    &s.admin_id.0,
                    &micros(s.created),
                    &micros(s.expires),
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn find_session_by_hash(
        &self, hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLS} FROM sessions WHERE hash = $1"
                ))
                .await?;
            c.query_opt(&stmt, &[&hash.as_slice()])
                .await?
                .map(|row| Ok(session(hash, &PgRow(&row))?))
                .transpose()
        })
        .await
    }

    async fn delete_session(&self, org: OrgId, id: SessionId) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            c.execute(
                "DELETE FROM sessions WHERE org_id = $1 AND id = $2",
                &[&org.0, &id.0],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn end_admin_sessions(
        &self, org: OrgId, admin: directory::ids::AdminId,
    ) -> Result<u64, StoreError> {
        run(async {
            let c = self.client().await?;
            Ok(c.execute(
                "DELETE FROM sessions WHERE org_id = $1 AND admin_id = $2",
                &[&org.0, &admin.0],
            )
            .await?)
        })
        .await
    }

    async fn remove_admin(
        &self, org: OrgId, admin: directory::ids::AdminId,
    ) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            // One statement, so one transaction: the sessions go with their administrator.
            let n = c
                .execute(
                    "WITH ended AS (DELETE FROM sessions WHERE org_id = $1 AND admin_id = $2), \
                     factor AS (DELETE FROM second_factors WHERE org_id = $1 AND admin_id = $2), \
                     codes AS (DELETE FROM recovery_codes WHERE org_id = $1 AND admin_id = $2) \
                     DELETE FROM administrators WHERE org_id = $1 AND id = $2",
                    &[&org.0, &admin.0],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn set_admin_password(
        &self, org: OrgId, admin: directory::ids::AdminId, hash: &str,
    ) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "WITH changed AS (UPDATE administrators SET password_hash = $3 \
                       WHERE org_id = $1 AND id = $2 RETURNING email_ci), \
                     ended AS (DELETE FROM sessions WHERE org_id = $1 AND admin_id = $2 \
                       AND EXISTS (SELECT 1 FROM changed)), \
                     forgotten AS (DELETE FROM signin_failures \
                       WHERE email_ci IN (SELECT email_ci FROM changed)) \
                     SELECT 1 FROM changed",
                    &[&org.0, &admin.0, &hash],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn purge_sessions(
        &self, now: OffsetDateTime, failures_from: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        run(async {
            let c = self.client().await?;
            let sessions = c
                .execute("DELETE FROM sessions WHERE expires <= $1", &[&micros(now)])
                .await?;
            let failures = c
                .execute(
                    "DELETE FROM signin_failures WHERE window_start < $2 \
                     AND (locked_until IS NULL OR locked_until <= $1)",
                    &[&micros(now), &micros(failures_from)],
                )
                .await?;
            let links = c
                .execute(
                    "DELETE FROM password_links WHERE expires <= $1",
                    &[&micros(now)],
                )
                .await?;
            Ok(sessions + failures + links)
        })
        .await
    }

    async fn signin_throttle(&self, email: &str) -> Result<Option<SigninThrottle>, StoreError> {
        run(async {
            let c = self.client().await?;
            c.query_opt(
                "SELECT failures, window_start, locked_until FROM signin_failures \
                 WHERE email_ci = $1",
                &[&email],
            )
            .await?
            .map(|r| throttle_row(&r))
            .transpose()
        })
        .await
    }

    async fn note_signin_failure(
        &self, email: &str, at: OffsetDateTime, window_from: OffsetDateTime,
    ) -> Result<SigninThrottle, StoreError> {
        run(async {
            let c = self.client().await?;
            let row = c
                .query_one(
                    "INSERT INTO signin_failures AS f (email_ci, window_start, failures) \
                     VALUES ($1, $2, 1) \
                     ON CONFLICT (email_ci) DO UPDATE SET \
                       failures = CASE WHEN f.window_start < $3 OR f.locked_until <= $2 \
                         THEN 1 ELSE f.failures + 1 END, \
                       window_start = CASE WHEN f.window_start < $3 OR f.locked_until <= $2 \
                         THEN $2 ELSE f.window_start END, \
                       locked_until = CASE WHEN f.locked_until <= $2 THEN NULL ELSE f.locked_until END \
                     RETURNING failures, window_start, locked_until",
                    &[&email, &micros(at), &micros(window_from)],
                )
                .await?;
            throttle_row(&row)
        })
        .await
    }

    async fn lock_signin(&self, email: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            c.execute(
                "UPDATE signin_failures SET locked_until = $2 WHERE email_ci = $1",
                &[&email, &micros(until)],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn clear_signin_failures(&self, email: &str) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            c.execute("DELETE FROM signin_failures WHERE email_ci = $1", &[&email])
                .await?;
            Ok(())
        })
        .await
    }
}
