//! Rule evaluation, without storage: whether a condition holds for an account, and the local
//! properties an account has once rules, hand-set values and the kind's default are settled.
//!
//! Provenance: every role and location carries its sources (`manual`, `default`, `rule:<id>`).
//! Re-applying rules replaces the `rule:` and `default` sources and never touches `manual`
//! ones; a value without sources is gone. The kind's default role stands exactly when nothing
//! else gives the account a role.

use crate::accounts::default_local;
use crate::ids::OrgKind;
use crate::model::{GroupView, LocalProps, RoleRule, RuleCondition, RuleOp};
use serde_json::Value;
use std::collections::BTreeMap;

/// The source of a hand-set value.
pub const MANUAL: &str = "manual";
/// The source of the kind's default role.
pub const DEFAULT: &str = "default";
/// The enterprise User extension (RFC 7643 section 4.3), where `department` and friends live.
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The source a rule gives its values.
pub fn rule_source(rule: &RoleRule) -> String {
    format!("rule:{}", rule.id)
}

/// The values of `path` in a SCIM User document: `title`, `name.givenName`,
/// `urn:...:enterprise:2.0:User:department`; a name the core schema does not have is looked up
/// in the enterprise extension too, so `department` finds the enterprise `department`, and
/// `employeeType` reads `userType`. Names
/// ignore case (RFC 7643 section 2.1); multi-valued attributes give every value (a complex
/// one its `value`).
pub fn attribute_values(doc: &Value, path: &str) -> Vec<String> {
    fn get_ci<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    fn walk(v: &Value, parts: &[&str], out: &mut Vec<String>) {
        match v {
            Value::Array(items) => {
                for item in items {
                    walk(item, parts, out);
                }
            }
            _ if parts.is_empty() => match v {
                Value::String(s) => out.push(s.clone()),
                Value::Bool(_) | Value::Number(_) => out.push(v.to_string()),
                Value::Object(_) => {
                    if let Some(inner) = get_ci(v, "value") {
                        walk(inner, &[], out);
                    }
                }
                _ => {}
            },
            _ => {
                if let Some(inner) = get_ci(v, parts[0]) {
                    walk(inner, &parts[1..], out);
                }
            }
        }
    }
    let path = path.trim();
    // A URN prefix is everything up to the last ':' (RFC 7644 section 3.10).
    let (root, rest) = match path.rfind(':') {
        Some(i) if path[..i].to_ascii_lowercase().starts_with("urn:") => {
            match get_ci(doc, &path[..i]) {
                Some(ext) => (ext, &path[i + 1..]),
                None => return Vec::new(),
            }
        }
        _ => (doc, path),
    };
    let parts: Vec<&str> = rest.split('.').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    walk(root, &parts, &mut out);
    if out.is_empty()
        && std::ptr::eq(root, doc)
        && let Some(ext) = get_ci(doc, ENTERPRISE)
    {
        walk(ext, &parts, &mut out);
    }
    // Identity providers call it `employeeType`; SCIM's User calls it `userType`.
    if out.is_empty() && std::ptr::eq(root, doc) && rest.eq_ignore_ascii_case("employeeType") {
        walk(doc, &["userType"], &mut out);
    }
    out
}

/// Whether `cond` holds for an account with document `doc` in `groups` (direct memberships).
pub fn matches(cond: &RuleCondition, doc: &Value, groups: &[GroupView]) -> bool {
    let want = cond.value.trim().to_lowercase();
    match cond.op {
        RuleOp::MemberOf => groups.iter().any(|g| {
            g.id.to_string() == want
                || g.display
                    .as_deref()
                    .is_some_and(|d| d.trim().to_lowercase() == want)
        }),
        RuleOp::Equals => attribute_values(doc, &cond.attribute)
            .iter()
            .any(|v| v.trim().to_lowercase() == want),
        RuleOp::StartsWith => attribute_values(doc, &cond.attribute)
            .iter()
            .any(|v| v.trim().to_lowercase().starts_with(&want)),
    }
}

/// The kind's default role.
pub fn default_role(kind: OrgKind) -> String {
    default_local(kind).roles.remove(0)
}

/// The sources of each role of `l`. Accounts from before role rules have none recorded:
/// the kind's default role alone counts as the default, anything else as set by hand.
pub fn sources_of_roles(kind: OrgKind, l: &LocalProps) -> BTreeMap<String, Vec<String>> {
    let mut out = l.role_sources.clone();
    let legacy_default = l.role_sources.is_empty() && l.roles == [default_role(kind)];
    for r in &l.roles {
        out.entry(r.clone())
            .or_insert_with(|| vec![if legacy_default { DEFAULT } else { MANUAL }.to_owned()]);
    }
    out.retain(|k, v| l.roles.contains(k) && !v.is_empty());
    out
}

/// The sources of each location of `l` (none recorded: set by hand).
pub fn sources_of_locations(l: &LocalProps) -> BTreeMap<String, Vec<String>> {
    let mut out = l.location_sources.clone();
    for v in &l.locations {
        out.entry(v.clone())
            .or_insert_with(|| vec![MANUAL.to_owned()]);
    }
    out.retain(|k, v| l.locations.contains(k) && !v.is_empty());
    out
}

/// Values in their old order, then the new ones in the order given.
fn ordered(
    old: &[String], order: &[String], sources: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out: Vec<String> = old
        .iter()
        .filter(|v| sources.contains_key(*v))
        .cloned()
        .collect();
    for v in order {
        if sources.contains_key(v) && !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

fn add(map: &mut BTreeMap<String, Vec<String>>, order: &mut Vec<String>, v: &str, src: &str) {
    let e = map.entry(v.to_owned()).or_default();
    if !e.iter().any(|s| s == src) {
        e.push(src.to_owned());
    }
    if !order.iter().any(|o| o == v) {
        order.push(v.to_owned());
    }
}

/// Roles and locations by source, before they are settled into [`LocalProps`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    pub roles: BTreeMap<String, Vec<String>>,
    pub locations: BTreeMap<String, Vec<String>>,
    /// New values in the order they were given.
    order_roles: Vec<String>,
    order_locations: Vec<String>,
}

impl Provenance {
    /// What `l` records, with only its hand-set sources kept.
    pub fn manual_of(kind: OrgKind, l: &LocalProps) -> Self {
        let keep = |m: BTreeMap<String, Vec<String>>| {
            let mut m: BTreeMap<String, Vec<String>> = m
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().filter(|s| s == MANUAL).collect()))
                .collect();
            m.retain(|_, v: &mut Vec<String>| !v.is_empty());
            m
        };
        Provenance {
            roles: keep(sources_of_roles(kind, l)),
            locations: keep(sources_of_locations(l)),
            ..Provenance::default()
        }
    }

    pub fn add_role(&mut self, v: &str, src: &str) {
        add(&mut self.roles, &mut self.order_roles, v, src);
    }

    pub fn add_location(&mut self, v: &str, src: &str) {
        add(&mut self.locations, &mut self.order_locations, v, src);
    }

    /// Adds what every rule whose condition holds gives.
    pub fn add_rules(&mut self, rules: &[RoleRule], doc: &Value, groups: &[GroupView]) {
        for rule in rules {
            if matches(&rule.condition, doc, groups) {
                let src = rule_source(rule);
                for r in &rule.roles {
                    self.add_role(r, &src);
                }
                for l in &rule.locations {
                    self.add_location(l, &src);
                }
            }
        }
    }

    /// Takes a hand-set source away (a value with no source left goes).
    pub fn drop_manual_role(&mut self, v: &str) {
        if let Some(s) = self.roles.get_mut(v) {
            s.retain(|s| s != MANUAL);
        }
        self.roles.retain(|_, s| !s.is_empty());
    }

    pub fn drop_manual_location(&mut self, v: &str) {
        if let Some(s) = self.locations.get_mut(v) {
            s.retain(|s| s != MANUAL);
        }
        self.locations.retain(|_, s| !s.is_empty());
    }

    /// The local properties: `old`'s grade level and SIS username, these roles and locations
    /// (old ones in their order first), and the kind's default role when nothing gives one.
    pub fn settle(mut self, kind: OrgKind, old: &LocalProps) -> LocalProps {
        for s in self.roles.values_mut() {
            s.retain(|s| s != DEFAULT);
        }
        self.roles.retain(|_, s| !s.is_empty());
        if self.roles.is_empty() {
            let d = default_role(kind);
            self.add_role(&d, DEFAULT);
        }
        LocalProps {
            roles: ordered(&old.roles, &self.order_roles, &self.roles),
            locations: ordered(&old.locations, &self.order_locations, &self.locations),
            grade_level: old.grade_level.clone(),
            sis_username: old.sis_username.clone(),
            role_sources: self.roles,
            location_sources: self.locations,
        }
    }
}

/// An account's local properties once `rules` are applied to it: hand-set values kept,
/// rule-given values as the rules say now, the default role when nothing gives one.
pub fn derive(
    kind: OrgKind, rules: &[RoleRule], doc: &Value, groups: &[GroupView], current: &LocalProps,
) -> LocalProps {
    let mut p = Provenance::manual_of(kind, current);
    p.add_rules(rules, doc, groups);
    p.settle(kind, current)
}

/// Whether any rule needs an account's group memberships.
pub fn needs_groups(rules: &[RoleRule]) -> bool {
    rules.iter().any(|r| r.condition.op == RuleOp::MemberOf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ResourceId, RuleId};
    use serde_json::json;

    fn rule(op: RuleOp, attribute: &str, value: &str, roles: &[&str]) -> RoleRule {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        RoleRule {
            id: RuleId::new(),
            position: 1,
            name: "r".into(),
            condition: RuleCondition {
                attribute: attribute.into(),
                op,
                value: value.into(),
            },
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            locations: Vec::new(),
            created: now,
            updated: now,
        }
    }

    #[test]
    fn attributes_are_found_by_path_urn_and_in_the_enterprise_extension() {
        let doc = json!({
            "title": "Head of Maths",
            "name": { "givenName": "Ada" },
            "emails": [{ "value": "a@x.example" }, { "value": "b@x.example" }],
            ENTERPRISE: { "department": "Science", "manager": { "value": "m1" } },
        });
        assert_eq!(attribute_values(&doc, "TITLE"), ["Head of Maths"]);
        assert_eq!(attribute_values(&doc, "name.givenName"), ["Ada"]);
        assert_eq!(
            attribute_values(&doc, "emails"),
            ["a@x.example", "b@x.example"]
        );
        assert_eq!(attribute_values(&doc, "department"), ["Science"]);
        assert_eq!(
            attribute_values(&doc, &format!("{ENTERPRISE}:department")),
            ["Science"]
        );
        assert_eq!(attribute_values(&doc, "manager"), ["m1"]);
        let typed = json!({ "userType": "Faculty" });
        assert_eq!(attribute_values(&typed, "employeeType"), ["Faculty"]);
        assert!(attribute_values(&doc, "urn:x:nothing:department").is_empty());
        assert!(attribute_values(&doc, "nickName").is_empty());
    }

    #[test]
    fn conditions_ignore_case_and_membership_is_by_name_or_id() {
        let doc = json!({ "title": "Head of Maths" });
        let g = GroupView {
            id: ResourceId::new(),
            display: Some("Teachers".into()),
        };
        let eq = |v: &str| RuleCondition {
            attribute: "title".into(),
            op: RuleOp::Equals,
            value: v.into(),
        };
        assert!(matches(&eq("head of maths"), &doc, &[]));
        assert!(!matches(&eq("head"), &doc, &[]));
        let sw = RuleCondition {
            op: RuleOp::StartsWith,
            ..eq("HEAD ")
        };
        assert!(matches(&sw, &doc, &[]));
        let member = |v: &str| RuleCondition {
            attribute: String::new(),
            op: RuleOp::MemberOf,
            value: v.into(),
        };
        assert!(matches(&member("teachers"), &doc, std::slice::from_ref(&g)));
        assert!(matches(
            &member(&g.id.to_string()),
            &doc,
            std::slice::from_ref(&g)
        ));
        assert!(!matches(&member("Teach"), &doc, std::slice::from_ref(&g)));
    }

    #[test]
    fn hand_set_values_survive_and_the_default_stands_only_alone() {
        let kind = OrgKind::School;
        let teach = rule(RuleOp::Equals, "title", "teacher", &["teacher"]);
        let doc = json!({ "title": "Teacher" });
        let start = crate::accounts::default_local(kind);
        let l = derive(kind, std::slice::from_ref(&teach), &doc, &[], &start);
        assert_eq!(l.roles, ["teacher"]);
        assert_eq!(l.role_sources["teacher"], [rule_source(&teach)]);
        // The rule goes: the default is back.
        let l = derive(kind, &[], &doc, &[], &l);
        assert_eq!(l.roles, ["student"]);
        assert_eq!(l.role_sources["student"], [DEFAULT]);
        // A hand-set role stays whatever the rules say; legacy accounts count as hand-set.
        let legacy = LocalProps {
            roles: vec!["staff".into()],
            ..LocalProps::default()
        };
        let l = derive(kind, std::slice::from_ref(&teach), &doc, &[], &legacy);
        assert_eq!(l.roles, ["staff", "teacher"]);
        let l = derive(kind, &[], &json!({}), &[], &l);
        assert_eq!(l.roles, ["staff"]);
        assert_eq!(l.role_sources["staff"], [MANUAL]);
    }
}
