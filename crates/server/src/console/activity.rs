//! The Activity page: SCIM requests and administrative acts since a time, filtered by actor
//! and action, newest first.

use super::{Flash, Layout, Nav, PageResult, Signed, render, when};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// Most entries read for one Activity page.
const ACTIVITY_LIMIT: u32 = 2000;

struct ActivityRow {
    at: String,
    actor: String,
    action: String,
    target: String,
    status: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    l: Layout,
    since: String,
    actor: String,
    action: String,
    rows: Vec<ActivityRow>,
    truncated: bool,
    limit: u32,
}

/// `YYYY-MM-DDTHH:MM` (a datetime-local field, read as UTC) or RFC 3339.
fn parse_since(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let with_seconds = if s.len() == 16 {
        format!("{s}:00Z")
    } else {
        format!("{s}Z")
    };
    OffsetDateTime::parse(&with_seconds, &Rfc3339).ok()
}

fn local_input(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The log of SCIM requests and administrative acts since a time (default: the last 24
/// hours), filtered by actor and action, newest first.
pub(super) async fn activity(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let text = |k: &str| q.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let (actor, action) = (text("actor"), text("action"));
    let mut flash = None;
    let since = match text("since") {
        s if s.is_empty() => state.clock.now() - time::Duration::hours(24),
        s => match parse_since(&s) {
            Some(t) => t,
            None => {
                flash = Flash::error("The time is not valid: use YYYY-MM-DDTHH:MM (UTC).");
                state.clock.now() - time::Duration::hours(24)
            }
        },
    };
    let entries = state
        .store
        .list_activity(Some(signed.org_id()), Some(since), ACTIVITY_LIMIT)
        .await?;
    let truncated = entries.len() as u32 >= ACTIVITY_LIMIT;
    let (actor_l, action_l) = (actor.to_lowercase(), action.to_lowercase());
    let rows = entries
        .into_iter()
        .rev()
        .filter(|e| actor_l.is_empty() || e.actor.to_lowercase().contains(&actor_l))
        .filter(|e| action_l.is_empty() || e.action.to_lowercase().contains(&action_l))
        .map(|e| ActivityRow {
            at: when(e.at),
            status: e.status.map(|s| s.to_string()).unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
            actor: e.actor,
            action: e.action,
            target: e.target,
        })
        .collect();
    Ok(render(&ActivityPage {
        l: signed.layout("Activity", Nav::Activity, flash),
        since: local_input(since),
        actor,
        action,
        rows,
        truncated,
        limit: ACTIVITY_LIMIT,
    }))
}
