//! Two-step verification on the real binary: enrolment from the key the console shows (the
//! codes made here with the same TOTP crate an authenticator app's algorithm follows), sign-in
//! with a code after the password, a code refused when replayed, recovery codes each working
//! once, wrong codes counting toward the address's lock-out, the organisation's rule sending an
//! administrator without a second factor to enrolment (and the API refusing them), and the
//! operator's `scimd admin reset-2fa`, which is logged.

use crate::common::{Server, add_admin, cli, cli_status};
use crate::console::{Browser, PASSWORD, Page, first_admin};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use totp_rs::{Builder, Secret, Totp};

fn totp(key: &str) -> Totp {
    Builder::new()
        .with_secret(Secret::try_from_base32(key).expect("the key is base32"))
        .build()
        .expect("totp")
}

/// The code the app shows `steps` steps of 30 s from now.
fn code_in(key: &str, steps: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let at = now.saturating_add_signed(steps * 30);
    totp(key).generate(at).to_string()
}

/// Six digits that are no code of `key` from two steps ago to three ahead.
fn wrong_code(key: &str) -> String {
    let near: Vec<String> = (-2..=3).map(|s| code_in(key, s)).collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .expect("a wrong code")
}

/// The text of `<... id="ID" ... value="TEXT"`.
fn value_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("value") + "value=\"".len();
    rest[v..v + rest[v..].find('"').expect("end")].to_owned()
}

/// Enrols the signed-in browser: a wrong first code is refused, the right one turns it on,
/// and the recovery codes are shown once. Returns the key and the codes.
async fn enrol(b: &mut Browser) -> (String, Vec<String>) {
    let page = b.get("/settings/two-step").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg role=\"img\""), "a QR code inline");
    let key = value_of(&page.body, "totp-secret");
    assert!(key.len() >= 32, "a 160-bit key in base32: {key}");

    let r = b
        .post("/settings/two-step/confirm", &[("code", &wrong_code(&key))])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("not correct"), "{}", r.body);
    assert_eq!(
        value_of(&r.body, "totp-secret"),
        key,
        "the same key until confirmed"
    );

    let r = b
        .post("/settings/two-step/confirm", &[("code", &code_in(&key, 0))])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = r.location.expect("a redirect to the codes");
    assert!(
        shown.starts_with("/settings/two-step/recovery-codes/"),
        "{shown}"
    );
    let page = b.get(&shown).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let codes: Vec<String> = page
        .body
        .split("<li><code>")
        .skip(1)
        .filter_map(|r| r.split("</code>").next())
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "{}", page.body);
    // Shown once: a reload shows nothing.
    let again = b.get(&shown).await;
    assert_eq!(again.status, 410, "{}", again.body);
    assert!(!again.body.contains(&codes[0]));
    (key, codes)
}

/// `POST /api/v1/sessions`: the status and the body.
async fn api_sign_in(server: &Server, body: Value) -> (u16, Value) {
    let r = server
        .client
        .post(&format!("{}/api/v1/sessions", server.origin), &body, "")
        .await;
    (
        r.status,
        serde_json::from_str(&r.text).unwrap_or(Value::Null),
    )
}

fn activity(server: &Server) -> String {
    cli(&[
        "activity",
        "--org",
        &server.org.id,
        "--format",
        "json",
        "--database",
        &server.database,
    ])
}

/// Signs in with the password in a new browser: the second step's page, no session yet.
/// Answers the pending second step with `code` (with `recovery`, a recovery code).
async fn answer(b: &mut Browser, code: &str, recovery: bool) -> Page {
    let mut fields = vec![("code", code)];
    if recovery {
        fields.push(("recovery", "1"));
    }
    b.post("/signin/second-step", &fields).await
}

async fn password_step(server: &Server, email: &str) -> Browser {
    let mut b = Browser::new(server);
    let page = b.sign_in(email, PASSWORD).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Enter the 6-digit code"),
        "{}",
        page.body
    );
    assert!(!b.cookies.contains_key("scimd_session"));
    assert!(b.cookies.contains_key("scimd_second_step"));
    b
}

#[tokio::test]
async fn a_code_signs_in_once_and_each_recovery_code_once() {
    let server = Server::start();
    let mut ann = first_admin(&server).await;
    let (key, codes) = enrol(&mut ann).await;
    let page = ann.get("/settings/two-step").await;
    assert!(
        page.body.contains("id=\"two-step-status\">on"),
        "{}",
        page.body
    );
    assert!(page.body.contains("10 of 10"), "{}", page.body);
    assert_eq!(ann.post("/signout", &[]).await.status, 303);

    // The password alone opens no session; a code from the app then does.
    let mut b = password_step(&server, "ann@example.com").await;
    let code = code_in(&key, 1);
    let done = answer(&mut b, &code, false).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/directory-sync"));
    assert!(b.cookies.contains_key("scimd_session"));
    assert!(!b.cookies.contains_key("scimd_second_step"));
    assert_eq!(b.get("/directory-sync").await.status, 200);

    // The same code again, in another sign-in, is refused.
    let mut c = password_step(&server, "ann@example.com").await;
    let r = answer(&mut c, &code, false).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("already used"), "{}", r.body);
    assert!(!c.cookies.contains_key("scimd_session"));

    // A recovery code works in place of a code (however it is typed), once.
    let page = c.get("/signin/second-step?recovery=1").await;
    assert!(page.body.contains("Recovery code"), "{}", page.body);
    let typed = codes[0].to_uppercase().replace('-', " ");
    let r = answer(&mut c, &typed, true).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(c.cookies.contains_key("scimd_session"));
    let mut d = password_step(&server, "ann@example.com").await;
    let r = answer(&mut d, &codes[0], true).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!d.cookies.contains_key("scimd_session"));
    let r = answer(&mut d, &codes[1], true).await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The API's sign-in is no way around the second factor.
    let creds = json!({"email": "ann@example.com", "password": PASSWORD});
    let (status, body) = api_sign_in(&server, creds.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "second_factor_required");
    assert!(body.get("token").is_none());
    let with = |code: &str| {
        let mut v = creds.clone();
        v["code"] = json!(code);
        v
    };
    let (status, body) = api_sign_in(&server, with(&code)).await;
    assert_eq!(status, 401, "a replayed code: {body}");
    let (status, body) = api_sign_in(&server, with(&codes[2])).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["token"].as_str().is_some());
    let (status, body) = api_sign_in(&server, with(&codes[2])).await;
    assert_eq!(status, 401, "a recovery code is spent: {body}");

    let page = b.get("/settings/two-step").await;
    assert!(page.body.contains("7 of 10"), "{}", page.body);
    let log = activity(&server);
    for action in [
        "admin.2fa.enrol",
        "admin.2fa.recovery.used",
        "signin.2fa.failed",
    ] {
        assert!(log.contains(action), "{action} in {log}");
    }
    assert!(!log.contains(&key), "the key is never logged");
    assert!(!server.log_tail().contains(&key), "nor in the server's log");
}

#[tokio::test]
async fn wrong_codes_count_toward_the_address_lock_out() {
    let server = Server::start();
    let mut ann = first_admin(&server).await;
    let (key, _) = enrol(&mut ann).await;
    let wrong = wrong_code(&key);

    // The password is right, so it is the first of the five failures until a code is; four
    // wrong codes are the rest, and the address is then locked.
    let mut b = password_step(&server, "ann@example.com").await;
    for n in 1..=4 {
        let r = answer(&mut b, &wrong, false).await;
        assert_eq!(r.status, 401, "wrong code {n}: {}", r.body);
        assert!(!b.cookies.contains_key("scimd_session"));
    }
    let r = answer(&mut b, &code_in(&key, 1), false).await;
    assert_eq!(r.status, 429, "even the right code: {}", r.body);
    assert!(r.body.contains("Too many failed sign-ins"), "{}", r.body);
    assert!(!b.cookies.contains_key("scimd_session"));

    // The lock-out is the address's: the password is refused too, in the console and the API.
    let mut c = Browser::new(&server);
    let r = c.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.body);
    let (status, body) = api_sign_in(
        &server,
        json!({"email": "ann@example.com", "password": PASSWORD, "code": code_in(&key, 1)}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    let log = activity(&server);
    assert!(log.contains("signin.2fa.failed"), "{log}");
    assert!(log.contains("signin.lockout"), "{log}");
}

#[tokio::test]
async fn the_organisation_rule_sends_administrators_to_enrolment_and_reset_2fa_removes_one() {
    let server = Server::start();
    let org = server.org.id.clone();
    let db = server.database.clone();
    let mut ann = first_admin(&server).await;

    // Requiring it before having it oneself is refused, and changes nothing.
    let r = ann
        .post("/settings/require-two-step", &[("required", "on")])
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("for yourself"), "{}", r.body);
    add_admin(&server, &org, "bob@example.com", PASSWORD);
    let mut bob = Browser::signed_in(&server, "bob@example.com").await;
    assert_eq!(bob.get("/directory-sync").await.status, 200);
    let (status, body) = api_sign_in(
        &server,
        json!({"email": "bob@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let bob_api = body["token"].as_str().expect("token").to_owned();
    let connection = |token: String| {
        let (http, origin) = (reqwest::Client::new(), server.origin.clone());
        async move {
            let r = http
                .get(format!("{origin}/api/v1/connection"))
                .bearer_auth(token)
                .send()
                .await
                .expect("connection");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(connection(bob_api.clone()).await.0, 200);

    enrol(&mut ann).await;
    let r = ann
        .post("/settings/require-two-step", &[("required", "on")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location.as_deref(),
        Some("/settings?done=two-step-required")
    );
    // Settings shows who has it.
    let page = ann.get("/settings").await;
    let row = |email: &str| {
        let at = page
            .body
            .find(&format!("<td>{email}</td>"))
            .unwrap_or_else(|| panic!("no row for {email}"));
        let rest = &page.body[at..];
        rest[..rest.find("</tr>").expect("row end")].to_owned()
    };
    assert!(
        row("ann@example.com").contains("<td>on</td>"),
        "{}",
        row("ann@example.com")
    );
    assert!(
        row("bob@example.com").contains("<td>off</td>"),
        "{}",
        row("bob@example.com")
    );

    // Bob, without a second factor, reaches nothing but enrolment (even in his open session).
    for path in ["/directory-sync", "/settings", "/accounts"] {
        let r = bob.get(path).await;
        assert_eq!(r.status, 303, "{path}: {}", r.body);
        assert_eq!(r.location.as_deref(), Some("/settings/two-step"), "{path}");
    }
    let mut fresh = Browser::signed_in(&server, "bob@example.com").await;
    let r = fresh.get("/directory-sync").await;
    assert_eq!(r.location.as_deref(), Some("/settings/two-step"));
    let page = fresh.get("/settings/two-step").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("requires two-step verification"),
        "{}",
        page.body
    );
    // Nor can the API's sign-in be a way around it.
    let (status, body) = api_sign_in(
        &server,
        json!({"email": "bob@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "enrolment_required");
    // And his API session from before the rule is refused the same way.
    let (status, body) = connection(bob_api.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "enrolment_required");

    // Once enrolled, the console opens; it cannot be turned off while required.
    let (bob_key, _) = enrol(&mut bob).await;
    assert_eq!(bob.get("/directory-sync").await.status, 200);
    let r = bob
        .post("/settings/two-step/off", &[("code", &code_in(&bob_key, 1))])
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("cannot be turned off"), "{}", r.body);
    password_step(&server, "bob@example.com").await;

    // The operator's reset: the factor goes, the sessions end, and it is logged.
    let (ok, _, err) = cli_status(&[
        "admin",
        "reset-2fa",
        "--org",
        &org,
        "--email",
        "nobody@example.com",
        "--database",
        &db,
    ]);
    assert!(!ok);
    assert!(err.contains("no administrator"), "{err}");
    cli(&[
        "admin",
        "reset-2fa",
        "--org",
        &org,
        "--email",
        "BOB@example.com",
        "--database",
        &db,
    ]);
    let r = bob.get("/directory-sync").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/signin"), "his session ended");
    // Once removed, there is nothing to reset: refused, and nothing is logged.
    let (ok, _, err) = cli_status(&[
        "admin",
        "reset-2fa",
        "--org",
        &org,
        "--email",
        "bob@example.com",
        "--database",
        &db,
    ]);
    assert!(!ok);
    assert!(err.contains("not on"), "{err}");
    // His next password opens a session that is sent to enrolment again.
    let mut again = Browser::signed_in(&server, "bob@example.com").await;
    let r = again.get("/directory-sync").await;
    assert_eq!(r.location.as_deref(), Some("/settings/two-step"));
    // Ann's own second factor is untouched.
    password_step(&server, "ann@example.com").await;
    let log = activity(&server);
    assert!(log.contains("org.2fa.required"), "{log}");
    let reset: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["action"] == "admin.2fa.reset")
        .collect();
    assert_eq!(reset.len(), 1, "{log}");
    assert_eq!(reset[0]["target"], "bob@example.com", "{log}");
}

#[tokio::test]
async fn a_copy_to_postgres_keeps_second_factors_used_steps_and_the_rule() {
    let source = Server::start_on(crate::common::TestDatabase::sqlite());
    let mut ann = first_admin(&source).await;
    let (key, codes) = enrol(&mut ann).await;
    let r = ann
        .post("/settings/require-two-step", &[("required", "on")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut b = password_step(&source, "ann@example.com").await;
    let r = answer(&mut b, &codes[0], true).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let used = code_in(&key, 1);
    let mut b = password_step(&source, "ann@example.com").await;
    let r = answer(&mut b, &used, false).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let org = source.org.clone();
    let source_db = source.db();
    drop(source);

    let target_db = crate::common::TestDatabase::postgres();
    let (ok, _, err) = cli_status(&["copy", "--from", &source_db.url, "--to", &target_db.url]);
    assert!(ok, "copy failed: {err}");
    let target = Server::serve_copy(target_db, org);
    // The password alone still opens nothing; the used code and recovery code stay used.
    let mut c = password_step(&target, "ann@example.com").await;
    let r = answer(&mut c, &used, false).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = answer(&mut c, &codes[0], true).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = answer(&mut c, &codes[1], true).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = c.get("/settings").await;
    assert!(
        page.body.contains(
            "id=\"require-two-step\" name=\"required\" type=\"checkbox\" value=\"on\" checked"
        ),
        "the rule is carried: {}",
        page.body
    );
    assert!(
        page.body.contains("8 of 10 recovery codes left"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_and_turning_off_needs_a_current_code() {
    let server = Server::start();
    let mut ann = first_admin(&server).await;
    let (key, old) = enrol(&mut ann).await;

    // A recovery code is no current code for Settings; a current code makes ten new ones.
    let r = ann
        .post("/settings/two-step/recovery-codes", &[("code", &old[0])])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = ann
        .post(
            "/settings/two-step/recovery-codes",
            &[("code", &code_in(&key, 1))],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = ann.get(&r.location.expect("the codes' page")).await;
    let new: Vec<String> = page
        .body
        .split("<li><code>")
        .skip(1)
        .filter_map(|r| r.split("</code>").next())
        .map(str::to_owned)
        .collect();
    assert_eq!(new.len(), 10, "{}", page.body);
    assert!(new.iter().all(|c| !old.contains(c)));
    let mut b = password_step(&server, "ann@example.com").await;
    let r = answer(&mut b, &old[1], true).await;
    assert_eq!(r.status, 401, "an old code stopped working: {}", r.body);
    let r = answer(&mut b, &new[0], true).await;
    assert_eq!(r.status, 303, "{}", r.body);

    // Turning off takes a current code; a wrong one changes nothing.
    add_admin(&server, &server.org.id, "bob@example.com", PASSWORD);
    let mut bob = Browser::signed_in(&server, "bob@example.com").await;
    let (bob_key, _) = enrol(&mut bob).await;
    let r = bob
        .post("/settings/two-step/off", &[("code", &wrong_code(&bob_key))])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    password_step(&server, "bob@example.com").await;
    let r = bob
        .post("/settings/two-step/off", &[("code", &code_in(&bob_key, 1))])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/settings/two-step?done=off"));
    let mut again = Browser::new(&server);
    let r = again.sign_in("bob@example.com", PASSWORD).await;
    assert_eq!(r.status, 303, "the password alone again: {}", r.body);
    let log = activity(&server);
    assert!(log.contains("admin.2fa.recovery.regenerate"), "{log}");
    assert!(log.contains("admin.2fa.off"), "{log}");
}
