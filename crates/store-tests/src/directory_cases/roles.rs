//! Roles by rule (docs/contract.md, "Roles and rules") through [`ScimService`], [`Directory`]
//! and [`Roles`], on every store: rules on attributes and group membership applied on every
//! SCIM write, re-applied to everyone when a rule changes, provenance, hand-set roles kept,
//! the catalogue enforced, bulk assignment, one `user.updated` per account changed, and
//! concurrent SCIM writes that leave every account as the rules say.

use super::*;
use directory::roles::{APPLY_BATCH, Roles, RuleInput};
use directory::store::{EventQuery, EventType};

fn roles_of(w: &World) -> Roles {
    let clock: Arc<dyn Clock> = w.clock.clone();
    Roles::new(w.store.clone(), clock)
}

fn rule(name: &str, attribute: &str, op: &str, value: &str, roles: &[&str]) -> RuleInput {
    RuleInput {
        name: name.into(),
        attribute: attribute.into(),
        op: op.into(),
        value: value.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        locations: Vec::new(),
    }
}

async fn local(w: &World, id: &str) -> LocalProps {
    w.dir
        .get_account(w.org.id, id)
        .await
        .expect("account")
        .local
}

async fn roles(w: &World, id: &str) -> Vec<String> {
    let mut r = local(w, id).await.roles;
    r.sort();
    r
}

async fn create_user(w: &World, body: Value) -> String {
    w.scim
        .create(w.org.id, ResourceKind::User, &body, Load::default())
        .await
        .expect("user")
        .id
        .to_string()
}

async fn create_group(w: &World, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    w.scim
        .create(
            w.org.id,
            ResourceKind::Group,
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                     "displayName": name, "members": members }),
            Load::default(),
        )
        .await
        .expect("group")
        .id
        .to_string()
}

/// The organisation's events after sequence `after`, every page of them.
async fn events_after(w: &World, mut after: i64) -> Vec<directory::store::Event> {
    let mut out = Vec::new();
    loop {
        let page = w
            .store
            .list_events(
                w.org.id,
                &EventQuery {
                    after,
                    limit: 500,
                    types: Vec::new(),
                },
            )
            .await
            .expect("events");
        let Some(last) = page.last() else {
            return out;
        };
        after = last.sequence;
        out.extend(page);
    }
}

async fn last_seq(w: &World) -> i64 {
    w.store
        .last_event_sequence(w.org.id)
        .await
        .expect("sequence")
}

pub async fn rules_give_roles_from_attributes_and_group_membership(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::School).await;
    let r = roles_of(&w);
    let (teachers, _) = r
        .create_rule(
            w.org.id,
            "cli",
            &rule("Teachers", "", "memberOf", "teachers", &["teacher"]),
        )
        .await
        .expect("rule");
    let mut heads = rule("Heads", "title", "startsWith", "head of", &["staff"]);
    heads.locations = vec!["Main campus".into()];
    r.create_rule(w.org.id, "cli", &heads).await.expect("rule");
    r.create_rule(
        w.org.id,
        "cli",
        &rule("Science", "department", "equals", "SCIENCE", &["teacher"]),
    )
    .await
    .expect("rule");

    // Created with a title: the rule applies from the first write; the default role goes.
    let mut body = World::user("head@x.example");
    body["title"] = json!("Head of Maths");
    let head = create_user(&w, body).await;
    let l = local(&w, &head).await;
    assert_eq!(l.roles, vec!["staff"]);
    assert_eq!(l.locations, vec!["Main campus"]);
    let src = format!("rule:{}", r.rules(w.org.id).await.expect("rules")[1].id);
    assert_eq!(l.role_sources["staff"], vec![src.clone()]);
    assert_eq!(l.location_sources["Main campus"], vec![src]);

    // The enterprise department, equality ignoring case.
    let mut body = World::user("sci@x.example");
    body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({ "department": "Science" });
    let sci = create_user(&w, body).await;
    assert_eq!(roles(&w, &sci).await, vec!["teacher"]);

    // Nothing matches: the kind's default, marked so.
    let plain = w.scim_create("plain@x.example").await.expect("user");
    let l = local(&w, &plain).await;
    assert_eq!(l.roles, vec!["student"]);
    assert_eq!(l.role_sources["student"], vec!["default"]);

    // Joining the group gives the role; leaving takes it away; the default comes back.
    let group = create_group(&w, "Teachers", &[&plain]).await;
    let l = local(&w, &plain).await;
    assert_eq!(l.roles, vec!["teacher"]);
    assert_eq!(
        l.role_sources["teacher"],
        vec![format!("rule:{}", teachers.id)]
    );
    w.patch(
        ResourceKind::Group,
        &group,
        json!([{ "op": "remove", "path": format!("members[value eq \"{plain}\"]") }]),
    )
    .await
    .expect("remove member");
    assert_eq!(roles(&w, &plain).await, vec!["student"]);
    w.patch(
        ResourceKind::Group,
        &group,
        json!([{ "op": "add", "path": "members", "value": [{ "value": plain }] }]),
    )
    .await
    .expect("add member");
    assert_eq!(roles(&w, &plain).await, vec!["teacher"]);
    // A replacement of the whole member list, then a rename, then a delete.
    w.patch(
        ResourceKind::Group,
        &group,
        json!([{ "op": "replace", "path": "members", "value": [{ "value": head }] }]),
    )
    .await
    .expect("replace members");
    assert_eq!(roles(&w, &plain).await, vec!["student"]);
    assert_eq!(roles(&w, &head).await, vec!["staff", "teacher"]);
    w.patch(
        ResourceKind::Group,
        &group,
        json!([{ "op": "replace", "path": "displayName", "value": "Faculty" }]),
    )
    .await
    .expect("rename");
    assert_eq!(roles(&w, &head).await, vec!["staff"]);
    w.patch(
        ResourceKind::Group,
        &group,
        json!([{ "op": "replace", "path": "displayName", "value": "TEACHERS" }]),
    )
    .await
    .expect("rename back");
    assert_eq!(roles(&w, &head).await, vec!["staff", "teacher"]);
    // A PUT replaces the members: who left and who joined both follow.
    w.scim
        .replace(
            w.org.id,
            ResourceKind::Group,
            &group,
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                     "displayName": "Teachers", "members": [{ "value": plain }] }),
            &Precondition::default(),
            Load::default(),
        )
        .await
        .expect("replace group");
    assert_eq!(roles(&w, &head).await, vec!["staff"]);
    assert_eq!(roles(&w, &plain).await, vec!["teacher"]);
    w.scim
        .delete(
            w.org.id,
            ResourceKind::Group,
            &group,
            &Precondition::default(),
        )
        .await
        .expect("delete group");
    assert_eq!(roles(&w, &plain).await, vec!["student"]);

    // A SCIM PATCH of the title takes the rule's role and location away.
    w.patch(
        ResourceKind::User,
        &head,
        json!([{ "op": "replace", "path": "title", "value": "Teacher" }]),
    )
    .await
    .expect("patch title");
    let l = local(&w, &head).await;
    assert_eq!(l.roles, vec!["student"]);
    assert!(l.locations.is_empty());
}

pub async fn a_hand_set_role_survives_rules_and_a_rule_change_reapplies_to_everyone(
    store: Arc<dyn Store>,
) {
    let w = World::new(store, OrgKind::School).await;
    let r = roles_of(&w);
    // More accounts than one batch holds, so the re-application takes several.
    let n = APPLY_BATCH as usize + 3;
    let mut ids = Vec::new();
    for i in 0..n {
        let mut body = World::user(&format!("u{i}@x.example"));
        body["userType"] = json!(if i % 2 == 0 { "Faculty" } else { "Pupil" });
        ids.push(create_user(&w, body).await);
    }
    let before = last_seq(&w).await;
    let (faculty, applied) = r
        .create_rule(
            w.org.id,
            "cli",
            &rule("Faculty", "employeeType", "equals", "faculty", &["teacher"]),
        )
        .await
        .expect("rule");
    assert_eq!(applied.accounts, n as u64);
    let even = n.div_ceil(2);
    assert_eq!(applied.changed, even as u64);
    // One user.updated per account whose roles changed, each with the new roles.
    let new = events_after(&w, before).await;
    assert_eq!(new.len(), even);
    assert!(
        new.iter()
            .all(|e| e.kind == EventType::UserUpdated && e.data["roles"] == json!(["teacher"]))
    );
    assert_eq!(roles(&w, &ids[0]).await, vec!["teacher"]);
    assert_eq!(roles(&w, &ids[1]).await, vec!["student"]);

    // A hand-set role on an odd account, by the account edit (the catalogue's spelling).
    let edit = AccountEdit {
        local: Some(LocalProps {
            roles: vec!["student".into(), "Staff".into()],
            ..LocalProps::default()
        }),
        ..AccountEdit::default()
    };
    w.dir
        .edit_account(w.org.id, "admin", &ids[1], edit)
        .await
        .expect("hand-set role");
    let l = local(&w, &ids[1]).await;
    assert_eq!(
        l.roles,
        vec!["staff"],
        "the default goes once a role is given"
    );
    assert_eq!(l.role_sources["staff"], vec!["manual"]);
    // And by hand on an even account that a rule gives teacher already.
    r.assign(w.org.id, "admin", &[ids[0].clone()], "teacher", true)
        .await
        .expect("assign");
    let l = local(&w, &ids[0]).await;
    assert_eq!(l.role_sources["teacher"].len(), 2);

    // The rule now matches the odd accounts: every account changes, the hand-set roles stay.
    let before = last_seq(&w).await;
    let (_, applied) = r
        .update_rule(
            w.org.id,
            "cli",
            &faculty.id.to_string(),
            &rule("Faculty", "userType", "equals", "pupil", &["teacher"]),
        )
        .await
        .expect("edit rule");
    assert_eq!(
        applied.changed,
        (n - 1) as u64,
        "all but the hand-set teacher"
    );
    assert_eq!(events_after(&w, before).await.len(), n - 1);
    assert_eq!(roles(&w, &ids[0]).await, vec!["teacher"], "kept by hand");
    assert_eq!(roles(&w, &ids[1]).await, vec!["staff", "teacher"]);
    assert_eq!(roles(&w, &ids[2]).await, vec!["student"]);
    // Applying again changes nothing and appends nothing.
    let before = last_seq(&w).await;
    let again = r.apply_all(w.org.id, "cli").await.expect("apply");
    assert_eq!(again.changed, 0);
    assert_eq!(last_seq(&w).await, before);

    // A role a rule gives cannot be taken away by hand; the refusal names the rule.
    let edit = AccountEdit {
        local: Some(LocalProps {
            roles: vec!["staff".into()],
            ..LocalProps::default()
        }),
        ..AccountEdit::default()
    };
    match w.dir.edit_account(w.org.id, "admin", &ids[1], edit).await {
        Err(DirectoryError::Invalid(m)) => assert!(m.contains("Faculty"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Deleting the rule: what it alone gave goes.
    r.delete_rule(w.org.id, "cli", &faculty.id.to_string())
        .await
        .expect("delete rule");
    assert_eq!(roles(&w, &ids[0]).await, vec!["teacher"]);
    assert_eq!(roles(&w, &ids[1]).await, vec!["staff"]);
    assert_eq!(roles(&w, &ids[3]).await, vec!["student"]);
    let actions = w.actions().await;
    for a in [
        "role-rule.create",
        "role-rule.edit",
        "role-rule.delete",
        "roles.apply",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} logged: {actions:?}");
    }
}

pub async fn unknown_roles_are_refused_and_change_nothing(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let r = roles_of(&w);
    let id = w.scim_create("a@x.example").await.expect("user");
    let kept = local(&w, &id).await;
    let unknown = |e: Result<_, DirectoryError>| match e {
        Err(DirectoryError::Invalid(m)) => {
            assert!(m.contains("not a role of this organisation"), "{m}")
        }
        Err(other) => panic!("expected a refusal, got {other:?}"),
        Ok(_) => panic!("expected a refusal"),
    };
    unknown(
        r.create_rule(
            w.org.id,
            "cli",
            &rule("Pilots", "title", "equals", "pilot", &["pilot"]),
        )
        .await
        .map(|_| ()),
    );
    assert!(r.rules(w.org.id).await.expect("rules").is_empty());
    let edit = AccountEdit {
        local: Some(LocalProps {
            roles: vec!["pilot".into()],
            ..LocalProps::default()
        }),
        ..AccountEdit::default()
    };
    unknown(
        w.dir
            .edit_account(w.org.id, "admin", &id, edit.clone())
            .await
            .map(|_| ()),
    );
    unknown(
        r.assign(w.org.id, "admin", std::slice::from_ref(&id), "pilot", true)
            .await
            .map(|_| ()),
    );
    assert_eq!(local(&w, &id).await, kept);

    // Bad rules: each a clear refusal.
    for bad in [
        rule("", "title", "equals", "x", &["staff"]),
        rule("x", "", "equals", "x", &["staff"]),
        rule("x", "title", "contains", "x", &["staff"]),
        rule("x", "title", "equals", " ", &["staff"]),
        rule("x", "title", "equals", "x", &[]),
        rule("x", "ti tle", "equals", "x", &["staff"]),
    ] {
        assert!(matches!(
            r.create_rule(w.org.id, "cli", &bad).await,
            Err(DirectoryError::Invalid(_))
        ));
    }
    assert!(r.rules(w.org.id).await.expect("rules").is_empty());

    // Added to the catalogue, the role is accepted everywhere (any case, stored as added).
    r.add_role(w.org.id, "cli", "Pilot")
        .await
        .expect("add role");
    assert!(matches!(
        r.add_role(w.org.id, "cli", "pilot").await,
        Err(DirectoryError::Conflict("role", _))
    ));
    assert!(matches!(
        r.add_role(w.org.id, "cli", "staff").await,
        Err(DirectoryError::Conflict("role", _))
    ));
    let cat = r.catalogue(w.org.id).await.expect("catalogue");
    assert_eq!(cat.own, vec!["Pilot"]);
    assert_eq!(cat.defaults[0], "staff");
    w.dir
        .edit_account(w.org.id, "admin", &id, edit)
        .await
        .expect("hand-set role");
    assert_eq!(roles(&w, &id).await, vec!["Pilot"]);
    let (pilots, _) = r
        .create_rule(
            w.org.id,
            "cli",
            &rule("Pilots", "title", "equals", "pilot", &["PILOT"]),
        )
        .await
        .expect("rule");
    assert_eq!(pilots.roles, vec!["Pilot"]);
    // A role a rule gives cannot leave the catalogue; a kind's role never does.
    assert!(matches!(
        r.remove_role(w.org.id, "cli", "pilot").await,
        Err(DirectoryError::Conflict("role", _))
    ));
    assert!(matches!(
        r.remove_role(w.org.id, "cli", "staff").await,
        Err(DirectoryError::Invalid(_))
    ));
    r.delete_rule(w.org.id, "cli", &pilots.id.to_string())
        .await
        .expect("delete rule");
    r.remove_role(w.org.id, "cli", "pilot")
        .await
        .expect("remove");
    assert!(matches!(
        r.remove_role(w.org.id, "cli", "pilot").await,
        Err(DirectoryError::NotFound(_))
    ));
    assert_eq!(roles(&w, &id).await, vec!["Pilot"], "accounts keep it");
}

pub async fn bulk_assignment_sets_hand_set_roles_or_nothing(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let r = roles_of(&w);
    let a = w.scim_create("a@x.example").await.expect("user");
    let b = w.manual("b@x.example").await;
    let c = w.scim_create("c@x.example").await.expect("user");
    // One id that is not an account: refused, nothing changes.
    let missing = directory::ResourceId::new().to_string();
    assert!(matches!(
        r.assign(w.org.id, "admin", &[a.clone(), missing], "manager", true)
            .await,
        Err(DirectoryError::NotFound(_))
    ));
    assert_eq!(roles(&w, &a).await, vec!["staff"]);
    assert!(matches!(
        r.assign(w.org.id, "admin", &[], "manager", true).await,
        Err(DirectoryError::Invalid(_))
    ));
    let changed = r
        .assign(w.org.id, "admin", &[a.clone(), b.clone()], "Manager", true)
        .await
        .expect("assign");
    assert_eq!(changed, 2);
    assert_eq!(roles(&w, &a).await, vec!["manager"]);
    assert_eq!(roles(&w, &b).await, vec!["manager"]);
    assert_eq!(roles(&w, &c).await, vec!["staff"]);
    assert_eq!(local(&w, &a).await.role_sources["manager"], vec!["manual"]);
    // Again: nothing changes.
    assert_eq!(
        r.assign(w.org.id, "admin", std::slice::from_ref(&a), "manager", true)
            .await
            .expect("assign"),
        0
    );
    // A SCIM write of the account keeps the hand-set role.
    w.patch(
        ResourceKind::User,
        &a,
        json!([{ "op": "replace", "path": "title", "value": "Boss" }]),
    )
    .await
    .expect("patch");
    assert_eq!(roles(&w, &a).await, vec!["manager"]);
    // Taken away again: the default comes back.
    r.assign(
        w.org.id,
        "admin",
        std::slice::from_ref(&a),
        "manager",
        false,
    )
    .await
    .expect("unassign");
    assert_eq!(roles(&w, &a).await, vec!["staff"]);
    assert!(w.actions().await.iter().any(|x| x == "roles.assign"));
}

pub async fn role_rules_stay_in_their_organisation(store: Arc<dyn Store>) {
    let w = World::new(store.clone(), OrgKind::Business).await;
    let other = World::new(store, OrgKind::Business).await;
    let r = roles_of(&w);
    let mine = w.scim_create("same@x.example").await.expect("user");
    let theirs = other.scim_create("same@x.example").await.expect("user");
    let _ = create_group(&other, "Managers", &[&theirs]).await;
    r.add_role(w.org.id, "cli", "owner").await.expect("role");
    let (rule_w, _) = r
        .create_rule(
            w.org.id,
            "cli",
            &rule("Managers", "", "memberOf", "managers", &["manager"]),
        )
        .await
        .expect("rule");
    let _ = create_group(&w, "Managers", &[&mine]).await;
    assert_eq!(roles(&w, &mine).await, vec!["manager"]);
    assert_eq!(roles(&other, &theirs).await, vec!["staff"]);
    let ro = roles_of(&other);
    assert!(ro.rules(other.org.id).await.expect("rules").is_empty());
    assert!(
        ro.catalogue(other.org.id)
            .await
            .expect("cat")
            .own
            .is_empty()
    );
    // Another organisation's rule is not found, nor its accounts applied.
    assert!(matches!(
        ro.delete_rule(other.org.id, "cli", &rule_w.id.to_string())
            .await,
        Err(DirectoryError::NotFound(_))
    ));
    let mine_id: directory::ResourceId = mine.parse().expect("id");
    assert!(
        other
            .store
            .apply_role_rules(other.org.id, &[mine_id], T0)
            .await
            .expect("apply")
            .is_empty()
    );
    assert_eq!(roles(&w, &mine).await, vec!["manager"]);
    assert!(matches!(
        ro.assign(
            other.org.id,
            "admin",
            std::slice::from_ref(&mine),
            "manager",
            true
        )
        .await,
        Err(DirectoryError::NotFound(_))
    ));
}

/// Many SCIM writers add and remove one user in the group a rule names, and change its title,
/// at once; afterwards its roles are what the rules say of what was committed.
pub async fn concurrent_scim_writes_leave_roles_as_the_rules_say(store: Arc<dyn Store>) {
    let w = Arc::new(World::new(store, OrgKind::School).await);
    let r = roles_of(&w);
    r.create_rule(
        w.org.id,
        "cli",
        &rule("Teachers", "", "memberOf", "Teachers", &["teacher"]),
    )
    .await
    .expect("rule");
    r.create_rule(
        w.org.id,
        "cli",
        &rule("Heads", "title", "startsWith", "head", &["staff"]),
    )
    .await
    .expect("rule");
    let users: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(
                w.scim_create(&format!("c{i}@x.example"))
                    .await
                    .expect("user"),
            );
        }
        v
    };
    let group = create_group(&w, "Teachers", &[]).await;
    let mut tasks = Vec::new();
    for t in 0..8usize {
        let w = w.clone();
        let users = users.clone();
        let group = group.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..12usize {
                let u = &users[(t + round) % users.len()];
                let op = if (t + round) % 2 == 0 {
                    "add"
                } else {
                    "remove"
                };
                let body = if op == "add" {
                    json!([{ "op": "add", "path": "members", "value": [{ "value": u }] }])
                } else {
                    json!([{ "op": "remove", "path": format!("members[value eq \"{u}\"]") }])
                };
                w.patch(ResourceKind::Group, &group, body)
                    .await
                    .expect("member change");
                let title = if round % 3 == 0 {
                    "Head of Year"
                } else {
                    "Tutor"
                };
                w.patch(
                    ResourceKind::User,
                    u,
                    json!([{ "op": "replace", "path": "title", "value": title }]),
                )
                .await
                .expect("title");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let g = w
        .scim
        .get(
            w.org.id,
            ResourceKind::Group,
            &group,
            Load { relations: true },
        )
        .await
        .expect("group");
    let members: Vec<String> = g
        .members
        .unwrap_or_default()
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    for u in &users {
        let doc = w.scim_get(u).await.expect("user");
        let mut want = Vec::new();
        if doc["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Head")
        {
            want.push("staff".to_owned());
        }
        if members.contains(u) {
            want.push("teacher".to_owned());
        }
        if want.is_empty() {
            want.push("student".to_owned());
        }
        assert_eq!(roles(&w, u).await, want, "{u}");
    }
}

pub async fn member_of_rules_follow_manual_groups_too(store: Arc<dyn Store>) {
    use directory::accounts::GroupEdit;
    let w = World::new(store, OrgKind::School).await;
    let r = roles_of(&w);
    r.create_rule(
        w.org.id,
        "cli",
        &rule("Helpers", "", "memberOf", "helpers", &["teacher"]),
    )
    .await
    .expect("rule");
    let synced = w.scim_create("synced@x.example").await.expect("user");
    let manual = w.manual("manual@x.example").await;
    assert_eq!(roles(&w, &synced).await, vec!["student"]);
    // Made with a member: the rule gives it at once.
    let g = w
        .dir
        .create_group(
            w.org.id,
            "ada@admin",
            "Helpers",
            &["manual@x.example".into()],
        )
        .await
        .expect("group");
    let gid = g.resource.id.to_string();
    assert_eq!(roles(&w, &manual).await, vec!["teacher"]);
    // Added later, and removed again: the rule follows; the default role comes back.
    let edit = |e: GroupEdit| w.dir.edit_group(w.org.id, "ada@admin", &gid, e);
    edit(GroupEdit {
        add_user_names: vec!["synced@x.example".into()],
        ..GroupEdit::default()
    })
    .await
    .expect("add");
    assert_eq!(roles(&w, &synced).await, vec!["teacher"]);
    edit(GroupEdit {
        remove: vec![synced.clone()],
        ..GroupEdit::default()
    })
    .await
    .expect("remove");
    assert_eq!(roles(&w, &synced).await, vec!["student"]);
    // Renamed away from the rule's group name, then deleted: nobody keeps the rule's role.
    edit(GroupEdit {
        display_name: Some("Volunteers".into()),
        ..GroupEdit::default()
    })
    .await
    .expect("rename");
    assert_eq!(roles(&w, &manual).await, vec!["student"]);
    edit(GroupEdit {
        display_name: Some("Helpers".into()),
        ..GroupEdit::default()
    })
    .await
    .expect("rename back");
    assert_eq!(roles(&w, &manual).await, vec!["teacher"]);
    w.dir
        .delete_group(w.org.id, "ada@admin", &gid)
        .await
        .expect("delete");
    assert_eq!(roles(&w, &manual).await, vec!["student"]);
}
