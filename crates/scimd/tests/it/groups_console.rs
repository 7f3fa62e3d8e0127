//! The console's group pages: the groups list links each group with its source and member
//! count; a group's page lists its members in keyset pages, finds one, links each to its
//! account, and is another organisation's 404.

use crate::common::{Server, add_admin};
use crate::console::first_admin;
use serde_json::json;

#[tokio::test]
async fn a_group_page_lists_its_members_in_pages_and_finds_one() {
    let server = Server::start();
    let token = server.org.token.clone();
    let mut members = Vec::new();
    for i in 0..60 {
        let family = if i == 42 { "Hopper" } else { "Member" };
        let r = server
            .client
            .post(
                "/Users",
                &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                         "userName": format!("user{i}@example.com"),
                         "name": { "givenName": "Test", "familyName": family } }),
                &token,
            )
            .await;
        r.expect(201);
        members.push(json!({ "value": r.id() }));
    }
    let grace = members[42]["value"].as_str().expect("id").to_owned();
    let group = server
        .client
        .post(
            "/Groups",
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                     "displayName": "Engineering", "members": members }),
            &token,
        )
        .await;
    group.expect(201);
    let gid = group.id();
    let mut b = first_admin(&server).await;

    let list = b.get("/groups").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains(&format!("href=\"/groups/{gid}\"")),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("<td>Directory sync</td><td>60</td>"),
        "{}",
        list.body
    );

    let first = b.get(&format!("/groups/{gid}")).await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains("<dd id=\"member-count\">60</dd>"));
    assert_eq!(
        first.body.matches("href=\"/accounts/").count(),
        50,
        "a page of 50"
    );
    let next = first
        .body
        .split("rel=\"next\"")
        .next()
        .and_then(|s| s.rsplit("href=\"").next())
        .and_then(|s| s.split('"').next())
        .expect("a next page link")
        .replace("&amp;", "&");
    let second = b.get(&next).await;
    assert_eq!(second.status, 200);
    assert_eq!(
        second.body.matches("href=\"/accounts/").count(),
        10,
        "the rest"
    );
    assert!(!second.body.contains("rel=\"next\""));

    let found = b.get(&format!("/groups/{gid}?search=HOPP")).await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body.matches("href=\"/accounts/").count(), 1);
    assert!(found.body.contains(&format!("href=\"/accounts/{grace}\"")));
    let account = b.get(&format!("/accounts/{grace}")).await;
    assert_eq!(account.status, 200);
    let none = b.get(&format!("/groups/{gid}?search=nobody")).await;
    assert!(none.body.contains("No member matches"));

    // A bad cursor is a 400; an unknown group a 404.
    assert_eq!(
        b.get(&format!("/groups/{gid}?after=nonsense")).await.status,
        400
    );
    assert_eq!(b.get("/groups/not-an-id").await.status, 404);

    // Another organisation's administrator never sees the group.
    let other = server.second_org();
    add_admin(
        &server,
        &other.id,
        "bea@example.com",
        crate::console::PASSWORD,
    );
    let mut bea = crate::console::Browser::signed_in(&server, "bea@example.com").await;
    assert_eq!(bea.get(&format!("/groups/{gid}")).await.status, 404);
    assert!(!bea.get("/groups").await.body.contains("Engineering"));
}
