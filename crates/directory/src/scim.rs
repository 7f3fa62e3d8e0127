//! The SCIM service: the rules of RFC 7644 operations on one organisation's resources,
//! between the HTTP front end and the store. Handlers call one method here and map the result.

use crate::clock::Clock;
use crate::ids::{OrgId, ResourceId};
use crate::render;
use crate::store::{ListQuery, Load, NewResource, Page, Store, StoreError, StoredResource, Update};
use scim_core::discovery::ServiceConfig;
use scim_core::error::{ScimError, ScimResult};
use scim_core::messages::{BulkMethod, BulkOpResult, BulkRequest, ListParams};
use scim_core::patch::{MemberChange, MemberRef, apply_patch, parse_patch};
use scim_core::path::parse_attr_path;
use scim_core::projection::Projection;
use scim_core::resource::normalize;
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// How often an update computed from a stale read is recomputed before giving up. Every lost
/// round means another writer of the same resource committed, so a writer can lose at most as
/// many rounds as there are concurrent writers of that resource; this bound is well above what
/// identity providers send (Entra and Okta keep a few requests in flight per tenant).
const MAX_UPDATE_ATTEMPTS: usize = 64;

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
        match self.store.delete_resource(org, kind, rid, expected).await {
            Err(StoreError::NotFound) => Err(ScimError::not_found(format!(
                "{} '{id}' not found",
                kind.name()
            ))),
            other => other.map_err(store_error),
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
    /// resolved, such as a cycle, fails with 409), stopping after `failOnErrors` errors.
    pub async fn bulk(&self, org: OrgId, req: BulkRequest, base_url: &str) -> Vec<BulkOpResult> {
        let mut created: HashMap<String, String> = HashMap::new();
        let mut results: Vec<Option<BulkOpResult>> = vec![None; req.operations.len()];
        let mut pending: Vec<usize> = (0..req.operations.len()).collect();
        let mut errors = 0u64;
        let limit = req.fail_on_errors.filter(|n| *n > 0);
        'passes: loop {
            let mut progressed = false;
            let mut still = Vec::new();
            for &i in &pending {
                let op = &req.operations[i];
                let refs = op
                    .data
                    .as_ref()
                    .map(scim_core::messages::bulk_id_refs)
                    .unwrap_or_default();
                let path_ref = op
                    .path
                    .split('/')
                    .find_map(|seg| seg.strip_prefix("bulkId:"))
                    .map(str::to_owned);
                let unresolved = refs
                    .iter()
                    .chain(path_ref.iter())
                    .any(|r| !created.contains_key(r));
                let waits_on_pending = refs.iter().chain(path_ref.iter()).any(|r| {
                    pending.iter().any(|&j| {
                        j != i && req.operations[j].bulk_id.as_deref() == Some(r.as_str())
                    }) && !created.contains_key(r)
                });
                if unresolved && waits_on_pending {
                    still.push(i);
                    continue;
                }
                progressed = true;
                let result = self.bulk_one(org, op, &created, base_url).await;
                if let (Some(bid), Some(loc_id)) = (
                    &op.bulk_id,
                    result.location.as_ref().and_then(|l| l.rsplit('/').next()),
                ) && result.status < 300
                    && op.method == BulkMethod::Post
                {
                    created.insert(bid.clone(), loc_id.to_owned());
                }
                if result.status >= 400 {
                    errors += 1;
                }
                results[i] = Some(result);
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
                let op = &req.operations[i];
                results[i] = Some(bulk_error(
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
