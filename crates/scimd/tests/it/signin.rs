//! Signing in by e-mail address alone on the real binary: the organisation chooser when one
//! password opens several organisations, the same answers for known and unknown addresses,
//! the lock-out across organisations, forgotten-password links through an SMTP sink, the
//! CLI's reset link, and invitations.

use crate::common::{Server, SmtpSink, add_admin, cli, cli_status};
use crate::console::{Browser, PASSWORD, first_admin};
use serde_json::{Value, json};

const OTHER_PASSWORD: &str = "a different long password";

/// A new organisation through the CLI; returns its id.
fn new_org(server: &Server, name: &str) -> String {
    cli(&[
        "org",
        "create",
        name,
        "--kind",
        "business",
        "--database",
        &server.database,
    ])
    .lines()
    .last()
    .expect("id")
    .trim()
    .to_owned()
}

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

/// The organisation ids offered on a chooser page, in order.
fn offered(html: &str) -> Vec<String> {
    html.split("name=\"organisation\" value=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The organisation the browser's session is in, as Settings shows it.
async fn signed_in_org(b: &mut Browser) -> String {
    let page = b.get("/settings").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let at = page
        .body
        .find("<dt>Organisation ID</dt><dd><code>")
        .expect("org id")
        + "<dt>Organisation ID</dt><dd><code>".len();
    page.body[at..at + 36].to_owned()
}

#[tokio::test]
async fn one_address_in_two_organisations_chooses_and_lands_in_the_chosen_one() {
    let server = Server::start();
    let _ann = first_admin(&server).await;
    let a = server.org.id.clone();
    let b_org = new_org(&server, "Fabrikam");
    let c_org = new_org(&server, "Contoso");
    add_admin(&server, &b_org, "Ann@Example.com", PASSWORD);
    add_admin(&server, &c_org, "ann@example.com", OTHER_PASSWORD);

    let mut b = Browser::new(&server);
    let page = b.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Choose an organisation"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Fabrikam") && !page.body.contains("Contoso"));
    let mut ids = offered(&page.body);
    ids.sort();
    let mut want = vec![a.clone(), b_org.clone()];
    want.sort();
    assert_eq!(ids, want, "only where the password matched");
    assert!(!b.cookies.contains_key("scimd_session"));
    let handle = b
        .cookies
        .get("scimd_choice")
        .cloned()
        .expect("choice cookie");

    // The handle cannot choose an organisation the password did not match.
    let refused = b.post("/signin/choose", &[("organisation", &c_org)]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(!b.cookies.contains_key("scimd_session"));
    // Nor without its cookie (another browser), nor without the form's token.
    b.cookies.insert("scimd_choice".into(), handle.clone());
    let mut stranger = Browser::new(&server);
    stranger.get("/signin").await;
    let r = stranger
        .post("/signin/choose", &[("organisation", &b_org)])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let done = b.post("/signin/choose", &[("organisation", &b_org)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/directory-sync"));
    assert!(!b.cookies.contains_key("scimd_choice"));
    assert_eq!(signed_in_org(&mut b).await, b_org);
    // A choice is used once.
    let mut again = Browser::new(&server);
    again.get("/signin").await;
    again.cookies.insert("scimd_choice".into(), handle);
    let r = again.post("/signin/choose", &[("organisation", &a)]).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // The other password signs straight into the organisation where it matches.
    let mut c = Browser::new(&server);
    let r = c.sign_in("ANN@example.com", OTHER_PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(signed_in_org(&mut c).await, c_org);

    // The API: ambiguous without an organisation (409, listing only the matches), exact with.
    let (status, body) = api_sign_in(
        &server,
        json!({"email": "ann@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "organisation_required");
    assert_eq!(
        body["organisations"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    assert!(!body.to_string().contains(&c_org));
    let (status, body) = api_sign_in(
        &server,
        json!({"email": "ann@example.com", "password": PASSWORD, "organisation": b_org}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["organisation"], b_org.as_str());
    let (status, body) = api_sign_in(
        &server,
        json!({"email": "ann@example.com", "password": OTHER_PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["organisation"], c_org.as_str());
}

#[tokio::test]
async fn known_and_unknown_addresses_get_the_same_answers() {
    let server = Server::start();
    let _ann = first_admin(&server).await;
    let mut b = Browser::new(&server);
    let known = b.sign_in("ann@example.com", "not the password").await;
    let unknown = b.sign_in("nobody@example.com", "not the password").await;
    assert_eq!(known.status, 401);
    assert_eq!(known.status, unknown.status);
    assert_eq!(
        known.body.replace("ann@example.com", "X"),
        unknown.body.replace("nobody@example.com", "X"),
        "the same page whether the address exists or not"
    );
    assert!(!known.body.contains("Organisation ID"));

    let form = b.get("/forgot-password").await;
    assert_eq!(form.status, 200);
    let known = b
        .post("/forgot-password", &[("email", "ann@example.com")])
        .await;
    let unknown = b
        .post("/forgot-password", &[("email", "nobody@example.com")])
        .await;
    assert_eq!((known.status, unknown.status), (200, 200));
    assert_eq!(known.body, unknown.body);
    assert!(
        known
            .body
            .contains("If an administrator uses this e-mail address")
    );
    // Without SMTP nothing is sent, and the log says why.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !server.log_tail().contains("SMTP is not configured") {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            server.log_tail()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn failures_split_across_two_organisations_lock_the_address_in_both() {
    let server = Server::start();
    let _ann = first_admin(&server).await;
    let a = server.org.id.clone();
    let b_org = new_org(&server, "Fabrikam");
    add_admin(&server, &b_org, "ann@example.com", OTHER_PASSWORD);
    for org in [&a, &b_org, &a, &b_org, &a] {
        let (status, body) = api_sign_in(
            &server,
            json!({"organisation": org, "email": "ann@example.com", "password": "wrong guess"}),
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }
    let mut b = Browser::new(&server);
    for password in [PASSWORD, OTHER_PASSWORD] {
        let r = b.sign_in("ann@example.com", password).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(!b.cookies.contains_key("scimd_session"));
    }
    let (status, _) = api_sign_in(
        &server,
        json!({"organisation": b_org, "email": "ANN@example.com", "password": OTHER_PASSWORD}),
    )
    .await;
    assert_eq!(status, 429);
}

/// The link in a message, with quoted-printable soft line breaks undone.
fn link_in(data: &str) -> String {
    let text = data
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let at = text.find("http://").expect("a link");
    text[at..]
        .split_whitespace()
        .next()
        .expect("link")
        .to_owned()
}

#[tokio::test]
async fn a_forgotten_password_link_sets_a_new_one_once_and_signs_in() {
    let sink = SmtpSink::start();
    let server = Server::start_with(&["--smtp-url", &sink.url, "--mail-from", "scimd@example.com"]);
    let mut ann = first_admin(&server).await;
    let b_org = new_org(&server, "Fabrikam");
    add_admin(&server, &b_org, "ann@example.com", OTHER_PASSWORD);
    let mut b = Browser::new(&server);
    b.get("/forgot-password").await;
    let r = b
        .post("/forgot-password", &[("email", "ANN@example.com")])
        .await;
    assert_eq!(r.status, 200);
    // One link per organisation, each naming it.
    let fabrikam = sink.wait_for("Fabrikam");
    assert_eq!(fabrikam.to, vec!["ann@example.com".to_owned()]);
    let link = link_in(&fabrikam.data);
    assert!(link.contains(&format!("/password/{b_org}/")), "{link}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sink.count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "one message per organisation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let page = b.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Fabrikam"));
    let short = b
        .post(&link, &[("password", "short"), ("confirm", "short")])
        .await;
    assert_eq!(short.status, 400, "a weak password does not spend the link");
    let new = "a brand new long password";
    let done = b.post(&link, &[("password", new), ("confirm", new)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(signed_in_org(&mut b).await, b_org, "signed in at once");
    // Used once: the link is gone, and the old password no longer opens Fabrikam.
    assert_eq!(b.get(&link).await.status, 410);
    let mut again = Browser::new(&server);
    again.get("/signin").await;
    let r = again
        .post(&link, &[("password", new), ("confirm", new)])
        .await;
    assert_eq!(r.status, 410, "{}", r.body);
    let (status, body) = api_sign_in(
        &server,
        json!({"email": "ann@example.com", "password": new}),
    )
    .await;
    assert_eq!(
        (status, &body["organisation"]),
        (201, &json!(b_org)),
        "{body}"
    );
    // The other organisation's session and password are untouched.
    assert_eq!(ann.get("/directory-sync").await.status, 200);
    let activity = cli(&[
        "activity",
        "--org",
        &b_org,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    assert!(activity.contains("admin.password.reset"), "{activity}");
}

#[tokio::test]
async fn the_cli_prints_a_reset_link_and_invitations_work_once() {
    let server = Server::start();
    let mut ann = first_admin(&server).await;
    let org = server.org.id.clone();
    let origin = server.origin.clone();
    let listen = origin.trim_start_matches("http://");
    // An unknown administrator is a clear error.
    let (ok, _, err) = cli_status(&[
        "admin",
        "reset-password",
        "--org",
        &org,
        "--email",
        "nobody@example.com",
        "--listen",
        listen,
        "--database",
        &server.database,
    ]);
    assert!(!ok && err.contains("no administrator"), "{err}");
    let link = cli(&[
        "admin",
        "reset-password",
        "--org",
        &org,
        "--email",
        "ANN@example.com",
        "--listen",
        listen,
        "--database",
        &server.database,
    ]);
    assert!(
        link.starts_with(&format!("{origin}/password/{org}/")),
        "{link}"
    );
    let mut b = Browser::new(&server);
    assert_eq!(b.get(&link).await.status, 200);
    let new = "reset by the operator";
    let done = b.post(&link, &[("password", new), ("confirm", new)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(signed_in_org(&mut b).await, org);
    assert_eq!(
        ann.get("/directory-sync").await.status,
        303,
        "the earlier session ended"
    );

    // `admin add` without a password file prints an invitation instead.
    let invite = cli(&[
        "admin",
        "add",
        "--org",
        &org,
        "--email",
        "cy@example.com",
        "--listen",
        listen,
        "--database",
        &server.database,
    ]);
    assert!(
        invite.starts_with(&format!("{origin}/password/{org}/")),
        "{invite}"
    );
    let mut cy = Browser::new(&server);
    let page = cy.get(&invite).await;
    assert!(page.body.contains("invited"), "{}", page.body);
    let cy_pw = "cy chooses this password";
    let done = cy
        .post(&invite, &[("password", cy_pw), ("confirm", cy_pw)])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        cy.get(&invite).await.status,
        410,
        "an invitation works once"
    );

    // Settings → Invite without SMTP: the link is shown once (POST/redirect/GET).
    let mut admin = b;
    admin.get("/settings").await;
    let r = admin
        .post(
            "/settings/administrators/invite",
            &[("email", "dee@example.com"), ("role", "people-manager")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = r.location.clone().expect("redirect");
    let page = admin.get(&shown).await;
    let at = page
        .body
        .find("<code id=\"invite-link\">")
        .expect("link shown")
        + "<code id=\"invite-link\">".len();
    let dee_link = page.body[at..].split('<').next().expect("link").to_owned();
    assert!(
        dee_link.starts_with(&format!("{origin}/password/{org}/")),
        "{dee_link}"
    );
    let reload = admin.get(&shown).await;
    assert!(!reload.body.contains("invite-link\">"), "shown once");
    assert_eq!(
        cli(&[
            "admin",
            "list",
            "--org",
            &org,
            "--database",
            &server.database
        ])
        .matches("dee@example.com")
        .count(),
        1,
        "a reload creates nobody"
    );
    let mut dee = Browser::new(&server);
    dee.get(&dee_link).await;
    let pw = "dee's own long password";
    assert_eq!(
        dee.post(&dee_link, &[("password", pw), ("confirm", pw)])
            .await
            .status,
        303
    );
    assert_eq!(dee.get(&dee_link).await.status, 410);

    // Changing one's own password needs the current one and ends the other sessions.
    let mut other_tab = Browser::new(&server);
    assert_eq!(other_tab.sign_in("dee@example.com", pw).await.status, 303);
    dee.get("/settings").await;
    let wrong = dee
        .post(
            "/settings/password",
            &[
                ("current", "wrong"),
                ("new", "dee changed it now"),
                ("confirm", "dee changed it now"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    let changed = dee
        .post(
            "/settings/password",
            &[
                ("current", pw),
                ("new", "dee changed it now"),
                ("confirm", "dee changed it now"),
            ],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(
        dee.get("/settings").await.status,
        200,
        "this browser stays signed in"
    );
    assert_eq!(
        other_tab.get("/settings").await.status,
        303,
        "the other session ended"
    );
    let activity = cli(&[
        "activity",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    for a in [
        "admin.invite",
        "admin.invite.accepted",
        "admin.password.changed",
        "admin.password.reset-link",
    ] {
        assert!(activity.contains(a), "{a}: {activity}");
    }
}
