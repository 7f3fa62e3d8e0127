//! The top-level route table: the SCIM API under `/scim/v2`, the administrative API under
//! `/api/v1`, health and metrics, and the console; the outermost layers (body limit, request
//! guard) wrap them all.

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use std::sync::Arc;

/// What one listener serves (`scimd serve --console-listen` splits them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Everything on one listener (the default layout).
    All,
    /// What identity providers and applications call: SCIM, the application API
    /// (`/api/v1/directory`, `/api/v1/events`) and health. Nothing an administrator signs in
    /// to, so publishing it for an identity provider publishes no console.
    Public,
    /// What administrators and operators use: the console, the administrators' API, health
    /// and `/metrics`. Served over plain HTTP (see `docs/operations.md`).
    Console,
}

tokio::task_local! {
    /// The surface of the listener the request being handled came in on.
    static SURFACE: Surface;
}

impl Surface {
    /// The surface of the listener the current request came in on (`All` outside one). A
    /// task-local rather than a header or an extension: deep helpers that see only the
    /// request's headers (cookie security) read it, and no client can set it.
    pub(crate) fn current() -> Surface {
        SURFACE.try_with(|s| *s).unwrap_or(Surface::All)
    }
}

/// Runs the rest of the request (every layer and the handler) with its listener's surface.
async fn in_surface(
    axum::extract::State(surface): axum::extract::State<Surface>, req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    SURFACE.scope(surface, next.run(req)).await
}

/// The route table of the single-listener layout. `/scim/v2` is the base; everything else is
/// 404 with a SCIM error body.
pub fn router(state: Arc<AppState>) -> Router {
    router_for(state, Surface::All)
}

/// The route table of one listener. Each request carries its listener's [`Surface`].
pub fn router_for(state: Arc<AppState>, surface: Surface) -> Router {
    let limit = state.scim.config().bulk_max_payload_bytes;
    let routes = Router::new();
    // Routes that panic on purpose, one per surface, exist in test builds only.
    #[cfg(test)]
    let routes = routes
        .route("/scim/v2/test-panic", get(panics))
        .route("/api/v1/test-panic", get(panics))
        .route("/test-panic", get(panics));
    let routes = routes
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz));
    let routes = match surface {
        Surface::All => routes
            .nest("/scim/v2", crate::scim::routes(state.clone()))
            .nest("/api/v1", crate::api::routes())
            .route("/metrics", get(crate::metrics::metrics_text))
            .merge(crate::console::routes(state.clone())),
        Surface::Public => routes
            .nest("/scim/v2", crate::scim::routes(state.clone()))
            .nest("/api/v1", crate::api::apps_only()),
        Surface::Console => routes
            .nest("/api/v1", crate::api::admin_only())
            .route("/metrics", get(crate::metrics::metrics_text))
            .merge(crate::console::routes(state.clone())),
    };
    routes
        // After every nest and merge, so that each route (and no fallback) names its template.
        .route_layer(axum::middleware::from_fn(crate::metrics::note_route))
        .fallback(crate::scim::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(surface, in_surface))
        .with_state(state)
}

#[cfg(test)]
async fn panics() -> &'static str {
    panic!("a handler that panics, for the tests")
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};

    fn get(path: &str) -> Request<Body> {
        Request::builder()
            .method(Method::GET)
            .uri(path)
            .body(Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_in_its_surfaces_shape_and_nothing_else_fails() {
        let app = TestApp::new().await;
        let scim = app.send(get("/scim/v2/test-panic")).await;
        assert_eq!(scim.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            scim.json()["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(scim.json()["status"], "500");
        assert!(!scim.header("x-request-id").is_empty());
        let api = app.send(get("/api/v1/test-panic")).await;
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.json()["error"], "internal", "{}", api.text());
        let page = app.send(get("/test-panic")).await;
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            page.text().contains("Something went wrong"),
            "{}",
            page.text()
        );
        // The same router goes on serving.
        assert_eq!(app.send(get("/healthz")).await.status, StatusCode::OK);
        let token = app.token().await;
        let r = app
            .scim(
                Method::GET,
                "/scim/v2/Users",
                &token,
                serde_json::Value::Null,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
}
