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
use scim_core::messages::{BulkMethod, BulkOpResult, BulkOperation, BulkRequest, ListParams};
use scim_core::patch::{MemberChange, MemberRef, apply_patch, parse_patch};
use scim_core::path::parse_attr_path;
use scim_core::projection::Projection;
use scim_core::resource::normalize;
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
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
        &self,
        org: OrgId,
        kind: ResourceKind,
        body: &Value,
        load: Load,
    ) -> ScimResult<StoredResource> {
        let mut normalized = normalize(kind, body)?;
        if kind == ResourceKind::User {
            return self.create_user(org, normalized.doc, load).await;
        }
        let members = take_members(kind, &mut normalized.doc)?;
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
        if load.relations && created.members.is_none() && kind == ResourceKind::Group {
            created.members = Some(Vec::new());
        }
        Ok(created)
    }

    /// GET /{type}/{id}.
    pub async fn get(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: &str,
        load: Load,
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
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        pre: &Precondition,
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
                other => return other.map_err(store_error),
            }
        }
        Err(busy())
    }

    /// PATCH /{type}/{id} (RFC 7644 section 3.5.2). Applied to the version read; if another
    /// writer got there first, the operations are applied again to the newer version.
    pub async fn patch(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        pre: &Precondition,
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
                other => return other.map_err(store_error),
            }
        }
        Err(busy())
    }

    /// DELETE /{type}/{id} (RFC 7644 section 3.6).
    pub async fn delete(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: &str,
        pre: &Precondition,
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
            ResourceKind::Group => self.store.delete_resource(org, kind, rid, expected).await,
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
        let local = default_local(policy.kind);
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
                Ok(a) => return Ok(a.resource),
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
        &self,
        org: OrgId,
        policy: &SyncPolicy,
        user_name: &str,
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
        &self,
        org: OrgId,
        kind: ResourceKind,
        before: &Value,
        after: &Value,
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
        &self,
        org: OrgId,
        kind: ResourceKind,
        rid: ResourceId,
        id: &str,
    ) -> ScimResult<StoredResource> {
        self.store
            .get_resource(org, kind, rid, Load::default())
            .await
            .map_err(store_error)?
            .ok_or_else(|| ScimError::not_found(format!("{} '{id}' not found", kind.name())))
    }

    /// Validates list parameters for one resource type (RFC 7644 section 3.4.2, RFC 9865).
    pub fn prepare_list(
        &self,
        kind: ResourceKind,
        params: &ListParams,
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
        &self,
        org: OrgId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> ScimResult<Page> {
        self.store
            .list_resources(org, kind, query)
            .await
            .map_err(store_error)
    }

    /// POST /Bulk (RFC 7644 section 3.7): operations in order, `bulkId` references resolved
    /// (operations whose references are not yet created wait until they are; what can never be
    /// resolved, such as a cycle, fails with 409), stopping after `failOnErrors` errors. The
    /// order is [`BulkSchedule`]'s.
    pub async fn bulk(&self, org: OrgId, req: BulkRequest, base_url: &str) -> Vec<BulkOpResult> {
        let mut created: HashMap<String, String> = HashMap::new();
        let mut results: Vec<Option<BulkOpResult>> = vec![None; req.operations.len()];
        let mut schedule = BulkSchedule::new(&req.operations);
        let mut errors = 0u64;
        let limit = req.fail_on_errors.filter(|n| *n > 0);
        while let Some(i) = schedule.next() {
            let op = &req.operations[i];
            let result = self.bulk_one(org, op, &created, base_url).await;
            let mut made = false;
            if let (Some(bid), Some(loc_id)) = (
                &op.bulk_id,
                result.location.as_ref().and_then(|l| l.rsplit('/').next()),
            ) && result.status < 300
                && op.method == BulkMethod::Post
            {
                created.insert(bid.clone(), loc_id.to_owned());
                made = true;
            }
            schedule.done(i, made);
            if result.status >= 400 {
                errors += 1;
            }
            results[i] = Some(result);
            if limit.is_some_and(|l| errors >= l) {
                // What did not run is left out of the response (RFC 7644 section 3.7.3).
                return results.into_iter().flatten().collect();
            }
        }
        for (slot, op) in results.iter_mut().zip(&req.operations) {
            if slot.is_none() {
                *slot = Some(bulk_error(
                    op,
                    ScimError::new(
                        409,
                        Some(scim_core::ScimType::InvalidValue),
                        "circular or unresolvable bulkId reference",
                    ),
                ));
            }
        }
        results.into_iter().flatten().collect()
    }

    async fn bulk_one(
        &self,
        org: OrgId,
        op: &scim_core::messages::BulkOperation,
        created: &HashMap<String, String>,
        base_url: &str,
    ) -> BulkOpResult {
        let resolve = |bid: &str| created.get(bid).cloned();
        let mut data = op.data.clone();
        if let Some(d) = data.as_mut()
            && let Err(bid) = scim_core::messages::replace_bulk_ids(d, &resolve)
        {
            return bulk_error(
                op,
                ScimError::new(
                    409,
                    Some(scim_core::ScimType::InvalidValue),
                    format!("bulkId '{bid}' was not created"),
                ),
            );
        }
        let path = op
            .path
            .split('/')
            .map(|seg| match seg.strip_prefix("bulkId:") {
                Some(bid) => resolve(bid).unwrap_or_else(|| seg.to_owned()),
                None => seg.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let mut segs = path.trim_start_matches('/').splitn(2, '/');
        let kind = match segs.next() {
            Some("Users") => ResourceKind::User,
            Some("Groups") => ResourceKind::Group,
            _ => {
                return bulk_error(
                    op,
                    ScimError::invalid_path(format!("unsupported bulk path '{}'", op.path)),
                );
            }
        };
        let id = segs.next().filter(|s| !s.is_empty());
        let pre = Precondition(op.version.clone());
        let body = data.unwrap_or(Value::Null);
        let outcome = match (op.method, id) {
            (BulkMethod::Post, None) => self
                .create(org, kind, &body, Load::default())
                .await
                .map(|r| (201, Some(r))),
            (BulkMethod::Put, Some(id)) => self
                .replace(org, kind, id, &body, &pre, Load::default())
                .await
                .map(|r| (200, Some(r))),
            (BulkMethod::Patch, Some(id)) => self
                .patch(org, kind, id, &body, &pre, Load::default())
                .await
                .map(|r| (200, Some(r))),
            (BulkMethod::Delete, Some(id)) => {
                self.delete(org, kind, id, &pre).await.map(|()| (204, None))
            }
            _ => Err(ScimError::invalid_path(format!(
                "method does not fit path '{}'",
                op.path
            ))),
        };
        match outcome {
            Ok((status, r)) => BulkOpResult {
                method: op.method,
                bulk_id: op.bulk_id.clone(),
                location: Some(match &r {
                    Some(r) => render::location(base_url, kind, &r.id),
                    None => format!("{base_url}{path}"),
                }),
                version: r.as_ref().map(|r| render::etag(r.version)),
                status,
                response: None,
            },
            Err(e) => bulk_error(op, e),
        }
    }
}

/// The `bulkId`s an operation refers to: in its data, then in its path.
fn bulk_refs(op: &BulkOperation) -> Vec<String> {
    let mut refs = op
        .data
        .as_ref()
        .map(scim_core::messages::bulk_id_refs)
        .unwrap_or_default();
    refs.extend(
        op.path
            .split('/')
            .find_map(|seg| seg.strip_prefix("bulkId:"))
            .map(str::to_owned),
    );
    refs
}

/// The order [`ScimService::bulk`] runs operations in, worked out once from the `bulkId`
/// references (Kahn's algorithm: who waits on which `bulkId`, and how many references still
/// hold each operation back) rather than by rescanning the waiting operations for every
/// reference on every pass, which was cubic for a chain listed backwards.
///
/// The order is that of passes over the request: a pass runs, in request order, each operation
/// none of whose references names the `bulkId` of another operation still to run at the start
/// of the pass, unless that `bulkId` was created already. So an operation that waits on a
/// later one runs in the next pass, one that waits on an earlier one in the same pass, and a
/// reference to a `bulkId` that nothing else carries, or whose carriers all ran without
/// creating it, holds nothing back (the operation then fails on it). What is never released
/// waits on a cycle.
struct BulkSchedule {
    /// Per operation, the index of the `bulkId` it carries.
    carries: Vec<Option<usize>>,
    /// Per `bulkId`, the operations carrying it that have not run.
    unrun: Vec<usize>,
    /// Per `bulkId`, whether an operation created it.
    created: Vec<bool>,
    /// Per `bulkId`, the operations it still holds back.
    waiters: Vec<Vec<usize>>,
    /// Per operation, how many `bulkId`s still hold it back.
    blocked_on: Vec<usize>,
    /// Per operation, the earliest pass it may run in.
    earliest: Vec<usize>,
    /// Released operations, by pass and then position in the request.
    ready: BinaryHeap<Reverse<(usize, usize)>>,
    /// The pass of the operation last handed out.
    pass: usize,
}

impl BulkSchedule {
    fn new(ops: &[BulkOperation]) -> BulkSchedule {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let carries: Vec<Option<usize>> = ops
            .iter()
            .map(|op| {
                op.bulk_id.as_deref().map(|b| {
                    let next = ids.len();
                    *ids.entry(b).or_insert(next)
                })
            })
            .collect();
        let mut unrun = vec![0usize; ids.len()];
        for &b in carries.iter().flatten() {
            unrun[b] += 1;
        }
        let mut waiters = vec![Vec::new(); ids.len()];
        let mut blocked_on = vec![0usize; ops.len()];
        for (i, op) in ops.iter().enumerate() {
            let mut refs: Vec<usize> = bulk_refs(op)
                .iter()
                .filter_map(|r| ids.get(r.as_str()).copied())
                .collect();
            refs.sort_unstable();
            refs.dedup();
            for b in refs {
                // An operation never waits on itself.
                if unrun[b] > usize::from(carries[i] == Some(b)) {
                    waiters[b].push(i);
                    blocked_on[i] += 1;
                }
            }
        }
        let ready = (0..ops.len())
            .filter(|&i| blocked_on[i] == 0)
            .map(|i| Reverse((1, i)))
            .collect();
        BulkSchedule {
            carries,
            unrun,
            created: vec![false; ids.len()],
            waiters,
            blocked_on,
            earliest: vec![1; ops.len()],
            ready,
            pass: 1,
        }
    }

    /// The next operation to run; `None` when every other one waits on a cycle, or none is
    /// left.
    fn next(&mut self) -> Option<usize> {
        let Reverse((pass, i)) = self.ready.pop()?;
        self.pass = pass;
        Some(i)
    }

    /// Operation `i`, handed out last, ran; `created` when it created its `bulkId`.
    fn done(&mut self, i: usize, created: bool) {
        let Some(b) = self.carries[i] else {
            return;
        };
        self.unrun[b] -= 1;
        if self.created[b] {
            return;
        }
        let pass = self.pass;
        if created {
            self.created[b] = true;
            for w in std::mem::take(&mut self.waiters[b]) {
                // Later in the request, its turn in this pass is still to come.
                self.release(w, if w > i { pass } else { pass + 1 });
            }
            return;
        }
        // Not created: a waiter goes on waiting while another carrier of the bulkId has not
        // run, and is free from the next pass once none is left.
        let unrun = self.unrun[b];
        let (free, still): (Vec<usize>, Vec<usize>) = std::mem::take(&mut self.waiters[b])
            .into_iter()
            .partition(|&w| unrun == usize::from(self.carries[w] == Some(b)));
        self.waiters[b] = still;
        for w in free {
            self.release(w, pass + 1);
        }
    }

    fn release(&mut self, w: usize, pass: usize) {
        self.earliest[w] = self.earliest[w].max(pass);
        self.blocked_on[w] -= 1;
        if self.blocked_on[w] == 0 {
            self.ready.push(Reverse((self.earliest[w], w)));
        }
    }
}

fn bulk_error(op: &scim_core::messages::BulkOperation, e: ScimError) -> BulkOpResult {
    BulkOpResult {
        method: op.method,
        bulk_id: op.bulk_id.clone(),
        location: None,
        version: None,
        status: e.status,
        response: Some(e.to_json()),
    }
}

fn busy() -> ScimError {
    ScimError::new(
        503,
        None,
        "the resource is being changed concurrently; retry",
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// How an operation ends in these tests: a data reference not created fails it (as
    /// `bulk_one` does), a path reference not created is a 404, and `fails` makes it fail
    /// anyway.
    fn outcome(op: &BulkOperation, fails: bool, created: &HashMap<String, String>) -> u16 {
        let data = op
            .data
            .as_ref()
            .map(scim_core::messages::bulk_id_refs)
            .unwrap_or_default();
        if data.iter().any(|r| !created.contains_key(r)) {
            return 409;
        }
        let path = op
            .path
            .split('/')
            .find_map(|seg| seg.strip_prefix("bulkId:"));
        if path.is_some_and(|r| !created.contains_key(r)) {
            return 404;
        }
        match (fails, op.method) {
            (true, _) => 400,
            (false, BulkMethod::Post) => 201,
            (false, _) => 200,
        }
    }

    /// What a run gives: the operations in the order they ran, and each one's status (`None`
    /// when left out; 0 for the circular-reference error).
    type Run = (Vec<usize>, Vec<Option<u16>>);

    /// `bulk` as it was before the schedule: passes rescanning the pending operations.
    fn by_passes(ops: &[BulkOperation], fails: &[bool], limit: Option<u64>) -> Run {
        let mut created: HashMap<String, String> = HashMap::new();
        let mut results: Vec<Option<u16>> = vec![None; ops.len()];
        let mut order = Vec::new();
        let mut pending: Vec<usize> = (0..ops.len()).collect();
        let mut errors = 0u64;
        'passes: loop {
            let mut progressed = false;
            let mut still = Vec::new();
            for &i in &pending {
                let op = &ops[i];
                let refs = bulk_refs(op);
                let unresolved = refs.iter().any(|r| !created.contains_key(r));
                let waits_on_pending = refs.iter().any(|r| {
                    pending
                        .iter()
                        .any(|&j| j != i && ops[j].bulk_id.as_deref() == Some(r.as_str()))
                        && !created.contains_key(r)
                });
                if unresolved && waits_on_pending {
                    still.push(i);
                    continue;
                }
                progressed = true;
                let status = outcome(op, fails[i], &created);
                order.push(i);
                if let Some(bid) = &op.bulk_id
                    && status < 300
                    && op.method == BulkMethod::Post
                {
                    created.insert(bid.clone(), format!("id-{i}"));
                }
                if status >= 400 {
                    errors += 1;
                }
                results[i] = Some(status);
                if limit.is_some_and(|l| errors >= l) {
                    break 'passes;
                }
            }
            pending = still;
            if pending.is_empty() || !progressed {
                break;
            }
        }
        if limit.is_none_or(|l| errors < l) {
            for i in pending {
                results[i] = Some(0);
            }
        }
        (order, results)
    }

    /// `bulk`'s loop on the schedule, with [`outcome`] for `bulk_one`.
    fn by_schedule(ops: &[BulkOperation], fails: &[bool], limit: Option<u64>) -> Run {
        let mut created: HashMap<String, String> = HashMap::new();
        let mut results: Vec<Option<u16>> = vec![None; ops.len()];
        let mut order = Vec::new();
        let mut schedule = BulkSchedule::new(ops);
        let mut errors = 0u64;
        while let Some(i) = schedule.next() {
            let op = &ops[i];
            let status = outcome(op, fails[i], &created);
            order.push(i);
            let mut made = false;
            if let Some(bid) = &op.bulk_id
                && status < 300
                && op.method == BulkMethod::Post
            {
                created.insert(bid.clone(), format!("id-{i}"));
                made = true;
            }
            schedule.done(i, made);
            if status >= 400 {
                errors += 1;
            }
            results[i] = Some(status);
            if limit.is_some_and(|l| errors >= l) {
                return (order, results);
            }
        }
        for r in &mut results {
            r.get_or_insert(0);
        }
        (order, results)
    }

    fn op(method: BulkMethod, bulk_id: Option<&str>, path: &str, refs: &[&str]) -> BulkOperation {
        let members: Vec<Value> = refs
            .iter()
            .map(|r| json!({ "value": format!("bulkId:{r}") }))
            .collect();
        BulkOperation {
            method,
            bulk_id: bulk_id.map(str::to_owned),
            version: None,
            path: path.to_owned(),
            data: Some(json!({ "displayName": "g", "members": members })),
        }
    }

    /// A small deterministic generator (xorshift64*), so a failure can be replayed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    #[test]
    fn the_schedule_runs_what_the_passes_ran_in_the_same_order() {
        let names = ["a", "b", "c", "d", "e", "zz"];
        let methods = [
            BulkMethod::Post,
            BulkMethod::Post,
            BulkMethod::Post,
            BulkMethod::Patch,
            BulkMethod::Put,
            BulkMethod::Delete,
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..20_000 {
            let n = 1 + rng.below(10) as usize;
            let mut ops = Vec::new();
            let mut fails = Vec::new();
            for _ in 0..n {
                let method = methods[rng.below(methods.len() as u64) as usize];
                // "zz" is never carried: an unknown bulkId. Repeated carriers are kept too,
                // though parse_bulk refuses them, so the schedule matches for any request.
                let bulk_id = (rng.below(4) != 0).then(|| names[rng.below(5) as usize]);
                let refs: Vec<&str> = (0..rng.below(3))
                    .map(|_| names[rng.below(names.len() as u64) as usize])
                    .collect();
                let path = match (method, rng.below(3)) {
                    (BulkMethod::Post, _) => "/Groups".to_owned(),
                    (_, 0) => format!("/Groups/bulkId:{}", names[rng.below(6) as usize]),
                    _ => "/Groups/some-id".to_owned(),
                };
                ops.push(op(method, bulk_id, &path, &refs));
                fails.push(rng.below(5) == 0);
            }
            let limit = match rng.below(3) {
                0 => None,
                _ => Some(1 + rng.below(3)),
            };
            assert_eq!(
                by_schedule(&ops, &fails, limit),
                by_passes(&ops, &fails, limit),
                "case {case}: {ops:?} fails {fails:?} limit {limit:?}"
            );
        }
    }

    #[test]
    fn a_chain_listed_backwards_runs_from_its_end() {
        let n = 1000;
        let name = |k: usize| format!("g{k}");
        // Group k has group k - 1 as its member; the list starts with the last group.
        let ops: Vec<BulkOperation> = (0..n)
            .rev()
            .map(|k| {
                let refs = if k == 0 {
                    Vec::new()
                } else {
                    vec![name(k - 1)]
                };
                let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                op(BulkMethod::Post, Some(&name(k)), "/Groups", &refs)
            })
            .collect();
        let fails = vec![false; n];
        let (order, results) = by_schedule(&ops, &fails, None);
        assert_eq!(order, (0..n).rev().collect::<Vec<_>>());
        assert!(results.iter().all(|r| *r == Some(201)), "{results:?}");
    }

    #[test]
    fn a_cycle_and_what_waits_on_it_are_left_for_the_409() {
        let ops = [
            op(BulkMethod::Post, Some("a"), "/Groups", &["b"]),
            op(BulkMethod::Post, Some("b"), "/Groups", &["a"]),
            op(BulkMethod::Post, Some("c"), "/Groups", &["a"]),
            op(BulkMethod::Post, Some("d"), "/Groups", &[]),
        ];
        let (order, results) = by_schedule(&ops, &[false; 4], None);
        assert_eq!(order, [3]);
        assert_eq!(results, [Some(0), Some(0), Some(0), Some(201)]);
    }
}
