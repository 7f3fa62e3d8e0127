//! Running it for real: `/healthz`, `/readyz`, Prometheus `/metrics`, a request id on every
//! log line and response, a bound on concurrent requests (503 beyond it), a timeout per
//! request (503), per-token rate limits (429 with `Retry-After`) and a throttle on failed
//! authentication per client address (429).
//!
//! Limits are per instance (several instances behind a load balancer each apply their own);
//! the per-token default is far above what Entra or Okta send, because a 429 can put an Entra
//! provisioning job into quarantine: it exists to stop a runaway client, not to shape traffic.

use crate::scim::response::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use directory::{OrgId, OrgKind, TokenId};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use scim_core::ScimError;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The operational limits of one instance.
#[derive(Debug, Clone)]
pub struct OpsConfig {
    /// Requests per second each token may make (sustained); 0 turns the limit off.
    pub token_rate: u32,
    /// How many requests a token may make at once above the sustained rate.
    pub token_burst: u32,
    /// Failed authentications per client address per minute before it is throttled.
    pub auth_failures_per_minute: u32,
    /// Requests served at once; more get 503.
    pub max_concurrent: usize,
    /// Longest a request may take; it then gets 503.
    pub request_timeout: Duration,
    /// Take the client address from `X-Forwarded-For` (behind a reverse proxy).
    pub trust_proxy: bool,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            // Entra sends a few requests per second per tenant, Okta a few dozen at most; a
            // bulk import with 16 connections against scimd stays below 1,000.
            token_rate: 1_000,
            token_burst: 2_000,
            auth_failures_per_minute: 30,
            max_concurrent: 1_024,
            request_timeout: Duration::from_secs(30),
            trust_proxy: false,
        }
    }
}

/// The operational state shared by every request of an instance.
#[derive(Debug)]
pub struct Ops {
    pub config: OpsConfig,
    per_token: Option<DefaultKeyedRateLimiter<TokenId>>,
    auth_failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses over their failed-authentication budget, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    pub(crate) in_flight: Arc<Semaphore>,
    /// Organisation kinds never change: a metrics label without a query per request.
    pub(crate) kinds: Mutex<HashMap<OrgId, OrgKind>>,
}

impl Ops {
    pub fn new(config: OpsConfig) -> Ops {
        let per_token = NonZeroU32::new(config.token_rate).map(|rate| {
            let burst = NonZeroU32::new(config.token_burst.max(config.token_rate)).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let failures =
            NonZeroU32::new(config.auth_failures_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Ops {
            per_token,
            auth_failures: DefaultKeyedRateLimiter::keyed(Quota::per_minute(failures)),
            blocked: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            kinds: Mutex::new(HashMap::new()),
            config,
        }
    }

    /// `Err(wait)` when `token` is over its rate.
    pub(crate) fn check_token(&self, token: TokenId) -> Result<(), Duration> {
        match &self.per_token {
            Some(l) => l
                .check_key(&token)
                .map_err(|n| n.wait_time_from(DefaultClock::default().now())),
            None => Ok(()),
        }
    }

    /// Counts a failed authentication from `ip`; past its budget the address is throttled
    /// for as long as the budget takes to refill.
    pub(crate) fn auth_failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        if let Err(n) = self.auth_failures.check_key(&ip) {
            let wait = n
                .wait_time_from(DefaultClock::default().now())
                .max(Duration::from_secs(1));
            metrics::counter!("scimd_auth_throttled_total").increment(1);
            tracing::warn!(%ip, wait_s = wait.as_secs(), "too many failed authentications; throttling");
            self.blocked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(ip, Instant::now() + wait);
        }
    }

    /// How long `ip` is still throttled for, if it is.
    pub(crate) fn throttled(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let ip = ip?;
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let until = *blocked.get(&ip)?;
        until.checked_duration_since(Instant::now())
    }

    /// Forgets idle keys (run now and then).
    pub fn shrink(&self) {
        if let Some(l) = &self.per_token {
            l.retain_recent();
        }
        self.auth_failures.retain_recent();
        let now = Instant::now();
        self.blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, until| *until > now);
    }
}

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

/// The client's address: the connection's peer, or with `trust_proxy` the address the nearest
/// proxy saw: the last entry across every `X-Forwarded-For` line, since a proxy may append its
/// own line after one the client sent (HAProxy's `option forwardfor` does), and everything
/// before the last entry is the client's to forge.
pub(crate) fn client_ip(
    req_headers: &axum::http::HeaderMap,
    peer: Option<SocketAddr>,
    trust_proxy: bool,
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

/// The client address of a request, put there by [`guard`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub Option<IpAddr>);

/// The organisation a request acted for, noted by the bearer extractor (metrics label).
#[derive(Debug, Default)]
pub(crate) struct RequestOrg(pub OnceLock<OrgId>);

/// The route template a request matched (`/scim/v2/Users/{id}`), noted by [`note_route`]:
/// [`guard`] runs before routing, so it leaves this slot for the router to fill.
#[derive(Debug, Default)]
pub(crate) struct MatchedRoute(OnceLock<MatchedPath>);

impl MatchedRoute {
    /// The metrics label: the template, or `other` when no route matched (the fallback), so
    /// that a client cannot create a series per path it makes up.
    fn label(&self) -> String {
        self.0
            .get()
            .map_or_else(|| "other".to_owned(), |m| m.as_str().to_owned())
    }
}

/// A route layer over every route of the router: it sees the route's template, which the
/// outermost [`guard`] cannot.
pub(crate) async fn note_route(req: Request, next: Next) -> Response {
    if let (Some(path), Some(slot)) = (
        req.extensions().get::<MatchedPath>(),
        req.extensions().get::<Arc<MatchedRoute>>(),
    ) {
        tracing::Span::current().record("route", path.as_str());
        let _ = slot.0.set(path.clone());
    }
    next.run(req).await
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

/// A metrics label for a method: the standard ones, and `OTHER` for any extension method (a
/// client may send any token there).
fn method_label(m: &Method) -> &'static str {
    ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        .into_iter()
        .find(|k| *k == m.as_str())
        .unwrap_or("OTHER")
}

/// A metrics label for a status code, without an allocation for the usual ones.
fn status_label(s: StatusCode) -> metrics::SharedString {
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

fn busy(status: u16, detail: &str, retry_after: Duration) -> Response {
    let mut r = ApiError(ScimError::new(status, None, detail)).into_response();
    let secs = retry_after.as_secs().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// A 429 for a client over a limit.
pub(crate) fn too_many(detail: &str, wait: Duration) -> Response {
    let mut r = busy(429, detail, wait);
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    r
}

/// The outermost middleware: request id and span, client address, the concurrency bound, the
/// timeout, and the request metrics.
pub(crate) async fn guard(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = uuid::Uuid::now_v7().simple().to_string();
    let method = method_label(req.method());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = client_ip(req.headers(), peer, state.ops.config.trust_proxy);
    req.extensions_mut().insert(ClientIp(ip));
    let org_slot = Arc::new(RequestOrg::default());
    req.extensions_mut().insert(org_slot.clone());
    let route_slot = Arc::new(MatchedRoute::default());
    req.extensions_mut().insert(route_slot.clone());
    // Fields are formatted only when the span is recorded (not at all at the default level).
    let client = tracing::field::display(ClientLabel(ip));
    // The route is recorded by `note_route` once the router has matched one.
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = method,
        route = "other",
        client = client
    );
    let permit = state.in_flight().try_acquire_owned().ok();
    let mut response = if permit.is_none() {
        metrics::counter!("scimd_http_rejected_total", "reason" => "busy").increment(1);
        busy(
            503,
            "the server is at its limit of concurrent requests; retry",
            Duration::from_secs(1),
        )
    } else {
        let timeout = state.ops.config.request_timeout;
        match tokio::time::timeout(
            timeout,
            tracing::Instrument::instrument(next.run(req), span.clone()),
        )
        .await
        {
            Ok(r) => r,
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
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if state.https_public() {
        // No includeSubDomains: the parent domain is not ours to commit to HTTPS.
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    let kind = match org_slot.0.get() {
        Some(org) => state
            .org_kind(*org)
            .await
            .map(OrgKind::as_str)
            .unwrap_or("unknown"),
        None => "none",
    };
    let status = status_label(response.status());
    let route = route_slot.label();
    metrics::counter!("scimd_http_requests_total", "route" => route.clone(), "method" => method, "status" => status, "org_kind" => kind).increment(1);
    metrics::histogram!("scimd_http_request_duration_seconds", "route" => route, "method" => method).record(started.elapsed().as_secs_f64());
    response
}

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
    use axum::Router;
    use axum::body::Body;
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
    fn method_labels_are_a_fixed_set() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let odd = Method::from_bytes(b"FOOBARMETHOD").expect("method");
        assert_eq!(method_label(&odd), "OTHER");
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
}
