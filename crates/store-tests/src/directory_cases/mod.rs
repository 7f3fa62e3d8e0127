//! Service tests of the directory rules (docs/contract.md, "Directory semantics") through [`ScimService`] and
//! [`Directory`], with a clock that only moves when told to, on every store: holds after SCIM
//! deletion and their purge, conflicts recorded once, merge and Auto Merge, disconnect and
//! reconnect, administrator collisions, domain enforcement, read-only imported attributes and
//! local properties outside `meta.version`.

mod admins;
mod conflicts;
mod domains;
mod groups;
mod holds;
mod isolation;
mod roles;
mod scim_view;
mod search;

pub use admins::*;
pub use conflicts::*;
pub use domains::*;
pub use groups::*;
pub use holds::*;
pub use isolation::*;
pub use roles::*;
pub use scim_view::*;
pub use search::*;

use async_trait::async_trait;
use directory::accounts::{
    AccountEdit, Directory, DirectoryError, MergeOutcome, TxtLookup, TxtOutcome,
};
use directory::clock::FixedClock;
use directory::lifecycle::Lifecycle;
use directory::scim::{Precondition, ScimService};
use directory::store::{AccountQuery, AdminRole, Load, LocalProps, Source, Status};
use directory::{Clock, OrgId, OrgKind, Organisation, Store};
use scim_core::ScimType;
use scim_core::discovery::ServiceConfig;
use scim_core::error::ScimError;
use scim_core::messages::ListParams;
use scim_core::schema::ResourceKind;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-03-02 08:00 UTC);

struct World {
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
    scim: ScimService,
    dir: Directory,
    lc: Lifecycle,
    org: Organisation,
}

impl World {
    async fn new(store: Arc<dyn Store>, kind: OrgKind) -> World {
        let clock = Arc::new(FixedClock::new(T0));
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let org = Organisation {
            id: OrgId::new(),
            name: format!("org {}", uuid::Uuid::new_v4()),
            kind,
            created: T0,
        };
        store.create_org(&org).await.expect("create org");
        World {
            scim: ScimService::new(store.clone(), dyn_clock.clone(), ServiceConfig::default()),
            dir: Directory::new(store.clone(), dyn_clock.clone()),
            lc: Lifecycle::new(store.clone(), dyn_clock),
            store,
            clock,
            org,
        }
    }

    fn user(name: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "name": { "givenName": "Ada", "familyName": "Lovelace" },
            "active": true
        })
    }

    async fn scim_create(&self, name: &str) -> Result<String, ScimError> {
        self.scim
            .create(
                self.org.id,
                ResourceKind::User,
                &Self::user(name),
                Load::default(),
            )
            .await
            .map(|r| r.id.to_string())
    }

    /// A SCIM PATCH with these operations.
    async fn patch(
        &self, kind: ResourceKind, id: &str, operations: Value,
    ) -> Result<directory::store::StoredResource, ScimError> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations,
        });
        self.scim
            .patch(
                self.org.id,
                kind,
                id,
                &body,
                &Precondition::default(),
                Load::default(),
            )
            .await
    }

    async fn scim_get(&self, id: &str) -> Result<Value, ScimError> {
        self.scim
            .get(self.org.id, ResourceKind::User, id, Load::default())
            .await
            .map(|r| r.doc)
    }

    async fn scim_filter(&self, name: &str) -> u64 {
        let params = ListParams {
            filter: Some(format!("userName eq \"{name}\"")),
            ..ListParams::default()
        };
        let prepared = self
            .scim
            .prepare_list(ResourceKind::User, &params)
            .expect("valid list");
        self.scim
            .list(self.org.id, ResourceKind::User, &prepared.query)
            .await
            .expect("list")
            .total
    }

    /// The `totalResults` an unfiltered page of one reports, and how many resources a page of
    /// all of them holds.
    async fn scim_totals(&self, kind: ResourceKind) -> (u64, usize) {
        let page = |count: u64| {
            let params = ListParams {
                count: Some(count),
                ..ListParams::default()
            };
            let prepared = self.scim.prepare_list(kind, &params).expect("valid list");
            async move {
                self.scim
                    .list(self.org.id, kind, &prepared.query)
                    .await
                    .expect("list")
            }
        };
        (page(1).await.total, page(1000).await.resources.len())
    }

    async fn manual(&self, name: &str) -> String {
        self.dir
            .create_account(self.org.id, "cli", &Self::user(name), None)
            .await
            .expect("manual account")
            .resource
            .id
            .to_string()
    }

    async fn actions(&self) -> Vec<String> {
        self.store
            .list_activity(Some(self.org.id), None, 10_000)
            .await
            .expect("activity")
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

fn assert_scim(e: ScimError, status: u16, scim_type: Option<ScimType>, words: &str) {
    assert_eq!(e.status, status, "{}", e.detail);
    assert_eq!(e.scim_type, scim_type, "{}", e.detail);
    assert!(e.detail.contains(words), "'{}' lacks '{words}'", e.detail);
}

#[derive(Debug)]
struct FakeDns(TxtOutcome);

#[async_trait]
impl TxtLookup for FakeDns {
    async fn lookup(&self, _domain: &str, _value: &str) -> Result<TxtOutcome, String> {
        Ok(self.0.clone())
    }
}

/// Instantiates the directory service cases for one backend, like [`crate::conformance!`].
#[macro_export]
macro_rules! directory_conformance {
    ($make:path) => {
        $crate::directory_conformance!(@cases $make;
            scim_sees_only_synced_live_accounts,
            unfiltered_totals_follow_every_change_of_what_scim_sees,
            school_accounts_default_to_student,
            account_pages_visit_every_account_once,
            deleted_business_user_name_is_held_30_days,
            deleted_school_user_name_is_held_120_days,
            purge_job_removes_accounts_past_their_hold,
            an_administrator_releases_a_held_user_name,
            deleted_user_leaves_its_groups,
            administrator_sign_in_is_refused_and_logged,
            conflict_is_recorded_once_and_merged,
            auto_merge_takes_over_the_existing_account,
            imported_attributes_are_read_only_local_properties_are_not,
            disconnect_releases_accounts_and_reconnect_surfaces_conflicts,
            verified_domains_bound_user_names,
            directory_is_isolated_between_organisations,
            sign_in_locks_an_address_out_after_repeated_failures,
            one_password_in_several_organisations_asks_which,
            reset_and_invite_links_set_a_password_once,
            setup_link_creates_the_first_administrator_once,
            last_administrator_stays_and_a_lock_out_is_lifted,
            organisation_kind_follows_accounts_and_site_managers,
            account_search_finds_substrings_and_prefixes_of_each_field,
            account_search_never_finds_another_organisations_accounts,
            account_search_stays_exact_after_every_write,
            account_search_counts_every_match_on_every_page,
            group_members_page_by_keyset_and_are_found,
            manual_groups_are_made_filled_and_deleted_by_administrators,
            rules_give_roles_from_attributes_and_group_membership,
            a_hand_set_role_survives_rules_and_a_rule_change_reapplies_to_everyone,
            unknown_roles_are_refused_and_change_nothing,
            bulk_assignment_sets_hand_set_roles_or_nothing,
            role_rules_stay_in_their_organisation,
            concurrent_scim_writes_leave_roles_as_the_rules_say,
            member_of_rules_follow_manual_groups_too,
        );
    };
    (@cases $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $make().await;
                $crate::directory_cases::$name(store).await;
            }
        )*
    };
}
