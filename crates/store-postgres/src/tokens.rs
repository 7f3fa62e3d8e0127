//! Tokens on PostgreSQL: only their hashes. The tokens an instance has read are held with the
//! token epoch they were read at (migration 0014), which every change to whether a token is
//! accepted moves, in its own transaction, from any instance. A held token answers a read
//! only inside [`directory::token::witnessed`], whose statement reads the epoch too
//! ([`EPOCH`]): the same epoch proves the token unchanged, another sends the server back to
//! the database for it before anything is answered. So a GET is one statement, and a
//! revocation made by any instance takes effect on the next request everywhere.

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

/// The token epoch, as a column of a request's statement.
pub(crate) const EPOCH: &str = "(SELECT epoch FROM token_epoch)";

/// Reports the token epoch a request's statement read (the column [`EPOCH`]).
pub(crate) fn observed(row: &Row, column: usize) -> Result<(), Failure> {
    directory::token::observe(row.try_get(column)?);
    Ok(())
}

/// Tokens read before, by hash, with the epoch they were read at. Bounded: a deployment has
/// few tokens, and a full map is emptied.
#[derive(Debug, Default)]
pub(crate) struct Held(std::sync::Mutex<std::collections::HashMap<[u8; 32], (TokenRecord, i64)>>);

impl Held {
    const MAX: usize = 10_000;

    fn get(&self, hash: &[u8; 32]) -> Option<(TokenRecord, i64)> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
            .cloned()
    }

    fn put(&self, record: TokenRecord, epoch: i64) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if held.len() >= Self::MAX {
            held.clear();
        }
        held.insert(record.hash, (record, epoch));
    }
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
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLS}, {EPOCH} FROM tokens WHERE hash = $1"
            ))
            .await
            .map_err(Failure::from)?;
        let row = c
            .query_opt(&stmt, &[&hash.as_slice()])
            .await
            .map_err(Failure::from)?;
        let Some(row) = row else { return Ok(None) };
        let record = token_row(&row)?;
        self.held
            .put(record.clone(), row.try_get(9).map_err(Failure::from)?);
        Ok(Some(record))
    }

    async fn find_token_by_hash_at(
        &self, hash: &[u8; 32], _mark: Option<directory::store::ChangeMark>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        // A token never used is read: its first use changes the connection, which must rest on
        // the token as it is now.
        if let Some((record, epoch)) = self.held.get(hash)
            && record.first_used.is_some()
            && directory::token::rely_on(epoch)
        {
            return Ok(Some(record));
        }
        self.find_token_by_hash(hash).await
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
