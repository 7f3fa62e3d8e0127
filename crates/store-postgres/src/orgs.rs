//! Organisations and their directory-sync connection on PostgreSQL.

use crate::journal::Journal;
use crate::rows::PgRow;
use crate::{Failure, PgStore, from_micros, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::events::connection_change;
use directory::store::{Connection, ConnectionState, OrgStore, OrgUpdate};
use directory::{OrgId, OrgKind, Organisation, StoreError};
use store_sql::orgs::{ORG_COLS, organisation};
use tokio_postgres::Row;

fn org_row(row: &Row) -> Result<Organisation, Failure> {
    Ok(organisation(&PgRow(row))?)
}

#[async_trait]
impl OrgStore for PgStore {
    async fn create_org(&self, org: &Organisation) -> Result<(), StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO organisations (id, name, kind, created) VALUES ($1, $2, $3, $4)",
            )
            .await
            .map_err(Failure::from)?;
        c.execute(
            &stmt,
            &[
                &org.id.0,
                &org.name,
                &org.kind.as_str(),
                &micros(org.created),
            ],
        )
        .await
        .map_err(Failure::from)?;
        Ok(())
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Organisation>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {ORG_COLS} FROM organisations WHERE id = $1"
            ))
            .await
            .map_err(Failure::from)?;
        let row = c.query_opt(&stmt, &[&id.0]).await.map_err(Failure::from)?;
        Ok(row.as_ref().map(org_row).transpose()?)
    }

    async fn list_orgs(&self) -> Result<Vec<Organisation>, StoreError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {ORG_COLS} FROM organisations ORDER BY created, id"
            ))
            .await
            .map_err(Failure::from)?;
        let rows = c.query(&stmt, &[]).await.map_err(Failure::from)?;
        Ok(rows.iter().map(org_row).collect::<Result<_, _>>()?)
    }

    async fn get_connection(
        &self, org: OrgId,
    ) -> Result<Option<directory::store::Connection>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached("SELECT state, changed FROM connections WHERE org_id = $1")
                .await?;
            let Some(row) = c.query_opt(&stmt, &[&org.0]).await? else {
                return Ok(None);
            };
            let state: String = row.try_get(0)?;
            Ok(Some(Connection {
                state: ConnectionState::parse(&state)
                    .ok_or_else(|| StoreError::Internal(format!("bad state {state}")))?,
                changed: from_micros(row.try_get(1)?),
            }))
        })
        .await
    }

    async fn set_connection(
        &self, org: OrgId, conn: &directory::store::Connection,
    ) -> Result<(), StoreError> {
        transaction!(self, tx => {
            // The state before, locked: a row is made first if there is none (never set is
            // `not connected`), so that two writers of a first state queue on it and only
            // the first sees the change.
            let seed = tx
                .prepare_cached(
                    "INSERT INTO connections (org_id, state, changed) VALUES ($1, 'not connected', $2) \
                     ON CONFLICT (org_id) DO NOTHING",
                )
                .await?;
            tx.execute(&seed, &[&org.0, &micros(conn.changed)]).await?;
            let read = tx
                .prepare_cached("SELECT state FROM connections WHERE org_id = $1 FOR UPDATE")
                .await?;
            let before: String = tx.query_one(&read, &[&org.0]).await?.try_get(0)?;
            let before = ConnectionState::parse(&before)
                .ok_or_else(|| StoreError::Internal(format!("bad state {before}")))?;
            let write = tx
                .prepare_cached("UPDATE connections SET state = $2, changed = $3 WHERE org_id = $1")
                .await?;
            tx.execute(&write, &[&org.0, &conn.state.as_str(), &micros(conn.changed)])
                .await?;
            let event = match conn.state {
                _ if conn.state == before => None,
                ConnectionState::Active => Some(connection_change(true)),
                ConnectionState::Disconnected => Some(connection_change(false)),
                _ => None,
            };
            let mut journal = Journal::new(org, conn.changed);
            journal.extend(event);
            journal.commit(&tx).await
        })
    }

    async fn update_org(
        &self, id: OrgId, name: &str, kind: OrgKind,
    ) -> Result<OrgUpdate, StoreError> {
        run(async {
            let c = self.client().await?;
            // One statement: the kind changes only while no user row exists.
            let n = c
                .execute(
                    "UPDATE organisations SET name = $2, kind = $3 WHERE id = $1 \
                     AND (kind = $3 OR NOT EXISTS \
                          (SELECT 1 FROM resources WHERE org_id = $1 AND kind = 0))",
                    &[&id.0, &name, &kind.as_str()],
                )
                .await?;
            if n == 1 {
                return Ok(OrgUpdate::Updated);
            }
            let exists = c
                .query_opt("SELECT 1 FROM organisations WHERE id = $1", &[&id.0])
                .await?
                .is_some();
            Ok(if exists {
                OrgUpdate::HasAccounts
            } else {
                OrgUpdate::NotFound
            })
        })
        .await
    }
}
