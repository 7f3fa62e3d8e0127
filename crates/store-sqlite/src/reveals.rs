//! Values shown once after a redirect, on SQLite (see `directory::reveal`).

use crate::rows::first;
use crate::runtime::{Effect, internal};
use crate::{SqliteStore, b};
use async_trait::async_trait;
use directory::ids::AdminId;
use directory::store::columns::micros;
use directory::store::{Reveal, RevealStore};
use directory::{OrgId, StoreError};
use rusqlite::params;
use store_sql::admins::reveal;
use time::OffsetDateTime;

#[async_trait]
impl RevealStore for SqliteStore {
    async fn put_reveal(&self, r: &Reveal, now: OffsetDateTime) -> Result<(), StoreError> {
        let r = r.clone();
        // No cache reads these rows: no epoch moves.
        self.rt
            .write(Effect::LogOnly, move |c| {
                c.prepare_cached("DELETE FROM reveals WHERE org_id = ?1 AND expires <= ?2")
                    .map_err(internal)?
                    .execute(params![b(&r.org_id.0), micros(now)])
                    .map_err(internal)?;
                c.prepare_cached(
                    "INSERT INTO reveals (org_id, hash, admin_id, sealed, expires) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(internal)?
                .execute(params![
                    b(&r.org_id.0),
                    r.hash.as_slice(),
                    b(&r.admin_id.0),
                    r.sealed,
                    micros(r.expires)
                ])
                .map_err(internal)?;
                Ok(())
            })
            .await
    }

    async fn take_reveal(
        &self, org: OrgId, hash: &[u8; 32], admin: AdminId, now: OffsetDateTime,
    ) -> Result<Option<Reveal>, StoreError> {
        let hash = *hash;
        self.rt
            .write(Effect::LogOnly, move |c| {
                // The row is the one asked for by its key: the admin is `admin`.
                first(
                    c,
                    "DELETE FROM reveals WHERE org_id = ?1 AND hash = ?2 AND admin_id = ?3 \
                     AND expires > ?4 RETURNING sealed, expires",
                    params![b(&org.0), hash.as_slice(), b(&admin.0), micros(now)],
                    |row| reveal(org, &hash, admin, row),
                )
            })
            .await
    }
}
