//! The conformance cases. Each takes a fresh store handle, creates its own organisation(s) and
//! panics on the first behaviour that differs from the contract of [`directory::Store`].

use crate::oracle::{self, Coverage};
use crate::support::*;
use directory::store::{ListQuery, Load, TokenRecord, Update};
use directory::{ResourceId, Store, StoreError, TokenId};
use scim_core::messages::SortOrder;
use scim_core::patch::MemberChange;
use scim_core::schema::{ENTERPRISE_URN, ResourceKind};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use time::Duration;

const USER: ResourceKind = ResourceKind::User;
const GROUP: ResourceKind = ResourceKind::Group;

fn update(expected_version: i64) -> Update {
    Update {
        expected_version: Some(expected_version),
        doc: None,
        member_changes: Vec::new(),
        now: now(),
    }
}

fn token(org: directory::OrgId, seed: u8) -> TokenRecord {
    let mut hash = [seed; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    TokenRecord {
        id: TokenId::new(),
        org_id: org,
        prefix: format!("scimd_{seed:02x}"),
        hash,
        created: now(),
        expires: now() + Duration::days(90),
        first_used: None,
        last_used: None,
        revoked: None,
    }
}

pub async fn orgs_round_trip(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    assert_eq!(store.get_org(org.id).await.expect("get"), Some(org.clone()));
    assert!(store.list_orgs().await.expect("list").contains(&org));
    assert_eq!(
        store.get_org(directory::OrgId::new()).await.expect("get"),
        None
    );
}

pub async fn tokens_round_trip_and_touch(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let mut t = token(org.id, 1);
    t.revoked = Some(now());
    store.insert_token(&t).await.expect("insert");
    assert_eq!(
        store.find_token_by_hash(&t.hash).await.expect("find"),
        Some(t.clone())
    );
    assert_eq!(
        store.find_token_by_hash(&[0xEE; 32]).await.expect("find"),
        None
    );
    assert_eq!(
        store.list_tokens(org.id).await.expect("list"),
        vec![t.clone()]
    );
    assert_eq!(store.list_tokens(other.id).await.expect("list"), vec![]);

    let first = now();
    store.touch_token(org.id, t.id, first).await.expect("touch");
    let later = first + Duration::seconds(5);
    store.touch_token(org.id, t.id, later).await.expect("touch");
    // An older use arriving late does not move last_used back.
    store.touch_token(org.id, t.id, first).await.expect("touch");
    // Another organisation cannot touch it.
    store
        .touch_token(other.id, t.id, later + Duration::hours(1))
        .await
        .expect("touch");
    let got = store
        .find_token_by_hash(&t.hash)
        .await
        .expect("find")
        .expect("token");
    assert_eq!(got.first_used, Some(first));
    assert_eq!(got.last_used, Some(later));

    // The hash is unique across organisations.
    let mut dup = token(other.id, 2);
    dup.hash = t.hash;
    assert!(store.insert_token(&dup).await.is_err());
}

/// `a` and `b` are two handles on one database, as two processes are (`serve`, and `scimd
/// token revoke` or another instance): a token change made through `b` is seen by the very next
/// lookup through `a`, whatever `a` keeps in memory.
pub async fn token_changes_through_another_handle_are_seen_at_once(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    // Both lookups: alone, and after the caller has read the change mark (a GET that may be
    // answered from the read cache), which a store may use instead of its token epoch.
    for with_mark in [false, true] {
        let find = |store: Arc<dyn Store>, hash: [u8; 32]| async move {
            let found = if with_mark {
                let mark = store.change_mark();
                store.find_token_by_hash_at(&hash, mark).await
            } else {
                store.find_token_by_hash(&hash).await
            };
            found.expect("find")
        };
        let org = new_org(&*a).await;
        let t = token(org.id, 3);
        a.insert_token(&t).await.expect("insert");
        for _ in 0..3 {
            assert_eq!(find(a.clone(), t.hash).await, Some(t.clone()));
        }
        let used = now();
        b.touch_token(org.id, t.id, used).await.expect("touch");
        let seen = find(a.clone(), t.hash).await;
        assert_eq!(
            seen.expect("token").first_used,
            Some(used),
            "marks: {with_mark}"
        );
        let revoked = used + Duration::seconds(1);
        assert!(b.revoke_token(org.id, t.id, revoked).await.expect("revoke"));
        let seen = find(a.clone(), t.hash).await;
        assert_eq!(
            seen.expect("token").revoked,
            Some(revoked),
            "marks: {with_mark}"
        );
        // And the other way round: a change through `a` reaches `b`, which had it cached.
        let t2 = token(org.id, 4);
        b.insert_token(&t2).await.expect("insert");
        assert!(find(b.clone(), t2.hash).await.is_some());
        assert!(
            a.revoke_token(org.id, t2.id, revoked)
                .await
                .expect("revoke")
        );
        let seen = find(b.clone(), t2.hash).await;
        assert_eq!(
            seen.expect("token").revoked,
            Some(revoked),
            "marks: {with_mark}"
        );
    }
}

pub async fn resource_create_get_update_delete(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let created = create_user_with(
        &*store,
        org.id,
        json!({ "userName": "bjensen", "title": "Tour Guide", "externalId": "b1" }),
    )
    .await;
    assert_eq!(created.version, 1);
    assert_eq!(created.created, created.last_modified);
    let got = store
        .get_resource(org.id, USER, created.id, Load::default())
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got, created);
    assert_eq!(
        store
            .get_resource(org.id, GROUP, created.id, Load::default())
            .await
            .expect("get"),
        None,
        "kind is part of the key"
    );

    let doc = canonical(USER, &json!({ "userName": "bjensen", "title": "Manager" }));
    let later = created.created + Duration::seconds(3);
    let u = Update {
        expected_version: Some(1),
        doc: Some(doc.clone()),
        member_changes: Vec::new(),
        now: later,
    };
    let updated = store
        .update_resource(org.id, USER, created.id, u, Load::default())
        .await
        .expect("update");
    assert_eq!(
        (
            updated.version,
            &updated.doc,
            updated.created,
            updated.last_modified
        ),
        (2, &doc, created.created, later)
    );
    assert_eq!(
        store
            .get_resource(org.id, USER, created.id, Load::default())
            .await
            .expect("get"),
        Some(updated.clone())
    );

    // An update that changes nothing keeps the version.
    let same = store
        .update_resource(org.id, USER, created.id, update(2), Load::default())
        .await
        .expect("no-op");
    assert_eq!(same.version, 2);

    assert!(matches!(
        store
            .delete_resource(org.id, USER, created.id, Some(1))
            .await,
        Err(StoreError::VersionMismatch)
    ));
    assert!(matches!(
        store.delete_resource(org.id, GROUP, created.id, None).await,
        Err(StoreError::NotFound)
    ));
    store
        .delete_resource(org.id, USER, created.id, Some(2))
        .await
        .expect("delete");
    assert_eq!(
        store
            .get_resource(org.id, USER, created.id, Load::default())
            .await
            .expect("get"),
        None
    );
    assert!(matches!(
        store.delete_resource(org.id, USER, created.id, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_resource(org.id, USER, created.id, update(2), Load::default())
            .await,
        Err(StoreError::NotFound)
    ));
    // The name is free again.
    create_user(&*store, org.id, "BJensen").await;
}

pub async fn document_reads_back_in_written_key_order(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let body = json!({
        "userName": "ordered",
        ENTERPRISE_URN: { "manager": { "value": "m-1" }, "department": "Tour Operations", "employeeNumber": "701984" },
        "emails": [{ "primary": true, "type": "work", "value": "ordered@example.com" }, { "value": "o@home.example", "type": "home" }],
        "name": { "givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III" },
        "active": true,
        "externalId": "701984",
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "title": "Tour Guide",
        "addresses": [{ "type": "work", "streetAddress": "100 Universal City Plaza", "country": "USA", "primary": true }],
        "phoneNumbers": [{ "value": "555-555-5555", "type": "work" }]
    });
    let created = create_user_with(&*store, org.id, body).await;
    let got = store
        .get_resource(org.id, USER, created.id, Load::default())
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        serde_json::to_string(&got.doc).expect("json"),
        serde_json::to_string(&created.doc).expect("json")
    );
}

/// Creating a user named `name` in `org` is refused: the name is taken.
async fn assert_name_taken(store: &dyn Store, org: directory::OrgId, name: &str) {
    let dup = create_doc(store, org, USER, canonical(USER, &user_body(name)), &[]).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict("userName"))),
        "{name}: {dup:?}"
    );
}

/// An update that changes `userName` or `externalId` moves the user in their indexes (found
/// by the new values, not the old; the old name free for another user), and one that changes
/// neither leaves it findable by both.
pub async fn updates_keep_name_and_external_id_lookups_current(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "before@example.com").await;
    let found = |text: &'static str| {
        let store = store.clone();
        async move {
            let q = ListQuery {
                filter: Some(filter(USER, text)),
                ..query(10)
            };
            ids(&list(&*store, org.id, USER, &q).await)
        }
    };
    let mut doc = u.doc.clone();
    doc["userName"] = json!("After@example.com");
    doc["externalId"] = json!("ext-1");
    let up = Update {
        doc: Some(canonical(USER, &doc)),
        ..update(u.version)
    };
    let u2 = store
        .update_resource(org.id, USER, u.id, up, Load::default())
        .await
        .expect("rename");
    assert_eq!(
        found(r#"userName eq "after@example.com""#).await,
        vec![u.id]
    );
    assert_eq!(found(r#"externalId eq "ext-1""#).await, vec![u.id]);
    assert!(
        found(r#"userName eq "before@example.com""#)
            .await
            .is_empty()
    );
    create_user(&*store, org.id, "Before@example.com").await;

    let mut doc = u2.doc.clone();
    doc["displayName"] = json!("Same names");
    let up = Update {
        doc: Some(canonical(USER, &doc)),
        ..update(u2.version)
    };
    store
        .update_resource(org.id, USER, u.id, up, Load::default())
        .await
        .expect("update");
    assert_eq!(
        found(r#"userName eq "AFTER@example.com""#).await,
        vec![u.id]
    );
    assert_eq!(found(r#"externalId eq "ext-1""#).await, vec![u.id]);
    assert_name_taken(&*store, org.id, "after@EXAMPLE.com").await;
}

pub async fn user_name_is_unique_case_insensitively(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    create_user(&*store, org.id, "Alice").await;
    assert_name_taken(&*store, org.id, "aLICE").await;
    create_user(&*store, org.id, "ÄLICE").await;
    assert_name_taken(&*store, org.id, "älice").await;
    let dup = create_doc(
        &*store,
        org.id,
        USER,
        canonical(USER, &user_body("STRASSE")),
        &[],
    )
    .await;
    assert!(
        dup.is_ok(),
        "ß and SS are different names after lower-casing"
    );
    // Another organisation has its own names.
    create_user(&*store, other.id, "alice").await;
    // Renaming onto a taken name is refused too, and leaves the user as it was.
    let bob = create_user(&*store, org.id, "bob").await;
    let u = Update {
        expected_version: Some(1),
        doc: Some(canonical(USER, &user_body("ALICE"))),
        member_changes: Vec::new(),
        now: now(),
    };
    let r = store
        .update_resource(org.id, USER, bob.id, u, Load::default())
        .await;
    assert!(matches!(r, Err(StoreError::Conflict("userName"))), "{r:?}");
    assert_eq!(
        get(&*store, org.id, USER, bob.id)
            .await
            .expect("bob")
            .version,
        1
    );
    // Group names are not unique.
    create_group(&*store, org.id, "Staff", &[]).await;
    create_group(&*store, org.id, "staff", &[]).await;
}

pub async fn concurrent_creates_of_one_user_name_admit_exactly_one(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = store.clone();
        let name = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        tasks.spawn(async move {
            create_doc(
                &*store,
                org.id,
                USER,
                canonical(USER, &user_body(name)),
                &[],
            )
            .await
        });
    }
    let (mut ok, mut conflicts) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict("userName")) => conflicts += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 15));
    assert_eq!(list(&*store, org.id, USER, &query(10)).await.total, 1);
}

pub async fn stale_or_missing_versions_are_refused(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "versioned").await;
    let doc = canonical(USER, &json!({ "userName": "versioned", "title": "x" }));
    let first = Update {
        expected_version: Some(1),
        doc: Some(doc.clone()),
        member_changes: Vec::new(),
        now: now(),
    };
    store
        .update_resource(org.id, USER, u.id, first.clone(), Load::default())
        .await
        .expect("first writer");
    let r = store
        .update_resource(org.id, USER, u.id, first, Load::default())
        .await;
    assert!(matches!(r, Err(StoreError::VersionMismatch)), "{r:?}");
    let r = store
        .update_resource(org.id, USER, ResourceId::new(), update(1), Load::default())
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");

    // Concurrent writers from one version: exactly one wins.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        let doc = canonical(
            USER,
            &json!({ "userName": "versioned", "title": format!("t{i}") }),
        );
        tasks.spawn(async move {
            let u2 = Update {
                expected_version: Some(2),
                doc: Some(doc),
                member_changes: Vec::new(),
                now: now(),
            };
            store
                .update_resource(org.id, USER, u.id, u2, Load::default())
                .await
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(r) => {
                assert_eq!(r.version, 3);
                ok += 1;
            }
            Err(StoreError::VersionMismatch) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 1);
}

pub async fn members_add_remove_replace_and_remove_matching(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u1 = create_user(&*store, org.id, "m1").await;
    let u2 = create_user(&*store, org.id, "m2").await;
    let u3 = create_user(&*store, org.id, "m3").await;
    let sub = create_group(&*store, org.id, "Sub", &[]).await;
    let g = create_group(&*store, org.id, "Team", &[u1.id]).await;
    let members = g.members.clone().expect("created with members");
    assert_eq!(members.len(), 1);
    assert_eq!(
        (
            members[0].id,
            members[0].kind,
            members[0].display.as_deref()
        ),
        (u1.id, USER, None),
        "members carry no display: clients read back exactly what they sent"
    );
    assert_eq!(sub.members, None, "no members: none loaded");

    let change = |v: i64, c: Vec<MemberChange>| Update {
        expected_version: Some(v),
        doc: None,
        member_changes: c,
        now: now(),
    };
    let r = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            change(
                1,
                vec![MemberChange::Add(vec![
                    member_ref(&u2.id),
                    member_ref(&sub.id),
                ])],
            ),
            Load { relations: true },
        )
        .await
        .expect("add");
    assert_eq!(r.version, 2);
    let kinds: BTreeSet<(String, bool)> = r
        .members
        .expect("loaded")
        .iter()
        .map(|m| (m.id.to_string(), m.kind == GROUP))
        .collect();
    assert!(kinds.contains(&(sub.id.to_string(), true)) && kinds.len() == 3);

    // Adding a member twice, or removing an absent one, changes nothing.
    let r = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            change(2, vec![MemberChange::Add(vec![member_ref(&u2.id)])]),
            Load::default(),
        )
        .await
        .expect("add again");
    assert_eq!(r.version, 2);
    let r = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            change(
                2,
                vec![MemberChange::Remove(vec![
                    u3.id.to_string(),
                    "nonsense".into(),
                ])],
            ),
            Load::default(),
        )
        .await
        .expect("remove absent");
    assert_eq!(r.version, 2);

    let r = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            change(2, vec![MemberChange::Remove(vec![u1.id.to_string()])]),
            Load::default(),
        )
        .await
        .expect("remove");
    assert_eq!(r.version, 3);
    let mut want = vec![u2.id, sub.id];
    want.sort();
    assert_eq!(member_ids(&*store, org.id, g.id).await, want);

    let r = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            change(
                3,
                vec![MemberChange::ReplaceAll(vec![
                    member_ref(&u1.id),
                    member_ref(&u3.id),
                ])],
            ),
            Load::default(),
        )
        .await
        .expect("replace");
    assert_eq!(r.version, 4);
    let mut want = vec![u1.id, u3.id];
    want.sort();
    assert_eq!(member_ids(&*store, org.id, g.id).await, want);

    let members_def = scim_core::schema::registry()
        .group
        .attribute("members")
        .expect("members");
    let f = |text: &str| {
        let raw = scim_core::filter::parse_filter_raw(text).expect("parse");
        scim_core::filter::resolve_value_filter(&raw, members_def).expect("resolve")
    };
    let r = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            change(
                4,
                vec![MemberChange::RemoveMatching(f(&format!(
                    "value eq \"{}\"",
                    u3.id
                )))],
            ),
            Load::default(),
        )
        .await
        .expect("remove matching");
    assert_eq!(r.version, 5);
    assert_eq!(member_ids(&*store, org.id, g.id).await, vec![u1.id]);
    let r = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            change(
                5,
                vec![MemberChange::RemoveMatching(f("display eq \"nobody\""))],
            ),
            Load::default(),
        )
        .await
        .expect("remove none");
    assert_eq!(r.version, 5, "nothing matched, nothing changed");
    let r = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            change(
                5,
                vec![MemberChange::RemoveMatching(f(
                    "type eq \"user\" and not (display pr)",
                ))],
            ),
            Load::default(),
        )
        .await
        .expect("remove by type");
    assert_eq!(r.version, 6);
    assert_eq!(member_ids(&*store, org.id, g.id).await, vec![]);

    // Several changes in one update are applied in order, with one version bump.
    let r = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            change(
                6,
                vec![
                    MemberChange::Add(vec![member_ref(&u1.id)]),
                    MemberChange::Remove(vec![u1.id.to_string()]),
                    MemberChange::Add(vec![member_ref(&u2.id)]),
                ],
            ),
            Load { relations: true },
        )
        .await
        .expect("sequence");
    assert_eq!(r.version, 7);
    assert_eq!(
        r.members
            .expect("loaded")
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![u2.id]
    );

    // Member changes on a user are ignored.
    let r = store
        .update_resource(
            org.id,
            USER,
            u1.id,
            change(1, vec![MemberChange::Add(vec![member_ref(&u2.id)])]),
            Load::default(),
        )
        .await
        .expect("user");
    assert_eq!(r.version, 1);
}

/// Several writers (think: instances) add members to one group at once, each re-reading the
/// version when it lost the race: no member is lost and each add bumps the version once.
pub async fn concurrent_member_adds_lose_nothing(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let g = create_group(&*store, org.id, "Crowd", &[]).await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(create_user(&*store, org.id, &format!("crowd{i}")).await.id);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for u in users.clone() {
        let store = store.clone();
        tasks.spawn(async move {
            loop {
                let version = get(&*store, org.id, GROUP, g.id)
                    .await
                    .expect("group")
                    .version;
                let add = Update {
                    expected_version: Some(version),
                    doc: None,
                    member_changes: vec![MemberChange::Add(vec![member_ref(&u)])],
                    now: now(),
                };
                match store
                    .update_resource(org.id, GROUP, g.id, add, Load::default())
                    .await
                {
                    Ok(_) => return,
                    Err(StoreError::VersionMismatch) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    users.sort();
    assert_eq!(member_ids(&*store, org.id, g.id).await, users);
    assert_eq!(
        get(&*store, org.id, GROUP, g.id)
            .await
            .expect("group")
            .version,
        13
    );
}

/// A member deleted while another writer adds it to a group: afterwards the group never lists
/// a member that does not exist.
pub async fn member_deleted_while_being_added_never_dangles(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let g = create_group(&*store, org.id, "Racy", &[]).await;
    for i in 0..10 {
        let u = create_user(&*store, org.id, &format!("racy{i}")).await;
        let version = get(&*store, org.id, GROUP, g.id)
            .await
            .expect("group")
            .version;
        let (s1, s2) = (store.clone(), store.clone());
        let add = tokio::spawn(async move {
            let add = Update {
                expected_version: Some(version),
                doc: None,
                member_changes: vec![MemberChange::Add(vec![member_ref(&u.id)])],
                now: now(),
            };
            s1.update_resource(org.id, GROUP, g.id, add, Load::default())
                .await
        });
        let delete =
            tokio::spawn(async move { s2.delete_resource(org.id, USER, u.id, None).await });
        let added = add.await.expect("task");
        delete.await.expect("task").expect("delete");
        assert!(
            matches!(
                added,
                Ok(_) | Err(StoreError::UnknownMember(_)) | Err(StoreError::VersionMismatch)
            ),
            "{added:?}"
        );
        assert_eq!(member_ids(&*store, org.id, g.id).await, vec![], "round {i}");
    }
}

pub async fn unknown_and_cross_org_members_are_refused(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let stranger = create_user(&*store, other.id, "stranger").await;
    let g = create_group(&*store, org.id, "G", &[]).await;
    let add = |v: String| Update {
        expected_version: Some(1),
        doc: None,
        member_changes: vec![MemberChange::Add(vec![scim_core::patch::MemberRef {
            value: v,
            member_type: None,
        }])],
        now: now(),
    };
    for bad in [
        ResourceId::new().to_string(),
        "not-a-uuid".to_owned(),
        stranger.id.to_string(),
        g.id.to_string(),
    ] {
        let r = store
            .update_resource(org.id, GROUP, g.id, add(bad.clone()), Load::default())
            .await;
        assert!(
            matches!(&r, Err(StoreError::UnknownMember(v)) if *v == bad),
            "{bad}: {r:?}"
        );
    }
    // At creation too, and then nothing is created.
    let r = create_doc(
        &*store,
        org.id,
        GROUP,
        canonical(GROUP, &group_body("H")),
        &[stranger.id],
    )
    .await;
    assert!(
        matches!(&r, Err(StoreError::UnknownMember(v)) if *v == stranger.id.to_string()),
        "{r:?}"
    );
    assert_eq!(list(&*store, org.id, GROUP, &query(10)).await.total, 1);
    assert_eq!(
        get(&*store, other.id, GROUP, g.id).await,
        None,
        "unreachable from the other org"
    );
}

pub async fn refused_member_change_leaves_group_unchanged(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u1 = create_user(&*store, org.id, "kept").await;
    let g = create_group(&*store, org.id, "G", &[]).await;
    let doc = canonical(GROUP, &group_body("Renamed"));
    let u = Update {
        expected_version: Some(1),
        doc: Some(doc),
        member_changes: vec![
            MemberChange::Add(vec![member_ref(&u1.id)]),
            MemberChange::Add(vec![member_ref(&ResourceId::new())]),
        ],
        now: now(),
    };
    let r = store
        .update_resource(org.id, GROUP, g.id, u, Load::default())
        .await;
    assert!(matches!(r, Err(StoreError::UnknownMember(_))), "{r:?}");
    let after = get(&*store, org.id, GROUP, g.id).await.expect("group");
    assert_eq!(
        (after.version, after.doc, after.members),
        (1, g.doc, Some(vec![]))
    );
}

pub async fn user_groups_lists_direct_groups(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "joiner").await;
    let loner = create_user(&*store, org.id, "loner").await;
    let g1 = create_group(&*store, org.id, "One", &[u.id]).await;
    let g2 = create_group(&*store, org.id, "Two", &[u.id, loner.id]).await;
    let got = get(&*store, org.id, USER, u.id).await.expect("user");
    let mut groups: Vec<(ResourceId, Option<String>)> = got
        .groups
        .expect("loaded")
        .into_iter()
        .map(|g| (g.id, g.display))
        .collect();
    groups.sort();
    let mut want = vec![
        (g1.id, Some("One".to_owned())),
        (g2.id, Some("Two".to_owned())),
    ];
    want.sort();
    assert_eq!(groups, want);
    let plain = store
        .get_resource(org.id, USER, u.id, Load::default())
        .await
        .expect("get")
        .expect("user");
    assert_eq!((plain.groups, plain.members), (None, None));
    let other = create_user(&*store, org.id, "nobody").await;
    assert_eq!(
        get(&*store, org.id, USER, other.id)
            .await
            .expect("user")
            .groups,
        Some(vec![])
    );
}

pub async fn delete_removes_memberships_and_bumps_groups(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "leaver").await;
    let stay = create_user(&*store, org.id, "stayer").await;
    let g = create_group(&*store, org.id, "G", &[u.id, stay.id]).await;
    let parent = create_group(&*store, org.id, "Parent", &[g.id, stay.id]).await;
    store
        .delete_resource(org.id, USER, u.id, None)
        .await
        .expect("delete user");
    let after = get(&*store, org.id, GROUP, g.id).await.expect("group");
    assert_eq!(after.version, 2, "the group's representation changed");
    assert_eq!(
        after
            .members
            .expect("loaded")
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![stay.id]
    );
    assert_eq!(
        get(&*store, org.id, GROUP, parent.id)
            .await
            .expect("parent")
            .version,
        1,
        "unrelated group unchanged"
    );

    store
        .delete_resource(org.id, GROUP, g.id, Some(2))
        .await
        .expect("delete group");
    let p = get(&*store, org.id, GROUP, parent.id)
        .await
        .expect("parent");
    assert_eq!(
        p.members
            .expect("loaded")
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![stay.id]
    );
    assert_eq!(p.version, 2);
    let s = get(&*store, org.id, USER, stay.id).await.expect("user");
    assert_eq!(
        s.groups
            .expect("loaded")
            .iter()
            .map(|g| g.id)
            .collect::<Vec<_>>(),
        vec![parent.id]
    );
    // A re-created user of the same name is not a member of anything.
    let again = create_user(&*store, org.id, "leaver").await;
    assert_eq!(
        get(&*store, org.id, USER, again.id)
            .await
            .expect("user")
            .groups,
        Some(vec![])
    );
}

pub async fn list_counts_and_pages_by_index_in_stable_order(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(create_user(&*store, org.id, &format!("page{i}")).await.id);
    }
    create_group(&*store, org.id, "not a user", &[]).await;
    let mut seen = Vec::new();
    for start in [1, 4, 7] {
        let page = list(
            &*store,
            org.id,
            USER,
            &ListQuery {
                start_index: start,
                ..query(3)
            },
        )
        .await;
        assert_eq!(page.total, 7);
        assert_eq!(page.next_cursor, None, "index paging has no cursor");
        seen.extend(ids(&page));
    }
    assert_eq!(seen, all, "creation order, each once");
    let beyond = list(
        &*store,
        org.id,
        USER,
        &ListQuery {
            start_index: 50,
            ..query(3)
        },
    )
    .await;
    assert_eq!((beyond.total, beyond.resources.len()), (7, 0));
    let counted = list(&*store, org.id, USER, &query(0)).await;
    assert_eq!((counted.total, counted.resources.len()), (7, 0));
    // A first page that holds everything, exactly full, or one short of everything.
    for (count, rows) in [(10, 7), (7, 7), (6, 6)] {
        let page = list(&*store, org.id, USER, &query(count)).await;
        assert_eq!(
            (page.total, page.resources.len()),
            (7, rows),
            "count={count}"
        );
    }
    let filtered = list(
        &*store,
        org.id,
        USER,
        &ListQuery {
            filter: Some(filter(
                USER,
                "userName sw \"PAGE\" and not (userName eq \"page3\")",
            )),
            ..query(2)
        },
    )
    .await;
    assert_eq!(filtered.total, 6);
    assert_eq!(ids(&filtered), vec![all[0], all[1]]);
}

async fn users_with_titles(store: &dyn Store, org: directory::OrgId, n: usize) -> Vec<ResourceId> {
    // Names in an order unrelated to creation; every third user has no title.
    let mut all = Vec::new();
    for i in 0..n {
        let name = format!(
            "{}-{i}",
            ["kim", "Ada", "zed", "Émile", "bo", "ÄRNE", "carl"][(i * 5) % 7]
        );
        let body = if i % 3 == 0 {
            user_body(&name)
        } else {
            json!({ "userName": name, "title": format!("T{}", (i * 7) % 5) })
        };
        all.push(create_user_with(store, org, body).await.id);
    }
    all
}

fn sorted(path: &str, order: SortOrder, count: u64) -> ListQuery {
    let p = scim_core::path::parse_attr_path(path)
        .expect("path")
        .resolve(USER)
        .expect("resolve");
    ListQuery {
        sort: Some((p, order)),
        ..query(count)
    }
}

pub async fn cursor_paging_visits_every_row_once(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let all = users_with_titles(&*store, org.id, 11).await;
    for count in [1, 4, 11, 20] {
        assert_eq!(
            walk_cursor(&*store, org.id, USER, query(count)).await,
            all,
            "count {count}"
        );
    }
    let q = ListQuery {
        filter: Some(filter(USER, "title pr")),
        ..query(3)
    };
    let with_title: Vec<ResourceId> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(walk_cursor(&*store, org.id, USER, q).await, with_title);
}

/// Checks cursor paging under a sort against index paging under the same sort.
async fn cursor_matches_index_order(
    store: &dyn Store,
    org: directory::OrgId,
    path: &str,
    order: SortOrder,
    n: usize,
) {
    let whole = list(store, org, USER, &sorted(path, order, 1000)).await;
    assert_eq!(whole.resources.len(), n);
    let expected = ids(&whole);
    for count in [1, 2, 5] {
        let walked = walk_cursor(store, org, USER, sorted(path, order, count)).await;
        assert_eq!(walked, expected, "sortBy {path} {order:?}, count {count}");
    }
}

pub async fn cursor_paging_by_user_name_descending_visits_every_row_once(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    users_with_titles(&*store, org.id, 10).await;
    cursor_matches_index_order(&*store, org.id, "userName", SortOrder::Descending, 10).await;
    cursor_matches_index_order(&*store, org.id, "userName", SortOrder::Ascending, 10).await;
    let whole = list(
        &*store,
        org.id,
        USER,
        &sorted("userName", SortOrder::Ascending, 100),
    )
    .await;
    let names: Vec<String> = whole
        .resources
        .iter()
        .map(|r| {
            r.doc["userName"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
        })
        .collect();
    let mut want = names.clone();
    want.sort();
    assert_eq!(names, want, "case-insensitive code point order");
}

pub async fn cursor_paging_with_missing_sort_keys_ascending(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    users_with_titles(&*store, org.id, 9).await;
    cursor_matches_index_order(&*store, org.id, "title", SortOrder::Ascending, 9).await;
    let whole = list(
        &*store,
        org.id,
        USER,
        &sorted("title", SortOrder::Ascending, 100),
    )
    .await;
    assert!(
        whole.resources[0].doc.get("title").is_none(),
        "missing keys sort first ascending"
    );
}

pub async fn cursor_paging_with_missing_sort_keys_descending(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    users_with_titles(&*store, org.id, 9).await;
    cursor_matches_index_order(&*store, org.id, "title", SortOrder::Descending, 9).await;
}

pub async fn invalid_cursor_is_refused(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    create_user(&*store, org.id, "c").await;
    for bad in ["%%%", "bm90IGpzb24", "e30"] {
        let r = store
            .list_resources(
                org.id,
                USER,
                &ListQuery {
                    cursor: Some(bad.into()),
                    ..query(5)
                },
            )
            .await;
        assert!(matches!(r, Err(StoreError::InvalidCursor)), "{bad}: {r:?}");
    }
}

/// Cursors name nothing a client can read (no sequence number), are refused when changed or
/// sent by another organisation, and are read by every handle on the same database.
pub async fn cursors_are_sealed_for_their_organisation_and_deployment(
    store: Arc<dyn Store>,
    other_handle: Arc<dyn Store>,
) {
    use base64::Engine;
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    for name in ["a", "b", "c"] {
        create_user(&*store, org.id, name).await;
    }
    let first = store
        .list_resources(
            org.id,
            USER,
            &ListQuery {
                cursor: Some(String::new()),
                ..query(1)
            },
        )
        .await
        .expect("first page");
    let cursor = first.next_cursor.expect("a next page");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&cursor)
        .expect("base64url");
    assert!(
        !bytes.windows(3).any(|w| w == b"seq"),
        "the cursor shows its sequence: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let page = |store: Arc<dyn Store>, org, cursor: String| async move {
        store
            .list_resources(
                org,
                USER,
                &ListQuery {
                    cursor: Some(cursor),
                    ..query(5)
                },
            )
            .await
    };
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(flipped);
    for (what, org, text) in [
        ("changed", org.id, flipped),
        ("another organisation's", other.id, cursor.clone()),
    ] {
        let r = page(store.clone(), org, text).await;
        assert!(
            matches!(r, Err(StoreError::InvalidCursor)),
            "{what} cursor: {r:?}"
        );
    }
    let rest = page(other_handle, org.id, cursor)
        .await
        .expect("another handle reads the cursor");
    assert_eq!(rest.resources.len(), 2);
}

pub async fn sort_by_multi_valued_attribute_uses_primary_value(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let emails = |list: &[(&str, bool)]| {
        list.iter()
            .map(|(v, p)| {
                if *p {
                    json!({ "value": v, "primary": true })
                } else {
                    json!({ "value": v })
                }
            })
            .collect::<Vec<_>>()
    };
    let c = create_user_with(
        &*store,
        org.id,
        json!({ "userName": "c", "emails": emails(&[("a@x", false), ("C@x", true)]) }),
    )
    .await;
    let a = create_user_with(
        &*store,
        org.id,
        json!({ "userName": "a", "emails": emails(&[("z@x", false), ("A@x", true)]) }),
    )
    .await;
    let b = create_user_with(
        &*store,
        org.id,
        json!({ "userName": "b", "emails": emails(&[("b@x", false), ("y@x", false)]) }),
    )
    .await;
    let none = create_user(&*store, org.id, "none").await;
    for path in ["emails", "emails.value"] {
        let asc = list(
            &*store,
            org.id,
            USER,
            &sorted(path, SortOrder::Ascending, 10),
        )
        .await;
        assert_eq!(ids(&asc), vec![none.id, a.id, b.id, c.id], "{path}");
        let desc = list(
            &*store,
            org.id,
            USER,
            &sorted(path, SortOrder::Descending, 10),
        )
        .await;
        assert_eq!(ids(&desc), vec![c.id, b.id, a.id, none.id], "{path}");
        cursor_matches_index_order(&*store, org.id, path, SortOrder::Ascending, 4).await;
    }
}

pub async fn list_loads_relations_when_asked(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "rel").await;
    let g = create_group(&*store, org.id, "Rel", &[u.id]).await;
    let empty = create_group(&*store, org.id, "Empty", &[]).await;
    let load = Load { relations: true };
    let groups = list(&*store, org.id, GROUP, &ListQuery { load, ..query(10) }).await;
    let members: Vec<(ResourceId, usize)> = groups
        .resources
        .iter()
        .map(|r| (r.id, r.members.as_ref().map_or(99, Vec::len)))
        .collect();
    assert_eq!(members, vec![(g.id, 1), (empty.id, 0)]);
    let users = list(&*store, org.id, USER, &ListQuery { load, ..query(10) }).await;
    assert_eq!(
        users.resources[0]
            .groups
            .as_ref()
            .map(|gs| gs.iter().map(|g| g.id).collect::<Vec<_>>()),
        Some(vec![g.id])
    );
    let plain = list(&*store, org.id, GROUP, &query(10)).await;
    assert!(plain.resources.iter().all(|r| r.members.is_none()));
}

pub async fn org_isolation_for_every_method(store: Arc<dyn Store>) {
    let a = new_org(&*store).await;
    let b = new_org(&*store).await;
    let ua = create_user(&*store, a.id, "shared-name").await;
    let ga = create_group(&*store, a.id, "A", &[ua.id]).await;
    let ta = token(a.id, 3);
    store.insert_token(&ta).await.expect("token");
    let gb = create_group(&*store, b.id, "B", &[]).await;

    for (kind, id) in [(USER, ua.id), (GROUP, ga.id)] {
        assert_eq!(
            store
                .get_resource(b.id, kind, id, Load { relations: true })
                .await
                .expect("get"),
            None
        );
        let r = store
            .update_resource(b.id, kind, id, update(1), Load::default())
            .await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
        let r = store.delete_resource(b.id, kind, id, None).await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
        let page = list(
            &*store,
            b.id,
            kind,
            &ListQuery {
                filter: Some(filter(kind, &format!("id eq \"{id}\""))),
                ..query(10)
            },
        )
        .await;
        assert_eq!(page.total, 0);
    }
    let page = list(&*store, b.id, USER, &query(10)).await;
    assert_eq!(page.total, 0);
    assert_eq!(
        ids(&list(&*store, b.id, GROUP, &query(10)).await),
        vec![gb.id]
    );
    // A's user cannot join B's group, and B's list of members never shows A's.
    let r = store
        .update_resource(
            b.id,
            GROUP,
            gb.id,
            Update {
                expected_version: Some(1),
                doc: None,
                member_changes: vec![MemberChange::Add(vec![member_ref(&ua.id)])],
                now: now(),
            },
            Load::default(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::UnknownMember(_))), "{r:?}");
    // B has its own user of the same name, and its own cursor space.
    create_user(&*store, b.id, "shared-name").await;
    let walked = walk_cursor(&*store, b.id, USER, query(1)).await;
    assert_eq!(walked.len(), 1);
    let page_a = list(
        &*store,
        a.id,
        USER,
        &ListQuery {
            cursor: Some(String::new()),
            ..query(1)
        },
    )
    .await;
    assert_eq!(ids(&page_a), vec![ua.id]);
    assert_eq!(store.list_tokens(b.id).await.expect("tokens"), vec![]);
    store.touch_token(b.id, ta.id, now()).await.expect("touch");
    assert_eq!(
        store
            .find_token_by_hash(&ta.hash)
            .await
            .expect("find")
            .expect("token")
            .last_used,
        None
    );
    // Everything of A is intact.
    let g = get(&*store, a.id, GROUP, ga.id).await.expect("group");
    assert_eq!((g.version, g.members.map(|m| m.len())), (1, Some(1)));
}

pub async fn filters_agree_with_evaluator_on_common_user_attributes(store: Arc<dyn Store>) {
    oracle::run(&*store, USER, Coverage::Common, 400).await;
}

pub async fn filters_agree_with_evaluator_on_common_group_attributes(store: Arc<dyn Store>) {
    oracle::run(&*store, GROUP, Coverage::Common, 200).await;
}

pub async fn filters_agree_with_evaluator_on_every_user_attribute(store: Arc<dyn Store>) {
    oracle::run(&*store, USER, Coverage::Every, 400).await;
}

pub async fn filters_agree_with_evaluator_on_every_group_attribute(store: Arc<dyn Store>) {
    oracle::run(&*store, GROUP, Coverage::Every, 200).await;
}

pub use crate::lifecycle_cases::*;
