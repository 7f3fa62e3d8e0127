//! An organisation's domains on SQLite.

use crate::SqliteStore;
use crate::rows::query;
use crate::runtime::blob;
use async_trait::async_trait;
use directory::store::columns::micros;
use directory::store::{DomainRecord, DomainStore};
use directory::{OrgId, StoreError};
use store_sql::domains::{domain, domains_of};
use time::OffsetDateTime;

#[async_trait]
impl DomainStore for SqliteStore {
    async fn add_domain(&self, d: &DomainRecord) -> Result<(), StoreError> {
        let d = d.clone();
        let n = self
            .rt
            .execute(
                "INSERT OR IGNORE INTO domains (org_id, name, txt, created, verified, verified_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                vec![
                    blob(&d.org_id.0),
                    d.name.into(),
                    d.txt.into(),
                    micros(d.created).into(),
                    d.verified.map(micros).into(),
                    d.verified_by.into(),
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict("domain"));
        }
        Ok(())
    }

    async fn list_domains(&self, org: OrgId) -> Result<Vec<DomainRecord>, StoreError> {
        self.rt
            .read(move |c| query(c, &domains_of(org), |row| domain(org, row)))
            .await
    }

    async fn set_domain_verified(
        &self, org: OrgId, name: &str, at: OffsetDateTime, by: &str,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        let by = by.to_owned();
        let n = self.rt
            .execute(
                "UPDATE domains SET verified = ?3, verified_by = ?4 WHERE org_id = ?1 AND name = ?2",
                vec![blob(&org.0), name.into(), micros(at).into(), by.into()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn remove_domain(&self, org: OrgId, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        let n = self
            .rt
            .execute(
                "DELETE FROM domains WHERE org_id = ?1 AND name = ?2",
                vec![blob(&org.0), name.into()],
            )
            .await?;
        Ok(n == 1)
    }
}
