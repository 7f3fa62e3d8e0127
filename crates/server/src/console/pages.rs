//! Groups, Domains, Activity and Settings.

use super::csrf::Form;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, enc, render, render_status,
    see_other, when,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use directory::OrgKind;
use directory::setup::{Setup, SetupError};
use directory::store::{AdminRole, ListQuery, Load};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

use super::split;

// ---- Groups

struct GroupRow {
    name: String,
    external_id: String,
    created: String,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    l: Layout,
    rows: Vec<GroupRow>,
    total: u64,
    next_url: Option<String>,
    first_url: Option<String>,
}

/// The groups directory sync provisioned, read-only, in keyset pages (members are not loaded:
/// a group may have 100,000).
pub(super) async fn groups(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let after = q.get("after").cloned().filter(|s| !s.is_empty());
    let query = ListQuery {
        start_index: 1,
        count: 50,
        cursor: Some(after.clone().unwrap_or_default()),
        load: Load::default(),
        ..ListQuery::default()
    };
    let (page, flash) = match state
        .store
        .list_resources(signed.org_id(), ResourceKind::Group, &query)
        .await
    {
        Ok(p) => (Some(p), None),
        Err(directory::StoreError::InvalidCursor) => {
            (None, Flash::error("The page cursor is not valid."))
        }
        Err(e) => return Err(e.into()),
    };
    let (rows, total, next) = match page {
        Some(p) => (
            p.resources
                .iter()
                .map(|g| GroupRow {
                    name: g
                        .doc
                        .get("displayName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    external_id: g
                        .doc
                        .get("externalId")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    created: when(g.created),
                })
                .collect(),
            p.total,
            p.next_cursor,
        ),
        None => (Vec::new(), 0, None),
    };
    Ok(render(&GroupsPage {
        l: signed.layout("Groups", Nav::Groups, flash),
        rows,
        total,
        next_url: next.map(|n| format!("/groups?after={}", enc(&n))),
        first_url: after.map(|_| "/groups".to_owned()),
    }))
}

// ---- Domains

struct DomainRow {
    name: String,
    txt: String,
    verified: Option<String>,
    verified_by: String,
}

#[derive(Template)]
#[template(path = "domains.html")]
struct DomainsPage {
    l: Layout,
    rows: Vec<DomainRow>,
    administrator: bool,
    name: String,
}

const DOMAINS_DONE: &[(&str, &str)] = &[
    (
        "added",
        "The domain is added. Publish its TXT record in DNS, then choose Verify.",
    ),
    ("verified", "The domain is verified."),
    ("removed", "The domain is removed."),
];

async fn domains_page(
    state: &AppState,
    signed: &Signed,
    flash: Option<Flash>,
    status: StatusCode,
    name: String,
) -> PageResult {
    let rows = state
        .directory
        .list_domains(signed.org_id())
        .await?
        .into_iter()
        .map(|d| DomainRow {
            verified: d.verified.map(when),
            verified_by: d.verified_by.unwrap_or_default(),
            name: d.name,
            txt: d.txt,
        })
        .collect();
    Ok(render_status(
        status,
        &DomainsPage {
            l: signed.layout("Domains", Nav::Domains, flash),
            rows,
            administrator: signed.is_administrator(),
            name,
        },
    ))
}

pub(super) async fn domains(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    q: Query<HashMap<String, String>>,
) -> PageResult {
    domains_page(
        &state,
        &signed,
        done_flash(&q, DOMAINS_DONE),
        StatusCode::OK,
        String::new(),
    )
    .await
}

pub(super) async fn add_domain(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    form: Form,
) -> PageResult {
    let name = form.text("name");
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => match crate::dns::new_domain(&name) {
            Err(m) => Err(PageError(StatusCode::BAD_REQUEST, m)),
            Ok((domain, txt)) => state
                .directory
                .add_domain(signed.org_id(), &signed.actor(), &domain, txt)
                .await
                .map(|_| ())
                .map_err(PageError::from),
        },
    };
    match result {
        Ok(()) => Ok(see_other("/domains?done=added")),
        Err(e) => {
            let (status, flash) = split(e)?;
            domains_page(&state, &signed, flash, status, name).await
        }
    }
}

pub(super) async fn verify_domain(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
    _form: Form,
) -> PageResult {
    let result = match (signed.require_administrator(), state.dns.as_ref()) {
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(PageError(
            StatusCode::SERVICE_UNAVAILABLE,
            "No DNS resolver is configured on this server, so domains cannot be verified here."
                .into(),
        )),
        (Ok(()), Some(dns)) => state
            .directory
            .verify_domain(signed.org_id(), &signed.actor(), &name, dns.as_ref())
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/domains?done=verified")),
        // No resolver is the server's state, not a fault: say so on the page.
        Err(PageError(StatusCode::SERVICE_UNAVAILABLE, m)) => {
            domains_page(
                &state,
                &signed,
                Flash::error(m),
                StatusCode::SERVICE_UNAVAILABLE,
                String::new(),
            )
            .await
        }
        Err(e) => {
            let (status, flash) = split(e)?;
            domains_page(&state, &signed, flash, status, String::new()).await
        }
    }
}

pub(super) async fn remove_domain(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(name): Path<String>,
    _form: Form,
) -> PageResult {
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => state
            .directory
            .remove_domain(signed.org_id(), &signed.actor(), &name)
            .await
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/domains?done=removed")),
        Err(e) => {
            let (status, flash) = split(e)?;
            domains_page(&state, &signed, flash, status, String::new()).await
        }
    }
}

// ---- Activity

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

// ---- Settings

struct AdminRow {
    email: String,
    role: &'static str,
    added: String,
    password: bool,
    /// The signed-in administrator's own row: it offers no "Remove".
    me: bool,
}

struct NoticeRow {
    subject: String,
    created: String,
    state: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    l: Layout,
    org_id: String,
    org_name: String,
    kind: &'static str,
    admins: Vec<AdminRow>,
    notices: Vec<NoticeRow>,
    administrator: bool,
    school: bool,
    email: String,
    smtp: bool,
    test_to: String,
}

async fn settings_page(
    state: &AppState,
    signed: &Signed,
    flash: Option<Flash>,
    status: StatusCode,
    email: String,
) -> PageResult {
    let org = signed.org_id();
    let admins = state
        .store
        .list_admins(org)
        .await?
        .into_iter()
        .map(|a| AdminRow {
            role: a.role.as_str(),
            added: when(a.created),
            password: a.password_hash.is_some(),
            me: a.id == signed.who.admin.id,
            email: a.email,
        })
        .collect();
    let notices = state
        .store
        .list_notices(org)
        .await?
        .into_iter()
        .rev()
        .take(50)
        .map(|n| NoticeRow {
            state: match (n.sent, &n.last_error) {
                (Some(t), _) => format!("sent {}", when(t)),
                (None, Some(e)) => format!("waiting ({} attempts; last error: {e})", n.attempts),
                (None, None) => "waiting in the outbox".into(),
            },
            created: when(n.created),
            subject: n.subject,
        })
        .collect();
    Ok(render_status(
        status,
        &SettingsPage {
            l: signed.layout("Settings", Nav::Settings, flash),
            org_id: org.to_string(),
            org_name: signed.org.name.clone(),
            kind: signed.org.kind.as_str(),
            admins,
            notices,
            administrator: signed.is_administrator(),
            school: signed.org.kind == OrgKind::School,
            email,
            smtp: state.mailer.is_some(),
            test_to: signed.who.admin.email.clone(),
        },
    ))
}

pub(super) async fn settings(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    q: Query<HashMap<String, String>>,
) -> PageResult {
    let flash = done_flash(
        &q,
        &[
            ("admin-added", "The administrator is added."),
            (
                "admin-removed",
                "The administrator is removed and signed out everywhere.",
            ),
            ("mail-sent", "The test e-mail was handed to the SMTP relay."),
        ],
    );
    settings_page(&state, &signed, flash, StatusCode::OK, String::new()).await
}

pub(super) async fn add_admin(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    form: Form,
) -> PageResult {
    let email = form.text("email");
    let result = match (
        signed.require_administrator(),
        form.text("role").parse::<AdminRole>(),
    ) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(m)) => Err(PageError(StatusCode::BAD_REQUEST, m)),
        (Ok(()), Ok(role)) => Setup::new(state.store.clone(), state.clock.clone())
            .add_admin(
                &signed.org,
                &email,
                role,
                form.get("password").unwrap_or_default(),
                &signed.actor(),
            )
            .await
            .map(|_| ())
            .map_err(|e| match e {
                SetupError::Password(m) => PageError(StatusCode::BAD_REQUEST, m),
                SetupError::Lifecycle(l) => l.into(),
                SetupError::Store(s) => s.into(),
                other => PageError(StatusCode::CONFLICT, other.to_string()),
            }),
    };
    match result {
        Ok(()) => Ok(see_other("/settings?done=admin-added")),
        Err(e) => {
            let (status, flash) = split(e)?;
            settings_page(&state, &signed, flash, status, email).await
        }
    }
}

/// "Remove" on an administrator's row: the administrator and every session of theirs go at
/// once. Administrators only, and never oneself (the last administrator cannot lock the
/// organisation out; an operator can, with `scimd admin remove`).
pub(super) async fn remove_admin(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    form: Form,
) -> PageResult {
    let email = form.text("email");
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) if email.eq_ignore_ascii_case(&signed.who.admin.email) => Err(PageError(
            StatusCode::CONFLICT,
            "You cannot remove yourself; another administrator can.".into(),
        )),
        Ok(()) => directory::lifecycle::Lifecycle::new(state.store.clone(), state.clock.clone())
            .remove_admin(signed.org_id(), &email, &signed.actor())
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/settings?done=admin-removed")),
        Err(e) => {
            let (status, flash) = split(e)?;
            settings_page(&state, &signed, flash, status, String::new()).await
        }
    }
}

/// "Send test e-mail", through the SMTP relay `serve` delivers notices with.
pub(super) async fn test_email(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    form: Form,
) -> PageResult {
    let result = match (signed.require_administrator(), state.mailer.as_ref()) {
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(PageError(
            StatusCode::CONFLICT,
            "SMTP is not configured on this server.".into(),
        )),
        (Ok(()), Some(mailer)) => {
            let to = Some(form.text("to"))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| signed.who.admin.email.clone());
            directory::notify::send_test(
                state.store.as_ref(),
                state.clock.as_ref(),
                mailer.as_ref(),
                signed.org_id(),
                &signed.actor(),
                &to,
            )
            .await
            .map_err(|e| {
                PageError(
                    StatusCode::BAD_GATEWAY,
                    format!("The test e-mail was not sent: {e}"),
                )
            })
        }
    };
    match result {
        Ok(()) => Ok(see_other("/settings?done=mail-sent")),
        // A relay that refuses is the relay's state, not the console's fault: show it.
        Err(PageError(status, m)) if status == StatusCode::BAD_GATEWAY => {
            settings_page(&state, &signed, Flash::error(m), status, String::new()).await
        }
        Err(e) => {
            let (status, flash) = split(e)?;
            settings_page(&state, &signed, flash, status, String::new()).await
        }
    }
}
