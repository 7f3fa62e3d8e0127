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
