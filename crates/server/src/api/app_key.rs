//! The application-key extractor of the application endpoints (`/api/v1/directory/...`,
//! `/api/v1/events`): `Authorization: Bearer KEY` with a live application key selects the
//! organisation (docs/contract.md, "Applications"). Anything else, a SCIM token and an
//! administrator's session included, is 401 in the API's error shape, or 429 when the client
//! address has failed too often (checked only once the credential failed, as for tokens).
//!
//! The three credentials never stand in for one another: each surface looks its own up in its
//! own table by its own prefix (`scimd_app_` keys here, `scimds_` sessions in the
//! administrators' API, other `scimd_` secrets as SCIM tokens, which refuse keys by prefix).
//!
//! Cost per request: the application by the hash of its key (one indexed read); use is
//! written at most once a minute per application and instance.

use super::ApiError;
use super::error::throttled;
use crate::context::RequestContext;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use directory::apps::KEY_PREFIX;
use directory::store::Application;
use directory::token::hash_secret;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The longest key looked at (a generated one is 53 characters).
const MAX_KEY_LEN: usize = 128;

/// The authenticated application of a request; everything it reads is its organisation's.
#[derive(Debug, Clone)]
pub struct AppClient {
    pub app: Application,
}

/// Why a presented key was refused. Only logged: clients see one message.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Missing,
    Malformed,
    Unknown,
    Revoked,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing key",
            Refusal::Malformed => "malformed key",
            Refusal::Unknown => "unknown key",
            Refusal::Revoked => "revoked key",
        }
    }
}

/// The 401 of the application endpoints.
pub(super) fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "an application key is required: Authorization: Bearer scimd_app_... (SCIM tokens and administrators' sessions are not accepted here)".into(),
    )
}

/// The key of a bearer `Authorization` header, if it has the shape of one.
fn presented_key(parts: &Parts) -> Result<&str, Refusal> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(Refusal::Missing)?;
    let value = value.to_str().map_err(|_| Refusal::Malformed)?;
    let (scheme, key) = value.trim().split_once(' ').ok_or(Refusal::Malformed)?;
    let key = key.trim();
    let shaped = scheme.eq_ignore_ascii_case("bearer")
        && key.starts_with(KEY_PREFIX)
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if shaped {
        Ok(key)
    } else {
        Err(Refusal::Malformed)
    }
}

impl FromRequestParts<Arc<AppState>> for AppClient {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts, state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let ctx = RequestContext::of(&parts.extensions);
        let ip = ctx.and_then(|c| c.ip);
        let refuse = |why: Refusal| {
            if let Some(wait) = state.ops.throttled(ip) {
                return throttled(wait);
            }
            state.ops.auth_failed(ip);
            tracing::info!(reason = why.as_str(), "application key refused");
            let mut r = unauthenticated().into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scimd applications\""),
            );
            r
        };
        let key = presented_key(parts).map_err(refuse)?;
        let hash = hash_secret(key);
        let app = state
            .store
            .find_app_by_hash(&hash)
            .await
            .map_err(|e| super::error::store_failure(e).into_response())?
            .ok_or_else(|| refuse(Refusal::Unknown))?;
        if !bool::from(app.hash.ct_eq(&hash)) {
            return Err(refuse(Refusal::Unknown));
        }
        if app.revoked.is_some() {
            return Err(refuse(Refusal::Revoked));
        }
        if let Some(ctx) = ctx {
            ctx.org.fill(app.org_id);
        }
        if let Err(wait) = state.ops.check_app(app.id) {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "this application is over its request rate; retry after the delay".into(),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Err(r);
        }
        state.applications.record_use(&app).await;
        Ok(AppClient { app })
    }
}
