//! Roles by rule on PostgreSQL (docs/contract.md, "Roles and rules"): the organisation's own
//! roles, its rules, and their application to accounts.
//!
//! Applying rules locks the accounts' rows first (`FOR NO KEY UPDATE`, in id order), then
//! reads their documents, direct groups and the rules in later statements, which at READ
//! COMMITTED see everything committed before the lock was granted. Every write of a document,
//! a membership or a rule applies the rules after it commits, so the last application to an
//! account, in lock order, reads what all of them wrote.

use crate::journal::{Journal, user_snapshots};
use crate::{Failure, PgStore, from_micros, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::ids::{OrgKind, RuleId};
use directory::store::{GroupView, RoleRule, RoleStore, RuleCondition, RuleOp};
use directory::{OrgId, ResourceId, StoreError};
use serde_json::Value;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::Store(StoreError::Internal(e.to_string()))
}

async fn rules_tx<C: GenericClient>(c: &C, org: OrgId) -> Result<Vec<RoleRule>, Failure> {
    let stmt = c
        .prepare_cached(
            "SELECT id, position, name, attribute, op, value, roles, locations, created, updated \
             FROM role_rules WHERE org_id = $1 ORDER BY position, id",
        )
        .await?;
    let mut out = Vec::new();
    for row in c.query(&stmt, &[&org.0]).await? {
        let op: String = row.try_get(4)?;
        let roles: Value = row.try_get(6)?;
        let locations: Value = row.try_get(7)?;
        out.push(RoleRule {
            id: RuleId(row.try_get(0)?),
            position: row.try_get(1)?,
            name: row.try_get(2)?,
            condition: RuleCondition {
                attribute: row.try_get(3)?,
                op: RuleOp::parse(&op).ok_or_else(|| bad(format!("bad rule op {op}")))?,
                value: row.try_get(5)?,
            },
            roles: serde_json::from_value(roles).map_err(bad)?,
            locations: serde_json::from_value(locations).map_err(bad)?,
            created: from_micros(row.try_get(8)?),
            updated: from_micros(row.try_get(9)?),
        });
    }
    Ok(out)
}

async fn apply_tx<C: GenericClient>(
    c: &C, org: OrgId, ids: &[ResourceId], now: OffsetDateTime,
) -> Result<Vec<ResourceId>, Failure> {
    let mut ids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
    ids.sort();
    ids.dedup();
    // The locks first, in one order for every writer.
    let lock = c
        .prepare_cached(
            "SELECT r.id FROM unnest($2::uuid[]) AS m (id) \
             JOIN resources r ON r.org_id = $1 AND r.id = m.id \
             WHERE r.kind = 0 AND r.deleted IS NULL ORDER BY r.id FOR NO KEY UPDATE OF r",
        )
        .await?;
    let locked: Vec<Uuid> = c
        .query(&lock, &[&org.0, &ids])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if locked.is_empty() {
        return Ok(Vec::new());
    }
    let kind_row = c
        .query_opt("SELECT kind FROM organisations WHERE id = $1", &[&org.0])
        .await?
        .ok_or(StoreError::NotFound)?;
    let kind: OrgKind = kind_row.try_get::<_, String>(0)?.parse().map_err(bad)?;
    let rules = rules_tx(c, org).await?;
    let mut groups: HashMap<Uuid, Vec<GroupView>> = HashMap::new();
    if directory::roles::needs_groups(&rules) {
        let stmt = c
            .prepare_cached(
                "SELECT gm.member_id, g.id, g.doc->>'displayName' FROM unnest($2::uuid[]) AS m (id) \
                 JOIN group_members gm ON gm.org_id = $1 AND gm.member_id = m.id \
                 JOIN resources g ON g.org_id = gm.org_id AND g.id = gm.group_id",
            )
            .await?;
        for row in c.query(&stmt, &[&org.0, &locked]).await? {
            groups.entry(row.try_get(0)?).or_default().push(GroupView {
                id: ResourceId(row.try_get(1)?),
                display: row.try_get(2)?,
            });
        }
    }
    let before = user_snapshots(c, org, &locked).await?;
    // What changes, written in one statement and read back in one.
    let mut written: Vec<Uuid> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut changed = Vec::new();
    for id in &locked {
        let Some(snap) = before.get(id) else {
            continue;
        };
        let current = &snap.account.local;
        let local = directory::roles::derive(
            kind,
            &rules,
            &snap.account.resource.doc,
            groups.get(id).map(Vec::as_slice).unwrap_or_default(),
            current,
        );
        if &local == current {
            continue;
        }
        written.push(*id);
        values.push(serde_json::to_value(&local).map_err(bad)?);
        if local.roles != current.roles || local.locations != current.locations {
            changed.push(ResourceId(*id));
        }
    }
    if written.is_empty() {
        return Ok(changed);
    }
    let update = c
        .prepare_cached(
            "UPDATE resources r SET local = m.local FROM unnest($2::uuid[], $3::jsonb[]) AS m (id, local) \
             WHERE r.org_id = $1 AND r.id = m.id",
        )
        .await?;
    c.execute(&update, &[&org.0, &written, &values]).await?;
    let mut after = user_snapshots(c, org, &written).await?;
    let mut journal = Journal::new(org, now);
    for id in &written {
        let (Some(b), Some(a)) = (before.get(id), after.remove(id)) else {
            return Err(StoreError::NotFound.into());
        };
        journal.user(Some(&b.object()), a);
    }
    journal.commit(c).await?;
    Ok(changed)
}

#[async_trait]
impl RoleStore for PgStore {
    async fn list_org_roles(&self, org: OrgId) -> Result<Vec<String>, StoreError> {
        run(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    "SELECT name FROM org_roles WHERE org_id = $1 ORDER BY created, name_ci",
                    &[&org.0],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn add_org_role(
        &self, org: OrgId, name: &str, at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "INSERT INTO org_roles (org_id, name_ci, name, created) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                    &[&org.0, &name.to_lowercase(), &name, &micros(at)],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::Conflict("role").into());
            }
            Ok(())
        })
        .await
    }

    async fn remove_org_role(&self, org: OrgId, name: &str) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "DELETE FROM org_roles WHERE org_id = $1 AND name_ci = $2",
                    &[&org.0, &name.to_lowercase()],
                )
                .await?;
            Ok(n > 0)
        })
        .await
    }

    async fn list_role_rules(&self, org: OrgId) -> Result<Vec<RoleRule>, StoreError> {
        run(async {
            let c = self.client().await?;
            rules_tx(&c, org).await
        })
        .await
    }

    async fn put_role_rule(&self, org: OrgId, rule: &RoleRule) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let roles = serde_json::to_value(&rule.roles).map_err(bad)?;
            let locations = serde_json::to_value(&rule.locations).map_err(bad)?;
            c.execute(
                "INSERT INTO role_rules (org_id, id, position, name, attribute, op, value, roles, locations, created, updated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (org_id, id) DO UPDATE SET position = excluded.position, name = excluded.name, \
                 attribute = excluded.attribute, op = excluded.op, value = excluded.value, roles = excluded.roles, \
                 locations = excluded.locations, updated = excluded.updated",
                &[
                    &org.0,
                    &rule.id.0,
                    &rule.position,
                    &rule.name,
                    &rule.condition.attribute,
                    &rule.condition.op.as_str(),
                    &rule.condition.value,
                    &roles,
                    &locations,
                    &micros(rule.created),
                    &micros(rule.updated),
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn remove_role_rule(&self, org: OrgId, id: RuleId) -> Result<bool, StoreError> {
        run(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "DELETE FROM role_rules WHERE org_id = $1 AND id = $2",
                    &[&org.0, &id.0],
                )
                .await?;
            Ok(n > 0)
        })
        .await
    }

    async fn apply_role_rules(
        &self, org: OrgId, ids: &[ResourceId], now: OffsetDateTime,
    ) -> Result<Vec<ResourceId>, StoreError> {
        // No ids: the lock query finds none and the transaction writes nothing.
        transaction!(self, tx => apply_tx(&tx, org, ids, now).await)
    }

    async fn account_ids(
        &self, org: OrgId, after: Option<ResourceId>, limit: u32, sources: &[String],
    ) -> Result<Vec<ResourceId>, StoreError> {
        run(async {
            let c = self.client().await?;
            let after = after.map(|a| a.0).unwrap_or(Uuid::nil());
            let likes: Vec<String> = sources.iter().map(|s| format!("%\"{s}\"%")).collect();
            let rows = c
                .query(
                    "SELECT id FROM resources WHERE org_id = $1 AND kind = 0 AND deleted IS NULL AND id > $2 \
                     AND (cardinality($4::text[]) = 0 OR local::text LIKE ANY($4)) ORDER BY id LIMIT $3",
                    &[&org.0, &after, &i64::from(limit), &likes],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| r.try_get(0).map(ResourceId))
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
