//! The probes: `GET /healthz` (the process answers) and `GET /readyz` (its database answers
//! and is migrated; 503 otherwise).

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the database answers and is migrated.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database not ready\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};

    #[tokio::test]
    async fn the_probes_answer_without_credentials() {
        let t = TestApp::new().await;
        for (path, text) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
            let req = Request::get(path).body(Body::empty()).expect("request");
            let a = t.send(req).await;
            assert_eq!(a.status, StatusCode::OK, "{path}");
            assert_eq!(a.text(), text, "{path}");
        }
    }
}
