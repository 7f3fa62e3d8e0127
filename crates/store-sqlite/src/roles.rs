//! Roles by rule on SQLite (docs/contract.md, "Roles and rules"): the organisation's own roles,
//! its rules, and their application to accounts. The writer is the only one, so applying
//! rules inside one of its jobs reads the documents, groups and rules every earlier write
//! committed, and no write can come between the read and the write.

use crate::accounts::get_account_tx;
use crate::journal::{self, Journal};
use crate::runtime::{Effect, internal};
use crate::{SqliteStore, b, uuid_from};
use async_trait::async_trait;
use directory::ids::{OrgKind, RuleId};
use directory::store::columns::{from_micros, micros};
use directory::store::{GroupView, RoleRule, RoleStore, RuleCondition, RuleOp};
use directory::{OrgId, ResourceId, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

fn rules_tx(c: &Connection, org: OrgId) -> Result<Vec<RoleRule>, StoreError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, position, name, attribute, op, value, roles, locations, created, updated \
             FROM role_rules WHERE org_id = ?1 ORDER BY position, id",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(params![b(&org.0)], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, i64>(9)?,
            ))
        })
        .map_err(internal)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, position, name, attribute, op, value, roles, locations, created, updated) =
            row.map_err(internal)?;
        out.push(RoleRule {
            id: RuleId(uuid_from(&id)?),
            position,
            name,
            condition: RuleCondition {
                attribute,
                op: RuleOp::parse(&op)
                    .ok_or_else(|| StoreError::Internal(format!("bad rule op {op}")))?,
                value,
            },
            roles: serde_json::from_str(&roles).map_err(internal)?,
            locations: serde_json::from_str(&locations).map_err(internal)?,
            created: from_micros(created),
            updated: from_micros(updated),
        });
    }
    Ok(out)
}

/// The groups `user` is a direct member of, with their names.
fn groups_of(c: &Connection, org: OrgId, user: ResourceId) -> Result<Vec<GroupView>, StoreError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT g.id, json_extract(g.doc, '$.displayName') FROM group_members gm \
             JOIN resources g ON g.org_id = gm.org_id AND g.id = gm.group_id \
             WHERE gm.org_id = ?1 AND gm.member_id = ?2",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(params![b(&org.0), b(&user.0)], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .map_err(internal)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, display) = row.map_err(internal)?;
        out.push(GroupView {
            id: ResourceId(uuid_from(&id)?),
            display,
        });
    }
    Ok(out)
}

fn apply_tx(
    c: &Connection, org: OrgId, ids: &[ResourceId], now: OffsetDateTime,
) -> Result<Vec<ResourceId>, StoreError> {
    let kind: Option<String> = c
        .prepare_cached("SELECT kind FROM organisations WHERE id = ?1")
        .map_err(internal)?
        .query_row(params![b(&org.0)], |r| r.get(0))
        .optional()
        .map_err(internal)?;
    let kind: OrgKind = kind
        .ok_or(StoreError::NotFound)?
        .parse()
        .map_err(StoreError::Internal)?;
    let rules = rules_tx(c, org)?;
    let with_groups = directory::roles::needs_groups(&rules);
    let mut journal = Journal::new(org, now);
    let mut changed = Vec::new();
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    for id in ids {
        let Some(account) = get_account_tx(c, org, id)? else {
            continue;
        };
        if account.deleted.is_some() {
            continue;
        }
        let groups = if with_groups {
            groups_of(c, org, id)?
        } else {
            Vec::new()
        };
        let local =
            directory::roles::derive(kind, &rules, &account.resource.doc, &groups, &account.local);
        if local == account.local {
            continue;
        }
        let before = journal::user(c, org, id)?;
        let text = serde_json::to_string(&local).map_err(internal)?;
        c.prepare_cached("UPDATE resources SET local = ?3 WHERE org_id = ?1 AND id = ?2")
            .map_err(internal)?
            .execute(params![b(&org.0), b(&id.0), text])
            .map_err(internal)?;
        journal.user_changed(c, id, before.as_ref())?;
        if local.roles != account.local.roles || local.locations != account.local.locations {
            changed.push(id);
        }
    }
    journal.append(c)?;
    Ok(changed)
}

#[async_trait]
impl RoleStore for SqliteStore {
    async fn list_org_roles(&self, org: OrgId) -> Result<Vec<String>, StoreError> {
        self.rt
            .read_now(|c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT name FROM org_roles WHERE org_id = ?1 ORDER BY created, name_ci",
                    )
                    .map_err(internal)?;
                let rows = stmt
                    .query_map(params![b(&org.0)], |r| r.get::<_, String>(0))
                    .map_err(internal)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(internal)
            })
            .await
    }

    async fn add_org_role(
        &self, org: OrgId, name: &str, at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.rt
            .write(Effect::LogOnly, move |c| {
                let n = c
                    .prepare_cached(
                        "INSERT INTO org_roles (org_id, name_ci, name, created) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT DO NOTHING",
                    )
                    .map_err(internal)?
                    .execute(params![b(&org.0), name.to_lowercase(), name, micros(at)])
                    .map_err(internal)?;
                if n == 0 {
                    return Err(StoreError::Conflict("role"));
                }
                Ok(())
            })
            .await
    }

    async fn remove_org_role(&self, org: OrgId, name: &str) -> Result<bool, StoreError> {
        let key = name.to_lowercase();
        self.rt
            .write(Effect::LogOnly, move |c| {
                let n = c
                    .prepare_cached("DELETE FROM org_roles WHERE org_id = ?1 AND name_ci = ?2")
                    .map_err(internal)?
                    .execute(params![b(&org.0), key])
                    .map_err(internal)?;
                Ok(n > 0)
            })
            .await
    }

    async fn list_role_rules(&self, org: OrgId) -> Result<Vec<RoleRule>, StoreError> {
        self.rt.read_now(|c| rules_tx(c, org)).await
    }

    async fn put_role_rule(&self, org: OrgId, rule: &RoleRule) -> Result<(), StoreError> {
        let rule = rule.clone();
        self.rt
            .write(Effect::LogOnly, move |c| {
                let roles = serde_json::to_string(&rule.roles).map_err(internal)?;
                let locations = serde_json::to_string(&rule.locations).map_err(internal)?;
                c.prepare_cached(
                    "INSERT INTO role_rules (org_id, id, position, name, attribute, op, value, roles, locations, created, updated) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                     ON CONFLICT (org_id, id) DO UPDATE SET position = excluded.position, name = excluded.name, \
                     attribute = excluded.attribute, op = excluded.op, value = excluded.value, roles = excluded.roles, \
                     locations = excluded.locations, updated = excluded.updated",
                )
                .map_err(internal)?
                .execute(params![
                    b(&org.0),
                    b(&rule.id.0),
                    rule.position,
                    rule.name,
                    rule.condition.attribute,
                    rule.condition.op.as_str(),
                    rule.condition.value,
                    roles,
                    locations,
                    micros(rule.created),
                    micros(rule.updated)
                ])
                .map_err(internal)?;
                Ok(())
            })
            .await
    }

    async fn remove_role_rule(&self, org: OrgId, id: RuleId) -> Result<bool, StoreError> {
        self.rt
            .write(Effect::LogOnly, move |c| {
                let n = c
                    .prepare_cached("DELETE FROM role_rules WHERE org_id = ?1 AND id = ?2")
                    .map_err(internal)?
                    .execute(params![b(&org.0), b(&id.0)])
                    .map_err(internal)?;
                Ok(n > 0)
            })
            .await
    }

    async fn apply_role_rules(
        &self, org: OrgId, ids: &[ResourceId], now: OffsetDateTime,
    ) -> Result<Vec<ResourceId>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.rt
            .write(Effect::Data, move |c| apply_tx(c, org, &ids, now))
            .await
    }

    async fn account_ids(
        &self, org: OrgId, after: Option<ResourceId>, limit: u32, sources: &[String],
    ) -> Result<Vec<ResourceId>, StoreError> {
        let sources: Vec<String> = sources.iter().map(|s| format!("%\"{s}\"%")).collect();
        self.rt
            .read(move |c| {
                let mut sql = String::from(
                    "SELECT id FROM resources WHERE org_id = ?1 AND kind = 0 AND deleted IS NULL AND id > ?2",
                );
                if !sources.is_empty() {
                    let likes: Vec<String> = (0..sources.len())
                        .map(|i| format!("local LIKE ?{}", i + 4))
                        .collect();
                    sql.push_str(&format!(" AND ({})", likes.join(" OR ")));
                }
                sql.push_str(" ORDER BY id LIMIT ?3");
                let after: Vec<u8> = after.map(|a| a.0.as_bytes().to_vec()).unwrap_or_default();
                let mut args: Vec<rusqlite::types::Value> = vec![
                    b(&org.0).to_vec().into(),
                    after.into(),
                    i64::from(limit).into(),
                ];
                args.extend(sources.iter().cloned().map(Into::into));
                let mut stmt = c.prepare(&sql).map_err(internal)?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                        r.get::<_, Vec<u8>>(0)
                    })
                    .map_err(internal)?;
                let mut out = Vec::new();
                for row in rows {
                    out.push(ResourceId(uuid_from(&row.map_err(internal)?)?));
                }
                Ok(out)
            })
            .await
    }
}
