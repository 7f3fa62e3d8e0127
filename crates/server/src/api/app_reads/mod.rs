//! What an application key reads (docs/contract.md, "Applications"): the directory API and the
//! events, of the key's organisation only.
//!
//! - `GET /api/v1/directory/users`, `/users/{id}`, `/groups`, `/groups/{id}`,
//!   `/groups/{id}/members`: lists are `{"data": [...], "next": CURSOR|null}`, oldest first,
//!   with `after=CURSOR`, `limit=N` (default 100, 1 to 1000) and, on users and groups,
//!   `updated_since=RFC3339`. `next` is null when the page is not full.
//! - `GET /api/v1/events?after=ID&limit=N&types=T1,T2&wait=SECONDS`: `{"data": [events],
//!   "next": ID|null}`. With `wait` (at most 30), an empty page is held open until an event
//!   arrives: the store is asked for the newest sequence every [`POLL_EVERY`] (one row read,
//!   no connection held between reads), so an event written by any process or instance is
//!   seen.
//!
//! Query parameters scimd does not know are ignored; a known one given twice, or with a value
//! of the wrong form, is 400.

use super::ApiError;
use super::app_key::AppClient;
use super::error::bad;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use directory::OrgId;
use directory::applications::{DirectoryPage, EventsPage};
use directory::store::EventQuery;
use scim_core::schema::ResourceKind;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The longest an events request may wait for an event.
pub const MAX_WAIT_SECS: u64 = 30;
/// How often a waiting events request asks the store whether an event arrived.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// What a wait leaves of the request timeout, so the request answers before it is cut off.
const WAIT_MARGIN: Duration = Duration::from_secs(2);

/// The query string: each known parameter at most once.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(raw: Option<String>, known: &[&str]) -> Result<Params, ApiError> {
        let mut out = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !known.contains(&k.as_ref()) {
                continue;
            }
            if out.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(bad(format!("{k} is given more than once")));
            }
        }
        Ok(Params(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `limit`, when given: a whole number (the service checks its range).
    fn limit(&self) -> Result<Option<u32>, ApiError> {
        self.get("limit")
            .map(|s| {
                s.trim().parse::<u32>().map_err(|_| {
                    bad(format!(
                        "limit must be a whole number from 1 to {}",
                        directory::applications::MAX_LIMIT
                    ))
                })
            })
            .transpose()
    }

    /// `updated_since`, when given: an RFC 3339 instant.
    fn updated_since(&self) -> Result<Option<OffsetDateTime>, ApiError> {
        self.get("updated_since")
            .map(|s| {
                OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|_| {
                    bad("updated_since must be an RFC 3339 instant, e.g. 2026-01-31T00:00:00Z")
                })
            })
            .transpose()
    }

    /// `wait`, in seconds: 0 (the default) to [`MAX_WAIT_SECS`].
    fn wait(&self) -> Result<u64, ApiError> {
        match self.get("wait") {
            None => Ok(0),
            Some(s) => s
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|w| *w <= MAX_WAIT_SECS)
                .ok_or_else(|| {
                    bad(format!(
                        "wait must be a whole number of seconds from 0 to {MAX_WAIT_SECS}"
                    ))
                }),
        }
    }
}

fn page_json(p: DirectoryPage) -> Json<Value> {
    Json(json!({ "data": p.data, "next": p.next }))
}

async fn list(
    state: &AppState, org: OrgId, kind: ResourceKind, raw: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw, &["after", "limit", "updated_since"])?;
    let page = state
        .applications
        .directory_list(org, kind, p.get("after"), p.limit()?, p.updated_since()?)
        .await?;
    Ok(page_json(page))
}

pub(super) async fn users(
    State(state): State<Arc<AppState>>, client: AppClient, RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list(&state, client.app.org_id, ResourceKind::User, raw).await
}

pub(super) async fn groups(
    State(state): State<Arc<AppState>>, client: AppClient, RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    list(&state, client.app.org_id, ResourceKind::Group, raw).await
}

pub(super) async fn user(
    State(state): State<Arc<AppState>>, client: AppClient, Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = state
        .applications
        .directory_get(client.app.org_id, ResourceKind::User, &id)
        .await?;
    Ok(Json(v))
}

pub(super) async fn group(
    State(state): State<Arc<AppState>>, client: AppClient, Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = state
        .applications
        .directory_get(client.app.org_id, ResourceKind::Group, &id)
        .await?;
    Ok(Json(v))
}

pub(super) async fn members(
    State(state): State<Arc<AppState>>, client: AppClient, Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw, &["after", "limit"])?;
    let page = state
        .applications
        .directory_members(client.app.org_id, &id, p.get("after"), p.limit()?)
        .await?;
    Ok(page_json(page))
}

pub(super) async fn events(
    State(state): State<Arc<AppState>>, client: AppClient, RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw, &["after", "limit", "types", "wait"])?;
    let wait = p.wait()?;
    let org = client.app.org_id;
    let query = state
        .applications
        .event_query(org, p.get("after"), p.limit()?, p.get("types"))
        .await?;
    let mut page = state.applications.events(org, &query).await?;
    if page.events.is_empty() && wait > 0 {
        // Waiting readers hold a place among the concurrent requests: a bounded share of them.
        let Ok(_waiting) = state.ops.waiting.clone().try_acquire_owned() else {
            return Ok(busy());
        };
        let timeout = state.ops.config.request_timeout;
        let wait = Duration::from_secs(wait).min(timeout.saturating_sub(WAIT_MARGIN));
        page = wait_for_events(&state, org, &query, wait).await?;
    }
    Ok(Json(json!({
        "data": page.events.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "next": page.next,
    }))
    .into_response())
}

/// 503 with `Retry-After` when too many events requests already wait.
fn busy() -> Response {
    let mut r = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "too many events requests are waiting at once; retry shortly".into(),
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Asks the store for the newest sequence every [`POLL_EVERY`] until it passes what the query
/// has seen and a page of the query's types is there, `wait` has passed, or the server stops.
/// Between two reads nothing of the store is held.
async fn wait_for_events(
    state: &AppState, org: OrgId, query: &EventQuery, wait: Duration,
) -> Result<EventsPage, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut stopping = state.stopping();
    let mut seen = query.after;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() || *stopping.borrow() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(left.min(POLL_EVERY)) => {}
            _ = stopping.changed() => break,
        }
        let newest = state.applications.newest_sequence(org).await?;
        if newest > seen {
            let page = state.applications.events(org, query).await?;
            if !page.events.is_empty() {
                return Ok(page);
            }
            // Only events of other types came: wait for the next ones.
            seen = newest;
        }
    }
    Ok(EventsPage {
        events: Vec::new(),
        next: None,
    })
}

#[cfg(test)]
mod tests;
