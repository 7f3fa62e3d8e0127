//! The Settings page: the organisation (name; kind while it has no accounts; whether two-step
//! verification is required), its administrators (add, invite; remove, unlock, end sessions,
//! each after a confirmation), one's own password and two-step verification, the notices queued for it, and a test e-mail through the SMTP relay. Acts go
//! through the services the CLI uses (`directory::lifecycle`), which log them.

use super::csrf::Form;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, render_status, see_other,
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
    /// The address as a query-string value.
    email_q: String,
    role: &'static str,
    added: String,
    password: bool,
    /// The signed-in administrator's own row: it offers no "Remove".
    me: bool,
    /// The last administrator with the `administrator` role: "Remove" is disabled.
    last: bool,
    /// Sign-ins for the address are refused until then.
    locked: Option<String>,
    /// Two-step verification is on for this administrator.
    two_step: bool,
}

/// The deployment's scheduled backups, as Settings shows them.
struct BackupView {
    every: String,
    keep: usize,
    last_success: Option<String>,
    last_failure: Option<String>,
}

fn backup_view(state: &AppState, signed: &Signed) -> Option<BackupView> {
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
            format!("{} ({file})", signed.when(d.at))
        }),
        last_failure: now
            .last_failure
            .map(|f| format!("{}: {}", signed.when(f.at), f.error)),
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
    /// The kind may change: the organisation has no accounts yet.
    kind_open: bool,
    /// An invitation link made without SMTP, shown this once: (e-mail, link).
    invited: Option<(String, String)>,
    /// The signed-in administrator's two-step verification, and the organisation's rule.
    two_step: directory::second_factor::Status,
    /// The organisation's time zone (IANA name), and the names to choose from.
    time_zone: String,
    zones: Vec<String>,
}

/// Settings again with why a form was refused.
pub(super) async fn refused(
    state: &AppState, signed: &Signed, e: PageError, email: String,
) -> PageResult {
    let (status, flash) = split(e)?;
    settings_page(state, signed, flash, status, email, None).await
}

async fn settings_page(
    state: &AppState, signed: &Signed, flash: Option<Flash>, status: StatusCode, email: String,
    invited: Option<(String, String)>,
) -> PageResult {
    let org = signed.org_id();
    let listed = state.store.list_admins(org).await?;
    let administrators = listed
        .iter()
        .filter(|a| a.role == AdminRole::Administrator)
        .count();
    let mut admins = Vec::with_capacity(listed.len());
    for a in listed {
        admins.push(AdminRow {
            role: a.role.as_str(),
            added: signed.when(a.created),
            password: a.password_hash.is_some(),
            me: a.id == signed.who.admin.id,
            last: a.role == AdminRole::Administrator && administrators == 1,
            locked: state
                .lifecycle
                .locked_until(&a.email)
                .await?
                .map(|t| signed.when(t)),
            two_step: state
                .store
                .get_second_factor(org, a.id)
                .await?
                .is_some_and(|f| f.confirmed.is_some()),
            email_q: super::enc(&a.email),
            email: a.email,
        });
    }
    let notices = state
        .store
        .list_notices(org)
        .await?
        .into_iter()
        .rev()
        .take(50)
        .map(|n| NoticeRow {
            state: match (n.sent, &n.last_error) {
                (Some(t), _) => format!("sent {}", signed.when(t)),
                (None, Some(e)) => format!("waiting ({} attempts; last error: {e})", n.attempts),
                (None, None) => "waiting in the outbox".into(),
            },
            created: signed.when(n.created),
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
            backups: backup_view(state, signed),
            invited,
            kind_open: !state.lifecycle.has_accounts(org).await?,
            two_step: directory::second_factor::SecondFactors::new(
                state.store.clone(),
                state.clock.clone(),
                state.sessions.clone(),
            )
            .status(&signed.who.admin)
            .await?,
            time_zone: state.lifecycle.time_zone(org).await?.name().to_owned(),
            zones: directory::zone::Zone::names(),
        },
    ))
}

pub(super) async fn settings(
    State(state): State<Arc<AppState>>, signed: Signed, q: Query<HashMap<String, String>>,
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
            ("org-updated", "The organisation is updated."),
            (
                "time-zone-set",
                "The time zone is set: times on the console are shown in it.",
            ),
            (
                "admin-unlocked",
                "The address is unlocked: its next sign-in is checked as usual.",
            ),
            (
                "sessions-ended",
                "The administrator's sessions are ended: they are signed out everywhere.",
            ),
            (
                "two-step-required",
                "Two-step verification is now required of every administrator: those without it set it up at their next page.",
            ),
            (
                "two-step-optional",
                "Two-step verification is no longer required; those who have it keep it.",
            ),
        ],
    );
    let invited = match q.get("invited") {
        Some(h) => super::password::take_reveal(&state, &signed, h).await?,
        None => None,
    };
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
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
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

/// "Remove" on an administrator's row, after its confirmation: the administrator and every
/// session of theirs go at once. Administrators only, never oneself, and never the last
/// administrator with the `administrator` role (the service refuses that).
pub(super) async fn remove_admin(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let email = form.text("email");
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) if email.eq_ignore_ascii_case(&signed.who.admin.email) => Err(PageError(
            StatusCode::CONFLICT,
            "You cannot remove yourself; another administrator can.".into(),
        )),
        Ok(()) => state
            .lifecycle
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

/// "Unlock" on a locked-out administrator's row, after its confirmation.
pub(super) async fn unlock_admin(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => state
            .lifecycle
            .unlock_admin(signed.org_id(), &form.text("email"), &signed.actor())
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/settings?done=admin-unlocked")),
        Err(e) => {
            let (status, flash) = split(e)?;
            settings_page(&state, &signed, flash, status, String::new(), None).await
        }
    }
}

/// "End sessions" on another administrator's row, after its confirmation.
pub(super) async fn end_sessions(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let email = form.text("email");
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) if email.eq_ignore_ascii_case(&signed.who.admin.email) => Err(PageError(
            StatusCode::CONFLICT,
            "To end your own session, sign out.".into(),
        )),
        Ok(()) => state
            .lifecycle
            .end_admin_sessions(signed.org_id(), &email, &signed.actor())
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/settings?done=sessions-ended")),
        Err(e) => {
            let (status, flash) = split(e)?;
            settings_page(&state, &signed, flash, status, String::new(), None).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin_confirm.html")]
struct ConfirmPage {
    l: Layout,
    question: String,
    points: Vec<&'static str>,
    action: &'static str,
    email: String,
    button: &'static str,
}

pub(super) async fn confirm_remove(
    State(state): State<Arc<AppState>>, signed: Signed, q: Query<HashMap<String, String>>,
) -> PageResult {
    confirm_admin_act(&state, &signed, &q, "remove").await
}

pub(super) async fn confirm_unlock(
    State(state): State<Arc<AppState>>, signed: Signed, q: Query<HashMap<String, String>>,
) -> PageResult {
    confirm_admin_act(&state, &signed, &q, "unlock").await
}

pub(super) async fn confirm_end_sessions(
    State(state): State<Arc<AppState>>, signed: Signed, q: Query<HashMap<String, String>>,
) -> PageResult {
    confirm_admin_act(&state, &signed, &q, "end-sessions").await
}

/// The confirmation page of an act on an administrator (`GET /settings/administrators/ACT?email=`);
/// its form posts to the same path.
async fn confirm_admin_act(
    state: &AppState, signed: &Signed, q: &Query<HashMap<String, String>>, act: &str,
) -> PageResult {
    signed.require_administrator()?;
    let email = q.get("email").cloned().unwrap_or_default();
    let admin = state
        .store
        .list_admins(signed.org_id())
        .await?
        .into_iter()
        .find(|a| a.email.eq_ignore_ascii_case(email.trim()))
        .ok_or_else(PageError::not_found)?;
    let (title, question, points, action, button): (_, _, Vec<&'static str>, _, _) = match act {
        "remove" => (
            "Remove administrator",
            format!("Remove the administrator {}?", admin.email),
            vec![
                "They are signed out everywhere at once and can no longer sign in.",
                "Their past acts stay in the activity log.",
            ],
            "/settings/administrators/remove",
            "Remove",
        ),
        "unlock" => (
            "Unlock address",
            format!("Unlock sign-in for {}?", admin.email),
            vec![
                "The lock-out after repeated failed sign-ins is lifted and the failures are forgotten.",
                "Do this only when you know the failures were theirs.",
            ],
            "/settings/administrators/unlock",
            "Unlock",
        ),
        "end-sessions" => (
            "End sessions",
            format!("Sign {} out everywhere?", admin.email),
            vec![
                "Every session of theirs ends at once, in every browser and API client.",
                "They can sign in again with their password.",
            ],
            "/settings/administrators/end-sessions",
            "End sessions",
        ),
        _ => return Err(PageError::not_found()),
    };
    Ok(super::render(&ConfirmPage {
        l: signed.layout(title, Nav::Settings, None),
        question,
        points,
        action,
        email: admin.email,
        button,
    }))
}

/// The organisation's name and, while it has no accounts, its kind.
pub(super) async fn update_org(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    // A disabled kind field is not sent: the kind then stays as it is.
    let kind = match form.text("kind").as_str() {
        "" => Ok(signed.org.kind),
        k => k.parse::<OrgKind>(),
    };
    let result = match (signed.require_administrator(), kind) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(m)) => Err(PageError(StatusCode::BAD_REQUEST, m)),
        (Ok(()), Ok(kind)) => state
            .lifecycle
            .update_org(
                signed.org_id(),
                form.get("name").unwrap_or_default(),
                kind,
                &signed.actor(),
            )
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/settings?done=org-updated")),
        Err(e) => {
            let (status, flash) = split(e)?;
            settings_page(&state, &signed, flash, status, String::new(), None).await
        }
    }
}

/// The organisation's time zone, an IANA name, for the times the console shows.
pub(super) async fn set_time_zone(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => state
            .lifecycle
            .set_time_zone(
                signed.org_id(),
                form.get("time_zone").unwrap_or_default(),
                &signed.actor(),
            )
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/settings?done=time-zone-set")),
        Err(e) => {
            let (status, flash) = split(e)?;
            settings_page(&state, &signed, flash, status, String::new(), None).await
        }
    }
}

/// "Send test e-mail", through the SMTP relay `serve` delivers notices with.
pub(super) async fn test_email(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
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
