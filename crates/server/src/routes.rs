//! The top-level route table: the SCIM API under `/scim/v2`, the administrative API under
//! `/api/v1`, health and metrics, and the console; the outermost layers (body limit, request
//! guard) wrap them all.

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use std::sync::Arc;

/// The route table. `/scim/v2` is the base; everything else is 404 with a SCIM error body.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.scim.config().bulk_max_payload_bytes;
    Router::new()
        .nest("/scim/v2", crate::scim::routes(state.clone()))
        .nest("/api/v1", crate::api::routes())
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz))
        .route("/metrics", get(crate::metrics::metrics_text))
        .merge(crate::console::routes(state.clone()))
        // After every nest and merge, so that each route (and no fallback) names its template.
        .route_layer(axum::middleware::from_fn(crate::metrics::note_route))
        .fallback(crate::scim::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::guard,
        ))
        .with_state(state)
}
