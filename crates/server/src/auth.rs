//! The bearer-token extractor: a valid token selects the organisation; anything else is 401
//! with a SCIM error body that says no more than "invalid token". The reason goes to the
//! activity log (of the token's organisation when the token exists) and the server's log.
//!
//! Cost per request: the token by the hash of its secret, which the SQLite store keeps in
//! memory while no process has changed a token since (so a revocation, from this process or
//! any other, still takes effect on the very next request). Writes happen only on a token's
//! first use (which turns the connection active and queues the set-up notice) and at most
//! once a minute per token and instance for `last_used`.

use crate::activity::{AuthNote, AuthSlot};
use crate::ops::{ClientIp, RequestOrg, too_many};
use crate::response::ApiError;
use crate::routes::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use directory::OrgId;
use directory::token::{self, AuthFailure};
use scim_core::ScimError;
use std::sync::Arc;
use time::OffsetDateTime;

/// How stale a token's recorded `last_used` may get before a request writes it again: use is
/// recorded cheaply, not with one extra write per request.
const TOUCH_INTERVAL: time::Duration = time::Duration::seconds(60);

/// The authenticated organisation of a SCIM request.
#[derive(Debug, Clone, Copy)]
pub struct Tenant {
    pub org: OrgId,
}

impl FromRequestParts<Arc<AppState>> for Tenant {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ClientIp>().and_then(|c| c.0);
        if let Some(wait) = state.ops.throttled(ip) {
            return Err(too_many(
                "too many failed authentications from this address; retry later",
                wait,
            ));
        }
        let slot = parts.extensions.get::<Arc<AuthSlot>>().cloned();
        let refuse = |why: AuthFailure, record: Option<&directory::store::TokenRecord>| {
            state.ops.auth_failed(ip);
            tracing::info!(reason = why.as_str(), path = %parts.uri.path(), "SCIM authentication refused");
            if let Some(slot) = &slot {
                slot.note(AuthNote {
                    org: record.map(|r| r.org_id),
                    token: record.map(|r| r.id),
                    failure: Some(why),
                });
            }
            ApiError(ScimError::unauthorized("invalid token")).into_response()
        };
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(refuse(AuthFailure::Missing, None));
        };
        let Ok(value) = value.to_str() else {
            return Err(refuse(AuthFailure::Malformed, None));
        };
        let mut it = value.trim().splitn(2, ' ');
        let (Some(scheme), Some(secret)) = (it.next(), it.next()) else {
            return Err(refuse(AuthFailure::Malformed, None));
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(refuse(AuthFailure::Malformed, None));
        }
        // A read that may be answered from the read cache needs the change mark anyway: read it
        // first, and the token check can use it instead of reading the token epoch.
        let mark = (parts.method == axum::http::Method::GET && state.read_cache.enabled())
            .then(|| state.store.change_mark())
            .flatten();
        if let Some(mark) = mark {
            parts.extensions.insert(crate::read_cache::Mark(mark));
        }
        let checked = token::check_at(
            state.store.as_ref(),
            state.clock.as_ref(),
            secret.trim(),
            mark,
        )
        .await
        .map_err(|e| ApiError(directory::scim::store_error(e)).into_response())?;
        let record = checked.map_err(|(why, record)| refuse(why, record.as_ref()))?;
        if let Err(wait) = state.ops.check_token(record.id) {
            return Err(too_many(
                "this token is over its request rate; retry after the delay",
                wait,
            ));
        }
        if let Some(org) = parts.extensions.get::<Arc<RequestOrg>>() {
            let _ = org.0.set(record.org_id);
        }
        if let Some(slot) = &slot {
            slot.note(AuthNote {
                org: Some(record.org_id),
                token: Some(record.id),
                failure: None,
            });
        }
        let now = state.clock.now();
        if record.first_used.is_none() {
            // Once per token: the connection turns active and the set-up notice is queued. A
            // failure here must not fail the identity provider's request; the next one retries.
            if let Err(e) = state.lifecycle.first_use(&record).await {
                tracing::error!(error = %e, token = %record.id, "cannot record a token's first use");
            }
        } else if needs_touch(state, &record, now) {
            state
                .store
                .touch_token(record.org_id, record.id, now)
                .await
                .map_err(|e| ApiError(directory::scim::store_error(e)).into_response())?;
        }
        Ok(Tenant { org: record.org_id })
    }
}

fn needs_touch(
    state: &AppState,
    record: &directory::store::TokenRecord,
    now: OffsetDateTime,
) -> bool {
    let mut seen = state.touched.lock().unwrap_or_else(|e| e.into_inner());
    let last = seen.get(&record.id).copied().or(record.last_used);
    match last {
        Some(t) if record.first_used.is_some() && now - t < TOUCH_INTERVAL => false,
        _ => {
            seen.insert(record.id, now);
            true
        }
    }
}
