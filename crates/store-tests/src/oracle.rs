//! The filter oracle: random resources and random filters, and a store's `list_resources`
//! compared with `scim_core::filter::matches` on each resource as clients see it
//! (`directory::render::render`). The generator is seeded and deterministic
//! (`SCIMD_ORACLE_SEED` picks another seed); a failure prints the seed, the filter, and each
//! resource on which the store and the evaluator disagree.
//!
//! Values are drawn mostly from the resources themselves (whole, re-cased, prefixes, suffixes,
//! middles) so that every operator both matches and misses, plus Unicode letters whose case
//! mapping is special (`ß`, `ǅ`, final sigma, dotted capital I), empty strings, values of the
//! wrong type, `null`, and instants written with other offsets.
//!
//! `meta.location` and the `$ref` of members are not compared: they are URLs built from the
//! server's base URL, which stores do not know.

use crate::support::{canonical, new_org, now};
use directory::store::{ListQuery, Load, NewResource, StoredResource, Update};
use directory::{OrgId, ResourceId, Store};
use scim_core::filter::{matches, parse_filter};
use scim_core::patch::MemberRef;
use scim_core::schema::{ENTERPRISE_URN, ResourceKind};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

const BASE_URL: &str = "http://x/scim/v2";

/// Which attributes and values the generator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// The attributes identity providers filter on, in every spelling they use.
    Common,
    /// Also `schemas`, `meta` presence, member ids in upper case, and instants finer than a
    /// microsecond.
    Every,
}

/// SplitMix64: small, seedable, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const WORDS: &[&str] = &[
    "alice",
    "Bob",
    "ÄLICE",
    "émile",
    "ΣΟΦΙΑΣ",
    "straße",
    "STRASSE",
    "zoë",
    "o'brien",
    "ǅemal",
    "İpek",
    "x",
    "Kim Lee",
    "sales",
];
const ODD: &[&str] = &[
    "", "a", "A", "x", "é", "É", "ß", "ss", "SS", "@", "-", "ä", "ǆ", "ǅ", "σ", "ς", "Σ", "i̇", "İ",
    "1", "true", " ",
];
const TYPES: &[&str] = &["work", "home", "other", "Work", "WORK"];

fn recase(rng: &mut Rng, s: &str) -> String {
    match rng.below(4) {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        2 => s
            .chars()
            .map(|c| {
                if c.is_uppercase() {
                    c.to_lowercase().collect::<String>()
                } else {
                    c.to_uppercase().collect()
                }
            })
            .collect(),
        _ => s.to_owned(),
    }
}

fn word(rng: &mut Rng) -> String {
    let w = *rng.pick(WORDS);
    recase(rng, w)
}

fn timestamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn random_user(rng: &mut Rng, i: usize) -> Value {
    let mut u = serde_json::Map::new();
    u.insert("userName".into(), json!(format!("{}{i}", word(rng))));
    if rng.chance(60) {
        u.insert(
            "displayName".into(),
            json!(format!("{} {}", word(rng), word(rng))),
        );
    }
    if rng.chance(60) {
        let mut name = serde_json::Map::new();
        if rng.chance(80) {
            name.insert("givenName".into(), json!(word(rng)));
        }
        if rng.chance(60) {
            name.insert("familyName".into(), json!(word(rng)));
        }
        u.insert("name".into(), Value::Object(name));
    }
    if rng.chance(50) {
        u.insert(
            "title".into(),
            json!(rng.pick(&[
                "Engineer",
                "engineer",
                "ENGINEER",
                "Manager",
                "Straße-Chef",
                "ǅemal",
                "ΣΟΦΟΣ"
            ])),
        );
    }
    if rng.chance(40) {
        u.insert("nickName".into(), json!(word(rng)));
    }
    match rng.below(3) {
        0 => {}
        1 => {
            u.insert("active".into(), json!(true));
        }
        _ => {
            u.insert("active".into(), json!(false));
        }
    }
    if rng.chance(50) {
        u.insert(
            "externalId".into(),
            json!(format!("{}-{}", rng.pick(&["ext", "EXT", "Ext"]), i % 4)),
        );
    }
    let n_emails = rng.below(4);
    let primary = if n_emails > 0 && rng.chance(60) {
        Some(rng.below(n_emails))
    } else {
        None
    };
    let emails: Vec<Value> = (0..n_emails)
        .map(|k| {
            let mut e = serde_json::Map::new();
            e.insert(
                "value".into(),
                json!(format!(
                    "{}.{k}@{}",
                    word(rng),
                    rng.pick(&["example.com", "EXAMPLE.org", "bücher.de"])
                )),
            );
            if rng.chance(70) {
                e.insert("type".into(), json!(rng.pick(TYPES)));
            }
            if primary == Some(k) {
                e.insert("primary".into(), json!(true));
            } else if rng.chance(20) {
                e.insert("primary".into(), json!(false));
            }
            if rng.chance(20) {
                e.insert("display".into(), json!(word(rng)));
            }
            Value::Object(e)
        })
        .collect();
    if !emails.is_empty() {
        u.insert("emails".into(), Value::Array(emails));
    }
    if rng.chance(30) {
        u.insert(
            "phoneNumbers".into(),
            json!([{ "value": format!("+1 555 01{i:02}"), "type": rng.pick(&["work", "mobile"]) }]),
        );
    }
    if rng.chance(50) {
        let mut ent = serde_json::Map::new();
        if rng.chance(80) {
            ent.insert(
                "department".into(),
                json!(rng.pick(&["Sales", "sales", "R&D", "Ünit", "ÜNIT"])),
            );
        }
        if rng.chance(40) {
            ent.insert(
                "manager".into(),
                json!({ "value": format!("mgr-{}", i % 3) }),
            );
        }
        u.insert(ENTERPRISE_URN.into(), Value::Object(ent));
    }
    Value::Object(u)
}

/// What a path holds, which decides the values compared with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Str,
    Bool,
    Date,
    /// Only `pr` (complex attributes).
    Complex,
}

fn user_paths(cov: Coverage) -> Vec<(&'static str, Ty)> {
    let mut p = vec![
        ("userName", Ty::Str),
        ("displayName", Ty::Str),
        ("nickName", Ty::Str),
        ("name.givenName", Ty::Str),
        ("name.familyName", Ty::Str),
        ("title", Ty::Str),
        ("externalId", Ty::Str),
        ("emails", Ty::Str),
        ("emails.value", Ty::Str),
        ("emails.type", Ty::Str),
        ("emails.primary", Ty::Bool),
        ("emails.display", Ty::Str),
        ("phoneNumbers.value", Ty::Str),
        ("active", Ty::Bool),
        ("meta.created", Ty::Date),
        ("meta.lastModified", Ty::Date),
        ("meta.resourceType", Ty::Str),
        ("meta.version", Ty::Str),
        ("id", Ty::Str),
        ("groups.value", Ty::Str),
        ("groups.display", Ty::Str),
        ("groups.type", Ty::Str),
        ("groups", Ty::Str),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            Ty::Str,
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            Ty::Str,
        ),
        ("name", Ty::Complex),
        ("addresses", Ty::Complex),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            Ty::Complex,
        ),
    ];
    if cov == Coverage::Every {
        p.extend([
            ("schemas", Ty::Str),
            ("meta", Ty::Complex),
            ("meta.location", Ty::Complex),
        ]);
    }
    p
}

fn group_paths(cov: Coverage) -> Vec<(&'static str, Ty)> {
    let mut p = vec![
        ("displayName", Ty::Str),
        ("externalId", Ty::Str),
        ("id", Ty::Str),
        ("members", Ty::Str),
        ("members.value", Ty::Str),
        ("members.display", Ty::Str),
        ("members.type", Ty::Str),
        ("meta.created", Ty::Date),
        ("meta.lastModified", Ty::Date),
        ("meta.version", Ty::Str),
        ("meta.resourceType", Ty::Str),
    ];
    if cov == Coverage::Every {
        p.extend([
            ("schemas", Ty::Str),
            ("meta", Ty::Complex),
            ("members.$ref", Ty::Complex),
        ]);
    }
    p
}

/// Value filters: the multi-valued attribute and its sub-attributes.
fn value_paths(kind: ResourceKind) -> Vec<(&'static str, Vec<(&'static str, Ty)>)> {
    match kind {
        ResourceKind::User => vec![
            (
                "emails",
                vec![
                    ("value", Ty::Str),
                    ("type", Ty::Str),
                    ("primary", Ty::Bool),
                    ("display", Ty::Str),
                ],
            ),
            (
                "groups",
                vec![("value", Ty::Str), ("display", Ty::Str), ("type", Ty::Str)],
            ),
            ("phoneNumbers", vec![("value", Ty::Str), ("type", Ty::Str)]),
        ],
        ResourceKind::Group => vec![(
            "members",
            vec![("value", Ty::Str), ("display", Ty::Str), ("type", Ty::Str)],
        )],
    }
}

/// Every string under `path` in a rendered resource (`a`, `a.b`, `urn:...:a.b`; arrays
/// flattened).
fn strings_at(doc: &Value, path: &str) -> Vec<String> {
    let (head, attr_path) = match path.rfind(':') {
        Some(i) if path.starts_with("urn:") => (doc.get(&path[..i]), &path[i + 1..]),
        _ => (Some(doc), path),
    };
    let mut current: Vec<&Value> = head.into_iter().collect();
    for part in attr_path.split('.') {
        let mut next = Vec::new();
        for v in current {
            for item in match v {
                Value::Array(a) => a.iter().collect::<Vec<_>>(),
                other => vec![other],
            } {
                if let Some(x) = item.get(part) {
                    next.push(x);
                }
            }
        }
        current = next;
    }
    let mut out = Vec::new();
    for v in current {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => out.extend(
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .chain(
                        a.iter()
                            .filter_map(|x| x.get("value")?.as_str().map(str::to_owned)),
                    ),
            ),
            _ => {}
        }
    }
    out
}

struct Gen<'a> {
    rng: Rng,
    cov: Coverage,
    kind: ResourceKind,
    docs: &'a [(StoredResource, Value)],
    all_strings: Vec<String>,
}

impl Gen<'_> {
    fn str_value(&mut self, path: &str) -> Value {
        let pool: Vec<String> = self
            .docs
            .iter()
            .flat_map(|(_, d)| strings_at(d, path))
            .collect();
        let r = self.rng.below(100);
        if r < 60 && !pool.is_empty() {
            let v = self.rng.pick(&pool).clone();
            let is_uuid = uuid::Uuid::parse_str(&v).is_ok();
            let chars: Vec<char> = v.chars().collect();
            let n = chars.len();
            return json!(match self.rng.below(10) {
                0..=3 => v,
                4 | 5 if is_uuid && self.cov == Coverage::Common => v,
                4 | 5 => recase(&mut self.rng, &v),
                6 => chars[..self.rng.below(n + 1)].iter().collect::<String>(),
                7 => chars[self.rng.below(n + 1)..].iter().collect::<String>(),
                8 => {
                    let a = self.rng.below(n + 1);
                    let b = a + self.rng.below(n - a + 1);
                    recase(&mut self.rng, &chars[a..b].iter().collect::<String>())
                }
                _ => format!("{v}{}", self.rng.pick(ODD)),
            });
        }
        match r {
            0..=74 if !self.all_strings.is_empty() => {
                json!(self.rng.pick(&self.all_strings).clone())
            }
            0..=86 => json!(*self.rng.pick(ODD)),
            87..=91 => json!(*self.rng.pick(&[5.0, 1.5, 0.0])),
            92..=96 => json!(self.rng.chance(50)),
            _ => Value::Null,
        }
    }

    fn date_value(&mut self) -> Value {
        let times: Vec<OffsetDateTime> = self
            .docs
            .iter()
            .flat_map(|(r, _)| [r.created, r.last_modified])
            .collect();
        let t = *self.rng.pick(&times);
        json!(match self.rng.below(10) {
            0..=3 => timestamp(t),
            4 => timestamp(t + Duration::microseconds(1)),
            5 => timestamp(t - Duration::microseconds(1)),
            6 => timestamp(t.to_offset(UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC))),
            7 if self.cov == Coverage::Every => timestamp(t + Duration::nanoseconds(250)),
            7 => timestamp(t + Duration::days(1)),
            8 => timestamp(t - Duration::hours(3)),
            _ => (*self
                .rng
                .pick(&["yesterday", "2024-03-05", "", "2024-03-05T10:00:00"]))
            .to_owned(),
        })
    }

    fn bool_value(&mut self) -> Value {
        self.rng
            .pick(&[
                json!(true),
                json!(false),
                json!("True"),
                json!("false"),
                json!("yes"),
                Value::Null,
                json!(1),
            ])
            .clone()
    }

    fn literal(&mut self, v: &Value) -> String {
        match v {
            Value::String(s)
                if self.rng.chance(5)
                    && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && s.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                let lower = s.to_ascii_lowercase();
                if ["and", "or", "not", "true", "false", "null", "pr"].contains(&lower.as_str()) {
                    serde_json::to_string(s).unwrap_or_default()
                } else {
                    s.clone()
                }
            }
            Value::Bool(b) if self.rng.chance(30) => {
                if *b {
                    "True".into()
                } else {
                    "FALSE".into()
                }
            }
            other => other.to_string(),
        }
    }

    fn comparison(&mut self, path: &str, ty: Ty, value_source: &str) -> String {
        let spelled = if self.rng.chance(15) {
            recase(&mut self.rng, path)
        } else {
            path.to_owned()
        };
        if ty == Ty::Complex || self.rng.chance(12) {
            return format!("{spelled} pr");
        }
        let op = *self.rng.pick(&[
            "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "eq", "ne", "co",
        ]);
        let op = if self.rng.chance(10) {
            op.to_uppercase()
        } else {
            op.to_owned()
        };
        let v = match ty {
            Ty::Str => self.str_value(value_source),
            Ty::Bool => self.bool_value(),
            _ => self.date_value(),
        };
        let lit = self.literal(&v);
        format!("{spelled} {op} {lit}")
    }

    fn element_filter(&mut self, attr: &str, subs: &[(&'static str, Ty)], depth: usize) -> String {
        let r = self.rng.below(100);
        if depth >= 2 || r < 55 {
            let (sub, ty) = *self.rng.pick(subs);
            return self.comparison(sub, ty, &format!("{attr}.{sub}"));
        }
        let a = self.element_filter(attr, subs, depth + 1);
        match r {
            55..=69 => format!("not ({a})"),
            70..=84 => format!("{a} and {}", self.element_filter(attr, subs, depth + 1)),
            _ => format!("({a} or {})", self.element_filter(attr, subs, depth + 1)),
        }
    }

    fn filter(&mut self, depth: usize) -> String {
        let r = self.rng.below(100);
        if depth >= 3 || r < 40 {
            if self.rng.chance(15) {
                let vps = value_paths(self.kind);
                let (attr, subs) = self.rng.pick(&vps).clone();
                let inner = self.element_filter(attr, &subs, 0);
                return format!("{attr}[{inner}]");
            }
            let paths = match self.kind {
                ResourceKind::User => user_paths(self.cov),
                ResourceKind::Group => group_paths(self.cov),
            };
            let (path, ty) = *self.rng.pick(&paths);
            return self.comparison(path, ty, path);
        }
        let a = self.filter(depth + 1);
        match r {
            40..=54 => format!("not ({a})"),
            55..=79 => format!("({a} and {})", self.filter(depth + 1)),
            _ => format!("({a} or {})", self.filter(depth + 1)),
        }
    }
}

async fn create(
    store: &dyn Store, org: OrgId, kind: ResourceKind, body: &Value, at: OffsetDateTime,
    members: Vec<MemberRef>,
) -> StoredResource {
    let new = NewResource {
        id: ResourceId::new(),
        doc: canonical(kind, body),
        now: at,
        members,
    };
    store.create_resource(org, kind, new).await.expect("create")
}

/// Builds a random organisation, then checks `cases` random filters for `kind`.
pub async fn run(store: &dyn Store, kind: ResourceKind, cov: Coverage, cases: usize) {
    let seed = std::env::var("SCIMD_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5C1D_0001_u64);
    let mut rng = Rng(seed ^ if kind == ResourceKind::User { 1 } else { 2 });
    let org = new_org(store).await.id;
    let base = OffsetDateTime::from_unix_timestamp(1_709_251_200).unwrap_or_else(|_| now());
    let at = |rng: &mut Rng| {
        base + Duration::microseconds((rng.next() % (30 * 86_400 * 1_000_000)) as i64)
    };

    let (n_users, n_groups) = if kind == ResourceKind::User {
        (40, 6)
    } else {
        (12, 25)
    };
    let mut users = Vec::new();
    for i in 0..n_users {
        let body = random_user(&mut rng, i);
        let t = at(&mut rng);
        let u = create(store, org, ResourceKind::User, &body, t, Vec::new()).await;
        if rng.chance(30) {
            let later = Update {
                expected_version: Some(1),
                doc: Some(u.doc.clone()),
                member_changes: Vec::new(),
                now: t + Duration::seconds(rng.below(100_000) as i64),
            };
            store
                .update_resource(org, ResourceKind::User, u.id, later, Load::default())
                .await
                .expect("touch user");
        }
        users.push(u.id);
    }
    let mut groups: Vec<ResourceId> = Vec::new();
    for i in 0..n_groups {
        let mut members: Vec<MemberRef> = Vec::new();
        for id in users.iter().chain(groups.iter()) {
            if rng.chance(if kind == ResourceKind::User { 30 } else { 15 }) {
                members.push(MemberRef {
                    value: id.to_string(),
                    member_type: None,
                });
            }
        }
        let mut body = json!({ "displayName": format!("{} {i}", word(&mut rng)) });
        if rng.chance(40) {
            body["externalId"] = json!(format!("G-{}", i % 5));
        }
        let g = create(
            store,
            org,
            ResourceKind::Group,
            &body,
            at(&mut rng),
            members,
        )
        .await;
        groups.push(g.id);
    }

    let ids = if kind == ResourceKind::User {
        &users
    } else {
        &groups
    };
    let mut docs = Vec::new();
    for id in ids {
        let r = store
            .get_resource(org, kind, *id, Load { relations: true })
            .await
            .expect("get")
            .expect("exists");
        let rendered = directory::render::render(&r, BASE_URL);
        docs.push((r, rendered));
    }
    let all_strings: Vec<String> = {
        let mut set = BTreeSet::new();
        for (_, d) in &docs {
            collect_strings(d, &mut set);
        }
        set.into_iter().collect()
    };
    let mut g = Gen {
        rng,
        cov,
        kind,
        docs: &docs,
        all_strings,
    };

    let mut failures = Vec::new();
    let (mut checked, mut attempts, mut matched_some) = (0, 0, 0);
    while checked < cases && attempts < cases * 20 {
        attempts += 1;
        let text = g.filter(0);
        let Ok(f) = parse_filter(&text, kind) else {
            continue;
        };
        checked += 1;
        let expected: BTreeSet<ResourceId> = docs
            .iter()
            .filter(|(_, d)| matches(&f, d, kind))
            .map(|(r, _)| r.id)
            .collect();
        let q = ListQuery {
            filter: Some(f.clone()),
            sort: None,
            start_index: 1,
            count: 10_000,
            cursor: None,
            load: Load::default(),
        };
        let page = match store.list_resources(org, kind, &q).await {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!(
                    "filter {text:?} (resolved: {f}): store error {e:?}"
                ));
                continue;
            }
        };
        let actual: BTreeSet<ResourceId> = page.resources.iter().map(|r| r.id).collect();
        if !expected.is_empty() && expected.len() < docs.len() {
            matched_some += 1;
        }
        if actual != expected
            || page.total != actual.len() as u64
            || actual.len() != page.resources.len()
        {
            let mut lines = vec![format!(
                "filter {text:?} (resolved: {f}): expected {} resources, store returned {} (total {})",
                expected.len(),
                actual.len(),
                page.total
            )];
            let by_id: BTreeMap<ResourceId, &Value> = docs.iter().map(|(r, d)| (r.id, d)).collect();
            for id in expected.symmetric_difference(&actual).take(3) {
                lines.push(format!(
                    "    evaluator {} / store {}: {}",
                    expected.contains(id),
                    actual.contains(id),
                    by_id.get(id).map(|d| d.to_string()).unwrap_or_default()
                ));
            }
            failures.push(lines.join("\n"));
        }
    }
    assert!(
        checked == cases,
        "only {checked} of {cases} generated filters parsed (seed {seed})"
    );
    assert!(
        matched_some * 7 >= checked,
        "too few filters select some but not all resources: {matched_some} of {checked}"
    );
    if !failures.is_empty() {
        let n = failures.len();
        failures.truncate(12);
        panic!(
            "{n} of {checked} filters disagree with the evaluator (seed {seed}, {kind:?}, {cov:?}):\n{}",
            failures.join("\n")
        );
    }
}

fn collect_strings(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}
