//! The discovery endpoints (RFC 7644 section 4): `/ServiceProviderConfig`, `/ResourceTypes`
//! and `/Schemas`, authenticated like every SCIM endpoint.

use super::auth::Tenant;
use super::extract::{BaseUrl, QueryPairs};
use super::response::{Scim, ScimFailure, ScimResult};
use crate::state::AppState;
use axum::extract::{Path, State};
use scim_core::ScimError;
use scim_core::discovery;
use std::sync::Arc;

pub(super) async fn service_provider_config(
    State(s): State<Arc<AppState>>, _t: Tenant, BaseUrl(base): BaseUrl,
) -> Scim {
    Scim::ok(discovery::service_provider_config(s.scim.config(), &base))
}

pub(super) async fn resource_types(
    _t: Tenant, BaseUrl(base): BaseUrl, q: QueryPairs,
) -> ScimResult {
    refuse_filter(&q)?;
    Ok(Scim::ok(discovery::list_of(discovery::resource_types(
        &base,
    ))))
}

pub(super) async fn resource_type(
    _t: Tenant, BaseUrl(base): BaseUrl, Path(id): Path<String>,
) -> ScimResult {
    discovery::resource_type(&id, &base)
        .map(Scim::ok)
        .ok_or_else(|| {
            ScimFailure(ScimError::not_found(format!(
                "resource type '{id}' not found"
            )))
        })
}

pub(super) async fn schemas(_t: Tenant, BaseUrl(base): BaseUrl, q: QueryPairs) -> ScimResult {
    refuse_filter(&q)?;
    Ok(Scim::ok(discovery::list_of(discovery::schemas(&base))))
}

pub(super) async fn schema(
    _t: Tenant, BaseUrl(base): BaseUrl, Path(id): Path<String>,
) -> ScimResult {
    discovery::schema(&id, &base)
        .map(Scim::ok)
        .ok_or_else(|| ScimFailure(ScimError::not_found(format!("schema '{id}' not found"))))
}

/// RFC 7644 section 4: discovery endpoints do not take filters.
fn refuse_filter(q: &QueryPairs) -> Result<(), ScimFailure> {
    match q.get("filter") {
        Some(f) if !f.is_empty() => Err(ScimFailure(ScimError::new(
            403,
            None,
            "filtering is not supported on discovery endpoints",
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestApp;
    use axum::http::{Method, StatusCode};
    use serde_json::Value;

    #[tokio::test]
    async fn discovery_answers_with_the_base_url_and_refuses_filters() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let a = t
            .scim(
                Method::GET,
                "/scim/v2/ResourceTypes/User",
                &token,
                Value::Null,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json()["endpoint"], "/Users");
        let a = t
            .scim(
                Method::GET,
                "/scim/v2/Schemas?filter=id%20pr",
                &token,
                Value::Null,
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        let a = t
            .scim(
                Method::GET,
                "/scim/v2/Schemas/urn:nothing",
                &token,
                Value::Null,
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        let a = t
            .scim(
                Method::GET,
                "/scim/v2/ServiceProviderConfig",
                &token,
                Value::Null,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json()["patch"]["supported"], true, "{}", a.text());
    }
}
