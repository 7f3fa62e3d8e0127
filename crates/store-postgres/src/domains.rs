//! An organisation's domains on PostgreSQL.

use crate::{PgStore, from_micros, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::store::{DomainRecord, DomainStore};
use directory::{OrgId, StoreError};
use time::OffsetDateTime;

#[async_trait]
impl DomainStore for PgStore {
    async fn add_domain(&self, d: &DomainRecord) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "INSERT INTO domains (org_id, name, txt, created, verified, verified_by) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[
                        &d.org_id.0,
                        &d.name,
                        &d.txt,
                        &micros(d.created),
                        &d.verified.map(micros),
                        &d.verified_by,
                    ],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::Conflict("domain").into());
            }
            Ok(())
        })
        .await
    }

    async fn list_domains(&self, org: OrgId) -> Result<Vec<DomainRecord>, StoreError> {
        run(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    "SELECT name, txt, created, verified, verified_by FROM domains WHERE org_id = $1 ORDER BY name",
                    &[&org.0],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(DomainRecord {
                        org_id: org,
                        name: row.try_get(0)?,
                        txt: row.try_get(1)?,
                        created: from_micros(row.try_get(2)?),
                        verified: row.try_get::<_, Option<i64>>(3)?.map(from_micros),
                        verified_by: row.try_get(4)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn set_domain_verified(
        &self,
        org: OrgId,
        name: &str,
        at: OffsetDateTime,
        by: &str,
    ) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE domains SET verified = $3, verified_by = $4 WHERE org_id = $1 AND name = $2",
                    &[&org.0, &name, &micros(at), &by],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn remove_domain(&self, org: OrgId, name: &str) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "DELETE FROM domains WHERE org_id = $1 AND name = $2",
                    &[&org.0, &name],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }
}
