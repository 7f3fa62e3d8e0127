use crate::testing::{Answer, TestApp, group, user};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use directory::store::AdminRole;
use serde_json::{Value, json};

/// The API's error shape with `status` and `code`.
#[track_caller]
fn assert_api_error(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{}", a.text());
    assert_eq!(a.header(header::CONTENT_TYPE), "application/json");
    let body = a.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
}

/// A user created over SCIM; its id.
async fn scim_user(t: &TestApp, token: &str, name: &str) -> String {
    let a = t
        .scim(Method::POST, "/scim/v2/Users", token, user(name))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    a.json()["id"].as_str().expect("id").to_owned()
}

/// A group with these members, created over SCIM; its id.
async fn scim_group(t: &TestApp, token: &str, name: &str, members: &[&str]) -> String {
    let mut body = group(name);
    body["members"] = members.iter().map(|m| json!({ "value": m })).collect();
    let a = t.scim(Method::POST, "/scim/v2/Groups", token, body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    a.json()["id"].as_str().expect("id").to_owned()
}

/// `{"data", "next"}` of a 200 list; the ids of `data` and `next`.
#[track_caller]
fn page(a: &Answer) -> (Vec<String>, Option<String>) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let body = a.json();
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    let ids = body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|o| o["id"].as_str().expect("id").to_owned())
        .collect();
    let next = match &body["next"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("next is {other}"),
    };
    (ids, next)
}

const APP_PATHS: [&str; 2] = ["/api/v1/directory/users", "/api/v1/events"];

#[tokio::test]
async fn application_endpoints_refuse_scim_tokens_and_sessions_and_take_keys() {
    let t = TestApp::new().await;
    let token = t.token().await;
    let session = t.session(AdminRole::Administrator).await;
    let key = t.app_key().await;
    for path in APP_PATHS {
        for bearer in [
            "",
            token.as_str(),
            session.as_str(),
            "scimd_app_no-such-key",
            "not a key",
        ] {
            let a = t.get_bearer(path, bearer).await;
            assert_api_error(&a, StatusCode::UNAUTHORIZED, "unauthenticated");
            assert_eq!(a.header(header::CACHE_CONTROL), "no-store");
        }
        // The console's session cookie is no credential here either.
        let req = Request::builder()
            .uri(path)
            .header(header::COOKIE, format!("scimd_session={session}"))
            .body(Body::empty())
            .expect("request");
        assert_api_error(
            &t.send(req).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        );
        let a = t.get_bearer(path, &key).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
    }
}

#[tokio::test]
async fn a_key_is_refused_by_scim_the_administrators_api_and_the_console() {
    let t = TestApp::new().await;
    let key = t.app_key().await;
    let a = t
        .scim(Method::GET, "/scim/v2/Users", &key, Value::Null)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text());
    assert_eq!(
        a.json()["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    for path in [
        "/api/v1/accounts",
        "/api/v1/connection",
        "/api/v1/applications",
        "/api/v1/webhooks",
    ] {
        let a = t.get_bearer(path, &key).await;
        assert_api_error(&a, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let req = Request::builder()
        .uri("/applications")
        .header(header::COOKIE, format!("scimd_session={key}"))
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .expect("request");
    let a = t.send(req).await;
    assert!(a.status.is_redirection(), "{}", a.status);
    assert_eq!(a.header(header::LOCATION), "/signin");
}

#[tokio::test]
async fn a_revoked_key_is_refused_from_the_next_request_on() {
    let t = TestApp::new().await;
    let key = t.app_key().await;
    assert_eq!(
        t.get_bearer("/api/v1/events", &key).await.status,
        StatusCode::OK
    );
    let app = t
        .state
        .applications
        .list_apps(t.org.id)
        .await
        .expect("apps")
        .remove(0);
    assert!(app.last_used.is_some(), "use is recorded");
    t.state
        .applications
        .revoke_app(t.org.id, app.id, "test")
        .await
        .expect("revoke");
    let a = t.get_bearer("/api/v1/events", &key).await;
    assert_api_error(&a, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_key_reads_its_own_organisation_only() {
    let t = TestApp::new().await;
    let token = t.token().await;
    let alice = scim_user(&t, &token, "alice@a.example").await;
    let team = scim_group(&t, &token, "A team", &[&alice]).await;
    let (b, token_b) = t.other_org().await;
    scim_user(&t, &token_b, "bob@b.example").await;
    let key_b = t.app_key_of(b.id).await;
    let (ids, _) = page(&t.get_bearer("/api/v1/directory/users", &key_b).await);
    assert_eq!(ids.len(), 1);
    assert!(!ids.contains(&alice));
    for path in [
        format!("/api/v1/directory/users/{alice}"),
        format!("/api/v1/directory/groups/{team}"),
        format!("/api/v1/directory/groups/{team}/members"),
    ] {
        let a = t.get_bearer(&path, &key_b).await;
        assert_api_error(&a, StatusCode::NOT_FOUND, "not_found");
    }
    let events = t.get_bearer("/api/v1/events", &key_b).await.json();
    let data = events["data"].as_array().expect("data");
    assert!(
        data.iter()
            .all(|e| e["organisation"] == b.id.to_string().as_str()),
        "{events}"
    );
    let users: Vec<&Value> = data
        .iter()
        .filter(|e| e["type"] == "user.created")
        .collect();
    assert_eq!(users.len(), 1, "{events}");
    assert_eq!(users[0]["data"]["user_name"], "bob@b.example");
    // A's own key sees A's user and group.
    let key = t.app_key().await;
    let a = t
        .get_bearer(&format!("/api/v1/directory/users/{alice}"), &key)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json()["user_name"], "alice@a.example");
    assert_eq!(a.json()["groups"], json!([team]));
}

#[tokio::test]
async fn directory_lists_page_oldest_first_until_a_page_is_not_full() {
    let t = TestApp::new().await;
    let token = t.token().await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(scim_user(&t, &token, &format!("u{i}@a.example")).await);
    }
    let key = t.app_key().await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &after {
            Some(c) => format!("/api/v1/directory/users?limit=2&after={c}"),
            None => "/api/v1/directory/users?limit=2".to_owned(),
        };
        let (ids, next) = page(&t.get_bearer(&path, &key).await);
        pages += 1;
        seen.extend(ids);
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, made);
    assert_eq!(pages, 3);
    // A full last page has a next, and the page after it is empty with none.
    let (ids, next) = page(&t.get_bearer("/api/v1/directory/users?limit=5", &key).await);
    assert_eq!(ids.len(), 5);
    let next = next.expect("a full page has a next");
    let (ids, next) = page(
        &t.get_bearer(&format!("/api/v1/directory/users?after={next}"), &key)
            .await,
    );
    assert!(ids.is_empty());
    assert_eq!(next, None);
}

#[tokio::test]
async fn directory_pages_hold_100_objects_unless_told_otherwise() {
    let t = TestApp::new().await;
    let token = t.token().await;
    for i in 0..101 {
        scim_user(&t, &token, &format!("u{i}@a.example")).await;
    }
    let key = t.app_key().await;
    let (ids, next) = page(&t.get_bearer("/api/v1/directory/users", &key).await);
    assert_eq!(ids.len(), 100);
    let next = next.expect("next");
    let (ids, next) = page(
        &t.get_bearer(
            &format!("/api/v1/directory/users?limit=1000&after={next}"),
            &key,
        )
        .await,
    );
    assert_eq!(ids.len(), 1);
    assert_eq!(next, None);
    // The events of those writes page the same way.
    let a = t.get_bearer("/api/v1/events", &key).await;
    let (page, next) = events(&a);
    assert_eq!(page.len(), 100);
    assert_eq!(next.as_deref(), page[99]["id"].as_str());
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after() {
    let t = TestApp::with(|s| {
        s.with_ops(crate::limits::OpsConfig {
            token_rate: 1,
            token_burst: 1,
            ..crate::limits::OpsConfig::default()
        })
    })
    .await;
    let key = t.app_key().await;
    let mut refused = None;
    for _ in 0..5 {
        let a = t.get_bearer("/api/v1/directory/users", &key).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(a);
        }
    }
    let a = refused.expect("the key is refused past its rate");
    assert_api_error(&a, StatusCode::TOO_MANY_REQUESTS, "throttled");
    assert!(
        a.header(header::RETRY_AFTER)
            .parse::<u64>()
            .is_ok_and(|s| s >= 1)
    );
    // Another application has a rate of its own.
    let other = t.app_key().await;
    let a = t.get_bearer("/api/v1/directory/users", &other).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
}

#[tokio::test]
async fn members_page_by_member_and_groups_list() {
    let t = TestApp::new().await;
    let token = t.token().await;
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(scim_user(&t, &token, &format!("m{i}@a.example")).await);
    }
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let team = scim_group(&t, &token, "Team", &refs).await;
    let key = t.app_key().await;
    let (groups, next) = page(&t.get_bearer("/api/v1/directory/groups", &key).await);
    assert_eq!(groups, vec![team.clone()]);
    assert_eq!(next, None);
    let g = t
        .get_bearer(&format!("/api/v1/directory/groups/{team}"), &key)
        .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.text());
    assert_eq!(g.json()["member_count"], 3);
    let base = format!("/api/v1/directory/groups/{team}/members");
    let (first, next) = page(&t.get_bearer(&format!("{base}?limit=2"), &key).await);
    assert_eq!(first.len(), 2);
    let next = next.expect("next");
    let (rest, next) = page(
        &t.get_bearer(&format!("{base}?limit=2&after={next}"), &key)
            .await,
    );
    assert_eq!(rest.len(), 1);
    assert_eq!(next, None);
    let mut all: Vec<String> = first.into_iter().chain(rest).collect();
    all.sort();
    users.sort();
    assert_eq!(all, users);
}

#[tokio::test]
async fn bad_directory_parameters_are_400_and_unknown_ids_404() {
    let t = TestApp::new().await;
    let token = t.token().await;
    let alice = scim_user(&t, &token, "alice@a.example").await;
    scim_user(&t, &token, "bob@a.example").await;
    let team = scim_group(&t, &token, "Team", &[&alice]).await;
    let key = t.app_key().await;
    for query in [
        "limit=0",
        "limit=1001",
        "limit=-1",
        "limit=ten",
        "limit=1&limit=2",
        "after=not-a-cursor",
        "after=",
        "updated_since=yesterday",
        "updated_since=2026-01-31",
    ] {
        let a = t
            .get_bearer(&format!("/api/v1/directory/users?{query}"), &key)
            .await;
        assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
    }
    // One list's cursor is no cursor of another.
    let (_, next) = page(&t.get_bearer("/api/v1/directory/users?limit=1", &key).await);
    let users_cursor = next.expect("next");
    for path in [
        format!("/api/v1/directory/groups?after={users_cursor}"),
        format!("/api/v1/directory/groups/{team}/members?after={users_cursor}"),
    ] {
        let a = t.get_bearer(&path, &key).await;
        assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
    }
    if t.state.store.cursor_key().is_some() {
        // Sealed for the organisation: another's key cannot use it.
        let (b, _) = t.other_org().await;
        let key_b = t.app_key_of(b.id).await;
        let a = t
            .get_bearer(
                &format!("/api/v1/directory/users?after={users_cursor}"),
                &key_b,
            )
            .await;
        assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
    }
    for path in [
        "/api/v1/directory/users/00000000-0000-0000-0000-000000000000".to_owned(),
        "/api/v1/directory/users/not-an-id".to_owned(),
        format!("/api/v1/directory/users/{team}"),
        format!("/api/v1/directory/groups/{alice}"),
        format!("/api/v1/directory/groups/{alice}/members"),
        "/api/v1/directory/groups/not-an-id/members".to_owned(),
    ] {
        let a = t.get_bearer(&path, &key).await;
        assert_api_error(&a, StatusCode::NOT_FOUND, "not_found");
    }
    // Unknown parameters are ignored; a future updated_since matches nothing.
    let (ids, _) = page(
        &t.get_bearer("/api/v1/directory/users?aadOptscim062020&x=1", &key)
            .await,
    );
    assert_eq!(ids.len(), 2);
    let (ids, next) = page(
        &t.get_bearer(
            "/api/v1/directory/users?updated_since=2999-01-01T00:00:00Z",
            &key,
        )
        .await,
    );
    assert!(ids.is_empty());
    assert_eq!(next, None);
    let (ids, _) = page(
        &t.get_bearer(
            "/api/v1/directory/users?updated_since=2000-01-01T00:00:00%2B02:00",
            &key,
        )
        .await,
    );
    assert_eq!(ids.len(), 2);
}

/// The events of a 200 events page, and its `next`.
#[track_caller]
fn events(a: &Answer) -> (Vec<Value>, Option<String>) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let body = a.json();
    let data = body["data"].as_array().expect("data").clone();
    (data, body["next"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn events_follow_after_and_next_oldest_first() {
    let t = TestApp::new().await;
    let token = t.token().await;
    let key = t.app_key().await;
    let (none, next) = events(&t.get_bearer("/api/v1/events", &key).await);
    assert!(none.is_empty());
    assert_eq!(next, None);
    let alice = scim_user(&t, &token, "alice@a.example").await;
    scim_user(&t, &token, "bob@a.example").await;
    scim_group(&t, &token, "Team", &[&alice]).await;
    let (all, next) = events(&t.get_bearer("/api/v1/events", &key).await);
    assert_eq!(next, None, "the page reaches the newest event");
    let sequences: Vec<i64> = all
        .iter()
        .map(|e| e["sequence"].as_i64().expect("seq"))
        .collect();
    assert_eq!(sequences, (1..=sequences.len() as i64).collect::<Vec<_>>());
    let types: Vec<&str> = all
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    // The first SCIM request turned the connection active.
    assert_eq!(
        types,
        [
            "connection.activated",
            "user.created",
            "user.created",
            "group.created",
            "group.member_added"
        ]
    );
    assert_eq!(all[1]["data"]["id"], alice);
    assert_eq!(all[1]["organisation"], t.org.id.to_string());
    for field in [
        "id",
        "sequence",
        "type",
        "organisation",
        "created_at",
        "data",
    ] {
        assert!(all[0].get(field).is_some(), "{field}: {}", all[0]);
    }
    // One at a time with limit=1: every event once, in order.
    let mut followed = Vec::new();
    let mut path = "/api/v1/events?limit=1".to_owned();
    loop {
        let (page, next) = events(&t.get_bearer(&path, &key).await);
        followed.extend(page);
        match next {
            Some(n) => path = format!("/api/v1/events?limit=1&after={n}"),
            None => break,
        }
    }
    assert_eq!(followed, all);
    // After the newest: nothing yet.
    let newest = all.last().expect("events")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (none, next) = events(
        &t.get_bearer(&format!("/api/v1/events?after={newest}"), &key)
            .await,
    );
    assert!(none.is_empty());
    assert_eq!(next, None);
    // Only some types.
    let (groups, _) = events(
        &t.get_bearer("/api/v1/events?types=group.created,group.deleted", &key)
            .await,
    );
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["type"], "group.created");
}

#[tokio::test]
async fn bad_events_parameters_are_400() {
    let t = TestApp::new().await;
    let token = t.token().await;
    scim_user(&t, &token, "alice@a.example").await;
    let key = t.app_key().await;
    let (b, token_b) = t.other_org().await;
    scim_user(&t, &token_b, "bob@b.example").await;
    let key_b = t.app_key_of(b.id).await;
    let (theirs, _) = events(&t.get_bearer("/api/v1/events", &key_b).await);
    let foreign = theirs[0]["id"].as_str().expect("id").to_owned();
    for query in [
        "after=evt_nothing".to_owned(),
        "after=evt_0000000000000000000000000000000a".to_owned(),
        format!("after={foreign}"),
        "after=".to_owned(),
        "limit=0".to_owned(),
        "limit=1001".to_owned(),
        "limit=many".to_owned(),
        "types=user.created,user.exploded".to_owned(),
        "wait=31".to_owned(),
        "wait=-1".to_owned(),
        "wait=soon".to_owned(),
        "wait=1&wait=2".to_owned(),
    ] {
        let a = t.get_bearer(&format!("/api/v1/events?{query}"), &key).await;
        assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
    }
    for query in ["limit=1000", "wait=0", "types=", "limit=1&wait=30"] {
        let a = t.get_bearer(&format!("/api/v1/events?{query}"), &key).await;
        assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.text());
    }
}

#[tokio::test]
async fn a_waiting_events_request_answers_with_the_event_written_meanwhile() {
    let t = TestApp::new().await;
    let token = t.token().await;
    scim_user(&t, &token, "alice@a.example").await;
    let key = t.app_key().await;
    let (all, _) = events(&t.get_bearer("/api/v1/events", &key).await);
    let last = all.last().expect("events")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/v1/events?after={last}&wait=30");
    let waiting = t.get_bearer(&path, &key);
    let write = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        scim_user(&t, &token, "bob@a.example").await
    };
    let (answer, bob) = tokio::join!(waiting, write);
    let (page, next) = events(&answer);
    assert_eq!(page.len(), 1, "{}", answer.text());
    assert_eq!(page[0]["data"]["id"], bob);
    assert_eq!(page[0]["sequence"], all.len() + 1);
    assert_eq!(next, None);
}

#[tokio::test]
async fn a_wait_ends_empty_when_nothing_of_its_types_arrives_or_the_server_stops() {
    let t = TestApp::new().await;
    let token = t.token().await;
    let key = t.app_key().await;
    let waiting = t.get_bearer("/api/v1/events?types=group.deleted&wait=1", &key);
    let write = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        scim_user(&t, &token, "alice@a.example").await
    };
    let (answer, _) = tokio::join!(waiting, write);
    let (page, next) = events(&answer);
    assert!(page.is_empty(), "{}", answer.text());
    assert_eq!(next, None);
    // Once the server stops, a wait of 30 s answers at once: the bound only tells a wait
    // that ended from one that ran its course (28 s under the default request timeout).
    t.state.stop_waiting();
    let stopped = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        t.get_bearer("/api/v1/events?types=group.deleted&wait=30", &key),
    )
    .await
    .expect("a wait ends when the server stops");
    let (page, _) = events(&stopped);
    assert!(page.is_empty());
}
