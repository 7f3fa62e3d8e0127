//! The middleware around every request: [`guard`] (the request's context, its span, the
//! concurrency bound, the timeout, HSTS and the request metrics), the client address behind a
//! proxy, and `Cache-Control: no-store` for answers that carry secrets or personal data.

use crate::context::RequestContext;
use crate::limits::busy;
use crate::metrics::{method_label, status_label};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use directory::OrgKind;
use futures_util::FutureExt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which of the three surfaces a path belongs to, for an error answered outside any handler.
#[derive(Debug, Clone, Copy)]
enum Surface {
    Scim,
    Api,
    Console,
}

impl Surface {
    fn of(path: &str) -> Surface {
        if path.starts_with("/scim/") {
            Surface::Scim
        } else if path.starts_with("/api/") {
            Surface::Api
        } else {
            Surface::Console
        }
    }

    /// An error in this surface's shape: a SCIM error body, the API's `{"error", "message"}`,
    /// or the console's page.
    fn error(self, status: StatusCode, code: &'static str, message: String) -> Response {
        match self {
            Surface::Scim => {
                let e = scim_core::ScimError::new(status.as_u16(), None, message);
                let mut r = crate::scim::response::ScimFailure(e).into_response();
                *r.status_mut() = status;
                r
            }
            Surface::Api => crate::api::ApiError::new(status, code, message).into_response(),
            Surface::Console => crate::console::PageError(status, message).into_response(),
        }
    }

    /// A 500 in this surface's error shape, which says nothing about the cause.
    fn internal_error(self) -> Response {
        match self {
            Surface::Console => crate::console::PageError::internal().into_response(),
            other => other.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error".into(),
            ),
        }
    }
}

/// The media type a request declares (`Content-Type` without its parameters, lower case), if
/// it declares one.
pub(crate) fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let media = String::from_utf8_lossy(value.as_bytes())
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    (!media.is_empty()).then_some(media)
}

/// The size of a request's header fields as they came on the wire (name, ": ", value, CRLF).
fn header_bytes(headers: &axum::http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// The outermost middleware: the request's [`RequestContext`] (id, client address, the slots
/// filled later), its span, the concurrency bound, the timeout, and the request metrics.
pub(crate) async fn guard(
    State(state): State<Arc<AppState>>, mut req: Request, next: Next,
) -> Response {
    let started = Instant::now();
    let id = uuid::Uuid::now_v7().simple().to_string();
    let method = method_label(req.method());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = client_ip(req.headers(), peer, state.ops.config.trust_proxy);
    let ctx = RequestContext::new(id, ip);
    req.extensions_mut().insert(ctx.clone());
    // Fields are formatted only when the span is recorded (not at all at the default level).
    let client = tracing::field::display(ClientLabel(ip));
    // The route is recorded by `note_route` once the router has matched one.
    let span = tracing::info_span!(
        "request",
        id = %ctx.id,
        method = method,
        route = "other",
        client = client
    );
    let permit = state.in_flight().try_acquire_owned().ok();
    let surface = Surface::of(req.uri().path());
    let limit = state.ops.config.max_header_bytes;
    let mut response = if header_bytes(req.headers()) > limit {
        // RFC 6585 section 5; nothing behind this layer runs.
        metrics::counter!("scimd_http_rejected_total", "reason" => "headers").increment(1);
        surface.error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request's header fields are larger than {limit} bytes in all"),
        )
    } else if permit.is_none() {
        metrics::counter!("scimd_http_rejected_total", "reason" => "busy").increment(1);
        busy(
            503,
            "the server is at its limit of concurrent requests; retry",
            Duration::from_secs(1),
        )
    } else {
        let timeout = state.ops.config.request_timeout;
        // A panic in a handler ends that request alone, as a 500 in its surface's shape.
        let run = std::panic::AssertUnwindSafe(next.run(req)).catch_unwind();
        match tokio::time::timeout(timeout, tracing::Instrument::instrument(run, span.clone()))
            .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => {
                metrics::counter!("scimd_http_panics_total").increment(1);
                span.in_scope(|| tracing::error!("the request's handler panicked; answered 500"));
                surface.internal_error()
            }
            Err(_) => {
                metrics::counter!("scimd_http_rejected_total", "reason" => "timeout").increment(1);
                span.in_scope(|| {
                    tracing::warn!(timeout_ms = timeout.as_millis() as u64, "request timed out")
                });
                busy(
                    503,
                    "the request took too long; retry",
                    Duration::from_secs(1),
                )
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&ctx.id) {
        response.headers_mut().insert("x-request-id", v);
    }
    // The console's own listener is plain HTTP, where the header means nothing.
    if state.https_public() && crate::routes::Surface::current() != crate::routes::Surface::Console
    {
        // No includeSubDomains: the parent domain is not ours to commit to HTTPS.
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    let kind = match ctx.org.get() {
        Some(org) => state
            .org_kind(org)
            .await
            .map(OrgKind::as_str)
            .unwrap_or("unknown"),
        None => "none",
    };
    let status = status_label(response.status());
    let route = ctx.route_label();
    metrics::counter!("scimd_http_requests_total", "route" => route.clone(), "method" => method, "status" => status, "org_kind" => kind).increment(1);
    metrics::histogram!("scimd_http_request_duration_seconds", "route" => route, "method" => method).record(started.elapsed().as_secs_f64());
    response
}

/// The client's address: the connection's peer, or with `trust_proxy` the address the nearest
/// proxy saw: the last entry across every `X-Forwarded-For` line, since a proxy may append its
/// own line after one the client sent (HAProxy's `option forwardfor` does), and everything
/// before the last entry is the client's to forge.
pub(crate) fn client_ip(
    req_headers: &axum::http::HeaderMap, peer: Option<SocketAddr>, trust_proxy: bool,
) -> Option<IpAddr> {
    if trust_proxy
        && let Some(ip) = req_headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
            .and_then(forwarded_ip)
    {
        return Some(ip);
    }
    peer.map(|p| p.ip())
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`[::1]:80`).
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The client address as a log field ("" when unknown).
struct ClientLabel(Option<IpAddr>);

impl std::fmt::Display for ClientLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

/// `Cache-Control: no-store` on an answer that may carry secrets or personal data (SCIM
/// resources, API sessions and token secrets), unless the handler chose otherwise.
pub(crate) async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::OpsConfig;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    /// A router with one slow route behind [`guard`], on a throwaway SQLite store.
    fn slow_app(config: OpsConfig) -> (Router, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("scimd-ops-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let store: Arc<dyn directory::Store> =
            Arc::new(store_sqlite::SqliteStore::open(&dir.join("t.db")).expect("store"));
        let clock: Arc<dyn directory::Clock> = Arc::new(directory::SystemClock);
        let scim = directory::scim::ScimService::new(store, clock, Default::default());
        let state = Arc::new(AppState::new(scim, None).with_ops(config));
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    "done"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
            .with_state(state);
        (app, dir)
    }

    fn get_slow() -> Request {
        Request::builder()
            .uri("/slow")
            .body(Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn beyond_the_concurrency_bound_requests_get_503() {
        let (app, dir) = slow_app(OpsConfig {
            max_concurrent: 1,
            ..OpsConfig::default()
        });
        let first = tokio::spawn(app.clone().oneshot(get_slow()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = app.clone().oneshot(get_slow()).await.expect("answer");
        assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(second.headers().contains_key(header::RETRY_AFTER));
        let first = first.await.expect("join").expect("answer");
        assert_eq!(first.status(), StatusCode::OK);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_request_past_its_timeout_gets_503() {
        let (app, dir) = slow_app(OpsConfig {
            request_timeout: Duration::from_millis(100),
            ..OpsConfig::default()
        });
        let r = app.oneshot(get_slow()).await.expect("answer");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key("x-request-id"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_client_address_is_the_last_forwarded_entry_of_all_lines() {
        let mut h = axum::http::HeaderMap::new();
        let peer: Option<SocketAddr> = "127.0.0.1:4000".parse().ok();
        h.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("7.7.7.7, 10.0.0.9"),
        );
        assert_eq!(client_ip(&h, peer, true), "10.0.0.9".parse().ok());
        assert_eq!(client_ip(&h, peer, false), "127.0.0.1".parse().ok());
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::1]:443 ,"),
        );
        assert_eq!(client_ip(&h, peer, true), "2001:db8::1".parse().ok());
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("not-an-address"),
        );
        assert_eq!(client_ip(&h, peer, true), "127.0.0.1".parse().ok());
    }

    #[tokio::test]
    async fn every_answer_has_its_own_request_id_and_hsts_only_over_https() {
        use crate::testing::TestApp;
        let probe = || {
            Request::get("/healthz")
                .body(Body::empty())
                .expect("request")
        };
        let t = TestApp::new().await;
        let (a, b) = (t.send(probe()).await, t.send(probe()).await);
        let id = a.header("x-request-id").to_owned();
        assert_eq!(id.len(), 32, "{id}");
        assert_ne!(id, b.header("x-request-id"));
        assert!(!a.headers.contains_key(header::STRICT_TRANSPORT_SECURITY));

        for https in [
            TestApp::with(|s| s.with_https(true)).await,
            TestApp::with(|mut s| {
                s.public_url = Some("HTTPS://id.example.org/scim/v2".into());
                s
            })
            .await,
        ] {
            let a = https.send(probe()).await;
            assert_eq!(
                a.header(header::STRICT_TRANSPORT_SECURITY),
                "max-age=31536000"
            );
        }
    }
}
