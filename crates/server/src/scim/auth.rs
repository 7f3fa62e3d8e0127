//! The bearer-token extractor: a valid token selects the organisation; anything else is 401
//! with a SCIM error body that says no more than "invalid token", or 429 when the client
//! address has failed too often (checked only after the credential failed, so a valid token is
//! never refused for others' failures). A refused token that exists is recorded in its
//! organisation's activity log; every refusal goes to the server's log and the
//! `scimd_auth_refused_total` counter by reason.
//!
//! Cost per request: the token by the hash of its secret, which the SQLite store keeps in
//! memory while no process has changed a token since, and the PostgreSQL store holds and
//! proves current in a read's own statement ([`confirm_held_token`]); so a revocation, from
//! this process or any other, still takes effect on the very next request. Its use is then recorded by
//! [`Tokens::record_use`](directory::token::Tokens::record_use), which writes only on a
//! token's first use (which turns the connection active and queues the set-up notice) and at
//! most once a minute per token and instance for `last_used`.

use crate::activity::AuthNote;
use crate::context::RequestContext;
use crate::limits::too_many;
use crate::scim::response::ScimFailure;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::extract::{Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use directory::OrgId;
use directory::token::{self, AuthFailure, Witnessed};
use scim_core::ScimError;
use std::sync::Arc;

/// The authenticated organisation of a SCIM request.
#[derive(Debug, Clone, Copy)]
pub struct Tenant {
    pub org: OrgId,
}

impl FromRequestParts<Arc<AppState>> for Tenant {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts, state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let ctx = RequestContext::of(&parts.extensions).cloned();
        let ip = ctx.as_ref().and_then(|c| c.ip);
        // The address's throttle is consulted only once the credential has failed: a valid
        // token always passes, whatever others sent from the same address (identity providers
        // share egress addresses between their customers).
        let refuse = |why: AuthFailure, record: Option<&directory::store::TokenRecord>| {
            let path = crate::activity::capped(parts.uri.path());
            if let Some(wait) = state.ops.throttled(ip) {
                refused_metric("throttled");
                tracing::info!(reason = "throttled", path = %path, "SCIM authentication refused");
                return too_many(
                    "too many failed authentications from this address; retry later",
                    wait,
                );
            }
            state.ops.auth_failed(ip);
            refused_metric(reason_label(why));
            tracing::info!(reason = why.as_str(), path = %path, "SCIM authentication refused");
            if let Some(ctx) = &ctx {
                ctx.auth.fill(AuthNote {
                    org: record.map(|r| r.org_id),
                    token: record.map(|r| r.id),
                    failure: Some(why),
                });
            }
            ScimFailure(ScimError::unauthorized("invalid token")).into_response()
        };
        let secret = bearer(&parts.headers).map_err(|why| refuse(why, None))?;
        // A read that may be answered from the read cache needs the change mark anyway: read it
        // first, and the token check can use it instead of reading the token epoch.
        let mark = (parts.method == axum::http::Method::GET && state.read_cache.enabled())
            .then(|| state.store.change_mark())
            .flatten();
        if let (Some(mark), Some(ctx)) = (mark, &ctx) {
            ctx.mark.fill(mark);
        }
        let checked = token::check_at(state.store.as_ref(), state.clock.as_ref(), secret, mark)
            .await
            .map_err(|e| ScimFailure(directory::scim::store_error(e)).into_response())?;
        let record = checked.map_err(|(why, record)| refuse(why, record.as_ref()))?;
        // Before the rate check, so that a token's over-rate 429s show in its own activity.
        if let Some(ctx) = &ctx {
            ctx.org.fill(record.org_id);
            ctx.auth.fill(AuthNote {
                org: Some(record.org_id),
                token: Some(record.id),
                failure: None,
            });
        }
        if let Err(wait) = state.ops.check_token(record.id) {
            return Err(too_many(
                "this token is over its request rate; retry after the delay",
                wait,
            ));
        }
        // After the rate check: an over-rate request is refused, not recorded as use. A held
        // token's use waits until it is known current (see `confirm_held_token`).
        if !token::defer_use(&record) {
            state.tokens.record_use(&record).await;
        }
        Ok(Tenant { org: record.org_id })
    }
}

/// The bearer secret of a request's `Authorization` header.
fn bearer(headers: &axum::http::HeaderMap) -> Result<&str, AuthFailure> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthFailure::Missing)?;
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?;
    let mut it = value.trim().splitn(2, ' ');
    match (it.next(), it.next()) {
        (Some(scheme), Some(secret)) if scheme.eq_ignore_ascii_case("bearer") => Ok(secret.trim()),
        _ => Err(AuthFailure::Malformed),
    }
}

/// Runs a SCIM read with a witness (see [`token::witnessed`]): a store that holds the token
/// from an earlier request may then accept it without reading it first, if the request's own
/// statement proves it unchanged. When none did, or one found that some token changed, the
/// token is read again here, before the answer leaves: a token revoked by any instance is
/// refused on its next request. Writes are not witnessed: their token is read before them.
pub(crate) async fn confirm_held_token(
    State(state): State<Arc<AppState>>, req: Request, next: Next,
) -> Response {
    if req.method() != axum::http::Method::GET {
        return next.run(req).await;
    }
    let secret = bearer(req.headers()).ok().map(str::to_owned);
    let (response, witness) = token::witnessed(next.run(req)).await;
    // A held token already refused (revocation and expiry are for good) is answered as it is.
    if witness.outcome == Witnessed::Nothing
        || response.status() == axum::http::StatusCode::UNAUTHORIZED
    {
        return response;
    }
    let current = match (witness.outcome, secret) {
        (Witnessed::Confirmed, _) => witness.deferred_use,
        (_, None) => return response,
        (_, Some(secret)) => {
            // Outside the witness: the store reads the token.
            match token::check(state.store.as_ref(), state.clock.as_ref(), &secret).await {
                Ok(Ok(record)) => witness.deferred_use.map(|_| record),
                Ok(Err((why, _))) => {
                    refused_metric(reason_label(why));
                    tracing::info!(
                        reason = why.as_str(),
                        "SCIM authentication refused on a second look"
                    );
                    return ScimFailure(ScimError::unauthorized("invalid token")).into_response();
                }
                Err(e) => return ScimFailure(directory::scim::store_error(e)).into_response(),
            }
        }
    };
    if let Some(record) = current {
        state.tokens.record_use(&record).await;
    }
    response
}

/// Counts a refused SCIM authentication. Refusals no organisation can be named for are counted
/// here and nowhere else: they leave no activity entry, which a stranger could otherwise
/// write at will.
fn refused_metric(reason: &'static str) {
    metrics::counter!("scimd_auth_refused_total", "reason" => reason).increment(1);
}

/// The metrics label of a refusal, from a fixed set.
fn reason_label(why: AuthFailure) -> &'static str {
    match why {
        AuthFailure::Missing => "missing",
        AuthFailure::Malformed => "malformed",
        AuthFailure::Unknown => "unknown",
        AuthFailure::Revoked => "revoked",
        AuthFailure::Expired => "expired",
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use axum::http::{Method, StatusCode};
    use directory::store::ConnectionState;
    use serde_json::Value;

    #[tokio::test]
    async fn an_accepted_tokens_first_request_records_its_first_use() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let first_used = || async {
            let tokens = t.state.lifecycle.list_tokens(t.org.id).await;
            tokens.expect("tokens")[0].record.first_used
        };
        assert_eq!(first_used().await, None);
        let a = t
            .scim(Method::GET, "/scim/v2/Users", &token, Value::Null)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert!(first_used().await.is_some());
        let conn = t.state.lifecycle.connection(t.org.id).await.expect("state");
        assert_eq!(conn.state, ConnectionState::Active);
    }
}
