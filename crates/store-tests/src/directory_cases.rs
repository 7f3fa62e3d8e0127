//! Service tests of the directory rules (SPEC section 5) through [`ScimService`] and
//! [`Directory`], with a clock that only moves when told to, on every store: holds after SCIM
//! deletion and their purge, conflicts recorded once, merge and Auto Merge, disconnect and
//! reconnect, administrator collisions, domain enforcement, read-only imported attributes and
//! local properties outside `meta.version`.

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
use time::{Duration, OffsetDateTime, macros::datetime};

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
        &self,
        kind: ResourceKind,
        id: &str,
        operations: Value,
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

pub async fn scim_sees_only_synced_live_accounts(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let synced = w.scim_create("synced@example.com").await.expect("create");
    let manual = w.manual("manual@example.com").await;
    assert!(w.scim_get(&synced).await.is_ok());
    assert_scim(
        w.scim_get(&manual).await.expect_err("refused"),
        404,
        None,
        "not found",
    );
    assert_eq!(w.scim_filter("manual@example.com").await, 0);
    assert_eq!(w.scim_filter("synced@example.com").await, 1);
    let all = w
        .dir
        .list_accounts(
            w.org.id,
            &AccountQuery {
                count: 50,
                ..AccountQuery::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(all.total, 2);
    let only_manual = w
        .dir
        .list_accounts(
            w.org.id,
            &AccountQuery {
                source: Some(Source::Manual),
                count: 50,
                ..AccountQuery::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(only_manual.accounts.len(), 1);
    assert_eq!(only_manual.accounts[0].user_name(), "manual@example.com");
    let searched = w
        .dir
        .list_accounts(
            w.org.id,
            &AccountQuery {
                search: Some("SYNCED".into()),
                count: 50,
                ..AccountQuery::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(searched.total, 1);
    // A new SCIM account gets the business default role.
    let a = w.dir.get_account(w.org.id, &synced).await.expect("account");
    assert_eq!(a.local.roles, vec!["staff"]);
    assert_eq!(a.source, Source::Scim);
}

/// The total of an unfiltered list follows every change of what SCIM sees: creates, SCIM
/// deletions, purges, disconnecting, merging; manual accounts and other organisations never
/// count.
pub async fn unfiltered_totals_follow_every_change_of_what_scim_sees(store: Arc<dyn Store>) {
    let w = World::new(store.clone(), OrgKind::Business).await;
    let elsewhere = World::new(store, OrgKind::Business).await;
    elsewhere
        .scim_create("a@example.com")
        .await
        .expect("create");
    w.lc.generate_token(&w.org, "cli").await.expect("token");
    let users = |n: usize| (n as u64, n);
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(0));
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(
            w.scim_create(&format!("{name}@example.com"))
                .await
                .expect("create"),
        );
    }
    w.manual("manual@example.com").await;
    w.scim
        .create(
            w.org.id,
            ResourceKind::Group,
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G" }),
            Load::default(),
        )
        .await
        .expect("group");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(3));
    assert_eq!(w.scim_totals(ResourceKind::Group).await, users(1));
    w.scim
        .delete(
            w.org.id,
            ResourceKind::User,
            &ids[1],
            &Precondition::default(),
        )
        .await
        .expect("delete");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(2));
    w.clock.advance(Duration::days(31));
    w.dir.purge_retired().await.expect("purge");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(2));
    w.dir.disconnect(w.org.id, "cli").await.expect("disconnect");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(0));
    assert_eq!(w.scim_totals(ResourceKind::Group).await, users(0));
    w.lc.generate_token(&w.org, "cli").await.expect("new token");
    w.scim_create("a@example.com")
        .await
        .expect_err("a conflict");
    assert_eq!(w.dir.merge_all(w.org.id, "cli").await.expect("merge"), 1);
    w.scim_create("d@example.com").await.expect("create");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(2));
    assert_eq!(elsewhere.scim_totals(ResourceKind::User).await, users(1));
}

pub async fn school_accounts_default_to_student(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::School).await;
    let id = w.scim_create("pupil@school.example").await.expect("create");
    let a = w.dir.get_account(w.org.id, &id).await.expect("account");
    assert_eq!(a.local.roles, vec!["student"]);
}

pub async fn account_pages_visit_every_account_once(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    for i in 0..23 {
        w.scim_create(&format!("u{i:02}@example.com"))
            .await
            .expect("create");
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = w
            .dir
            .list_accounts(
                w.org.id,
                &AccountQuery {
                    after: after.clone(),
                    count: 5,
                    ..AccountQuery::default()
                },
            )
            .await
            .expect("page");
        assert_eq!(page.total, 23);
        seen.extend(page.accounts.iter().map(|a| a.user_name().to_owned()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 23);
    assert_eq!(sorted.len(), 23);
}

async fn hold_case(kind: OrgKind, days: i64, store: Arc<dyn Store>) {
    let w = World::new(store, kind).await;
    let id = w.scim_create("leaver@example.com").await.expect("create");
    w.scim
        .delete(w.org.id, ResourceKind::User, &id, &Precondition::default())
        .await
        .expect("delete");
    assert_scim(
        w.scim_get(&id).await.expect_err("refused"),
        404,
        None,
        "not found",
    );
    assert_eq!(w.scim_filter("leaver@example.com").await, 0);
    let a = w
        .dir
        .get_account(w.org.id, &id)
        .await
        .expect("still in the directory");
    assert_eq!(a.status(), Status::Deactivated);
    assert_eq!(a.hold_until, Some(T0 + Duration::days(days)));
    // A second DELETE finds nothing.
    let again = w
        .scim
        .delete(w.org.id, ResourceKind::User, &id, &Precondition::default())
        .await;
    assert_scim(again.expect_err("refused"), 404, None, "not found");

    w.clock.advance(Duration::days(days) - Duration::minutes(1));
    let refused = w
        .scim_create("LEAVER@example.com")
        .await
        .expect_err("refused");
    assert_scim(refused, 409, Some(ScimType::Uniqueness), "reserved until");
    w.clock.advance(Duration::minutes(2));
    let new_id = w
        .scim_create("LEAVER@example.com")
        .await
        .expect("free again");
    assert_ne!(new_id, id);
    assert!(
        w.dir.get_account(w.org.id, &id).await.is_err(),
        "old account purged"
    );
}

pub async fn deleted_business_user_name_is_held_30_days(store: Arc<dyn Store>) {
    hold_case(OrgKind::Business, 30, store).await;
}

pub async fn deleted_school_user_name_is_held_120_days(store: Arc<dyn Store>) {
    hold_case(OrgKind::School, 120, store).await;
}

pub async fn purge_job_removes_accounts_past_their_hold(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let old = w.scim_create("old@example.com").await.expect("create");
    w.scim
        .delete(w.org.id, ResourceKind::User, &old, &Precondition::default())
        .await
        .expect("delete");
    w.clock.advance(Duration::days(10));
    let recent = w.scim_create("recent@example.com").await.expect("create");
    w.scim
        .delete(
            w.org.id,
            ResourceKind::User,
            &recent,
            &Precondition::default(),
        )
        .await
        .expect("delete");
    w.clock.advance(Duration::days(21));
    w.dir.purge_retired().await.expect("purge");
    assert!(w.dir.get_account(w.org.id, &old).await.is_err());
    assert!(
        w.dir.get_account(w.org.id, &recent).await.is_ok(),
        "still held"
    );
    // Running it again changes nothing (another instance may run it too).
    w.dir.purge_retired().await.expect("purge again");
    assert!(w.dir.get_account(w.org.id, &recent).await.is_ok());
}

pub async fn deleted_user_leaves_its_groups(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let u = w.scim_create("member@example.com").await.expect("create");
    let g = w
        .scim
        .create(
            w.org.id,
            ResourceKind::Group,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Staff",
                    "members": [{"value": u}]}),
            Load::default(),
        )
        .await
        .expect("group");
    w.scim
        .delete(w.org.id, ResourceKind::User, &u, &Precondition::default())
        .await
        .expect("delete");
    let g = w
        .scim
        .get(
            w.org.id,
            ResourceKind::Group,
            &g.id.to_string(),
            Load { relations: true },
        )
        .await
        .expect("group");
    assert_eq!(g.members.as_deref().map(<[_]>::len), Some(0));
    assert!(g.version > 1, "the group changed");
    // Nor can it be added back while held.
    let add = w
        .patch(
            ResourceKind::Group,
            &g.id.to_string(),
            json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
        )
        .await;
    assert_scim(
        add.expect_err("refused"),
        400,
        Some(ScimType::InvalidValue),
        "does not exist",
    );
}

pub async fn administrator_sign_in_is_refused_and_logged(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    w.lc.add_admin(
        &w.org,
        "Boss@Example.com",
        AdminRole::Administrator,
        None,
        "cli",
    )
    .await
    .expect("admin");
    let e = w
        .scim_create("boss@example.com")
        .await
        .expect_err("refused");
    assert_scim(e, 409, Some(ScimType::Uniqueness), "administrator");
    assert_eq!(w.scim_filter("boss@example.com").await, 0);
    assert!(w.actions().await.contains(&"scim.refused".to_owned()));
    // A rename onto it is refused too.
    let id = w.scim_create("worker@example.com").await.expect("create");
    let rename = w
        .patch(
            ResourceKind::User,
            &id,
            json!([{"op": "replace", "path": "userName", "value": "BOSS@example.com"}]),
        )
        .await;
    assert_scim(
        rename.expect_err("refused"),
        409,
        Some(ScimType::Uniqueness),
        "administrator",
    );
}

pub async fn conflict_is_recorded_once_and_merged(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let manual = w.manual("taken@example.com").await;
    w.dir
        .edit_account(
            w.org.id,
            "cli",
            &manual,
            AccountEdit {
                local: Some(LocalProps {
                    roles: vec!["manager".into()],
                    locations: vec!["Lyon".into()],
                    ..LocalProps::default()
                }),
                ..AccountEdit::default()
            },
        )
        .await
        .expect("local edit");
    for _ in 0..3 {
        let e = w
            .scim_create("Taken@example.com")
            .await
            .expect_err("refused");
        assert_scim(e, 409, Some(ScimType::Uniqueness), "Conflicts");
    }
    let conflicts = w.dir.list_conflicts(w.org.id).await.expect("conflicts");
    assert_eq!(conflicts.len(), 1, "recorded once, not once per retry");
    assert_eq!(conflicts[0].attempts, 3);
    assert_eq!(conflicts[0].account_id.to_string(), manual);
    let recorded = w
        .actions()
        .await
        .iter()
        .filter(|a| *a == "conflict.record")
        .count();
    assert_eq!(recorded, 1);
    let csv = w.dir.conflicts_csv(w.org.id).await.expect("csv");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("Taken@example.com"), "{csv}");

    let merged = w
        .dir
        .merge_conflict(w.org.id, "cli", "TAKEN@example.com")
        .await
        .expect("merge");
    let MergeOutcome::Merged(a) = merged else {
        panic!("expected a merge")
    };
    assert_eq!(a.source, Source::Scim);
    assert_eq!(
        a.user_name(),
        "Taken@example.com",
        "the identity provider's document"
    );
    assert_eq!(a.local.roles, vec!["manager"], "local properties kept");
    assert!(
        w.dir
            .list_conflicts(w.org.id)
            .await
            .expect("list")
            .is_empty()
    );
    // The identity provider's next cycle finds it and provisioning proceeds.
    assert_eq!(w.scim_filter("taken@example.com").await, 1);
    let patched = w
        .patch(
            ResourceKind::User,
            &manual,
            json!([{"op": "replace", "path": "displayName", "value": "Taken"}]),
        )
        .await
        .expect("patch after merge");
    assert_eq!(patched.doc["displayName"], "Taken");
}

pub async fn auto_merge_takes_over_the_existing_account(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let manual = w.manual("existing@example.com").await;
    assert!(!w.dir.auto_merge(w.org.id).await.expect("setting"));
    w.dir
        .set_auto_merge(w.org.id, "cli", true)
        .await
        .expect("auto merge on");
    let id = w.scim_create("existing@example.com").await.expect("201");
    assert_eq!(id, manual, "the existing account, taken over");
    let a = w.dir.get_account(w.org.id, &id).await.expect("account");
    assert_eq!(a.source, Source::Scim);
    assert!(
        w.dir
            .list_conflicts(w.org.id)
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn imported_attributes_are_read_only_local_properties_are_not(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::School).await;
    let id = w
        .scim_create("student@school.example")
        .await
        .expect("create");
    let before = w
        .scim
        .get(w.org.id, ResourceKind::User, &id, Load::default())
        .await
        .expect("get");
    let mut attributes = Map::new();
    attributes.insert("displayName".into(), json!("Renamed"));
    let refused = w
        .dir
        .edit_account(
            w.org.id,
            "cli",
            &id,
            AccountEdit {
                attributes,
                ..AccountEdit::default()
            },
        )
        .await
        .expect_err("refused");
    assert!(matches!(refused, DirectoryError::ReadOnly(ref a) if a == "displayName"));
    assert!(refused.to_string().contains("directory sync"));
    let edited = w
        .dir
        .edit_account(
            w.org.id,
            "cli",
            &id,
            AccountEdit {
                local: Some(LocalProps {
                    roles: vec!["student".into()],
                    locations: vec!["North Campus".into()],
                    grade_level: Some("7".into()),
                    sis_username: Some("s1234".into()),
                }),
                ..AccountEdit::default()
            },
        )
        .await
        .expect("local edit");
    assert_eq!(edited.local.grade_level.as_deref(), Some("7"));
    let after = w
        .scim
        .get(w.org.id, ResourceKind::User, &id, Load::default())
        .await
        .expect("get");
    assert_eq!(
        after.version, before.version,
        "local properties are not SCIM"
    );
    assert_eq!(after.doc, before.doc);
    let text = after.doc.to_string();
    assert!(!text.contains("North Campus") && !text.contains("s1234"));
}

pub async fn disconnect_releases_accounts_and_reconnect_surfaces_conflicts(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    w.lc.generate_token(&w.org, "cli").await.expect("token");
    let id = w.scim_create("sync@example.com").await.expect("create");
    let (revoked, released) = w.dir.disconnect(w.org.id, "cli").await.expect("disconnect");
    assert_eq!(revoked, 1);
    assert_eq!(released, 1);
    assert_eq!(
        w.lc.connection(w.org.id).await.expect("state").state,
        directory::store::ConnectionState::Disconnected
    );
    let a = w.dir.get_account(w.org.id, &id).await.expect("kept");
    assert_eq!(a.source, Source::Manual);
    assert_scim(
        w.scim_get(&id).await.expect_err("refused"),
        404,
        None,
        "not found",
    );
    // Now editable by administrators.
    let mut attributes = Map::new();
    attributes.insert("displayName".into(), json!("Edited by hand"));
    w.dir
        .edit_account(
            w.org.id,
            "cli",
            &id,
            AccountEdit {
                attributes,
                ..AccountEdit::default()
            },
        )
        .await
        .expect("edit after disconnect");
    // Reconnect: the earlier connection's account is a conflict.
    w.lc.generate_token(&w.org, "cli").await.expect("new token");
    let e = w
        .scim_create("sync@example.com")
        .await
        .expect_err("refused");
    assert_scim(
        e,
        409,
        Some(ScimType::Uniqueness),
        "directory sync does not manage",
    );
    assert_eq!(
        w.dir.merge_all(w.org.id, "cli").await.expect("merge all"),
        1
    );
    assert_eq!(w.scim_filter("sync@example.com").await, 1);
    let all = w
        .dir
        .list_accounts(
            w.org.id,
            &AccountQuery {
                count: 10,
                ..AccountQuery::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(all.total, 1, "no duplicate, nothing lost");
}

#[derive(Debug)]
struct FakeDns(TxtOutcome);

#[async_trait]
impl TxtLookup for FakeDns {
    async fn lookup(&self, _domain: &str, _value: &str) -> Result<TxtOutcome, String> {
        Ok(self.0.clone())
    }
}

pub async fn verified_domains_bound_user_names(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    w.dir
        .add_domain(
            w.org.id,
            "cli",
            "example.edu",
            "scimd-domain-verification=x".into(),
        )
        .await
        .expect("add");
    // Unverified: not enforced yet.
    w.scim_create("before@elsewhere.org")
        .await
        .expect("no verified domain yet");
    let missing = w
        .dir
        .verify_domain(
            w.org.id,
            "cli",
            "example.edu",
            &FakeDns(TxtOutcome::Missing {
                seen: vec![
                    "v=spf1 -all".into(),
                    "scimd-domain-verification=stale".into(),
                ],
            }),
        )
        .await
        .expect_err("refused");
    // A value of ours is repeated; other records of the name are only counted.
    assert!(
        matches!(missing, DirectoryError::Dns(ref m)
            if m.contains("scimd-domain-verification=stale")
                && m.contains("1 other TXT record")
                && !m.contains("v=spf1")),
        "{missing:?}"
    );
    let d = w
        .dir
        .verify_domain(w.org.id, "cli", "EXAMPLE.edu", &FakeDns(TxtOutcome::Found))
        .await
        .expect("verified");
    assert_eq!(d.verified_by.as_deref(), Some("dns"));
    let e = w
        .scim_create("after@elsewhere.org")
        .await
        .expect_err("refused");
    assert_scim(e, 400, Some(ScimType::InvalidValue), "elsewhere.org");
    w.scim_create("pupil@Example.EDU")
        .await
        .expect("inside the domain");
    // An operator can force a second one.
    w.dir
        .add_domain(
            w.org.id,
            "cli",
            "elsewhere.org",
            "scimd-domain-verification=y".into(),
        )
        .await
        .expect("add");
    w.dir
        .force_verify_domain(w.org.id, "cli", "elsewhere.org")
        .await
        .expect("forced");
    w.scim_create("after@elsewhere.org")
        .await
        .expect("now allowed");
    let dup = w
        .dir
        .add_domain(w.org.id, "cli", "example.edu", "z".into())
        .await
        .expect_err("refused");
    assert!(matches!(dup, DirectoryError::Conflict(_)));
}

pub async fn directory_is_isolated_between_organisations(store: Arc<dyn Store>) {
    let a = World::new(store.clone(), OrgKind::Business).await;
    let b = World::new(store, OrgKind::Business).await;
    let id = a.manual("shared@example.com").await;
    assert!(b.dir.get_account(b.org.id, &id).await.is_err());
    b.scim_create("shared@example.com")
        .await
        .expect("another org's namespace");
    assert!(
        b.dir
            .list_conflicts(b.org.id)
            .await
            .expect("list")
            .is_empty()
    );
    let mut attributes = Map::new();
    attributes.insert("displayName".into(), json!("x"));
    assert!(
        b.dir
            .edit_account(
                b.org.id,
                "cli",
                &id,
                AccountEdit {
                    attributes,
                    ..AccountEdit::default()
                }
            )
            .await
            .is_err()
    );
}

pub async fn sign_in_locks_an_address_out_after_repeated_failures(store: Arc<dyn Store>) {
    use directory::session::{FAILURE_WINDOW, LOCK_DURATION, MAX_FAILURES, SessionError, Sessions};
    let w = World::new(store.clone(), OrgKind::Business).await;
    let sessions = Sessions::new(store.clone(), w.clock.clone());
    w.lc.add_admin(
        &w.org,
        "ann@example.com",
        AdminRole::Administrator,
        Some("correct horse battery"),
        "cli",
    )
    .await
    .expect("admin");
    // Failures spread beyond the window never lock.
    for _ in 0..MAX_FAILURES {
        let e = sessions
            .sign_in(w.org.id, "ann@example.com", "wrong")
            .await
            .expect_err("wrong password");
        assert!(matches!(e, SessionError::BadCredentials));
        w.clock.advance(FAILURE_WINDOW / 3);
    }
    sessions
        .sign_in(w.org.id, "ann@example.com", "correct horse battery")
        .await
        .expect("not locked");
    // MAX_FAILURES within the window lock the address, even for the right password.
    for _ in 0..MAX_FAILURES {
        sessions
            .sign_in(w.org.id, "ANN@example.com", "wrong")
            .await
            .expect_err("wrong password");
    }
    let e = sessions
        .sign_in(w.org.id, "ann@example.com", "correct horse battery")
        .await
        .expect_err("locked");
    assert!(matches!(e, SessionError::LockedOut(_)), "{e:?}");
    // Unknown addresses are counted like known ones; other organisations are unaffected.
    for _ in 0..MAX_FAILURES {
        sessions
            .sign_in(w.org.id, "nobody@example.com", "wrong")
            .await
            .expect_err("unknown");
    }
    assert!(matches!(
        sessions
            .sign_in(w.org.id, "nobody@example.com", "wrong")
            .await,
        Err(SessionError::LockedOut(_))
    ));
    let actions = w.actions().await;
    assert!(actions.contains(&"signin.lockout".to_owned()));
    assert!(actions.contains(&"signin.locked".to_owned()));
    w.clock.advance(LOCK_DURATION);
    sessions
        .sign_in(w.org.id, "ann@example.com", "correct horse battery")
        .await
        .expect("lock over");
}

pub async fn setup_link_creates_the_first_administrator_once(store: Arc<dyn Store>) {
    use directory::setup::{LINK_LIFETIME, Setup, SetupError};
    let w = World::new(store.clone(), OrgKind::School).await;
    let other = World::new(store.clone(), OrgKind::Business).await;
    let setup = Setup::new(store.clone(), w.clock.clone());
    assert!(setup.needs_first_admin(w.org.id).await.expect("read"));
    let secret = setup.create_link(w.org.id).await.expect("link");
    setup.check(w.org.id, &secret).await.expect("valid");
    assert!(matches!(
        setup.check(other.org.id, &secret).await,
        Err(SetupError::InvalidLink)
    ));
    // Bad input does not spend the link.
    assert!(matches!(
        setup
            .redeem(&w.org, &secret, "not-an-address", "long enough password")
            .await,
        Err(SetupError::Lifecycle(_))
    ));
    assert!(matches!(
        setup
            .redeem(&w.org, &secret, "ann@example.com", "short")
            .await,
        Err(SetupError::Password(_))
    ));
    let admin = setup
        .redeem(&w.org, &secret, "ann@example.com", "long enough password")
        .await
        .expect("redeem");
    assert_eq!(admin.role, AdminRole::Administrator);
    assert!(
        admin
            .password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$"))
    );
    assert!(matches!(
        setup
            .redeem(&w.org, &secret, "eve@example.com", "long enough password")
            .await,
        Err(SetupError::InvalidLink)
    ));
    // A fresh link is refused once the organisation has an administrator.
    let again = setup.create_link(w.org.id).await.expect("link");
    assert!(matches!(
        setup.check(w.org.id, &again).await,
        Err(SetupError::AlreadySetUp)
    ));
    // Links expire.
    let setup_other = Setup::new(store.clone(), other.clock.clone());
    let late = setup_other.create_link(other.org.id).await.expect("link");
    other.clock.advance(LINK_LIFETIME);
    assert!(matches!(
        setup_other.check(other.org.id, &late).await,
        Err(SetupError::InvalidLink)
    ));
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
            deleted_user_leaves_its_groups,
            administrator_sign_in_is_refused_and_logged,
            conflict_is_recorded_once_and_merged,
            auto_merge_takes_over_the_existing_account,
            imported_attributes_are_read_only_local_properties_are_not,
            disconnect_releases_accounts_and_reconnect_surfaces_conflicts,
            verified_domains_bound_user_names,
            directory_is_isolated_between_organisations,
            sign_in_locks_an_address_out_after_repeated_failures,
            setup_link_creates_the_first_administrator_once,
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
