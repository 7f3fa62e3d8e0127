//! Group memberships: changes, races, refusals, and what deletes do to them.

use super::*;

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
