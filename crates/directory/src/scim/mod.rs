//! The SCIM service: the rules of RFC 7644 operations on one organisation's resources,
//! between the HTTP front end and the store. Handlers call one method here and map the result.

use crate::accounts::{default_local, hold_for};

use crate::clock::Clock;

use crate::ids::{OrgId, ResourceId};

use crate::render;

use crate::store::{
    ActivityEntry, ConflictRecord, ListQuery, Load, NewResource, Page, Source, Store, StoreError,
    StoredResource, SyncPolicy, Update, columns,
};

use scim_core::discovery::ServiceConfig;

use scim_core::error::{ScimError, ScimResult};

use scim_core::messages::ListParams;

use scim_core::patch::{MemberChange, MemberRef, apply_patch, parse_patch};

use scim_core::path::parse_attr_path;

use scim_core::projection::Projection;

use scim_core::resource::normalize;

use scim_core::schema::ResourceKind;

use serde_json::Value;

use std::sync::Arc;

/// How often an update computed from a stale read is recomputed before giving up. Every lost
/// round means another writer of the same resource committed, so a writer can lose at most as
/// many rounds as there are concurrent writers of that resource; this bound is well above what
/// identity providers send (Entra and Okta keep a few requests in flight per tenant).
const MAX_UPDATE_ATTEMPTS: usize = 64;

/// How often a create retries after the account holding its `userName` went away meanwhile.
const MAX_CREATE_ATTEMPTS: usize = 4;

/// Maps a store error to the client-facing SCIM error; internal causes are logged here, once.
pub fn store_error(e: StoreError) -> ScimError {
    match e {
        StoreError::Conflict(field) => {
            ScimError::uniqueness(format!("{field} is already in use in this organisation"))
        }
        StoreError::NotFound => ScimError::not_found("resource not found"),
        StoreError::VersionMismatch => ScimError::precondition_failed("the resource has changed"),
        StoreError::UnknownMember(id) => {
            ScimError::invalid_value(format!("member '{id}' does not exist in this organisation"))
        }
        StoreError::InvalidCursor => ScimError::bad_request(
            scim_core::ScimType::InvalidCursor,
            "the cursor is not valid for this query",
        ),
        StoreError::Unavailable(msg) => {
            tracing::warn!(error = %msg, "storage unavailable");
            ScimError::new(503, None, "the database is unavailable; retry later")
        }
        StoreError::StorageFull(msg) => {
            tracing::error!(error = %msg, "storage full");
            ScimError::new(
                507,
                None,
                "the server's storage is full; the change was not made",
            )
        }
        StoreError::Internal(msg) => {
            tracing::error!(error = %msg, "storage failure");
            ScimError::internal()
        }
    }
}

/// A parsed `If-Match` precondition.
#[derive(Debug, Clone, Default)]
pub struct Precondition(pub Option<String>);

impl Precondition {
    fn check(&self, version: i64) -> ScimResult<()> {
        match &self.0 {
            Some(h) if !render::etag_list_matches(h, version) => {
                Err(ScimError::precondition_failed(
                    "If-Match does not match the current version of the resource",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Parses a resource id from a URL; an id that cannot exist is simply not found.
pub fn parse_id(id: &str) -> ScimResult<ResourceId> {
    id.parse()
        .map_err(|_| ScimError::not_found(format!("resource '{id}' not found")))
}

/// The SCIM service for all organisations.
#[derive(Debug, Clone)]
pub struct ScimService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<ServiceConfig>,
}

/// A list request ready for the store, with its projection.
#[derive(Debug, Clone)]
pub struct PreparedList {
    pub kind: ResourceKind,
    pub query: ListQuery,
    pub projection: Projection,
}

impl ScimService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ServiceConfig) -> Self {
        ScimService {
            store,
            clock,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// POST /Users, POST /Groups (RFC 7644 section 3.3).
    pub async fn create(
        &self, org: OrgId, kind: ResourceKind, body: &Value, load: Load,
    ) -> ScimResult<StoredResource> {
        let mut normalized = normalize(kind, body)?;
        if kind == ResourceKind::User {
            return self.create_user(org, normalized.doc, load).await;
        }
        let members = take_members(kind, &mut normalized.doc)?;
        let named = member_ids(&members);
        let new = NewResource {
            id: ResourceId::new(),
            doc: normalized.doc,
            now: self.clock.now(),
            members,
        };
        let mut created = self
            .store
            .create_resource(org, kind, new)
            .await
            .map_err(store_error)?;
        self.roles_after_group(org, created.id, named, false, false)
            .await;
        if load.relations && created.members.is_none() && kind == ResourceKind::Group {
            created.members = Some(Vec::new());
        }
        Ok(created)
    }

    /// GET /{type}/{id}.
    pub async fn get(
        &self, org: OrgId, kind: ResourceKind, id: &str, load: Load,
    ) -> ScimResult<StoredResource> {
        let rid = parse_id(id)?;
        self.store
            .get_resource(org, kind, rid, load)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ScimError::not_found(format!("{} '{id}' not found", kind.name())))
    }

    /// PUT /{type}/{id} (RFC 7644 section 3.5.1): replaces every writable attribute.
    pub async fn replace(
        &self, org: OrgId, kind: ResourceKind, id: &str, body: &Value, pre: &Precondition,
        load: Load,
    ) -> ScimResult<StoredResource> {
        let rid = parse_id(id)?;
        let mut normalized = normalize(kind, body)?;
        let members = take_members(kind, &mut normalized.doc)?;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let current = self.current(org, kind, rid, id).await?;
            pre.check(current.version)?;
            self.check_rename(org, kind, &current.doc, &normalized.doc)
                .await?;
            let doc = (normalized.doc != current.doc).then(|| normalized.doc.clone());
            let member_changes = match kind {
                ResourceKind::Group => vec![MemberChange::ReplaceAll(members.clone())],
                ResourceKind::User => Vec::new(),
            };
            let update = Update {
                expected_version: Some(current.version),
                doc,
                member_changes,
                now: self.clock.now(),
            };
            match self
                .store
                .update_resource(org, kind, rid, update, load)
                .await
            {
                Err(StoreError::VersionMismatch) => continue,
                other => {
                    let written = other.map_err(store_error)?;
                    match kind {
                        ResourceKind::User => self.roles_after_user(org, rid).await,
                        ResourceKind::Group => {
                            self.roles_after_group(org, rid, member_ids(&members), true, false)
                                .await
                        }
                    }
                    return Ok(written);
                }
            }
        }
        Err(busy())
    }

    /// PATCH /{type}/{id} (RFC 7644 section 3.5.2). Applied to the version read; if another
    /// writer got there first, the operations are applied again to the newer version.
    pub async fn patch(
        &self, org: OrgId, kind: ResourceKind, id: &str, body: &Value, pre: &Precondition,
        load: Load,
    ) -> ScimResult<StoredResource> {
        let rid = parse_id(id)?;
        let ops = parse_patch(kind, body)?;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let current = self.current(org, kind, rid, id).await?;
            pre.check(current.version)?;
            let outcome = apply_patch(kind, &current.doc, &ops)?;
            if outcome.changed {
                self.check_rename(org, kind, &current.doc, &outcome.doc)
                    .await?;
            }
            if !outcome.changed && outcome.member_changes.is_empty() {
                if load.relations {
                    return self.get(org, kind, id, load).await;
                }
                return Ok(current);
            }
            let (named, bulk) = member_effect(&outcome.member_changes);
            let renamed =
                outcome.changed && current.doc.get("displayName") != outcome.doc.get("displayName");
            let update = Update {
                // Membership changes alone do not depend on the version read; with an If-Match
                // the client asked for exactly that version.
                expected_version: (outcome.changed || pre.0.is_some()).then_some(current.version),
                doc: outcome.changed.then_some(outcome.doc),
                member_changes: outcome.member_changes,
                now: self.clock.now(),
            };
            match self
                .store
                .update_resource(org, kind, rid, update, load)
                .await
            {
                Err(StoreError::VersionMismatch) => continue,
                other => {
                    let written = other.map_err(store_error)?;
                    match kind {
                        ResourceKind::User => {
                            if outcome.changed {
                                self.roles_after_user(org, rid).await
                            }
                        }
                        ResourceKind::Group => {
                            self.roles_after_group(org, rid, named, bulk, renamed).await
                        }
                    }
                    return Ok(written);
                }
            }
        }
        Err(busy())
    }

    /// DELETE /{type}/{id} (RFC 7644 section 3.6).
    pub async fn delete(
        &self, org: OrgId, kind: ResourceKind, id: &str, pre: &Precondition,
    ) -> ScimResult<()> {
        let rid = parse_id(id)?;
        let expected = match &pre.0 {
            Some(_) => {
                let current = self.current(org, kind, rid, id).await?;
                pre.check(current.version)?;
                Some(current.version)
            }
            None => None,
        };
        let deleted = match kind {
            // A deleted account stays in the directory, deactivated, its userName held.
            ResourceKind::User => {
                let policy = self.store.sync_policy(org, "").await.map_err(store_error)?;
                let now = self.clock.now();
                self.store
                    .retire_account(org, rid, expected, now, now + hold_for(policy.kind))
                    .await
            }
            ResourceKind::Group => {
                let deleted = self.store.delete_resource(org, kind, rid, expected).await;
                if deleted.is_ok() {
                    self.roles_after_group(org, rid, Vec::new(), true, false)
                        .await;
                }
                deleted
            }
        };
        match deleted {
            Err(StoreError::NotFound) => Err(ScimError::not_found(format!(
                "{} '{id}' not found",
                kind.name()
            ))),
            other => other.map_err(store_error),
        }
    }

    /// POST /Users: the directory's rules before and after the store's unique index decides.
    async fn create_user(&self, org: OrgId, doc: Value, load: Load) -> ScimResult<StoredResource> {
        let user_name = doc
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let key = user_name.to_lowercase();
        let policy = self
            .store
            .sync_policy(org, &key)
            .await
            .map_err(store_error)?;
        self.check_incoming(org, &policy, &user_name).await?;
        // The rules apply from the first write: a new account has no groups yet.
        let rules = self.store.list_role_rules(org).await.map_err(store_error)?;
        let local =
            crate::roles::derive(policy.kind, &rules, &doc, &[], &default_local(policy.kind));
        for _ in 0..MAX_CREATE_ATTEMPTS {
            let new = NewResource {
                id: ResourceId::new(),
                doc: doc.clone(),
                now: self.clock.now(),
                members: Vec::new(),
            };
            match self
                .store
                .create_account(org, new, Source::Scim, &local)
                .await
            {
                Ok(a) => {
                    // A rule changed since they were read: its re-application may have passed
                    // this account before it existed.
                    match self.store.list_role_rules(org).await {
                        Ok(now_rules) if now_rules == rules => {}
                        _ => self.roles_after_user(org, a.resource.id).await,
                    }
                    return Ok(a.resource);
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(store_error(e)),
            }
            // The userName is taken: by whom decides the answer.
            let Some(existing) = self
                .store
                .find_account_by_name(org, &key)
                .await
                .map_err(store_error)?
            else {
                continue; // purged meanwhile
            };
            let now = self.clock.now();
            if existing.deleted.is_some() {
                let until = existing.hold_until.unwrap_or(now);
                if until > now {
                    return Err(ScimError::uniqueness(format!(
                        "userName '{user_name}' belonged to an account deleted on {}; it is reserved until {}",
                        render::timestamp(existing.deleted.unwrap_or(now)),
                        render::timestamp(until)
                    )));
                }
                self.store
                    .purge_retired_account(org, existing.resource.id, now)
                    .await
                    .map_err(store_error)?;
                continue;
            }
            if existing.source == Source::Scim {
                return Err(store_error(StoreError::Conflict("userName")));
            }
            if policy.auto_merge {
                match crate::accounts::adopt(self.store.as_ref(), org, &existing, &doc, now).await {
                    Ok(a) => {
                        self.note(org, "conflict.auto-merge", &user_name, None)
                            .await;
                        if load.relations {
                            return self
                                .get(org, ResourceKind::User, &a.resource.id.to_string(), load)
                                .await;
                        }
                        return Ok(a.resource);
                    }
                    Err(StoreError::VersionMismatch | StoreError::NotFound) => continue,
                    Err(e) => return Err(store_error(e)),
                }
            }
            let first = self
                .store
                .record_conflict(&ConflictRecord {
                    org_id: org,
                    name_ci: key.clone(),
                    user_name: user_name.clone(),
                    account_id: existing.resource.id,
                    incoming: doc.clone(),
                    first_seen: now,
                    last_seen: now,
                    attempts: 1,
                })
                .await
                .map_err(store_error)?;
            if first {
                self.note(
                    org,
                    "conflict.record",
                    &user_name,
                    Some(format!(
                        "matches {} account {}",
                        existing.source.as_str(),
                        existing.resource.id
                    )),
                )
                .await;
            }
            return Err(ScimError::uniqueness(format!(
                "userName '{user_name}' matches an account that directory sync does not manage \
                 (created by an administrator, or left by an earlier connection); an administrator \
                 can merge it under Directory Sync > Conflicts in the scimd console \
                 (or `scimd conflicts merge`), or turn on Auto Merge"
            )));
        }
        Err(busy())
    }

    /// The organisation's rules on an incoming `userName`: never an administrator's sign-in,
    /// and inside a verified domain once the organisation has one.
    async fn check_incoming(
        &self, org: OrgId, policy: &SyncPolicy, user_name: &str,
    ) -> ScimResult<()> {
        if policy.admin_collision {
            self.note(
                org,
                "scim.refused",
                user_name,
                Some("userName is an administrator's sign-in".to_owned()),
            )
            .await;
            tracing::warn!(%org, user_name, "refused a SCIM account named like an administrator");
            return Err(ScimError::uniqueness(format!(
                "userName '{user_name}' is the sign-in of an administrator of this organisation; \
                 administrators are not synced from the identity provider"
            )));
        }
        if !policy.verified_domains.is_empty() {
            let domain = user_name
                .rsplit_once('@')
                .map(|(_, d)| d.to_lowercase())
                .unwrap_or_default();
            if !policy.verified_domains.contains(&domain) {
                let shown = if domain.is_empty() {
                    "has no domain".to_owned()
                } else {
                    format!("is in domain '{domain}'")
                };
                return Err(ScimError::invalid_value(format!(
                    "userName '{user_name}' {shown}, which is not a verified domain of this organisation (verified: {})",
                    policy.verified_domains.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// A PUT or PATCH that changes a User's `userName` meets the create rules.
    async fn check_rename(
        &self, org: OrgId, kind: ResourceKind, before: &Value, after: &Value,
    ) -> ScimResult<()> {
        if kind != ResourceKind::User {
            return Ok(());
        }
        let (old, new) = (
            columns::name_ci(kind, before),
            columns::name_ci(kind, after),
        );
        match new {
            Some(n) if Some(&n) != old.as_ref() => {
                let policy = self.store.sync_policy(org, &n).await.map_err(store_error)?;
                let shown = after
                    .get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.check_incoming(org, &policy, shown).await
            }
            _ => Ok(()),
        }
    }

    /// Applies the rules to a user whose document a SCIM write changed (docs/contract.md,
    /// "Roles and rules"). The write has committed: a failure here is logged, and the next
    /// write of the account, a rule change or `scimd roles apply` applies them again.
    async fn roles_after_user(&self, org: OrgId, id: ResourceId) {
        if let Err(e) =
            crate::roles::after_write(self.store.as_ref(), org, &[id], false, self.clock.now())
                .await
        {
            tracing::error!(error = %e, %org, "cannot apply the role rules after a SCIM write");
        }
    }

    /// Applies `memberOf` rules after a SCIM write of a group's members or name (see
    /// [`crate::roles::after_group_change`]).
    async fn roles_after_group(
        &self, org: OrgId, group: ResourceId, named: Vec<ResourceId>, bulk: bool, renamed: bool,
    ) {
        let (store, now) = (self.store.clone(), self.clock.now());
        crate::roles::after_group_change(store, now, org, group, named, bulk, renamed).await;
    }

    /// Writes a directory event of a SCIM request to the activity log; a failure to log never
    /// fails the identity provider's request.
    async fn note(&self, org: OrgId, action: &str, target: &str, detail: Option<String>) {
        let entry =
            ActivityEntry::act(org, self.clock.now(), "scim", action, target).with_detail(detail);
        if let Err(e) = self.store.append_activity(vec![entry]).await {
            tracing::error!(error = %e, "cannot record a directory event");
        }
    }

    async fn current(
        &self, org: OrgId, kind: ResourceKind, rid: ResourceId, id: &str,
    ) -> ScimResult<StoredResource> {
        self.store
            .get_resource(org, kind, rid, Load::default())
            .await
            .map_err(store_error)?
            .ok_or_else(|| ScimError::not_found(format!("{} '{id}' not found", kind.name())))
    }

    /// Validates list parameters for one resource type (RFC 7644 section 3.4.2, RFC 9865).
    pub fn prepare_list(
        &self, kind: ResourceKind, params: &ListParams,
    ) -> ScimResult<PreparedList> {
        let filter = match params.filter.as_deref() {
            Some(f) if !f.trim().is_empty() => Some(scim_core::filter::parse_filter(f, kind)?),
            _ => None,
        };
        let sort = match params.sort_by.as_deref() {
            Some(s) if !s.trim().is_empty() => {
                let path = parse_attr_path(s.trim())
                    .and_then(|p| p.resolve(kind))
                    .map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.detail)))?;
                Some((path, params.sort_order))
            }
            _ => None,
        };
        let projection = Projection::parse(
            kind,
            params.attributes.as_deref(),
            params.excluded_attributes.as_deref(),
        )?;
        let count = params
            .count
            .map(|c| c as usize)
            .unwrap_or(self.config.default_page_size)
            .min(self.config.max_page_size) as u64;
        let relation = match kind {
            ResourceKind::User => "groups",
            ResourceKind::Group => "members",
        };
        let load = Load {
            relations: projection.includes(kind, None, relation),
        };
        let query = ListQuery {
            filter,
            sort,
            start_index: params.start_index.unwrap_or(1).max(1),
            count,
            cursor: params.cursor.clone(),
            load,
        };
        Ok(PreparedList {
            kind,
            query,
            projection,
        })
    }

    /// GET /{type} and POST /{type}/.search.
    pub async fn list(
        &self, org: OrgId, kind: ResourceKind, query: &ListQuery,
    ) -> ScimResult<Page> {
        self.store
            .list_resources(org, kind, query)
            .await
            .map_err(store_error)
    }
}

fn busy() -> ScimError {
    ScimError::new(
        503,
        None,
        "the resource is being changed concurrently; retry",
    )
}

/// The resource ids among member references (others cannot be accounts).
fn member_ids(members: &[MemberRef]) -> Vec<ResourceId> {
    members
        .iter()
        .filter_map(|m| m.value.parse().ok())
        .collect()
}

/// The members a PATCH's member changes name, and whether it replaced or filtered them.
fn member_effect(changes: &[MemberChange]) -> (Vec<ResourceId>, bool) {
    let mut named = Vec::new();
    let mut bulk = false;
    for c in changes {
        match c {
            MemberChange::Add(refs) => named.extend(member_ids(refs)),
            MemberChange::Remove(ids) => {
                named.extend(ids.iter().filter_map(|v| v.parse::<ResourceId>().ok()))
            }
            MemberChange::RemoveMatching(_) => bulk = true,
            MemberChange::ReplaceAll(refs) => {
                named.extend(member_ids(refs));
                bulk = true;
            }
        }
    }
    (named, bulk)
}

/// Takes a group's `members` out of the document: membership lives in rows.
fn take_members(kind: ResourceKind, doc: &mut Value) -> ScimResult<Vec<MemberRef>> {
    if kind != ResourceKind::Group {
        return Ok(Vec::new());
    }
    let Some(members) = doc.as_object_mut().and_then(|o| o.remove("members")) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = members else {
        return Err(ScimError::invalid_value(
            "attribute 'members' must be an array",
        ));
    };
    items
        .into_iter()
        .map(|m| {
            let value = m
                .get("value")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty());
            let value =
                value.ok_or_else(|| ScimError::invalid_value("every member needs a 'value'"))?;
            Ok(MemberRef {
                value: value.to_owned(),
                member_type: m.get("type").and_then(Value::as_str).map(str::to_owned),
            })
        })
        .collect()
}

mod bulk;

#[cfg(test)]
mod tests;
