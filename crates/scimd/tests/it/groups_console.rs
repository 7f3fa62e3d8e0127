//! The console's group pages: the groups list links each group with its source and member
//! count; a group's page lists its members in keyset pages, finds one, links each to its
//! account, and is another organisation's 404.

use crate::common::{Server, add_admin, api_session};
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
    let mut bea = other_admin(&server).await;
    assert_eq!(bea.get(&format!("/groups/{gid}")).await.status, 404);
    assert!(!bea.get("/groups").await.body.contains("Engineering"));
}

/// bea@example.com, signed in as the administrator of a second organisation.
async fn other_admin(server: &Server) -> crate::console::Browser {
    let other = server.second_org();
    add_admin(
        server,
        &other.id,
        "bea@example.com",
        crate::console::PASSWORD,
    );
    crate::console::Browser::signed_in(server, "bea@example.com").await
}

/// The group id of a `/groups/{id}?done=...` redirect.
fn group_of(location: Option<&str>) -> String {
    let l = location.expect("a redirect");
    l.strip_prefix("/groups/")
        .and_then(|s| s.split('?').next())
        .unwrap_or_else(|| panic!("not a group page: {l}"))
        .to_owned()
}

#[tokio::test]
async fn an_administrator_makes_fills_renames_and_deletes_a_manual_group() {
    let server = Server::start();
    let token = server.org.token.clone();
    let synced = server
        .client
        .post(
            "/Users",
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                     "userName": "synced@example.com" }),
            &token,
        )
        .await;
    synced.expect(201);
    let synced = synced.id();
    let mut b = first_admin(&server).await;
    b.get("/accounts/new").await;
    let manual = b
        .post(
            "/accounts",
            &[("userName", "manual@example.com"), ("active", "on")],
        )
        .await;
    assert_eq!(manual.status, 303, "{}", manual.body);

    // A blank name is refused next to the field, and nothing is made.
    assert!(b.get("/groups").await.body.contains("href=\"/groups/new\""));
    b.get("/groups/new").await;
    let blank = b.post("/groups", &[("displayName", "  ")]).await;
    assert_eq!(blank.status, 400, "{}", blank.body);
    assert!(
        blank.body.contains("id=\"displayName-error\""),
        "{}",
        blank.body
    );
    assert!(b.get("/groups").await.body.contains("0 groups"));

    let made = b.post("/groups", &[("displayName", "Volunteers")]).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let gid = group_of(made.location.as_deref());
    let page = b.get(made.location.as_deref().expect("location")).await;
    assert!(page.body.contains("The group is created"), "{}", page.body);
    assert!(page.body.contains("<dd id=\"member-count\">0</dd>"));

    // An unknown user name is refused next to its field, kept in it, and adds nobody.
    let here = format!("/groups/{gid}");
    let refused = b
        .post(
            &format!("{here}/members"),
            &[("userName", "nobody@example.com")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"userName-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"nobody@example.com\""));
    assert!(refused.body.contains("<dd id=\"member-count\">0</dd>"));
    for name in ["SYNCED@example.com", "manual@example.com"] {
        let added = b
            .post(&format!("{here}/members"), &[("userName", name)])
            .await;
        assert_eq!(added.status, 303, "{}", added.body);
    }
    let page = b.get(&here).await;
    assert!(
        page.body.contains("<dd id=\"member-count\">2</dd>"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("href=\"/accounts/{synced}\"")));

    // SCIM never sees the manual group, nor lists it on the synced member.
    server
        .client
        .get(&format!("/Groups/{gid}"), &token)
        .await
        .expect(404);
    assert_eq!(server.client.get("/Groups", &token).await.total(), 0);
    let user = server.client.get(&format!("/Users/{synced}"), &token).await;
    user.expect(200);
    assert!(
        user.json()["groups"]
            .as_array()
            .is_none_or(|g| g.is_empty()),
        "{}",
        user.text
    );

    // Renamed; a member removed.
    let renamed = b
        .post(&format!("{here}/edit"), &[("displayName", "Helpers")])
        .await;
    assert_eq!(renamed.status, 303);
    let removed = b
        .post(&format!("{here}/remove"), &[("member", synced.as_str())])
        .await;
    assert_eq!(removed.status, 303);
    let page = b.get(&here).await;
    assert!(page.body.contains("<dd>Helpers</dd>"), "{}", page.body);
    assert!(page.body.contains("<dd id=\"member-count\">1</dd>"));

    // The manual member's page lists the group.
    let manual_id = manual
        .location
        .as_deref()
        .expect("location")
        .trim_start_matches("/accounts/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();
    let account = b.get(&format!("/accounts/{manual_id}")).await;
    assert!(
        account.body.contains(&format!("href=\"/groups/{gid}\"")),
        "{}",
        account.body
    );

    // A group directory sync owns offers no change, and refuses one.
    let scim_group = server
        .client
        .post(
            "/Groups",
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                     "displayName": "Synced", "members": [{ "value": synced }] }),
            &token,
        )
        .await;
    scim_group.expect(201);
    let sid = scim_group.id();
    let page = b.get(&format!("/groups/{sid}")).await;
    assert!(!page.body.contains("Change this group"), "{}", page.body);
    let refused = b
        .post(&format!("/groups/{sid}/edit"), &[("displayName", "Mine")])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(b.get(&format!("/groups/{sid}/delete")).await.status, 403);

    // The administrators' API does the same through the same service.
    add_admin(
        &server,
        &server.org.id,
        "api@example.com",
        crate::console::PASSWORD,
    );
    let session = api_session(
        &server,
        &server.org.id,
        "api@example.com",
        crate::console::PASSWORD,
    )
    .await;
    let api = |p: &str| format!("{}/api/v1{p}", server.origin);
    let make = |body: serde_json::Value| {
        let (url, session) = (api("/groups"), session.clone());
        let client = &server.client;
        async move { client.post(&url, &body, &session).await }
    };
    let team = make(json!({ "displayName": "Team", "add": ["synced@example.com"] })).await;
    assert_eq!(team.status, 201, "{}", team.text);
    assert_eq!(team.json()["members"], 1);
    assert_eq!(team.json()["source"], "manual");
    let refused = make(json!({ "displayName": "Ghosts", "add": ["nobody@example.com"] })).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let list = server.client.get(&api("/groups"), &session).await;
    assert_eq!(
        list.json()["total"],
        3,
        "the refused group was not made: {}",
        list.text
    );
    let read_only = server
        .client
        .patch(
            &api(&format!("/groups/{sid}")),
            &json!({ "displayName": "Mine" }),
            &session,
        )
        .await;
    assert_eq!(read_only.status, 403, "{}", read_only.text);
    assert_eq!(read_only.json()["error"], "read_only");
    let team_id = team.json()["id"].as_str().expect("id").to_owned();
    let gone = server
        .client
        .delete(&api(&format!("/groups/{team_id}")), &session)
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);

    // Another organisation's administrator cannot reach it.
    let mut bea = other_admin(&server).await;
    bea.get("/groups").await;
    let foreign = bea
        .post(&format!("{here}/edit"), &[("displayName", "Taken")])
        .await;
    assert_eq!(foreign.status, 404);

    // Deleted after a confirmation; its members' accounts stay.
    let confirm = b.get(&format!("{here}/delete")).await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm.body.contains("Delete the group Helpers?"),
        "{}",
        confirm.body
    );
    let deleted = b.post(&format!("{here}/delete"), &[]).await;
    assert_eq!(deleted.status, 303);
    assert_eq!(deleted.location.as_deref(), Some("/groups?done=deleted"));
    assert_eq!(b.get(&here).await.status, 404);
    assert!(b.get("/accounts").await.body.contains("manual@example.com"));
    let actions = b.get("/activity").await.body;
    for a in ["group.create", "group.edit", "group.delete"] {
        assert!(actions.contains(a), "{a} in the activity");
    }
}
