//! Two-step verification on PostgreSQL: administrators' TOTP secrets, the newest accepted
//! time step and the recovery codes. Each one-time use is one conditional statement, so of
//! racing requests (on any instance) exactly one wins.

use crate::rows::query_opt;
use crate::{Failure, PgStore, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::ids::AdminId;
use directory::store::{SecondFactor, SecondFactorStore};
use directory::{OrgId, StoreError};
use store_sql::second_factors::{second_factor, second_factor_of};
use time::OffsetDateTime;

/// Replaces the administrator's recovery codes, inside the caller's transaction.
async fn put_codes(
    tx: &deadpool_postgres::Transaction<'_>, org: OrgId, admin: AdminId, codes: &[[u8; 32]],
) -> Result<(), Failure> {
    tx.execute(
        "DELETE FROM recovery_codes WHERE org_id = $1 AND admin_id = $2",
        &[&org.0, &admin.0],
    )
    .await?;
    let hashes: Vec<&[u8]> = codes.iter().map(|c| c.as_slice()).collect();
    tx.execute(
        "INSERT INTO recovery_codes (org_id, admin_id, hash) \
         SELECT $1, $2, h FROM unnest($3::bytea[]) AS h ON CONFLICT DO NOTHING",
        &[&org.0, &admin.0, &hashes],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl SecondFactorStore for PgStore {
    async fn put_second_factor(&self, f: &SecondFactor) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            // One statement: a factor once kept is never replaced, however requests race.
            let n = c
                .execute(
                    "INSERT INTO second_factors \
                     (org_id, admin_id, secret, created, confirmed, last_step) \
                     VALUES ($1, $2, $3, $4, NULL, NULL) \
                     ON CONFLICT (org_id, admin_id) DO NOTHING",
                    &[&f.org_id.0, &f.admin_id.0, &f.secret, &micros(f.created)],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn get_second_factor(
        &self, org: OrgId, admin: AdminId,
    ) -> Result<Option<SecondFactor>, StoreError> {
        run(async {
            let c = self.client().await?;
            let sql = second_factor_of(org, admin);
            query_opt(&c, &sql, |row| second_factor(org, admin, row)).await
        })
        .await
    }

    async fn confirm_second_factor(
        &self, org: OrgId, admin: AdminId, step: i64, at: OffsetDateTime, codes: &[[u8; 32]],
    ) -> Result<bool, StoreError> {
        transaction!(self, tx => {
            let n = tx
                .execute(
                    "UPDATE second_factors SET confirmed = $3, last_step = $4 \
                     WHERE org_id = $1 AND admin_id = $2 AND confirmed IS NULL",
                    &[&org.0, &admin.0, &micros(at), &step],
                )
                .await?;
            if n != 1 {
                return Ok(false);
            }
            put_codes(&tx, org, admin, codes).await?;
            Ok(true)
        })
    }

    async fn accept_step(&self, org: OrgId, admin: AdminId, step: i64) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE second_factors SET last_step = $3 \
                     WHERE org_id = $1 AND admin_id = $2 AND confirmed IS NOT NULL \
                     AND (last_step IS NULL OR last_step < $3)",
                    &[&org.0, &admin.0, &step],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn replace_recovery_codes(
        &self, org: OrgId, admin: AdminId, codes: &[[u8; 32]],
    ) -> Result<bool, StoreError> {
        transaction!(self, tx => {
            // The factor's row is locked until the codes are in: a reset cannot slip between.
            let confirmed = tx
                .query_opt(
                    "SELECT 1 FROM second_factors WHERE org_id = $1 AND admin_id = $2 \
                     AND confirmed IS NOT NULL FOR UPDATE",
                    &[&org.0, &admin.0],
                )
                .await?
                .is_some();
            if !confirmed {
                return Ok(false);
            }
            put_codes(&tx, org, admin, codes).await?;
            Ok(true)
        })
    }

    async fn spend_recovery_code(
        &self, org: OrgId, admin: AdminId, hash: &[u8; 32], at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE recovery_codes SET used = $4 \
                     WHERE org_id = $1 AND admin_id = $2 AND hash = $3 AND used IS NULL",
                    &[&org.0, &admin.0, &hash.as_slice(), &micros(at)],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn recovery_codes_left(&self, org: OrgId, admin: AdminId) -> Result<u32, StoreError> {
        run(async {
            let c = self.client().await?;
            let n: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM recovery_codes \
                     WHERE org_id = $1 AND admin_id = $2 AND used IS NULL",
                    &[&org.0, &admin.0],
                )
                .await?
                .try_get(0)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }

    async fn recovery_code_hashes(
        &self, org: OrgId, admin: AdminId,
    ) -> Result<Vec<[u8; 32]>, StoreError> {
        run(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    "SELECT hash FROM recovery_codes \
                     WHERE org_id = $1 AND admin_id = $2 AND used IS NULL ORDER BY hash",
                    &[&org.0, &admin.0],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let bytes: Vec<u8> = r.try_get(0)?;
                let hash: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    Failure::from(StoreError::Internal(
                        "a recovery code's hash is not 32 bytes".into(),
                    ))
                })?;
                out.push(hash);
            }
            Ok(out)
        })
        .await
    }

    async fn remove_second_factor(&self, org: OrgId, admin: AdminId) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            // One statement, so one transaction: the codes go with their factor.
            let n = c
                .execute(
                    "WITH codes AS (DELETE FROM recovery_codes WHERE org_id = $1 AND admin_id = $2) \
                     DELETE FROM second_factors WHERE org_id = $1 AND admin_id = $2",
                    &[&org.0, &admin.0],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn second_factor_required(&self, org: OrgId) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    "SELECT require_second_factor FROM organisations WHERE id = $1",
                    &[&org.0],
                )
                .await?;
            Ok(match row {
                Some(r) => r.try_get(0)?,
                None => false,
            })
        })
        .await
    }

    async fn set_second_factor_required(&self, org: OrgId, on: bool) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE organisations SET require_second_factor = $2 WHERE id = $1",
                    &[&org.0, &on],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }
}
