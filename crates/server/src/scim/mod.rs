//! The SCIM 2.0 API (RFC 7644) under `/scim/v2`: the route table, the bearer-token extractor
//! ([`auth`]), what handlers take from a request ([`extract`]), the resource handlers shared
//! by Users and Groups ([`resources`]), search, bulk and discovery, the read cache of repeated
//! reads, and the SCIM response and error body ([`response`]).

pub(crate) mod auth;
mod bulk;
mod discovery;
mod extract;
pub(crate) mod read_cache;
mod resources;
pub(crate) mod response;
mod reuse;
mod search;

use crate::state::AppState;
use auth::Tenant;
use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use response::ScimFailure;
use scim_core::ScimError;
use scim_core::schema::ResourceKind;
use std::sync::Arc;

/// The SCIM routes, relative to `/scim/v2`. Every answer is `no-store`, and every request of
/// an organisation goes to its activity log.
pub(crate) fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .merge(resources::routes(ResourceKind::User))
        .merge(resources::routes(ResourceKind::Group))
        .route("/.search", post(search::search_root))
        .route("/Bulk", post(bulk::bulk))
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config).fallback(method_not_allowed),
        )
        .route(
            "/ResourceTypes",
            get(discovery::resource_types).fallback(method_not_allowed),
        )
        .route(
            "/ResourceTypes/{id}",
            get(discovery::resource_type).fallback(method_not_allowed),
        )
        .route(
            "/Schemas",
            get(discovery::schemas).fallback(method_not_allowed),
        )
        .route(
            "/Schemas/{id}",
            get(discovery::schema).fallback(method_not_allowed),
        )
        .route("/Me", any(me))
        .route("/Me/{*rest}", any(me))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::confirm_held_token,
        ))
        .layer(axum::middleware::map_response(crate::middleware::no_store))
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::activity::record,
        ))
}

/// Any path no route matches, with a SCIM error body.
pub(crate) async fn not_found() -> ScimFailure {
    ScimFailure(ScimError::not_found("no such endpoint"))
}

async fn method_not_allowed(method: Method) -> Response {
    let mut r = ScimFailure(ScimError::new(
        405,
        None,
        format!("method {method} is not allowed here"),
    ))
    .into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

async fn me(_t: Tenant) -> ScimFailure {
    ScimFailure(ScimError::new(
        501,
        None,
        "/Me is not supported: a token authenticates a provisioning client, not a user",
    ))
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use axum::http::{Method, StatusCode, header};
    use serde_json::Value;

    const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

    /// A SCIM error answer (RFC 7644 section 3.12): its status, in the body as a string too.
    fn assert_scim_error(a: &crate::testing::Answer, status: StatusCode) {
        assert_eq!(a.status, status, "{}", a.text());
        assert_eq!(a.header(header::CONTENT_TYPE), "application/scim+json");
        let body = a.json();
        assert_eq!(body["schemas"][0], ERROR_URN, "{body}");
        assert_eq!(body["status"], status.as_u16().to_string(), "{body}");
        assert!(body["detail"].is_string(), "{body}");
    }

    #[tokio::test]
    async fn without_a_token_every_scim_route_is_401_with_a_bearer_challenge() {
        let t = TestApp::new().await;
        for (method, path) in [
            (Method::GET, "/scim/v2/Users"),
            (Method::GET, "/scim/v2/Groups/abc"),
            (Method::POST, "/scim/v2/Bulk"),
            (Method::GET, "/scim/v2/ServiceProviderConfig"),
        ] {
            let a = t.scim(method, path, "", Value::Null).await;
            assert_scim_error(&a, StatusCode::UNAUTHORIZED);
            assert_eq!(a.header(header::WWW_AUTHENTICATE), "Bearer realm=\"scimd\"");
            assert_eq!(a.json()["detail"], "invalid token");
        }
        let a = t
            .scim(
                Method::GET,
                "/scim/v2/Users",
                "scimd_not-a-token",
                Value::Null,
            )
            .await;
        assert_scim_error(&a, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn an_unknown_path_is_404_with_a_scim_error_body() {
        let t = TestApp::new().await;
        let token = t.token().await;
        for path in ["/scim/v2/Nothing", "/scim/v3/Users", "/no/such/page"] {
            let a = t.scim(Method::GET, path, &token, Value::Null).await;
            assert_scim_error(&a, StatusCode::NOT_FOUND);
        }
    }

    #[tokio::test]
    async fn a_method_a_route_does_not_take_is_405_with_a_scim_error_body() {
        let t = TestApp::new().await;
        let token = t.token().await;
        for (method, path) in [
            (Method::PUT, "/scim/v2/Users"),
            (Method::DELETE, "/scim/v2/Groups"),
            (Method::GET, "/scim/v2/Users/.search"),
            (Method::POST, "/scim/v2/Schemas"),
            (Method::DELETE, "/scim/v2/ServiceProviderConfig"),
        ] {
            let a = t.scim(method.clone(), path, &token, Value::Null).await;
            assert_scim_error(&a, StatusCode::METHOD_NOT_ALLOWED);
            let detail = a.json()["detail"].as_str().unwrap_or_default().to_owned();
            assert!(detail.contains(method.as_str()), "{detail}");
        }
    }

    #[tokio::test]
    async fn me_is_501_for_a_token_and_401_without_one() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let a = t
            .scim(Method::GET, "/scim/v2/Me", &token, Value::Null)
            .await;
        assert_scim_error(&a, StatusCode::NOT_IMPLEMENTED);
        let a = t.scim(Method::GET, "/scim/v2/Me/x", "", Value::Null).await;
        assert_scim_error(&a, StatusCode::UNAUTHORIZED);
    }

    /// Answers of the SCIM routes, refusals included; a path no route matches is answered by
    /// the top-level fallback, outside them.
    #[tokio::test]
    async fn every_scim_answer_is_no_store() {
        let t = TestApp::new().await;
        let token = t.token().await;
        for (path, token) in [
            ("/scim/v2/Users", token.as_str()),
            ("/scim/v2/Users", ""),
            ("/scim/v2/Users/nobody", token.as_str()),
        ] {
            let a = t.scim(Method::GET, path, token, Value::Null).await;
            assert_eq!(a.header(header::CACHE_CONTROL), "no-store", "{path}");
        }
    }
}
