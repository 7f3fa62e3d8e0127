//! The console's state on PostgreSQL: set-up links and the sign-in lock-out counters. The
//! counter is one upsert, so failures on several instances at once are all counted.

use crate::{Failure, PgStore, from_micros, micros};
use directory::OrgId;
use directory::store::{SetupLink, SigninThrottle};
use time::OffsetDateTime;
use tokio_postgres::Row;

fn throttle_row(r: &Row) -> Result<SigninThrottle, Failure> {
    Ok(SigninThrottle {
        failures: u32::try_from(r.try_get::<_, i32>(0)?).unwrap_or(0),
        window_start: from_micros(r.try_get(1)?),
        locked_until: r.try_get::<_, Option<i64>>(2)?.map(from_micros),
    })
}

impl PgStore {
    pub(crate) async fn con_insert_setup_link(&self, l: &SetupLink) -> Result<(), Failure> {
        let c = self.client().await?;
        // One statement: the earlier unused links go as the new one arrives.
        c.execute(
            "WITH earlier AS (DELETE FROM setup_links WHERE org_id = $1 AND used IS NULL) \
             INSERT INTO setup_links (org_id, hash, created, expires, used) VALUES ($1, $2, $3, $4, $5)",
            &[
                &l.org_id.0,
                &l.hash.as_slice(),
                &micros(l.created),
                &micros(l.expires),
                &l.used.map(micros),
            ],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn con_find_setup_link(
        &self,
        org: OrgId,
        hash: &[u8; 32],
    ) -> Result<Option<SetupLink>, Failure> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT created, expires, used FROM setup_links WHERE org_id = $1 AND hash = $2",
            &[&org.0, &hash.as_slice()],
        )
        .await?
        .map(|r| {
            Ok(SetupLink {
                org_id: org,
                hash: *hash,
                created: from_micros(r.try_get(0)?),
                expires: from_micros(r.try_get(1)?),
                used: r.try_get::<_, Option<i64>>(2)?.map(from_micros),
            })
        })
        .transpose()
    }

    pub(crate) async fn con_use_setup_link(
        &self,
        org: OrgId,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, Failure> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE setup_links SET used = $3 \
                 WHERE org_id = $1 AND hash = $2 AND used IS NULL AND expires > $3",
                &[&org.0, &hash.as_slice(), &micros(at)],
            )
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn con_signin_throttle(
        &self,
        org: OrgId,
        email: &str,
    ) -> Result<Option<SigninThrottle>, Failure> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT failures, window_start, locked_until FROM signin_failures \
             WHERE org_id = $1 AND email_ci = $2",
            &[&org.0, &email],
        )
        .await?
        .map(|r| throttle_row(&r))
        .transpose()
    }

    pub(crate) async fn con_note_signin_failure(
        &self,
        org: OrgId,
        email: &str,
        at: OffsetDateTime,
        window_from: OffsetDateTime,
    ) -> Result<SigninThrottle, Failure> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "INSERT INTO signin_failures AS f (org_id, email_ci, window_start, failures) \
                 VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (org_id, email_ci) DO UPDATE SET \
                   failures = CASE WHEN f.window_start < $4 OR f.locked_until <= $3 \
                     THEN 1 ELSE f.failures + 1 END, \
                   window_start = CASE WHEN f.window_start < $4 OR f.locked_until <= $3 \
                     THEN $3 ELSE f.window_start END, \
                   locked_until = CASE WHEN f.locked_until <= $3 THEN NULL ELSE f.locked_until END \
                 RETURNING failures, window_start, locked_until",
                &[&org.0, &email, &micros(at), &micros(window_from)],
            )
            .await?;
        throttle_row(&row)
    }

    pub(crate) async fn con_lock_signin(
        &self,
        org: OrgId,
        email: &str,
        until: OffsetDateTime,
    ) -> Result<(), Failure> {
        let c = self.client().await?;
        c.execute(
            "UPDATE signin_failures SET locked_until = $3 WHERE org_id = $1 AND email_ci = $2",
            &[&org.0, &email, &micros(until)],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn con_clear_signin_failures(
        &self,
        org: OrgId,
        email: &str,
    ) -> Result<(), Failure> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM signin_failures WHERE org_id = $1 AND email_ci = $2",
            &[&org.0, &email],
        )
        .await?;
        Ok(())
    }
}
