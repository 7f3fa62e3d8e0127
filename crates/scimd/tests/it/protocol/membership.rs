//! Group membership: exact under every kind of change.

use super::*;

#[tokio::test]
async fn user_groups_attribute_reflects_membership() {
    let s = Server::start();
    let api = s.api();
    let uid = api.create_user("member@example.com").await;
    let g1 = api.create_group("First", &[&uid]).await;
    let g2 = api.create_group("Second", &[]).await;
    api.patch(
        &format!("/Groups/{g2}"),
        &patch_op(json!([{ "op": "add", "path": "members", "value": [{ "value": uid }] }])),
    )
    .await
    .expect(204);
    let user = api.get(&format!("/Users/{uid}")).await.json().clone();
    let groups = user["groups"].as_array().cloned().unwrap_or_default();
    let values: BTreeSet<String> = groups
        .iter()
        .filter_map(|g| g["value"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(values, BTreeSet::from([g1.clone(), g2.clone()]), "{user}");
    for g in &groups {
        let name = if g["value"] == json!(g1) {
            "First"
        } else {
            "Second"
        };
        assert!(
            g.get("display").is_none_or(|d| d == name),
            "display of {g} is not the group's name"
        );
        assert!(
            g.get("$ref").is_none_or(|r| r
                == &json!(format!(
                    "{}/Groups/{}",
                    s.base,
                    g["value"].as_str().unwrap_or("")
                ))),
            "{g}"
        );
    }

    api.patch(
        &format!("/Groups/{g1}"),
        &patch_op(json!([{ "op": "remove", "path": format!("members[value eq \"{uid}\"]") }])),
    )
    .await
    .expect(204);
    let user = api.get(&format!("/Users/{uid}")).await.json().clone();
    let groups: Vec<&str> = user["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["value"].as_str())
        .collect();
    assert_eq!(groups, vec![g2.as_str()], "{user}");

    api.delete(&format!("/Groups/{g2}")).await.expect(204);
    let user = api.get(&format!("/Users/{uid}")).await.json().clone();
    assert!(
        user["groups"].as_array().is_none_or(Vec::is_empty),
        "{user}"
    );

    // groups is read-only.
    let r = api
        .patch(
            &format!("/Users/{uid}"),
            &patch_op(json!([{ "op": "add", "path": "groups", "value": [{ "value": g1 }] }])),
        )
        .await;
    r.expect_error(400, Some("mutability"));
    assert_eq!(api.member_ids(&g1).await, BTreeSet::new());
}

#[tokio::test]
async fn deleting_a_user_removes_it_from_its_groups() {
    let s = Server::start();
    let api = s.api();
    let u1 = api.create_user("leaver@example.com").await;
    let u2 = api.create_user("stayer@example.com").await;
    let g = api.create_group("Team", &[&u1, &u2]).await;
    let other = api.create_group("Other", &[&u1]).await;
    api.delete(&format!("/Users/{u1}")).await.expect(204);
    assert_eq!(api.member_ids(&g).await, BTreeSet::from([u2.clone()]));
    assert_eq!(api.member_ids(&other).await, BTreeSet::new());
    let r = api
        .get(&format!("/Groups?{}", filter_eq("members.value", &u1)))
        .await;
    r.expect_list();
    assert_eq!(r.total(), 0);
}

#[tokio::test]
async fn nested_groups_are_members_of_type_group() {
    let s = Server::start();
    let api = s.api();
    let inner = api.create_group("Inner", &[]).await;
    let outer = api.create_group("Outer", &[&inner]).await;
    let r = api.get(&format!("/Groups/{outer}")).await;
    r.expect(200);
    let members = r.json()["members"].as_array().cloned().unwrap_or_default();
    assert_eq!(members.len(), 1, "{}", r.text);
    assert_eq!(members[0]["value"], json!(inner));
    assert_eq!(members[0]["type"], json!("Group"));
    // Deleting the inner group takes it out of the outer one.
    api.delete(&format!("/Groups/{inner}")).await.expect(204);
    assert_eq!(api.member_ids(&outer).await, BTreeSet::new());
}
