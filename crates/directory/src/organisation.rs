//! Renaming an organisation and choosing its kind (the set-up page, Settings and
//! `scimd org rename`), through one service so that every path checks and logs alike.
//!
//! The kind decides how accounts behave (a school holds a deleted `userName` 120 days instead
//! of 30, has grade levels and SIS usernames, and site managers), so it may change only while
//! the organisation has no account: the store decides that in the same statement as the
//! change. A school with site managers cannot become a business while they remain.

use crate::ids::{OrgId, OrgKind, Organisation};
use crate::lifecycle::{Lifecycle, LifecycleError};
use crate::store::{AccountQuery, ActivityEntry, AdminRole, OrgUpdate};
use crate::zone::Zone;

/// Longest organisation name, in characters.
pub const MAX_NAME_CHARS: usize = 120;

/// The name as it will be kept (trimmed), or why it cannot be one.
pub fn check_name(name: &str) -> Result<&str, LifecycleError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(LifecycleError::InvalidName(
            "the organisation's name is empty".into(),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(LifecycleError::InvalidName(format!(
            "the organisation's name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(LifecycleError::InvalidName(
            "the organisation's name contains a control character".into(),
        ));
    }
    Ok(name)
}

impl Lifecycle {
    /// Whether the organisation has an account now, so its kind is fixed. (A retired account
    /// whose `userName` is still held counts too; the store's check in
    /// [`Lifecycle::update_org`] sees those.)
    pub async fn has_accounts(&self, org: OrgId) -> Result<bool, LifecycleError> {
        let page = self
            .store()
            .list_accounts(
                org,
                &AccountQuery {
                    count: 1,
                    ..AccountQuery::default()
                },
            )
            .await?;
        Ok(page.total > 0 || !page.accounts.is_empty())
    }

    /// Sets the organisation's name and kind (logged). A change of kind is refused once the
    /// organisation has accounts ([`LifecycleError::KindLocked`]), and from school to
    /// business while site managers remain.
    pub async fn update_org(
        &self, org: OrgId, name: &str, kind: OrgKind, actor: &str,
    ) -> Result<Organisation, LifecycleError> {
        let name = check_name(name)?;
        let before = self
            .store()
            .get_org(org)
            .await?
            .ok_or(LifecycleError::UnknownOrg)?;
        if before.kind == OrgKind::School
            && kind != OrgKind::School
            && self
                .store()
                .list_admins(org)
                .await?
                .iter()
                .any(|a| a.role == AdminRole::SiteManager)
        {
            return Err(LifecycleError::SiteManagersRemain);
        }
        match self.store().update_org(org, name, kind).await? {
            OrgUpdate::Updated => {}
            OrgUpdate::NotFound => return Err(LifecycleError::UnknownOrg),
            OrgUpdate::HasAccounts => return Err(LifecycleError::KindLocked),
        }
        let mut changes = Vec::new();
        if before.name != name {
            changes.push(format!("name '{}' -> '{name}'", before.name));
        }
        if before.kind != kind {
            changes.push(format!(
                "kind {} -> {}",
                before.kind.as_str(),
                kind.as_str()
            ));
        }
        if !changes.is_empty() {
            let entry = ActivityEntry::act(org, self.clock().now(), actor, "org.update", name)
                .with_detail(Some(changes.join("; ")));
            self.store().append_activity(vec![entry]).await?;
        }
        Ok(Organisation {
            name: name.to_owned(),
            kind,
            ..before
        })
    }
}

impl Lifecycle {
    /// The organisation's time zone; UTC for one stored before the tz database forgot it.
    pub async fn time_zone(&self, org: OrgId) -> Result<Zone, LifecycleError> {
        match self.store().org_time_zone(org).await {
            Ok(name) => Ok(Zone::stored(&name)),
            Err(crate::StoreError::NotFound) => Err(LifecycleError::UnknownOrg),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets the organisation's time zone to the IANA zone `name` (logged as `org.time_zone`
    /// when it changes); a name the tz database does not know changes nothing.
    pub async fn set_time_zone(
        &self, org: OrgId, name: &str, actor: &str,
    ) -> Result<Zone, LifecycleError> {
        let zone = Zone::parse(name).map_err(LifecycleError::InvalidTimeZone)?;
        let before = self.time_zone(org).await?;
        if before.name() == zone.name() {
            return Ok(zone);
        }
        match self.store().set_org_time_zone(org, zone.name()).await {
            Ok(()) => {}
            Err(crate::StoreError::NotFound) => return Err(LifecycleError::UnknownOrg),
            Err(e) => return Err(e.into()),
        }
        let entry =
            ActivityEntry::act(org, self.clock().now(), actor, "org.time_zone", zone.name())
                .with_detail(Some(format!("{} -> {}", before.name(), zone.name())));
        self.store().append_activity(vec![entry]).await?;
        Ok(zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  Acme  ").expect("name"), "Acme");
        assert!(check_name("   ").is_err());
        assert!(check_name("a\u{7}b").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
    }
}
