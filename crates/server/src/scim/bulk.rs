//! `POST /Bulk` (RFC 7644 section 3.7): the operations run in order, each with its own result.

use super::auth::Tenant;
use super::extract::{BaseUrl, ScimBody};
use super::response::{Scim, ScimResult};
use crate::state::AppState;
use axum::extract::State;
use scim_core::messages::{bulk_response, parse_bulk};
use std::sync::Arc;

pub(super) async fn bulk(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    ScimBody(body): ScimBody,
) -> ScimResult {
    let req = parse_bulk(&body, s.scim.config().bulk_max_operations)?;
    let results = s.scim.bulk(t.org, req, &b).await;
    Ok(Scim::ok(bulk_response(&results)))
}
