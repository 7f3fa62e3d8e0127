//! The SCIM protocol as RFC 7643 / 7644 / 9865 and docs/contract.md ("The SCIM service") define it, driven against
//! the real binary: bad input of every kind, discovery, conditional requests, projection,
//! sorting, filters, index and cursor paging, Bulk, membership and PATCH atomicity, one module
//! per section.

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Ids of the users a filter selects (through `GET /Users?filter=`).
async fn select(api: &Api, expr: &str) -> BTreeSet<String> {
    let r = api.get(&format!("/Users?{}", filter(expr))).await;
    assert_eq!(r.status, 200, "filter `{expr}`: {}", r.text);
    r.expect_list();
    r.resource_ids().into_iter().collect()
}

mod bad_input;
mod bulk;
mod discovery;
mod etags;
mod filters;
mod membership;
mod paging;
mod patch;
mod projection;
mod representation;
