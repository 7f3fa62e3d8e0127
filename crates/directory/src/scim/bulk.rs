//! SCIM bulk requests (RFC 7644 section 3.7): operations run in an order that resolves
//! `bulkId` references, each one as its own request would.

use super::{Precondition, ScimService};
use crate::ids::OrgId;
use crate::render;
use crate::store::Load;
use scim_core::error::ScimError;
use scim_core::messages::{BulkMethod, BulkOpResult, BulkOperation, BulkRequest};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

impl ScimService {
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
        &self, org: OrgId, op: &scim_core::messages::BulkOperation,
        created: &HashMap<String, String>, base_url: &str,
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
pub(super) fn bulk_refs(op: &BulkOperation) -> Vec<String> {
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
pub(super) struct BulkSchedule {
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
    pub(super) fn new(ops: &[BulkOperation]) -> BulkSchedule {
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
    pub(super) fn next(&mut self) -> Option<usize> {
        let Reverse((pass, i)) = self.ready.pop()?;
        self.pass = pass;
        Some(i)
    }

    /// Operation `i`, handed out last, ran; `created` when it created its `bulkId`.
    pub(super) fn done(&mut self, i: usize, created: bool) {
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

    pub(super) fn release(&mut self, w: usize, pass: usize) {
        self.earliest[w] = self.earliest[w].max(pass);
        self.blocked_on[w] -= 1;
        if self.blocked_on[w] == 0 {
            self.ready.push(Reverse((self.earliest[w], w)));
        }
    }
}

pub(super) fn bulk_error(op: &scim_core::messages::BulkOperation, e: ScimError) -> BulkOpResult {
    BulkOpResult {
        method: op.method,
        bulk_id: op.bulk_id.clone(),
        location: None,
        version: None,
        status: e.status,
        response: Some(e.to_json()),
    }
}
