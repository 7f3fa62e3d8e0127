//! # server
//!
//! scimd's HTTP front end: one route table for the SCIM 2.0 API under `/scim/v2`, the bearer
//! token extractor that selects the organisation, and the mapping of every error to a SCIM
//! error body. Handlers extract input, call one service method, and map the result; no SQL,
//! no rules, no clock here.

mod auth;
mod response;
mod routes;

pub use routes::{AppState, router};
