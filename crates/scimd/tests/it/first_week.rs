//! An administrator's first week on the real binary: the set-up link names the organisation,
//! sets its kind and signs in; the organisation is renamed from the CLI and from Settings and
//! its kind is fixed once it has accounts; a new token is shown once after a redirect, so a
//! reload creates nothing; revoking asks first and the last live token stays; the last
//! administrator stays, and others are unlocked and signed out from Settings.

use crate::common::{Server, add_admin, cli, cli_status, token_list};
use crate::console::{Browser, PASSWORD, admin_count, first_admin, setup_link, token_count};
use serde_json::json;

fn org_line(server: &Server) -> String {
    cli(&["org", "list", "--database", &server.database])
        .lines()
        .find(|l| l.starts_with(&server.org.id))
        .unwrap_or_else(|| panic!("no line for {}", server.org.id))
        .to_owned()
}

fn live_tokens(server: &Server) -> Vec<String> {
    let v = token_list(server, &server.org.id);
    v["tokens"]
        .as_array()
        .or_else(|| v.as_array())
        .expect("tokens")
        .iter()
        .filter(|t| matches!(t["state"].as_str(), Some("pending" | "active")))
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

fn activity(server: &Server) -> String {
    cli(&[
        "activity",
        "--org",
        &server.org.id,
        "--database",
        &server.database,
    ])
}

#[tokio::test]
async fn set_up_names_a_school_and_signs_the_administrator_in() {
    let server = Server::start();
    let link = setup_link(&server);
    let mut b = Browser::new(&server);
    let form = b.get(&link).await;
    assert_eq!(form.status, 200);
    for asked in [
        "name=\"org_name\"",
        "value=\"business\"",
        "value=\"school\"",
    ] {
        assert!(form.body.contains(asked), "{asked} missing:\n{}", form.body);
    }
    assert!(
        form.body
            .contains("Use an address your identity provider does not provision"),
        "{}",
        form.body
    );
    // A kind that does not exist is refused and spends nothing.
    let bad = b
        .post(
            &link,
            &[
                ("org_name", "Hillside School"),
                ("kind", "church"),
                ("email", "head@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(admin_count(&server, &server.org.id), 0);
    assert!(org_line(&server).contains("business"));

    let done = b
        .post(
            &link,
            &[
                ("org_name", "Hillside School"),
                ("kind", "school"),
                ("email", "head@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/directory-sync"));
    let line = org_line(&server);
    assert!(
        line.ends_with("\tschool\tHillside School"),
        "the organisation is a school named so: {line}"
    );
    // The answer signed the administrator in: the console home opens, no sign-in asked.
    let home = b.get("/").await;
    assert_eq!(home.location.as_deref(), Some("/directory-sync"));
    let page = b.get("/directory-sync").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Hillside School"), "{}", page.body);
    assert!(page.body.contains("head@example.com"), "{}", page.body);
    // Schools have site managers: the role is offered.
    let settings = b.get("/settings").await;
    assert!(settings.body.contains("value=\"site-manager\""));
    assert!(activity(&server).contains("org.update"));
}

#[tokio::test]
async fn the_organisation_is_renamed_and_its_kind_is_fixed_once_it_has_accounts() {
    let server = Server::start();
    let org = server.org.id.clone();
    let mut b = first_admin(&server).await;
    let settings = b.get("/settings").await;
    assert!(settings.body.contains("action=\"/settings/organisation\""));
    assert!(!settings.body.contains("id=\"kind-why\""));
    let r = b
        .post(
            "/settings/organisation",
            &[("name", "Acme Schools"), ("kind", "school")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(org_line(&server).ends_with("\tschool\tAcme Schools"));
    // An empty name is refused and changes nothing.
    b.get("/settings").await;
    let r = b
        .post(
            "/settings/organisation",
            &[("name", "  "), ("kind", "school")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(org_line(&server).ends_with("\tschool\tAcme Schools"));

    cli(&[
        "org",
        "rename",
        "--org",
        &org,
        "Acme Academy",
        "--database",
        &server.database,
    ]);
    assert!(org_line(&server).ends_with("\tschool\tAcme Academy"));

    // The first account fixes the kind.
    server
        .client
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "pupil@example.com",
            }),
            &server.org.token,
        )
        .await
        .expect(201);
    let settings = b.get("/settings").await;
    assert!(
        settings.body.contains("id=\"kind-why\""),
        "{}",
        settings.body
    );
    assert!(
        settings
            .body
            .contains("disabled aria-describedby=\"kind-why\"")
    );
    let r = b
        .post(
            "/settings/organisation",
            &[("name", "Acme Trading"), ("kind", "business")],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("kind cannot change"), "{}", r.body);
    assert!(org_line(&server).ends_with("\tschool\tAcme Academy"));
    let (ok, _, err) = cli_status(&[
        "org",
        "rename",
        "--org",
        &org,
        "Acme Trading",
        "--kind",
        "business",
        "--database",
        &server.database,
    ]);
    assert!(!ok && err.contains("kind cannot change"), "{err}");
    // A rename alone still works (the disabled kind field is not sent).
    b.get("/settings").await;
    let r = b
        .post("/settings/organisation", &[("name", "Acme Group")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(org_line(&server).ends_with("\tschool\tAcme Group"));
    let log = activity(&server);
    assert!(log.matches("org.update").count() >= 3, "{log}");
}

#[tokio::test]
async fn reloading_the_new_token_page_shows_already_shown_and_creates_nothing() {
    let server = Server::start();
    let mut b = first_admin(&server).await;
    let page = b.get("/directory-sync").await;
    // The Tenant URL is always on the page, with its own Copy.
    assert!(
        page.body.contains(&format!("value=\"{}\"", server.base)),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-copy=\"tenant-url\""));
    let before = token_count(&server, &server.org.id);
    let r = b.post("/directory-sync/tokens", &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = r.location.expect("location");
    assert!(shown.starts_with("/directory-sync/tokens/new/"), "{shown}");
    assert_eq!(token_count(&server, &server.org.id), before + 1);

    let first = b.get(&shown).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.contains("value=\"scimd_"), "the secret is shown");
    assert!(first.body.contains("data-copy=\"token-secret\""));
    assert!(first.body.contains("data-copy=\"scim-url\""));
    let again = b.get(&shown).await;
    assert_eq!(again.status, 410);
    assert!(again.body.contains("already shown"), "{}", again.body);
    assert!(!again.body.contains("value=\"scimd_"));
    assert_eq!(
        token_count(&server, &server.org.id),
        before + 1,
        "reloading created no token"
    );
    // Another administrator cannot read it either, even with the handle.
    add_admin(&server, &server.org.id, "bob@example.com", PASSWORD);
    let mut bob = Browser::new(&server);
    bob.sign_in("bob@example.com", PASSWORD).await;
    b.get("/directory-sync").await;
    let r = b.post("/directory-sync/tokens", &[]).await;
    assert_eq!(r.status, 409, "a third live token is refused: {}", r.body);
    assert_eq!(bob.get(&shown).await.status, 410);
    // Two live tokens: Generate is disabled, with the reason.
    let page = b.get("/directory-sync").await;
    assert!(
        page.body
            .contains("disabled aria-describedby=\"generate-why\""),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("scimd token"),
        "no CLI advice in the page"
    );
}

#[tokio::test]
async fn revoking_a_token_asks_first_and_the_last_live_token_cannot_be_revoked() {
    let server = Server::start();
    let mut b = first_admin(&server).await;
    b.get("/directory-sync").await;
    let r = b.post("/directory-sync/tokens", &[]).await;
    assert_eq!(r.status, 303);
    let live = live_tokens(&server);
    assert_eq!(live.len(), 2);
    let target = &live[0];
    let path = format!("/directory-sync/tokens/{target}/revoke");
    let page = b.get("/directory-sync").await;
    assert!(
        page.body.contains(&format!("href=\"{path}\"")),
        "{}",
        page.body
    );
    // The link opens a confirmation; that alone revokes nothing.
    let confirm = b.get(&path).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm.body.contains("Revoke the token"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains(&format!("action=\"{path}\"")));
    assert_eq!(live_tokens(&server).len(), 2);
    let done = b.post(&path, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(live_tokens(&server).len(), 1);
    // The last live one: Revoke is disabled with the reason, and refused if asked anyway.
    let last = live_tokens(&server).remove(0);
    let page = b.get("/directory-sync").await;
    assert!(
        page.body.contains(&format!("last-token-{last}")),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("The last live token cannot be revoked: disconnect instead.")
    );
    let last_path = format!("/directory-sync/tokens/{last}/revoke");
    let confirm = b.get(&last_path).await;
    assert_eq!(confirm.status, 409, "{}", confirm.body);
    assert!(
        !confirm.body.contains("scimd disconnect"),
        "{}",
        confirm.body
    );
    let r = b.post(&last_path, &[]).await;
    assert_eq!(r.status, 409);
    assert_eq!(live_tokens(&server).len(), 1);
}

#[tokio::test]
async fn the_last_administrator_stays_and_others_are_unlocked_and_signed_out() {
    let server = Server::start();
    let org = server.org.id.clone();
    let db = server.database.clone();
    let mut ann = first_admin(&server).await;
    // The only administrator: the CLI refuses to remove her.
    let (ok, _, err) = cli_status(&[
        "admin",
        "remove",
        "--org",
        &org,
        "--email",
        "ann@example.com",
        "--database",
        &db,
    ]);
    assert!(!ok && err.contains("last administrator"), "{err}");
    assert_eq!(admin_count(&server, &org), 1);

    add_admin(&server, &org, "bob@example.com", PASSWORD);
    let mut bob = Browser::new(&server);
    assert_eq!(bob.sign_in("bob@example.com", PASSWORD).await.status, 303);
    assert_eq!(bob.get("/settings").await.status, 200);
    // Bob's address is locked out by failed sign-ins.
    let http = reqwest::Client::new();
    for _ in 0..5 {
        crate::console::api_sign_in(&http, &server, &org, "bob@example.com", "wrong").await;
    }
    assert_eq!(
        crate::console::api_sign_in(&http, &server, &org, "bob@example.com", PASSWORD).await,
        429
    );
    let settings = ann.get("/settings").await;
    assert!(
        settings.body.contains("locked out until"),
        "{}",
        settings.body
    );
    let unlock = "/settings/administrators/unlock?email=bob%40example.com";
    assert!(settings.body.contains(unlock), "{}", settings.body);
    let confirm = ann.get(unlock).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("Unlock sign-in for bob@example.com?"));
    let r = ann
        .post(
            "/settings/administrators/unlock",
            &[("email", "bob@example.com")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        crate::console::api_sign_in(&http, &server, &org, "bob@example.com", PASSWORD).await,
        201,
        "unlocked: the right password works at once"
    );

    // End Bob's sessions: he is signed out everywhere.
    let confirm = ann
        .get("/settings/administrators/end-sessions?email=bob%40example.com")
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(
        bob.get("/settings").await.status,
        200,
        "not before confirming"
    );
    let r = ann
        .post(
            "/settings/administrators/end-sessions",
            &[("email", "bob@example.com")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = bob.get("/settings").await;
    assert_eq!(r.location.as_deref(), Some("/signin"), "bob is signed out");

    // Removing Bob asks first; then Ann is the last administrator and stays.
    let confirm = ann
        .get("/settings/administrators/remove?email=bob%40example.com")
        .await;
    assert_eq!(confirm.status, 200);
    assert_eq!(admin_count(&server, &org), 2, "not before confirming");
    let r = ann
        .post(
            "/settings/administrators/remove",
            &[("email", "bob@example.com")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(admin_count(&server, &org), 1);
    let log = activity(&server);
    for action in ["admin.unlock", "admin.sessions.end", "admin.remove"] {
        assert!(log.contains(action), "{action} missing:\n{log}");
    }
    // Mail is on Settings without SMTP: the button is disabled and the page says how.
    let settings = ann.get("/settings").await;
    assert!(settings.body.contains("Send test e-mail"));
    assert!(
        settings
            .body
            .contains("disabled aria-describedby=\"smtp-how\"")
    );
    assert!(settings.body.contains("smtp_url"));
}

#[tokio::test]
async fn the_token_command_serve_prints_works_as_printed() {
    let server = Server::start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let hint = loop {
        if let Some(l) = server
            .log_tail()
            .lines()
            .find(|l| l.contains("Get a token"))
        {
            break l.to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no token hint");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let command = hint.split_once("): ").expect("the command").1.trim();
    // This binary is not `scimd` on PATH here: the command names it by its path.
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_scimd")).expect("exe");
    assert!(
        command.starts_with(&exe.display().to_string()) || command.starts_with("scimd "),
        "{command}"
    );
    if server.database.starts_with("sqlite") {
        // Run exactly what was printed, through a shell, as an operator would paste it.
        let out = std::process::Command::new("sh")
            .args(["-c", command])
            .env_remove("SCIMD_DATABASE_URL")
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("scimd_"));
    }
}
