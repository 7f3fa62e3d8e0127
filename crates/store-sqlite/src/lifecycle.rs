//! Token lifecycle, connection state, administrators, activity log and outbox on SQLite.
//! With one writer, claiming notices needs no row locks: the claim is one write job.

use super::{from_micros, micros, uuid_from};
use crate::runtime::{Runtime, internal};
use directory::ids::{AdminId, NoticeId};
use directory::store::{AdminRole, Administrator, Connection, ConnectionState, Notice, NoticeKind};
use directory::{OrgId, StoreError, TokenId};
use rusqlite::{Connection as Db, OptionalExtension, params};
use time::OffsetDateTime;

fn b(u: &uuid::Uuid) -> &[u8] {
    u.as_bytes().as_slice()
}

pub(crate) async fn revoke_token(
    rt: &Runtime,
    org: OrgId,
    id: TokenId,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    rt.write(move |c| {
        let n = c
            .prepare_cached(
                "UPDATE tokens SET revoked = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked IS NULL",
            )
            .map_err(internal)?
            .execute(params![b(&org.0), b(&id.0), micros(at)])
            .map_err(internal)?;
        Ok(n == 1)
    })
    .await
}

pub(crate) async fn get_connection(
    rt: &Runtime,
    org: OrgId,
) -> Result<Option<Connection>, StoreError> {
    rt.read(move |c| {
        let row: Option<(String, i64)> = c
            .prepare_cached("SELECT state, changed FROM connections WHERE org_id = ?1")
            .map_err(internal)?
            .query_row(params![b(&org.0)], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(internal)?;
        row.map(|(state, changed)| {
            Ok(Connection {
                state: ConnectionState::parse(&state)
                    .ok_or_else(|| StoreError::Internal(format!("bad state {state}")))?,
                changed: from_micros(changed),
            })
        })
        .transpose()
    })
    .await
}

pub(crate) async fn set_connection(
    rt: &Runtime,
    org: OrgId,
    conn: Connection,
) -> Result<(), StoreError> {
    rt.write(move |c| {
        c.prepare_cached(
            "INSERT INTO connections (org_id, state, changed) VALUES (?1, ?2, ?3) \
             ON CONFLICT (org_id) DO UPDATE SET state = excluded.state, changed = excluded.changed",
        )
        .map_err(internal)?
        .execute(params![
            b(&org.0),
            conn.state.as_str(),
            micros(conn.changed)
        ])
        .map_err(internal)?;
        Ok(())
    })
    .await
}

pub(crate) async fn add_admin(rt: &Runtime, a: Administrator) -> Result<(), StoreError> {
    rt.write(move |c| {
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

pub(crate) async fn list_admins(
    rt: &Runtime,
    org: OrgId,
) -> Result<Vec<Administrator>, StoreError> {
    rt.read(move |c| {
        let mut stmt = c
            .prepare_cached(
                "SELECT id, email, role, password_hash, created FROM administrators \
                 WHERE org_id = ?1 ORDER BY created, email_ci",
            )
            .map_err(internal)?;
        let rows = stmt
            .query_map(params![b(&org.0)], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(internal)?;
        rows.map(|r| {
            let (id, email, role, password_hash, created) = r.map_err(internal)?;
            Ok(Administrator {
                id: AdminId(uuid_from(&id)?),
                org_id: org,
                email,
                role: role.parse::<AdminRole>().map_err(StoreError::Internal)?,
                password_hash,
                created: from_micros(created),
            })
        })
        .collect()
    })
    .await
}

pub(crate) async fn enqueue_notice(rt: &Runtime, n: Notice) -> Result<bool, StoreError> {
    rt.write_aside(move |c| {
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
        Ok(added == 1)
    })
    .await
}

const NOTICE_COLS: &str = "org_id, id, key, kind, token_id, threshold, subject, body, created, attempts, next_attempt, sent, last_error";

fn notice_row(r: &rusqlite::Row<'_>) -> Result<Notice, StoreError> {
    let get = |e: rusqlite::Error| internal(e);
    let kind: String = r.get(3).map_err(get)?;
    let token: Option<Vec<u8>> = r.get(4).map_err(get)?;
    Ok(Notice {
        org_id: OrgId(uuid_from(&r.get::<_, Vec<u8>>(0).map_err(get)?)?),
        id: NoticeId(uuid_from(&r.get::<_, Vec<u8>>(1).map_err(get)?)?),
        key: r.get(2).map_err(get)?,
        kind: NoticeKind::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("bad notice kind {kind}")))?,
        token_id: token.map(|t| uuid_from(&t).map(TokenId)).transpose()?,
        threshold_days: r.get(5).map_err(get)?,
        subject: r.get(6).map_err(get)?,
        body: r.get(7).map_err(get)?,
        created: from_micros(r.get(8).map_err(get)?),
        attempts: r.get(9).map_err(get)?,
        next_attempt: from_micros(r.get(10).map_err(get)?),
        sent: r.get::<_, Option<i64>>(11).map_err(get)?.map(from_micros),
        last_error: r.get(12).map_err(get)?,
    })
}

fn query_notices(
    c: &Db,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Notice>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(internal)?;
    let mut rows = stmt.query(args).map_err(internal)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(internal)? {
        out.push(notice_row(r)?);
    }
    Ok(out)
}

pub(crate) async fn claim_notices(
    rt: &Runtime,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u32,
) -> Result<Vec<Notice>, StoreError> {
    rt.write_aside(move |c| {
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

pub(crate) async fn complete_notice(
    rt: &Runtime,
    org: OrgId,
    id: NoticeId,
    sent: OffsetDateTime,
) -> Result<(), StoreError> {
    rt.write_aside(move |c| {
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

pub(crate) async fn retry_notice(
    rt: &Runtime,
    org: OrgId,
    id: NoticeId,
    next_attempt: OffsetDateTime,
    error: String,
) -> Result<(), StoreError> {
    rt.write_aside(move |c| {
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

pub(crate) async fn list_notices(rt: &Runtime, org: OrgId) -> Result<Vec<Notice>, StoreError> {
    rt.read(move |c| {
        query_notices(
            c,
            &format!("SELECT {NOTICE_COLS} FROM notices WHERE org_id = ?1 ORDER BY created, key"),
            params![b(&org.0)],
        )
    })
    .await
}
