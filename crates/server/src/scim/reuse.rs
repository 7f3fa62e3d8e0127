//! The read cache's glue for the SCIM reads: [`Reuse`] picks up the change mark the bearer
//! extractor noted in the request's context, and [`reusable`] answers from the cache or keeps the answer it builds.

use super::auth::Tenant;
use super::read_cache::ReadCache;
use super::response::{ScimFailure, ScimResult};
use crate::context::RequestContext;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;

/// What the read cache needs of a request: its path and query, and the change mark read when
/// it authenticated (none for a conditional request). Extracted after [`Tenant`].
pub(super) struct Reuse {
    path_and_query: String,
    mark: Option<directory::store::ChangeMark>,
}

impl<S: Send + Sync> FromRequestParts<S> for Reuse {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let conditional = parts.headers.contains_key(header::IF_NONE_MATCH)
            || parts.headers.contains_key(header::IF_MATCH);
        let mark = RequestContext::of(&parts.extensions)
            .and_then(|c| c.mark.get())
            .filter(|_| !conditional);
        let path_and_query = match mark {
            Some(_) => parts
                .uri
                .path_and_query()
                .map_or(parts.uri.path(), |pq| pq.as_str())
                .to_owned(),
            None => String::new(),
        };
        Ok(Reuse {
            path_and_query,
            mark,
        })
    }
}

/// Answers a SCIM read from the read cache when it holds a current answer for this request;
/// otherwise with `answer`, which it keeps when it can.
pub(super) async fn reusable(
    s: &AppState, t: &Tenant, base: &str, reuse: Reuse, answer: impl Future<Output = ScimResult>,
) -> Result<Response, ScimFailure> {
    let Some(mark) = reuse.mark else {
        return Ok(answer.await?.into_response());
    };
    let key = ReadCache::key(t.org, base, &reuse.path_and_query);
    if let Some(hit) = s.read_cache.get(mark, &key) {
        return Ok(hit);
    }
    let (status, body, headers) = answer.await?.into_parts();
    if let (StatusCode::OK, Some(body)) = (status, &body) {
        s.read_cache.put(
            mark,
            || s.store.change_mark(),
            key,
            body,
            headers.get(header::ETAG),
        );
    }
    Ok(super::response::from_parts(status, body, headers))
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestApp, user};
    use axum::http::{Method, StatusCode, header};
    use serde_json::{Value, json};

    #[tokio::test]
    async fn a_repeated_read_is_never_older_than_the_last_write() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let a = t
            .scim(Method::POST, "/scim/v2/Users", &token, user("ann"))
            .await;
        let path = format!("/scim/v2/Users/{}", a.json()["id"].as_str().expect("id"));
        let first = t.scim(Method::GET, &path, &token, Value::Null).await;
        let again = t.scim(Method::GET, &path, &token, Value::Null).await;
        assert_eq!(first.body, again.body);
        assert_eq!(first.header(header::ETAG), again.header(header::ETAG));
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Ann"}],
        });
        let a = t.scim(Method::PATCH, &path, &token, patch).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let after = t.scim(Method::GET, &path, &token, Value::Null).await;
        assert_eq!(after.json()["displayName"], "Ann");
        assert_eq!(after.header(header::ETAG), a.header(header::ETAG));
        let list = t
            .scim(Method::GET, "/scim/v2/Users", &token, Value::Null)
            .await;
        assert_eq!(list.json()["Resources"][0]["displayName"], "Ann");
    }
}
