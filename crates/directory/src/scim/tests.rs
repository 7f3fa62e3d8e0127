use super::bulk::{BulkSchedule, bulk_refs};
use super::*;
use scim_core::messages::{BulkMethod, BulkOperation};
use serde_json::json;
use std::collections::HashMap;

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

#[test]
fn an_unreachable_or_full_store_is_503_or_507_never_500() {
    let e = store_error(StoreError::Unavailable("connection refused".into()));
    assert_eq!((e.status, e.scim_type), (503, None));
    assert!(
        !e.detail.contains("refused"),
        "no cause shown: {}",
        e.detail
    );
    let e = store_error(StoreError::StorageFull("database or disk is full".into()));
    assert_eq!((e.status, e.scim_type), (507, None));
    assert!(e.detail.contains("storage is full"), "{}", e.detail);
}
