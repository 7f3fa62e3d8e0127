//! Collisions with administrators and with manual accounts: conflicts, merge, Auto Merge,
//! read-only imported attributes, disconnect and reconnect.

use super::*;

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
                    ..LocalProps::default()
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
