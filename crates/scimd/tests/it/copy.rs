//! `scimd copy`: a deployment on SQLite moves to PostgreSQL with every id, version, timestamp,
//! membership and token intact, and the identity provider's next request just works.

use crate::common::*;
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_moves_a_sqlite_deployment_to_postgres_unchanged() {
    let source = Server::start_on(TestDatabase::sqlite());
    let api = source.api();
    let mut users = Vec::new();
    for i in 0..25 {
        users.push(api.create_user(&format!("copy{i}@example.com")).await);
    }
    api.patch(
        &format!("/Users/{}", users[0]),
        &patch_op(json!([{ "op": "replace", "path": "title", "value": "Moved" }])),
    )
    .await
    .expect(200);
    let refs: Vec<&str> = users.iter().take(10).map(String::as_str).collect();
    let group = api.create_group("Copied group", &refs).await;
    let before_user = api
        .get(&format!("/Users/{}", users[0]))
        .await
        .json()
        .clone();
    let before_group = api.get(&format!("/Groups/{group}")).await.json().clone();
    let org = source.org.clone();
    let source_db = source.db();
    drop(source);

    let target_db = TestDatabase::postgres();
    let (ok, _, err) = cli_status(&["copy", "--from", &source_db.url, "--to", &target_db.url]);
    assert!(ok, "copy failed: {err}");
    assert!(err.contains("copy verified"), "{err}");

    // A second copy into the now non-empty target is refused.
    let (ok, _, err) = cli_status(&["copy", "--from", &source_db.url, "--to", &target_db.url]);
    assert!(!ok);
    assert!(err.contains("already holds organisations"), "{err}");

    let target = Server::serve_copy(target_db, org);
    let api = target.api();
    let after_user = api
        .get(&format!("/Users/{}", users[0]))
        .await
        .json()
        .clone();
    let after_group = api.get(&format!("/Groups/{group}")).await.json().clone();
    // The same resources, the same versions and timestamps; only the host in URLs differs.
    for (before, after) in [(&before_user, &after_user), (&before_group, &after_group)] {
        assert_eq!(before["id"], after["id"]);
        assert_eq!(before["meta"]["version"], after["meta"]["version"]);
        assert_eq!(before["meta"]["created"], after["meta"]["created"]);
        assert_eq!(
            before["meta"]["lastModified"],
            after["meta"]["lastModified"]
        );
    }
    assert_eq!(after_user["title"], json!("Moved"));
    let expected: BTreeSet<String> = users.iter().take(10).cloned().collect();
    assert_eq!(api.member_ids(&group).await, expected);
    assert_eq!(api.get("/Users?count=0").await.total(), 25);
    // userName uniqueness holds on the copy.
    api.post("/Users", &user_body("COPY3@example.com"))
        .await
        .expect_error(409, Some("uniqueness"));
    // Each account keeps its default role on the copy.
    let accounts = cli(&[
        "accounts",
        "list",
        "--org",
        &target.org.id,
        "--format",
        "json",
        "--database",
        &target.database,
    ]);
    let accounts: serde_json::Value = serde_json::from_str(&accounts).expect("json");
    assert_eq!(accounts["total"], 25);
    assert!(
        accounts["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .all(|a| a["local"]["roles"] == json!(["staff"])),
        "{accounts}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_carries_the_directory_state() {
    let source = Server::start_on(TestDatabase::sqlite());
    let api = source.api();
    let kept = api.create_user("kept@example.com").await;
    let gone = api.create_user("gone@example.com").await;
    api.create_group("Staff", &[kept.as_str()]).await;
    api.delete(&format!("/Users/{gone}")).await.expect(204);
    let db = source.database.clone();
    let org = source.org.id.clone();
    cli(&["auto-merge", "--org", &org, "on", "--database", &db]);
    cli(&[
        "domain",
        "add",
        "--org",
        &org,
        "example.com",
        "--database",
        &db,
    ]);
    cli(&[
        "domain",
        "verify",
        "--org",
        &org,
        "example.com",
        "--force",
        "--database",
        &db,
    ]);
    // Disconnect: accounts and the group become manual; reconnect and collide once.
    cli(&["disconnect", "--org", &org, "--database", &db]);
    cli(&["auto-merge", "--org", &org, "off", "--database", &db]);
    let token = cli(&["token", "generate", "--org", &org, "--database", &db]);
    source
        .client
        .post("/Users", &user_body("kept@example.com"), &token)
        .await
        .expect_error(409, Some("uniqueness"));
    let source_db = source.db();
    drop(source);

    let target_db = TestDatabase::postgres();
    let (ok, _, err) = cli_status(&["copy", "--from", &source_db.url, "--to", &target_db.url]);
    assert!(ok, "copy failed: {err}");
    assert!(err.contains("copy verified"), "{err}");
    let t = target_db.url.clone();
    let accounts: serde_json::Value = serde_json::from_str(&cli(&[
        "accounts",
        "list",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &t,
    ]))
    .expect("json");
    assert_eq!(accounts["total"], 2, "{accounts}");
    let by_name = |n: &str| {
        accounts["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .find(|a| a["userName"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} missing: {accounts}"))
    };
    assert_eq!(by_name("kept@example.com")["source"], "manual");
    assert_eq!(
        by_name("kept@example.com")["local"]["roles"],
        json!(["staff"])
    );
    assert_eq!(by_name("gone@example.com")["status"], "deactivated");
    let conflicts: serde_json::Value = serde_json::from_str(&cli(&[
        "conflicts",
        "list",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &t,
    ]))
    .expect("json");
    assert_eq!(conflicts.as_array().map(Vec::len), Some(1), "{conflicts}");
    let domains = cli(&["domain", "list", "--org", &org, "--database", &t]);
    assert!(
        domains.contains("example.com") && domains.contains("verified"),
        "{domains}"
    );
}
