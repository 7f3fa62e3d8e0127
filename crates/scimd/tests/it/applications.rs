//! Applications on the binary (docs/contract.md, "Applications"): the `scimd app` and
//! `scimd webhook` forms scripts rely on (a key or a secret alone on stdout, errors on stderr
//! with a non-zero exit, lists as JSON), a key that reads its own organisation's directory and
//! events and nothing else, and an event stream followed with `after` while SCIM writes.

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// `scimd app create` for `org` on the server's database: the key.
pub(crate) fn app_key(server: &Server, org: &str, name: &str) -> String {
    let out = cli(&[
        "app",
        "create",
        "--org",
        org,
        "--name",
        name,
        "--database",
        &server.database,
    ]);
    assert!(
        out.starts_with("scimd_app_") && !out.contains(char::is_whitespace),
        "app create printed {out:?}"
    );
    out
}

/// A `scimd` command that must fail: it exits non-zero, says why on stderr, prints nothing on
/// stdout.
#[track_caller]
fn refused(args: &[&str]) -> String {
    let (ok, stdout, stderr) = cli_status(args);
    assert!(!ok, "scimd {args:?} succeeded: {stdout}");
    assert!(
        stdout.trim().is_empty(),
        "scimd {args:?} printed {stdout:?}"
    );
    assert!(!stderr.trim().is_empty(), "scimd {args:?} said nothing");
    stderr
}

/// `GET origin + path` with `bearer`.
async fn get(server: &Server, path: &str, bearer: &str) -> Reply {
    server
        .client
        .get(&format!("{}{path}", server.origin), bearer)
        .await
}

fn json_out(args: &[&str]) -> Value {
    let out = cli(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}): {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_commands_print_the_key_alone_and_list_without_it() {
    let server = Server::start();
    let (org, db) = (server.org.id.as_str(), server.database.as_str());
    let (ok, stdout, _) = cli_status(&[
        "app",
        "create",
        "--org",
        org,
        "--name",
        "Intranet",
        "--database",
        db,
    ]);
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout:?}");
    let key = lines[0].to_owned();
    assert!(key.starts_with("scimd_app_"), "{key}");
    assert_eq!(
        get(&server, "/api/v1/directory/users", &key).await.status,
        200
    );

    let list = json_out(&[
        "app",
        "list",
        "--org",
        org,
        "--format",
        "json",
        "--database",
        db,
    ]);
    assert_eq!(list["organisation"], org);
    let apps = list["applications"].as_array().expect("applications");
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["name"], "Intranet");
    assert_eq!(apps[0]["state"], "active");
    assert!(key.starts_with(apps[0]["prefix"].as_str().expect("prefix")));
    assert!(
        !list.to_string().contains(&key),
        "a list never shows the key"
    );
    let text = cli(&["app", "list", "--org", org, "--database", db]);
    assert!(text.contains("Intranet") && !text.contains(&key), "{text}");

    // The name is taken; bad names and ids are refused on stderr.
    refused(&[
        "app",
        "create",
        "--org",
        org,
        "--name",
        "Intranet",
        "--database",
        db,
    ]);
    refused(&[
        "app",
        "create",
        "--org",
        org,
        "--name",
        "  ",
        "--database",
        db,
    ]);
    refused(&[
        "app",
        "create",
        "--org",
        "00000000-0000-0000-0000-000000000000",
        "--name",
        "X",
        "--database",
        db,
    ]);
    refused(&["app", "revoke", "--org", org, "not-an-id", "--database", db]);

    let id = apps[0]["id"].as_str().expect("id");
    cli(&["app", "revoke", "--org", org, id, "--database", db]);
    let r = get(&server, "/api/v1/directory/users", &key).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.json()["error"], "unauthenticated");
    refused(&["app", "revoke", "--org", org, id, "--database", db]);
    let list = json_out(&[
        "app",
        "list",
        "--org",
        org,
        "--format",
        "json",
        "--database",
        db,
    ]);
    assert_eq!(list["applications"][0]["state"], "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_commands_print_the_secret_alone_and_list_as_json() {
    let server = Server::start();
    let (org, db) = (server.org.id.as_str(), server.database.as_str());
    server.api().create_user("first@example.com").await;
    let (ok, stdout, _) = cli_status(&[
        "webhook",
        "add",
        "--org",
        org,
        "--url",
        "https://hooks.example.com/scimd",
        "--types",
        "user.created,user.deleted",
        "--database",
        db,
    ]);
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout:?}");
    let secret = lines[0].to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");

    let list = json_out(&[
        "webhook",
        "list",
        "--org",
        org,
        "--format",
        "json",
        "--database",
        db,
    ]);
    let hooks = list["webhooks"].as_array().expect("webhooks");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["url"], "https://hooks.example.com/scimd");
    assert_eq!(hooks[0]["types"], json!(["user.created", "user.deleted"]));
    assert_eq!(hooks[0]["state"], "active");
    assert!(hooks[0]["lastDelivery"].is_null());
    assert!(
        !list.to_string().contains(&secret),
        "a list never shows the secret"
    );
    let id = hooks[0]["id"].as_str().expect("id").to_owned();
    let text = cli(&["webhook", "list", "--org", org, "--database", db]);
    assert!(
        text.contains(&id)
            && text.contains("https://hooks.example.com/scimd")
            && text.contains("never"),
        "{text}"
    );

    let rotated = cli(&[
        "webhook",
        "rotate-secret",
        "--org",
        org,
        &id,
        "--database",
        db,
    ]);
    assert!(
        rotated.starts_with("whsec_") && rotated != secret,
        "{rotated}"
    );
    assert!(!rotated.contains(char::is_whitespace));

    // Replay from a kept event; an unknown one is refused.
    let key = app_key(&server, org, "reader");
    let first = get(&server, "/api/v1/events?limit=1", &key).await;
    let first = first.json()["data"][0]["id"]
        .as_str()
        .expect("event")
        .to_owned();
    cli(&[
        "webhook",
        "replay",
        "--org",
        org,
        &id,
        "--from",
        &first,
        "--database",
        db,
    ]);
    let why = refused(&[
        "webhook",
        "replay",
        "--org",
        org,
        &id,
        "--from",
        "evt_nope",
        "--database",
        db,
    ]);
    assert!(why.contains("evt_nope"), "{why}");

    // Bad input changes nothing.
    for args in [
        vec!["--url", "http://hooks.example.com/"],
        vec!["--url", "not a url"],
        vec![
            "--url",
            "https://hooks.example.com/",
            "--types",
            "user.exploded",
        ],
    ] {
        let mut all = vec!["webhook", "add", "--org", org, "--database", db];
        all.extend(args);
        refused(&all);
    }
    refused(&["webhook", "remove", "--org", org, "nope", "--database", db]);
    let list = json_out(&[
        "webhook",
        "list",
        "--org",
        org,
        "--format",
        "json",
        "--database",
        db,
    ]);
    assert_eq!(list["webhooks"].as_array().map(Vec::len), Some(1));

    cli(&["webhook", "remove", "--org", org, &id, "--database", db]);
    let list = json_out(&[
        "webhook",
        "list",
        "--org",
        org,
        "--format",
        "json",
        "--database",
        db,
    ]);
    assert_eq!(list["webhooks"], json!([]));
    refused(&["webhook", "remove", "--org", org, &id, "--database", db]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reads_its_own_organisation_only_and_nothing_but_the_application_endpoints() {
    let server = Server::start();
    let a = server.api();
    let org_b = server.second_org();
    let b = server.api_as(&org_b);
    let alice = a.create_user("alice@a.example").await;
    let team = a.create_group("A team", &[&alice]).await;
    let bob = b.create_user("bob@b.example").await;
    let key = app_key(&server, &server.org.id, "A reader");
    let key_b = app_key(&server, &org_b.id, "B reader");

    let users = get(&server, "/api/v1/directory/users", &key).await;
    assert_eq!(users.status, 200, "{}", users.text);
    let ids: Vec<&str> = users.json()["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![alice.as_str()]);
    assert_eq!(users.json()["next"], Value::Null);
    let one = get(&server, &format!("/api/v1/directory/users/{alice}"), &key).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["user_name"], "alice@a.example");
    assert_eq!(one.json()["groups"], json!([team]));
    let members = get(
        &server,
        &format!("/api/v1/directory/groups/{team}/members"),
        &key,
    )
    .await;
    assert_eq!(members.json()["data"][0]["id"], alice.as_str());
    // A's key asks for B's user, B's key for A's group: each is simply not there.
    for (path, reader) in [
        (format!("/api/v1/directory/users/{bob}"), &key),
        (format!("/api/v1/directory/groups/{team}"), &key_b),
        (format!("/api/v1/directory/groups/{team}/members"), &key_b),
    ] {
        let r = get(&server, &path, reader).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(r.json()["error"], "not_found");
    }
    let events = get(&server, "/api/v1/events", &key_b).await;
    let data = events.json()["data"].as_array().expect("data").clone();
    assert!(!data.is_empty());
    assert!(
        data.iter().all(|e| e["organisation"] == org_b.id.as_str()),
        "{data:?}"
    );
    assert!(!events.text.contains(&alice));

    // A key is refused by SCIM and the administrators' API; a SCIM token by the application
    // endpoints.
    server
        .api_with_token(&key)
        .get("/Users")
        .await
        .expect_error(401, None);
    for path in ["/api/v1/accounts", "/api/v1/applications"] {
        let r = get(&server, path, &key).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
        assert_eq!(r.json()["error"], "unauthenticated");
    }
    for path in ["/api/v1/directory/users", "/api/v1/events"] {
        let r = get(&server, path, &server.org.token).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
        assert_eq!(r.json()["error"], "unauthenticated");
    }
    for query in [
        "limit=0",
        "limit=1001",
        "after=garbage",
        "updated_since=soon",
    ] {
        let r = get(&server, &format!("/api/v1/directory/users?{query}"), &key).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert_eq!(r.json()["error"], "invalid");
    }
}

/// Every event after `after` (from the oldest when `None`), following `next` page by page.
async fn follow(server: &Server, key: &str, after: Option<String>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = after;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/events?limit=2&after={a}"),
            None => "/api/v1/events?limit=2".to_owned(),
        };
        let r = get(server, &path, key).await;
        assert_eq!(r.status, 200, "{}", r.text);
        out.extend(r.json()["data"].as_array().expect("data").iter().cloned());
        match r.json()["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_follows_after_through_scim_writes() {
    let server = Server::start();
    let api = server.api();
    let key = app_key(&server, &server.org.id, "follower");
    // The first SCIM call turns the connection active (an event of its own): start after it.
    api.get("/Users").await.expect_list();
    let before = follow(&server, &key, None).await;
    let start = before
        .last()
        .map(|e| e["id"].as_str().expect("id").to_owned());
    let base = before.len() as i64;

    let alice = api.create_user("alice@a.example").await;
    api.patch(
        &format!("/Users/{alice}"),
        &json!({
            "schemas": [PATCH_URN],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Alice A."}],
        }),
    )
    .await
    .expect(200);
    let team = api.create_group("Team", &[&alice]).await;
    let seen = follow(&server, &key, start).await;
    let types: Vec<&str> = seen
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        vec![
            "user.created",
            "user.updated",
            "group.created",
            "group.member_added"
        ],
        "{seen:?}"
    );
    let sequences: Vec<i64> = seen
        .iter()
        .map(|e| e["sequence"].as_i64().expect("seq"))
        .collect();
    assert_eq!(sequences, (base + 1..=base + 4).collect::<Vec<_>>());
    assert_eq!(seen[1]["data"]["display_name"], "Alice A.");
    assert_eq!(seen[3]["data"]["group"]["id"], team.as_str());
    assert_eq!(seen[3]["data"]["user"]["id"], alice.as_str());

    // From the last one seen: only what came after, once.
    let last = seen[3]["id"].as_str().expect("id").to_owned();
    api.delete(&format!("/Users/{alice}")).await.expect(204);
    let more = follow(&server, &key, Some(last.clone())).await;
    assert_eq!(more.len(), 1, "{more:?}");
    assert_eq!(more[0]["type"], "user.deleted");
    assert_eq!(more[0]["data"]["state"], "deleted");
    assert_eq!(more[0]["sequence"], base + 5);

    // A reader waiting after the newest event hears of the next write.
    let newest = more[0]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/events?after={newest}&wait=20");
    let waiting = get(&server, &path, &key);
    let write = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        api.create_user("bob@a.example").await
    };
    let (answer, bob) = tokio::join!(waiting, write);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["data"][0]["type"], "user.created");
    assert_eq!(answer.json()["data"][0]["data"]["id"], bob.as_str());
    assert_eq!(answer.json()["next"], Value::Null);

    // Types narrow the stream; bad parameters are 400 in the API's shape.
    let groups = get(&server, "/api/v1/events?types=group.created", &key).await;
    assert_eq!(groups.json()["data"].as_array().map(Vec::len), Some(1));
    for query in [
        "after=evt_nope",
        "types=user.exploded",
        "wait=31",
        "limit=1001",
    ] {
        let r = server
            .client
            .send(
                Method::GET,
                &format!("{}/api/v1/events?{query}", server.origin),
                None,
                &key,
                &[],
            )
            .await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert_eq!(r.json()["error"], "invalid");
    }
}
