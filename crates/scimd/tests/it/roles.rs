//! Roles by rule on the real binary (docs/contract.md, "Roles and rules"), through SCIM, the
//! administrative API and `scimd roles`: a catalogue with the organisation's own role, a rule
//! "member of group Teachers gives teacher" applied to provisioned accounts and re-applied when
//! it changes, a hand-set role kept, unknown roles refused with nothing changed, bulk
//! assignment, and the rules kept to their organisation.

use crate::common::{Reply, Server, add_admin, cli, cli_status, patch_op};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

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

struct AdminApi<'a> {
    server: &'a Server,
    session: String,
}

impl AdminApi<'_> {
    async fn sign_in<'a>(server: &'a Server, org: &str, email: &str) -> AdminApi<'a> {
        let r = server
            .client
            .post(
                &format!("{}/api/v1/sessions", server.origin),
                &json!({ "organisation": org, "email": email, "password": PASSWORD }),
                "",
            )
            .await;
        status(&r, 201);
        AdminApi {
            server,
            session: r.json()["token"].as_str().expect("session").to_owned(),
        }
    }
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
    async fn put(&self, path: &str, body: &Value) -> Reply {
        self.server
            .client
            .put(&self.url(path), body, &self.session)
            .await
    }
    async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.server
            .client
            .patch(&self.url(path), body, &self.session)
            .await
    }
    async fn delete(&self, path: &str) -> Reply {
        self.server
            .client
            .delete(&self.url(path), &self.session)
            .await
    }
    /// The account's roles, sorted, and where each came from.
    async fn roles(&self, id: &str) -> (Vec<String>, Value) {
        let r = self.get(&format!("/accounts/{id}")).await;
        status(&r, 200);
        let mut roles: Vec<String> = r.json()["local"]["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .map(|v| v.as_str().expect("role").to_owned())
            .collect();
        roles.sort();
        (roles, r.json()["local"]["roleSources"].clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_rule_applies_to_provisioned_accounts_and_again_when_it_changes() {
    let server = Server::start();
    let org = server.org.id.clone();
    add_admin(&server, &org, "it@example.com", PASSWORD);
    let admin = AdminApi::sign_in(&server, &org, "it@example.com").await;
    let scim = server.api();

    // The catalogue: the kind's roles, then the organisation's own.
    let cat = admin.get("/roles").await;
    status(&cat, 200);
    assert_eq!(cat.json()["defaults"][0], "staff");
    // A rule with a role outside the catalogue is refused and nothing is stored.
    let rule =
        json!({ "name": "Teachers", "op": "memberOf", "value": "Teachers", "roles": ["teacher"] });
    let refused = admin.post("/role-rules", &rule).await;
    status(&refused, 400);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not a role of this organisation"),
        "{}",
        refused.text
    );
    assert_eq!(admin.get("/role-rules").await.json()["rules"], json!([]));
    status(
        &admin.post("/roles", &json!({ "name": "teacher" })).await,
        201,
    );
    status(
        &admin.post("/roles", &json!({ "name": "Teacher" })).await,
        409,
    );

    // Provisioned accounts, two of them in Teachers, then the rule.
    let ada = scim.create_user("ada@example.com").await;
    let bob = scim.create_user("bob@example.com").await;
    let cy = scim.create_user("cy@example.com").await;
    let teachers = scim.create_group("Teachers", &[&ada, &bob]).await;
    // An application follows the events from here.
    let key = cli(&[
        "app",
        "create",
        "--org",
        &org,
        "--name",
        "hr",
        "--database",
        &server.database,
    ]);
    let events = |after: String| {
        let (server, key) = (&server, key.clone());
        async move {
            let r = server
                .client
                .get(
                    &format!(
                        "{}/api/v1/events?types=user.updated&limit=1000{after}",
                        server.origin
                    ),
                    &key,
                )
                .await;
            status(&r, 200);
            r.json()["data"].as_array().expect("events").clone()
        }
    };
    let created = admin.post("/role-rules", &rule).await;
    status(&created, 201);
    assert_eq!(created.json()["applied"]["changed"], 2);
    // One user.updated per account whose roles changed, with the roles.
    let updated = events(String::new()).await;
    assert_eq!(updated.len(), 2, "{updated:?}");
    for e in &updated {
        assert_eq!(e["data"]["roles"], json!(["teacher"]), "{e}");
        assert!([&ada, &bob].contains(&&e["data"]["id"].as_str().unwrap_or_default().to_owned()));
    }
    let last = updated[1]["id"].as_str().expect("event id").to_owned();
    let rule_id = created.json()["rule"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (roles, sources) = admin.roles(&ada).await;
    assert_eq!(roles, vec!["teacher"]);
    assert_eq!(sources["teacher"], json!([format!("rule:{rule_id}")]));
    assert_eq!(admin.roles(&cy).await.0, vec!["staff"]);

    // SCIM membership writes apply it: cy joins, bob leaves.
    scim.patch(
        &format!("/Groups/{teachers}"),
        &patch_op(json!([
            { "op": "add", "path": "members", "value": [{ "value": cy }] },
            { "op": "remove", "path": format!("members[value eq \"{bob}\"]") }
        ])),
    )
    .await
    .expect(204);
    assert_eq!(admin.roles(&cy).await.0, vec!["teacher"]);
    assert_eq!(admin.roles(&bob).await.0, vec!["staff"]);
    // The membership change appended its member events and a user.updated for each of the two.
    let updated = events(format!("&after={last}")).await;
    let mut ids: Vec<&str> = updated
        .iter()
        .map(|e| e["data"]["id"].as_str().expect("id"))
        .collect();
    ids.sort();
    let mut want = vec![bob.as_str(), cy.as_str()];
    want.sort();
    assert_eq!(ids, want, "{updated:?}");

    // A hand-set role on ada; the account page's edit keeps the rule's role.
    let edited = admin
        .patch(
            &format!("/accounts/{ada}"),
            &json!({ "local": { "roles": ["teacher", "manager"] } }),
        )
        .await;
    status(&edited, 200);
    let (roles, sources) = admin.roles(&ada).await;
    assert_eq!(roles, vec!["manager", "teacher"]);
    assert_eq!(sources["manager"], json!(["manual"]));
    // Unknown roles by hand: refused with the field's message, nothing changes.
    let refused = admin
        .patch(
            &format!("/accounts/{ada}"),
            &json!({ "local": { "roles": ["teacher", "manager", "wizard"] } }),
        )
        .await;
    status(&refused, 400);
    assert_eq!(admin.roles(&ada).await.0, vec!["manager", "teacher"]);

    // The rule changes to another group: re-applied to everyone, the hand-set role stays.
    let staff_room = scim.create_group("Staff Room", &[&bob]).await;
    let changed = admin
        .put(
            &format!("/role-rules/{rule_id}"),
            &json!({ "name": "Staff room", "op": "memberOf", "value": "staff room", "roles": ["teacher"] }),
        )
        .await;
    status(&changed, 200);
    assert_eq!(changed.json()["applied"]["changed"], 3);
    assert_eq!(admin.roles(&ada).await.0, vec!["manager"]);
    assert_eq!(admin.roles(&bob).await.0, vec!["teacher"]);
    assert_eq!(admin.roles(&cy).await.0, vec!["staff"]);
    // SCIM never shows local properties.
    let doc = scim.get(&format!("/Users/{bob}")).await;
    doc.expect(200);
    assert!(!doc.text.contains("teacher"), "{}", doc.text);

    // Bulk assignment: all or nothing.
    let missing = "00000000-0000-7000-8000-000000000000";
    status(
        &admin
            .post(
                "/accounts/roles",
                &json!({ "accounts": [cy, missing], "role": "manager" }),
            )
            .await,
        404,
    );
    assert_eq!(admin.roles(&cy).await.0, vec!["staff"]);
    status(
        &admin
            .post(
                "/accounts/roles",
                &json!({ "accounts": [cy], "role": "wizard" }),
            )
            .await,
        400,
    );
    let bulk = admin
        .post(
            "/accounts/roles",
            &json!({ "accounts": [bob, cy], "role": "Manager" }),
        )
        .await;
    status(&bulk, 200);
    assert_eq!(bulk.json()["changed"], 2);
    assert_eq!(admin.roles(&bob).await.0, vec!["manager", "teacher"]);
    assert_eq!(admin.roles(&cy).await.0, vec!["manager"]);

    // Deleting the rule and the group: what the rule gave goes, hand-set roles stay.
    scim.delete(&format!("/Groups/{staff_room}"))
        .await
        .expect(204);
    assert_eq!(admin.roles(&bob).await.0, vec!["manager"]);
    status(&admin.delete(&format!("/role-rules/{rule_id}")).await, 200);
    status(&admin.delete(&format!("/role-rules/{rule_id}")).await, 404);
    status(&admin.delete("/roles/teacher").await, 204);
    let activity = admin.get("/activity").await;
    status(&activity, 200);
    for action in [
        "role.add",
        "role-rule.create",
        "role-rule.edit",
        "role-rule.delete",
    ] {
        assert!(activity.text.contains(action), "{action} logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_administrators_change_rules_and_organisations_keep_their_own() {
    let server = Server::start();
    let org = server.org.id.clone();
    add_admin(&server, &org, "it@example.com", PASSWORD);
    let dir = crate::common::TempDir::new("pm-password");
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write password");
    cli(&[
        "admin",
        "add",
        "--org",
        &org,
        "--email",
        "pm@example.com",
        "--role",
        "people-manager",
        "--password-file",
        file.to_str().expect("path"),
        "--database",
        &server.database,
    ]);
    let admin = AdminApi::sign_in(&server, &org, "it@example.com").await;
    let rule = json!({ "name": "Heads", "attribute": "title", "op": "startsWith", "value": "Head", "roles": ["manager"], "locations": ["HQ"] });
    let created = admin.post("/role-rules", &rule).await;
    status(&created, 201);
    let rule_id = created.json()["rule"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // A second rule, moved above the first: the order is kept and listed.
    let second = admin
        .post(
            "/role-rules",
            &json!({ "name": "Sales", "attribute": "department", "op": "equals", "value": "Sales", "roles": ["contractor"] }),
        )
        .await;
    status(&second, 201);
    let second_id = second.json()["rule"]["id"].as_str().expect("id").to_owned();
    let moved = admin
        .post(
            &format!("/role-rules/{second_id}/move"),
            &json!({ "direction": "up" }),
        )
        .await;
    status(&moved, 200);
    let names: Vec<&str> = moved.json()["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Sales", "Heads"]);
    status(
        &admin
            .post(
                &format!("/role-rules/{second_id}/move"),
                &json!({ "direction": "sideways" }),
            )
            .await,
        400,
    );
    status(
        &admin.delete(&format!("/role-rules/{second_id}")).await,
        200,
    );
    // Bad bodies are 400s and store nothing.
    for bad in [
        json!({ "name": "x", "op": "contains", "value": "x", "roles": ["staff"] }),
        json!({ "name": "x", "op": "equals", "value": "x", "roles": ["staff"] }),
        json!({ "name": "x", "op": "memberOf", "value": "x" }),
        json!({ "name": "x", "op": "memberOf", "value": "x", "roles": ["staff"], "surprise": 1 }),
    ] {
        status(&admin.post("/role-rules", &bad).await, 400);
    }
    assert_eq!(
        admin.get("/role-rules").await.json()["rules"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // A people-manager reads and assigns, but does not change the rules or the catalogue.
    let pm = AdminApi::sign_in(&server, &org, "pm@example.com").await;
    status(&pm.get("/role-rules").await, 200);
    status(&pm.post("/role-rules", &rule).await, 403);
    status(&pm.delete(&format!("/role-rules/{rule_id}")).await, 403);
    status(&pm.post("/roles", &json!({ "name": "x" })).await, 403);

    // Another organisation sees none of it, and cannot touch it.
    let other = server.second_org();
    add_admin(&server, &other.id, "b@example.com", PASSWORD);
    let b = AdminApi::sign_in(&server, &other.id, "b@example.com").await;
    assert_eq!(b.get("/role-rules").await.json()["rules"], json!([]));
    status(&b.get(&format!("/role-rules/{rule_id}")).await, 404);
    status(&b.delete(&format!("/role-rules/{rule_id}")).await, 404);
    let mut body = crate::common::user_body("head@example.com");
    body["title"] = json!("Head of Sales");
    let theirs = server.api_as(&other).create_user_from(&body).await.id();
    assert_eq!(b.roles(&theirs).await.0, vec!["staff"]);
    let mine = server.api().create_user_from(&body).await.id();
    let (roles, _) = admin.roles(&mine).await;
    assert_eq!(roles, vec!["manager"]);
    let a = admin.get(&format!("/accounts/{mine}")).await;
    assert_eq!(a.json()["local"]["locations"], json!(["HQ"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scimd_roles_manages_the_catalogue_rules_and_assignments() {
    let server = Server::start();
    let (org, db) = (server.org.id.clone(), server.database.clone());
    add_admin(&server, &org, "it@example.com", PASSWORD);
    let admin = AdminApi::sign_in(&server, &org, "it@example.com").await;
    let scim = server.api();
    let mut body = crate::common::user_body("eng@example.com");
    body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({ "department": "Engineering" });
    let eng = scim.create_user_from(&body).await.id();
    let other = scim.create_user("other@example.com").await;

    let out = cli(&["roles", "add", "--org", &org, "engineer", "--database", &db]);
    assert!(out.contains("engineer"), "{out}");
    let out = cli(&[
        "roles",
        "rule-add",
        "--org",
        &org,
        "--name",
        "Engineering",
        "--attribute",
        "department",
        "--equals",
        "engineering",
        "--role",
        "engineer",
        "--database",
        &db,
    ]);
    assert!(out.contains("1 changed"), "{out}");
    assert_eq!(admin.roles(&eng).await.0, vec!["engineer"]);
    // An unknown role: a clear failure, nothing stored.
    let (ok, _, err) = cli_status(&[
        "roles",
        "rule-add",
        "--org",
        &org,
        "--name",
        "X",
        "--member-of",
        "X",
        "--role",
        "wizard",
        "--database",
        &db,
    ]);
    assert!(!ok);
    assert!(err.contains("not a role of this organisation"), "{err}");
    let rules = cli(&[
        "roles",
        "rules",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &db,
    ]);
    let rules: Value = serde_json::from_str(&rules).expect("json");
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(1));
    let id = rules["rules"][0]["id"].as_str().expect("id").to_owned();

    // Bulk assignment by userName.
    let out = cli(&[
        "roles",
        "assign",
        "--org",
        &org,
        "--role",
        "manager",
        "other@example.com",
        &eng,
        "--database",
        &db,
    ]);
    assert!(out.contains("2 of 2"), "{out}");
    assert_eq!(admin.roles(&other).await.0, vec!["manager"]);
    assert_eq!(admin.roles(&eng).await.0, vec!["engineer", "manager"]);
    let (ok, _, _) = cli_status(&[
        "roles",
        "assign",
        "--org",
        &org,
        "--role",
        "manager",
        "nobody@example.com",
        "--database",
        &db,
    ]);
    assert!(!ok);

    // An import applies the rules once it is done.
    cli(&[
        "roles",
        "rule-add",
        "--org",
        &org,
        "--name",
        "Imported",
        "--attribute",
        "userName",
        "--starts-with",
        "bulk.",
        "--role",
        "contractor",
        "--database",
        &db,
    ]);
    cli(&[
        "import",
        "--org",
        &org,
        "--generate",
        "3",
        "--prefix",
        "bulk",
        "--quiet",
        "--database",
        &db,
    ]);
    let page = admin.get("/accounts?search=bulk.&count=10").await;
    status(&page, 200);
    let imported = page.json()["accounts"]
        .as_array()
        .expect("accounts")
        .clone();
    assert_eq!(imported.len(), 3, "{}", page.text);
    assert!(
        imported
            .iter()
            .all(|a| a["local"]["roles"] == json!(["contractor"])),
        "{}",
        page.text
    );
    let rules = cli(&[
        "roles",
        "rules",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &db,
    ]);
    let rules: Value = serde_json::from_str(&rules).expect("json");
    let imported_rule = rules["rules"][1]["id"].as_str().expect("id").to_owned();
    cli(&[
        "roles",
        "rule-remove",
        "--org",
        &org,
        &imported_rule,
        "--database",
        &db,
    ]);
    // The rule goes; apply again changes nothing more.
    cli(&[
        "roles",
        "rule-remove",
        "--org",
        &org,
        &id,
        "--database",
        &db,
    ]);
    assert_eq!(admin.roles(&eng).await.0, vec!["manager"]);
    let out = cli(&["roles", "apply", "--org", &org, "--database", &db]);
    assert!(out.contains("0 changed"), "{out}");
    let (ok, _, err) = cli_status(&["roles", "remove", "--org", &org, "staff", "--database", &db]);
    assert!(!ok && err.contains("cannot be removed"), "{err}");
    cli(&[
        "roles",
        "remove",
        "--org",
        &org,
        "engineer",
        "--database",
        &db,
    ]);
    let list = cli(&[
        "roles",
        "list",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &db,
    ]);
    assert_eq!(
        serde_json::from_str::<Value>(&list).expect("json")["own"],
        json!([])
    );
}

/// The console: a rule made on the Roles page, each role's source on the account page, a
/// hand-set role added and an unknown one refused next to its field, bulk assignment from the
/// accounts list, and a rule moved and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_manages_rules_hand_set_roles_and_bulk_assignment() {
    use crate::console::Browser;
    let server = Server::start();
    let org = server.org.id.clone();
    add_admin(&server, &org, "it@example.com", PASSWORD);
    let scim = server.api();
    let ada = scim.create_user("ada@example.com").await;
    let bob = scim.create_user("bob@example.com").await;
    scim.create_group("Managers", &[&ada]).await;

    let mut b = Browser::new(&server);
    assert_eq!(b.sign_in("it@example.com", PASSWORD).await.status, 303);
    let page = b.get("/roles").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Role catalogue"), "{}", page.body);

    // A rule with no role: refused, the form keeps what was typed, the message by the field.
    let refused = b
        .post(
            "/roles/rules",
            &[
                ("name", "Managers"),
                ("op", "memberOf"),
                ("value", "Managers"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("id=\"rule-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"Managers\""));
    let made = b
        .post(
            "/roles/rules",
            &[
                ("name", "Managers"),
                ("op", "memberOf"),
                ("value", "Managers"),
                ("role", "manager"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let page = b.get("/roles?done=rule-created").await;
    assert!(
        page.body
            .contains("when member of &#39;Managers&#39;: roles manager"),
        "{}",
        page.body
    );

    // The account page names the rule as the role's source.
    let a = b.get(&format!("/accounts/{ada}")).await;
    assert!(
        a.body.contains("rule \u{201c}Managers\u{201d}"),
        "{}",
        a.body
    );
    // A hand-set role from the catalogue; an unknown one is refused next to the field.
    let added = b
        .post(
            &format!("/accounts/{ada}/roles/add"),
            &[("role", "contractor")],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let refused = b
        .post(&format!("/accounts/{ada}/roles/add"), &[("role", "wizard")])
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("id=\"role-error\""),
        "{}",
        refused.body
    );
    let a = b.get(&format!("/accounts/{ada}")).await;
    assert!(a.body.contains("set by hand"), "{}", a.body);
    assert!(!a.body.contains("wizard"));

    // Bulk: both accounts get contractor by hand.
    let list = b.get("/accounts").await;
    assert!(list.body.contains("Assign role"), "{}", list.body);
    let bulk = b
        .post(
            "/accounts/roles",
            &[
                ("account", ada.as_str()),
                ("account", bob.as_str()),
                ("role", "contractor"),
                ("action", "add"),
                ("back", "/accounts?search="),
            ],
        )
        .await;
    assert_eq!(bulk.status, 303, "{}", bulk.body);
    assert_eq!(
        bulk.location.as_deref(),
        Some("/accounts?search=&done=assigned")
    );
    let list = b.get("/accounts").await;
    assert!(list.body.contains("contractor"));
    // Nothing chosen: refused on the list, next to the role field.
    let none = b
        .post(
            "/accounts/roles",
            &[("role", "contractor"), ("action", "add")],
        )
        .await;
    assert_eq!(none.status, 400);
    assert!(
        none.body.contains("id=\"bulk-role-error\""),
        "{}",
        none.body
    );

    // Deleting the rule leaves the hand-set roles.
    let page = b.get("/roles").await;
    let at = page.body.find("data-rule=\"").expect("a rule row") + "data-rule=\"".len();
    let id = page.body[at..at + 36].to_owned();
    assert_eq!(
        b.post(&format!("/roles/rules/{id}/delete"), &[])
            .await
            .status,
        303
    );
    let admin = AdminApi::sign_in(&server, &org, "it@example.com").await;
    assert_eq!(admin.roles(&ada).await.0, vec!["contractor"]);
    assert_eq!(admin.roles(&bob).await.0, vec!["contractor"]);
}
