//! The Directory Sync page: connection state, tokens (generate, revoke), Auto Merge,
//! conflicts (download, merge) and disconnect — the administrator's side of the walkthrough in
//! `update-apple-scim-token.txt`.

use super::csrf::Form;
use super::reveal;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, render, render_status, see_other,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use directory::TokenId;
use directory::accounts::MergeOutcome;
use directory::lifecycle::{
    LifecycleError, MAX_LIVE_TOKENS, TokenState, can_generate, can_revoke, effective_expiry,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const DONE: &[(&str, &str)] = &[
    ("revoked", "The token is revoked. It no longer works."),
    ("auto-merge-on", "Auto Merge is on."),
    ("auto-merge-off", "Auto Merge is off."),
    (
        "disconnected",
        "Directory sync is disconnected: every token is revoked, and synced accounts and groups are now manual accounts and groups.",
    ),
    (
        "merged",
        "The conflict is merged: the account now belongs to directory sync.",
    ),
    ("merged-all", "Every conflict is merged."),
];

struct TokenRow {
    id: String,
    prefix: String,
    state: &'static str,
    created: String,
    expires: String,
    last_used: String,
    live: bool,
    /// Revoke works now (it does not on the last live token).
    revocable: bool,
}

struct ConflictRow {
    user_name: String,
    account_id: String,
    incoming_name: String,
    first_seen: String,
    last_seen: String,
    attempts: i64,
}

#[derive(Template)]
#[template(path = "sync.html")]
struct SyncPage {
    l: Layout,
    state: &'static str,
    changed: Option<String>,
    tokens: Vec<TokenRow>,
    auto_merge: bool,
    conflicts: Vec<ConflictRow>,
    administrator: bool,
    /// The SCIM base URL ("Tenant URL" in Entra), always shown.
    scim_url: String,
    /// "Generate token" works now (not while two tokens are live).
    can_generate: bool,
    max_live: usize,
}

async fn sync_page(
    state: &AppState, signed: &Signed, headers: &HeaderMap, flash: Option<Flash>,
    status: StatusCode,
) -> PageResult {
    let org = signed.org_id();
    let conn = state.lifecycle.connection(org).await?;
    let tokens = state.lifecycle.list_tokens(org).await?;
    let conflicts = state.directory.list_conflicts(org).await?;
    let page = SyncPage {
        l: signed.layout("Directory Sync", Nav::Sync, flash),
        state: conn.state.as_str(),
        changed: (conn.changed != time::OffsetDateTime::UNIX_EPOCH)
            .then(|| signed.when(conn.changed)),
        tokens: tokens
            .iter()
            .rev()
            .map(|t| TokenRow {
                id: t.record.id.to_string(),
                prefix: t.record.prefix.clone(),
                state: t.state.as_str(),
                created: signed.when(t.record.created),
                expires: signed.when(t.expires),
                last_used: t
                    .record
                    .last_used
                    .map(|t| signed.when(t))
                    .unwrap_or_else(|| "never".into()),
                live: t.state.is_live(),
                revocable: can_revoke(&tokens, t),
            })
            .collect(),
        auto_merge: state.directory.auto_merge(org).await?,
        conflicts: conflicts
            .iter()
            .map(|c| ConflictRow {
                user_name: c.user_name.clone(),
                account_id: c.account_id.to_string(),
                incoming_name: c
                    .incoming
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                first_seen: signed.when(c.first_seen),
                last_seen: signed.when(c.last_seen),
                attempts: c.attempts,
            })
            .collect(),
        administrator: signed.is_administrator(),
        scim_url: scim_url(state, headers),
        can_generate: can_generate(&tokens),
        max_live: MAX_LIVE_TOKENS,
    };
    Ok(render_status(status, &page))
}

/// Shows the Directory Sync page again with the reason an act was refused.
async fn refused(
    state: &AppState, signed: &Signed, headers: &HeaderMap, e: impl Into<PageError>,
) -> PageResult {
    let (status, flash) = super::split(e)?;
    sync_page(state, signed, headers, flash, status).await
}

pub(super) async fn page(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed,
    q: Query<HashMap<String, String>>,
) -> PageResult {
    sync_page(
        &state,
        &signed,
        &headers,
        done_flash(&q, DONE),
        StatusCode::OK,
    )
    .await
}

#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage {
    l: Layout,
    secret: String,
    prefix: String,
    expires: String,
    scim_url: String,
}

/// The SCIM base URL to paste beside the token (Entra calls it "Tenant URL").
fn scim_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.public_url {
        return u.trim_end_matches('/').to_owned();
    }
    // On its own listener the console's Host is not where identity providers call.
    if crate::routes::Surface::current() == crate::routes::Surface::Console
        && let Some(base) = state.scim_base.get()
    {
        return base.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = if super::csrf::https(state, headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}/scim/v2")
}

/// "Generate token": the secret is kept sealed for one display (never logged) and the answer
/// redirects to the page that shows it with Copy and Close, so a reload mints nothing.
pub(super) async fn generate(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed, _form: Form,
) -> PageResult {
    if let Err(e) = signed.require_administrator() {
        return refused(&state, &signed, &headers, e).await;
    }
    match state
        .lifecycle
        .generate_token(&signed.org, &signed.actor())
        .await
    {
        Ok(issued) => {
            let handle = reveal::keep(
                &state,
                &signed,
                json!({
                    "kind": "token",
                    "secret": issued.secret,
                    "prefix": issued.record.prefix,
                    "expires": signed.when(effective_expiry(&issued.record)),
                }),
            )
            .await?;
            Ok(see_other(&format!("/directory-sync/tokens/new/{handle}")))
        }
        Err(e) => refused(&state, &signed, &headers, e).await,
    }
}

/// The new token, once; "already shown" on every later view.
pub(super) async fn show_token(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed,
    Path(handle): Path<String>,
) -> PageResult {
    signed.require_administrator()?;
    let Some(v) = reveal::take(&state, &signed, &handle, "token").await? else {
        return Ok(reveal::already_shown(
            signed.layout("Token already shown", Nav::Sync, None),
            "token",
            "/directory-sync",
        ));
    };
    Ok(render(&TokenPage {
        l: signed.layout("Your new token", Nav::Sync, None),
        expires: reveal::field(&v, "expires"),
        prefix: reveal::field(&v, "prefix"),
        secret: reveal::field(&v, "secret"),
        scim_url: scim_url(&state, &headers),
    }))
}

#[derive(Template)]
#[template(path = "token_revoke.html")]
struct RevokePage {
    l: Layout,
    id: String,
    prefix: String,
    last_used: String,
}

/// "Revoke" asks first: what stops working, and what to do instead.
pub(super) async fn confirm_revoke(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>,
) -> PageResult {
    signed.require_administrator()?;
    let id = id.parse::<TokenId>().map_err(|_| PageError::not_found())?;
    let tokens = state.lifecycle.list_tokens(signed.org_id()).await?;
    let t = tokens
        .iter()
        .find(|t| t.record.id == id)
        .ok_or_else(PageError::not_found)?;
    if !can_revoke(&tokens, t) {
        return Err(PageError::from(if t.state == TokenState::Revoked {
            LifecycleError::AlreadyRevoked(id)
        } else {
            LifecycleError::LastLiveToken
        }));
    }
    Ok(render(&RevokePage {
        l: signed.layout("Revoke token", Nav::Sync, None),
        id: id.to_string(),
        prefix: t.record.prefix.clone(),
        last_used: t
            .record
            .last_used
            .map(|t| signed.when(t))
            .unwrap_or_else(|| "never".into()),
    }))
}

pub(super) async fn revoke(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed, Path(id): Path<String>,
    _form: Form,
) -> PageResult {
    if let Err(e) = signed.require_administrator() {
        return refused(&state, &signed, &headers, e).await;
    }
    let Ok(id) = id.parse::<TokenId>() else {
        return Err(PageError::not_found());
    };
    match state
        .lifecycle
        .revoke_token(signed.org_id(), id, &signed.actor())
        .await
    {
        Ok(()) => Ok(see_other("/directory-sync?done=revoked")),
        Err(e) => refused(&state, &signed, &headers, e).await,
    }
}

pub(super) async fn auto_merge(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed, form: Form,
) -> PageResult {
    if let Err(e) = signed.require_administrator() {
        return refused(&state, &signed, &headers, e).await;
    }
    let on = form.text("enabled") == "on";
    match state
        .directory
        .set_auto_merge(signed.org_id(), &signed.actor(), on)
        .await
    {
        Ok(()) => Ok(see_other(if on {
            "/directory-sync?done=auto-merge-on"
        } else {
            "/directory-sync?done=auto-merge-off"
        })),
        Err(e) => refused(&state, &signed, &headers, e).await,
    }
}

#[derive(Template)]
#[template(path = "disconnect.html")]
struct DisconnectPage {
    l: Layout,
}

pub(super) async fn confirm_disconnect(signed: Signed) -> PageResult {
    signed.require_administrator()?;
    Ok(render(&DisconnectPage {
        l: signed.layout("Disconnect directory sync", Nav::Sync, None),
    }))
}

pub(super) async fn disconnect(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed, _form: Form,
) -> PageResult {
    if let Err(e) = signed.require_administrator() {
        return refused(&state, &signed, &headers, e).await;
    }
    match state
        .directory
        .disconnect(signed.org_id(), &signed.actor())
        .await
    {
        Ok(_) => Ok(see_other("/directory-sync?done=disconnected")),
        Err(e) => refused(&state, &signed, &headers, e).await,
    }
}

/// "Download conflicts": every conflict as CSV.
pub(super) async fn conflicts_csv(
    State(state): State<Arc<AppState>>, signed: Signed,
) -> PageResult {
    let csv = state.directory.conflicts_csv(signed.org_id()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"conflicts.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

pub(super) async fn merge(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed, form: Form,
) -> PageResult {
    match state
        .directory
        .merge_conflict(signed.org_id(), &signed.actor(), &form.text("userName"))
        .await
    {
        Ok(MergeOutcome::Merged(_) | MergeOutcome::Dropped) => {
            Ok(see_other("/directory-sync?done=merged"))
        }
        Err(e) => refused(&state, &signed, &headers, e).await,
    }
}

pub(super) async fn merge_all(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed, _form: Form,
) -> PageResult {
    match state
        .directory
        .merge_all(signed.org_id(), &signed.actor())
        .await
    {
        Ok(_) => Ok(see_other("/directory-sync?done=merged-all")),
        Err(e) => refused(&state, &signed, &headers, e).await,
    }
}
