//! The console's groups (docs/contract.md, "Account search"): every source with member counts,
//! and a group's members paged by member id and found with the account search.

use super::*;
use directory::ResourceId;
use directory::accounts::GroupEdit;
use directory::store::MemberQuery;

pub async fn group_members_page_by_keyset_and_are_found(store: Arc<dyn Store>) {
    let w = World::new(store.clone(), OrgKind::Business).await;
    let other = World::new(store, OrgKind::Business).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            w.scim_create(&format!("member{i}@x.example"))
                .await
                .expect("user"),
        );
    }
    let hopper = w
        .scim
        .create(
            w.org.id,
            ResourceKind::User,
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                     "userName": "grace@x.example", "name": { "familyName": "Hopper" } }),
            Load::default(),
        )
        .await
        .expect("user")
        .id
        .to_string();
    ids.push(hopper.clone());
    let members: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
    let group = w
        .scim
        .create(
            w.org.id,
            ResourceKind::Group,
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                     "displayName": "Engineering", "members": members }),
            Load::default(),
        )
        .await
        .expect("group");
    // Pages of 3 visit every member once, in id order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = w
            .store
            .list_group_members(
                w.org.id,
                group.id,
                &MemberQuery {
                    search: None,
                    after,
                    count: 3,
                },
            )
            .await
            .expect("members")
            .expect("the group");
        assert!(page.members.len() <= 3);
        seen.extend(page.members.iter().map(|m| m.id.to_string()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected, "every member once, in id order");
    // Found by the account search, within the group only.
    let find = |s: &str| MemberQuery {
        search: Some(s.into()),
        after: None,
        count: 50,
    };
    let found = w
        .store
        .list_group_members(w.org.id, group.id, &find("HOPP"))
        .await
        .expect("find")
        .expect("the group");
    assert_eq!(found.members.len(), 1);
    assert_eq!(found.members[0].id.to_string(), hopper);
    let none = w
        .store
        .list_group_members(w.org.id, group.id, &find("nobody"))
        .await
        .expect("find")
        .expect("the group");
    assert!(none.members.is_empty());
    // The list shows its source and member count; another organisation sees nothing.
    let list = w
        .store
        .list_groups(w.org.id, None, 50)
        .await
        .expect("groups");
    assert_eq!(list.total, 1);
    assert_eq!(list.groups[0].members, 8);
    assert_eq!(list.groups[0].source, Source::Scim);
    assert!(
        other
            .store
            .list_group_members(other.org.id, group.id, &find("hopp"))
            .await
            .expect("members")
            .is_none(),
        "another organisation's group is not found"
    );
    assert!(
        other
            .store
            .get_group(other.org.id, group.id)
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        other
            .store
            .list_groups(other.org.id, None, 50)
            .await
            .expect("groups")
            .total,
        0
    );
    // After a disconnect the group is manual, and still listed.
    w.dir.disconnect(w.org.id, "cli").await.expect("disconnect");
    let g = w
        .store
        .get_group(w.org.id, group.id)
        .await
        .expect("get")
        .expect("group");
    assert_eq!((g.source, g.members), (Source::Manual, 8));
}

pub async fn manual_groups_are_made_filled_and_deleted_by_administrators(store: Arc<dyn Store>) {
    let w = World::new(store.clone(), OrgKind::Business).await;
    let other = World::new(store, OrgKind::Business).await;
    let synced = w.scim_create("synced@x.example").await.expect("user");
    let manual = w.manual("manual@x.example").await;
    let members = |w: &World, id: ResourceId| {
        let store = w.store.clone();
        let org = w.org.id;
        async move {
            let page = store
                .list_group_members(
                    org,
                    id,
                    &MemberQuery {
                        search: None,
                        after: None,
                        count: 50,
                    },
                )
                .await
                .expect("members")
                .expect("the group");
            let mut ids: Vec<String> = page.members.iter().map(|m| m.id.to_string()).collect();
            ids.sort();
            ids
        }
    };
    // Created empty, manual; SCIM never sees it.
    let g = w
        .dir
        .create_group(w.org.id, "ada@admin", "  Volunteers ", &[])
        .await
        .expect("create");
    assert_eq!(g.source, Source::Manual);
    assert_eq!(g.members, 0);
    assert_eq!(g.resource.doc["displayName"], "Volunteers");
    let gid = g.resource.id.to_string();
    assert!(
        w.scim
            .get(w.org.id, ResourceKind::Group, &gid, Load::default())
            .await
            .is_err(),
        "SCIM does not see a manual group"
    );
    assert_eq!(w.scim_totals(ResourceKind::Group).await, (0, 0));
    // A blank name is refused.
    assert!(matches!(
        w.dir.create_group(w.org.id, "ada@admin", "   ", &[]).await,
        Err(DirectoryError::Invalid(_))
    ));
    let edit = |e: GroupEdit| w.dir.edit_group(w.org.id, "ada@admin", &gid, e);
    // Any account joins by userName, in any case; SCIM's view of the synced one is unchanged.
    let edited = edit(GroupEdit {
        add_user_names: vec!["SYNCED@x.example".into(), "manual@x.example".into()],
        ..GroupEdit::default()
    })
    .await
    .expect("add members");
    assert_eq!(edited.members, 2);
    let mut both = vec![synced.clone(), manual.clone()];
    both.sort();
    assert_eq!(members(&w, g.resource.id).await, both);
    // Each member's groups name it, whatever the member's source.
    for m in [&synced, &manual] {
        let groups = w
            .store
            .groups_of_member(w.org.id, m.parse().expect("id"))
            .await
            .expect("groups of member");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].id, g.resource.id);
        assert_eq!(groups[0].display.as_deref(), Some("Volunteers"));
    }
    assert!(
        other
            .store
            .groups_of_member(other.org.id, manual.parse().expect("id"))
            .await
            .expect("groups of member")
            .is_empty()
    );
    let seen = w.scim_get(&synced).await.expect("scim user");
    assert!(
        seen.get("groups")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty()),
        "SCIM lists no manual group on a user: {seen}"
    );
    // An unknown userName is refused and changes nothing (not even the name beside it).
    let refused = edit(GroupEdit {
        display_name: Some("Renamed".into()),
        add_user_names: vec!["nobody@x.example".into()],
        ..GroupEdit::default()
    })
    .await;
    assert!(
        matches!(refused, Err(DirectoryError::Invalid(_))),
        "{refused:?}"
    );
    let (again, _) = w
        .dir
        .group_members(w.org.id, &gid, &MemberQuery::default())
        .await
        .expect("group");
    assert_eq!(again.resource.doc["displayName"], "Volunteers");
    assert_eq!(again.members, 2);
    // Renamed, and a member removed, in one change.
    let edited = edit(GroupEdit {
        display_name: Some("Helpers".into()),
        remove: vec![synced.clone()],
        ..GroupEdit::default()
    })
    .await
    .expect("rename and remove");
    assert_eq!(edited.resource.doc["displayName"], "Helpers");
    assert_eq!(members(&w, g.resource.id).await, vec![manual.clone()]);
    // Another organisation cannot touch it; a group directory sync owns is read-only here.
    assert!(matches!(
        other
            .dir
            .delete_group(other.org.id, "eve@admin", &gid)
            .await,
        Err(DirectoryError::NotFound(_))
    ));
    let scim_group = w
        .scim
        .create(
            w.org.id,
            ResourceKind::Group,
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                     "displayName": "Synced", "members": [{ "value": synced }] }),
            Load::default(),
        )
        .await
        .expect("scim group");
    let sid = scim_group.id.to_string();
    assert!(matches!(
        w.dir
            .edit_group(
                w.org.id,
                "ada@admin",
                &sid,
                GroupEdit {
                    display_name: Some("Mine".into()),
                    ..GroupEdit::default()
                },
            )
            .await,
        Err(DirectoryError::ReadOnly(_))
    ));
    assert!(matches!(
        w.dir.delete_group(w.org.id, "ada@admin", &sid).await,
        Err(DirectoryError::ReadOnly(_))
    ));
    assert_eq!(members(&w, scim_group.id).await, vec![synced.clone()]);
    // Deleted: its members stay, in no group of its.
    w.dir
        .delete_group(w.org.id, "ada@admin", &gid)
        .await
        .expect("delete");
    assert!(
        w.store
            .get_group(w.org.id, g.resource.id)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        w.store
            .get_account(w.org.id, manual.parse().expect("id"))
            .await
            .expect("get")
            .is_some()
    );
    // Applications follow it like any group; every act is logged.
    let types = crate::cases::kinds_after(w.store.as_ref(), w.org.id, 0).await;
    for t in [
        "group.created",
        "group.member_added",
        "group.member_removed",
        "group.updated",
        "group.deleted",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let actions = w.actions().await;
    for a in ["group.create", "group.edit", "group.delete"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}
