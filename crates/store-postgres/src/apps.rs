//! Applications and their keys on PostgreSQL (docs/contract.md, "Applications"): only the keys'
//! hashes. A live application's name is unique per organisation by a partial unique index.

use crate::rows::PgRow;
use crate::{Failure, PgStore, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::ids::AppId;
use directory::store::{AppStore, Application};
use directory::{OrgId, StoreError};
use store_sql::credentials::{APP_COLS, application};
use time::OffsetDateTime;
use tokio_postgres::Row;

/// Use is recorded at most this often per application (microseconds): a key used by every
/// request must not make every request a write.
const TOUCH_EVERY: i64 = 60_000_000;

fn app_row(row: &Row) -> Result<Application, Failure> {
    Ok(application(&PgRow(row))?)
}

#[async_trait]
impl AppStore for PgStore {
    async fn insert_app(&self, a: &Application) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "INSERT INTO apps ({APP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .await?;
            c.execute(
                &stmt,
                &[
                    &a.org_id.0,
                    &a.id.0,
                    &a.name,
                    &a.prefix,
                    &a.hash.as_slice(),
                    &micros(a.created),
                    &a.last_used.map(micros),
                    &a.revoked.map(micros),
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn list_apps(&self, org: OrgId) -> Result<Vec<Application>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {APP_COLS} FROM apps WHERE org_id = $1 ORDER BY created, id"
                ))
                .await?;
            c.query(&stmt, &[&org.0])
                .await?
                .iter()
                .map(app_row)
                .collect()
        })
        .await
    }

    async fn find_app_by_hash(&self, hash: &[u8; 32]) -> Result<Option<Application>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!("SELECT {APP_COLS} FROM apps WHERE hash = $1"))
                .await?;
            c.query_opt(&stmt, &[&hash.as_slice()])
                .await?
                .as_ref()
                .map(app_row)
                .transpose()
        })
        .await
    }

    async fn touch_app(&self, org: OrgId, id: AppId, at: OffsetDateTime) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "UPDATE apps SET last_used = $3 WHERE org_id = $1 AND id = $2 \
                     AND (last_used IS NULL OR last_used < $3::bigint - $4::bigint)",
                )
                .await?;
            c.execute(&stmt, &[&org.0, &id.0, &micros(at), &TOUCH_EVERY])
                .await?;
            Ok(())
        })
        .await
    }

    async fn revoke_app(
        &self, org: OrgId, id: AppId, at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "UPDATE apps SET revoked = $3 WHERE org_id = $1 AND id = $2 AND revoked IS NULL",
                )
                .await?;
            Ok(c.execute(&stmt, &[&org.0, &id.0, &micros(at)]).await? == 1)
        })
        .await
    }
}
