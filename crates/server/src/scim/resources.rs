//! The resource endpoints (RFC 7644 sections 3.3 to 3.6), one set of handlers for both types:
//! [`routes`] mounts them under `/Users` or `/Groups` with that type as an [`Extension`].

use super::extract::{ScimBody, ScimRequest};
use super::response::{Scim, ScimFailure, ScimResult};
use super::reuse::{Reuse, reusable};
use super::search;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use directory::render::{self, etag};
use directory::store::{Load, StoredResource};
use scim_core::messages::ListParams;
use scim_core::projection::Projection;
use scim_core::schema::ResourceKind;
use std::sync::Arc;

/// The routes of one resource type: its list, search, and one resource by id.
pub(super) fn routes(kind: ResourceKind) -> Router<Arc<AppState>> {
    let base = kind.endpoint();
    Router::new()
        .route(base, get(list).post(create))
        .route(&format!("{base}/.search"), post(search::search))
        .route(
            &format!("{base}/{{id}}"),
            get(read).put(replace).patch(patch).delete(delete),
        )
        .layer(Extension(kind))
}

fn relation_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    }
}

fn load_for(kind: ResourceKind, projection: &Projection) -> Load {
    Load {
        relations: projection.includes(kind, None, relation_name(kind)),
    }
}

/// Renders one resource with its projection, ETag and (for creates) Location.
fn resource_response(
    status: StatusCode, r: StoredResource, base: &str, projection: &Projection,
) -> Scim {
    let (kind, version) = (r.kind, r.version);
    let location = (status == StatusCode::CREATED).then(|| render::location(base, kind, &r.id));
    let mut body = render::into_rendered(r, base);
    projection.apply(kind, &mut body);
    let mut resp = Scim::status(status, Some(body)).header(header::ETAG, &etag(version));
    if let Some(location) = location {
        resp = resp.header(header::LOCATION, &location);
    }
    resp
}

/// `GET /{type}`: a page of resources.
async fn list(
    State(s): State<Arc<AppState>>, Extension(kind): Extension<ResourceKind>, req: ScimRequest,
    reuse: Reuse,
) -> Result<Response, ScimFailure> {
    let answer = async {
        let params = ListParams::from_query(&req.query.0)?;
        search::page(&s, req.tenant, kind, &req.base, params).await
    };
    reusable(&s, &req.tenant, &req.base, reuse, answer).await
}

/// `POST /{type}`: 201 with the new resource, its ETag and Location.
async fn create(
    State(s): State<Arc<AppState>>, Extension(kind): Extension<ResourceKind>, req: ScimRequest,
    ScimBody(body): ScimBody,
) -> ScimResult {
    let projection = req.query.projection(kind)?;
    let r = s
        .scim
        .create(req.tenant.org, kind, &body, load_for(kind, &projection))
        .await?;
    Ok(resource_response(
        StatusCode::CREATED,
        r,
        &req.base,
        &projection,
    ))
}

/// `GET /{type}/{id}`: the resource, or 304 when `If-None-Match` names its version.
async fn read(
    State(s): State<Arc<AppState>>, Extension(kind): Extension<ResourceKind>, req: ScimRequest,
    Path(id): Path<String>, reuse: Reuse,
) -> Result<Response, ScimFailure> {
    let answer = async {
        let projection = req.query.projection(kind)?;
        let r = s
            .scim
            .get(req.tenant.org, kind, &id, load_for(kind, &projection))
            .await?;
        if let Some(inm) = &req.if_none_match
            && render::etag_list_matches(inm, r.version)
        {
            return Ok(
                Scim::status(StatusCode::NOT_MODIFIED, None).header(header::ETAG, &etag(r.version))
            );
        }
        Ok(resource_response(StatusCode::OK, r, &req.base, &projection))
    };
    reusable(&s, &req.tenant, &req.base, reuse, answer).await
}

/// `PUT /{type}/{id}`: the resource replaced, under `If-Match` when given.
async fn replace(
    State(s): State<Arc<AppState>>, Extension(kind): Extension<ResourceKind>, req: ScimRequest,
    Path(id): Path<String>, ScimBody(body): ScimBody,
) -> ScimResult {
    let projection = req.query.projection(kind)?;
    let r = s
        .scim
        .replace(
            req.tenant.org,
            kind,
            &id,
            &body,
            &req.precondition,
            load_for(kind, &projection),
        )
        .await?;
    Ok(resource_response(StatusCode::OK, r, &req.base, &projection))
}

/// PATCH (RFC 7644 section 3.5.2) answers 200 with the resource, honouring `attributes` and
/// `excludedAttributes`. A Group PATCH asked for neither answers 204 with the new ETag: a group
/// may hold 100,000 members, and rendering them all after adding one would make every member
/// change cost what the group's size costs (Entra expects 204 here too; RFC 7644 allows it).
async fn patch(
    State(s): State<Arc<AppState>>, Extension(kind): Extension<ResourceKind>, req: ScimRequest,
    Path(id): Path<String>, ScimBody(body): ScimBody,
) -> ScimResult {
    let q = &req.query;
    let projection = q.projection(kind)?;
    let bare = q.get("attributes").is_none() && q.get("excludedAttributes").is_none();
    let org = req.tenant.org;
    let summary = crate::activity::patch_summary(&body);
    let noted = |answer: Scim| match &summary {
        Some(what) => answer.note(crate::activity::ActivityNote(what.clone())),
        None => answer,
    };
    if kind == ResourceKind::Group && bare {
        let r = s
            .scim
            .patch(org, kind, &id, &body, &req.precondition, Load::default())
            .await?;
        return Ok(noted(
            Scim::status(StatusCode::NO_CONTENT, None).header(header::ETAG, &etag(r.version)),
        ));
    }
    let load = load_for(kind, &projection);
    let r = s
        .scim
        .patch(org, kind, &id, &body, &req.precondition, load)
        .await?;
    Ok(noted(resource_response(
        StatusCode::OK,
        r,
        &req.base,
        &projection,
    )))
}

/// `DELETE /{type}/{id}`: 204, under `If-Match` when given.
async fn delete(
    State(s): State<Arc<AppState>>, Extension(kind): Extension<ResourceKind>, req: ScimRequest,
    Path(id): Path<String>,
) -> ScimResult {
    s.scim
        .delete(req.tenant.org, kind, &id, &req.precondition)
        .await?;
    Ok(Scim::status(StatusCode::NO_CONTENT, None))
}

#[cfg(test)]
mod tests {
    use crate::testing::{Answer, TestApp, group, scim_request, user};
    use axum::http::{Method, StatusCode, header};
    use serde_json::{Value, json};

    fn patch_op(path: &str, value: Value) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": path, "value": value}],
        })
    }

    /// Creates a resource and gives its id and ETag.
    async fn created(t: &TestApp, token: &str, path: &str, body: Value) -> (String, String) {
        let a = t.scim(Method::POST, path, token, body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let id = a.json()["id"].as_str().expect("id").to_owned();
        (id, a.header(header::ETAG).to_owned())
    }

    async fn with_if_match(
        t: &TestApp, method: Method, path: &str, token: &str, etag: &str, body: Value,
    ) -> Answer {
        let mut req = scim_request(method, path, token, body);
        req.headers_mut()
            .insert(header::IF_MATCH, etag.parse().expect("etag"));
        t.send(req).await
    }

    #[tokio::test]
    async fn a_created_resource_has_location_and_etag_and_a_matching_get_is_304() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let a = t
            .scim(Method::POST, "/scim/v2/Users", &token, user("ann"))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        assert_eq!(a.header(header::CONTENT_TYPE), "application/scim+json");
        let id = a.json()["id"].as_str().expect("id").to_owned();
        assert!(
            a.header(header::LOCATION)
                .ends_with(&format!("/Users/{id}"))
        );
        let etag = a.header(header::ETAG).to_owned();
        assert!(etag.starts_with("W/\""), "{etag}");

        let path = format!("/scim/v2/Users/{id}");
        let a = t.scim(Method::GET, &path, &token, Value::Null).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.header(header::ETAG), etag);
        assert_eq!(a.json()["userName"], "ann");

        let mut req = scim_request(Method::GET, &path, &token, Value::Null);
        req.headers_mut()
            .insert(header::IF_NONE_MATCH, etag.parse().expect("etag"));
        let a = t.send(req).await;
        assert_eq!(a.status, StatusCode::NOT_MODIFIED);
        assert_eq!(a.header(header::ETAG), etag);
        assert!(a.body.is_empty());
    }

    #[tokio::test]
    async fn a_stale_if_match_is_412_and_changes_nothing() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let (id, etag) = created(&t, &token, "/scim/v2/Users", user("ann")).await;
        let path = format!("/scim/v2/Users/{id}");
        let a = t
            .scim(
                Method::PATCH,
                &path,
                &token,
                patch_op("displayName", json!("Ann")),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_ne!(a.header(header::ETAG), etag);

        for (method, body) in [
            (Method::PUT, user("ann.b")),
            (Method::PATCH, patch_op("displayName", json!("B"))),
            (Method::DELETE, Value::Null),
        ] {
            let a = with_if_match(&t, method, &path, &token, &etag, body).await;
            assert_eq!(a.status, StatusCode::PRECONDITION_FAILED, "{}", a.text());
            assert_eq!(a.json()["status"], "412");
        }
        let a = t.scim(Method::GET, &path, &token, Value::Null).await;
        assert_eq!(a.json()["userName"], "ann");
        assert_eq!(a.json()["displayName"], "Ann");
    }

    #[tokio::test]
    async fn a_group_patch_is_204_with_an_etag_unless_attributes_are_asked_for() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let (id, etag) = created(&t, &token, "/scim/v2/Groups", group("staff")).await;
        let path = format!("/scim/v2/Groups/{id}");
        let a = t
            .scim(
                Method::PATCH,
                &path,
                &token,
                patch_op("displayName", json!("Staff")),
            )
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
        assert!(a.body.is_empty());
        let newer = a.header(header::ETAG).to_owned();
        assert!(!newer.is_empty() && newer != etag);

        let asked = format!("{path}?attributes=displayName");
        let a = t
            .scim(
                Method::PATCH,
                &asked,
                &token,
                patch_op("displayName", json!("All")),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["displayName"], "All");
        assert!(a.json().get("members").is_none(), "{}", a.text());

        // A user PATCH always answers with the resource.
        let (uid, _) = created(&t, &token, "/scim/v2/Users", user("ann")).await;
        let a = t
            .scim(
                Method::PATCH,
                &format!("/scim/v2/Users/{uid}"),
                &token,
                patch_op("displayName", json!("Ann")),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["displayName"], "Ann");
    }

    #[tokio::test]
    async fn each_type_has_its_own_routes() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let (uid, _) = created(&t, &token, "/scim/v2/Users", user("ann")).await;
        let (gid, _) = created(&t, &token, "/scim/v2/Groups", group("staff")).await;
        let a = t
            .scim(
                Method::GET,
                &format!("/scim/v2/Groups/{uid}"),
                &token,
                Value::Null,
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text());
        let a = t
            .scim(
                Method::GET,
                &format!("/scim/v2/Groups/{gid}"),
                &token,
                Value::Null,
            )
            .await;
        assert_eq!(a.json()["displayName"], "staff");
        let a = t
            .scim(Method::GET, "/scim/v2/Users", &token, Value::Null)
            .await;
        assert_eq!(a.json()["totalResults"], 1, "{}", a.text());
        assert_eq!(a.json()["Resources"][0]["id"], uid.as_str());
    }

    #[tokio::test]
    async fn a_deleted_resource_is_204_then_404() {
        let t = TestApp::new().await;
        let token = t.token().await;
        let (id, _) = created(&t, &token, "/scim/v2/Groups", group("staff")).await;
        let path = format!("/scim/v2/Groups/{id}");
        let a = t.scim(Method::DELETE, &path, &token, Value::Null).await;
        assert_eq!(a.status, StatusCode::NO_CONTENT);
        for method in [Method::GET, Method::DELETE] {
            let a = t.scim(method, &path, &token, Value::Null).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text());
            assert_eq!(a.json()["status"], "404");
        }
    }
}
