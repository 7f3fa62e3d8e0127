//! Tokens on SQLite: only their hashes. Every change to a token tells the token cache, so a
//! cached check never outlives a revocation.

use crate::SqliteStore;
use crate::b;
use crate::rows::SqliteRow;
use crate::runtime::{Effect, internal};
use async_trait::async_trait;
use directory::store::columns::{from_micros, micros};
use directory::store::{TokenRecord, TokenStore};
use directory::{OrgId, StoreError, TokenId};
use rusqlite::{OptionalExtension, params};
use store_sql::credentials::{TOKEN_COLS, token};
use time::OffsetDateTime;

fn token_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TokenRecord, StoreError>> {
    Ok(token(&SqliteRow(row)))
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let t = t.clone();
        self.rt
            .write(Effect::Tokens, move |c| {
                c.execute(
                    "INSERT INTO tokens (org_id, id, prefix, hash, created, expires, first_used, last_used, revoked) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        t.org_id.0.as_bytes().as_slice(),
                        t.id.0.as_bytes().as_slice(),
                        t.prefix,
                        t.hash.as_slice(),
                        micros(t.created),
                        micros(t.expires),
                        t.first_used.map(micros),
                        t.last_used.map(micros),
                        t.revoked.map(micros)
                    ],
                )
                .map_err(internal)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn find_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        self.find_token_by_hash_at(hash, None).await
    }

    async fn find_token_by_hash_at(
        &self, hash: &[u8; 32], mark: Option<directory::store::ChangeMark>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        // The epochs are read before the row: a change committed in between makes it stale.
        let (cached, epoch) = self.tokens.get(hash, mark);
        if cached.is_some() {
            return Ok(cached);
        }
        let found = self
            .rt
            .read_now(|c| {
                c.prepare_cached(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = ?1"))
                    .map_err(internal)?
                    .query_row(params![hash.as_slice()], token_row)
                    .optional()
                    .map_err(internal)?
                    .transpose()
            })
            .await?;
        if let (Some(epoch), Some(record)) = (epoch, &found) {
            self.tokens.put(epoch, mark, record);
        }
        Ok(found)
    }

    async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenRecord>, StoreError> {
        self.rt
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {TOKEN_COLS} FROM tokens WHERE org_id = ?1 ORDER BY created"
                    ))
                    .map_err(internal)?;
                let rows = stmt
                    .query_map(params![org.0.as_bytes().as_slice()], token_row)
                    .map_err(internal)?;
                rows.map(|r| r.map_err(internal)?).collect()
            })
            .await
    }

    async fn touch_token(
        &self, org: OrgId, id: TokenId, at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.rt
            .write(Effect::Tokens, move |c| {
                c.prepare_cached(
                    "UPDATE tokens SET first_used = COALESCE(first_used, ?3), last_used = MAX(COALESCE(last_used, 0), ?3) \
                     WHERE org_id = ?1 AND id = ?2",
                )
                .map_err(internal)?
                .execute(params![org.0.as_bytes().as_slice(), id.0.as_bytes().as_slice(), micros(at)])
                .map_err(internal)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn revoke_token(
        &self, org: OrgId, id: TokenId, at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.rt
            .write(Effect::Tokens, move |c| {
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

    async fn next_token_expiry(
        &self, now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        self.rt
            .read_now(|c| {
                c.prepare_cached(
                    "SELECT MIN(expires) FROM tokens WHERE revoked IS NULL AND expires > ?1",
                )
                .map_err(internal)?
                .query_row(params![micros(now)], |r| r.get::<_, Option<i64>>(0))
                .map(|m| m.map(from_micros))
                .map_err(internal)
            })
            .await
    }
}
