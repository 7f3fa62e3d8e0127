//! Values shown once after a redirect, on SQLite (see `directory::reveal`).

use crate::runtime::{Effect, internal};
use crate::{SqliteStore, b, uuid_from};
use async_trait::async_trait;
use directory::ids::AdminId;
use directory::store::columns::{from_micros, micros};
use directory::store::{Reveal, RevealStore};
use directory::{OrgId, StoreError};
use rusqlite::{OptionalExtension, params};
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
        &self,
        org: OrgId,
        hash: &[u8; 32],
        admin: AdminId,
        now: OffsetDateTime,
    ) -> Result<Option<Reveal>, StoreError> {
        let hash = *hash;
        self.rt
            .write(Effect::LogOnly, move |c| {
                let row: Option<(Vec<u8>, Vec<u8>, i64)> = c
                    .prepare_cached(
                        "DELETE FROM reveals WHERE org_id = ?1 AND hash = ?2 AND admin_id = ?3 \
                         AND expires > ?4 RETURNING admin_id, sealed, expires",
                    )
                    .map_err(internal)?
                    .query_row(
                        params![b(&org.0), hash.as_slice(), b(&admin.0), micros(now)],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(internal)?;
                row.map(|(admin_id, sealed, expires)| {
                    Ok(Reveal {
                        org_id: org,
                        hash,
                        admin_id: AdminId(uuid_from(&admin_id)?),
                        sealed,
                        expires: from_micros(expires),
                    })
                })
                .transpose()
            })
            .await
    }
}
