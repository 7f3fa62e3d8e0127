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
    status: StatusCode,
    r: StoredResource,
    base: &str,
    projection: &Projection,
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
    State(s): State<Arc<AppState>>,
    Extension(kind): Extension<ResourceKind>,
    req: ScimRequest,
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
    State(s): State<Arc<AppState>>,
    Extension(kind): Extension<ResourceKind>,
    req: ScimRequest,
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
    State(s): State<Arc<AppState>>,
    Extension(kind): Extension<ResourceKind>,
    req: ScimRequest,
    Path(id): Path<String>,
    reuse: Reuse,
) -> Result<Response, ScimFailure> {
    let answer = async {
        let projection = req.query.projection(kind)?;
        let r = s
            .scim
            .get(req.tenant.org, kind, &id, load_for(kind, &projection))
            .await?;
        if let Some(inm) = req
            .headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
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
    State(s): State<Arc<AppState>>,
    Extension(kind): Extension<ResourceKind>,
    req: ScimRequest,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    let projection = req.query.projection(kind)?;
    let r = s
        .scim
        .replace(
            req.tenant.org,
            kind,
            &id,
            &body,
            &req.precondition(),
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
    State(s): State<Arc<AppState>>,
    Extension(kind): Extension<ResourceKind>,
    req: ScimRequest,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> ScimResult {
    let q = &req.query;
    let projection = q.projection(kind)?;
    let bare = q.get("attributes").is_none() && q.get("excludedAttributes").is_none();
    let org = req.tenant.org;
    if kind == ResourceKind::Group && bare {
        let r = s
            .scim
            .patch(org, kind, &id, &body, &req.precondition(), Load::default())
            .await?;
        return Ok(
            Scim::status(StatusCode::NO_CONTENT, None).header(header::ETAG, &etag(r.version))
        );
    }
    let load = load_for(kind, &projection);
    let r = s
        .scim
        .patch(org, kind, &id, &body, &req.precondition(), load)
        .await?;
    Ok(resource_response(StatusCode::OK, r, &req.base, &projection))
}

/// `DELETE /{type}/{id}`: 204, under `If-Match` when given.
async fn delete(
    State(s): State<Arc<AppState>>,
    Extension(kind): Extension<ResourceKind>,
    req: ScimRequest,
    Path(id): Path<String>,
) -> ScimResult {
    s.scim
        .delete(req.tenant.org, kind, &id, &req.precondition())
        .await?;
    Ok(Scim::status(StatusCode::NO_CONTENT, None))
}
