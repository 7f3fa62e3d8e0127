//! The Activity page: SCIM requests and administrative acts since a time, filtered by actor
//! and action, newest first; times in the organisation's time zone (Settings), each SCIM
//! request with the token it came with.

use super::{Flash, Layout, Nav, PageResult, Signed, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use directory::zone::Zone;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// Most entries read for one Activity page.
const ACTIVITY_LIMIT: u32 = 2000;

struct ActivityRow {
    at: String,
    actor: String,
    /// The token a SCIM request came with: its prefix (and whether it is revoked since).
    token: String,
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
    /// The organisation's time zone, which times are shown and read in.
    zone: String,
    actor: String,
    action: String,
    rows: Vec<ActivityRow>,
    truncated: bool,
    limit: u32,
}

/// `YYYY-MM-DDTHH:MM` (a datetime-local field, read in the organisation's zone) or RFC 3339.
fn parse_since(s: &str, zone: &Zone) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    zone.parse_local(s)
}

/// The log of SCIM requests and administrative acts since a time (default: the last 24
/// hours), filtered by actor and action, newest first.
pub(super) async fn activity(
    State(state): State<Arc<AppState>>, signed: Signed, Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let text = |k: &str| q.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let (actor, action) = (text("actor"), text("action"));
    let mut flash = None;
    let zone = state.lifecycle.time_zone(signed.org_id()).await?;
    let since = match text("since") {
        s if s.is_empty() => state.clock.now() - time::Duration::hours(24),
        s => match parse_since(&s, &zone) {
            Some(t) => t,
            None => {
                flash = Flash::error(format!(
                    "The time is not valid: use YYYY-MM-DDTHH:MM ({}).",
                    zone.name()
                ));
                state.clock.now() - time::Duration::hours(24)
            }
        },
    };
    let entries = state
        .store
        .list_activity(Some(signed.org_id()), Some(since), ACTIVITY_LIMIT)
        .await?;
    let truncated = entries.len() as u32 >= ACTIVITY_LIMIT;
    let tokens: HashMap<_, _> = state
        .store
        .list_tokens(signed.org_id())
        .await?
        .into_iter()
        .map(|t| {
            let shown = match t.revoked {
                Some(_) => format!("{}… (revoked)", t.prefix),
                None => format!("{}…", t.prefix),
            };
            (t.id, shown)
        })
        .collect();
    let (actor_l, action_l) = (actor.to_lowercase(), action.to_lowercase());
    let rows = entries
        .into_iter()
        .rev()
        .filter(|e| actor_l.is_empty() || e.actor.to_lowercase().contains(&actor_l))
        .filter(|e| action_l.is_empty() || e.action.to_lowercase().contains(&action_l))
        .map(|e| ActivityRow {
            at: zone.show(e.at),
            token: e
                .token_id
                .map(|id| {
                    tokens
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| "(deleted)".into())
                })
                .unwrap_or_default(),
            status: e.status.map(|s| s.to_string()).unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
            actor: e.actor,
            action: e.action,
            target: e.target,
        })
        .collect();
    Ok(render(&ActivityPage {
        l: signed.layout("Activity", Nav::Activity, flash),
        since: zone.local_input(since),
        zone: zone.name().to_owned(),
        actor,
        action,
        rows,
        truncated,
        limit: ACTIVITY_LIMIT,
    }))
}
