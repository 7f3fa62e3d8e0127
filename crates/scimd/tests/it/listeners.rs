//! `serve --console-listen`: the console and the administrators' API on a listener of their
//! own, so that the address published for an identity provider answers SCIM, the application
//! API and health, and nothing an administrator signs in to.

use crate::applications::app_key;
use crate::common::{Server, cli_status};
use crate::console::{Browser, create_and_sign_in, setup_link};
use serde_json::json;

fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn status(method: reqwest::Method, url: &str) -> u16 {
    plain()
        .request(method, url)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_public_listener_answers_scim_and_applications_and_not_the_console() {
    let server = Server::start_with(&["--console-listen", "127.0.0.1:0"]);
    let console = server.console.clone().expect("a console listener");
    let public = server.origin.clone();
    assert_ne!(console, public);

    // SCIM and health on the public listener.
    server.api().get("/Users").await.expect(200);
    assert_eq!(
        status(reqwest::Method::GET, &format!("{public}/healthz")).await,
        200
    );
    assert_eq!(
        status(reqwest::Method::GET, &format!("{public}/readyz")).await,
        200
    );

    // Nothing of the console, the administrators' API or the metrics there.
    for path in [
        "/",
        "/signin",
        "/settings",
        "/directory-sync",
        "/activity",
        "/console/console.css",
        "/api/v1/accounts",
        "/api/v1/activity",
        "/api/v1/connection",
        "/metrics",
    ] {
        let code = status(reqwest::Method::GET, &format!("{public}{path}")).await;
        assert_eq!(code, 404, "GET {path} on the public listener");
    }
    let sign_in = plain()
        .post(format!("{public}/api/v1/sessions"))
        .json(&json!({"email": "ann@example.com", "password": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(sign_in.status().as_u16(), 404);
    let setup = setup_link(&server);
    assert!(setup.starts_with(&console), "{setup}");
    let on_public = setup.replace(&console, &public);
    assert_eq!(status(reqwest::Method::GET, &on_public).await, 404);

    // The application API stays public: an application reads with its key.
    let key = app_key(&server, &server.org.id, "Intranet");
    let events = plain()
        .get(format!("{public}/api/v1/events"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    assert_eq!(events.status().as_u16(), 200);
    let on_console = plain()
        .get(format!("{console}/api/v1/events"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    assert_eq!(on_console.status().as_u16(), 404);

    // The console listener: the console, the administrators' API, health and metrics; no SCIM.
    assert_eq!(
        status(reqwest::Method::GET, &format!("{console}/signin")).await,
        200
    );
    assert_eq!(
        status(reqwest::Method::GET, &format!("{console}/healthz")).await,
        200
    );
    assert_eq!(
        status(reqwest::Method::GET, &format!("{console}/metrics")).await,
        200
    );
    let scim = plain()
        .get(format!("{console}/scim/v2/Users"))
        .bearer_auth(&server.org.token)
        .send()
        .await
        .expect("request");
    assert_eq!(scim.status().as_u16(), 404);
    let refused = plain()
        .post(format!("{console}/api/v1/sessions"))
        .json(&json!({"email": "ann@example.com", "password": "not the password"}))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status().as_u16(), 401);

    // The set-up link works there, and the signed-in pages too.
    let mut b = Browser::at(&console);
    create_and_sign_in(&mut b, &setup).await;
    let page = b.get("/directory-sync").await;
    assert_eq!(page.status, 200);
    // The Tenant URL shown is the public listener's SCIM base, not the console's address.
    assert!(
        page.body.contains(&format!("{public}/scim/v2")),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_console_on_its_own_listener_sets_plain_cookies_whatever_the_public_url() {
    let server = Server::start_with(&[
        "--console-listen",
        "127.0.0.1:0",
        "--public-url",
        "https://scim.example.test/scim/v2",
    ]);
    let console = server.console.clone().expect("a console listener");
    let link = setup_link(&server);
    assert!(link.starts_with(&console), "{link}");
    let r = plain().get(&link).send().await.expect("set-up page");
    assert_eq!(r.status().as_u16(), 200);
    // No Strict-Transport-Security over the console's plain HTTP.
    assert!(r.headers().get("strict-transport-security").is_none());
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("cookie").to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("scimd_presession=") && !c.contains("Secure")),
        "{cookies:?}"
    );
    let mut b = Browser::at(&console);
    create_and_sign_in(&mut b, &link).await;
    let page = b.get("/directory-sync").await;
    assert!(
        page.body.contains("https://scim.example.test/scim/v2"),
        "{}",
        page.body
    );
    // The public listener keeps its HSTS.
    let health = plain()
        .get(format!("{}/healthz", server.origin))
        .send()
        .await
        .expect("health");
    assert!(health.headers().get("strict-transport-security").is_some());
}

#[tokio::test]
async fn a_console_listener_off_loopback_is_refused_unless_allowed() {
    let db = crate::common::TestDatabase::sqlite();
    let (ok, _, stderr) = cli_status(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--console-listen",
        "192.0.2.1:9090",
        "--database",
        &db.url,
    ]);
    assert!(!ok);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    assert!(stderr.contains("--allow-plain-console"), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "{stderr}"
    );
    // Nothing was created: the refusal comes before the database is opened.
    assert!(!std::path::Path::new(db.url.trim_start_matches("sqlite://")).exists());
}

#[tokio::test]
async fn the_default_layout_keeps_everything_on_one_listener() {
    let server = Server::start();
    assert!(server.console.is_none());
    assert_eq!(
        status(reqwest::Method::GET, &format!("{}/signin", server.origin)).await,
        200
    );
    assert_eq!(
        status(reqwest::Method::GET, &format!("{}/metrics", server.origin)).await,
        200
    );
    server.api().get("/Users").await.expect(200);
}
