//! The event log and the directory API's reads on SQLite. Events are appended by the writes
//! themselves ([`crate::journal`]); here they are read and aged.

use crate::journal;
use crate::rows::SqliteRow;
use crate::runtime::{Effect, blob, internal};
use crate::{SqliteStore, uuid_from};
use async_trait::async_trait;
use directory::store::columns::{kind_code, micros};
use directory::store::{
    DirectoryQuery, DirectoryReadStore, Event, EventId, EventQuery, EventStore,
};
use directory::{OrgId, ResourceId, StoreError};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use store_sql::events::{EVENT_COLS, event};
use time::OffsetDateTime;

fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Event, StoreError>> {
    Ok(event(&SqliteRow(row)))
}

fn list(c: &Connection, org: OrgId, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
    let mut args: Vec<SqlValue> = vec![blob(&org.0), q.after.into()];
    let mut sql = format!("SELECT {EVENT_COLS} FROM events WHERE org_id = ?1 AND seq > ?2");
    if !q.types.is_empty() {
        let slots: Vec<String> = (0..q.types.len()).map(|i| format!("?{}", i + 3)).collect();
        sql.push_str(&format!(" AND type IN ({})", slots.join(", ")));
        args.extend(
            q.types
                .iter()
                .map(|t| SqlValue::Text(t.as_str().to_owned())),
        );
    }
    sql.push_str(&format!(" ORDER BY seq LIMIT {}", q.limit));
    let mut stmt = c.prepare_cached(&sql).map_err(internal)?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), event_row)
        .map_err(internal)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(internal)??);
    }
    Ok(out)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn list_events(&self, org: OrgId, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let q = q.clone();
        self.rt.read(move |c| list(c, org, &q)).await
    }

    async fn find_event(&self, org: OrgId, id: EventId) -> Result<Option<Event>, StoreError> {
        self.rt
            .read_now(|c| {
                c.prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM events WHERE id = ?1 AND org_id = ?2"
                ))
                .map_err(internal)?
                .query_row(
                    params![id.0.as_bytes().as_slice(), org.0.as_bytes().as_slice()],
                    event_row,
                )
                .optional()
                .map_err(internal)?
                .transpose()
            })
            .await
    }

    async fn last_event_sequence(&self, org: OrgId) -> Result<i64, StoreError> {
        self.rt
            .read_now(|c| {
                let last: Option<i64> = c
                    .prepare_cached("SELECT last_seq FROM event_counters WHERE org_id = ?1")
                    .map_err(internal)?
                    .query_row(params![org.0.as_bytes().as_slice()], |r| r.get(0))
                    .optional()
                    .map_err(internal)?;
                Ok(last.unwrap_or(0))
            })
            .await
    }

    async fn purge_events(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.rt
            .write(Effect::LogOnly, move |c| {
                let t = micros(before);
                let n = c
                    .prepare_cached("DELETE FROM events WHERE created < ?1")
                    .map_err(internal)?
                    .execute(params![t])
                    .map_err(internal)?;
                c.prepare_cached("DELETE FROM webhook_deliveries WHERE at < ?1")
                    .map_err(internal)?
                    .execute(params![t])
                    .map_err(internal)?;
                Ok(n as u64)
            })
            .await
    }
}

/// Which rows the directory API lists: users SCIM has not deleted, or groups.
fn listed(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "r.kind = 0 AND r.deleted IS NULL",
        ResourceKind::Group => "r.kind = 1",
    }
}

#[async_trait]
impl DirectoryReadStore for SqliteStore {
    async fn directory_objects(
        &self, org: OrgId, kind: ResourceKind, q: &DirectoryQuery,
    ) -> Result<Vec<(i64, Value)>, StoreError> {
        let q = q.clone();
        self.rt
            .scan(org, move |c| {
                let since = q.updated_since.map(micros);
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT r.seq, r.id FROM resources r WHERE r.org_id = ?1 AND {} AND r.seq > ?2 \
                         AND (?3 IS NULL OR MAX(COALESCE(r.updated, r.last_modified), r.last_modified) >= ?3) \
                         ORDER BY r.seq LIMIT ?4",
                        listed(kind)
                    ))
                    .map_err(internal)?;
                let rows = stmt
                    .query_map(
                        params![org.0.as_bytes().as_slice(), q.after, since, i64::from(q.limit)],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
                    )
                    .map_err(internal)?;
                let mut found = Vec::new();
                for row in rows {
                    let (seq, id) = row.map_err(internal)?;
                    found.push((seq, ResourceId(uuid_from(&id)?)));
                }
                let mut out = Vec::with_capacity(found.len());
                for (seq, id) in found {
                    if let Some(obj) = journal::object(c, org, id, kind)? {
                        out.push((seq, obj));
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn directory_object(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId,
    ) -> Result<Option<Value>, StoreError> {
        self.rt
            .read_now(|c| {
                let obj = journal::object(c, org, id, kind)?;
                Ok(obj.filter(|o| o.get("state").and_then(Value::as_str) != Some("deleted")))
            })
            .await
    }

    async fn directory_members(
        &self, org: OrgId, group: ResourceId, after: Option<ResourceId>, limit: u32,
    ) -> Result<Option<Vec<(ResourceId, Value)>>, StoreError> {
        self.rt
            .scan(org, move |c| {
                let org_b = org.0.as_bytes().as_slice();
                let exists: Option<i64> = c
                    .prepare_cached("SELECT 1 FROM resources WHERE org_id = ?1 AND id = ?2 AND kind = ?3")
                    .map_err(internal)?
                    .query_row(
                        params![org_b, group.0.as_bytes().as_slice(), kind_code(ResourceKind::Group)],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(internal)?;
                if exists.is_none() {
                    return Ok(None);
                }
                let after = after.map(|a| a.0.as_bytes().to_vec()).unwrap_or_default();
                let mut stmt = c
                    .prepare_cached(
                        "SELECT member_id, member_kind FROM group_members \
                         WHERE org_id = ?1 AND group_id = ?2 AND member_id > ?3 ORDER BY member_id LIMIT ?4",
                    )
                    .map_err(internal)?;
                let rows = stmt
                    .query_map(
                        params![org_b, group.0.as_bytes().as_slice(), after, i64::from(limit)],
                        |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)),
                    )
                    .map_err(internal)?;
                let mut found = Vec::new();
                for row in rows {
                    let (id, kind) = row.map_err(internal)?;
                    found.push((ResourceId(uuid_from(&id)?), directory::store::columns::kind_from(kind)));
                }
                let mut out = Vec::with_capacity(found.len());
                for (id, kind) in found {
                    if let Some(obj) = journal::object(c, org, id, kind)? {
                        out.push((id, obj));
                    }
                }
                Ok(Some(out))
            })
            .await
    }

    /// The key the store loaded at start (`crate::cursor_key`).
    fn cursor_key(&self) -> Option<&directory::store::CursorKey> {
        Some(&self.cursors)
    }
}
