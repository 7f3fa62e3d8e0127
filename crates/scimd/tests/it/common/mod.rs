//! Test harness for the black-box suites: runs the real `scimd` binary on a free port with its
//! own SQLite database in a temporary directory, and talks to it over HTTP like an identity
//! provider would.
//!
//! Every test starts its own [`Server`]; ports never clash because the server binds port 0 and
//! reports the port it got. Dropping the [`Server`] stops the process (SIGTERM, then a kill if it
//! does not stop) and removes the directory. When a test panics, the tail of the server's log is
//! printed to help diagnose it.

#![allow(dead_code)]

mod cli;
mod http;
mod pg_cluster;
mod server;
mod smtp;
mod tmpfs;
mod util;
mod webhooks;

pub use cli::*;
pub use http::*;
pub use pg_cluster::*;
pub use server::*;
pub use smtp::*;
pub use tmpfs::*;
pub use util::*;
pub use webhooks::*;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SEARCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const SCIM_JSON: &str = "application/scim+json";

const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const LOG_TAIL: usize = 200;

static COUNTER: AtomicU64 = AtomicU64::new(0);
