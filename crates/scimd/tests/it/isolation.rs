//! Two organisations on one server: whatever organisation B's token asks, it can neither see
//! nor change organisation A's users and groups, and "exists in another organisation" answers
//! exactly like "does not exist".

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Organisation A's fixture: one user in one group.
struct Fixture {
    server: Server,
    a: Api,
    b: Api,
    user: String,
    user_name: String,
    external_id: String,
    group: String,
    group_name: String,
}

async fn fixture() -> Fixture {
    let server = Server::start();
    let org_b = server.second_org();
    let a = server.api();
    let b = server.api_as(&org_b);
    let user_name = format!("alice_{}@a.example", random_hex(8));
    let external_id = format!("ext-{}", random_hex(8));
    let mut body = user_body(&user_name);
    body["externalId"] = json!(external_id);
    let user = a.create_user_from(&body).await.id();
    let group_name = format!("A-team {}", random_hex(6));
    let group = a.create_group(&group_name, &[&user]).await;
    Fixture {
        server,
        a,
        b,
        user,
        user_name,
        external_id,
        group,
        group_name,
    }
}

/// An id of the same shape as `id` that names nothing: `id` with its last hex digit changed.
fn sibling_id(id: &str) -> String {
    let mut chars: Vec<char> = id.chars().collect();
    let last = chars.last_mut().expect("non-empty id");
    *last = if *last == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

/// The reply with the id it was about replaced by a placeholder, for comparing two replies.
fn normalised(r: &Reply, id: &str) -> (u16, String, String) {
    (
        r.status,
        r.content_type().to_owned(),
        r.text.replace(id, "<id>"),
    )
}

/// Asserts that B's request about A's resource and the same request about an id that does
/// not exist get identical answers, and that the answer is a 404 SCIM error.
#[track_caller]
fn assert_same_as_missing(foreign: &Reply, foreign_id: &str, missing: &Reply, missing_id: &str) {
    foreign.expect_error(404, None);
    assert_eq!(
        normalised(foreign, foreign_id),
        normalised(missing, missing_id),
        "a foreign resource must look exactly like a missing one"
    );
}

#[tokio::test]
async fn other_org_cannot_get_user_or_group_by_id() {
    let f = fixture().await;
    for (endpoint, id) in [("Users", &f.user), ("Groups", &f.group)] {
        let missing = sibling_id(id);
        let foreign = f.b.get(&format!("/{endpoint}/{id}")).await;
        let none = f.b.get(&format!("/{endpoint}/{missing}")).await;
        assert_same_as_missing(&foreign, id, &none, &missing);
        // With a projection and a conditional header too.
        let foreign = f.b.get(&format!("/{endpoint}/{id}?attributes=id")).await;
        foreign.expect_error(404, None);
        let foreign =
            f.b.send(
                Method::GET,
                &format!("/{endpoint}/{id}"),
                None,
                &[("If-None-Match", "*")],
            )
            .await;
        foreign.expect_error(404, None);
    }
    // A still sees both.
    f.a.get(&format!("/Users/{}", f.user)).await.expect(200);
    f.a.get(&format!("/Groups/{}", f.group)).await.expect(200);
}

#[tokio::test]
async fn other_org_lists_and_filters_see_nothing_of_the_first() {
    let f = fixture().await;
    let queries = [
        "/Users".to_owned(),
        "/Users?startIndex=1&count=100".to_owned(),
        "/Users?cursor=&count=10".to_owned(),
        format!("/Users?{}", filter_eq("id", &f.user)),
        format!("/Users?{}", filter_eq("userName", &f.user_name)),
        format!(
            "/Users?{}",
            filter_eq("userName", &f.user_name.to_uppercase())
        ),
        format!("/Users?{}", filter_eq("externalId", &f.external_id)),
        format!("/Users?{}", filter("userName pr")),
        format!(
            "/Users?{}",
            filter(&format!("emails[value co \"{}\"]", &f.user_name[..8]))
        ),
        "/Groups".to_owned(),
        format!("/Groups?{}", filter_eq("id", &f.group)),
        format!("/Groups?{}", filter_eq("displayName", &f.group_name)),
        format!("/Groups?{}", filter_eq("members.value", &f.user)),
    ];
    for q in &queries {
        let r = f.b.get(q).await;
        let body = r.expect_list();
        // RFC 9865 lets a cursor-paged answer omit totalResults; otherwise it is 0.
        if !(q.contains("cursor=") && body.get("totalResults").is_none()) {
            assert_eq!(body["totalResults"], json!(0), "{q}: {body}");
        }
        assert_eq!(body["Resources"], json!([]), "{q}: {body}");
    }
    // Once B has data of its own, it sees exactly that.
    let own =
        f.b.create_user(&format!("bob_{}@b.example", random_hex(6)))
            .await;
    let r = f.b.get("/Users").await;
    r.expect_list();
    assert_eq!(r.resource_ids(), vec![own]);
    // And A's own queries still find A's resources.
    let r =
        f.a.get(&format!("/Users?{}", filter_eq("userName", &f.user_name)))
            .await;
    r.expect_list();
    assert_eq!(r.resource_ids(), vec![f.user.clone()]);
}

#[tokio::test]
async fn other_org_search_endpoints_see_nothing_of_the_first() {
    let f = fixture().await;
    let searches = [
        (
            "/Users/.search",
            json!({ "schemas": [SEARCH_URN], "filter": format!("userName eq \"{}\"", f.user_name) }),
        ),
        (
            "/Users/.search",
            json!({ "schemas": [SEARCH_URN], "filter": format!("id eq \"{}\"", f.user) }),
        ),
        ("/Users/.search", json!({ "schemas": [SEARCH_URN] })),
        (
            "/Groups/.search",
            json!({ "schemas": [SEARCH_URN], "filter": format!("displayName eq \"{}\"", f.group_name) }),
        ),
        ("/Groups/.search", json!({ "schemas": [SEARCH_URN] })),
        ("/.search", json!({ "schemas": [SEARCH_URN] })),
        (
            "/.search",
            json!({ "schemas": [SEARCH_URN], "filter": format!("id eq \"{}\"", f.user) }),
        ),
    ];
    for (path, body) in &searches {
        let r = f.b.post(path, body).await;
        let list = r.expect_list();
        assert_eq!(list["totalResults"], json!(0), "{path} {body}: {list}");
        assert_eq!(list["Resources"], json!([]), "{path} {body}: {list}");
    }
    // The same root search from A finds A's user and group.
    let r =
        f.a.post("/.search", &json!({ "schemas": [SEARCH_URN] }))
            .await;
    r.expect_list();
    assert_eq!(r.total(), 2);
}

#[tokio::test]
async fn other_org_cannot_patch_put_or_delete_the_first_orgs_resources() {
    let f = fixture().await;
    let before_user = f.a.get(&format!("/Users/{}", f.user)).await.json().clone();
    let before_group =
        f.a.get(&format!(
            "/Groups/{}?attributes=members,displayName",
            f.group
        ))
        .await
        .json()
        .clone();

    let user_patch =
        patch_op(json!([{ "op": "replace", "path": "displayName", "value": "pwned" }]));
    let group_patch = patch_op(json!([{ "op": "remove", "path": "members" }]));
    let user_put = user_body(&f.user_name);
    let group_put = json!({ "schemas": [GROUP_URN], "displayName": "pwned", "members": [] });

    for (endpoint, id, patch, put) in [
        ("Users", &f.user, &user_patch, &user_put),
        ("Groups", &f.group, &group_patch, &group_put),
    ] {
        let missing = sibling_id(id);
        let pairs = [
            (
                f.b.patch(&format!("/{endpoint}/{id}"), patch).await,
                f.b.patch(&format!("/{endpoint}/{missing}"), patch).await,
            ),
            (
                f.b.put(&format!("/{endpoint}/{id}"), put).await,
                f.b.put(&format!("/{endpoint}/{missing}"), put).await,
            ),
            (
                f.b.delete(&format!("/{endpoint}/{id}")).await,
                f.b.delete(&format!("/{endpoint}/{missing}")).await,
            ),
            (
                f.b.send(
                    Method::DELETE,
                    &format!("/{endpoint}/{id}"),
                    None,
                    &[("If-Match", "*")],
                )
                .await,
                f.b.send(
                    Method::DELETE,
                    &format!("/{endpoint}/{missing}"),
                    None,
                    &[("If-Match", "*")],
                )
                .await,
            ),
        ];
        for (foreign, none) in &pairs {
            assert_same_as_missing(foreign, id, none, &missing);
        }
    }

    let after_user = f.a.get(&format!("/Users/{}", f.user)).await.json().clone();
    let after_group =
        f.a.get(&format!(
            "/Groups/{}?attributes=members,displayName",
            f.group
        ))
        .await
        .json()
        .clone();
    assert_eq!(after_user, before_user, "A's user changed");
    assert_eq!(after_group, before_group, "A's group changed");
}

#[tokio::test]
async fn other_org_cannot_add_a_foreign_user_as_group_member() {
    let f = fixture().await;
    let b_user =
        f.b.create_user(&format!("bob_{}@b.example", random_hex(6)))
            .await;
    let b_group = f.b.create_group("B group", &[]).await;
    let missing = sibling_id(&f.user);

    let add = |id: &str| {
        patch_op(json!([{ "op": "add", "path": "members", "value": [{ "value": id }] }]))
    };
    let foreign =
        f.b.patch(&format!("/Groups/{b_group}"), &add(&f.user))
            .await;
    let none =
        f.b.patch(&format!("/Groups/{b_group}"), &add(&missing))
            .await;
    foreign.expect_error(400, Some("invalidValue"));
    assert_eq!(
        normalised(&foreign, &f.user),
        normalised(&none, &missing),
        "foreign member looks like a missing one"
    );

    // Mixed with a valid member: nothing is applied.
    let mixed = patch_op(
        json!([{ "op": "add", "path": "members", "value": [{ "value": b_user }, { "value": f.user }] }]),
    );
    f.b.patch(&format!("/Groups/{b_group}"), &mixed)
        .await
        .expect_error(400, Some("invalidValue"));
    assert_eq!(f.b.member_ids(&b_group).await, BTreeSet::new());

    // At creation and by PUT too.
    let create = |id: &str| json!({ "schemas": [GROUP_URN], "displayName": "B second", "members": [{ "value": id }] });
    let foreign = f.b.post("/Groups", &create(&f.user)).await;
    let none = f.b.post("/Groups", &create(&missing)).await;
    foreign.expect_error(400, Some("invalidValue"));
    assert_eq!(normalised(&foreign, &f.user), normalised(&none, &missing));
    let r =
        f.b.put(&format!("/Groups/{b_group}"), &create(&f.user))
            .await;
    r.expect_error(400, Some("invalidValue"));

    // A foreign group as a nested member is refused the same way.
    let r =
        f.b.patch(&format!("/Groups/{b_group}"), &add(&f.group))
            .await;
    r.expect_error(400, Some("invalidValue"));

    // B's group is still empty; A's user is in no B group.
    assert_eq!(f.b.member_ids(&b_group).await, BTreeSet::new());
    let r = f.b.get("/Groups").await;
    r.expect_list();
    assert_eq!(r.total(), 1);
    let user = f.a.get(&format!("/Users/{}", f.user)).await.json().clone();
    let groups: Vec<&str> = user["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["value"].as_str())
        .collect();
    assert_eq!(groups, vec![f.group.as_str()], "{user}");
}

#[tokio::test]
async fn same_user_name_in_two_orgs_is_allowed_and_separate() {
    let f = fixture().await;
    let r = f.b.post("/Users", &user_body(&f.user_name)).await;
    r.expect(201);
    let b_id = r.id();
    assert_ne!(b_id, f.user);
    f.b.patch(
        &format!("/Users/{b_id}"),
        &patch_op(json!([{ "op": "replace", "path": "title", "value": "B title" }])),
    )
    .await
    .expect(200);
    let a_user = f.a.get(&format!("/Users/{}", f.user)).await.json().clone();
    assert!(
        a_user.get("title").is_none(),
        "B's change leaked into A: {a_user}"
    );
    let r =
        f.a.get(&format!("/Users?{}", filter_eq("userName", &f.user_name)))
            .await;
    assert_eq!(r.resource_ids(), vec![f.user.clone()]);
    let r =
        f.b.get(&format!("/Users?{}", filter_eq("userName", &f.user_name)))
            .await;
    assert_eq!(r.resource_ids(), vec![b_id]);
}

#[tokio::test]
async fn other_org_bulk_cannot_touch_the_first_orgs_resources() {
    let f = fixture().await;
    let r = f
        .b
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST_URN],
                "Operations": [
                    { "method": "PATCH", "path": format!("/Users/{}", f.user),
                      "data": patch_op(json!([{ "op": "replace", "path": "active", "value": false }])) },
                    { "method": "PUT", "path": format!("/Groups/{}", f.group),
                      "data": { "schemas": [GROUP_URN], "displayName": "pwned" } },
                    { "method": "DELETE", "path": format!("/Users/{}", f.user) },
                    { "method": "DELETE", "path": format!("/Groups/{}", f.group) }
                ]
            }),
        )
        .await;
    r.expect(200);
    let ops = r.json()["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ops.len(), 4, "{}", r.text);
    for op in &ops {
        assert_eq!(op["status"], json!("404"), "{op}");
    }
    let user = f.a.get(&format!("/Users/{}", f.user)).await.json().clone();
    assert_eq!(user["active"], json!(true));
    let group =
        f.a.get(&format!("/Groups/{}", f.group))
            .await
            .json()
            .clone();
    assert_eq!(group["displayName"], json!(f.group_name));
    assert_eq!(member_values(&group), BTreeSet::from([f.user.clone()]));
}

#[tokio::test]
async fn a_cursor_from_one_org_reveals_nothing_to_another() {
    let f = fixture().await;
    for i in 0..5 {
        f.a.create_user(&format!("more{i}_{}@a.example", random_hex(6)))
            .await;
    }
    let r = f.a.get("/Users?cursor=&count=2").await;
    r.expect_list();
    let next = r.json()["nextCursor"]
        .as_str()
        .expect("a nextCursor on the first of several pages")
        .to_owned();
    let r =
        f.b.get(&format!("/Users?cursor={}&count=2", enc(&next)))
            .await;
    match r.status {
        200 => {
            r.expect_list();
            assert_eq!(
                r.resources(),
                &Vec::<Value>::new(),
                "B read A's users through A's cursor: {}",
                r.text
            );
        }
        _ => {
            r.expect_error(400, None);
        }
    }
}

#[tokio::test]
async fn other_orgs_token_is_not_accepted_after_a_typo_and_reveals_nothing() {
    let f = fixture().await;
    let wrong = f.server.api_with_token(&format!("{}0", f.b.token));
    let r = wrong.get(&format!("/Users/{}", f.user)).await;
    let body = r.expect_error(401, None);
    assert!(
        !r.text.contains(&f.user_name) && !r.text.contains(&f.user),
        "{body}"
    );
}

/// The bytes of unpadded base64url text; `None` for any other character.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut held = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
        }
    }
    Some(out)
}

/// The cursor with one character in its middle changed.
fn tampered(cursor: &str) -> String {
    let mut chars: Vec<char> = cursor.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// What a cursor shows when decoded: it must be neither readable JSON nor name a sequence.
fn assert_opaque(cursor: &str) {
    let bytes = base64url(cursor).unwrap_or_else(|| panic!("not base64url: {cursor}"));
    assert!(
        !bytes.windows(3).any(|w| w == b"seq"),
        "the cursor names its sequence: {}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(
        serde_json::from_slice::<Value>(&bytes).is_err(),
        "the cursor is readable JSON: {}",
        String::from_utf8_lossy(&bytes)
    );
}

/// Keyset cursors are sealed: organisation A's, before and after organisation B creates 25
/// users, show no sequence number (which would count B's writes); one changed, or sent by B,
/// is 400 `invalidCursor` and changes nothing; paging still returns each user exactly once.
/// The API's `after=` cursors are sealed the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_reveal_no_other_organisations_writes_and_cannot_be_forged() {
    let server = Server::start();
    let a = server.api();
    let org_b = server.second_org();
    let b = server.api_as(&org_b);
    let mut created = BTreeSet::new();
    for i in 0..6 {
        created.insert(a.create_user(&format!("sealed{i}@a.example")).await);
    }
    let mut seen = Vec::new();
    let mut cursors = Vec::new();
    let mut url = "/Users?cursor=&count=2".to_owned();
    for page in 0.. {
        assert!(page < 4, "too many pages");
        let r = a.get(&url).await;
        r.expect_list();
        seen.extend(r.resource_ids());
        let Some(next) = r.json().get("nextCursor").and_then(Value::as_str) else {
            break;
        };
        cursors.push(next.to_owned());
        url = format!("/Users?cursor={next}&count=2");
        if page == 0 {
            for i in 0..25 {
                b.create_user(&format!("busy{i}@b.example")).await;
            }
        }
    }
    assert_eq!(cursors.len(), 2, "three pages of two");
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created);
    for cursor in &cursors {
        assert_opaque(cursor);
    }

    for (who, api, cursor) in [
        ("changed", &a, tampered(&cursors[0])),
        ("another organisation's", &b, cursors[0].clone()),
    ] {
        let r = api.get(&format!("/Users?cursor={cursor}&count=2")).await;
        assert_eq!(r.status, 400, "{who} cursor: {}", r.text);
        r.expect_error(400, Some("invalidCursor"));
    }
    assert_eq!(a.get("/Users?count=1").await.total(), 6, "nothing changed");
    assert_eq!(b.get("/Users?count=1").await.total(), 25, "nothing changed");

    add_admin(
        &server,
        &server.org.id,
        "admin@a.example",
        "correct horse battery",
    );
    let r = server
        .client
        .post(
            &format!("{}/api/v1/sessions", server.origin),
            &json!({
                "organisation": server.org.id,
                "email": "admin@a.example",
                "password": "correct horse battery",
            }),
            "",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let session = r.json()["token"].as_str().expect("session").to_owned();
    let accounts = format!("{}/api/v1/accounts", server.origin);
    let r = server
        .client
        .get(&format!("{accounts}?count=2"), &session)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = r.json()["next"].as_str().expect("a next page").to_owned();
    assert_opaque(&after);
    let r = server
        .client
        .get(&format!("{accounts}?count=2&after={after}"), &session)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = server
        .client
        .get(
            &format!("{accounts}?count=2&after={}", tampered(&after)),
            &session,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}
