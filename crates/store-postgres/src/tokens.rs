//! Tokens on PostgreSQL: only their hashes.

use crate::rows::PgRow;
use crate::{Failure, PgStore, from_micros, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::store::{TokenRecord, TokenStore};
use directory::{OrgId, StoreError, TokenId};
use store_sql::credentials::{TOKEN_COLS, token};
use time::OffsetDateTime;
use tokio_postgres::Row;

fn token_row(row: &Row) -> Result<TokenRecord, Failure> {
    Ok(token(&PgRow(row))?)
}

#[async_trait]
impl TokenStore for PgStore {
    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "INSERT INTO tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .await
            .map_err(Failure::from)?;
        c.execute(
            &stmt,
            &[
                &t.org_id.0,
                &t.id.0,
                &t.prefix,
                &t.hash.as_slice(),
                &micros(t.created),
                &micros(t.expires),
                &t.first_used.map(micros),
                &t.last_used.map(micros),
                &t.revoked.map(micros),
            ],
        )
        .await
        .map_err(Failure::from)?;
        Ok(())
    }

    async fn find_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = $1"))
            .await
            .map_err(Failure::from)?;
        let row = c
            .query_opt(&stmt, &[&hash.as_slice()])
            .await
            .map_err(Failure::from)?;
        Ok(row.as_ref().map(token_row).transpose()?)
    }

    async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenRecord>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLS} FROM tokens WHERE org_id = $1 ORDER BY created, id"
            ))
            .await
            .map_err(Failure::from)?;
        let rows = c.query(&stmt, &[&org.0]).await.map_err(Failure::from)?;
        Ok(rows.iter().map(token_row).collect::<Result<_, _>>()?)
    }

    async fn touch_token(
        &self, org: OrgId, id: TokenId, at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "UPDATE tokens SET first_used = COALESCE(first_used, $3), last_used = GREATEST(COALESCE(last_used, 0), $3) \
                 WHERE org_id = $1 AND id = $2",
            )
            .await
            .map_err(Failure::from)?;
        c.execute(&stmt, &[&org.0, &id.0, &micros(at)])
            .await
            .map_err(Failure::from)?;
        Ok(())
    }

    async fn revoke_token(
        &self, org: OrgId, id: TokenId, at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "UPDATE tokens SET revoked = $3 WHERE org_id = $1 AND id = $2 AND revoked IS NULL",
                )
                .await?;
            Ok(c.execute(&stmt, &[&org.0, &id.0, &micros(at)]).await? == 1)
        })
        .await
    }

    async fn next_token_expiry(
        &self, now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let c = self.client().await?;
        let m: Option<i64> = c
            .query_one(
                "SELECT MIN(expires) FROM tokens WHERE revoked IS NULL AND expires > $1",
                &[&micros(now)],
            )
            .await
            .map_err(Failure::from)?
            .try_get(0)
            .map_err(Failure::from)?;
        Ok(m.map(from_micros))
    }
}
