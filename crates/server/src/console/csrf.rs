//! Cookies, and the CSRF guard every console POST passes before its handler runs.
//!
//! The expected `csrf` field is derived from a cookie the browser holds and no other site can
//! read: the session secret for every signed-in form, a random pre-session value for the
//! anonymous forms (sign-in, the choice of organisation, the second step's code, forgotten
//! password, set-up and password links) only. The pre-session value is a plain double-submit
//! cookie, which anyone able to set a cookie for the host could choose (a sibling subdomain, a
//! plain-HTTP response), so it never stands in for a session: a form behind a session is
//! accepted with the session's value alone. SHA-256 with a fixed prefix is one-way, so the
//! field on the page reveals nothing about the session secret; the comparison is
//! constant-time. The guard parses the form once and hands it to handlers as a [`Form`]: a
//! handler cannot read a form that was not checked.
//!
//! Whenever cookies are `Secure`, both carry the `__Host-` prefix: a browser accepts such a
//! cookie only from this very host over HTTPS, without a `Domain`, so a sibling subdomain
//! cannot plant a session (login CSRF) or a pre-session value. Requests a browser marks as
//! coming from another origin (`Sec-Fetch-Site` other than `same-origin` or `none`, which a
//! sibling subdomain's page gets) are refused before the token is looked at.

use crate::routes::Surface;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

const SESSION_COOKIE: &str = "scimd_session";
const PRESESSION_COOKIE: &str = "scimd_presession";
const SECURE_SESSION_COOKIE: &str = "__Host-scimd_session";
const SECURE_PRESESSION_COOKIE: &str = "__Host-scimd_presession";

/// The session cookie's name: `__Host-` prefixed when cookies are `Secure`.
pub(crate) fn session_cookie(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The pre-session cookie's name: `__Host-` prefixed when cookies are `Secure`.
pub(crate) fn presession_cookie(secure: bool) -> &'static str {
    if secure {
        SECURE_PRESESSION_COOKIE
    } else {
        PRESESSION_COOKIE
    }
}
/// The largest console form accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The `csrf` field that goes with a cookie's value.
pub(crate) fn token_for(cookie_value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"scimd console csrf\0");
    h.update(cookie_value.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
}

/// A cookie's value from the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether cookies must be `Secure`: the console is reached over HTTPS (directly or, as a
/// proxy says, in front of it) or its public URL is https. On its own listener
/// (`--console-listen`, always plain HTTP) only a proxy in front of it makes it HTTPS: the
/// TLS and the public URL are the SCIM listener's.
pub(crate) fn https(state: &AppState, headers: &HeaderMap) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    if Surface::current() == Surface::Console {
        return forwarded;
    }
    state.https
        || state
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
        || forwarded
}

/// A `Set-Cookie` value; `max_age` `None` makes a cookie for the browser session, `Some(0)`
/// deletes it.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// A new random pre-session value.
pub(crate) fn new_presession() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A checked form's fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// The field's value (the last one when repeated), trimmed of nothing.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field's value, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_owned()
    }

    /// Every value of a repeated field (checkboxes), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl FromRequestParts<Arc<AppState>> for Form {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts, _: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Form>()
            .cloned()
            .ok_or_else(|| (StatusCode::BAD_REQUEST, "a form was expected").into_response())
    }
}

/// Whether a POST path is one of the anonymous forms, checked against the pre-session cookie;
/// every other form needs a session.
fn anonymous_form(path: &str) -> bool {
    matches!(
        path,
        "/signin" | "/signin/choose" | "/signin/second-step" | "/forgot-password"
    ) || path.starts_with("/setup/")
        || path.starts_with("/password/")
}

/// Whether the browser says the request comes from a page of another origin. Browsers send
/// `Sec-Fetch-Site` on every request; clients that send none are judged by the token alone.
fn cross_origin(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !matches!(v, "same-origin" | "none"))
}

/// Refuses a POST from another origin, or whose `csrf` field does not match the cookie that
/// form is bound to (the session for signed-in forms, the pre-session for sign-in and set-up);
/// otherwise passes the parsed form on.
pub(crate) async fn guard(
    State(state): State<Arc<AppState>>, req: Request, next: Next,
) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let media = crate::middleware::media_type(&parts.headers);
    if media
        .as_deref()
        .is_some_and(|m| m != "application/x-www-form-urlencoded")
    {
        return super::PageError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The console takes forms only (application/x-www-form-urlencoded).".into(),
        )
        .into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return super::PageError(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The form is too large.".into(),
        )
        .into_response();
    };
    if media.is_none() && !bytes.is_empty() {
        return super::PageError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "A form was sent without a Content-Type.".into(),
        )
        .into_response();
    }
    let form = Form(form_urlencoded::parse(&bytes).into_owned().collect());
    let sent = form.get("csrf").unwrap_or_default().as_bytes();
    let secure = https(&state, &parts.headers);
    let bound_to = if anonymous_form(parts.uri.path()) {
        presession_cookie(secure)
    } else {
        session_cookie(secure)
    };
    let valid = !sent.is_empty()
        && !cross_origin(&parts.headers)
        && cookie(&parts.headers, bound_to)
            .is_some_and(|value| bool::from(token_for(&value).as_bytes().ct_eq(sent)));
    if !valid {
        // The route's template, never the path: the set-up link's secret is in its path.
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        tracing::info!(%route, "console form refused: CSRF token missing or wrong, or another origin");
        return super::PageError(
            StatusCode::FORBIDDEN,
            "This form did not come from this console, or your session changed since the page \
             was loaded. Go back, reload the page and try again."
                .into(),
        )
        .into_response();
    }
    parts.extensions.insert(form);
    next.run(Request::from_parts(parts, Body::empty())).await
}

#[cfg(test)]
mod tests {
    use super::token_for;
    use crate::testing::{Answer, TestApp};
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use directory::store::AdminRole;

    async fn post(t: &TestApp, path: &str, session: &str, form: &str, site: &str) -> Answer {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::COOKIE, format!("scimd_session={session}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if !site.is_empty() {
            b = b.header("sec-fetch-site", site);
        }
        t.send(b.body(Body::from(form.to_owned())).expect("request"))
            .await
    }

    #[tokio::test]
    async fn a_form_without_its_session_token_is_403_and_does_nothing() {
        let t = TestApp::new().await;
        let session = t.session(AdminRole::Administrator).await;
        let good = format!("csrf={}", token_for(&session));
        let other = format!("csrf={}", token_for("scimds_another-session"));
        for (form, site) in [
            ("", ""),
            ("csrf=", ""),
            (other.as_str(), ""),
            (good.as_str(), "cross-site"),
        ] {
            let a = post(&t, "/signout", &session, form, site).await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{form} {site}");
        }
        // Still signed in: the refused sign-outs did nothing.
        assert!(t.state.sessions.authenticate(&session).await.is_ok());

        let a = post(&t, "/signout", &session, &good, "same-origin").await;
        assert!(a.status.is_redirection(), "{}", a.status);
        assert!(t.state.sessions.authenticate(&session).await.is_err());
    }
}
