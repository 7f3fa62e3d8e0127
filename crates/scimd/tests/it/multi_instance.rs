//! Several `scimd serve` processes on one database (PostgreSQL in CI with
//! `SCIMD_TEST_BACKEND=postgres`, SQLite otherwise): writes spread over both instances are never
//! lost, `userName` stays unique, and group membership stays exact.

use crate::common::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use tokio::task::JoinSet;

const CLIENTS: usize = 16;
const USERS_PER_CLIENT: usize = 12;

/// What one client saw acknowledged.
#[derive(Debug, Default)]
struct Acked {
    /// id -> the title its last acknowledged PATCH set.
    alive: BTreeMap<String, String>,
    deleted: BTreeSet<String>,
    /// Members whose add was acknowledged and not removed afterwards.
    members: BTreeSet<String>,
    /// Contested user names this client created (201).
    contested_wins: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_instances_lose_no_acknowledged_write() {
    let a = Server::start();
    let b = a.another_instance();
    let apis = [a.api(), b.api()];
    let group = apis[0].create_group("Shared across instances", &[]).await;
    let run = random_hex(6);
    let mut tasks = JoinSet::new();
    for c in 0..CLIENTS {
        // Each client alternates instances request by request.
        let pair = [apis[c % 2].clone(), apis[(c + 1) % 2].clone()];
        let group = group.clone();
        let run = run.clone();
        tasks.spawn(async move {
            let mut acked = Acked::default();
            for i in 0..USERS_PER_CLIENT {
                let api = &pair[i % 2];
                let other = &pair[(i + 1) % 2];
                let r = api.post("/Users", &user_body(&format!("u{c}-{i}-{run}@x.example"))).await;
                r.expect(201);
                let id = r.id();
                let title = format!("t{c}-{i}");
                other
                    .patch(
                        &format!("/Users/{id}"),
                        &patch_op(json!([{ "op": "replace", "path": "title", "value": title }])),
                    )
                    .await
                    .expect(200);
                acked.alive.insert(id.clone(), title);
                api.patch(
                    &format!("/Groups/{group}"),
                    &patch_op(json!([{ "op": "add", "path": "members", "value": [{ "value": id }] }])),
                )
                .await
                .expect(204);
                acked.members.insert(id.clone());
                if i % 3 == 0 {
                    other
                        .patch(
                            &format!("/Groups/{group}"),
                            &patch_op(json!([{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }])),
                        )
                        .await
                        .expect(204);
                    acked.members.remove(&id);
                }
                if i % 4 == 1 {
                    api.delete(&format!("/Users/{id}")).await.expect(204);
                    acked.alive.remove(&id);
                    acked.members.remove(&id);
                    acked.deleted.insert(id.clone());
                }
                // Every client races for the same few names, in different case.
                let contested = format!("Shared{}-{run}@X.example", i % 3);
                let name = if c % 2 == 0 { contested.to_uppercase() } else { contested.to_lowercase() };
                let r = other.post("/Users", &user_body(&name)).await;
                match r.status {
                    201 => acked.contested_wins.push(name.to_lowercase()),
                    _ => {
                        r.expect_error(409, Some("uniqueness"));
                    }
                }
            }
            acked
        });
    }
    let mut alive = BTreeMap::new();
    let mut deleted = BTreeSet::new();
    let mut members = BTreeSet::new();
    let mut wins = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let acked = done.expect("client task");
        alive.extend(acked.alive);
        deleted.extend(acked.deleted);
        members.extend(acked.members);
        wins.extend(acked.contested_wins);
    }
    // Read back through both instances.
    for api in &apis {
        for (id, title) in &alive {
            let r = api.get(&format!("/Users/{id}")).await;
            r.expect(200);
            assert_eq!(
                r.json()["title"],
                json!(title),
                "last acknowledged PATCH of {id}"
            );
        }
        for id in &deleted {
            api.get(&format!("/Users/{id}"))
                .await
                .expect_error(404, None);
        }
        assert_eq!(api.member_ids(&group).await, members, "group membership");
    }
    // Exactly one winner per contested name.
    let mut distinct = wins.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        wins.len(),
        distinct.len(),
        "a contested userName was created twice: {wins:?}"
    );
    assert_eq!(
        distinct.len(),
        3,
        "each contested name was created once: {wins:?}"
    );
    let all = apis[1].get("/Users?count=1000&attributes=userName").await;
    let names: Vec<String> = all
        .resources()
        .iter()
        .filter_map(|u| u["userName"].as_str().map(str::to_lowercase))
        .collect();
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(names.len(), unique.len(), "no duplicate userName");
    assert_eq!(names.len(), alive.len() + 3);
}

/// An instance gives repeated reads again from memory (SQLite); a write made through another
/// instance is seen by its very next read, for a resource, a filter and a deletion alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_reads_follow_writes_made_through_another_instance_at_once() {
    let a = Server::start();
    let b = a.another_instance();
    let (api_a, api_b) = (a.api(), b.api());
    let run = random_hex(6);
    let id = api_a.create_user(&format!("follow-{run}@x.example")).await;
    let user = format!("/Users/{id}");
    let later = format!("later-{run}@x.example");
    let by_name = format!("/Users?{}", filter_eq("userName", &later));
    let mut etag = None;
    for round in 0..3 {
        let title = format!("title {round}");
        api_b
            .patch(
                &user,
                &patch_op(json!([{ "op": "replace", "path": "title", "value": title }])),
            )
            .await
            .expect(200);
        for _ in 0..3 {
            let r = api_a.get(&user).await;
            r.expect(200);
            assert_eq!(r.json()["title"], json!(title), "round {round}");
            let now = r.header("etag").map(str::to_owned);
            assert_ne!(now, etag, "a new version has a new ETag");
            assert_eq!(r.json()["meta"]["version"], json!(now));
        }
        etag = api_a.get(&user).await.header("etag").map(str::to_owned);
    }
    for _ in 0..3 {
        assert_eq!(api_a.get(&by_name).await.total(), 0);
    }
    let other = api_b.create_user(&later).await;
    assert_eq!(api_a.get(&by_name).await.resource_ids(), vec![other]);
    api_b.delete(&user).await.expect(204);
    api_a.get(&user).await.expect_error(404, None);
}

/// The epoch files beside a SQLite database tell every process that tokens or data changed.
/// Deleted while `serve` runs (ops tooling, a restore beside it), they are found missing on the
/// next read and made again, so a token another process revokes afterwards is refused by the
/// very next request, as with the files in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_after_the_epoch_files_were_deleted_is_refused_at_once() {
    let server = Server::start_on(TestDatabase::sqlite());
    let db = server.database.clone();
    let org = server.org.id.clone();
    // A second live token, so the first may be revoked.
    cli(&["token", "generate", "--org", &org, "--database", &db]);
    let list: serde_json::Value = serde_json::from_str(&cli(&[
        "token",
        "list",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &db,
    ]))
    .expect("token list is JSON");
    let first = list["tokens"][0]["id"].as_str().expect("id").to_owned();
    // Accepted, and so cached by the server.
    server.api().get("/Users").await.expect_list();
    server.api().get("/Users").await.expect_list();

    let path = std::fs::canonicalize(db.strip_prefix("sqlite://").expect("a SQLite URL"))
        .expect("the database file");
    for suffix in ["-token-epoch", "-data-epoch"] {
        let mut epoch = path.clone().into_os_string();
        epoch.push(suffix);
        std::fs::remove_file(&epoch).expect("remove an epoch file");
    }
    cli(&["token", "revoke", "--org", &org, &first, "--database", &db]);
    server.api().get("/Users").await.expect_error(401, None);
}
