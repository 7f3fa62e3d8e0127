//! The Applications page (docs/contract.md, "Applications"): the organisation's applications
//! (register one and see its key once, revoke one after a confirmation) and webhook endpoints
//! (add one and see its secret once, rotate the secret, replay from an event, remove, send a
//! test event, and each endpoint's delivery log). Administrators only, as in the API.
//!
//! The "Send test event" form posts to `/console/applications/webhooks/{id}/test`, which the
//! webhook delivery side serves.

use super::csrf::Form;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, render, render_status,
    see_other, split, when,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use directory::applications::{DEFAULT_DELIVERIES, types_label};
use directory::ids::{AppId, WebhookId};
use directory::store::{DeliveryRecord, EventType, WebhookEndpoint};
use std::collections::HashMap;
use std::sync::Arc;

const DONE: &[(&str, &str)] = &[
    (
        "revoked",
        "The application is revoked. Its key no longer works.",
    ),
    (
        "removed",
        "The webhook endpoint is removed. Nothing more is sent to it.",
    ),
];

const WEBHOOK_DONE: &[(&str, &str)] = &[
    (
        "replayed",
        "Deliveries start again from that event, in order.",
    ),
    (
        "tested",
        "A test event was sent; its attempt is in the log below.",
    ),
];

struct AppRow {
    id: String,
    name: String,
    prefix: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

struct WebhookRow {
    id: String,
    url: String,
    types: String,
    state: &'static str,
    last_delivery: String,
}

fn last_delivery(w: &WebhookEndpoint) -> String {
    match (w.last_delivery, w.last_status) {
        (Some(t), Some(s)) => format!("{} (HTTP {s})", when(t)),
        (Some(t), None) => format!("{} (no answer)", when(t)),
        (None, _) => "never".into(),
    }
}

fn webhook_row(w: &WebhookEndpoint) -> WebhookRow {
    WebhookRow {
        id: w.id.to_string(),
        url: w.url.clone(),
        types: types_label(&w.types).replace(',', ", "),
        state: w.state.as_str(),
        last_delivery: last_delivery(w),
    }
}

/// An event type as a checkbox of the add form.
struct TypeBox {
    name: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "applications.html")]
struct ApplicationsPage {
    l: Layout,
    apps: Vec<AppRow>,
    webhooks: Vec<WebhookRow>,
    /// What the forms held when an act was refused.
    name: String,
    url: String,
    types: Vec<TypeBox>,
}

/// What a refused form held, to show it again.
#[derive(Default)]
struct Kept {
    name: String,
    url: String,
    types: Vec<String>,
}

async fn page(
    state: &AppState,
    signed: &Signed,
    flash: Option<Flash>,
    status: StatusCode,
    kept: Kept,
) -> PageResult {
    let org = signed.org_id();
    let apps = state
        .applications
        .list_apps(org)
        .await
        .map_err(PageError::from)?;
    let webhooks = state
        .applications
        .list_webhooks(org)
        .await
        .map_err(PageError::from)?;
    let page = ApplicationsPage {
        l: signed.layout("Applications", Nav::Applications, flash),
        apps: apps
            .iter()
            .map(|a| AppRow {
                id: a.id.to_string(),
                name: a.name.clone(),
                prefix: a.prefix.clone(),
                created: when(a.created),
                last_used: a.last_used.map(when).unwrap_or_else(|| "never".into()),
                revoked: a.revoked.map(when),
            })
            .collect(),
        webhooks: webhooks.iter().map(webhook_row).collect(),
        name: kept.name,
        url: kept.url,
        types: EventType::ALL
            .iter()
            .map(|t| TypeBox {
                name: t.as_str(),
                checked: kept.types.iter().any(|k| k == t.as_str()),
            })
            .collect(),
    };
    Ok(render_status(status, &page))
}

/// Shows the page again with the reason an act was refused, and what its form held.
async fn refused(state: &AppState, signed: &Signed, e: PageError, kept: Kept) -> PageResult {
    let (status, flash) = split(e)?;
    page(state, signed, flash, status, kept).await
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    q: Query<HashMap<String, String>>,
) -> PageResult {
    signed.require_administrator()?;
    page(
        &state,
        &signed,
        done_flash(&q, DONE),
        StatusCode::OK,
        Kept::default(),
    )
    .await
}

/// The one-time display of a key or a signing secret, with Copy and Close.
#[derive(Template)]
#[template(path = "app_secret.html")]
struct SecretPage {
    l: Layout,
    /// What it is: "key" or "signing secret".
    what: &'static str,
    /// Whose it is, for the heading.
    owner: String,
    secret: String,
    hint: &'static str,
    close: String,
}

/// "Register application": the key is in this response only.
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let name = form.text("name");
    match state
        .applications
        .create_app(signed.org_id(), &name, &signed.actor())
        .await
    {
        Ok(issued) => Ok(render(&SecretPage {
            l: signed.layout("Your new application key", Nav::Applications, None),
            what: "key",
            owner: format!("{} ({}…)", issued.record.name, issued.record.prefix),
            secret: issued.key,
            hint: "The application sends it as Authorization: Bearer KEY to /api/v1/directory/... and /api/v1/events.",
            close: "/applications".into(),
        })),
        Err(e) => {
            refused(
                &state,
                &signed,
                PageError::from(e),
                Kept {
                    name,
                    ..Kept::default()
                },
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "app_revoke.html")]
struct RevokePage {
    l: Layout,
    id: String,
    name: String,
    prefix: String,
}

pub(super) async fn confirm_revoke(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    signed.require_administrator()?;
    let id: AppId = id.parse().map_err(|_| PageError::not_found())?;
    let app = state
        .applications
        .list_apps(signed.org_id())
        .await
        .map_err(PageError::from)?
        .into_iter()
        .find(|a| a.id == id && a.revoked.is_none())
        .ok_or_else(PageError::not_found)?;
    Ok(render(&RevokePage {
        l: signed.layout("Revoke application", Nav::Applications, None),
        id: app.id.to_string(),
        name: app.name,
        prefix: app.prefix,
    }))
}

pub(super) async fn revoke(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<String>,
    _form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let id: AppId = id.parse().map_err(|_| PageError::not_found())?;
    match state
        .applications
        .revoke_app(signed.org_id(), id, &signed.actor())
        .await
    {
        Ok(()) => Ok(see_other("/applications?done=revoked")),
        Err(e) => refused(&state, &signed, PageError::from(e), Kept::default()).await,
    }
}

/// "Add endpoint": the signing secret is in this response only.
pub(super) async fn add_webhook(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let url = form.text("url");
    let types: Vec<String> = form.all("types").iter().map(|t| t.to_string()).collect();
    match state
        .applications
        .add_webhook(signed.org_id(), &url, &types.join(","), &signed.actor())
        .await
    {
        Ok(added) => Ok(render(&SecretPage {
            l: signed.layout("Your new signing secret", Nav::Applications, None),
            what: "signing secret",
            owner: added.endpoint.url.clone(),
            secret: added.secret,
            hint: "Deliveries carry webhook-id, webhook-timestamp and webhook-signature headers (Standard Webhooks); verify the signature with this secret.",
            close: "/applications".into(),
        })),
        Err(e) => {
            refused(
                &state,
                &signed,
                PageError::from(e),
                Kept {
                    url,
                    types,
                    ..Kept::default()
                },
            )
            .await
        }
    }
}

struct DeliveryRow {
    at: String,
    event_type: String,
    event_id: String,
    status: String,
    latency: String,
    error: String,
    ok: bool,
}

fn delivery_row(d: &DeliveryRecord) -> DeliveryRow {
    DeliveryRow {
        at: when_seconds(d.at),
        event_type: d.event_type.clone(),
        event_id: d.event.to_string(),
        status: d.status.map_or_else(|| "—".to_owned(), |s| s.to_string()),
        latency: format!("{} ms", d.latency_ms),
        error: d.error.clone().unwrap_or_default(),
        ok: d.ok,
    }
}

/// Attempts follow each other within seconds: the log shows them to the second.
fn when_seconds(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    l: Layout,
    w: WebhookRow,
    created: String,
    delivered_through: i64,
    failing_since: Option<String>,
    retiring: Vec<String>,
    deliveries: Vec<DeliveryRow>,
    from: String,
}

async fn webhook_page(
    state: &AppState,
    signed: &Signed,
    id: WebhookId,
    flash: Option<Flash>,
    status: StatusCode,
    from: String,
) -> PageResult {
    let org = signed.org_id();
    let w = match state.applications.get_webhook(org, id).await {
        Ok(w) => w,
        Err(directory::applications::AppError::UnknownWebhook(_)) => {
            return Err(PageError::not_found());
        }
        Err(e) => return Err(PageError::from(e)),
    };
    let deliveries = state
        .applications
        .deliveries(org, id, DEFAULT_DELIVERIES)
        .await
        .map_err(PageError::from)?;
    let page = WebhookPage {
        l: signed.layout("Webhook endpoint", Nav::Applications, flash),
        created: when(w.created),
        delivered_through: w.cursor,
        failing_since: w.failing_since.map(when),
        retiring: w
            .secrets
            .iter()
            .filter_map(|s| s.retires)
            .filter_map(|r| time::OffsetDateTime::from_unix_timestamp(r).ok())
            .map(when)
            .collect(),
        deliveries: deliveries.iter().map(delivery_row).collect(),
        w: webhook_row(&w),
        from,
    };
    Ok(render_status(status, &page))
}

fn webhook_id(id: &str) -> Result<WebhookId, PageError> {
    id.parse().map_err(|_| PageError::not_found())
}

pub(super) async fn show_webhook(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<String>,
    q: Query<HashMap<String, String>>,
) -> PageResult {
    signed.require_administrator()?;
    let id = webhook_id(&id)?;
    webhook_page(
        &state,
        &signed,
        id,
        done_flash(&q, WEBHOOK_DONE),
        StatusCode::OK,
        String::new(),
    )
    .await
}

pub(super) async fn replay(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<String>,
    form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let id = webhook_id(&id)?;
    let from = form.text("from");
    match state
        .applications
        .replay_webhook(signed.org_id(), id, &from, &signed.actor())
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/applications/webhooks/{id}?done=replayed"
        ))),
        Err(directory::applications::AppError::UnknownWebhook(_)) => Err(PageError::not_found()),
        Err(e) => {
            let (status, flash) = split(PageError::from(e))?;
            webhook_page(&state, &signed, id, flash, status, from).await
        }
    }
}

pub(super) async fn rotate_secret(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<String>,
    _form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let id = webhook_id(&id)?;
    let org = signed.org_id();
    let secret = match state
        .applications
        .rotate_secret(org, id, &signed.actor())
        .await
    {
        Ok(s) => s,
        Err(directory::applications::AppError::UnknownWebhook(_)) => {
            return Err(PageError::not_found());
        }
        Err(e) => return Err(PageError::from(e)),
    };
    let w = state
        .applications
        .get_webhook(org, id)
        .await
        .map_err(PageError::from)?;
    Ok(render(&SecretPage {
        l: signed.layout("Your new signing secret", Nav::Applications, None),
        what: "signing secret",
        owner: w.url,
        secret,
        hint: "The old secret goes on signing beside this one for 24 hours, so the receiver can switch without missing a delivery.",
        close: format!("/applications/webhooks/{id}"),
    }))
}

pub(super) async fn remove_webhook(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<String>,
    _form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let id = webhook_id(&id)?;
    match state
        .applications
        .remove_webhook(signed.org_id(), id, &signed.actor())
        .await
    {
        Ok(()) => Ok(see_other("/applications?done=removed")),
        Err(directory::applications::AppError::UnknownWebhook(_)) => Err(PageError::not_found()),
        Err(e) => Err(PageError::from(e)),
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
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
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
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
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
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
}
