//! Passwords in the console: "Forgot password?", the page a reset or invitation link opens,
//! "Invite" on Settings, and changing one's own password.
//!
//! The forgotten-password form answers with the same page and status whatever the address;
//! the lookup, the links and the e-mails happen after the answer, on a task of their own.
//! An invitation link made without SMTP is shown once: the POST keeps it as a one-time reveal
//! (`super::reveal`, in the store, so any instance shows it) and redirects
//! (POST/redirect/GET); the page that takes the handle shows the link and it is gone, so a
//! reload shows it no more and creates nothing. The link's own record keeps only its hash.

use super::csrf::{self, Form};
use super::{Flash, Layout, PageError, PageResult, Signed, render_status, see_other};
use crate::context::RequestContext;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use directory::OrgId;
use directory::passwords::{PasswordError, Passwords};
use directory::session::SESSION_LIFETIME;
use directory::store::{AdminRole, LinkPurpose};
use std::sync::Arc;

/// The link to show on Settings: `(email, link)`, taken once by the administrator who made it.
pub(super) async fn take_reveal(
    state: &AppState, signed: &Signed, handle: &str,
) -> Result<Option<(String, String)>, PageError> {
    Ok(super::reveal::take(state, signed, handle, "invite")
        .await?
        .map(|v| {
            (
                super::reveal::field(&v, "email"),
                super::reveal::field(&v, "link"),
            )
        }))
}

/// The console's origin for links: the one `serve` printed, else the public URL's.
fn origin(state: &AppState) -> Option<String> {
    state.console_origin.get().cloned().or_else(|| {
        state
            .public_url
            .as_deref()
            .map(|u| super::origin(Some(u), std::net::SocketAddr::from(([127, 0, 0, 1], 0))))
    })
}

fn passwords(state: &AppState) -> Passwords {
    Passwords::new(
        state.store.clone(),
        state.clock.clone(),
        state.sessions.clone(),
    )
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    l: Layout,
    sent: bool,
}

pub(super) async fn forgot_page(
    State(state): State<Arc<AppState>>, headers: HeaderMap,
) -> PageResult {
    super::auth::anonymous_page(&state, &headers, |csrf| {
        render_status(
            StatusCode::OK,
            &ForgotPage {
                l: Layout::anonymous("Forgot password", csrf, None),
                sent: false,
            },
        )
    })
}

/// The same answer for every address; the work runs afterwards.
pub(super) async fn forgot(
    State(state): State<Arc<AppState>>, ctx: RequestContext, headers: HeaderMap, form: Form,
) -> PageResult {
    let ip = ctx.ip;
    // Under the per-client budget of failed authentications: nobody mails an address in a loop.
    if state.ops.throttled(ip).is_none() {
        state.ops.auth_failed(ip);
        let email = form.text("email");
        let service = passwords(&state);
        let mailer = state.mailer.clone();
        match origin(&state) {
            Some(origin) => {
                tokio::spawn(async move {
                    if let Err(e) = service
                        .request_reset(&email, &origin, mailer.as_deref())
                        .await
                    {
                        tracing::error!(error = %e, "a forgotten-password request failed");
                    }
                });
            }
            None => tracing::error!("no console address is known: no reset link can be made"),
        }
    }
    super::auth::anonymous_page(&state, &headers, |csrf| {
        render_status(
            StatusCode::OK,
            &ForgotPage {
                l: Layout::anonymous("Forgot password", csrf, None),
                sent: true,
            },
        )
    })
}

#[derive(Template)]
#[template(path = "password.html")]
struct SetPasswordPage {
    l: Layout,
    org_name: String,
    email: String,
    invite: bool,
    action: String,
}

fn link_error(e: PasswordError) -> PageError {
    match e {
        PasswordError::InvalidLink => {
            PageError(StatusCode::GONE, super::auth::capitalise(&e.to_string()))
        }
        PasswordError::Weak(m) => PageError(StatusCode::BAD_REQUEST, super::auth::capitalise(&m)),
        PasswordError::Store(s) => s.into(),
        PasswordError::Session(s) => s.into(),
        PasswordError::Lifecycle(l) => l.into(),
        PasswordError::WrongPassword => PageError(
            StatusCode::BAD_REQUEST,
            super::auth::capitalise(&e.to_string()),
        ),
    }
}

fn link_org(org: &str) -> Result<OrgId, PageError> {
    org.parse()
        .map_err(|_| link_error(PasswordError::InvalidLink))
}

fn set_password_page(
    state: &AppState, headers: &HeaderMap, view: &directory::passwords::LinkView, action: String,
    status: StatusCode, flash: Option<Flash>,
) -> PageResult {
    let invite = view.purpose == LinkPurpose::Invite;
    let title = if invite {
        "Choose your password"
    } else {
        "Set a new password"
    };
    super::auth::anonymous_page(state, headers, |csrf| {
        render_status(
            status,
            &SetPasswordPage {
                l: Layout::anonymous(title, csrf, flash),
                org_name: view.org.name.clone(),
                email: view.email.clone(),
                invite,
                action,
            },
        )
    })
}

pub(super) async fn link_page(
    State(state): State<Arc<AppState>>, headers: HeaderMap,
    Path((org, secret)): Path<(String, String)>,
) -> PageResult {
    let view = passwords(&state)
        .check_link(link_org(&org)?, &secret)
        .await
        .map_err(link_error)?;
    set_password_page(
        &state,
        &headers,
        &view,
        format!("/password/{org}/{secret}"),
        StatusCode::OK,
        None,
    )
}

/// Sets the password through the link once, then signs the person in.
pub(super) async fn use_link(
    State(state): State<Arc<AppState>>, headers: HeaderMap,
    Path((org, secret)): Path<(String, String)>, form: Form,
) -> PageResult {
    let org_id = link_org(&org)?;
    let service = passwords(&state);
    let view = service
        .check_link(org_id, &secret)
        .await
        .map_err(link_error)?;
    let password = form.get("password").unwrap_or_default();
    let action = format!("/password/{org}/{secret}");
    if form.get("confirm").unwrap_or_default() != password {
        return set_password_page(
            &state,
            &headers,
            &view,
            action,
            StatusCode::BAD_REQUEST,
            Flash::error("The two passwords are not the same."),
        );
    }
    match service.redeem(org_id, &secret, password).await {
        Ok(outcome) => super::auth::second_step_begins(&state, &headers, outcome),
        Err(PasswordError::Weak(m)) => set_password_page(
            &state,
            &headers,
            &view,
            action,
            StatusCode::BAD_REQUEST,
            Flash::error(super::auth::capitalise(&m)),
        ),
        Err(e) => Err(link_error(e)),
    }
}

/// "Invite" on Settings: the administrator is added without a password, and the link that
/// sets one is e-mailed (SMTP) or shown once.
pub(super) async fn invite(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let email = form.text("email");
    let result = match (
        signed.require_administrator(),
        form.text("role").parse::<AdminRole>(),
    ) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(m)) => Err(PageError(StatusCode::BAD_REQUEST, m)),
        (Ok(()), Ok(role)) => passwords(&state)
            .invite(&signed.org, &email, role, &signed.actor())
            .await
            .map_err(|e| match e {
                PasswordError::Lifecycle(l) => l.into(),
                other => link_error(other),
            }),
    };
    let link = match result {
        Ok(link) => link,
        Err(e) => return super::settings::refused(&state, &signed, e, email).await,
    };
    let origin = origin(&state).unwrap_or_default();
    match state.mailer.clone() {
        Some(mailer) => {
            let mail = link.mail(&origin);
            tokio::spawn(async move {
                if let Err(e) = mailer.send(&mail).await {
                    tracing::error!(error = %e, "cannot send an invitation");
                }
            });
            Ok(see_other("/settings?done=invited"))
        }
        None => {
            let kept = serde_json::json!({
                "kind": "invite",
                "email": link.admin.email,
                "link": link.url(&origin),
            });
            let handle = super::reveal::keep(&state, &signed, kept).await?;
            Ok(see_other(&format!(
                "/settings?invited={}",
                super::enc(&handle)
            )))
        }
    }
}

/// "Change password" on Settings: the current one, the new one twice. Every session of the
/// administrator ends; this browser gets a new one.
pub(super) async fn change(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed, form: Form,
) -> PageResult {
    let new = form.get("new").unwrap_or_default();
    if form.get("confirm").unwrap_or_default() != new {
        let e = PageError(
            StatusCode::BAD_REQUEST,
            "The two new passwords are not the same.".into(),
        );
        return super::settings::refused(&state, &signed, e, String::new()).await;
    }
    match passwords(&state)
        .change_own(&signed.who, form.get("current").unwrap_or_default(), new)
        .await
    {
        Ok((session, _)) => {
            let secure = csrf::https(&state, &headers);
            Ok(super::auth::with_cookie(
                see_other("/settings?done=password-changed"),
                csrf::set_cookie(
                    csrf::session_cookie(secure),
                    &session,
                    Some(SESSION_LIFETIME.whole_seconds()),
                    secure,
                ),
            ))
        }
        Err(PasswordError::Session(e @ directory::session::SessionError::LockedOut(_))) => {
            let e = PageError(
                StatusCode::TOO_MANY_REQUESTS,
                super::auth::capitalise(&e.to_string()),
            );
            super::settings::refused(&state, &signed, e, String::new()).await
        }
        Err(e) => super::settings::refused(&state, &signed, link_error(e), String::new()).await,
    }
}
