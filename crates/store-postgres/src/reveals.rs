//! Values shown once after a redirect, on PostgreSQL (see `directory::reveal`).

use crate::rows::PgRow;
use crate::{PgStore, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::ids::AdminId;
use directory::store::{Reveal, RevealStore};
use directory::{OrgId, StoreError};
use store_sql::admins::reveal;
use time::OffsetDateTime;

#[async_trait]
impl RevealStore for PgStore {
    async fn put_reveal(&self, r: &Reveal, now: OffsetDateTime) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            c.execute(
                "DELETE FROM reveals WHERE org_id = $1 AND expires <= $2",
                &[&r.org_id.0, &micros(now)],
            )
            .await?;
            c.execute(
                "INSERT INTO reveals (org_id, hash, admin_id, sealed, expires) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &r.org_id.0,
                    &r.hash.as_slice(),
                    &r.admin_id.0,
                    &r.sealed,
                    &micros(r.expires),
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn take_reveal(
        &self, org: OrgId, hash: &[u8; 32], admin: AdminId, now: OffsetDateTime,
    ) -> Result<Option<Reveal>, StoreError> {
        run(async {
            let c = self.client().await?;
            // One statement: of two readers racing, one gets the row.
            let row = c
                .query_opt(
                    "DELETE FROM reveals WHERE org_id = $1 AND hash = $2 AND admin_id = $3 \
                     AND expires > $4 RETURNING sealed, expires",
                    &[&org.0, &hash.as_slice(), &admin.0, &micros(now)],
                )
                .await?;
            Ok(row
                .map(|row| reveal(org, hash, admin, &PgRow(&row)))
                .transpose()?)
        })
        .await
    }
}
