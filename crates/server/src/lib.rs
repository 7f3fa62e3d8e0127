//! # server
//!
//! scimd's HTTP front end: one route table for the SCIM 2.0 API under `/scim/v2` and the
//! administrative JSON API under `/api/v1` (see [`api`]), the administrators' web console at
//! `/` (see [`console`]), the bearer
//! token extractor that selects the organisation, and the mapping of every error to a SCIM
//! error body. Handlers extract input, call one service method, and map the result; no SQL,
//! no rules, no clock here. Beside them: the activity log writer (off the hot path) and the
//! background jobs of `serve`.

mod activity;
pub mod api;
pub mod console;
pub mod dns;
mod health;
pub mod jobs;
pub mod limits;
mod metrics;
mod middleware;
mod routes;
mod scim;
mod state;
pub mod tls;

pub use activity::{ActivitySink, ActivityWriter};
pub use jobs::{JobConfig, Jobs};
pub use limits::OpsConfig;
pub use metrics::prometheus;
pub use routes::router;
pub use scim::read_cache::DEFAULT_ENTRIES as DEFAULT_READ_CACHE_ENTRIES;
pub use state::AppState;
