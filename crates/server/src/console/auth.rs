//! Sign-in by e-mail address and password, the choice of organisation when one password
//! opens several, the second step (a code) for administrators with two-step verification,
//! sign-out, and the first administrator's set-up link.
//!
//! The pending choice and the pending second step are handles in short-lived cookies of this
//! browser; their records are in the database, so any instance can finish them.

use super::csrf::{self, Form};
use super::{Flash, Layout, PageError, PageResult, Signed, render_status, see_other};
use crate::context::RequestContext;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use directory::Failure;
use directory::OrgId;
use directory::OrgKind;
use directory::session::{
    CHOICE_LIFETIME, SECOND_STEP_LIFETIME, SESSION_LIFETIME, SessionError, SignInOutcome,
};
use directory::setup::{FirstRun, Setup, SetupError};
use std::collections::HashMap;
use std::sync::Arc;

/// A set-up link for `org`'s first administrator (`{origin}/setup/{org}/{secret}`), when it
/// has none yet; `None` once it has one. Each call makes a new link (`scimd serve` prints one
/// at every start until the first administrator exists).
pub async fn first_run_link(
    state: &AppState, org: OrgId, origin: &str,
) -> Result<Option<String>, SetupError> {
    let setup = Setup::new(state.store.clone(), state.clock.clone());
    if !setup.needs_first_admin(org).await? {
        return Ok(None);
    }
    let secret = setup.create_link(org).await?;
    Ok(Some(format!(
        "{}/setup/{org}/{secret}",
        origin.trim_end_matches('/')
    )))
}

/// The pre-session cookie's value for an anonymous form: the one the browser has, or a new
/// one to set.
fn presession(name: &str, headers: &HeaderMap) -> Result<(String, bool), PageError> {
    match csrf::cookie(headers, name) {
        Some(v) => Ok((v, false)),
        None => csrf::new_presession()
            .map(|v| (v, true))
            .map_err(|_| PageError::internal()),
    }
}

pub(super) fn with_cookie(mut r: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Renders an anonymous page, setting the pre-session cookie when it is new.
pub(super) fn anonymous_page(
    state: &AppState, headers: &HeaderMap, page: impl FnOnce(String) -> Response,
) -> PageResult {
    let secure = csrf::https(state, headers);
    let name = csrf::presession_cookie(secure);
    let (value, new) = presession(name, headers)?;
    let r = page(csrf::token_for(&value));
    Ok(if new {
        with_cookie(r, csrf::set_cookie(name, &value, None, secure))
    } else {
        r
    })
}

/// Why a console sign-in did not go through.
enum SigninRefusal {
    /// The address is over its budget of failed sign-ins.
    Throttled(std::time::Duration),
    Refused(SessionError),
}
use SigninRefusal::{Refused, Throttled};

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    l: Layout,
    email: String,
}

#[derive(Template)]
#[template(path = "choose.html")]
struct ChoosePage {
    l: Layout,
    email: String,
    organisations: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "second_step.html")]
struct SecondStepPage {
    l: Layout,
    email: String,
    /// The form asks for a recovery code rather than the app's code.
    recovery: bool,
}

const CHOICE_COOKIE: &str = "scimd_choice";
const SECURE_CHOICE_COOKIE: &str = "__Host-scimd_choice";
const STEP_COOKIE: &str = "scimd_second_step";
const SECURE_STEP_COOKIE: &str = "__Host-scimd_second_step";

fn choice_cookie(secure: bool) -> &'static str {
    if secure {
        SECURE_CHOICE_COOKIE
    } else {
        CHOICE_COOKIE
    }
}

/// The cookie of a pending second step: `{organisation}.{handle}`.
fn step_cookie(secure: bool) -> &'static str {
    if secure {
        SECURE_STEP_COOKIE
    } else {
        STEP_COOKIE
    }
}

/// The pending second step this browser holds: its organisation and handle.
fn pending_step(state: &AppState, headers: &HeaderMap) -> Option<(OrgId, String)> {
    let value = csrf::cookie(headers, step_cookie(csrf::https(state, headers)))?;
    let (org, handle) = value.split_once('.')?;
    Some((org.parse().ok()?, handle.to_owned()))
}

pub(super) async fn signin_page(
    State(state): State<Arc<AppState>>, headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let flash = match q.get("done").map(String::as_str) {
        Some("signed-out") => Flash::ok("You are signed out."),
        Some("admin-created") => Flash::ok("The administrator was created. Sign in to continue."),
        _ => None,
    };
    signin_form(&state, &headers, StatusCode::OK, flash, String::new())
}

fn signin_form(
    state: &AppState, headers: &HeaderMap, status: StatusCode, flash: Option<Flash>, email: String,
) -> PageResult {
    anonymous_page(state, headers, |csrf| {
        render_status(
            status,
            &SigninPage {
                l: Layout::anonymous("Sign in", csrf, flash),
                email,
            },
        )
    })
}

/// The answer to a sign-in that opened a session: the session cookie, the pre-session and
/// choice cookies gone, and on to the console.
pub(super) fn signed_in(state: &AppState, headers: &HeaderMap, secret: &str) -> Response {
    let secure = csrf::https(state, headers);
    let r = with_cookie(
        see_other("/directory-sync"),
        csrf::set_cookie(
            csrf::session_cookie(secure),
            secret,
            Some(SESSION_LIFETIME.whole_seconds()),
            secure,
        ),
    );
    let r = with_cookie(
        r,
        csrf::set_cookie(choice_cookie(secure), "", Some(0), secure),
    );
    let r = with_cookie(
        r,
        csrf::set_cookie(step_cookie(secure), "", Some(0), secure),
    );
    with_cookie(
        r,
        csrf::set_cookie(csrf::presession_cookie(secure), "", Some(0), secure),
    )
}

pub(super) async fn signin(
    State(state): State<Arc<AppState>>, ctx: RequestContext, headers: HeaderMap, form: Form,
) -> PageResult {
    let ip = ctx.ip;
    let email = form.text("email");
    let password = form.get("password").unwrap_or_default().to_owned();
    // The same per-address budget of failures as the API's sign-in and SCIM's tokens.
    let result = if let Some(wait) = state.ops.throttled(ip) {
        Err(Throttled(wait))
    } else {
        let result = state.sessions.sign_in(None, &email, &password).await;
        if matches!(result, Err(SessionError::BadCredentials)) {
            state.ops.auth_failed(ip);
        }
        result.map_err(Refused)
    };
    match result {
        Ok(SignInOutcome::SignedIn(secret, _)) => Ok(signed_in(&state, &headers, &secret)),
        Ok(o @ SignInOutcome::SecondStep { .. }) => second_step_begins(&state, &headers, o),
        Ok(SignInOutcome::Choose {
            handle,
            organisations,
        }) => {
            let secure = csrf::https(&state, &headers);
            let page = anonymous_page(&state, &headers, |csrf| {
                render_status(
                    StatusCode::OK,
                    &ChoosePage {
                        l: Layout::anonymous("Choose an organisation", csrf, None),
                        email: email.clone(),
                        organisations: organisations
                            .iter()
                            .map(|o| (o.id.to_string(), o.name.clone()))
                            .collect(),
                    },
                )
            })?;
            Ok(with_cookie(
                page,
                csrf::set_cookie(
                    choice_cookie(secure),
                    &handle,
                    Some(CHOICE_LIFETIME.whole_seconds()),
                    secure,
                ),
            ))
        }
        Err(e) => {
            let (status, message, retry) = match e {
                Refused(SessionError::BadCredentials) => (
                    StatusCode::UNAUTHORIZED,
                    "The e-mail address or password is not correct.".to_owned(),
                    None,
                ),
                Throttled(wait) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed sign-ins from this address. Try again in a minute.".to_owned(),
                    Some(wait.as_secs().max(1)),
                ),
                Refused(e @ SessionError::LockedOut(_)) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    capitalise(&e.to_string()),
                    None,
                ),
                Refused(e @ SessionError::Busy) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    capitalise(&e.to_string()),
                    Some(1),
                ),
                Refused(e @ SessionError::PasswordTooLong) => {
                    (StatusCode::BAD_REQUEST, capitalise(&e.to_string()), None)
                }
                Refused(other) => return Err(other.into()),
            };
            let mut page = signin_form(&state, &headers, status, Flash::error(message), email)?;
            if let Some(v) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                page.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(page)
        }
    }
}

/// The chosen organisation of a pending sign-in (the handle is in this browser's cookie).
pub(super) async fn choose(
    State(state): State<Arc<AppState>>, headers: HeaderMap, form: Form,
) -> PageResult {
    let secure = csrf::https(&state, &headers);
    let handle = csrf::cookie(&headers, choice_cookie(secure)).unwrap_or_default();
    let result = match form.text("organisation").parse::<OrgId>() {
        Ok(org) if !handle.is_empty() => state.sessions.choose(&handle, org).await,
        _ => Err(SessionError::InvalidChoice),
    };
    match result {
        Ok(SignInOutcome::SignedIn(secret, _)) => Ok(signed_in(&state, &headers, &secret)),
        Ok(o @ SignInOutcome::SecondStep { .. }) => second_step_begins(&state, &headers, o),
        // A choice never leads to another choice.
        Ok(SignInOutcome::Choose { .. }) => Err(PageError::internal()),
        Err(e @ SessionError::InvalidChoice) => {
            let page = signin_form(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                Flash::error(capitalise(&e.to_string())),
                String::new(),
            )?;
            Ok(with_cookie(
                page,
                csrf::set_cookie(choice_cookie(secure), "", Some(0), secure),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// The answer to a password (or password link) that leads to the second step: the code's
/// page, and the pending step's cookie for this browser.
pub(super) fn second_step_begins(
    state: &AppState, headers: &HeaderMap, outcome: SignInOutcome,
) -> PageResult {
    match outcome {
        SignInOutcome::SignedIn(secret, _) => Ok(signed_in(state, headers, &secret)),
        SignInOutcome::SecondStep { handle, admin } => {
            let secure = csrf::https(state, headers);
            let page = second_step_form(
                state,
                headers,
                StatusCode::OK,
                None,
                admin.email.clone(),
                false,
            )?;
            let page = with_cookie(
                page,
                csrf::set_cookie(choice_cookie(secure), "", Some(0), secure),
            );
            Ok(with_cookie(
                page,
                csrf::set_cookie(
                    step_cookie(secure),
                    &format!("{}.{handle}", admin.org_id),
                    Some(SECOND_STEP_LIFETIME.whole_seconds()),
                    secure,
                ),
            ))
        }
        SignInOutcome::Choose { .. } => Err(PageError::internal()),
    }
}

fn second_step_form(
    state: &AppState, headers: &HeaderMap, status: StatusCode, flash: Option<Flash>, email: String,
    recovery: bool,
) -> PageResult {
    anonymous_page(state, headers, |csrf| {
        render_status(
            status,
            &SecondStepPage {
                l: Layout::anonymous("Two-step verification", csrf, flash),
                email,
                recovery,
            },
        )
    })
}

/// The sign-in form again, with why, and the pending second step's cookie gone.
fn start_again(
    state: &AppState, headers: &HeaderMap, status: StatusCode, message: String,
) -> PageResult {
    let secure = csrf::https(state, headers);
    let page = signin_form(state, headers, status, Flash::error(message), String::new())?;
    Ok(with_cookie(
        page,
        csrf::set_cookie(step_cookie(secure), "", Some(0), secure),
    ))
}

/// The second step's page again (`?recovery=1` asks for a recovery code instead).
pub(super) async fn second_step_page(
    State(state): State<Arc<AppState>>, headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let pending = match pending_step(&state, &headers) {
        Some((org, handle)) => state.sessions.pending_second_step(org, &handle).await?,
        None => None,
    };
    let Some(admin) = pending else {
        return start_again(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            capitalise(&SessionError::InvalidChoice.to_string()),
        );
    };
    let recovery = q.get("recovery").is_some_and(|v| v == "1");
    second_step_form(
        &state,
        &headers,
        StatusCode::OK,
        None,
        admin.email,
        recovery,
    )
}

/// The code of a pending second step: a session once it is right.
pub(super) async fn second_step(
    State(state): State<Arc<AppState>>, ctx: RequestContext, headers: HeaderMap, form: Form,
) -> PageResult {
    let ip = ctx.ip;
    let recovery = form.text("recovery") == "1";
    let Some((org, handle)) = pending_step(&state, &headers) else {
        return start_again(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            capitalise(&SessionError::InvalidChoice.to_string()),
        );
    };
    if let Some(wait) = state.ops.throttled(ip) {
        let admin = state.sessions.pending_second_step(org, &handle).await?;
        let mut page = second_step_form(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Flash::error("Too many failed sign-ins from this address. Try again in a minute."),
            admin.map(|a| a.email).unwrap_or_default(),
            recovery,
        )?;
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(page);
    }
    let admin = state.sessions.pending_second_step(org, &handle).await?;
    match state
        .sessions
        .second_step(org, &handle, &form.text("code"))
        .await
    {
        Ok((secret, _)) => Ok(signed_in(&state, &headers, &secret)),
        Err(e @ SessionError::WrongCode) => {
            state.ops.auth_failed(ip);
            let message = if recovery {
                "The recovery code is not correct, or was already used.".to_owned()
            } else {
                "The code is not correct, or was already used: each code works once, so enter the next one your app shows."
                    .to_owned()
            };
            let flash = Flash::error(message).map(|f| Flash {
                field: e.field().map(str::to_owned),
                ..f
            });
            second_step_form(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                flash,
                admin.map(|a| a.email).unwrap_or_default(),
                recovery,
            )
        }
        Err(e @ SessionError::LockedOut(_)) => start_again(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            capitalise(&e.to_string()),
        ),
        Err(e @ SessionError::InvalidChoice) => start_again(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            capitalise(&e.to_string()),
        ),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn signout(
    State(state): State<Arc<AppState>>, headers: HeaderMap, signed: Signed,
) -> PageResult {
    state.sessions.sign_out(&signed.who).await?;
    let secure = csrf::https(&state, &headers);
    Ok(with_cookie(
        see_other("/signin?done=signed-out"),
        csrf::set_cookie(csrf::session_cookie(secure), "", Some(0), secure),
    ))
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    l: Layout,
    org_name: String,
    school: bool,
    action: String,
    email: String,
}

const SETUP_TITLE: &str = "Set up scimd";

fn setup_error(e: SetupError) -> PageError {
    let PageError(status, message) = e.into();
    PageError(status, capitalise(&message))
}

async fn setup_target(
    state: &AppState, org: &str, secret: &str,
) -> Result<directory::Organisation, PageError> {
    let invalid = || setup_error(SetupError::InvalidLink);
    let org: OrgId = org.parse().map_err(|_| invalid())?;
    let o = state.store.get_org(org).await?.ok_or_else(invalid)?;
    Setup::new(state.store.clone(), state.clock.clone())
        .check(org, secret)
        .await
        .map_err(setup_error)?;
    Ok(o)
}

pub(super) async fn setup_page(
    State(state): State<Arc<AppState>>, headers: HeaderMap,
    Path((org, secret)): Path<(String, String)>,
) -> PageResult {
    let o = setup_target(&state, &org, &secret).await?;
    anonymous_page(&state, &headers, |csrf| {
        render_status(
            StatusCode::OK,
            &SetupPage {
                l: Layout::anonymous(SETUP_TITLE, csrf, None),
                org_name: o.name.clone(),
                school: o.kind == OrgKind::School,
                action: format!("/setup/{org}/{secret}"),
                email: String::new(),
            },
        )
    })
}

pub(super) async fn setup(
    State(state): State<Arc<AppState>>, headers: HeaderMap,
    Path((org, secret)): Path<(String, String)>, form: Form,
) -> PageResult {
    let o = setup_target(&state, &org, &secret).await?;
    let email = form.text("email");
    let password = form.get("password").unwrap_or_default();
    // A form without the fields (an older page) keeps the name and kind as they are.
    let org_name = form.get("org_name").unwrap_or(&o.name).to_owned();
    let kind = match form.text("kind").as_str() {
        "" => Ok(o.kind),
        k => k.parse::<OrgKind>(),
    };
    let refused = |status: StatusCode, message: String| {
        anonymous_page(&state, &headers, |csrf| {
            render_status(
                status,
                &SetupPage {
                    l: Layout::anonymous(SETUP_TITLE, csrf, Flash::error(message)),
                    org_name: org_name.clone(),
                    school: matches!(kind, Ok(OrgKind::School)),
                    action: format!("/setup/{org}/{secret}"),
                    email: email.clone(),
                },
            )
        })
    };
    let Ok(kind) = kind else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Choose the organisation's kind: business or school.".into(),
        );
    };
    if form.get("confirm").unwrap_or_default() != password {
        return refused(
            StatusCode::BAD_REQUEST,
            "The two passwords are not the same.".into(),
        );
    }
    let first = FirstRun {
        org_name: &org_name,
        kind,
        email: &email,
        password,
    };
    match Setup::new(state.store.clone(), state.clock.clone())
        .redeem(&o, &secret, &first)
        .await
    {
        // The link proved who this is: the new administrator is signed in at once.
        Ok((admin, _)) => {
            let (session, _) = state.sessions.start(admin).await?;
            Ok(signed_in(&state, &headers, &session))
        }
        Err(e @ (SetupError::InvalidLink | SetupError::AlreadySetUp)) => Err(setup_error(e)),
        Err(e) => {
            let PageError(status, message) = setup_error(e);
            if status.is_server_error() {
                return Err(PageError(status, message));
            }
            refused(status, message)
        }
    }
}

/// Service messages start in lower case (they are also CLI and API text); a page shows them
/// as sentences.
pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
