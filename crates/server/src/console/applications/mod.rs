//! The Applications page (docs/contract.md, "Applications"): the organisation's applications
//! (register one and see its key once, revoke one after a confirmation) and webhook endpoints
//! (add one and see its secret once, rotate the secret, replay from an event, remove, send a
//! test event, and each endpoint's delivery log). Administrators only, as in the API.
//!
//! The "Send test event" form posts to `/console/applications/webhooks/{id}/test`, which the
//! webhook delivery side serves.

use super::csrf::Form;
use super::reveal;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, render, render_status,
    see_other, split,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use directory::applications::{DEFAULT_DELIVERIES, types_label};
use directory::ids::{AppId, WebhookId};
use directory::store::{DeliveryRecord, EventType, WebhookEndpoint};
use serde_json::json;
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

fn last_delivery(signed: &Signed, w: &WebhookEndpoint) -> String {
    match (w.last_delivery, w.last_status) {
        (Some(t), Some(s)) => format!("{} (HTTP {s})", signed.when(t)),
        (Some(t), None) => format!("{} (no answer)", signed.when(t)),
        (None, _) => "never".into(),
    }
}

fn webhook_row(signed: &Signed, w: &WebhookEndpoint) -> WebhookRow {
    WebhookRow {
        id: w.id.to_string(),
        url: w.url.clone(),
        types: types_label(&w.types).replace(',', ", "),
        state: w.state.as_str(),
        last_delivery: last_delivery(signed, w),
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
    state: &AppState, signed: &Signed, flash: Option<Flash>, status: StatusCode, kept: Kept,
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
                created: signed.when(a.created),
                last_used: a
                    .last_used
                    .map(|t| signed.when(t))
                    .unwrap_or_else(|| "never".into()),
                revoked: a.revoked.map(|t| signed.when(t)),
            })
            .collect(),
        webhooks: webhooks.iter().map(|w| webhook_row(signed, w)).collect(),
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
    State(state): State<Arc<AppState>>, signed: Signed, q: Query<HashMap<String, String>>,
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
    what: String,
    /// Whose it is, for the heading.
    owner: String,
    secret: String,
    hint: String,
    close: String,
}

/// A key or secret to show once: kept sealed, and the answer redirects to the page that
/// shows it (so a reload mints nothing).
/// What a one-time page shows.
struct OneTime<'a> {
    title: &'a str,
    what: &'a str,
    owner: String,
    secret: String,
    hint: &'a str,
    close: String,
}

async fn show_once(state: &AppState, signed: &Signed, v: OneTime<'_>) -> PageResult {
    let handle = reveal::keep(
        state,
        signed,
        json!({
            "kind": "app-secret",
            "title": v.title,
            "what": v.what,
            "owner": v.owner,
            "secret": v.secret,
            "hint": v.hint,
            "close": v.close,
        }),
    )
    .await?;
    Ok(see_other(&format!("/applications/shown/{handle}")))
}

/// The key or secret, once; "already shown" on every later view.
pub(super) async fn shown(
    State(state): State<Arc<AppState>>, signed: Signed, Path(handle): Path<String>,
) -> PageResult {
    signed.require_administrator()?;
    let Some(v) = reveal::take(&state, &signed, &handle, "app-secret").await? else {
        return Ok(reveal::already_shown(
            signed.layout("Already shown", Nav::Applications, None),
            "key or secret",
            "/applications",
        ));
    };
    let f = |n: &str| reveal::field(&v, n);
    Ok(render(&SecretPage {
        l: signed.layout(&f("title"), Nav::Applications, None),
        what: f("what"),
        owner: f("owner"),
        secret: f("secret"),
        hint: f("hint"),
        close: f("close"),
    }))
}

/// "Register application": the key is in this response only.
pub(super) async fn create(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let name = form.text("name");
    match state
        .applications
        .create_app(signed.org_id(), &name, &signed.actor())
        .await
    {
        Ok(issued) => {
            show_once(
                &state,
                &signed,
                OneTime {
                    title: "Your new application key",
                    what: "key",
                    owner: format!("{} ({}…)", issued.record.name, issued.record.prefix),
                    secret: issued.key,
                    hint: "The application sends it as Authorization: Bearer KEY to /api/v1/directory/... and /api/v1/events.",
                    close: "/applications".into(),
                },
            )
            .await
        }
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
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>,
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
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, _form: Form,
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
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let url = form.text("url");
    let types: Vec<String> = form.all("types").iter().map(|t| t.to_string()).collect();
    match state
        .applications
        .add_webhook(signed.org_id(), &url, &types.join(","), &signed.actor())
        .await
    {
        Ok(added) => {
            show_once(
                &state,
                &signed,
                OneTime {
                    title: "Your new signing secret",
                    what: "signing secret",
                    owner: added.endpoint.url.clone(),
                    secret: added.secret,
                    hint: "Deliveries carry webhook-id, webhook-timestamp and webhook-signature headers (Standard Webhooks); verify the signature with this secret.",
                    close: "/applications".into(),
                },
            )
            .await
        }
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

/// Attempts follow each other within seconds: the log shows them to the second.
fn delivery_row(signed: &Signed, d: &DeliveryRecord) -> DeliveryRow {
    DeliveryRow {
        at: signed.zone.show_seconds(d.at),
        event_type: d.event_type.clone(),
        event_id: d.event.to_string(),
        status: d.status.map_or_else(|| "—".to_owned(), |s| s.to_string()),
        latency: format!("{} ms", d.latency_ms),
        error: d.error.clone().unwrap_or_default(),
        ok: d.ok,
    }
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
    state: &AppState, signed: &Signed, id: WebhookId, flash: Option<Flash>, status: StatusCode,
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
        created: signed.when(w.created),
        delivered_through: w.cursor,
        failing_since: w.failing_since.map(|t| signed.when(t)),
        retiring: w
            .secrets
            .iter()
            .filter_map(|s| s.retires)
            .filter_map(|r| time::OffsetDateTime::from_unix_timestamp(r).ok())
            .map(|t| signed.when(t))
            .collect(),
        deliveries: deliveries.iter().map(|d| delivery_row(signed, d)).collect(),
        w: webhook_row(signed, &w),
        from,
    };
    Ok(render_status(status, &page))
}

fn webhook_id(id: &str) -> Result<WebhookId, PageError> {
    id.parse().map_err(|_| PageError::not_found())
}

pub(super) async fn show_webhook(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>,
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
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, form: Form,
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
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, _form: Form,
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
    show_once(
                &state,
                &signed,
                OneTime {
                    title: "Your new signing secret",
                    what: "signing secret",
                    owner: w.url,
                    secret,
                    hint: "The old secret goes on signing beside this one for 24 hours, so the receiver can switch without missing a delivery.",
                    close: format!("/applications/webhooks/{id}"),
                },
            )
    .await
}

pub(super) async fn remove_webhook(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, _form: Form,
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
mod tests;
