//! # server
//!
//! scimd's HTTP front end, one route table ([`router`]) over:
//!
//! - `scim`: the SCIM 2.0 API under `/scim/v2`: the bearer-token extractor that selects the
//!   organisation, one set of resource handlers for Users and Groups, search, bulk, discovery,
//!   the read cache, and the SCIM error body;
//! - [`api`]: the administrative JSON API under `/api/v1`;
//! - [`console`]: the administrators' web console at `/`;
//! - `health` and `metrics`: `/healthz`, `/readyz` and Prometheus `/metrics`.
//!
//! Around them: `middleware` (the request's context, concurrency bound, timeout, request
//! metrics), `context` (what one request's layers and handlers share: its id, the client
//! address, the organisation and route once known) and [`limits`] (rate limits and throttles); [`AppState`] is what every request
//! shares. Handlers extract input, call a service method, and map the result; no SQL and no
//! clock here. Beside them: the activity log writer (off the hot path) and the background jobs
//! of `serve` ([`jobs`]).

pub mod acme;
mod activity;
pub mod api;
pub mod backup;
pub mod console;
mod context;
pub mod dns;
mod health;
pub mod jobs;
pub mod limits;
mod metrics;
mod middleware;
mod routes;
mod scim;
mod state;
#[cfg(test)]
mod testing;
pub mod tls;
pub mod transport;
pub mod webhooks;

pub use activity::{ActivitySink, ActivityWriter};
pub use jobs::{JobConfig, Jobs};
pub use limits::OpsConfig;
pub use metrics::prometheus;
pub use routes::{Surface, router, router_for};
pub use scim::read_cache::DEFAULT_ENTRIES as DEFAULT_READ_CACHE_ENTRIES;
pub use state::AppState;
