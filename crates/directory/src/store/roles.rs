//! The port of the role catalogue and the rules (docs/contract.md, "Roles and rules").

use super::*;

/// Roles by rule (docs/contract.md, "Roles and rules"): an organisation's own roles, its rules,
/// and the writes that re-apply them.
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// The roles the organisation added to its kind's defaults, in the order added.
    async fn list_org_roles(&self, org: OrgId) -> Result<Vec<String>, StoreError>;

    /// [`StoreError::Conflict`]`("role")` when the organisation has it already (any case).
    async fn add_org_role(
        &self, org: OrgId, name: &str, at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Removes a role (any case); `false` when there was none.
    async fn remove_org_role(&self, org: OrgId, name: &str) -> Result<bool, StoreError>;

    /// The organisation's rules by position, then id.
    async fn list_role_rules(&self, org: OrgId) -> Result<Vec<RoleRule>, StoreError>;

    /// Inserts a rule, or replaces the rule with its id.
    async fn put_role_rule(&self, org: OrgId, rule: &RoleRule) -> Result<(), StoreError>;

    /// Deletes a rule; `false` when there was none.
    async fn remove_role_rule(&self, org: OrgId, id: RuleId) -> Result<bool, StoreError>;

    /// Applies the organisation's rules to these accounts, one transaction for all: each
    /// account's row is locked (PostgreSQL) before its document, direct groups and the rules
    /// are read, so the last writer of any of them computes from what they all committed.
    /// Local properties become [`crate::roles::derive`] of them, with a `user.updated` event
    /// per user object changed. Accounts that are gone or deleted by SCIM are passed over.
    /// Returns the ids whose roles or locations changed.
    async fn apply_role_rules(
        &self, org: OrgId, ids: &[ResourceId], now: OffsetDateTime,
    ) -> Result<Vec<ResourceId>, StoreError>;

    /// Up to `limit` account ids (any source, not deleted by SCIM) after `after`, in id order:
    /// the batches of a re-application to everyone. With `sources`, only accounts with a role
    /// or location from one of them (`rule:<id>`).
    async fn account_ids(
        &self, org: OrgId, after: Option<ResourceId>, limit: u32, sources: &[String],
    ) -> Result<Vec<ResourceId>, StoreError>;
}
