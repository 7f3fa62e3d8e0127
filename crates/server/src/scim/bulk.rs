//! `POST /Bulk` (RFC 7644 section 3.7): the operations run in order, each with its own result.

use super::auth::Tenant;
use super::extract::{BaseUrl, ScimBody};
use super::response::{Scim, ScimResult};
use crate::state::AppState;
use axum::extract::State;
use scim_core::messages::{bulk_response, parse_bulk};
use std::sync::Arc;

pub(super) async fn bulk(
    State(s): State<Arc<AppState>>, t: Tenant, BaseUrl(b): BaseUrl, ScimBody(body): ScimBody,
) -> ScimResult {
    let req = parse_bulk(&body, s.scim.config().bulk_max_operations)?;
    let results = s.scim.bulk(t.org, req, &b).await;
    Ok(Scim::ok(bulk_response(&results)))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestApp, user};
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    #[tokio::test]
    async fn a_bulk_request_answers_each_operation() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("ann")},
                {"method": "DELETE", "path": "/Users/nobody"},
            ],
        });
        let a = t.scim(Method::POST, "/scim/v2/Bulk", &token, body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let ops = a.json()["Operations"].clone();
        assert_eq!(ops[0]["bulkId"], "a", "{ops}");
        assert_eq!(ops[0]["status"], "201", "{ops}");
        assert_eq!(ops[1]["status"], "404", "{ops}");
        let a = t
            .scim(Method::POST, "/scim/v2/Bulk", &token, json!({}))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    }
}
