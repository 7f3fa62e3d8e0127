//! What the activity log says of a SCIM request beyond its method and status: the token it
//! came with, the attributes a PATCH changed, the filter of a GET, why a request was refused
//! (a 409 above all); and the console's Activity page showing times in the organisation's
//! time zone (Settings).

use crate::common::*;
use crate::console::{Browser, first_admin};
use serde_json::{Value, json};
use std::time::Duration;

/// The organisation's activity entries, oldest first, from `scimd activity`.
fn entries(server: &Server) -> Vec<Value> {
    cli(&[
        "activity",
        "--org",
        &server.org.id,
        "--format",
        "json",
        "--database",
        &server.database,
    ])
    .lines()
    .map(|l| serde_json::from_str(l).expect("an activity entry in JSON"))
    .collect()
}

/// Polls (at most 20 s) until an entry satisfies `found`; returns it.
fn wait_for(server: &Server, found: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let all = entries(server);
        if let Some(e) = all.iter().find(|e| found(e)) {
            return e.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such activity entry: {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The Activity page, polled until it contains `text`.
async fn activity_page_with(b: &mut Browser, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let p = b.get("/activity").await;
        assert_eq!(p.status, 200);
        if p.body.contains(text) {
            return p.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "'{text}' never appeared on the Activity page:\n{}",
            p.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn patch_op(ops: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": ops,
    })
}

#[tokio::test]
async fn a_patch_says_which_attributes_it_changed_and_never_their_values() {
    let server = Server::start();
    let api = server.api();
    let id = api.create_user("patched@example.com").await;
    let secret = "Never-In-The-Log-42!";
    api.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([
            {"op": "Replace", "path": "active", "value": false},
            {"op": "replace", "value": {"displayName": "Pat Ched"}},
            {"op": "add", "path": "emails[type eq \"work\"].value", "value": "p@example.com"},
            {"op": "replace", "path": "password", "value": secret},
        ])),
    )
    .await
    .expect(200);
    let e = wait_for(&server, |e| e["action"] == "PATCH");
    assert_eq!(e["status"], 200);
    assert_eq!(
        e["detail"],
        "modified: replace active, displayName, password; add emails[type eq \"work\"].value",
        "{e}"
    );
    // A refused PATCH says why instead.
    api.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{"op": "replace", "path": "id", "value": "x"}])),
    )
    .await;
    let refused = wait_for(&server, |e| {
        e["action"] == "PATCH" && e["status"].as_u64().is_some_and(|s| s >= 400)
    });
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("refused")),
        "{refused}"
    );
    let all = serde_json::to_string(&entries(&server)).expect("json");
    assert!(!all.contains(secret), "a value reached the log: {all}");
    assert!(!all.contains("p@example.com"), "a value reached the log");
    // The console shows it.
    let mut b = first_admin(&server).await;
    let page = activity_page_with(&mut b, "modified: replace active").await;
    assert!(!page.contains(secret));
}

#[tokio::test]
async fn a_get_says_its_filter() {
    let server = Server::start();
    let api = server.api();
    api.get(&format!(
        "/Users?{}",
        filter_eq("userName", "wanted@example.com")
    ))
    .await
    .expect(200);
    let e = wait_for(&server, |e| e["action"] == "GET");
    assert_eq!(
        e["detail"], "filter: userName eq \"wanted@example.com\"",
        "{e}"
    );
    // The path stays without its query.
    assert_eq!(e["target"], "/scim/v2/Users");
    // A filter refused: both the filter and why.
    api.get(&format!("/Users?{}", filter("userName zz \"x\"")))
        .await
        .expect(400);
    let bad = wait_for(&server, |e| e["action"] == "GET" && e["status"] == 400);
    let detail = bad["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("filter: userName zz \"x\"; refused (invalidFilter): "),
        "{detail}"
    );
    // A GET without a filter has no detail.
    api.get("/Groups").await.expect(200);
    let plain = wait_for(&server, |e| e["target"] == "/scim/v2/Groups");
    assert!(plain["detail"].is_null(), "{plain}");
}

#[tokio::test]
async fn a_409_says_why_it_was_refused() {
    let server = Server::start();
    let api = server.api();
    api.create_user("taken@example.com").await;
    let r = api.post("/Users", &user_body("taken@example.com")).await;
    r.expect(409);
    let said = r.json()["detail"].as_str().expect("detail").to_owned();
    let e = wait_for(&server, |e| e["status"] == 409);
    assert_eq!(e["action"], "POST");
    assert_eq!(
        e["detail"].as_str(),
        Some(format!("refused (uniqueness): {said}").as_str()),
        "{e}"
    );
    let mut b = first_admin(&server).await;
    activity_page_with(&mut b, "refused (uniqueness)").await;
}

#[tokio::test]
async fn each_request_shows_the_token_it_came_with() {
    let server = Server::start();
    server.api().get("/Users").await.expect(200);
    let tokens = token_list(&server, &server.org.id);
    let list = tokens["tokens"]
        .as_array()
        .or_else(|| tokens.as_array())
        .expect("tokens")
        .clone();
    assert_eq!(list.len(), 1, "{tokens}");
    let (id, prefix) = (
        list[0]["id"].as_str().expect("id"),
        list[0]["prefix"].as_str().expect("prefix"),
    );
    assert!(server.org.token.starts_with(prefix));
    let e = wait_for(&server, |e| e["action"] == "GET");
    assert_eq!(e["token"], id);
    let mut b = first_admin(&server).await;
    let page = activity_page_with(&mut b, &format!("<td>{prefix}…</td>")).await;
    // The secret itself is never shown.
    assert!(!page.contains(&server.org.token));
}

/// `at` (RFC 3339, UTC) moved by `minutes`, as `YYYY-MM-DD HH:MM`.
fn shifted(at: &str, minutes: i64) -> String {
    let t = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .expect("an RFC 3339 time")
        + time::Duration::minutes(minutes);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[tokio::test]
async fn times_are_shown_in_the_organisations_time_zone() {
    let server = Server::start();
    let mut b = first_admin(&server).await;
    server.api().get("/Users").await.expect(200);
    let e = wait_for(&server, |e| e["action"] == "GET");
    let at = e["at"].as_str().expect("at").to_owned();

    // UTC until set.
    let page = activity_page_with(&mut b, "Since (UTC)").await;
    assert!(page.contains(&format!("{} UTC", shifted(&at, 0))), "{page}");
    let settings = b.get("/settings").await;
    assert!(settings.body.contains("<dd id=\"time-zone\">UTC</dd>"));

    // A name the tz database does not know is a 400 that changes nothing.
    for bad in ["Mars/Olympus", "", "Europe/Paris<script>"] {
        b.get("/settings").await;
        let p = b.post("/settings/time-zone", &[("time_zone", bad)]).await;
        assert_eq!(p.status, 400, "{bad}: {}", p.body);
        assert!(p.body.contains("time zone"), "{}", p.body);
        assert!(p.body.contains("<dd id=\"time-zone\">UTC</dd>"));
    }

    // Asia/Kolkata is UTC+05:30 all year, so the expected reading needs no tz database.
    b.get("/settings").await;
    let p = b
        .post("/settings/time-zone", &[("time_zone", "asia/kolkata")])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let settings = b.get("/settings").await;
    assert!(
        settings
            .body
            .contains("<dd id=\"time-zone\">Asia/Kolkata</dd>"),
        "the name is kept as the database spells it"
    );
    // Every page's times follow, such as when the administrator was added.
    assert!(
        settings.body.contains(" IST</td>"),
        "Settings shows its times in the zone:\n{}",
        settings.body
    );
    let page = activity_page_with(&mut b, "Since (Asia/Kolkata)").await;
    assert!(
        page.contains(&format!("{} IST", shifted(&at, 330))),
        "{page}"
    );
    // The change is logged, from and to.
    let changed = wait_for(&server, |e| e["action"] == "org.time_zone");
    assert_eq!(changed["detail"], "UTC -> Asia/Kolkata");

    // "Since" is read in the zone too: a time after the request hides it, one before shows it.
    let later = shifted(&at, 330 + 2).replace(' ', "T");
    let p = b
        .get(&format!("/activity?since={}&action=GET", enc(&later)))
        .await;
    assert!(p.body.contains("No activity matches."), "{}", p.body);
    let earlier = shifted(&at, 330 - 2).replace(' ', "T");
    let p = b
        .get(&format!("/activity?since={}&action=GET", enc(&earlier)))
        .await;
    assert!(p.body.contains("/scim/v2/Users"), "{}", p.body);
}

#[tokio::test]
async fn only_an_administrator_sets_the_time_zone_and_only_for_its_organisation() {
    let server = Server::start();
    let dir = TempDir::new("tz-admins");
    add_admin(
        &server,
        &server.org.id,
        "ann@example.com",
        crate::console::PASSWORD,
    );
    let pat_password = crate::console::password_file(&dir, crate::console::PASSWORD);
    cli(&[
        "admin",
        "add",
        "--org",
        &server.org.id,
        "--email",
        "pat@example.com",
        "--role",
        "people-manager",
        "--password-file",
        &pat_password,
        "--database",
        &server.database,
    ]);
    // A second organisation with an administrator of its own.
    let other = cli(&[
        "org",
        "create",
        "Elsewhere",
        "--kind",
        "business",
        "--database",
        &server.database,
    ]);
    let other = other.trim().to_owned();
    add_admin(&server, &other, "oz@example.com", crate::console::PASSWORD);

    let mut pat = Browser::signed_in(&server, "pat@example.com").await;
    let page = pat.get("/settings").await;
    assert!(!page.body.contains("action=\"/settings/time-zone\""));
    let p = pat
        .post("/settings/time-zone", &[("time_zone", "Europe/Paris")])
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(pat.get("/activity").await.body.contains("Since (UTC)"));

    let mut ann = Browser::signed_in(&server, "ann@example.com").await;
    ann.get("/settings").await;
    let p = ann
        .post("/settings/time-zone", &[("time_zone", "Europe/Paris")])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        ann.get("/activity")
            .await
            .body
            .contains("Since (Europe/Paris)")
    );
    // The other organisation's administrator still reads UTC.
    let mut oz = Browser::new(&server);
    let signed = oz.sign_in("oz@example.com", crate::console::PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert!(oz.get("/activity").await.body.contains("Since (UTC)"));
}

#[tokio::test]
async fn the_administrators_api_reads_and_sets_the_time_zone_and_names_tokens() {
    let server = Server::start();
    add_admin(
        &server,
        &server.org.id,
        "ann@example.com",
        crate::console::PASSWORD,
    );
    let http = reqwest::Client::new();
    let signed: Value = http
        .post(format!("{}/api/v1/sessions", server.origin))
        .json(&json!({
            "organisation": server.org.id,
            "email": "ann@example.com",
            "password": crate::console::PASSWORD,
        }))
        .send()
        .await
        .expect("sign-in")
        .json()
        .await
        .expect("JSON");
    let session = signed["token"].as_str().expect("session token").to_owned();
    let url = format!("{}/api/v1/settings/time-zone", server.origin);
    let read = |http: reqwest::Client| {
        let (url, session) = (url.clone(), session.clone());
        async move {
            let r = http
                .get(&url)
                .bearer_auth(&session)
                .send()
                .await
                .expect("read");
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.expect("JSON")["timeZone"].clone()
        }
    };
    assert_eq!(read(http.clone()).await, "UTC");
    for bad in [
        json!({"timeZone": "Mars/Olympus"}),
        json!({"timeZone": 3}),
        json!({"tz": "UTC"}),
    ] {
        let r = http
            .put(&url)
            .bearer_auth(&session)
            .json(&bad)
            .send()
            .await
            .expect("set");
        assert_eq!(r.status().as_u16(), 400, "{bad}");
    }
    assert_eq!(read(http.clone()).await, "UTC", "a refusal changed nothing");
    let r = http
        .put(&url)
        .bearer_auth(&session)
        .json(&json!({"timeZone": "america/new_york"}))
        .send()
        .await
        .expect("set");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(read(http.clone()).await, "America/New_York");

    // The API's activity names the token of each SCIM request.
    server.api().get("/Users").await.expect(200);
    let token_id = token_list(&server, &server.org.id)["tokens"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log: Value = http
            .get(format!("{}/api/v1/activity", server.origin))
            .bearer_auth(&session)
            .send()
            .await
            .expect("activity")
            .json()
            .await
            .expect("JSON");
        let entries = log["entries"].as_array().expect("entries");
        if let Some(e) = entries.iter().find(|e| e["action"] == "GET") {
            assert_eq!(e["token"], token_id.as_str(), "{e}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
