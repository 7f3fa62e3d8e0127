//! The Applications page, driven through the router.
use crate::console::csrf::token_for;
use crate::testing::{Answer, TestApp, user};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use directory::store::AdminRole;

async fn get(t: &TestApp, path: &str, session: &str) -> Answer {
    let req = Request::builder()
        .uri(path)
        .header(header::COOKIE, format!("scimd_session={session}"))
        .body(Body::empty())
        .expect("request");
    t.send(req).await
}

/// A console form post with the session's CSRF field and `fields`.
async fn post(t: &TestApp, path: &str, session: &str, fields: &[(&str, &str)]) -> Answer {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("csrf", &token_for(session));
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::COOKIE, format!("scimd_session={session}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.finish()))
        .expect("request");
    t.send(req).await
}

/// Follows the redirect of a form that minted a secret: the page shows it once, and a
/// reload says it was already shown.
async fn shown_once(t: &TestApp, a: &Answer, session: &str) -> Answer {
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    let to = a.header(header::LOCATION).to_owned();
    assert!(to.starts_with("/applications/shown/"), "{to}");
    let page = get(t, &to, session).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let again = get(t, &to, session).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.text().contains("already shown"));
    assert!(!again.text().contains("new-secret"));
    page
}

/// The value of the one-time secret field on a secret page.
fn shown_secret(a: &Answer) -> String {
    let text = a.text();
    let start = text.find("id=\"new-secret\"").expect("secret field");
    let value = &text[start..];
    let value = &value[value.find("value=\"").expect("value") + 7..];
    value[..value.find('"').expect("end")].to_owned()
}

#[tokio::test]
async fn the_page_is_for_administrators_and_in_the_navigation() {
    let t = TestApp::new().await;
    let admin = t.session(AdminRole::Administrator).await;
    let a = get(&t, "/applications", &admin).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(a.text().contains("Register application"));
    assert!(
        a.text()
            .contains("href=\"/applications\" aria-current=\"page\"")
    );
    let manager = t.session(AdminRole::PeopleManager).await;
    assert_eq!(
        get(&t, "/applications", &manager).await.status,
        StatusCode::FORBIDDEN
    );
    let a = post(&t, "/applications", &manager, &[("name", "LMS")]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(
        t.state
            .applications
            .list_apps(t.org.id)
            .await
            .expect("apps")
            .is_empty()
    );
    let a = get(&t, "/applications", "").await;
    assert_eq!(a.header(header::LOCATION), "/signin");
}

#[tokio::test]
async fn registering_shows_the_key_once_and_revoking_asks_first() {
    let t = TestApp::new().await;
    let s = t.session(AdminRole::Administrator).await;
    let a = post(&t, "/applications", &s, &[("name", "Intranet")]).await;
    let a = shown_once(&t, &a, &s).await;
    let key = shown_secret(&a);
    assert!(key.starts_with("scimd_app_"), "{key}");
    assert!(a.text().contains("data-copy=\"new-secret\""));
    assert!(a.text().contains("action=\"/applications\""), "Close");
    assert_eq!(
        t.get_bearer("/api/v1/events", &key).await.status,
        StatusCode::OK
    );
    let list = get(&t, "/applications", &s).await;
    assert!(list.text().contains("Intranet"));
    assert!(!list.text().contains(&key));
    let id = t
        .state
        .applications
        .list_apps(t.org.id)
        .await
        .expect("apps")[0]
        .id
        .to_string();
    let confirm = get(&t, &format!("/applications/{id}/revoke"), &s).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text());
    assert!(confirm.text().contains("Revoke the application Intranet"));
    // Without the form's CSRF field nothing happens.
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/applications/{id}/revoke"))
        .header(header::COOKIE, format!("scimd_session={s}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::empty())
        .expect("request");
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        t.get_bearer("/api/v1/events", &key).await.status,
        StatusCode::OK
    );
    let a = post(&t, &format!("/applications/{id}/revoke"), &s, &[]).await;
    assert_eq!(a.header(header::LOCATION), "/applications?done=revoked");
    assert_eq!(
        t.get_bearer("/api/v1/events", &key).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = get(&t, &format!("/applications/{id}/revoke"), &s).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    // A refused name comes back on the page with the reason.
    let a = post(&t, "/applications", &s, &[("name", "   ")]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.text().contains("needs a name"), "{}", a.text());
}

#[tokio::test]
async fn endpoints_are_added_with_their_secret_once_rotated_replayed_and_removed() {
    let t = TestApp::new().await;
    let s = t.session(AdminRole::Administrator).await;
    let token = t.token().await;
    let a = t
        .scim(Method::POST, "/scim/v2/Users", &token, user("a@a.example"))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let a = post(
        &t,
        "/applications/webhooks",
        &s,
        &[
            ("url", "https://hooks.example.com/in"),
            ("types", "user.created"),
            ("types", "group.created"),
        ],
    )
    .await;
    let a = shown_once(&t, &a, &s).await;
    let secret = shown_secret(&a);
    assert!(secret.starts_with("whsec_"));
    let hooks = t
        .state
        .applications
        .list_webhooks(t.org.id)
        .await
        .expect("hooks");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].types.len(), 2);
    let id = hooks[0].id.to_string();
    let list = get(&t, "/applications", &s).await;
    assert!(list.text().contains("user.created, group.created"));
    assert!(list.text().contains(&format!(
        "action=\"/console/applications/webhooks/{id}/test\""
    )));
    assert!(!list.text().contains(&secret));

    let page = get(&t, &format!("/applications/webhooks/{id}"), &s).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("Delivery log"));
    assert!(page.text().contains("Send test event"));

    let a = post(
        &t,
        &format!("/applications/webhooks/{id}/replay"),
        &s,
        &[("from", "evt_nope")],
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.text().contains("evt_nope"), "the refused input is kept");
    let key = t.app_key().await;
    let first = t.get_bearer("/api/v1/events?limit=1", &key).await.json()["data"][0]["id"]
        .as_str()
        .expect("event")
        .to_owned();
    let a = post(
        &t,
        &format!("/applications/webhooks/{id}/replay"),
        &s,
        &[("from", &first)],
    )
    .await;
    assert_eq!(
        a.header(header::LOCATION),
        format!("/applications/webhooks/{id}?done=replayed")
    );

    let a = post(
        &t,
        &format!("/applications/webhooks/{id}/rotate-secret"),
        &s,
        &[],
    )
    .await;
    let a = shown_once(&t, &a, &s).await;
    let rotated = shown_secret(&a);
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    let page = get(&t, &format!("/applications/webhooks/{id}"), &s).await;
    assert!(page.text().contains("still signs until"));

    let a = post(&t, &format!("/applications/webhooks/{id}/remove"), &s, &[]).await;
    assert_eq!(a.header(header::LOCATION), "/applications?done=removed");
    assert_eq!(
        get(&t, &format!("/applications/webhooks/{id}"), &s)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // A refused URL comes back on the page with the types that were ticked.
    let a = post(
        &t,
        "/applications/webhooks",
        &s,
        &[
            ("url", "http://hooks.example.com/"),
            ("types", "user.deleted"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.text().contains("value=\"user.deleted\" checked"),
        "{}",
        a.text()
    );
    assert!(
        t.state
            .applications
            .list_webhooks(t.org.id)
            .await
            .expect("hooks")
            .is_empty()
    );
}

#[tokio::test]
async fn another_organisations_endpoint_is_no_page_here() {
    let t = TestApp::new().await;
    let (b, _) = t.other_org().await;
    let theirs = t
        .state
        .applications
        .add_webhook(b.id, "https://hooks.example.com/b", "", "test")
        .await
        .expect("webhook")
        .endpoint
        .id;
    let s = t.session(AdminRole::Administrator).await;
    for path in [
        format!("/applications/webhooks/{theirs}"),
        "/applications/webhooks/not-an-id".to_owned(),
    ] {
        assert_eq!(get(&t, &path, &s).await.status, StatusCode::NOT_FOUND);
    }
    for path in ["remove", "rotate-secret"] {
        let a = post(
            &t,
            &format!("/applications/webhooks/{theirs}/{path}"),
            &s,
            &[],
        )
        .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
    }
    let still = t
        .state
        .applications
        .get_webhook(b.id, theirs)
        .await
        .expect("webhook");
    assert_eq!(still.secrets.len(), 1);
}
