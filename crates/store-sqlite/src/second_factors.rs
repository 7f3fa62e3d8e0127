//! Two-step verification on SQLite: administrators' TOTP secrets, the newest accepted time
//! step and the recovery codes. Each write is one job of the single writer, and each one-time
//! use is one conditional update, so of racing requests exactly one wins.

use crate::rows::query_opt;
use crate::runtime::{Effect, internal};
use crate::{SqliteStore, b};
use async_trait::async_trait;
use directory::ids::AdminId;
use directory::store::columns::micros;
use directory::store::{SecondFactor, SecondFactorStore};
use directory::{OrgId, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use store_sql::second_factors::{second_factor, second_factor_of};
use time::OffsetDateTime;

/// Replaces the administrator's recovery codes (inside the caller's write job).
fn put_codes(
    c: &Connection, org: OrgId, admin: AdminId, codes: &[[u8; 32]],
) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM recovery_codes WHERE org_id = ?1 AND admin_id = ?2")
        .map_err(internal)?
        .execute(params![b(&org.0), b(&admin.0)])
        .map_err(internal)?;
    let mut insert = c
        .prepare_cached(
            "INSERT OR IGNORE INTO recovery_codes (org_id, admin_id, hash, used) \
             VALUES (?1, ?2, ?3, NULL)",
        )
        .map_err(internal)?;
    for code in codes {
        insert
            .execute(params![b(&org.0), b(&admin.0), code.as_slice()])
            .map_err(internal)?;
    }
    Ok(())
}

/// Whether the administrator's second factor is confirmed (inside a write job).
fn confirmed(c: &Connection, org: OrgId, admin: AdminId) -> Result<bool, StoreError> {
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM second_factors WHERE org_id = ?1 AND admin_id = ?2 \
         AND confirmed IS NOT NULL)",
    )
    .map_err(internal)?
    .query_row(params![b(&org.0), b(&admin.0)], |r| r.get(0))
    .map_err(internal)
}

#[async_trait]
impl SecondFactorStore for SqliteStore {
    async fn put_second_factor(&self, f: &SecondFactor) -> Result<bool, StoreError> {
        let f = f.clone();
        // No cache reads these rows: no epoch moves.
        self.rt
            .write(Effect::LogOnly, move |c| {
                let kept = c
                    .prepare_cached(
                        "INSERT OR IGNORE INTO second_factors \
                         (org_id, admin_id, secret, created, confirmed, last_step) \
                         VALUES (?1, ?2, ?3, ?4, NULL, NULL)",
                    )
                    .map_err(internal)?
                    .execute(params![
                        b(&f.org_id.0),
                        b(&f.admin_id.0),
                        f.secret,
                        micros(f.created)
                    ])
                    .map_err(internal)?;
                Ok(kept == 1)
            })
            .await
    }

    async fn get_second_factor(
        &self, org: OrgId, admin: AdminId,
    ) -> Result<Option<SecondFactor>, StoreError> {
        let sql = second_factor_of(org, admin);
        self.rt
            .read_now(|c| query_opt(c, &sql, |row| second_factor(org, admin, row)))
            .await
    }

    async fn confirm_second_factor(
        &self, org: OrgId, admin: AdminId, step: i64, at: OffsetDateTime, codes: &[[u8; 32]],
    ) -> Result<bool, StoreError> {
        let codes = codes.to_vec();
        self.rt
            .write(Effect::LogOnly, move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE second_factors SET confirmed = ?3, last_step = ?4 \
                         WHERE org_id = ?1 AND admin_id = ?2 AND confirmed IS NULL",
                    )
                    .map_err(internal)?
                    .execute(params![b(&org.0), b(&admin.0), micros(at), step])
                    .map_err(internal)?;
                if n != 1 {
                    return Ok(false);
                }
                put_codes(c, org, admin, &codes)?;
                Ok(true)
            })
            .await
    }

    async fn accept_step(&self, org: OrgId, admin: AdminId, step: i64) -> Result<bool, StoreError> {
        self.rt
            .write(Effect::LogOnly, move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE second_factors SET last_step = ?3 \
                         WHERE org_id = ?1 AND admin_id = ?2 AND confirmed IS NOT NULL \
                         AND (last_step IS NULL OR last_step < ?3)",
                    )
                    .map_err(internal)?
                    .execute(params![b(&org.0), b(&admin.0), step])
                    .map_err(internal)?;
                Ok(n == 1)
            })
            .await
    }

    async fn replace_recovery_codes(
        &self, org: OrgId, admin: AdminId, codes: &[[u8; 32]],
    ) -> Result<bool, StoreError> {
        let codes = codes.to_vec();
        self.rt
            .write(Effect::LogOnly, move |c| {
                if !confirmed(c, org, admin)? {
                    return Ok(false);
                }
                put_codes(c, org, admin, &codes)?;
                Ok(true)
            })
            .await
    }

    async fn spend_recovery_code(
        &self, org: OrgId, admin: AdminId, hash: &[u8; 32], at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let hash = *hash;
        self.rt
            .write(Effect::LogOnly, move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE recovery_codes SET used = ?4 \
                         WHERE org_id = ?1 AND admin_id = ?2 AND hash = ?3 AND used IS NULL",
                    )
                    .map_err(internal)?
                    .execute(params![b(&org.0), b(&admin.0), hash.as_slice(), micros(at)])
                    .map_err(internal)?;
                Ok(n == 1)
            })
            .await
    }

    async fn recovery_codes_left(&self, org: OrgId, admin: AdminId) -> Result<u32, StoreError> {
        self.rt
            .read_now(|c| {
                c.prepare_cached(
                    "SELECT COUNT(*) FROM recovery_codes \
                     WHERE org_id = ?1 AND admin_id = ?2 AND used IS NULL",
                )
                .map_err(internal)?
                .query_row(params![b(&org.0), b(&admin.0)], |r| r.get(0))
                .map_err(internal)
            })
            .await
    }

    async fn recovery_code_hashes(
        &self, org: OrgId, admin: AdminId,
    ) -> Result<Vec<[u8; 32]>, StoreError> {
        self.rt
            .read_now(|c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT hash FROM recovery_codes \
                         WHERE org_id = ?1 AND admin_id = ?2 AND used IS NULL ORDER BY hash",
                    )
                    .map_err(internal)?;
                let rows = stmt
                    .query_map(params![b(&org.0), b(&admin.0)], |r| r.get::<_, Vec<u8>>(0))
                    .map_err(internal)?;
                let mut out = Vec::new();
                for row in rows {
                    let bytes = row.map_err(internal)?;
                    let hash: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                        StoreError::Internal("a recovery code's hash is not 32 bytes".into())
                    })?;
                    out.push(hash);
                }
                Ok(out)
            })
            .await
    }

    async fn remove_second_factor(&self, org: OrgId, admin: AdminId) -> Result<bool, StoreError> {
        self.rt
            .write(Effect::LogOnly, move |c| {
                c.prepare_cached("DELETE FROM recovery_codes WHERE org_id = ?1 AND admin_id = ?2")
                    .map_err(internal)?
                    .execute(params![b(&org.0), b(&admin.0)])
                    .map_err(internal)?;
                let n = c
                    .prepare_cached(
                        "DELETE FROM second_factors WHERE org_id = ?1 AND admin_id = ?2",
                    )
                    .map_err(internal)?
                    .execute(params![b(&org.0), b(&admin.0)])
                    .map_err(internal)?;
                Ok(n == 1)
            })
            .await
    }

    async fn second_factor_required(&self, org: OrgId) -> Result<bool, StoreError> {
        self.rt
            .read_now(|c| {
                Ok(c.prepare_cached(
                    "SELECT require_second_factor FROM organisations WHERE id = ?1",
                )
                .map_err(internal)?
                .query_row(params![b(&org.0)], |r| r.get::<_, bool>(0))
                .optional()
                .map_err(internal)?
                .unwrap_or(false))
            })
            .await
    }

    async fn set_second_factor_required(&self, org: OrgId, on: bool) -> Result<bool, StoreError> {
        self.rt
            .write(Effect::LogOnly, move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE organisations SET require_second_factor = ?2 WHERE id = ?1",
                    )
                    .map_err(internal)?
                    .execute(params![b(&org.0), on])
                    .map_err(internal)?;
                Ok(n == 1)
            })
            .await
    }
}
