//! The directory on PostgreSQL (docs/contract.md, "Directory semantics"): accounts whatever their source, SCIM deletion
//! with a hold, disconnect, conflicts. A change to an account locks its row first (`FOR NO KEY
//! UPDATE`), as SCIM updates do, so both kinds of writer serialise.

use crate::dialect::{Postgres, prepared, refs};
use crate::journal::{Journal, Lock, group_snapshots, user_snapshot, user_snapshots};
use crate::resources::RESOURCE_COLS;
use crate::rows::{PgRow, query, query_count};
use crate::{Failure, PgStore, from_micros, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::events::user_change;
use directory::ids::OrgKind;
use directory::store::columns::{active, external_id, kind_code, name_ci};
use directory::store::{
    Account, AccountChange, AccountPage, AccountQuery, AccountStore, ConflictRecord, LocalProps,
    NewResource, SEARCH_COUNT_CAP, Source, SyncPolicy,
};
use directory::{OrgId, ResourceId, StoreError};
use scim_core::schema::ResourceKind;
use store_sql::accounts::{
    ACCOUNT_COLS, account, account_page_row, check_change, check_retire, plan_accounts,
    retire_statements,
};
use store_sql::{keyset_page, open_after};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

pub(crate) fn account_row(row: &Row) -> Result<Account, Failure> {
    Ok(account(&PgRow(row))?)
}

async fn get_account_by<C: GenericClient>(
    c: &C, org: OrgId, id: ResourceId,
) -> Result<Option<Account>, Failure> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {RESOURCE_COLS}, {ACCOUNT_COLS} FROM resources r \
             WHERE r.org_id = $1 AND r.id = $2 AND r.kind = 0"
        ))
        .await?;
    c.query_opt(&stmt, &[&org.0, &id.0])
        .await?
        .map(|row| account_row(&row))
        .transpose()
}

async fn update_account_tx<C: GenericClient>(
    c: &C, org: OrgId, id: ResourceId, change: &AccountChange,
) -> Result<Account, Failure> {
    let before = user_snapshot(c, org, id, Lock::NoKeyUpdate)
        .await?
        .ok_or(StoreError::NotFound)?;
    let now = micros(check_change(&before.account, change)?);
    if let Some(doc) = &change.doc {
        let stmt = c
            .prepare_cached(
                "UPDATE resources SET doc = $3, name_ci = $4, external_id = $5, active = $6, \
                 version = version + 1, last_modified = $7 WHERE org_id = $1 AND id = $2",
            )
            .await?;
        c.execute(
            &stmt,
            &[
                &org.0,
                &id.0,
                doc,
                &name_ci(ResourceKind::User, doc),
                &external_id(doc),
                &active(doc),
                &now,
            ],
        )
        .await?;
    }
    if let Some(source) = change.source {
        let stmt = c
            .prepare_cached("UPDATE resources SET source = $3 WHERE org_id = $1 AND id = $2")
            .await?;
        c.execute(&stmt, &[&org.0, &id.0, &source.as_str()]).await?;
    }
    if let Some(local) = &change.local {
        let stmt = c
            .prepare_cached("UPDATE resources SET local = $3 WHERE org_id = $1 AND id = $2")
            .await?;
        c.execute(&stmt, &[&org.0, &id.0, &store_sql::local_json(local)?])
            .await?;
    }
    let after = user_snapshot(c, org, id, Lock::Plain)
        .await?
        .ok_or(StoreError::NotFound)?;
    let account = after.account.clone();
    // A change without its own instant (a local property, the source) happened now.
    let mut journal = Journal::new(org, change.now.unwrap_or_else(OffsetDateTime::now_utc));
    journal.user(Some(&before.object()), after);
    journal.commit(c).await?;
    Ok(account)
}

async fn retire_tx<C: GenericClient>(
    c: &C, org: OrgId, id: ResourceId, expected: Option<i64>, at: OffsetDateTime, hold_until: i64,
) -> Result<(), Failure> {
    let before = user_snapshot(c, org, id, Lock::NoKeyUpdate)
        .await?
        .filter(|u| u.visible);
    check_retire(
        before.as_ref().map(|u| u.account.resource.version),
        expected,
    )?;
    let before = before.ok_or(StoreError::NotFound)?;
    for statement in retire_statements(org, id, micros(at), hold_until) {
        let (text, args) = prepared(&statement);
        let stmt = c.prepare_cached(&text).await?;
        c.execute(&stmt, &refs(&args)).await?;
    }
    let after = user_snapshot(c, org, id, Lock::Plain)
        .await?
        .ok_or(StoreError::NotFound)?;
    // `user_change` makes this `user.deleted`; the groups the user leaves say nothing.
    let mut journal = Journal::new(org, at);
    journal.user(Some(&before.object()), after);
    journal.commit(c).await
}

async fn create_account_tx<C: GenericClient>(
    c: &C, org: OrgId, new: &NewResource, source: Source, local: &LocalProps,
) -> Result<Account, Failure> {
    let now = micros(new.now);
    // `updated` is the creation, which `user.created` reports.
    let stmt = c
        .prepare_cached(
            "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, external_id, doc, active, source, local, updated) \
             VALUES ($1, $2, 0, 1, $3, $3, $4, $5, $6, $7, $8, $9, $3)",
        )
        .await?;
    let (name, external, is_active, local) = (
        name_ci(ResourceKind::User, &new.doc),
        external_id(&new.doc),
        active(&new.doc),
        store_sql::local_json(local)?,
    );
    let insert = async {
        c.execute(
            &stmt,
            &[
                &org.0,
                &new.id.0,
                &now,
                &name,
                &external,
                &new.doc,
                &is_active,
                &source.as_str(),
                &local,
            ],
        )
        .await
        .map_err(Failure::from)
    };
    // The read goes out behind the insert; the insert's error is the one to tell.
    let (inserted, user) = tokio::join!(insert, user_snapshot(c, org, new.id, Lock::Plain));
    inserted?;
    let user = user?.ok_or(StoreError::NotFound)?;
    let mut journal = Journal::new(org, new.now);
    journal.extend(user_change(None, Some(user.object())));
    journal.commit(c).await?;
    Ok(user.account)
}

/// Disconnect: every row directory sync owns becomes manual, each with the event of its
/// change (`user.updated` / `group.updated`: the source is part of the object).
async fn release_tx<C: GenericClient>(c: &C, org: OrgId) -> Result<u64, Failure> {
    let stmt = c
        .prepare_cached(
            "UPDATE resources SET source = 'manual' WHERE org_id = $1 AND source = 'scim' \
             RETURNING seq, id, kind",
        )
        .await?;
    let mut rows = c
        .query(&stmt, &[&org.0])
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<_, i64>(0)?,
                r.try_get::<_, Uuid>(1)?,
                r.try_get::<_, i16>(2)?,
            ))
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
    // Events in the directory's own order.
    rows.sort_unstable();
    let group_code = kind_code(ResourceKind::Group);
    let (groups, users): (Vec<&(i64, Uuid, i16)>, Vec<_>) =
        rows.iter().partition(|r| r.2 == group_code);
    let users: Vec<Uuid> = users.iter().map(|r| r.1).collect();
    let groups: Vec<Uuid> = groups.iter().map(|r| r.1).collect();
    let mut users = user_snapshots(c, org, &users).await?;
    let mut groups = group_snapshots(c, org, &groups).await?;
    let mut journal = Journal::new(org, OffsetDateTime::now_utc());
    for (_, id, _) in &rows {
        // Before, each row was the same but for its source: this write changed nothing else
        // and holds every row it changed.
        if let Some(after) = users.remove(id) {
            // A user SCIM deleted was reported gone already: its source is no news.
            if after.account.deleted.is_some() {
                continue;
            }
            let mut before = after.clone();
            before.account.source = Source::Scim;
            journal.user(Some(&before.object()), after);
        } else if let Some(after) = groups.remove(id) {
            let mut before = after.clone();
            before.source = Source::Scim;
            journal.group(Some(&before.object()), after);
        }
    }
    journal.commit(c).await?;
    Ok(rows.len() as u64)
}

#[async_trait]
impl AccountStore for PgStore {
    async fn get_account(&self, org: OrgId, id: ResourceId) -> Result<Option<Account>, StoreError> {
        run(async {
            let c = self.client().await?;
            get_account_by(&c, org, id).await
        })
        .await
    }

    async fn find_account_by_name(
        &self, org: OrgId, name: &str,
    ) -> Result<Option<Account>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {RESOURCE_COLS}, {ACCOUNT_COLS} FROM resources r \
                     WHERE r.org_id = $1 AND r.name_ci = $2 AND r.kind = 0"
                ))
                .await?;
            c.query_opt(&stmt, &[&org.0, &name])
                .await?
                .map(|row| account_row(&row))
                .transpose()
        })
        .await
    }

    async fn list_accounts(&self, org: OrgId, q: &AccountQuery) -> Result<AccountPage, StoreError> {
        run(async {
            let c = self.client().await?;
            let after = open_after(&self.cursors, org, q.after.as_deref())?;
            let search = q.search.as_deref().and_then(crate::search::condition);
            let indexed = search.as_ref().map(|s| &s.indexed);
            let plan = plan_accounts(&Postgres, org, q, indexed, RESOURCE_COLS, after);
            let Some(search) = search else {
                let total = query_count(&c, &plan.count).await?;
                let rows = query(&c, &plan.page, account_page_row).await?;
                return Ok(keyset_page(&self.cursors, org, rows, plan.per_page, total)?);
            };
            let counted = query(&c, &crate::search::capped_page(org, &plan, after), |row| {
                let entry = row
                    .opt_int(10)?
                    .map(|_| account_page_row(row))
                    .transpose()?;
                Ok((entry, row.int(11)?))
            })
            .await?;
            let matches = counted.first().map_or(0, |(_, n)| *n);
            let capped = matches as u64 > SEARCH_COUNT_CAP;
            let (rows, total) = if capped {
                let checked = Some(&search.checked);
                let walk = plan_accounts(&Postgres, org, q, checked, RESOURCE_COLS, after).page;
                (
                    query(&c, &walk, account_page_row).await?,
                    SEARCH_COUNT_CAP as i64,
                )
            } else {
                let rows = counted.into_iter().filter_map(|(entry, _)| entry).collect();
                (rows, matches)
            };
            let mut page: AccountPage =
                keyset_page(&self.cursors, org, rows, plan.per_page, total)?;
            page.total_exact = !capped;
            Ok(page)
        })
        .await
    }

    async fn create_account(
        &self, org: OrgId, new: NewResource, source: Source, local: &LocalProps,
    ) -> Result<Account, StoreError> {
        transaction!(self, tx => create_account_tx(&tx, org, &new, source, local).await)
    }

    async fn update_account(
        &self, org: OrgId, id: ResourceId, change: AccountChange,
    ) -> Result<Account, StoreError> {
        transaction!(self, tx => update_account_tx(&tx, org, id, &change).await)
    }

    async fn retire_account(
        &self, org: OrgId, id: ResourceId, expected_version: Option<i64>, at: OffsetDateTime,
        hold_until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let hold = micros(hold_until);
        transaction!(self, tx => retire_tx(&tx, org, id, expected_version, at, hold).await)
    }

    async fn purge_retired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        run(async {
            let c = self.client().await?;
            Ok(c.execute(
                "DELETE FROM resources WHERE deleted IS NOT NULL AND hold_until <= $1 AND kind = 0",
                &[&micros(now)],
            )
            .await?)
        })
        .await
    }

    async fn purge_retired_account(
        &self, org: OrgId, id: ResourceId, now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "DELETE FROM resources WHERE org_id = $1 AND id = $2 AND kind = 0 \
                     AND deleted IS NOT NULL AND hold_until <= $3",
                    &[&org.0, &id.0, &micros(now)],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn release_sync(&self, org: OrgId) -> Result<u64, StoreError> {
        transaction!(self, tx => release_tx(&tx, org).await)
    }

    async fn sync_policy(&self, org: OrgId, name: &str) -> Result<SyncPolicy, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "SELECT o.kind, o.auto_merge, \
                     ARRAY(SELECT d.name FROM domains d WHERE d.org_id = o.id AND d.verified IS NOT NULL ORDER BY d.name), \
                     EXISTS (SELECT 1 FROM administrators a WHERE a.org_id = o.id AND a.email_ci = $2) \
                     FROM organisations o WHERE o.id = $1",
                )
                .await?;
            let row = c
                .query_opt(&stmt, &[&org.0, &name])
                .await?
                .ok_or(StoreError::NotFound)?;
            let kind: String = row.try_get(0)?;
            Ok(SyncPolicy {
                kind: kind
                    .parse::<OrgKind>()
                    .map_err(|e| Failure::Store(StoreError::Internal(e)))?,
                auto_merge: row.try_get(1)?,
                verified_domains: row.try_get(2)?,
                admin_collision: row.try_get(3)?,
            })
        })
        .await
    }

    async fn org_time_zone(&self, org: OrgId) -> Result<String, StoreError> {
        run(async {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    "SELECT time_zone FROM organisations WHERE id = $1",
                    &[&org.0],
                )
                .await?
                .ok_or(StoreError::NotFound)?;
            Ok(row.try_get(0)?)
        })
        .await
    }

    async fn set_org_time_zone(&self, org: OrgId, zone: &str) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE organisations SET time_zone = $2 WHERE id = $1",
                    &[&org.0, &zone],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn set_auto_merge(&self, org: OrgId, on: bool) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE organisations SET auto_merge = $2 WHERE id = $1",
                    &[&org.0, &on],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn record_conflict(&self, r: &ConflictRecord) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            // `xmax = 0` tells an inserted row from an updated one.
            let row = c
                .query_one(
                    "INSERT INTO conflicts (org_id, name_ci, user_name, account_id, incoming, first_seen, last_seen, attempts) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1) \
                     ON CONFLICT (org_id, name_ci) DO UPDATE SET user_name = excluded.user_name, \
                     account_id = excluded.account_id, incoming = excluded.incoming, \
                     last_seen = excluded.last_seen, attempts = conflicts.attempts + 1 \
                     RETURNING (xmax = 0)",
                    &[
                        &r.org_id.0,
                        &r.name_ci,
                        &r.user_name,
                        &r.account_id.0,
                        &r.incoming,
                        &micros(r.first_seen),
                        &micros(r.last_seen),
                    ],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
        .await
    }

    async fn list_conflicts(&self, org: OrgId) -> Result<Vec<ConflictRecord>, StoreError> {
        run(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    "SELECT name_ci, user_name, account_id, incoming, first_seen, last_seen, attempts \
                     FROM conflicts WHERE org_id = $1 ORDER BY first_seen, name_ci",
                    &[&org.0],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(ConflictRecord {
                        org_id: org,
                        name_ci: row.try_get(0)?,
                        user_name: row.try_get(1)?,
                        account_id: ResourceId(row.try_get(2)?),
                        incoming: row.try_get(3)?,
                        first_seen: from_micros(row.try_get(4)?),
                        last_seen: from_micros(row.try_get(5)?),
                        attempts: row.try_get(6)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn delete_conflict(&self, org: OrgId, name: &str) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "DELETE FROM conflicts WHERE org_id = $1 AND name_ci = $2",
                    &[&org.0, &name],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }
}
