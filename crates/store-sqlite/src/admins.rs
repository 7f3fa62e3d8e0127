//! Administrators on SQLite, and what signing in keeps: sessions and the sign-in
//! lock-out counters (per folded address). Every write is one job of the single writer, so a
//! read-then-write inside it is atomic.

use crate::SqliteStore;
use crate::b;
use crate::rows::{all, first};
use crate::runtime::{Effect, blob, internal};
use async_trait::async_trait;
use directory::ids::SessionId;
use directory::store::columns::micros;
use directory::store::{AdminStore, Administrator, SessionRecord, SigninThrottle};
use directory::{OrgId, StoreError};
use rusqlite::{Connection, params};
use store_sql::admins::{
    ADMIN_COLS, SESSION_COLS, THROTTLE_COLS, administrator, session, throttle,
};
use time::OffsetDateTime;

fn throttle_of(c: &Connection, email: &str) -> Result<Option<SigninThrottle>, StoreError> {
    first(
        c,
        &format!("SELECT {THROTTLE_COLS} FROM signin_failures WHERE email_ci = ?1"),
        params![email],
        throttle,
    )
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn add_admin(&self, admin: &directory::store::Administrator) -> Result<(), StoreError> {
        let a = admin.clone();
        self.rt.write(Effect::Data, move |c| {
            c.prepare_cached(
                "INSERT INTO administrators (org_id, id, email, email_ci, role, password_hash, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(internal)?
            .execute(params![
                b(&a.org_id.0),
                b(&a.id.0),
                a.email,
                a.email.to_lowercase(),
                a.role.as_str(),
                a.password_hash,
                micros(a.created)
            ])
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Conflict("email")
                }
                other => internal(other),
            })?;
            Ok(())
        })
        .await
    }

    async fn list_admins(
        &self, org: OrgId,
    ) -> Result<Vec<directory::store::Administrator>, StoreError> {
        self.rt
            .read(move |c| {
                all(
                    c,
                    &format!(
                        "SELECT {ADMIN_COLS} FROM administrators \
                         WHERE org_id = ?1 ORDER BY created, email_ci"
                    ),
                    params![b(&org.0)],
                    administrator,
                )
            })
            .await
    }

    async fn find_admins_by_email(&self, email_ci: &str) -> Result<Vec<Administrator>, StoreError> {
        let email = email_ci.to_owned();
        self.rt
            .read(move |c| {
                all(
                    c,
                    &format!(
                        "SELECT {ADMIN_COLS} FROM administrators WHERE email_ci = ?1 ORDER BY org_id"
                    ),
                    params![email],
                    administrator,
                )
            })
            .await
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let s = s.clone();
        self.rt.execute(
            "INSERT INTO sessions (org_id, id, hash, admin_id, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![
                blob(&s.org_id.0),
                blob(&s.id.0),
                s.hash.to_vec().into(),
                blob(&s.admin_id.0),
                micros(s.created).into(),
                micros(s.expires).into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_session_by_hash(
        &self, hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.rt
            .read_now(|c| {
                first(
                    c,
                    &format!("SELECT {SESSION_COLS} FROM sessions WHERE hash = ?1"),
                    params![hash.as_slice()],
                    |row| session(hash, row),
                )
            })
            .await
    }

    async fn delete_session(&self, org: OrgId, id: SessionId) -> Result<(), StoreError> {
        self.rt
            .execute(
                "DELETE FROM sessions WHERE org_id = ?1 AND id = ?2",
                vec![blob(&org.0), blob(&id.0)],
            )
            .await?;
        Ok(())
    }

    async fn end_admin_sessions(
        &self, org: OrgId, admin: directory::ids::AdminId,
    ) -> Result<u64, StoreError> {
        self.rt
            .execute(
                "DELETE FROM sessions WHERE org_id = ?1 AND admin_id = ?2",
                vec![blob(&org.0), blob(&admin.0)],
            )
            .await
            .map(|n| n as u64)
    }

    async fn remove_admin(
        &self, org: OrgId, admin: directory::ids::AdminId,
    ) -> Result<bool, StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                for table in ["sessions", "second_factors", "recovery_codes"] {
                    c.prepare_cached(&format!(
                        "DELETE FROM {table} WHERE org_id = ?1 AND admin_id = ?2"
                    ))
                    .map_err(internal)?
                    .execute(params![
                        org.0.as_bytes().as_slice(),
                        admin.0.as_bytes().as_slice()
                    ])
                    .map_err(internal)?;
                }
                let n = c
                    .prepare_cached("DELETE FROM administrators WHERE org_id = ?1 AND id = ?2")
                    .map_err(internal)?
                    .execute(params![
                        org.0.as_bytes().as_slice(),
                        admin.0.as_bytes().as_slice()
                    ])
                    .map_err(internal)?;
                Ok(n == 1)
            })
            .await
    }

    async fn set_admin_password(
        &self, org: OrgId, admin: directory::ids::AdminId, password_hash: &str,
    ) -> Result<bool, StoreError> {
        let hash = password_hash.to_owned();
        self.rt
            .write(Effect::Data, move |c| {
                let (o, a) = (org.0.as_bytes().as_slice(), admin.0.as_bytes().as_slice());
                let n = c
                .prepare_cached(
                    "UPDATE administrators SET password_hash = ?3 WHERE org_id = ?1 AND id = ?2",
                )
                .map_err(internal)?
                .execute(params![o, a, hash])
                .map_err(internal)?;
                if n == 0 {
                    return Ok(false);
                }
                c.prepare_cached("DELETE FROM sessions WHERE org_id = ?1 AND admin_id = ?2")
                    .map_err(internal)?
                    .execute(params![o, a])
                    .map_err(internal)?;
                c.prepare_cached(
                    "DELETE FROM signin_failures WHERE email_ci = \
                 (SELECT email_ci FROM administrators WHERE org_id = ?1 AND id = ?2)",
                )
                .map_err(internal)?
                .execute(params![o, a])
                .map_err(internal)?;
                Ok(true)
            })
            .await
    }

    async fn purge_sessions(
        &self, now: OffsetDateTime, failures_from: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                let sessions = c
                    .prepare_cached("DELETE FROM sessions WHERE expires <= ?1")
                    .map_err(internal)?
                    .execute(params![micros(now)])
                    .map_err(internal)?;
                let failures = c
                    .prepare_cached(
                        "DELETE FROM signin_failures WHERE window_start < ?2 \
                     AND (locked_until IS NULL OR locked_until <= ?1)",
                    )
                    .map_err(internal)?
                    .execute(params![micros(now), micros(failures_from)])
                    .map_err(internal)?;
                let links = c
                    .prepare_cached("DELETE FROM password_links WHERE expires <= ?1")
                    .map_err(internal)?
                    .execute(params![micros(now)])
                    .map_err(internal)?;
                Ok((sessions + failures + links) as u64)
            })
            .await
    }

    async fn signin_throttle(&self, email: &str) -> Result<Option<SigninThrottle>, StoreError> {
        self.rt.read_now(|c| throttle_of(c, email)).await
    }

    async fn note_signin_failure(
        &self, email_ci: &str, at: OffsetDateTime, window_from: OffsetDateTime,
    ) -> Result<SigninThrottle, StoreError> {
        let email = email_ci.to_owned();
        self.rt
            .write(Effect::Data, move |c| {
                c.prepare_cached(
                    "INSERT INTO signin_failures (email_ci, window_start, failures) \
                 VALUES (?1, ?2, 1) \
                 ON CONFLICT (email_ci) DO UPDATE SET \
                   failures = CASE WHEN window_start < ?3 OR locked_until <= ?2 \
                     THEN 1 ELSE failures + 1 END, \
                   window_start = CASE WHEN window_start < ?3 OR locked_until <= ?2 \
                     THEN ?2 ELSE window_start END, \
                   locked_until = CASE WHEN locked_until <= ?2 THEN NULL ELSE locked_until END",
                )
                .map_err(internal)?
                .execute(params![email, micros(at), micros(window_from)])
                .map_err(internal)?;
                throttle_of(c, &email)?.ok_or(StoreError::NotFound)
            })
            .await
    }

    async fn lock_signin(&self, email_ci: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        let email = email_ci.to_owned();
        self.rt
            .execute(
                "UPDATE signin_failures SET locked_until = ?2 WHERE email_ci = ?1",
                vec![email.into(), micros(until).into()],
            )
            .await?;
        Ok(())
    }

    async fn clear_signin_failures(&self, email_ci: &str) -> Result<(), StoreError> {
        let email = email_ci.to_owned();
        self.rt
            .execute(
                "DELETE FROM signin_failures WHERE email_ci = ?1",
                vec![email.into()],
            )
            .await?;
        Ok(())
    }
}
