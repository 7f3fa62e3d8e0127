//! Concurrent requests never produce duplicate `userName`s, lost group members or lost updates
//! (docs/contract.md, "Reliability and security promises").

use crate::common::*;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use tokio::task::JoinSet;

/// `base` with the case of its letters flipped according to the bits of `n`.
fn case_variant(base: &str, n: usize) -> String {
    base.chars()
        .enumerate()
        .map(|(i, c)| {
            if (n >> (i % 16)) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn parallel_creates_of_one_user_name_in_any_case_yield_exactly_one_user() {
    let s = Server::start();
    let api = s.api();
    let base = format!("alice.{}@x.example", random_hex(6));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let mut tasks = JoinSet::new();
    for n in 0..50 {
        let api = api.clone();
        let barrier = barrier.clone();
        let user_name = case_variant(&base, n * 2654435761 % 65536);
        tasks.spawn(async move {
            barrier.wait().await;
            api.post("/Users", &user_body(&user_name)).await
        });
    }
    let mut created = Vec::new();
    let mut conflicts = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r.expect("task");
        match r.status {
            201 => created.push(r.id()),
            _ => {
                r.expect_error(409, Some("uniqueness"));
                conflicts += 1;
            }
        }
    }
    assert_eq!(created.len(), 1, "exactly one create wins");
    assert_eq!(conflicts, 49);
    let r = api
        .get(&format!("/Users?{}", filter_eq("userName", &base)))
        .await;
    r.expect_list();
    assert_eq!(r.resource_ids(), created);
    assert_eq!(api.user_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn parallel_member_adds_to_one_group_lose_no_member() {
    let s = Server::start();
    let api = s.api();
    let mut users = Vec::new();
    for i in 0..16 {
        users.push(
            api.create_user(&format!("member{i}_{}@example.com", random_hex(6)))
                .await,
        );
    }
    let gid = api.create_group("Busy group", &[]).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(users.len()));
    let mut tasks = JoinSet::new();
    for u in &users {
        let api = api.clone();
        let barrier = barrier.clone();
        let path = format!("/Groups/{gid}");
        let body = patch_op(json!([{ "op": "add", "path": "members", "value": [{ "value": u }] }]));
        tasks.spawn(async move {
            barrier.wait().await;
            api.patch(&path, &body).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect(204);
    }
    let all: BTreeSet<String> = users.iter().cloned().collect();
    assert_eq!(api.member_ids(&gid).await, all);

    // And the same for removals: all of them happen.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(users.len()));
    let mut tasks = JoinSet::new();
    for u in &users {
        let api = api.clone();
        let barrier = barrier.clone();
        let path = format!("/Groups/{gid}");
        let body =
            patch_op(json!([{ "op": "remove", "path": format!("members[value eq \"{u}\"]") }]));
        tasks.spawn(async move {
            barrier.wait().await;
            api.patch(&path, &body).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect(204);
    }
    assert_eq!(api.member_ids(&gid).await, BTreeSet::new());
}

/// Twenty single-valued attributes of a User, as PATCH paths.
const ATTRIBUTES: [&str; 20] = [
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "externalId",
    "name.givenName",
    "name.familyName",
    "name.middleName",
    "name.honorificPrefix",
    "name.honorificSuffix",
    "name.formatted",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
];

/// A valid value for each attribute (`profileUrl` is a reference, `locale` and
/// `preferredLanguage` have formats, `timezone` is an IANA name).
fn value_for(attr: &str) -> String {
    match attr {
        "profileUrl" => "https://example.com/profiles/42".to_owned(),
        "locale" => "en-GB".to_owned(),
        "preferredLanguage" => "en-GB".to_owned(),
        "timezone" => "Europe/London".to_owned(),
        other => format!("value of {}", other.rsplit(':').next().unwrap_or(other)),
    }
}

/// Reads a PATCH path out of a User resource.
fn read(user: &Value, attr: &str) -> Value {
    if let Some(rest) = attr.strip_prefix(&format!("{ENTERPRISE_URN}:")) {
        return user[ENTERPRISE_URN][rest].clone();
    }
    match attr.split_once('.') {
        Some((a, b)) => user[a][b].clone(),
        None => user[attr].clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn parallel_patches_of_different_attributes_lose_no_update() {
    let s = Server::start();
    let api = s.api();
    let id = api
        .create_user_from(&json!({ "schemas": [USER_URN], "userName": "target@example.com" }))
        .await
        .id();
    let initial = version_of(api.get(&format!("/Users/{id}")).await.json());
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(ATTRIBUTES.len()));
    let mut tasks = JoinSet::new();
    for attr in ATTRIBUTES {
        let api = api.clone();
        let barrier = barrier.clone();
        let path = format!("/Users/{id}");
        let body = patch_op(json!([{ "op": "replace", "path": attr, "value": value_for(attr) }]));
        tasks.spawn(async move {
            barrier.wait().await;
            (attr, api.patch(&path, &body).await)
        });
    }
    let mut versions = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        let (attr, r) = r.expect("task");
        r.expect(200);
        let v = version_of(r.json());
        assert_eq!(r.header("etag"), Some(v.as_str()), "{attr}");
        assert!(
            versions.insert(v.clone()),
            "two concurrent PATCHes answered with the same version {v}"
        );
    }
    assert!(
        !versions.contains(&initial),
        "a PATCH answered with the version from before"
    );
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    for attr in ATTRIBUTES {
        assert_eq!(
            read(&user, attr),
            json!(value_for(attr)),
            "{attr} lost: {user}"
        );
    }
    assert_eq!(user["userName"], json!("target@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn parallel_creates_of_distinct_users_all_succeed() {
    let s = Server::start();
    let api = s.api();
    let mut tasks = JoinSet::new();
    for i in 0..64 {
        let api = api.clone();
        tasks.spawn(async move {
            api.post("/Users", &user_body(&format!("parallel{i}@example.com")))
                .await
        });
    }
    let mut ids = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.expect("task");
        r.expect(201);
        assert!(ids.insert(r.id()), "duplicate id");
    }
    assert_eq!(api.user_count().await, 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn parallel_renames_to_one_user_name_yield_exactly_one_winner() {
    let s = Server::start();
    let api = s.api();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(api.create_user(&format!("before{i}@example.com")).await);
    }
    let target = format!("bob.{}@y.example", random_hex(6));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(ids.len()));
    let mut tasks = JoinSet::new();
    for (n, id) in ids.iter().enumerate() {
        let api = api.clone();
        let barrier = barrier.clone();
        let path = format!("/Users/{id}");
        let body = patch_op(
            json!([{ "op": "replace", "path": "userName", "value": case_variant(&target, n * 40503 % 65536) }]),
        );
        tasks.spawn(async move {
            barrier.wait().await;
            api.patch(&path, &body).await
        });
    }
    let mut winners = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r.expect("task");
        if r.status == 200 {
            winners += 1;
        } else {
            r.expect_error(409, Some("uniqueness"));
        }
    }
    assert_eq!(winners, 1);
    let r = api
        .get(&format!("/Users?{}", filter_eq("userName", &target)))
        .await;
    r.expect_list();
    assert_eq!(r.total(), 1);
    assert_eq!(api.user_count().await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn member_adds_racing_user_deletes_leave_no_dangling_member() {
    let s = Server::start();
    let api = s.api();
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(api.create_user(&format!("racer{i}@example.com")).await);
    }
    let gid = api.create_group("Race track", &[]).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(users.len() * 2));
    let mut tasks = JoinSet::new();
    for u in &users {
        for delete in [true, false] {
            let api = api.clone();
            let barrier = barrier.clone();
            let u = u.clone();
            let gid = gid.clone();
            tasks.spawn(async move {
                barrier.wait().await;
                if delete {
                    let r = api.delete(&format!("/Users/{u}")).await;
                    r.expect(204);
                } else {
                    let body = patch_op(
                        json!([{ "op": "add", "path": "members", "value": [{ "value": u }] }]),
                    );
                    let r = api.patch(&format!("/Groups/{gid}"), &body).await;
                    if r.status != 204 {
                        r.expect_error(400, Some("invalidValue"));
                    }
                }
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    assert_eq!(
        api.member_ids(&gid).await,
        BTreeSet::new(),
        "members that no longer exist"
    );
    assert_eq!(api.user_count().await, 0);
}
