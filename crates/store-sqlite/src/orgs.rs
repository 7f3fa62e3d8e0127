//! Organisations and their directory-sync connection on SQLite.

use crate::SqliteStore;
use crate::b;
use crate::journal::Journal;
use crate::rows::SqliteRow;
use crate::runtime::{Effect, internal};
use async_trait::async_trait;
use directory::events::connection_event;
use directory::store::columns::{from_micros, micros};
use directory::store::{Connection, ConnectionState, OrgStore, OrgUpdate};
use directory::{OrgId, OrgKind, Organisation, StoreError};
use rusqlite::{OptionalExtension, params};
use store_sql::orgs::{ORG_COLS, organisation};

fn org_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Organisation, StoreError>> {
    Ok(organisation(&SqliteRow(row)))
}

#[async_trait]
impl OrgStore for SqliteStore {
    async fn create_org(&self, org: &Organisation) -> Result<(), StoreError> {
        let org = org.clone();
        self.rt
            .write(Effect::Data, move |c| {
                c.execute(
                    "INSERT INTO organisations (id, name, kind, created) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        org.id.0.as_bytes().as_slice(),
                        org.name,
                        org.kind.as_str(),
                        micros(org.created)
                    ],
                )
                .map_err(internal)?;
                Ok(())
            })
            .await
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Organisation>, StoreError> {
        self.rt
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {ORG_COLS} FROM organisations WHERE id = ?1"
                ))
                .map_err(internal)?
                .query_row(params![id.0.as_bytes().as_slice()], org_row)
                .optional()
                .map_err(internal)?
                .transpose()
            })
            .await
    }

    async fn list_orgs(&self) -> Result<Vec<Organisation>, StoreError> {
        self.rt
            .read(|c| {
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {ORG_COLS} FROM organisations ORDER BY created"
                    ))
                    .map_err(internal)?;
                let rows = stmt.query_map([], org_row).map_err(internal)?;
                rows.map(|r| r.map_err(internal)?).collect()
            })
            .await
    }

    async fn get_connection(
        &self, org: OrgId,
    ) -> Result<Option<directory::store::Connection>, StoreError> {
        self.rt
            .read(move |c| {
                let row: Option<(String, i64)> = c
                    .prepare_cached("SELECT state, changed FROM connections WHERE org_id = ?1")
                    .map_err(internal)?
                    .query_row(params![b(&org.0)], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(internal)?;
                row.map(|(state, changed)| {
                    Ok(Connection {
                        state: ConnectionState::parse(&state)
                            .ok_or_else(|| StoreError::Internal(format!("bad state {state}")))?,
                        changed: from_micros(changed),
                    })
                })
                .transpose()
            })
            .await
    }

    async fn set_connection(
        &self, org: OrgId, conn: &directory::store::Connection,
    ) -> Result<(), StoreError> {
        let conn = *conn;
        self.rt.write(Effect::Data, move |c| {
            let was: Option<String> = c
                .prepare_cached("SELECT state FROM connections WHERE org_id = ?1")
                .map_err(internal)?
                .query_row(params![b(&org.0)], |r| r.get(0))
                .optional()
                .map_err(internal)?;
            let was = was.as_deref().and_then(ConnectionState::parse);
            c.prepare_cached(
                "INSERT INTO connections (org_id, state, changed) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (org_id) DO UPDATE SET state = excluded.state, changed = excluded.changed",
            )
            .map_err(internal)?
            .execute(params![
                b(&org.0),
                conn.state.as_str(),
                micros(conn.changed)
            ])
            .map_err(internal)?;
            let mut journal = Journal::new(org, conn.changed);
            if let Some(e) = connection_event(was, conn.state) {
                journal.push(e);
            }
            journal.append(c)
        })
        .await
    }

    async fn update_org(
        &self, id: OrgId, name: &str, kind: OrgKind,
    ) -> Result<OrgUpdate, StoreError> {
        let name = name.to_owned();
        self.rt
            .write(Effect::Data, move |c| {
                // One statement: the kind changes only while no user row exists.
                let n = c
                    .prepare_cached(
                        "UPDATE organisations SET name = ?2, kind = ?3 WHERE id = ?1 \
                         AND (kind = ?3 OR NOT EXISTS \
                              (SELECT 1 FROM resources WHERE org_id = ?1 AND kind = 0))",
                    )
                    .map_err(internal)?
                    .execute(params![b(&id.0), name, kind.as_str()])
                    .map_err(internal)?;
                if n == 1 {
                    return Ok(OrgUpdate::Updated);
                }
                let exists = c
                    .prepare_cached("SELECT 1 FROM organisations WHERE id = ?1")
                    .map_err(internal)?
                    .exists(params![b(&id.0)])
                    .map_err(internal)?;
                Ok(if exists {
                    OrgUpdate::HasAccounts
                } else {
                    OrgUpdate::NotFound
                })
            })
            .await
    }
}
