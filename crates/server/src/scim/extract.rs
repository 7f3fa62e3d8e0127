//! What the SCIM handlers take from a request: the authenticated organisation with the base
//! URL, the query and the conditional headers ([`ScimRequest`]), and the JSON body
//! ([`ScimBody`]).

use super::auth::Tenant;
use super::response::ScimFailure;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
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
        parts: &mut Parts, state: &Arc<AppState>,
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

/// One authenticated SCIM request: the organisation, then the base URL, the query and the
/// conditional headers (RFC 7644 section 3.14). The token is checked first, so an
/// unauthenticated request learns nothing else.
pub(super) struct ScimRequest {
    pub tenant: Tenant,
    pub base: String,
    pub query: QueryPairs,
    /// `If-Match`, for writes.
    pub precondition: Precondition,
    /// `If-None-Match`, for reads.
    pub if_none_match: Option<String>,
}

impl FromRequestParts<Arc<AppState>> for ScimRequest {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts, state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let tenant = Tenant::from_request_parts(parts, state).await?;
        let Ok(BaseUrl(base)) = BaseUrl::from_request_parts(parts, state).await;
        let Ok(query) = QueryPairs::from_request_parts(parts, state).await;
        let text = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(ScimRequest {
            tenant,
            base,
            query,
            precondition: Precondition(text(header::IF_MATCH)),
            if_none_match: text(header::IF_NONE_MATCH),
        })
    }
}

/// A JSON request body, declared `application/scim+json` or `application/json` (RFC 7644
/// section 3.1 names both); a body declared as anything else, or sent without a
/// `Content-Type`, is 415. Too large: 413; not JSON, or an object with a member name twice: 400
/// `invalidSyntax`.
pub(super) struct ScimBody(pub Value);

impl FromRequest<Arc<AppState>> for ScimBody {
    type Rejection = ScimFailure;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let media = crate::middleware::media_type(req.headers());
        let unsupported = |what: &str| {
            ScimFailure(ScimError::new(
                415,
                None,
                format!(
                    "the request body must be application/scim+json or application/json, not {what}"
                ),
            ))
        };
        if let Some(m) = media.as_deref()
            && !matches!(m, "application/scim+json" | "application/json")
        {
            return Err(unsupported(m));
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
        if media.is_none() && !bytes.is_empty() {
            return Err(unsupported("a body without a Content-Type"));
        }
        let value: Value = scim_core::json::parse_strict(&bytes).map_err(|e| {
            ScimFailure(ScimError::invalid_syntax(match e {
                scim_core::json::StrictJsonError::Syntax(m) => {
                    format!("the request body is not valid JSON: {m}")
                }
                duplicate => format!("the request body is ambiguous: {duplicate}"),
            }))
        })?;
        Ok(ScimBody(value))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestApp, scim_request, user};
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};

    fn post_users(token: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
        Request::builder()
            .method(Method::POST)
            .uri("/scim/v2/Users")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .expect("request")
    }

    #[tokio::test]
    async fn a_body_declared_as_something_other_than_json_is_415() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let a = t
            .send(post_users(&token, "text/plain", user("ann").to_string()))
            .await;
        assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", a.text());
        assert_eq!(a.json()["status"], "415");
        // Any JSON type passes, parameters and case aside.
        let a = t
            .send(post_users(
                &token,
                "Application/JSON; charset=utf-8",
                user("ann").to_string(),
            ))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_400_invalid_syntax() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let a = t
            .send(post_users(
                &token,
                "application/scim+json",
                "{\"userName\": ",
            ))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.json()["scimType"], "invalidSyntax", "{}", a.text());
        assert_eq!(a.json()["status"], "400");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413_and_closes_the_connection() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let limit = t.state.scim.config().bulk_max_payload_bytes;
        let big = format!("{{\"userName\": \"{}\"}}", "a".repeat(limit));
        let a = t
            .send(post_users(&token, "application/scim+json", big))
            .await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text());
        assert_eq!(a.header(header::CONNECTION), "close");
        assert_eq!(a.json()["status"], "413");
    }

    #[tokio::test]
    async fn the_base_url_is_the_host_header_unless_a_public_url_is_set() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let mut req = scim_request(Method::POST, "/scim/v2/Users", &token, user("ann"));
        req.headers_mut()
            .insert(header::HOST, "sso.example.com:8443".parse().expect("host"));
        let a = t.send(req).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let location = a.header(header::LOCATION).to_owned();
        assert!(
            location.starts_with("http://sso.example.com:8443/scim/v2/Users/"),
            "{location}"
        );
        assert_eq!(a.json()["meta"]["location"], location.as_str());

        let t = TestApp::with(|mut s| {
            s.public_url = Some("https://id.example.org/scim/v2/".into());
            s
        })
        .await;
        let token = t.token().await;
        let a = t
            .scim(
                Method::POST,
                "/scim/v2/Groups",
                &token,
                crate::testing::group("g"),
            )
            .await;
        let location = a.header(header::LOCATION);
        assert!(
            location.starts_with("https://id.example.org/scim/v2/Groups/"),
            "{location}"
        );
    }
}
