//! Applying the rules after writes: an account's document, a group's members or name (SCIM's
//! or an administrator's). Each runs after the write has committed and reads the rules then,
//! so a rule change committed before it is applied, and one committed after re-applies to
//! everyone anyway.

use super::*;

/// After a write of these accounts' documents or group memberships has committed: applies
/// the rules to them when the organisation has any (or only `memberOf` ones, with
/// `membership`). The rules are read after the write, so a rule change that committed before
/// it is applied here, and one that commits after it re-applies to everyone anyway.
pub async fn after_write(
    store: &dyn Store, org: OrgId, ids: &[ResourceId], membership: bool, now: time::OffsetDateTime,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let rules = store.list_role_rules(org).await?;
    let relevant = if membership {
        needs_groups(&rules)
    } else {
        !rules.is_empty()
    };
    if !relevant {
        return Ok(());
    }
    for chunk in ids.chunks(APPLY_BATCH as usize) {
        store.apply_role_rules(org, chunk, now).await?;
    }
    Ok(())
}

/// After a write of a group's members or name has committed. `explicit`: the members an
/// add or remove named; `current`: the group's members now, when the write replaced or
/// filtered its members, renamed or created it. With `bulk` (members replaced or removed by
/// filter, the name changed, the group deleted), every account with a role or location from
/// a `memberOf` rule is applied again too: whoever left the group is among them, whatever a
/// concurrent write did to the group between reads.
pub async fn after_group_write(
    store: &dyn Store, org: OrgId, explicit: &[ResourceId], current: &[ResourceId], bulk: bool,
    now: time::OffsetDateTime,
) -> Result<(), StoreError> {
    let rules = store.list_role_rules(org).await?;
    if !needs_groups(&rules) {
        return Ok(());
    }
    let mut ids: Vec<ResourceId> = explicit.iter().chain(current.iter()).copied().collect();
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(APPLY_BATCH as usize) {
        store.apply_role_rules(org, chunk, now).await?;
    }
    if bulk {
        let sources: Vec<String> = rules
            .iter()
            .filter(|r| r.condition.op == RuleOp::MemberOf)
            .map(rule_source)
            .collect();
        let mut after = None;
        loop {
            let batch = store.account_ids(org, after, APPLY_BATCH, &sources).await?;
            let Some(last) = batch.last().copied() else {
                break;
            };
            store.apply_role_rules(org, &batch, now).await?;
            after = Some(last);
            if (batch.len() as u32) < APPLY_BATCH {
                break;
            }
        }
    }
    Ok(())
}

/// After a write of `group` (SCIM's or an administrator's) has committed: applies the
/// `memberOf` rules to the members it `named`, to every member when it `renamed` the group, and
/// with `bulk` to every account a `memberOf` rule gave something (see [`after_group_write`]).
/// Runs as a task of its own, so a request that stops waiting does not stop it halfway; a
/// failure is logged (the account's next write, a rule change or `scimd roles apply` applies
/// the rules again).
pub async fn after_group_change(
    store: Arc<dyn Store>, now: time::OffsetDateTime, org: OrgId, group: ResourceId,
    named: Vec<ResourceId>, bulk: bool, renamed: bool,
) {
    let run = async move {
        if !needs_groups(&store.list_role_rules(org).await?) {
            return Ok(());
        }
        let current = if renamed {
            member_ids(store.as_ref(), org, group).await?
        } else {
            Vec::new()
        };
        after_group_write(store.as_ref(), org, &named, &current, bulk, now).await
    };
    let outcome = match tokio::spawn(run).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::Internal(e.to_string())),
    };
    if let Err(e) = outcome {
        tracing::error!(error = %e, %org, "cannot apply the role rules after a group's change");
    }
}

/// Every direct member of a group, by id, a thousand per read.
async fn member_ids(
    store: &dyn Store, org: OrgId, group: ResourceId,
) -> Result<Vec<ResourceId>, StoreError> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let q = crate::store::MemberQuery {
            search: None,
            after,
            count: 1000,
        };
        let Some(page) = store.list_group_members(org, group, &q).await? else {
            break;
        };
        ids.extend(page.members.iter().map(|m| m.id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok(ids)
}
