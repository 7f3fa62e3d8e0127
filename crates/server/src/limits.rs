//! The operational limits of one instance: the configuration ([`OpsConfig`]), the rate
//! limiters and the concurrency bound ([`Ops`]), and the 429 and 503 answers given beyond them.
//!
//! Limits are per instance (several instances behind a load balancer each apply their own);
//! the per-token default is far above what Entra or Okta send, because a 429 can put an Entra
//! provisioning job into quarantine: it exists to stop a runaway client, not to shape traffic.

use crate::scim::response::ScimFailure;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use directory::ids::AppId;
use directory::{OrgId, OrgKind, TokenId};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use scim_core::ScimError;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
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
    /// Largest total size of a request's header fields; beyond, 431.
    pub max_header_bytes: usize,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            // Entra sends a few requests per second per tenant, Okta a few dozen at most; a
            // bulk import with 16 connections against scimd stays below 1,000.
            token_rate: 1_000,
            token_burst: 2_000,
            auth_failures_per_minute: 30,
            max_header_bytes: 16 * 1024,
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
    /// Application keys get the rate tokens get (a runaway integration is stopped alike).
    per_app: Option<DefaultKeyedRateLimiter<AppId>>,
    auth_failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses over their failed-authentication budget, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    pub(crate) in_flight: Arc<Semaphore>,
    /// Events requests waiting for an event (`wait=`): at most a quarter of the concurrent
    /// requests, so waiting readers never take the places of working ones.
    pub(crate) waiting: Arc<Semaphore>,
    /// Organisation kinds never change: a metrics label without a query per request.
    pub(crate) kinds: Mutex<HashMap<OrgId, OrgKind>>,
}

impl Ops {
    pub fn new(config: OpsConfig) -> Ops {
        let quota = NonZeroU32::new(config.token_rate).map(|rate| {
            let burst = NonZeroU32::new(config.token_burst.max(config.token_rate)).unwrap_or(rate);
            Quota::per_second(rate).allow_burst(burst)
        });
        let per_token = quota.map(DefaultKeyedRateLimiter::keyed);
        let per_app = quota.map(DefaultKeyedRateLimiter::keyed);
        let failures =
            NonZeroU32::new(config.auth_failures_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Ops {
            per_token,
            per_app,
            auth_failures: DefaultKeyedRateLimiter::keyed(Quota::per_minute(failures)),
            blocked: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            waiting: Arc::new(Semaphore::new((config.max_concurrent / 4).max(1))),
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

    /// `Err(wait)` when application `app` is over its rate.
    pub(crate) fn check_app(&self, app: AppId) -> Result<(), Duration> {
        match &self.per_app {
            Some(l) => l
                .check_key(&app)
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
        if let Some(l) = &self.per_app {
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

/// A SCIM error answer with `Retry-After`: 503 when the server is busy.
pub(crate) fn busy(status: u16, detail: &str, retry_after: Duration) -> Response {
    let mut r = ScimFailure(ScimError::new(status, None, detail)).into_response();
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

#[cfg(test)]
mod tests {
    use super::OpsConfig;
    use crate::testing::{TestApp, scim_request};
    use axum::extract::ConnectInfo;
    use axum::http::{Method, StatusCode, header};
    use serde_json::Value;
    use std::net::SocketAddr;

    #[tokio::test]
    async fn a_token_over_its_rate_gets_429_with_retry_after() {
        let t = TestApp::with(|s| {
            s.with_ops(OpsConfig {
                token_rate: 1,
                token_burst: 1,
                ..OpsConfig::default()
            })
        })
        .await;
        let token = t.token().await;
        let mut statuses = Vec::new();
        let mut refused = None;
        for _ in 0..5 {
            let a = t
                .scim(Method::GET, "/scim/v2/Users", &token, Value::Null)
                .await;
            statuses.push(a.status);
            if a.status == StatusCode::TOO_MANY_REQUESTS {
                refused = Some(a);
            }
        }
        assert_eq!(statuses[0], StatusCode::OK);
        let a = refused.unwrap_or_else(|| panic!("never refused: {statuses:?}"));
        assert!(
            a.header(header::RETRY_AFTER)
                .parse::<u64>()
                .is_ok_and(|s| s >= 1)
        );
        assert_eq!(a.json()["status"], "429", "{}", a.text());
    }

    #[tokio::test]
    async fn an_address_that_fails_too_often_is_throttled_but_a_valid_token_still_passes() {
        let t = TestApp::with(|s| {
            s.with_ops(OpsConfig {
                auth_failures_per_minute: 1,
                ..OpsConfig::default()
            })
        })
        .await;
        let token = t.token().await;
        let from = |secret: &str| {
            let mut req = scim_request(Method::GET, "/scim/v2/Users", secret, Value::Null);
            let peer: SocketAddr = "192.0.2.7:5000".parse().expect("address");
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        };
        let first = t.send(from("scimd_wrong")).await;
        assert_eq!(first.status, StatusCode::UNAUTHORIZED);
        let second = t.send(from("scimd_wrong")).await;
        assert_eq!(second.status, StatusCode::UNAUTHORIZED);
        let third = t.send(from("scimd_wrong")).await;
        assert_eq!(
            third.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            third.text()
        );
        assert!(third.headers.contains_key(header::RETRY_AFTER));
        let valid = t.send(from(&token)).await;
        assert_eq!(valid.status, StatusCode::OK, "{}", valid.text());
    }
}
