//! The administrators' web console, served at `/` beside the SCIM API: server-rendered HTML
//! for one organisation's administrators. Plain forms and links, usable without JavaScript; a
//! small embedded script only adds the Copy button. Every act calls the same services as the
//! API and the CLI (which log it), with the signed-in administrator as the actor. One file per
//! page: [`sync`] (directory sync: tokens, connection, conflicts), [`accounts`], [`groups`],
//! [`domains`], [`activity`], [`applications`] and [`settings`] (with one's own two-step
//! verification in [`two_step`]); sign-in, its second step and set-up in [`auth`].
//!
//! Security model:
//!
//! - **Sessions**: [`directory::session::Sessions`]; the secret travels in the `scimd_session`
//!   cookie (`HttpOnly`, `SameSite=Strict`, `Path=/`; `Secure` and named
//!   `__Host-scimd_session` when the console is reached over HTTPS or `--public-url` is
//!   https). Only its hash is stored. Every page takes the organisation from the session
//!   alone, and every service call is scoped to it, so one organisation's session can never
//!   name another's data (an id from elsewhere is 404).
//! - **CSRF**: every POST goes through [`csrf::guard`] before any handler runs. A form carries
//!   a hidden `csrf` field equal to SHA-256 of a domain-separated session secret (or, on the
//!   sign-in and set-up forms only, of a random `scimd_presession` cookie). Another site can
//!   neither read the cookie nor the page, so it cannot produce the field; a POST without it
//!   is 403 and reaches no handler. The token needs no server-side state, so it works across
//!   instances.
//! - **Lock-out**: in `Sessions::sign_in`, counted in the database (see there); wrong codes
//!   of the second step count the same.
//! - **Two-step verification**: a session that must enrol first (its organisation requires
//!   it) reaches `/settings/two-step` and sign-out only; every other page redirects there.
//! - Pages are `no-store`, framed by nobody, and send no `Referer` (the set-up link's secret is
//!   in its path).

mod account_roles;
mod account_view;
mod accounts;
mod activity;
mod applications;
mod auth;
pub(crate) mod csrf;
mod domains;
mod groups;
mod password;
mod reveal;
mod roles;
mod settings;
mod sync;
mod two_step;

use crate::api::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use directory::session::SignedIn;
use directory::store::AdminRole;
use directory::{OrgId, Organisation};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use time::OffsetDateTime;

pub use auth::first_run_link;

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

/// The console's routes, merged into the main router at `/`.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signin/choose", post(auth::choose))
        .route(
            "/signin/second-step",
            get(auth::second_step_page).post(auth::second_step),
        )
        .route(
            "/forgot-password",
            get(password::forgot_page).post(password::forgot),
        )
        .route(
            "/password/{org}/{secret}",
            get(password::link_page).post(password::use_link),
        )
        .route("/signout", post(auth::signout))
        .route(
            "/setup/{org}/{secret}",
            get(auth::setup_page).post(auth::setup),
        )
        .route("/directory-sync", get(sync::page))
        .route("/directory-sync/tokens", post(sync::generate))
        .route("/directory-sync/tokens/new/{handle}", get(sync::show_token))
        .route(
            "/directory-sync/tokens/{id}/revoke",
            get(sync::confirm_revoke).post(sync::revoke),
        )
        .route("/directory-sync/auto-merge", post(sync::auto_merge))
        .route(
            "/directory-sync/disconnect",
            get(sync::confirm_disconnect).post(sync::disconnect),
        )
        .route("/directory-sync/conflicts.csv", get(sync::conflicts_csv))
        .route("/directory-sync/conflicts/merge", post(sync::merge))
        .route("/directory-sync/conflicts/merge-all", post(sync::merge_all))
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route("/accounts/new", get(accounts::new_page))
        .route("/accounts/{id}", get(accounts::show))
        .route(
            "/accounts/{id}/edit",
            get(accounts::edit_page).post(accounts::edit),
        )
        .route("/accounts/{id}/local", post(accounts::edit_local))
        .route("/accounts/{id}/release", post(accounts::release))
        .route("/accounts/roles", post(account_roles::assign_roles))
        .route("/accounts/{id}/roles/add", post(account_roles::add_role))
        .route(
            "/accounts/{id}/roles/remove",
            post(account_roles::remove_role),
        )
        .route("/roles", get(roles::page).post(roles::add_role))
        .route("/roles/remove", post(roles::remove_role))
        .route("/roles/apply", post(roles::apply))
        .route("/roles/rules", post(roles::create_rule))
        .route(
            "/roles/rules/{id}",
            get(roles::edit_page).post(roles::edit_rule),
        )
        .route("/roles/rules/{id}/delete", post(roles::delete_rule))
        .route("/roles/rules/{id}/move", post(roles::move_rule))
        .route("/groups", get(groups::groups).post(groups::create))
        .route("/groups/new", get(groups::new_page))
        .route("/groups/{id}", get(groups::group))
        .route(
            "/groups/{id}/delete",
            get(groups::confirm_delete).post(groups::delete),
        )
        .route("/groups/{id}/{act}", post(groups::change))
        .route("/domains", get(domains::domains).post(domains::add_domain))
        .route("/domains/{name}/verify", post(domains::verify_domain))
        .route("/domains/{name}/remove", post(domains::remove_domain))
        .route("/activity", get(activity::activity))
        .route(
            "/applications",
            get(applications::list).post(applications::create),
        )
        .route(
            "/applications/{id}/revoke",
            get(applications::confirm_revoke).post(applications::revoke),
        )
        .route("/applications/shown/{handle}", get(applications::shown))
        .route("/applications/webhooks", post(applications::add_webhook))
        .route(
            "/applications/webhooks/{id}",
            get(applications::show_webhook),
        )
        .route(
            "/applications/webhooks/{id}/replay",
            post(applications::replay),
        )
        .route(
            "/applications/webhooks/{id}/rotate-secret",
            post(applications::rotate_secret),
        )
        .route(
            "/applications/webhooks/{id}/remove",
            post(applications::remove_webhook),
        )
        .route("/settings", get(settings::settings))
        .route("/settings/administrators", post(settings::add_admin))
        .route("/settings/administrators/invite", post(password::invite))
        .route("/settings/password", post(password::change))
        .route(
            "/settings/administrators/remove",
            get(settings::confirm_remove).post(settings::remove_admin),
        )
        .route(
            "/settings/administrators/unlock",
            get(settings::confirm_unlock).post(settings::unlock_admin),
        )
        .route(
            "/settings/administrators/end-sessions",
            get(settings::confirm_end_sessions).post(settings::end_sessions),
        )
        .route("/settings/organisation", post(settings::update_org))
        .route("/settings/time-zone", post(settings::set_time_zone))
        .route("/settings/test-email", post(settings::test_email))
        .route("/settings/two-step", get(two_step::show))
        .route("/settings/two-step/confirm", post(two_step::confirm))
        .route(
            "/settings/two-step/recovery-codes",
            post(two_step::regenerate),
        )
        .route(
            "/settings/two-step/recovery-codes/{handle}",
            get(two_step::codes),
        )
        .route("/settings/two-step/off", post(two_step::turn_off))
        .route("/settings/require-two-step", post(two_step::set_required))
        .route(
            "/console/applications/webhooks/{id}/test",
            post(crate::webhooks::routes::console_test),
        )
        .route("/console/console.css", get(css))
        .route("/console/console.js", get(js))
        .layer(axum::middleware::from_fn_with_state(state, csrf::guard))
        .layer(axum::middleware::map_response(security_headers))
}

/// The console's address for messages: the public URL without its `/scim/v2`, or the
/// listener's.
pub fn origin(public_url: Option<&str>, local: SocketAddr) -> String {
    match public_url {
        Some(u) => u
            .trim_end_matches('/')
            .trim_end_matches("/scim/v2")
            .to_owned(),
        None => format!("http://{local}"),
    }
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    r
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

async fn home(signed: Option<Signed>) -> Redirect {
    match signed {
        Some(_) => Redirect::to("/directory-sync"),
        None => Redirect::to("/signin"),
    }
}

// ---------------------------------------------------------------------------------------------
// The signed-in administrator.

/// A signed-in administrator of one organisation, from the session cookie. Everything a page
/// shows or changes is scoped to `org`. Without a live session, pages redirect to sign-in.
pub(crate) struct Signed {
    pub who: SignedIn,
    pub org: Organisation,
    /// The value every form of this session must carry.
    pub csrf: String,
    /// The organisation's time zone, which pages show times in.
    pub zone: directory::zone::Zone,
}

impl Signed {
    /// `t` as pages show it: to the minute, in the organisation's time zone.
    pub fn when(&self, t: OffsetDateTime) -> String {
        self.zone.show(t)
    }

    pub fn org_id(&self) -> OrgId {
        self.org.id
    }

    /// The actor recorded in the activity log (the same as through the API).
    pub fn actor(&self) -> String {
        format!("admin:{}", self.who.admin.email)
    }

    pub fn is_administrator(&self) -> bool {
        self.who.admin.role == AdminRole::Administrator
    }

    /// Refuses unless the administrator has the `administrator` role; people and site
    /// managers work with accounts and conflicts only (as in the API).
    pub fn require_administrator(&self) -> Result<(), PageError> {
        if self.is_administrator() {
            Ok(())
        } else {
            Err(PageError(
                StatusCode::FORBIDDEN,
                format!(
                    "this needs the administrator role; you are {}",
                    self.who.admin.role.as_str()
                ),
            ))
        }
    }

    pub fn layout(&self, title: &str, nav: Nav, flash: Option<Flash>) -> Layout {
        Layout {
            title: title.to_owned(),
            nav,
            csrf: self.csrf.clone(),
            who: Some(format!(
                "{} ({})",
                self.who.admin.email,
                self.who.admin.role.as_str()
            )),
            org_name: self.org.name.clone(),
            flash,
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts, state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let to_signin = || Redirect::to("/signin").into_response();
        let name = csrf::session_cookie(csrf::https(state, &parts.headers));
        let Some(secret) = csrf::cookie(&parts.headers, name) else {
            return Err(to_signin());
        };
        let who = match state.sessions.authenticate(&secret).await {
            Ok(w) => w,
            Err(directory::session::SessionError::NoSession) => return Err(to_signin()),
            Err(e) => return Err(PageError::from(ApiError::from(e)).into_response()),
        };
        let path = parts.uri.path();
        if who.enrol_first && !(path.starts_with(two_step::PATH) || path == "/signout") {
            return Err(Redirect::to(two_step::PATH).into_response());
        }
        let org = match state.store.get_org(who.session.org_id).await {
            Ok(Some(o)) => o,
            Ok(None) => return Err(to_signin()),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the session's organisation");
                return Err(PageError::internal().into_response());
            }
        };
        let zone = match state.store.org_time_zone(org.id).await {
            Ok(name) => directory::zone::Zone::stored(&name),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the organisation's time zone");
                return Err(PageError::internal().into_response());
            }
        };
        Ok(Signed {
            csrf: csrf::token_for(&secret),
            who,
            org,
            zone,
        })
    }
}

impl axum::extract::OptionalFromRequestParts<Arc<AppState>> for Signed {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts, state: &Arc<AppState>,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Signed as FromRequestParts<_>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Layout, messages, errors.

/// Which section of the navigation is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    None,
    Sync,
    Accounts,
    Roles,
    Groups,
    Domains,
    Activity,
    Applications,
    Settings,
}

/// A message shown at the top of a page: a confirmation or a refusal.
#[derive(Debug, Clone)]
pub(crate) struct Flash {
    pub error: bool,
    pub text: String,
    /// The form field a refusal is about: the page shows the text next to it as well.
    pub field: Option<String>,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Option<Flash> {
        Some(Flash {
            error: false,
            text: text.into(),
            field: None,
        })
    }
    pub fn error(text: impl Into<String>) -> Option<Flash> {
        Some(Flash {
            error: true,
            text: text.into(),
            field: None,
        })
    }
}

/// What every page's frame needs.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub title: String,
    pub nav: Nav,
    pub csrf: String,
    /// The signed-in administrator, when there is one.
    pub who: Option<String>,
    pub org_name: String,
    pub flash: Option<Flash>,
}

impl Layout {
    /// The frame of a page seen before sign-in.
    pub fn anonymous(title: &str, csrf: String, flash: Option<Flash>) -> Layout {
        Layout {
            title: title.to_owned(),
            nav: Nav::None,
            csrf,
            who: None,
            org_name: String::new(),
            flash,
        }
    }

    /// The refusal to show next to the form field `name`, when the page shows one about it.
    pub fn field_error(&self, name: &str) -> Option<&str> {
        self.flash
            .as_ref()
            .filter(|f| f.error && f.field.as_deref() == Some(name))
            .map(|f| f.text.as_str())
    }

    pub fn current(&self, nav: &str) -> &'static str {
        let on = matches!(
            (self.nav, nav),
            (Nav::Sync, "sync")
                | (Nav::Accounts, "accounts")
                | (Nav::Roles, "roles")
                | (Nav::Groups, "groups")
                | (Nav::Domains, "domains")
                | (Nav::Activity, "activity")
                | (Nav::Applications, "applications")
                | (Nav::Settings, "settings")
        );
        if on { "page" } else { "false" }
    }
}

/// A page that cannot be shown: status and a message for people.
#[derive(Debug)]
pub(crate) struct PageError(pub StatusCode, pub String);

impl PageError {
    pub fn not_found() -> PageError {
        PageError(StatusCode::NOT_FOUND, "There is no such page.".into())
    }
    pub fn internal() -> PageError {
        PageError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server. Try again later.".into(),
        )
    }
}

/// The API's one table from service errors to status and message (5xx logged there, and
/// shown without details).
impl From<ApiError> for PageError {
    fn from(f: ApiError) -> Self {
        PageError(f.status, f.message)
    }
}

impl<E: directory::Failure> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError::from(ApiError::from(e))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            l: Layout::anonymous("Error", String::new(), None),
            status: self.0.as_u16(),
            message: self.1,
        };
        let mut r = render_status(self.0, &page);
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 is a passing condition (RFC 9110 section 10.2.3).
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(crate::scim::response::RETRY_AFTER_SECS),
            );
        }
        r
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// Renders a template as a 200 page.
pub(crate) fn render(t: &impl Template) -> Response {
    render_status(StatusCode::OK, t)
}

pub(crate) fn render_status(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a console page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on the server.",
            )
                .into_response()
        }
    }
}

/// Redirects after a successful POST (303, so a reload does not repeat it).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A `?done=` key turned into its fixed confirmation (never text from the URL).
pub(crate) fn done_flash(
    q: &Query<HashMap<String, String>>, table: &[(&str, &str)],
) -> Option<Flash> {
    let key = q.get("done")?;
    table
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, text)| Flash::ok(*text))
}

/// Percent-encodes a query-string value.
pub(crate) fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Shows an error of an act on the page it came from (its status and a flash message), or
/// fails the request on a 5xx.
pub(crate) fn split(e: impl Into<PageError>) -> Result<(StatusCode, Option<Flash>), PageError> {
    let PageError(status, message) = e.into();
    if status.is_server_error() {
        return Err(PageError(status, message));
    }
    Ok((status, Flash::error(auth::capitalise(&message))))
}

/// Like [`split`], for a service's refusal: the message is also shown next to the field the
/// refusal names, when the form has it.
pub(crate) fn refusal<E: directory::Failure>(
    e: E,
) -> Result<(StatusCode, Option<Flash>), PageError> {
    let field = e.field().map(str::to_owned);
    let (status, flash) = split(e)?;
    Ok((status, flash.map(|f| Flash { field, ..f })))
}

#[cfg(test)]
mod tests {
    use crate::testing::{Answer, TestApp};
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use directory::store::AdminRole;

    async fn get(t: &TestApp, path: &str, session: &str) -> Answer {
        let mut b = Request::builder().method(Method::GET).uri(path);
        if !session.is_empty() {
            b = b.header(header::COOKIE, format!("scimd_session={session}"));
        }
        t.send(b.body(Body::empty()).expect("request")).await
    }

    #[tokio::test]
    async fn without_a_session_every_page_redirects_to_sign_in() {
        let t = TestApp::new().await;
        for path in [
            "/",
            "/groups",
            "/domains",
            "/activity",
            "/settings",
            "/accounts",
            "/directory-sync",
            "/roles",
        ] {
            for session in ["", "scimds_no-such-session"] {
                let a = get(&t, path, session).await;
                assert!(a.status.is_redirection(), "{path}: {}", a.status);
                assert_eq!(a.header(header::LOCATION), "/signin", "{path}");
            }
        }
        let a = get(&t, "/signin", "").await;
        assert_eq!(a.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn each_page_renders_for_a_session_with_the_security_headers() {
        let t = TestApp::new().await;
        let session = t.session(AdminRole::Administrator).await;
        for (path, title) in [
            ("/groups", "Groups"),
            ("/domains", "Domains"),
            ("/activity", "Activity"),
            ("/settings", "Settings"),
            ("/roles", "Roles"),
        ] {
            let a = get(&t, path, &session).await;
            assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
            assert!(a.text().contains(title), "{path}");
            assert_eq!(a.header(header::CACHE_CONTROL), "no-store", "{path}");
            assert_eq!(a.header(header::X_FRAME_OPTIONS), "DENY", "{path}");
            assert!(
                a.header(header::CONTENT_SECURITY_POLICY)
                    .contains("frame-ancestors 'none'"),
                "{path}"
            );
        }
        let a = get(&t, "/", &session).await;
        assert_eq!(a.header(header::LOCATION), "/directory-sync");
    }

    #[tokio::test]
    async fn a_refused_form_names_its_error_next_to_the_field() {
        let t = TestApp::new().await;
        let session = t.session(AdminRole::Administrator).await;
        let csrf = super::csrf::token_for(&session);
        let post = |form: String| {
            Request::builder()
                .method(Method::POST)
                .uri("/accounts")
                .header(header::COOKIE, format!("scimd_session={session}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .expect("request")
        };
        let form = format!("csrf={csrf}&userName=kim%40example.com&givenName=Kim");
        let a = t.send(post(form.clone())).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
        let a = t.send(post(form)).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
        let page = a.text();
        assert!(
            page.contains(r#"aria-describedby="userName-hint userName-error" aria-invalid="true""#),
            "{page}"
        );
        assert!(
            page.contains(
                r#"<span id="userName-error" class="field-error">An account with userName"#
            ),
            "{page}"
        );
        // Only the field the refusal is about is marked.
        assert!(!page.contains("givenName-error"), "{page}");
    }
}
