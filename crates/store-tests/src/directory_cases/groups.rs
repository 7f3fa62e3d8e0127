//! The console's groups (docs/contract.md, "Account search"): every source with member counts,
//! and a group's members paged by member id and found with the account search.

use super::*;
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
