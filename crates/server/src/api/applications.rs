//! The administrators' side of applications (docs/contract.md, "Applications"), with the
//! administrators' API's session and error shape; every route needs the `administrator` role
//! (applications and webhooks hand the directory to other software).
//!
//! - `POST /applications` `{"name"}` → 201, the application and its `key` (shown only here);
//!   `GET /applications`; `DELETE /applications/{id}` → 204 (revoked at once).
//! - `POST /webhooks` `{"url", "types"?: [...]}` → 201, the endpoint and its `secret` (shown
//!   only here); `GET /webhooks`, `GET /webhooks/{id}`; `DELETE /webhooks/{id}` → 204;
//!   `POST /webhooks/{id}/replay` `{"from": EVENT_ID}`; `POST /webhooks/{id}/rotate-secret`
//!   → the endpoint and its new `secret`; `GET /webhooks/{id}/deliveries?limit=N`.

use super::error::bad;
use super::{Admin, ApiError, Body};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use directory::applications::{DEFAULT_DELIVERIES, app_json, delivery_json, webhook_json};
use directory::ids::{AppId, WebhookId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn app_id(id: &str) -> Result<AppId, ApiError> {
    id.parse()
        .map_err(|_| directory::applications::AppError::UnknownApp(short(id)).into())
}

fn webhook_id(id: &str) -> Result<WebhookId, ApiError> {
    id.parse()
        .map_err(|_| directory::applications::AppError::UnknownWebhook(short(id)).into())
}

fn short(id: &str) -> String {
    id.chars().take(64).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewApp {
    name: String,
}

pub(super) async fn create_app(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<NewApp>,
) -> Result<Response, ApiError> {
    admin.require_administrator()?;
    let issued = state
        .applications
        .create_app(admin.org(), &body.name, &admin.actor())
        .await?;
    let mut v = app_json(&issued.record);
    v["key"] = Value::String(issued.key);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub(super) async fn list_apps(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let apps = state.applications.list_apps(admin.org()).await?;
    Ok(Json(
        json!({ "applications": apps.iter().map(app_json).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn revoke_app(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin.require_administrator()?;
    let id = app_id(&id)?;
    state
        .applications
        .revoke_app(admin.org(), id, &admin.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewWebhook {
    url: String,
    #[serde(default)]
    types: Vec<String>,
}

pub(super) async fn add_webhook(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<NewWebhook>,
) -> Result<Response, ApiError> {
    admin.require_administrator()?;
    if body.types.iter().any(|t| t.contains(',')) {
        return Err(bad("types is a list of event types, one per element"));
    }
    let added = state
        .applications
        .add_webhook(
            admin.org(),
            &body.url,
            &body.types.join(","),
            &admin.actor(),
        )
        .await?;
    let mut v = webhook_json(&added.endpoint);
    v["secret"] = Value::String(added.secret);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub(super) async fn list_webhooks(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let list = state.applications.list_webhooks(admin.org()).await?;
    Ok(Json(
        json!({ "webhooks": list.iter().map(webhook_json).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn show_webhook(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let w = state
        .applications
        .get_webhook(admin.org(), webhook_id(&id)?)
        .await?;
    Ok(Json(webhook_json(&w)))
}

pub(super) async fn remove_webhook(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin.require_administrator()?;
    state
        .applications
        .remove_webhook(admin.org(), webhook_id(&id)?, &admin.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Replay {
    from: String,
}

pub(super) async fn replay_webhook(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
    Body(body): Body<Replay>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let w = state
        .applications
        .replay_webhook(admin.org(), webhook_id(&id)?, &body.from, &admin.actor())
        .await?;
    Ok(Json(webhook_json(&w)))
}

pub(super) async fn rotate_secret(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let id = webhook_id(&id)?;
    let secret = state
        .applications
        .rotate_secret(admin.org(), id, &admin.actor())
        .await?;
    let w = state.applications.get_webhook(admin.org(), id).await?;
    let mut v = webhook_json(&w);
    v["secret"] = Value::String(secret);
    Ok(Json(v))
}

#[derive(Deserialize)]
pub(super) struct DeliveriesQuery {
    limit: Option<String>,
}

pub(super) async fn deliveries(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_DELIVERIES,
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| bad("limit must be a whole number"))?,
    };
    let list = state
        .applications
        .deliveries(admin.org(), webhook_id(&id)?, limit)
        .await?;
    Ok(Json(
        json!({ "deliveries": list.iter().map(delivery_json).collect::<Vec<_>>() }),
    ))
}

#[cfg(test)]
mod tests {
    use crate::testing::{Answer, TestApp, user};
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use directory::store::AdminRole;
    use serde_json::{Value, json};

    async fn call(t: &TestApp, method: Method, path: &str, session: &str, body: Value) -> Answer {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {session}"));
        let body = if body.is_null() {
            Body::empty()
        } else {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(body.to_string())
        };
        t.send(b.body(body).expect("request")).await
    }

    #[track_caller]
    fn assert_api_error(a: &Answer, status: StatusCode, code: &str) {
        assert_eq!(a.status, status, "{}", a.text());
        assert_eq!(a.json()["error"], code, "{}", a.text());
        assert!(a.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    #[tokio::test]
    async fn an_application_is_created_with_its_key_once_listed_without_it_and_revoked() {
        let t = TestApp::new().await;
        let s = t.session(AdminRole::Administrator).await;
        let a = call(
            &t,
            Method::POST,
            "/api/v1/applications",
            &s,
            json!({"name": " LMS "}),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        assert_eq!(a.header(header::CACHE_CONTROL), "no-store");
        let created = a.json();
        let key = created["key"].as_str().expect("key").to_owned();
        assert!(key.starts_with("scimd_app_"));
        assert_eq!(created["name"], "LMS");
        assert!(key.starts_with(created["prefix"].as_str().expect("prefix")));
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(
            t.get_bearer("/api/v1/directory/users", &key).await.status,
            StatusCode::OK
        );
        let list = call(&t, Method::GET, "/api/v1/applications", &s, Value::Null).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(!list.text().contains(&key), "the key is shown once");
        let apps = list.json()["applications"].clone();
        assert_eq!(apps[0]["id"], id.as_str());
        assert_eq!(apps[0]["state"], "active");
        assert!(apps[0]["lastUsed"].is_string(), "{apps}");
        // The name is taken while the application lives.
        let dup = call(
            &t,
            Method::POST,
            "/api/v1/applications",
            &s,
            json!({"name": "LMS"}),
        )
        .await;
        assert_api_error(&dup, StatusCode::CONFLICT, "conflict");
        let a = call(
            &t,
            Method::DELETE,
            &format!("/api/v1/applications/{id}"),
            &s,
            Value::Null,
        )
        .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
        let a = t.get_bearer("/api/v1/directory/users", &key).await;
        assert_api_error(&a, StatusCode::UNAUTHORIZED, "unauthenticated");
        let again = call(
            &t,
            Method::DELETE,
            &format!("/api/v1/applications/{id}"),
            &s,
            Value::Null,
        )
        .await;
        assert_api_error(&again, StatusCode::CONFLICT, "refused");
        let list = call(&t, Method::GET, "/api/v1/applications", &s, Value::Null).await;
        assert_eq!(list.json()["applications"][0]["state"], "revoked");
        // A revoked application's name is free again.
        let a = call(
            &t,
            Method::POST,
            "/api/v1/applications",
            &s,
            json!({"name": "LMS"}),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    }

    #[tokio::test]
    async fn bad_application_requests_are_refused_and_change_nothing() {
        let t = TestApp::new().await;
        let s = t.session(AdminRole::Administrator).await;
        for body in [
            json!({"name": "   "}),
            json!({"name": "x".repeat(101)}),
            json!({"name": "a\nb"}),
            json!({"name": 7}),
            json!({"name": "ok", "extra": 1}),
            json!({}),
        ] {
            let a = call(&t, Method::POST, "/api/v1/applications", &s, body).await;
            assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
        }
        for id in ["not-an-id", "00000000-0000-0000-0000-000000000000"] {
            let a = call(
                &t,
                Method::DELETE,
                &format!("/api/v1/applications/{id}"),
                &s,
                Value::Null,
            )
            .await;
            assert_api_error(&a, StatusCode::NOT_FOUND, "not_found");
        }
        let list = call(&t, Method::GET, "/api/v1/applications", &s, Value::Null).await;
        assert_eq!(list.json()["applications"], json!([]));
    }

    #[tokio::test]
    async fn applications_and_webhooks_need_the_administrator_role() {
        let t = TestApp::new().await;
        let m = t.session(AdminRole::PeopleManager).await;
        for (method, path, body) in [
            (Method::GET, "/api/v1/applications", Value::Null),
            (Method::POST, "/api/v1/applications", json!({"name": "x"})),
            (Method::GET, "/api/v1/webhooks", Value::Null),
            (
                Method::POST,
                "/api/v1/webhooks",
                json!({"url": "https://hooks.example.com/"}),
            ),
        ] {
            let a = call(&t, method, path, &m, body).await;
            assert_api_error(&a, StatusCode::FORBIDDEN, "forbidden");
        }
    }

    #[tokio::test]
    async fn a_webhook_starts_at_the_newest_event_and_is_replayed_rotated_and_removed() {
        let t = TestApp::new().await;
        let s = t.session(AdminRole::Administrator).await;
        let token = t.token().await;
        for name in ["a@a.example", "b@a.example"] {
            let a = t
                .scim(Method::POST, "/scim/v2/Users", &token, user(name))
                .await;
            assert_eq!(a.status, StatusCode::CREATED);
        }
        let newest = t
            .state
            .store
            .last_event_sequence(t.org.id)
            .await
            .expect("seq");
        assert!(newest >= 2);
        let a = call(
            &t,
            Method::POST,
            "/api/v1/webhooks",
            &s,
            json!({"url": "https://hooks.example.com/scimd", "types": ["user.created", "user.deleted"]}),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let w = a.json();
        let secret = w["secret"].as_str().expect("secret").to_owned();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(w["deliveredThrough"], newest);
        assert_eq!(w["state"], "active");
        assert_eq!(w["types"], json!(["user.created", "user.deleted"]));
        let id = w["id"].as_str().expect("id").to_owned();
        let list = call(&t, Method::GET, "/api/v1/webhooks", &s, Value::Null).await;
        assert!(!list.text().contains(&secret), "the secret is shown once");
        assert_eq!(
            list.json()["webhooks"][0]["url"],
            "https://hooks.example.com/scimd"
        );

        // Replay from the first event: delivery goes on from it.
        let key = t.app_key().await;
        let first = t.get_bearer("/api/v1/events?limit=1", &key).await.json()["data"][0].clone();
        let a = call(
            &t,
            Method::POST,
            &format!("/api/v1/webhooks/{id}/replay"),
            &s,
            json!({"from": first["id"]}),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(
            a.json()["deliveredThrough"],
            first["sequence"].as_i64().expect("seq") - 1
        );
        for from in ["evt_nope", "evt_0000000000000000000000000000000a", ""] {
            let a = call(
                &t,
                Method::POST,
                &format!("/api/v1/webhooks/{id}/replay"),
                &s,
                json!({ "from": from }),
            )
            .await;
            assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
        }

        // Rotation: a new secret, the old one still signing for a while.
        let a = call(
            &t,
            Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &s,
            Value::Null,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let rotated = a.json()["secret"].as_str().expect("secret").to_owned();
        assert!(rotated.starts_with("whsec_"));
        assert_ne!(rotated, secret);
        assert_eq!(
            a.json()["retiringSecrets"].as_array().map(Vec::len),
            Some(1)
        );
        let stored = t
            .state
            .applications
            .get_webhook(t.org.id, id.parse().expect("id"))
            .await
            .expect("webhook");
        assert_eq!(stored.secrets[0].secret, rotated);
        assert_eq!(stored.secrets[1].secret, secret);

        let a = call(
            &t,
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries"),
            &s,
            Value::Null,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert!(a.json()["deliveries"].is_array());
        for q in ["limit=0", "limit=1001", "limit=x"] {
            let a = call(
                &t,
                Method::GET,
                &format!("/api/v1/webhooks/{id}/deliveries?{q}"),
                &s,
                Value::Null,
            )
            .await;
            assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
        }

        let a = call(
            &t,
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            &s,
            Value::Null,
        )
        .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
        for (method, path) in [
            (Method::GET, format!("/api/v1/webhooks/{id}")),
            (Method::DELETE, format!("/api/v1/webhooks/{id}")),
            (Method::POST, format!("/api/v1/webhooks/{id}/rotate-secret")),
            (Method::GET, format!("/api/v1/webhooks/{id}/deliveries")),
            (Method::GET, "/api/v1/webhooks/not-an-id".to_owned()),
        ] {
            let a = call(&t, method, &path, &s, Value::Null).await;
            assert_api_error(&a, StatusCode::NOT_FOUND, "not_found");
        }
    }

    #[tokio::test]
    async fn bad_webhooks_are_refused_and_nothing_is_added() {
        let t = TestApp::new().await;
        let s = t.session(AdminRole::Administrator).await;
        for body in [
            json!({"url": "http://hooks.example.com/"}),
            json!({"url": "ftp://hooks.example.com/"}),
            json!({"url": "https://u:p@hooks.example.com/"}),
            json!({"url": "hooks"}),
            json!({"url": "https://hooks.example.com/", "types": ["user.exploded"]}),
            json!({"url": "https://hooks.example.com/", "types": ["user.created,user.deleted"]}),
            json!({"url": "https://hooks.example.com/", "types": "user.created"}),
            json!({"url": "https://hooks.example.com/", "secret": "mine"}),
        ] {
            let a = call(&t, Method::POST, "/api/v1/webhooks", &s, body.clone()).await;
            assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
        }
        let list = call(&t, Method::GET, "/api/v1/webhooks", &s, Value::Null).await;
        assert_eq!(list.json()["webhooks"], json!([]));
    }

    #[tokio::test]
    async fn another_organisations_administrator_neither_sees_nor_changes_them() {
        let t = TestApp::new().await;
        let s = t.session(AdminRole::Administrator).await;
        let a = call(
            &t,
            Method::POST,
            "/api/v1/webhooks",
            &s,
            json!({"url": "https://hooks.example.com/"}),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let hook = a.json()["id"].as_str().expect("id").to_owned();
        let a = call(
            &t,
            Method::POST,
            "/api/v1/applications",
            &s,
            json!({"name": "LMS"}),
        )
        .await;
        let app = a.json()["id"].as_str().expect("id").to_owned();
        let (b, _) = t.other_org().await;
        let sb = t.session_in(&b, AdminRole::Administrator).await;
        let list = call(&t, Method::GET, "/api/v1/webhooks", &sb, Value::Null).await;
        assert_eq!(list.json()["webhooks"], json!([]));
        let list = call(&t, Method::GET, "/api/v1/applications", &sb, Value::Null).await;
        assert_eq!(list.json()["applications"], json!([]));
        for (method, path) in [
            (Method::GET, format!("/api/v1/webhooks/{hook}")),
            (Method::DELETE, format!("/api/v1/webhooks/{hook}")),
            (
                Method::POST,
                format!("/api/v1/webhooks/{hook}/rotate-secret"),
            ),
            (Method::DELETE, format!("/api/v1/applications/{app}")),
        ] {
            let a = call(&t, method, &path, &sb, Value::Null).await;
            assert_api_error(&a, StatusCode::NOT_FOUND, "not_found");
        }
        let list = call(&t, Method::GET, "/api/v1/webhooks", &s, Value::Null).await;
        assert_eq!(list.json()["webhooks"].as_array().map(Vec::len), Some(1));
        let list = call(&t, Method::GET, "/api/v1/applications", &s, Value::Null).await;
        assert_eq!(list.json()["applications"][0]["state"], "active");
    }
}
