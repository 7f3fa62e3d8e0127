//! The directory on SQLite (docs/contract.md, "Directory semantics"): accounts whatever their source, SCIM deletion with
//! a hold, disconnect, conflicts. Every write is one job of the writer.

use crate::b;
use crate::dialect::{Sqlite, prepared};
use crate::journal::{self, Journal};
use crate::resources::RESOURCE_COLS;
use crate::rows::{first, query, query_count};
use crate::runtime::{Effect, blob, internal};
use crate::{SqliteStore, map_write_err, uuid_from};
use async_trait::async_trait;
use directory::ids::OrgKind;
use directory::store::columns::{active, external_id, from_micros, kind_from, micros, name_ci};
use directory::store::{
    Account, AccountChange, AccountPage, AccountQuery, AccountStore, ConflictRecord, LocalProps,
    NewResource, Source, SyncPolicy,
};
use directory::{OrgId, ResourceId, StoreError};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use scim_core::schema::ResourceKind;
use store_sql::accounts::{
    ACCOUNT_COLS, account, account_page_row, check_change, check_retire, plan_accounts,
    retire_statements,
};
use store_sql::{keyset_page, open_after};
use time::OffsetDateTime;

fn get_by(
    c: &Connection, org: OrgId, column: &str, key: SqlValue,
) -> Result<Option<Account>, StoreError> {
    first(
        c,
        &format!(
            "SELECT {RESOURCE_COLS}, {ACCOUNT_COLS} FROM resources r \
             WHERE r.org_id = ?1 AND r.{column} = ?2 AND r.kind = 0"
        ),
        params![b(&org.0), key],
        account,
    )
}

pub(crate) fn get_account_tx(
    c: &Connection, org: OrgId, id: ResourceId,
) -> Result<Option<Account>, StoreError> {
    get_by(c, org, "id", SqlValue::Blob(id.0.as_bytes().to_vec()))
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn get_account(&self, org: OrgId, id: ResourceId) -> Result<Option<Account>, StoreError> {
        self.rt.read_now(|c| get_account_tx(c, org, id)).await
    }

    async fn find_account_by_name(
        &self, org: OrgId, name: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.rt
            .read_now(|c| get_by(c, org, "name_ci", SqlValue::Text(name.to_owned())))
            .await
    }

    async fn list_accounts(&self, org: OrgId, q: &AccountQuery) -> Result<AccountPage, StoreError> {
        let q = q.clone();
        let cursors = self.cursors.clone();
        self.rt
            .scan(org, move |c| {
                let after = open_after(&cursors, org, q.after.as_deref())?;
                let search = match q.search.as_deref() {
                    Some(text) => crate::search::condition(c, org, text)?,
                    None => None,
                };
                let condition = search.as_ref().map(|s| &s.condition);
                let plan = plan_accounts(&Sqlite, org, &q, condition, RESOURCE_COLS, after);
                // A search alone is counted from the index (see `crate::search::Search`).
                let index_count = search
                    .and_then(|s| s.index_count)
                    .filter(|_| q.source.is_none() && q.status.is_none());
                let total = query_count(c, index_count.as_ref().unwrap_or(&plan.count))?;
                let rows = query(c, &plan.page, account_page_row)?;
                keyset_page(&cursors, org, rows, plan.per_page, total)
            })
            .await
    }

    async fn create_account(
        &self, org: OrgId, new: NewResource, source: Source, local: &LocalProps,
    ) -> Result<Account, StoreError> {
        let local = local.clone();
        self.rt.write(Effect::Data, move |c| {
            let doc_text = serde_json::to_string(&new.doc).map_err(internal)?;
            let local_text = serde_json::to_string(&local).map_err(internal)?;
            let now = micros(new.now);
            c.prepare_cached(
                "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, external_id, doc, active, source, local) \
                 VALUES (?1, ?2, 0, 1, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(internal)?
            .execute(params![
                b(&org.0),
                b(&new.id.0),
                now,
                name_ci(ResourceKind::User, &new.doc),
                external_id(&new.doc),
                doc_text,
                active(&new.doc),
                source.as_str(),
                local_text
            ])
            .map_err(map_write_err)?;
            let mut journal = Journal::new(org, new.now);
            journal.user_changed(c, new.id, None)?;
            journal.append(c)?;
            get_account_tx(c, org, new.id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn update_account(
        &self, org: OrgId, id: ResourceId, change: AccountChange,
    ) -> Result<Account, StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                let current = get_account_tx(c, org, id)?.ok_or(StoreError::NotFound)?;
                let at = check_change(&current, &change)?;
                let now = micros(at);
                let before = journal::user(c, org, id)?;
                let (org_b, id_b) = (b(&org.0), b(&id.0));
                if let Some(doc) = &change.doc {
                    let doc_text = serde_json::to_string(doc).map_err(internal)?;
                    c.prepare_cached(
                    "UPDATE resources SET doc = ?3, name_ci = ?4, external_id = ?5, active = ?6, \
                     version = version + 1, last_modified = ?7 WHERE org_id = ?1 AND id = ?2",
                )
                .map_err(internal)?
                .execute(params![
                    org_b,
                    id_b,
                    doc_text,
                    name_ci(ResourceKind::User, doc),
                    external_id(doc),
                    active(doc),
                    now
                ])
                .map_err(map_write_err)?;
                }
                if let Some(source) = change.source {
                    c.prepare_cached(
                        "UPDATE resources SET source = ?3 WHERE org_id = ?1 AND id = ?2",
                    )
                    .map_err(internal)?
                    .execute(params![org_b, id_b, source.as_str()])
                    .map_err(internal)?;
                }
                if let Some(local) = &change.local {
                    let text = serde_json::to_string(local).map_err(internal)?;
                    c.prepare_cached(
                        "UPDATE resources SET local = ?3 WHERE org_id = ?1 AND id = ?2",
                    )
                    .map_err(internal)?
                    .execute(params![org_b, id_b, text])
                    .map_err(internal)?;
                }
                let mut journal = Journal::new(org, at);
                journal.user_changed(c, id, before.as_ref())?;
                journal.append(c)?;
                get_account_tx(c, org, id)?.ok_or(StoreError::NotFound)
            })
            .await
    }

    async fn retire_account(
        &self, org: OrgId, id: ResourceId, expected_version: Option<i64>, at: OffsetDateTime,
        hold_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.rt.write(Effect::Data, move |c| {
            let (org_b, id_b) = (b(&org.0), b(&id.0));
            let current: Option<i64> = c
                .prepare_cached(&format!(
                    "SELECT version FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = 0 AND {}",
                    crate::resources::SCIM_VISIBLE
                ))
                .map_err(internal)?
                .query_row(params![org_b, id_b], |r| r.get(0))
                .optional()
                .map_err(internal)?;
            check_retire(current, expected_version)?;
            let before = journal::user(c, org, id)?;
            for statement in retire_statements(org, id, micros(at), micros(hold_until)) {
                let (text, args) = prepared(&statement);
                c.prepare_cached(&text)
                    .map_err(internal)?
                    .execute(params_from_iter(args.iter()))
                    .map_err(internal)?;
            }
            let mut journal = Journal::new(org, at);
            journal.user_changed(c, id, before.as_ref())?;
            journal.append(c)
        })
        .await
    }

    async fn purge_retired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let n = self
            .rt
            .execute(
                "DELETE FROM resources WHERE deleted IS NOT NULL AND hold_until <= ?1 AND kind = 0",
                vec![micros(now).into()],
            )
            .await?;
        Ok(n as u64)
    }

    async fn purge_retired_account(
        &self, org: OrgId, id: ResourceId, now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = self
            .rt
            .execute(
                "DELETE FROM resources WHERE org_id = ?1 AND id = ?2 AND kind = 0 \
                 AND deleted IS NOT NULL AND hold_until <= ?3",
                vec![blob(&org.0), blob(&id.0), micros(now).into()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn release_sync(&self, org: OrgId) -> Result<u64, StoreError> {
        self.rt
            .write(Effect::Data, move |c| {
                let org_b = b(&org.0);
                let mut stmt = c
                    .prepare_cached(
                        "SELECT id, kind FROM resources WHERE org_id = ?1 AND source = 'scim' ORDER BY seq",
                    )
                    .map_err(internal)?;
                let rows = stmt
                    .query_map(params![org_b], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))
                    .map_err(internal)?;
                let mut owned = Vec::new();
                for row in rows {
                    let (id, kind) = row.map_err(internal)?;
                    let (id, kind) = (ResourceId(uuid_from(&id)?), kind_from(kind));
                    owned.push((id, kind, journal::object(c, org, id, kind)?));
                }
                let n = c
                    .prepare_cached("UPDATE resources SET source = 'manual' WHERE org_id = ?1 AND source = 'scim'")
                    .map_err(internal)?
                    .execute(params![org_b])
                    .map_err(internal)?;
                let mut journal = Journal::new(org, OffsetDateTime::now_utc());
                for (id, kind, before) in &owned {
                    // A user SCIM deleted was reported gone already: its source is no news.
                    if before.as_ref().is_some_and(|b| b["state"] == "deleted") {
                        continue;
                    }
                    journal.changed(c, *id, *kind, before.as_ref(), &[])?;
                }
                journal.append(c)?;
                Ok(n as u64)
            })
            .await
    }

    async fn sync_policy(&self, org: OrgId, name: &str) -> Result<SyncPolicy, StoreError> {
        self.rt.read_now(|c| {
            let org_b = b(&org.0);
            let (kind, auto_merge): (String, bool) = c
                .prepare_cached("SELECT kind, auto_merge FROM organisations WHERE id = ?1")
                .map_err(internal)?
                .query_row(params![org_b], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(internal)?
                .ok_or(StoreError::NotFound)?;
            let verified_domains = c
                .prepare_cached(
                    "SELECT name FROM domains WHERE org_id = ?1 AND verified IS NOT NULL ORDER BY name",
                )
                .map_err(internal)?
                .query_map(params![org_b], |r| r.get::<_, String>(0))
                .map_err(internal)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            let admin_collision: bool = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM administrators WHERE org_id = ?1 AND email_ci = ?2)",
                )
                .map_err(internal)?
                .query_row(params![org_b, name], |r| r.get(0))
                .map_err(internal)?;
            Ok(SyncPolicy {
                kind: kind.parse::<OrgKind>().map_err(internal)?,
                auto_merge,
                verified_domains,
                admin_collision,
            })
        }).await
    }

    async fn set_auto_merge(&self, org: OrgId, on: bool) -> Result<(), StoreError> {
        let n = self
            .rt
            .execute(
                "UPDATE organisations SET auto_merge = ?2 WHERE id = ?1",
                vec![blob(&org.0), i64::from(on).into()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn org_time_zone(&self, org: OrgId) -> Result<String, StoreError> {
        self.rt
            .read_now(move |c| {
                c.prepare_cached("SELECT time_zone FROM organisations WHERE id = ?1")
                    .map_err(internal)?
                    .query_row(params![b(&org.0)], |r| r.get::<_, String>(0))
                    .optional()
                    .map_err(internal)?
                    .ok_or(StoreError::NotFound)
            })
            .await
    }

    async fn set_org_time_zone(&self, org: OrgId, zone: &str) -> Result<(), StoreError> {
        let n = self
            .rt
            .execute(
                "UPDATE organisations SET time_zone = ?2 WHERE id = ?1",
                vec![blob(&org.0), zone.to_owned().into()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn record_conflict(&self, c: &ConflictRecord) -> Result<bool, StoreError> {
        let r = c.clone();
        self.rt.write(Effect::Data, move |c| {
            let incoming = serde_json::to_string(&r.incoming).map_err(internal)?;
            let (org_b, key) = (b(&r.org_id.0), r.name_ci.as_str());
            let existed: bool = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM conflicts WHERE org_id = ?1 AND name_ci = ?2)",
                )
                .map_err(internal)?
                .query_row(params![org_b, key], |row| row.get(0))
                .map_err(internal)?;
            c.prepare_cached(
                "INSERT INTO conflicts (org_id, name_ci, user_name, account_id, incoming, first_seen, last_seen, attempts) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1) \
                 ON CONFLICT (org_id, name_ci) DO UPDATE SET user_name = excluded.user_name, \
                 account_id = excluded.account_id, incoming = excluded.incoming, \
                 last_seen = excluded.last_seen, attempts = attempts + 1",
            )
            .map_err(internal)?
            .execute(params![
                org_b,
                key,
                r.user_name,
                b(&r.account_id.0),
                incoming,
                micros(r.first_seen),
                micros(r.last_seen)
            ])
            .map_err(internal)?;
            Ok(!existed)
        })
        .await
    }

    async fn list_conflicts(&self, org: OrgId) -> Result<Vec<ConflictRecord>, StoreError> {
        self.rt.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT name_ci, user_name, account_id, incoming, first_seen, last_seen, attempts \
                     FROM conflicts WHERE org_id = ?1 ORDER BY first_seen, name_ci",
                )
                .map_err(internal)?;
            let rows = stmt
                .query_map(params![b(&org.0)], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, i64>(5)?,
                        row.get::<_, i64>(6)?,
                    ))
                })
                .map_err(internal)?;
            let mut out = Vec::new();
            for row in rows {
                let (name_ci, user_name, account, incoming, first, last, attempts) =
                    row.map_err(internal)?;
                out.push(ConflictRecord {
                    org_id: org,
                    name_ci,
                    user_name,
                    account_id: ResourceId(uuid_from(&account)?),
                    incoming: serde_json::from_str(&incoming).map_err(internal)?,
                    first_seen: from_micros(first),
                    last_seen: from_micros(last),
                    attempts,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn delete_conflict(&self, org: OrgId, name_ci: &str) -> Result<bool, StoreError> {
        let name = name_ci.to_owned();
        let n = self
            .rt
            .execute(
                "DELETE FROM conflicts WHERE org_id = ?1 AND name_ci = ?2",
                vec![blob(&org.0), name.into()],
            )
            .await?;
        Ok(n == 1)
    }
}
