//! The console's state on SQLite: set-up links and the sign-in lock-out counters. Every
//! write is one job of the single writer, so a read-then-write inside it is atomic.

use super::{from_micros, micros};
use crate::runtime::{Runtime, blob, internal};
use directory::store::{SetupLink, SigninThrottle};
use directory::{OrgId, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

fn b(u: &uuid::Uuid) -> &[u8] {
    u.as_bytes().as_slice()
}

pub(crate) async fn insert_setup_link(rt: &Runtime, l: SetupLink) -> Result<(), StoreError> {
    rt.write(move |c| {
        c.prepare_cached("DELETE FROM setup_links WHERE org_id = ?1 AND used IS NULL")
            .map_err(internal)?
            .execute(params![b(&l.org_id.0)])
            .map_err(internal)?;
        c.prepare_cached(
            "INSERT INTO setup_links (org_id, hash, created, expires, used) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(internal)?
        .execute(params![
            b(&l.org_id.0),
            l.hash.as_slice(),
            micros(l.created),
            micros(l.expires),
            l.used.map(micros)
        ])
        .map_err(internal)?;
        Ok(())
    })
    .await
}

pub(crate) fn find_setup_link(
    rt: &Runtime,
    org: OrgId,
    hash: &[u8; 32],
) -> Result<Option<SetupLink>, StoreError> {
    rt.read_now(|c| {
        c.prepare_cached(
            "SELECT created, expires, used FROM setup_links WHERE org_id = ?1 AND hash = ?2",
        )
        .map_err(internal)?
        .query_row(params![b(&org.0), hash.as_slice()], |r| {
            Ok(SetupLink {
                org_id: org,
                hash: *hash,
                created: from_micros(r.get(0)?),
                expires: from_micros(r.get(1)?),
                used: r.get::<_, Option<i64>>(2)?.map(from_micros),
            })
        })
        .optional()
        .map_err(internal)
    })
}

pub(crate) async fn use_setup_link(
    rt: &Runtime,
    org: OrgId,
    hash: [u8; 32],
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = rt
        .execute(
            "UPDATE setup_links SET used = ?3 \
             WHERE org_id = ?1 AND hash = ?2 AND used IS NULL AND expires > ?3",
            vec![blob(&org.0), hash.to_vec().into(), micros(at).into()],
        )
        .await?;
    Ok(n == 1)
}

fn throttle(c: &Connection, org: OrgId, email: &str) -> Result<Option<SigninThrottle>, StoreError> {
    c.prepare_cached(
        "SELECT failures, window_start, locked_until FROM signin_failures \
         WHERE org_id = ?1 AND email_ci = ?2",
    )
    .map_err(internal)?
    .query_row(params![b(&org.0), email], |r| {
        Ok(SigninThrottle {
            failures: r.get(0)?,
            window_start: from_micros(r.get(1)?),
            locked_until: r.get::<_, Option<i64>>(2)?.map(from_micros),
        })
    })
    .optional()
    .map_err(internal)
}

pub(crate) fn signin_throttle(
    rt: &Runtime,
    org: OrgId,
    email: &str,
) -> Result<Option<SigninThrottle>, StoreError> {
    rt.read_now(|c| throttle(c, org, email))
}

pub(crate) async fn note_signin_failure(
    rt: &Runtime,
    org: OrgId,
    email: String,
    at: OffsetDateTime,
    window_from: OffsetDateTime,
) -> Result<SigninThrottle, StoreError> {
    rt.write(move |c| {
        c.prepare_cached(
            "INSERT INTO signin_failures (org_id, email_ci, window_start, failures) \
             VALUES (?1, ?2, ?3, 1) \
             ON CONFLICT (org_id, email_ci) DO UPDATE SET \
               failures = CASE WHEN window_start < ?4 OR locked_until <= ?3 \
                 THEN 1 ELSE failures + 1 END, \
               window_start = CASE WHEN window_start < ?4 OR locked_until <= ?3 \
                 THEN ?3 ELSE window_start END, \
               locked_until = CASE WHEN locked_until <= ?3 THEN NULL ELSE locked_until END",
        )
        .map_err(internal)?
        .execute(params![b(&org.0), email, micros(at), micros(window_from)])
        .map_err(internal)?;
        throttle(c, org, &email)?.ok_or(StoreError::NotFound)
    })
    .await
}

pub(crate) async fn lock_signin(
    rt: &Runtime,
    org: OrgId,
    email: String,
    until: OffsetDateTime,
) -> Result<(), StoreError> {
    rt.execute(
        "UPDATE signin_failures SET locked_until = ?3 WHERE org_id = ?1 AND email_ci = ?2",
        vec![blob(&org.0), email.into(), micros(until).into()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn clear_signin_failures(
    rt: &Runtime,
    org: OrgId,
    email: String,
) -> Result<(), StoreError> {
    rt.execute(
        "DELETE FROM signin_failures WHERE org_id = ?1 AND email_ci = ?2",
        vec![blob(&org.0), email.into()],
    )
    .await?;
    Ok(())
}
