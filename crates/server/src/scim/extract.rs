//! What the SCIM handlers take from a request: the authenticated organisation with the base
//! URL, query and headers ([`ScimRequest`]), the JSON body ([`ScimBody`]), and the `If-Match`
//! precondition (RFC 7644 section 3.14).

use super::auth::Tenant;
use super::response::ScimFailure;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use directory::scim::Precondition;
use scim_core::ScimError;
use scim_core::projection::Projection;
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;

/// The SCIM API's base URL for this request.
#[derive(Debug, Clone)]
pub(super) struct BaseUrl(pub String);

impl FromRequestParts<Arc<AppState>> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(u) = &state.public_url {
            return Ok(BaseUrl(u.trim_end_matches('/').to_owned()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        Ok(BaseUrl(format!("http://{host}/scim/v2")))
    }
}

/// Query parameters as pairs; names are matched case-insensitively later.
pub(super) struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        Ok(QueryPairs(
            form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        ))
    }
}

impl QueryPairs {
    /// The last value given for `name`, whatever its case.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `attributes` and `excludedAttributes` (RFC 7644 section 3.9) for `kind`.
    pub(super) fn projection(&self, kind: ResourceKind) -> Result<Projection, ScimFailure> {
        Ok(Projection::parse(
            kind,
            self.get("attributes"),
            self.get("excludedAttributes"),
        )?)
    }
}

/// One authenticated SCIM request: the organisation, then the base URL, query and headers
/// (the token is checked first, so an unauthenticated request learns nothing else).
pub(super) struct ScimRequest {
    pub tenant: Tenant,
    pub base: String,
    pub query: QueryPairs,
    pub headers: HeaderMap,
}

impl FromRequestParts<Arc<AppState>> for ScimRequest {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let tenant = Tenant::from_request_parts(parts, state).await?;
        let Ok(BaseUrl(base)) = BaseUrl::from_request_parts(parts, state).await;
        let Ok(query) = QueryPairs::from_request_parts(parts, state).await;
        Ok(ScimRequest {
            tenant,
            base,
            query,
            headers: parts.headers.clone(),
        })
    }
}

impl ScimRequest {
    /// The request's `If-Match` precondition.
    pub(super) fn precondition(&self) -> Precondition {
        Precondition(
            self.headers
                .get(header::IF_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        )
    }
}

/// A JSON request body: `application/scim+json`, `application/json`, any other `...json`
/// type, or none (clients differ); a body declared as something else (`text/plain`, XML, a
/// form) is 415. Too large: 413; not JSON: 400 `invalidSyntax`.
pub(super) struct ScimBody(pub Value);

impl FromRequest<Arc<AppState>> for ScimBody {
    type Rejection = ScimFailure;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let media = ct
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if !media.is_empty() && !media.ends_with("json") {
                return Err(ScimFailure(ScimError::new(
                    415,
                    None,
                    format!("the request body must be application/scim+json, not {media}"),
                )));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ScimFailure(ScimError::payload_too_large(format!(
                    "the request body is larger than {} bytes",
                    state.scim.config().bulk_max_payload_bytes
                )))
            } else {
                ScimFailure(ScimError::invalid_syntax(
                    "the request body could not be read",
                ))
            }
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimFailure(ScimError::invalid_syntax(format!(
                "the request body is not valid JSON: {e}"
            )))
        })?;
        Ok(ScimBody(value))
    }
}
