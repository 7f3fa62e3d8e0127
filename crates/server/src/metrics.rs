//! Prometheus metrics: the process-wide recorder, the bounded labels of the request metrics
//! (route template, method, status), and `GET /metrics` with the gauges read at scrape time.

use crate::context::RequestContext;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};

/// The process-wide Prometheus recorder (metrics are global in the `metrics` crate).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("duration_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            )
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Only fails if another recorder was installed first; the handle still renders ours.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// A route layer over every route of the router: it sees the route's template, which the
/// outermost [`guard`](crate::middleware::guard) cannot, since it runs before routing; it
/// notes the template in the request's context for `guard` to label the metrics with.
pub(crate) async fn note_route(req: Request, next: Next) -> Response {
    if let (Some(path), Some(ctx)) = (
        req.extensions().get::<MatchedPath>(),
        RequestContext::of(req.extensions()),
    ) {
        tracing::Span::current().record("route", path.as_str());
        ctx.route.fill(path.clone());
    }
    next.run(req).await
}

/// A metrics label for a method: the standard ones, and `OTHER` for any extension method (a
/// client may send any token there).
pub(crate) fn method_label(m: &Method) -> &'static str {
    ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        .into_iter()
        .find(|k| *k == m.as_str())
        .unwrap_or("OTHER")
}

/// A metrics label for a status code, without an allocation for the usual ones.
pub(crate) fn status_label(s: StatusCode) -> metrics::SharedString {
    const COMMON: [(u16, &str); 14] = [
        (200, "200"),
        (201, "201"),
        (204, "204"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (409, "409"),
        (412, "412"),
        (413, "413"),
        (429, "429"),
        (500, "500"),
        (503, "503"),
    ];
    match COMMON.iter().find(|(code, _)| *code == s.as_u16()) {
        Some((_, text)) => metrics::SharedString::const_str(text),
        None => metrics::SharedString::from_owned(s.as_u16().to_string()),
    }
}

/// `GET /metrics`: Prometheus text format, with the gauges read now.
pub(crate) async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.store.stats();
    if let Some(n) = stats.pool_size {
        metrics::gauge!("scimd_db_pool_connections").set(n as f64);
    }
    if let Some(n) = stats.pool_idle {
        metrics::gauge!("scimd_db_pool_idle").set(n as f64);
    }
    if let Some(n) = stats.write_queue {
        metrics::gauge!("scimd_db_write_queue").set(n as f64);
    }
    let (hits, misses) = state.read_cache.counts();
    metrics::counter!("scimd_read_cache_hits_total").absolute(hits);
    metrics::counter!("scimd_read_cache_misses_total").absolute(misses);
    metrics::gauge!("scimd_http_in_flight").set(
        (state.ops.config.max_concurrent.max(1) - state.ops.in_flight.available_permits()) as f64,
    );
    match state.store.outbox_pending().await {
        Ok(n) => metrics::gauge!("scimd_outbox_pending").set(n as f64),
        Err(e) => tracing::warn!(error = %e, "cannot read the outbox size"),
    }
    let now = state.clock.now();
    match state.store.next_token_expiry(now).await {
        Ok(Some(t)) => {
            metrics::gauge!("scimd_token_expiry_horizon_seconds").set((t - now).as_seconds_f64())
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read token expiries"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_a_fixed_set() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let odd = Method::from_bytes(b"FOOBARMETHOD").expect("method");
        assert_eq!(method_label(&odd), "OTHER");
    }

    /// Requests are counted by the route they matched, and anything no route matched as
    /// `other`, so that made-up paths cannot add series; and by the kind of the organisation
    /// they acted for, `none` when no credential named one.
    #[tokio::test]
    async fn requests_are_counted_by_route_template_never_by_path() {
        use crate::testing::TestApp;
        use axum::body::Body;
        use serde_json::Value;
        let t = TestApp::new().await;
        let token = t.token().await;
        let made_up = format!("/made-up-{}", uuid::Uuid::now_v7().simple());
        t.scim(Method::GET, "/scim/v2/Users/someone", &token, Value::Null)
            .await;
        t.scim(Method::GET, &made_up, &token, Value::Null).await;
        let a = t
            .send(
                Request::get("/metrics")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.header(header::CONTENT_TYPE).starts_with("text/plain"));
        let text = a.text();
        let counted = |route: &str, org_kind: &str| {
            text.lines().any(|l| {
                l.starts_with("scimd_http_requests_total{")
                    && l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("org_kind=\"{org_kind}\""))
            })
        };
        // The organisation the token authenticated labels its requests by kind.
        assert!(counted("/scim/v2/Users/{id}", "business"), "{text}");
        assert!(counted("other", "none"), "{text}");
        assert!(
            !text.contains("someone") && !text.contains(&made_up),
            "{text}"
        );
        assert!(text.contains("scimd_http_in_flight"), "{text}");
    }
}
