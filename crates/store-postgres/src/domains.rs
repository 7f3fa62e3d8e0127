//! An organisation's domains on PostgreSQL.

use crate::rows::query;
use crate::{PgStore, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::store::{DomainRecord, DomainStore};
use directory::{OrgId, StoreError};
use store_sql::domains::{domain, domains_of};
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
            query(&c, &domains_of(org), |row| domain(org, row)).await
        })
        .await
    }

    async fn set_domain_verified(
        &self, org: OrgId, name: &str, at: OffsetDateTime, by: &str,
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
