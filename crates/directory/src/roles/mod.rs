//! Roles by rule (docs/contract.md, "Roles and rules"), whoever calls (the API, the CLI, the
//! console):
//!
//! - each organisation has a role catalogue: its kind's roles ([`kind_roles`]) and its own; a
//!   role outside it is refused wherever a role is given (a rule, a hand-set role, a bulk
//!   assignment);
//! - ordered rules derive roles and locations from what the identity provider sends (an
//!   attribute equal to or starting with a value, or a membership of a group), on every SCIM
//!   write of the account or of its groups, and again for every account when a rule changes;
//! - each role and location of an account records its sources (`manual`, `default`,
//!   `rule:<id>`); rules never take away a hand-set value; the kind's default role stands
//!   exactly when nothing else gives one;
//! - every change of the catalogue or the rules is logged; accounts whose user object changes
//!   get their `user.updated` event from the store, in the transaction that changes them.

mod apply;
mod eval;

pub use apply::{after_group_change, after_group_write, after_write};
pub use eval::{
    DEFAULT, ENTERPRISE, MANUAL, Provenance, attribute_values, default_role, derive, matches,
    needs_groups, rule_source, sources_of_locations, sources_of_roles,
};

use crate::accounts::{DirectoryError, check_local};
use crate::clock::Clock;
use crate::ids::{OrgId, OrgKind, ResourceId, RuleId};
use crate::store::{ActivityEntry, LocalProps, RoleRule, RuleCondition, RuleOp, Store, StoreError};
use std::sync::Arc;

/// The roles every organisation of a kind has; the first is the default of a new account.
pub fn kind_roles(kind: OrgKind) -> &'static [&'static str] {
    match kind {
        OrgKind::Business => &["staff", "manager", "contractor"],
        OrgKind::School => &["student", "teacher", "staff"],
    }
}

/// Most rules per organisation, most own roles per organisation.
pub const MAX_RULES: usize = 200;
pub const MAX_OWN_ROLES: usize = 200;
/// Accounts per transaction when rules are applied to everyone: what one transaction locks
/// and holds in memory.
pub const APPLY_BATCH: u32 = 500;
/// Most accounts one bulk assignment names.
pub const MAX_BULK: usize = 1000;
const MAX_NAME: usize = 100;
const MAX_VALUE: usize = 256;
const MAX_ATTRIBUTE: usize = 200;
const MAX_GIVES: usize = 32;
const MAX_ROLE_LEN: usize = 64;

/// An organisation's role catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    /// The kind's roles.
    pub defaults: Vec<String>,
    /// The organisation's own, in the order added.
    pub own: Vec<String>,
}

impl Catalogue {
    /// Every role, the kind's first.
    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.defaults.iter().chain(self.own.iter())
    }

    /// The catalogue's spelling of `role` (roles compare ignoring case).
    pub fn find(&self, role: &str) -> Option<&String> {
        let key = role.trim().to_lowercase();
        self.all().find(|r| r.to_lowercase() == key)
    }

    /// The catalogue's spelling of `role`, or the refusal that names the catalogue.
    pub fn check(&self, role: &str) -> Result<String, DirectoryError> {
        self.find(role).cloned().ok_or_else(|| {
            DirectoryError::Invalid(format!(
                "'{}' is not a role of this organisation (roles: {}); add it to the role catalogue first",
                role.trim(),
                self.all().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

/// A rule as an administrator writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleInput {
    pub name: String,
    /// A SCIM attribute path; ignored for `memberOf`.
    pub attribute: String,
    /// `equals`, `startsWith` or `memberOf`.
    pub op: String,
    pub value: String,
    pub roles: Vec<String>,
    pub locations: Vec<String>,
}

/// What a rule change did to the accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Accounts the rules were applied to.
    pub accounts: u64,
    /// Accounts whose roles or locations changed.
    pub changed: u64,
}

/// The roles service.
#[derive(Debug, Clone)]
pub struct Roles {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

fn store_err(e: StoreError) -> DirectoryError {
    DirectoryError::from(e)
}

impl Roles {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Roles { store, clock }
    }

    async fn kind(&self, org: OrgId) -> Result<OrgKind, DirectoryError> {
        Ok(self
            .store
            .get_org(org)
            .await?
            .ok_or_else(|| DirectoryError::NotFound("organisation".into()))?
            .kind)
    }

    async fn record(
        &self, org: OrgId, actor: &str, action: &str, target: String, detail: Option<String>,
    ) -> Result<(), DirectoryError> {
        self.store
            .append_activity(vec![
                ActivityEntry::act(org, self.clock.now(), actor, action, target)
                    .with_detail(detail),
            ])
            .await
            .map_err(store_err)
    }

    // ---- the catalogue ----

    pub async fn catalogue(&self, org: OrgId) -> Result<Catalogue, DirectoryError> {
        let kind = self.kind(org).await?;
        catalogue(self.store.as_ref(), org, kind).await
    }

    /// Adds a role of the organisation's own.
    pub async fn add_role(
        &self, org: OrgId, actor: &str, name: &str,
    ) -> Result<String, DirectoryError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_ROLE_LEN
            || name.chars().any(char::is_control)
        {
            return Err(DirectoryError::Invalid(format!(
                "a role is 1 to {MAX_ROLE_LEN} printable characters"
            )));
        }
        let cat = self.catalogue(org).await?;
        if let Some(have) = cat.find(name) {
            return Err(DirectoryError::Conflict(
                "role",
                format!("the organisation already has the role '{have}'"),
            ));
        }
        if cat.own.len() >= MAX_OWN_ROLES {
            return Err(DirectoryError::Invalid(format!(
                "an organisation has at most {MAX_OWN_ROLES} roles of its own"
            )));
        }
        match self.store.add_org_role(org, name, self.clock.now()).await {
            Err(StoreError::Conflict(_)) => {
                return Err(DirectoryError::Conflict(
                    "role",
                    format!("the organisation already has the role '{name}'"),
                ));
            }
            other => other?,
        }
        self.record(org, actor, "role.add", name.to_owned(), None)
            .await?;
        Ok(name.to_owned())
    }

    /// Removes a role of the organisation's own; refused while a rule gives it. Accounts that
    /// have it keep it (as they keep roles from before the catalogue).
    pub async fn remove_role(
        &self, org: OrgId, actor: &str, name: &str,
    ) -> Result<(), DirectoryError> {
        let cat = self.catalogue(org).await?;
        let key = name.trim().to_lowercase();
        if cat.defaults.iter().any(|r| r.to_lowercase() == key) {
            return Err(DirectoryError::Invalid(format!(
                "'{}' is a role of every organisation of this kind and cannot be removed",
                name.trim()
            )));
        }
        let Some(have) = cat.own.iter().find(|r| r.to_lowercase() == key).cloned() else {
            return Err(DirectoryError::NotFound(format!("role '{}'", name.trim())));
        };
        let rules = self.store.list_role_rules(org).await?;
        if let Some(r) = rules
            .iter()
            .find(|r| r.roles.iter().any(|x| x.to_lowercase() == key))
        {
            return Err(DirectoryError::Conflict(
                "role",
                format!(
                    "the rule '{}' gives the role '{have}'; change or delete the rule first",
                    r.name
                ),
            ));
        }
        self.store.remove_org_role(org, &have).await?;
        self.record(org, actor, "role.remove", have, None).await
    }

    // ---- rules ----

    pub async fn rules(&self, org: OrgId) -> Result<Vec<RoleRule>, DirectoryError> {
        Ok(self.store.list_role_rules(org).await?)
    }

    pub async fn rule(&self, org: OrgId, id: &str) -> Result<RoleRule, DirectoryError> {
        let not_found = || DirectoryError::NotFound(format!("rule '{id}'"));
        let rid: RuleId = id.trim().parse().map_err(|_| not_found())?;
        self.rules(org)
            .await?
            .into_iter()
            .find(|r| r.id == rid)
            .ok_or_else(not_found)
    }

    /// Checks a rule as written and gives it the catalogue's spelling of its roles.
    async fn check_rule(
        &self, org: OrgId, input: &RuleInput,
    ) -> Result<(String, RuleCondition, Vec<String>, Vec<String>), DirectoryError> {
        let kind = self.kind(org).await?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(DirectoryError::Invalid(format!(
                "a rule's name is 1 to {MAX_NAME} printable characters"
            )));
        }
        let op = RuleOp::parse(input.op.trim()).ok_or_else(|| {
            DirectoryError::Invalid(format!(
                "'{}' is not a condition: use equals, startsWith or memberOf",
                input.op.trim()
            ))
        })?;
        let attribute = if op == RuleOp::MemberOf {
            String::new()
        } else {
            let a = input.attribute.trim();
            let ok = !a.is_empty()
                && a.len() <= MAX_ATTRIBUTE
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-' | '$'));
            if !ok {
                return Err(DirectoryError::Invalid(
                    "the attribute is a SCIM attribute name such as title, department, userType or name.givenName (or a full urn:...:department)".into(),
                ));
            }
            a.to_owned()
        };
        let value = input.value.trim();
        if value.is_empty()
            || value.chars().count() > MAX_VALUE
            || value.chars().any(char::is_control)
        {
            return Err(DirectoryError::Invalid(format!(
                "the value to compare with is 1 to {MAX_VALUE} printable characters"
            )));
        }
        let checked = check_local(
            kind,
            LocalProps {
                roles: input.roles.clone(),
                locations: input.locations.clone(),
                ..LocalProps::default()
            },
        )?;
        if checked.roles.len() > MAX_GIVES || checked.locations.len() > MAX_GIVES {
            return Err(DirectoryError::Invalid(format!(
                "a rule gives at most {MAX_GIVES} roles and {MAX_GIVES} locations"
            )));
        }
        if checked.roles.is_empty() && checked.locations.is_empty() {
            return Err(DirectoryError::Invalid(
                "a rule gives at least one role or location".into(),
            ));
        }
        let cat = catalogue(self.store.as_ref(), org, kind).await?;
        let mut roles: Vec<String> = Vec::new();
        for r in &checked.roles {
            let r = cat.check(r)?;
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
        Ok((
            name.to_owned(),
            RuleCondition {
                attribute,
                op,
                value: value.to_owned(),
            },
            roles,
            checked.locations,
        ))
    }

    /// Adds a rule at the end and applies the rules to every account.
    pub async fn create_rule(
        &self, org: OrgId, actor: &str, input: &RuleInput,
    ) -> Result<(RoleRule, Applied), DirectoryError> {
        let (name, condition, roles, locations) = self.check_rule(org, input).await?;
        let rules = self.store.list_role_rules(org).await?;
        if rules.len() >= MAX_RULES {
            return Err(DirectoryError::Invalid(format!(
                "an organisation has at most {MAX_RULES} rules"
            )));
        }
        let now = self.clock.now();
        let rule = RoleRule {
            id: RuleId::new(),
            position: rules.iter().map(|r| r.position).max().unwrap_or(0) + 1,
            name,
            condition,
            roles,
            locations,
            created: now,
            updated: now,
        };
        self.store.put_role_rule(org, &rule).await?;
        self.record(
            org,
            actor,
            "role-rule.create",
            rule.name.clone(),
            Some(describe(&rule)),
        )
        .await?;
        let applied = self.apply_all(org, actor).await?;
        Ok((rule, applied))
    }

    /// Replaces a rule's name, condition, roles and locations, and applies the rules again.
    pub async fn update_rule(
        &self, org: OrgId, actor: &str, id: &str, input: &RuleInput,
    ) -> Result<(RoleRule, Applied), DirectoryError> {
        let current = self.rule(org, id).await?;
        let (name, condition, roles, locations) = self.check_rule(org, input).await?;
        let rule = RoleRule {
            name,
            condition,
            roles,
            locations,
            updated: self.clock.now(),
            ..current.clone()
        };
        self.store.put_role_rule(org, &rule).await?;
        self.record(
            org,
            actor,
            "role-rule.edit",
            rule.name.clone(),
            Some(format!("{} (was: {})", describe(&rule), describe(&current))),
        )
        .await?;
        let applied = self.apply_all(org, actor).await?;
        Ok((rule, applied))
    }

    /// Deletes a rule: what it gave goes, unless a hand or another rule gives it too.
    pub async fn delete_rule(
        &self, org: OrgId, actor: &str, id: &str,
    ) -> Result<Applied, DirectoryError> {
        let current = self.rule(org, id).await?;
        if !self.store.remove_role_rule(org, current.id).await? {
            return Err(DirectoryError::NotFound(format!("rule '{id}'")));
        }
        self.record(
            org,
            actor,
            "role-rule.delete",
            current.name.clone(),
            Some(describe(&current)),
        )
        .await?;
        self.apply_all(org, actor).await
    }

    /// Moves a rule one place up (`-1`) or down (`1`) in the order rules are listed and
    /// applied. Rules give the union of what matches, so the order is the order shown; the
    /// accounts do not change.
    pub async fn move_rule(
        &self, org: OrgId, actor: &str, id: &str, by: i64,
    ) -> Result<(), DirectoryError> {
        let current = self.rule(org, id).await?;
        let mut rules = self.store.list_role_rules(org).await?;
        let Some(at) = rules.iter().position(|r| r.id == current.id) else {
            return Err(DirectoryError::NotFound(format!("rule '{id}'")));
        };
        let to = at as i64 + by.signum();
        if by == 0 || to < 0 || to >= rules.len() as i64 {
            return Ok(());
        }
        let moved = rules.remove(at);
        rules.insert(to as usize, moved);
        for (i, mut r) in rules.into_iter().enumerate() {
            let position = i as i64 + 1;
            if r.position != position {
                r.position = position;
                self.store.put_role_rule(org, &r).await?;
            }
        }
        self.record(
            org,
            actor,
            "role-rule.move",
            current.name,
            Some(if by < 0 { "up" } else { "down" }.to_owned()),
        )
        .await
    }

    /// Applies the rules to every account, [`APPLY_BATCH`] accounts per transaction: each
    /// batch reads and writes under its own locks (see [`crate::store::RoleStore::apply_role_rules`]),
    /// so a SCIM write meanwhile is never lost, and an account created behind the batches
    /// applies the rules itself once it is written.
    ///
    /// It runs as a task of its own: a caller that stops waiting (a request that timed out)
    /// does not stop it halfway.
    pub async fn apply_all(&self, org: OrgId, actor: &str) -> Result<Applied, DirectoryError> {
        let this = self.clone();
        let actor = actor.to_owned();
        match tokio::spawn(async move { this.apply_all_now(org, &actor).await }).await {
            Ok(r) => r,
            Err(e) => Err(DirectoryError::Store(StoreError::Internal(format!(
                "the re-application of the rules stopped: {e}"
            )))),
        }
    }

    async fn apply_all_now(&self, org: OrgId, actor: &str) -> Result<Applied, DirectoryError> {
        let mut applied = Applied::default();
        let mut after = None;
        loop {
            let ids = self.store.account_ids(org, after, APPLY_BATCH, &[]).await?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            applied.accounts += ids.len() as u64;
            applied.changed += self
                .store
                .apply_role_rules(org, &ids, self.clock.now())
                .await?
                .len() as u64;
            after = Some(last);
            if (ids.len() as u32) < APPLY_BATCH {
                break;
            }
        }
        if applied.changed > 0 {
            self.record(
                org,
                actor,
                "roles.apply",
                format!("{} account(s) changed", applied.changed),
                Some(format!("rules applied to {} account(s)", applied.accounts)),
            )
            .await?;
        }
        Ok(applied)
    }

    // ---- hand-set roles ----

    /// Adds (`add`) or takes away (`remove`) a hand-set role on each account of `ids`: the
    /// console's and API's bulk assignment. Unknown ids and SCIM-deleted accounts are refused
    /// before anything changes. Returns how many accounts changed.
    pub async fn assign(
        &self, org: OrgId, actor: &str, ids: &[String], role: &str, add: bool,
    ) -> Result<u64, DirectoryError> {
        if ids.is_empty() {
            return Err(DirectoryError::Invalid(
                "choose at least one account".into(),
            ));
        }
        if ids.len() > MAX_BULK {
            return Err(DirectoryError::Invalid(format!(
                "at most {MAX_BULK} accounts at once"
            )));
        }
        let kind = self.kind(org).await?;
        let cat = catalogue(self.store.as_ref(), org, kind).await?;
        let role = if add {
            cat.check(role)?
        } else {
            role.trim().to_owned()
        };
        let mut accounts = Vec::with_capacity(ids.len());
        for id in ids {
            let not_found = || DirectoryError::NotFound(format!("account '{id}'"));
            let rid: ResourceId = id.trim().parse().map_err(|_| not_found())?;
            let a = self
                .store
                .get_account(org, rid)
                .await?
                .ok_or_else(not_found)?;
            if a.deleted.is_some() {
                return Err(DirectoryError::Invalid(format!(
                    "account '{}' was deleted by directory sync and cannot be edited",
                    a.user_name()
                )));
            }
            if !accounts
                .iter()
                .any(|b: &crate::store::Account| b.resource.id == rid)
            {
                accounts.push(a);
            }
        }
        let mut changed = 0;
        for a in accounts {
            let (add_r, remove_r): (Vec<String>, Vec<String>) = if add {
                (vec![role.clone()], Vec::new())
            } else {
                (Vec::new(), vec![role.clone()])
            };
            let local = edit_local(kind, &a.local, &add_r, &remove_r, &[], &[]);
            if local == a.local {
                continue;
            }
            if write_local(self.store.as_ref(), org, &a, local, self.clock.now()).await? {
                changed += 1;
            }
        }
        self.record(
            org,
            actor,
            if add {
                "roles.assign"
            } else {
                "roles.unassign"
            },
            role,
            Some(format!("{changed} of {} account(s) changed", ids.len())),
        )
        .await?;
        Ok(changed)
    }
}

/// The organisation's catalogue.
pub(crate) async fn catalogue(
    store: &dyn Store, org: OrgId, kind: OrgKind,
) -> Result<Catalogue, DirectoryError> {
    Ok(Catalogue {
        defaults: kind_roles(kind).iter().map(|r| (*r).to_owned()).collect(),
        own: store.list_org_roles(org).await?,
    })
}

/// A rule in words, for the activity log.
pub fn describe(rule: &RoleRule) -> String {
    let c = &rule.condition;
    let when = match c.op {
        RuleOp::MemberOf => format!("member of '{}'", c.value),
        RuleOp::Equals => format!("{} equals '{}'", c.attribute, c.value),
        RuleOp::StartsWith => format!("{} starts with '{}'", c.attribute, c.value),
    };
    let mut gives = Vec::new();
    if !rule.roles.is_empty() {
        gives.push(format!("roles {}", rule.roles.join(", ")));
    }
    if !rule.locations.is_empty() {
        gives.push(format!("locations {}", rule.locations.join(", ")));
    }
    format!("when {when}: {}", gives.join("; "))
}

/// `current` with hand-set roles and locations added and taken away; rule and default sources
/// as they are (the store's [`derive`] settles them again).
pub fn edit_local(
    kind: OrgKind, current: &LocalProps, add_roles: &[String], remove_roles: &[String],
    add_locations: &[String], remove_locations: &[String],
) -> LocalProps {
    let mut p = Provenance::default();
    for r in &current.roles {
        for s in sources_of_roles(kind, current)
            .remove(r)
            .unwrap_or_default()
        {
            p.add_role(r, &s);
        }
    }
    for l in &current.locations {
        for s in sources_of_locations(current).remove(l).unwrap_or_default() {
            p.add_location(l, &s);
        }
    }
    for r in remove_roles {
        p.drop_manual_role(r);
    }
    for l in remove_locations {
        p.drop_manual_location(l);
    }
    for r in add_roles {
        p.add_role(r, MANUAL);
    }
    for l in add_locations {
        p.add_location(l, MANUAL);
    }
    p.settle(kind, current)
}

/// Writes an account's new local properties and applies the rules to it again in its own
/// transaction, so what a rule gives is as the rules say now. `false` when the account went
/// away meanwhile.
pub(crate) async fn write_local(
    store: &dyn Store, org: OrgId, account: &crate::store::Account, local: LocalProps,
    now: time::OffsetDateTime,
) -> Result<bool, DirectoryError> {
    match store
        .update_account(
            org,
            account.resource.id,
            crate::store::AccountChange {
                expected_version: None,
                doc: None,
                source: None,
                local: Some(local),
                now: Some(now),
            },
        )
        .await
    {
        Err(StoreError::NotFound) => return Ok(false),
        other => other?,
    };
    store
        .apply_role_rules(org, &[account.resource.id], now)
        .await?;
    Ok(true)
}

/// The name of the first rule among `sources` (`rule:<id>`), for a message or a label.
pub fn rule_of(rules: &[RoleRule], sources: &[String]) -> Option<String> {
    sources.iter().find_map(|s| {
        let id = s.strip_prefix("rule:")?;
        rules
            .iter()
            .find(|r| r.id.to_string() == id)
            .map(|r| r.name.clone())
    })
}
