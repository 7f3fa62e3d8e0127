//! The console's security on the real binary: the one-time set-up link, CSRF on forms,
//! isolation between organisations' sessions, and the sign-in lock-out. A small cookie-keeping
//! client stands in for a browser (the end-to-end story in a real browser is `scripts/e2e`).

use crate::common;
use crate::common::{Server, SmtpSink, add_admin, cli, token_list};
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A browser without JavaScript: keeps cookies, does not follow redirects, reads the CSRF
/// field of the last page it loaded.
pub(crate) struct Browser {
    http: reqwest::Client,
    origin: String,
    pub(crate) cookies: BTreeMap<String, String>,
    pub(crate) csrf: Option<String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

impl Browser {
    pub(crate) fn new(server: &Server) -> Browser {
        Browser::at(&server.origin)
    }

    /// A browser for the console at `origin` (its own listener, say).
    pub(crate) fn at(origin: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            origin: origin.to_owned(),
            cookies: BTreeMap::new(),
            csrf: None,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.origin)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header("cookie", self.cookie_header())
        };
        let r = req.send().await.expect("request");
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().expect("cookie");
            assert!(
                c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"),
                "{c}"
            );
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').expect("name=value");
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.text().await.expect("body");
        if let Some(csrf) = csrf_of(&body) {
            self.csrf = Some(csrf);
        }
        Page {
            status,
            location,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(self.url(path));
        self.send(req).await
    }

    /// Posts a form with the CSRF field of the last page.
    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields.
    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// Signs in by address and password alone (no organisation).
    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let p = self.get("/signin").await;
        assert_eq!(p.status, 200);
        self.post("/signin", &[("email", email), ("password", password)])
            .await
    }
}

fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The set-up link `serve` printed (before it printed its address).
pub(crate) fn setup_link(server: &Server) -> String {
    let log = server.log_tail();
    let line = log
        .lines()
        .find(|l| l.contains("one-time link: "))
        .unwrap_or_else(|| panic!("no set-up link in the log:\n{log}"));
    line.rsplit("one-time link: ")
        .next()
        .expect("link")
        .trim()
        .to_owned()
}

pub(crate) fn admin_count(server: &Server, org: &str) -> usize {
    cli(&[
        "admin",
        "list",
        "--org",
        org,
        "--database",
        &server.database,
    ])
    .lines()
    .filter(|l| l.contains('@'))
    .count()
}

pub(crate) fn token_count(server: &Server, org: &str) -> usize {
    let v = token_list(server, org);
    v["tokens"]
        .as_array()
        .or_else(|| v.as_array())
        .map(Vec::len)
        .unwrap_or_else(|| panic!("no tokens in {v}"))
}

impl Browser {
    /// A browser signed in as `email` (with [`PASSWORD`]).
    pub(crate) async fn signed_in(server: &Server, email: &str) -> Browser {
        let mut b = Browser::new(server);
        let p = b.sign_in(email, PASSWORD).await;
        assert_eq!(p.status, 303, "{}", p.body);
        b
    }
}

/// A signed-in browser for the server's first organisation, its administrator made through
/// the set-up link.
pub(crate) async fn first_admin(server: &Server) -> Browser {
    let mut b = Browser::new(server);
    let link = setup_link(server);
    create_and_sign_in(&mut b, &link).await;
    assert!(b.cookies.contains_key("scimd_session"));
    let page = b.get("/directory-sync").await;
    assert_eq!(page.status, 200);
    b
}

/// Creates ann@example.com through the set-up `link`, which signs her in.
pub(crate) async fn create_and_sign_in(b: &mut Browser, link: &str) {
    assert_eq!(b.get(link).await.status, 200);
    let done = b
        .post(
            link,
            &[
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    // The set-up signs the new administrator in.
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/directory-sync"));
    assert!(b.cookies.keys().any(|k| k.ends_with("scimd_session")));
}

#[tokio::test]
async fn setup_link_creates_the_first_administrator_once() {
    let server = Server::start();
    let link = setup_link(&server);
    assert!(link.starts_with(&format!("{}/setup/{}/", server.origin, server.org.id)));
    let mut b = Browser::new(&server);
    let form = b.get(&link).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Set up and sign in"));
    // A guessed secret is refused like a used one.
    let guessed = format!(
        "{}/setup/{}/{}",
        server.origin,
        server.org.id,
        "A".repeat(43)
    );
    assert_eq!(b.get(&guessed).await.status, 410);
    // Without the form's CSRF field: refused, and nothing is created.
    let forged = b
        .post_raw(
            &link,
            &[
                ("email", "eve@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(admin_count(&server, &server.org.id), 0);
    // A bad password does not spend the link.
    let weak = b
        .post(
            &link,
            &[
                ("email", "ann@example.com"),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(
        weak.body.contains("at least 12 characters"),
        "{}",
        weak.body
    );
    let done = b
        .post(
            &link,
            &[
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/directory-sync"));
    assert_eq!(admin_count(&server, &server.org.id), 1);
    // Used: neither the page nor the form works again, for anyone.
    assert_eq!(b.get(&link).await.status, 410);
    let mut other = Browser::new(&server);
    other.get("/signin").await;
    let again = other
        .post(
            &link,
            &[
                ("email", "eve@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, 410);
    assert_eq!(admin_count(&server, &server.org.id), 1);
    // The administrator signs in with the password chosen.
    let signed = b.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(signed.status, 303);
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let server = Server::start();
    let mut b = first_admin(&server).await;
    let org = server.org.id.clone();
    let before = token_count(&server, &org);
    let good = b.csrf.clone().expect("csrf on the page");
    for fields in [vec![], vec![("csrf", "")], vec![("csrf", "not-the-token")]] {
        let r = b.post_raw("/directory-sync/tokens", &fields).await;
        assert_eq!(r.status, 403, "{fields:?}");
        assert!(!r.body.contains("scimd_"), "no secret on a refused form");
        let r = b
            .post_raw(
                "/directory-sync/auto-merge",
                &[fields.as_slice(), &[("enabled", "on")]].concat(),
            )
            .await;
        assert_eq!(r.status, 403);
        let r = b.post_raw("/directory-sync/disconnect", &fields).await;
        assert_eq!(r.status, 403);
        let r = b.post_raw("/signout", &fields).await;
        assert_eq!(r.status, 403);
    }
    assert_eq!(token_count(&server, &org), before);
    let page = b.get("/directory-sync").await;
    assert!(
        page.body.contains("aria-checked=\"false\""),
        "Auto Merge stayed off"
    );
    assert!(page.body.contains("active") || page.body.contains("pending"));
    // Another browser's token (a valid one, for another session) does not work either.
    let mut other = Browser::new(&server);
    other.sign_in("ann@example.com", PASSWORD).await;
    other.get("/directory-sync").await;
    let theirs = other.csrf.clone().expect("csrf");
    assert_ne!(theirs, good);
    let r = b
        .post_raw("/directory-sync/tokens", &[("csrf", theirs.as_str())])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(token_count(&server, &org), before);
    // With the page's token the same form works.
    let r = b.post("/directory-sync/tokens", &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = b.get(&r.location.expect("the token's page")).await;
    assert!(shown.body.contains("Copy") && shown.body.contains("Close"));
    assert_eq!(token_count(&server, &org), before + 1);
    // The activity log names the administrator.
    let activity = cli(&[
        "activity",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    assert!(activity.contains("token.generate") && activity.contains("admin:ann@example.com"));
}

#[tokio::test]
async fn a_session_never_reaches_another_organisations_pages() {
    let server = Server::start();
    let mut a = first_admin(&server).await;
    let b_org = server.second_org();
    add_admin(&server, &b_org.id, "bea@example.com", PASSWORD);
    // An account of organisation A.
    let created = a
        .post(
            "/accounts",
            &[
                ("userName", "alex@a.example.com"),
                ("displayName", "Alex of A"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let location = created.location.expect("location");
    let id = location
        .trim_start_matches("/accounts/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();
    assert_eq!(a.get(&format!("/accounts/{id}")).await.status, 200);

    let mut b = Browser::new(&server);
    let signed = b.sign_in("bea@example.com", PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    b.get("/accounts").await;
    for path in [format!("/accounts/{id}"), format!("/accounts/{id}/edit")] {
        let p = b.get(&path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(!p.body.contains("alex@a.example.com"));
    }
    let list = b.get("/accounts?search=alex").await;
    assert!(!list.body.contains("alex@a.example.com"));
    // Acting on it is refused the same way, and changes nothing.
    let r = b
        .post(&format!("/accounts/{id}/local"), &[("roles", "owner")])
        .await;
    assert_eq!(r.status, 404);
    let r = b
        .post(
            &format!("/accounts/{id}/edit"),
            &[("userName", "taken@b.example.com"), ("version", "1")],
        )
        .await;
    assert_eq!(r.status, 404);
    // A's token is not B's to revoke, and B's page never shows it.
    let tokens = cli(&[
        "token",
        "list",
        "--org",
        &server.org.id,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    let tokens: Value = serde_json::from_str(&tokens).expect("json");
    let a_token = tokens["tokens"]
        .as_array()
        .or_else(|| tokens.as_array())
        .and_then(|t| t.first())
        .and_then(|t| t["id"].as_str())
        .expect("A's token id")
        .to_owned();
    let sync = b.get("/directory-sync").await;
    assert!(!sync.body.contains(&a_token));
    let r = b
        .post(&format!("/directory-sync/tokens/{a_token}/revoke"), &[])
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let page = a.get(&format!("/accounts/{id}")).await;
    assert!(page.body.contains("alex@a.example.com"));
    assert!(!page.body.contains("owner"));
    // A SCIM call with A's token still works: nothing was revoked.
    server.api().get("/Users?count=1").await.expect(200);
    // A's session cookie with B's CSRF field is refused before anything runs.
    let theirs = b.csrf.clone().expect("csrf");
    let r = a
        .post_raw("/directory-sync/tokens", &[("csrf", theirs.as_str())])
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn repeated_failed_sign_ins_lock_the_address_out() {
    let server = Server::start();
    let _ann = first_admin(&server).await;
    let org = server.org.id.clone();
    let mut b = Browser::new(&server);
    for _ in 0..5 {
        let r = b.sign_in("ann@example.com", "wrong password").await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(r.body.contains("not correct"));
        assert!(!b.cookies.contains_key("scimd_session"));
    }
    // Now even the right password is refused, in the console and in the API.
    let r = b.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Too many failed sign-ins"), "{}", r.body);
    assert!(!b.cookies.contains_key("scimd_session"));
    let api = server
        .client
        .post(
            &format!("{}/api/v1/sessions", server.origin),
            &json!({ "organisation": org, "email": "ANN@example.com", "password": PASSWORD }),
            "",
        )
        .await;
    assert_eq!(api.status, 429, "{}", api.text);
    // Another administrator of the organisation is not affected.
    add_admin(&server, &org, "bob@example.com", PASSWORD);
    let r = b.sign_in("bob@example.com", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let activity = cli(&[
        "activity",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    assert!(activity.contains("signin.lockout"), "{activity}");
}

#[tokio::test]
async fn console_pages_need_a_session_and_assets_have_their_types() {
    let server = Server::start();
    let mut b = Browser::new(&server);
    for path in [
        "/",
        "/directory-sync",
        "/accounts",
        "/settings",
        "/activity",
    ] {
        let p = b.get(path).await;
        assert_eq!(p.status, 303, "{path}");
        assert_eq!(p.location.as_deref(), Some("/signin"), "{path}");
    }
    let r = reqwest::get(format!("{}/console/console.css", server.origin))
        .await
        .expect("css");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/css")
    );
    let r = reqwest::get(format!("{}/console/console.js", server.origin))
        .await
        .expect("js");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
    let r = reqwest::get(format!("{}/signin", server.origin))
        .await
        .expect("signin");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn settings_sends_a_test_email_only_when_smtp_is_configured() {
    // Without SMTP: said so, the button is disabled, and the form is refused.
    let plain = Server::start();
    let mut b = first_admin(&plain).await;
    let settings = b.get("/settings").await;
    assert!(settings.body.contains("SMTP is not configured"));
    assert!(
        settings
            .body
            .contains("disabled aria-describedby=\"smtp-how\">Send test e-mail")
    );
    let r = b
        .post("/settings/test-email", &[("to", "ann@example.com")])
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    drop(plain);

    let sink = SmtpSink::start();
    let url = sink.url.clone();
    let server = Server::start_with(&["--smtp-url", &url, "--mail-from", "scimd@example.com"]);
    let mut b = first_admin(&server).await;
    let settings = b.get("/settings").await;
    assert!(
        settings.body.contains("Send test e-mail"),
        "{}",
        settings.body
    );
    let r = b
        .post("/settings/test-email", &[("to", "it@example.com")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/settings?done=mail-sent"));
    let got = sink.wait_for("scimd test message");
    assert!(
        got.to.iter().any(|t| t.contains("it@example.com")),
        "{got:?}"
    );
    let activity = cli(&[
        "activity",
        "--org",
        &server.org.id,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    assert!(activity.contains("mail.test"), "{activity}");
}

// ---------------------------------------------------------------------------------------------
// What an attacker tries: planted cookies, forms from a sibling origin, guesses in flight,
// floods of sign-ins, and an operator's tools to take an administrator back.

/// A pre-session value the server really issued, with its CSRF field, as an attacker who
/// loaded the sign-in page would hold them.
async fn attacker_presession(server: &Server) -> (String, String) {
    let mut attacker = Browser::new(server);
    assert_eq!(attacker.get("/signin").await.status, 200);
    let value = attacker
        .cookies
        .get("scimd_presession")
        .cloned()
        .expect("a pre-session cookie");
    (value, attacker.csrf.clone().expect("csrf"))
}

#[tokio::test]
async fn a_planted_presession_cookie_never_stands_in_for_the_session() {
    let server = Server::start();
    let mut victim = first_admin(&server).await;
    let (planted, its_csrf) = attacker_presession(&server).await;
    // The attacker sets its pre-session cookie in the signed-in victim's browser (from a
    // sibling subdomain, say) and makes it post a form with the matching field.
    victim
        .cookies
        .insert("scimd_presession".into(), planted.clone());
    let r = victim
        .post_raw(
            "/settings/administrators",
            &[
                ("csrf", its_csrf.as_str()),
                ("email", "evil@attacker.example"),
                ("role", "administrator"),
                ("password", "attacker chosen password"),
                ("confirm", "attacker chosen password"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(admin_count(&server, &server.org.id), 1);
    // The session's own field still works, with or without the planted cookie.
    let page = victim.get("/settings").await;
    assert_eq!(page.status, 200);
    let r = victim.post("/directory-sync/tokens", &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
}

#[tokio::test]
async fn a_form_the_browser_marks_as_from_another_origin_is_refused() {
    let server = Server::start();
    let mut b = first_admin(&server).await;
    let before = token_count(&server, &server.org.id);
    let csrf = b.csrf.clone().expect("csrf");
    let body = format!("csrf={csrf}");
    for site in ["same-site", "cross-site"] {
        let req = b
            .http
            .post(b.url("/directory-sync/tokens"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", site)
            .body(body.clone());
        let r = b.send(req).await;
        assert_eq!(r.status, 403, "{site}: {}", r.body);
    }
    assert_eq!(token_count(&server, &server.org.id), before);
    let req = b
        .http
        .post(b.url("/directory-sync/tokens"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(body);
    assert_eq!(b.send(req).await.status, 303);
}

#[tokio::test]
async fn secure_cookies_carry_the_host_prefix_and_plain_names_are_ignored() {
    let server = Server::start_with(&["--public-url", "https://scim.example.test/scim/v2"]);
    let mut b = Browser::new(&server);
    // The printed link names the public address; this test talks to the listener.
    let link = setup_link(&server).replace("https://scim.example.test", &server.origin);
    let r = b.http.get(b.url(&link)).send().await.expect("set-up page");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("cookie").to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-scimd_presession=")
                && c.contains("Secure")
                && c.contains("Path=/")
                && !c.contains("Domain")),
        "{cookies:?}"
    );
    create_and_sign_in(&mut b, &link).await;
    let secret = b
        .cookies
        .get("__Host-scimd_session")
        .cloned()
        .expect("the session in a __Host- cookie");
    assert!(!b.cookies.contains_key("scimd_session"));
    assert_eq!(b.get("/directory-sync").await.status, 200);
    // A session under the plain name (which a sibling subdomain could plant) is no session.
    let mut planted = Browser::new(&server);
    planted.cookies.insert("scimd_session".into(), secret);
    let r = planted.get("/directory-sync").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/signin"));
}

/// `POST /api/v1/sessions` with these credentials; the status.
pub(crate) async fn api_sign_in(
    http: &reqwest::Client, server: &Server, org: &str, email: &str, password: &str,
) -> u16 {
    http.post(format!("{}/api/v1/sessions", server.origin))
        .json(&json!({ "organisation": org, "email": email, "password": password }))
        .send()
        .await
        .expect("sign-in")
        .status()
        .as_u16()
}

#[tokio::test]
async fn guesses_sent_together_share_the_lock_out_budget() {
    let server = Server::start();
    let org = server.org.id.clone();
    add_admin(&server, &org, "ann@example.com", PASSWORD);
    let http = reqwest::Client::new();
    let mut guesses = Vec::new();
    for i in 0..12 {
        let (http, server_origin, org) = (http.clone(), server.origin.clone(), org.clone());
        guesses.push(tokio::spawn(async move {
            http.post(format!("{server_origin}/api/v1/sessions"))
                .json(&json!({
                    "organisation": org,
                    "email": "ann@example.com",
                    "password": format!("wrong password number {i}"),
                }))
                .send()
                .await
                .expect("sign-in")
                .status()
                .as_u16()
        }));
    }
    // The right password, sent while the wrong ones are still being checked.
    let right = api_sign_in(&http, &server, &org, "ann@example.com", PASSWORD).await;
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.expect("join"));
    }
    let verified = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        verified <= 5,
        "{verified} guesses were checked against the password: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429 | 503)),
        "{statuses:?}"
    );
    assert_ne!(right, 500);
    if right != 201 {
        // Once the budget is spent the right password waits out the lock like any other.
        assert_eq!(
            api_sign_in(&http, &server, &org, "ann@example.com", PASSWORD).await,
            429
        );
    }
}

#[tokio::test]
async fn console_sign_ins_are_throttled_per_address_and_floods_get_503() {
    // A budget of 3 a minute refills one every 20 s: however slow a loaded machine makes each
    // sign-in, fifteen in a row outrun it.
    let server = Server::start_with(&["--auth-failures-per-minute", "3"]);
    // Fresh addresses each time: no address lock-out helps, only the per-address budget.
    let mut b = Browser::new(&server);
    let mut statuses = Vec::new();
    for i in 0..15 {
        let email = format!("nobody{i}@example.com");
        statuses.push(b.sign_in(&email, "not a password at all").await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429)),
        "{statuses:?}"
    );

    // Many sign-ins at once (unknown organisations) are checked a few at a time; the rest
    // are refused, and memory does not grow with the number in flight.
    let server = Server::start();
    let hwm = || {
        std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
            .expect("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM")
    };
    let before = hwm();
    let http = reqwest::Client::new();
    let mut flood = Vec::new();
    for _ in 0..40 {
        let (http, origin) = (http.clone(), server.origin.clone());
        flood.push(tokio::spawn(async move {
            let r = http
                .post(format!("{origin}/api/v1/sessions"))
                .json(&json!({
                    "organisation": common::guid(),
                    "email": "someone@example.com",
                    "password": "a guess of a password",
                }))
                .send()
                .await
                .expect("sign-in");
            (r.status().as_u16(), r.headers().contains_key("retry-after"))
        }));
    }
    let mut results = Vec::new();
    for f in flood {
        results.push(f.await.expect("join"));
    }
    assert!(
        results.iter().any(|(s, retry)| *s == 503 && *retry),
        "{results:?}"
    );
    assert!(
        results.iter().all(|(s, _)| matches!(s, 401 | 429 | 503)),
        "{results:?}"
    );
    let grown_mib = hwm().saturating_sub(before) / 1024;
    assert!(grown_mib < 200, "peak memory grew by {grown_mib} MiB");

    // A password longer than any the policy allows is refused before it is hashed.
    let long = "p".repeat(200_000);
    assert_eq!(
        api_sign_in(&http, &server, &server.org.id, "ann@example.com", &long).await,
        400
    );
}

#[tokio::test]
async fn strangers_sign_ins_leave_no_activity() {
    let server = Server::start();
    let org = server.org.id.clone();
    let http = reqwest::Client::new();
    // A failure is logged in the organisations where the address is an administrator.
    add_admin(&server, &org, "ann@example.com", PASSWORD);
    let huge = format!("{}@example.com", "a".repeat(200_000));
    assert_eq!(
        api_sign_in(&http, &server, &org, &huge, "whatever it is").await,
        401
    );
    assert_eq!(
        api_sign_in(&http, &server, &org, "ann@example.com", "whatever it is").await,
        401
    );
    // Sign-ins are logged as they happen (not through the request log's queue).
    let activity = cli(&[
        "activity",
        "--org",
        &org,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    assert!(activity.contains("signin.failed"), "{activity}");
    assert!(!activity.contains("aaaaaaaaaa"), "{} bytes", activity.len());
}

#[tokio::test]
async fn the_set_up_link_secret_stays_out_of_the_log_and_a_new_link_retires_the_old() {
    let server = Server::start();
    let link = setup_link(&server);
    let secret = link.rsplit('/').next().expect("secret").to_owned();
    let mut b = Browser::new(&server);
    assert_eq!(b.get(&link).await.status, 200);
    let r = b
        .post_raw(
            &link,
            &[
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    // The server's log reaches the harness through a pipe, a moment after the answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let log = loop {
        let log = server.log_tail();
        if log.contains("console form refused") || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(log.contains("console form refused"), "{log}");
    // Printed once, at start; never again.
    assert_eq!(log.matches(&secret).count(), 1, "{log}");

    // A second start prints a new link; the first one stops working.
    let second = server.another_instance();
    let newer = setup_link(&second);
    assert_ne!(newer, link);
    let old = link.replace(&server.origin, &second.origin);
    let mut b = Browser::new(&second);
    assert_eq!(b.get(&old).await.status, 410);
    assert_eq!(b.get(&newer).await.status, 200);
}

/// A password file for the CLI.
pub(crate) fn password_file(dir: &common::TempDir, password: &str) -> String {
    let file = dir.path().join(format!("pw-{}", common::random_hex(8)));
    std::fs::write(&file, format!("{password}\n")).expect("write password");
    file.to_str().expect("path").to_owned()
}

#[tokio::test]
async fn operators_remove_administrators_reset_passwords_and_end_sessions() {
    let server = Server::start();
    let org = server.org.id.clone();
    let db = server.database.clone();
    let dir = common::TempDir::new("passwords");
    // The password policy holds on the command line too.
    let weak = password_file(&dir, "a");
    let (ok, _, err) = common::cli_status(&[
        "admin",
        "add",
        "--org",
        &org,
        "--email",
        "weak@example.com",
        "--password-file",
        &weak,
        "--database",
        &db,
    ]);
    assert!(!ok);
    assert!(err.contains("at least 12 characters"), "{err}");
    assert_eq!(admin_count(&server, &org), 0);

    add_admin(&server, &org, "ann@example.com", PASSWORD);
    add_admin(&server, &org, "rogue@example.com", PASSWORD);
    let session = |email: &'static str, password: String| {
        let (http, origin, org) = (reqwest::Client::new(), server.origin.clone(), org.clone());
        async move {
            let r = http
                .post(format!("{origin}/api/v1/sessions"))
                .json(&json!({ "organisation": org, "email": email, "password": password }))
                .send()
                .await
                .expect("sign-in");
            assert_eq!(r.status().as_u16(), 201);
            let v: Value = r.json().await.expect("json");
            v["token"].as_str().expect("token").to_owned()
        }
    };
    let works = |token: String| {
        let (http, origin) = (reqwest::Client::new(), server.origin.clone());
        async move {
            http.get(format!("{origin}/api/v1/connection"))
                .bearer_auth(token)
                .send()
                .await
                .expect("connection")
                .status()
                .as_u16()
        }
    };
    let rogue = session("rogue@example.com", PASSWORD.into()).await;
    let ann = session("ann@example.com", PASSWORD.into()).await;
    assert_eq!(works(rogue.clone()).await, 200);

    cli(&[
        "admin",
        "remove",
        "--org",
        &org,
        "--email",
        "ROGUE@example.com",
        "--database",
        &db,
    ]);
    assert_eq!(
        works(rogue).await,
        401,
        "a removed administrator's session ends at once"
    );
    assert_eq!(works(ann.clone()).await, 200);
    assert!(!cli(&["admin", "list", "--org", &org, "--database", &db]).contains("rogue@"));
    let (ok, _, err) = common::cli_status(&[
        "admin",
        "remove",
        "--org",
        &org,
        "--email",
        "rogue@example.com",
        "--database",
        &db,
    ]);
    assert!(!ok && err.contains("no administrator"), "{err}");

    cli(&[
        "admin",
        "end-sessions",
        "--org",
        &org,
        "--email",
        "ann@example.com",
        "--database",
        &db,
    ]);
    assert_eq!(works(ann).await, 401);

    let ann = session("ann@example.com", PASSWORD.into()).await;
    let new_password = "a brand new passphrase";
    let file = password_file(&dir, new_password);
    cli(&[
        "admin",
        "set-password",
        "--org",
        &org,
        "--email",
        "ann@example.com",
        "--password-file",
        &file,
        "--database",
        &db,
    ]);
    assert_eq!(
        works(ann).await,
        401,
        "a new password ends the old sessions"
    );
    let http = reqwest::Client::new();
    assert_eq!(
        api_sign_in(&http, &server, &org, "ann@example.com", PASSWORD).await,
        401
    );
    let _ = session("ann@example.com", new_password.into()).await;

    let activity = cli(&["activity", "--org", &org, "--database", &db]);
    for action in ["admin.remove", "admin.sessions.end", "admin.password"] {
        assert!(activity.contains(action), "{action} missing:\n{activity}");
    }
}

#[tokio::test]
async fn an_administrator_removes_another_from_settings_and_their_sessions_end() {
    let server = Server::start();
    let org = server.org.id.clone();
    let mut ann = first_admin(&server).await;
    add_admin(&server, &org, "bob@example.com", PASSWORD);
    let mut bob = Browser::new(&server);
    assert_eq!(bob.sign_in("bob@example.com", PASSWORD).await.status, 303);
    assert_eq!(bob.get("/settings").await.status, 200);

    let page = ann.get("/settings").await;
    assert!(
        page.body.contains("Remove bob@example.com"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Remove ann@example.com"));
    let r = ann
        .post(
            "/settings/administrators/remove",
            &[("email", "ann@example.com")],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = ann
        .post(
            "/settings/administrators/remove",
            &[("email", "bob@example.com")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(admin_count(&server, &org), 1);
    let r = bob.get("/settings").await;
    assert_eq!(r.location.as_deref(), Some("/signin"), "bob is signed out");
    let activity = cli(&["activity", "--org", &org, "--database", &server.database]);
    assert!(activity.contains("admin.remove"), "{activity}");
}
