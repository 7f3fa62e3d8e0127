//! The Settings page: the organisation's administrators (add, invite, remove), one's own
//! password, the notices queued for it, and a test e-mail through the SMTP relay.

use super::csrf::Form;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, render_status, see_other, when,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use directory::OrgKind;
use directory::setup::{Setup, SetupError};
use directory::store::AdminRole;
use std::collections::HashMap;
use std::sync::Arc;

use super::split;

struct AdminRow {
    email: String,
    role: &'static str,
    added: String,
    password: bool,
    /// The signed-in administrator's own row: it offers no "Remove".
    me: bool,
}

/// The deployment's scheduled backups, as Settings shows them.
struct BackupView {
    every: String,
    keep: usize,
    last_success: Option<String>,
    last_failure: Option<String>,
}

fn backup_view(state: &AppState) -> Option<BackupView> {
    let status = state.backups.as_ref()?;
    let now = status.state();
    let secs = status.every.as_secs();
    let every = match secs {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    };
    Some(BackupView {
        every,
        keep: status.keep,
        last_success: now.last_success.map(|d| {
            let file = d
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("{} ({file})", when(d.at))
        }),
        last_failure: now
            .last_failure
            .map(|f| format!("{}: {}", when(f.at), f.error)),
    })
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
    backups: Option<BackupView>,
    /// An invitation link made without SMTP, shown this once: (e-mail, link).
    invited: Option<(String, String)>,
}

/// Settings again with why a form was refused.
pub(super) async fn refused(
    state: &AppState,
    signed: &Signed,
    e: PageError,
    email: String,
) -> PageResult {
    let (status, flash) = split(e)?;
    settings_page(state, signed, flash, status, email, None).await
}

async fn settings_page(
    state: &AppState,
    signed: &Signed,
    flash: Option<Flash>,
    status: StatusCode,
    email: String,
    invited: Option<(String, String)>,
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
            backups: backup_view(state),
            invited,
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
            (
                "invited",
                "The administrator is invited: the link to choose a password is on its way by e-mail.",
            ),
            (
                "password-changed",
                "Your password is changed, and your other sessions are signed out.",
            ),
        ],
    );
    let invited = q
        .get("invited")
        .and_then(|h| super::password::take_reveal(&state, &signed, h));
    settings_page(
        &state,
        &signed,
        flash,
        StatusCode::OK,
        String::new(),
        invited,
    )
    .await
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
            settings_page(&state, &signed, flash, status, email, None).await
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
            settings_page(&state, &signed, flash, status, String::new(), None).await
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
            settings_page(
                &state,
                &signed,
                Flash::error(m),
                status,
                String::new(),
                None,
            )
            .await
        }
        Err(e) => {
            let (status, flash) = split(e)?;
            settings_page(&state, &signed, flash, status, String::new(), None).await
        }
    }
}
