//! # scim-core
//!
//! The pure SCIM 2.0 protocol library that every other part of scimd stands on: the schema
//! registry (RFC 7643), attribute paths and filters (RFC 7644 section 3.4.2.2, 3.10), resource
//! validation and normalisation, the PATCH engine (RFC 7644 section 3.5.2), projection
//! (`attributes` / `excludedAttributes`), protocol messages and the error type.
//!
//! Guarantees: no I/O, no async, no clock, no panics on any input; every client mistake is a
//! [`ScimError`] with the right HTTP status and `scimType`.

mod canon;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod json;
pub mod messages;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;
mod syntax;

pub use error::{ScimError, ScimResult, ScimType};
