//! Listing and searching: the pages of `GET /Users` and `GET /Groups`, `POST /Users/.search`
//! and `POST /Groups/.search`, and the root `POST /.search` over both types (RFC 7644
//! sections 3.4.2 and 3.4.3).

use super::auth::Tenant;
use super::extract::{BaseUrl, ScimBody};
use super::response::{Scim, ScimFailure, ScimResult};
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use directory::render;
use scim_core::ScimError;
use scim_core::messages::{ListParams, list_response};
use scim_core::schema::ResourceKind;
use std::sync::Arc;

/// One page of `kind` for `params`, rendered with its projection.
pub(super) async fn page(
    s: &AppState, t: Tenant, kind: ResourceKind, base: &str, params: ListParams,
) -> ScimResult {
    let prepared = s.scim.prepare_list(kind, &params)?;
    let page = s.scim.list(t.org, kind, &prepared.query).await?;
    let resources = page
        .resources
        .into_iter()
        .map(|r| {
            let mut body = render::into_rendered(r, base);
            prepared.projection.apply(kind, &mut body);
            body
        })
        .collect();
    let cursor_mode = prepared.query.cursor.is_some();
    Ok(Scim::ok(list_response(
        resources,
        Some(page.total),
        (!cursor_mode).then_some(prepared.query.start_index),
        page.next_cursor,
        None,
    )))
}

/// `POST /{type}/.search`: the list of `GET /{type}` with its parameters in the body.
pub(super) async fn search(
    State(s): State<Arc<AppState>>, Extension(kind): Extension<ResourceKind>, t: Tenant,
    BaseUrl(b): BaseUrl, ScimBody(body): ScimBody,
) -> ScimResult {
    page(&s, t, kind, &b, ListParams::from_search_body(&body)?).await
}

/// POST /.search: Users then Groups, paged as one list (RFC 7644 section 3.4.3). A filter
/// must make sense for at least one of the two types; a type it does not fit contributes
/// nothing.
pub(super) async fn search_root(
    State(s): State<Arc<AppState>>, t: Tenant, BaseUrl(b): BaseUrl, ScimBody(body): ScimBody,
) -> ScimResult {
    let params = ListParams::from_search_body(&body)?;
    if params.cursor.is_some() {
        return Err(ScimFailure(ScimError::bad_request(
            scim_core::ScimType::InvalidCursor,
            "cursor paging is not supported on the root search; search /Users or /Groups",
        )));
    }
    let prepared: Vec<_> = match (
        s.scim.prepare_list(ResourceKind::User, &params),
        s.scim.prepare_list(ResourceKind::Group, &params),
    ) {
        (Err(e), Err(_)) => return Err(ScimFailure(e)),
        (u, g) => [u.ok(), g.ok()].into_iter().flatten().collect(),
    };
    let (start, count) = prepared
        .first()
        .map(|p| (p.query.start_index, p.query.count))
        .unwrap_or((1, 0));
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut skip = start - 1;
    for p in prepared {
        let mut q = p.query.clone();
        q.count = 0;
        let n = s.scim.list(t.org, p.kind, &q).await?.total;
        let want = count.saturating_sub(out.len() as u64);
        if want > 0 && skip < n {
            q.start_index = skip + 1;
            q.count = want;
            for r in &s.scim.list(t.org, p.kind, &q).await?.resources {
                let mut body = render::render(r, &b);
                p.projection.apply(p.kind, &mut body);
                out.push(body);
            }
        }
        skip = skip.saturating_sub(n);
        total += n;
    }
    Ok(Scim::ok(list_response(
        out,
        Some(total),
        Some(start),
        None,
        None,
    )))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestApp, group, user};
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    #[tokio::test]
    async fn a_type_search_filters_and_the_root_search_pages_across_both_types() {
        let t = TestApp::new().await;
        let token = t.token().await;
        for body in [user("ann"), user("bob"), group("staff")] {
            let path = if body["userName"].is_string() {
                "/scim/v2/Users"
            } else {
                "/scim/v2/Groups"
            };
            let a = t.scim(Method::POST, path, &token, body).await;
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        }
        let search = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName eq \"bob\"",
        });
        let a = t
            .scim(Method::POST, "/scim/v2/Users/.search", &token, search)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["totalResults"], 1);
        assert_eq!(a.json()["Resources"][0]["userName"], "bob");

        let page = |start: u64| {
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "startIndex": start,
                "count": 2,
            })
        };
        let a = t
            .scim(Method::POST, "/scim/v2/.search", &token, page(1))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["totalResults"], 3);
        assert_eq!(a.json()["Resources"].as_array().map(Vec::len), Some(2));
        let a = t
            .scim(Method::POST, "/scim/v2/.search", &token, page(3))
            .await;
        assert_eq!(a.json()["startIndex"], 3);
        assert_eq!(
            a.json()["Resources"][0]["displayName"],
            "staff",
            "{}",
            a.text()
        );
    }

    #[tokio::test]
    async fn the_root_search_refuses_cursor_paging() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "cursor": "",
        });
        let a = t.scim(Method::POST, "/scim/v2/.search", &token, body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
        assert_eq!(a.json()["scimType"], "invalidCursor");
    }
}
