//! The route table and the SCIM handlers.

use crate::auth::Tenant;
use crate::read_cache::{self, ReadCache};
use crate::response::{ApiError, ApiResult, Scim};
use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use directory::render::{self, etag};
use directory::scim::Precondition;
use directory::store::{Load, StoredResource};
use scim_core::ScimError;
use scim_core::discovery;
use scim_core::messages::{ListParams, bulk_response, list_response, parse_bulk};
use scim_core::projection::Projection;
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::sync::Arc;

/// The SCIM API's base URL for this request.
#[derive(Debug, Clone)]
struct BaseUrl(String);

impl FromRequestParts<Arc<AppState>> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(u) = &state.public_url {
            return Ok(BaseUrl(u.trim_end_matches('/').to_owned()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        Ok(BaseUrl(format!("http://{host}/scim/v2")))
    }
}

/// Query parameters as pairs; names are matched case-insensitively later.
struct QueryPairs(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        Ok(QueryPairs(
            form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        ))
    }
}

impl QueryPairs {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn projection(&self, kind: ResourceKind) -> Result<Projection, ApiError> {
        Ok(Projection::parse(
            kind,
            self.get("attributes"),
            self.get("excludedAttributes"),
        )?)
    }
}

/// A JSON request body: `application/scim+json`, `application/json`, any other `...json`
/// type, or none (clients differ); a body declared as something else (`text/plain`, XML, a
/// form) is 415. Too large: 413; not JSON: 400 `invalidSyntax`.
struct ScimBody(Value);

impl FromRequest<Arc<AppState>> for ScimBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let media = ct
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if !media.is_empty() && !media.ends_with("json") {
                return Err(ApiError(ScimError::new(
                    415,
                    None,
                    format!("the request body must be application/scim+json, not {media}"),
                )));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(ScimError::payload_too_large(format!(
                    "the request body is larger than {} bytes",
                    state.scim.config().bulk_max_payload_bytes
                )))
            } else {
                ApiError(ScimError::invalid_syntax(
                    "the request body could not be read",
                ))
            }
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError(ScimError::invalid_syntax(format!(
                "the request body is not valid JSON: {e}"
            )))
        })?;
        Ok(ScimBody(value))
    }
}

fn precondition(headers: &HeaderMap) -> Precondition {
    Precondition(
        headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    )
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

/// The route table. `/scim/v2` is the base; everything else is 404 with a SCIM error body.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.scim.config().bulk_max_payload_bytes;
    let scim = Router::new()
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/.search", post(search_groups))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route("/.search", post(search_root))
        .route("/Bulk", post(bulk))
        .route(
            "/ServiceProviderConfig",
            get(service_provider_config).fallback(method_not_allowed),
        )
        .route(
            "/ResourceTypes",
            get(resource_types).fallback(method_not_allowed),
        )
        .route(
            "/ResourceTypes/{id}",
            get(resource_type).fallback(method_not_allowed),
        )
        .route("/Schemas", get(schemas).fallback(method_not_allowed))
        .route("/Schemas/{id}", get(schema).fallback(method_not_allowed))
        .route("/Me", any(me))
        .route("/Me/{*rest}", any(me))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(no_store))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::activity::record,
        ));
    Router::new()
        .nest("/scim/v2", scim)
        .nest("/api/v1", crate::api::routes())
        .route("/healthz", get(crate::ops::healthz))
        .route("/readyz", get(crate::ops::readyz))
        .route("/metrics", get(crate::ops::metrics_text))
        .merge(crate::console::routes(state.clone()))
        // After every nest and merge, so that each route (and no fallback) names its template.
        .route_layer(axum::middleware::from_fn(crate::ops::note_route))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::ops::guard,
        ))
        .with_state(state)
}

/// `Cache-Control: no-store` on an answer that may carry secrets or personal data (SCIM
/// resources, API sessions and token secrets), unless the handler chose otherwise.
pub(crate) async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> ApiError {
    ApiError(ScimError::not_found("no such endpoint"))
}

async fn method_not_allowed(method: Method) -> Response {
    let mut r = ApiError(ScimError::new(
        405,
        None,
        format!("method {method} is not allowed here"),
    ))
    .into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

async fn me(_t: Tenant) -> ApiError {
    ApiError(ScimError::new(
        501,
        None,
        "/Me is not supported: a token authenticates a provisioning client, not a user",
    ))
}

// --- discovery (RFC 7644 section 4): authenticated like every SCIM endpoint.

async fn service_provider_config(
    State(s): State<Arc<AppState>>,
    _t: Tenant,
    BaseUrl(base): BaseUrl,
) -> Scim {
    Scim::ok(discovery::service_provider_config(s.scim.config(), &base))
}

async fn resource_types(_t: Tenant, BaseUrl(base): BaseUrl, q: QueryPairs) -> ApiResult {
    refuse_filter(&q)?;
    Ok(Scim::ok(discovery::list_of(discovery::resource_types(
        &base,
    ))))
}

async fn resource_type(_t: Tenant, BaseUrl(base): BaseUrl, Path(id): Path<String>) -> ApiResult {
    discovery::resource_type(&id, &base)
        .map(Scim::ok)
        .ok_or_else(|| {
            ApiError(ScimError::not_found(format!(
                "resource type '{id}' not found"
            )))
        })
}

async fn schemas(_t: Tenant, BaseUrl(base): BaseUrl, q: QueryPairs) -> ApiResult {
    refuse_filter(&q)?;
    Ok(Scim::ok(discovery::list_of(discovery::schemas(&base))))
}

async fn schema(_t: Tenant, BaseUrl(base): BaseUrl, Path(id): Path<String>) -> ApiResult {
    discovery::schema(&id, &base)
        .map(Scim::ok)
        .ok_or_else(|| ApiError(ScimError::not_found(format!("schema '{id}' not found"))))
}

/// RFC 7644 section 4: discovery endpoints do not take filters.
fn refuse_filter(q: &QueryPairs) -> Result<(), ApiError> {
    match q.get("filter") {
        Some(f) if !f.is_empty() => Err(ApiError(ScimError::new(
            403,
            None,
            "filtering is not supported on discovery endpoints",
        ))),
        _ => Ok(()),
    }
}

// --- resources

async fn list(
    s: &AppState,
    t: Tenant,
    kind: ResourceKind,
    base: &str,
    params: ListParams,
) -> ApiResult {
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

/// What the read cache needs of a request: its path and query, and the change mark read when
/// it authenticated (none for a conditional request). Extracted after [`Tenant`].
struct Reuse {
    path_and_query: String,
    mark: Option<directory::store::ChangeMark>,
}

impl<S: Send + Sync> FromRequestParts<S> for Reuse {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let conditional = parts.headers.contains_key(header::IF_NONE_MATCH)
            || parts.headers.contains_key(header::IF_MATCH);
        let mark = parts
            .extensions
            .get::<read_cache::Mark>()
            .map(|m| m.0)
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
async fn reusable(
    s: &AppState,
    t: &Tenant,
    base: &str,
    reuse: Reuse,
    answer: impl Future<Output = ApiResult>,
) -> Result<Response, ApiError> {
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
    Ok(crate::response::from_parts(status, body, headers))
}

async fn list_users(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    reuse: Reuse,
    q: QueryPairs,
) -> Result<Response, ApiError> {
    let answer = async { list(&s, t, ResourceKind::User, &b, ListParams::from_query(&q.0)?).await };
    reusable(&s, &t, &b, reuse, answer).await
}

async fn list_groups(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    reuse: Reuse,
    q: QueryPairs,
) -> Result<Response, ApiError> {
    let answer = async {
        list(
            &s,
            t,
            ResourceKind::Group,
            &b,
            ListParams::from_query(&q.0)?,
        )
        .await
    };
    reusable(&s, &t, &b, reuse, answer).await
}

async fn search_users(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    ScimBody(body): ScimBody,
) -> ApiResult {
    list(
        &s,
        t,
        ResourceKind::User,
        &b,
        ListParams::from_search_body(&body)?,
    )
    .await
}

async fn search_groups(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    ScimBody(body): ScimBody,
) -> ApiResult {
    list(
        &s,
        t,
        ResourceKind::Group,
        &b,
        ListParams::from_search_body(&body)?,
    )
    .await
}

/// POST /.search: Users then Groups, paged as one list (RFC 7644 section 3.4.3). A filter
/// must make sense for at least one of the two types; a type it does not fit contributes
/// nothing.
async fn search_root(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let params = ListParams::from_search_body(&body)?;
    if params.cursor.is_some() {
        return Err(ApiError(ScimError::bad_request(
            scim_core::ScimType::InvalidCursor,
            "cursor paging is not supported on the root search; search /Users or /Groups",
        )));
    }
    let prepared: Vec<_> = match (
        s.scim.prepare_list(ResourceKind::User, &params),
        s.scim.prepare_list(ResourceKind::Group, &params),
    ) {
        (Err(e), Err(_)) => return Err(ApiError(e)),
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

async fn create(
    s: &AppState,
    t: Tenant,
    kind: ResourceKind,
    base: &str,
    q: &QueryPairs,
    body: &Value,
) -> ApiResult {
    let projection = q.projection(kind)?;
    let r = s
        .scim
        .create(t.org, kind, body, load_for(kind, &projection))
        .await?;
    Ok(resource_response(StatusCode::CREATED, r, base, &projection))
}

async fn create_user(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    q: QueryPairs,
    ScimBody(body): ScimBody,
) -> ApiResult {
    create(&s, t, ResourceKind::User, &b, &q, &body).await
}

async fn create_group(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    q: QueryPairs,
    ScimBody(body): ScimBody,
) -> ApiResult {
    create(&s, t, ResourceKind::Group, &b, &q, &body).await
}

async fn get_one(
    s: &AppState,
    t: Tenant,
    kind: ResourceKind,
    id: &str,
    base: &str,
    q: &QueryPairs,
    headers: &HeaderMap,
) -> ApiResult {
    let projection = q.projection(kind)?;
    let r = s
        .scim
        .get(t.org, kind, id, load_for(kind, &projection))
        .await?;
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && render::etag_list_matches(inm, r.version)
    {
        return Ok(
            Scim::status(StatusCode::NOT_MODIFIED, None).header(header::ETAG, &etag(r.version))
        );
    }
    Ok(resource_response(StatusCode::OK, r, base, &projection))
}

async fn get_user(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
    reuse: Reuse,
    q: QueryPairs,
    h: HeaderMap,
) -> Result<Response, ApiError> {
    let answer = get_one(&s, t, ResourceKind::User, &id, &b, &q, &h);
    reusable(&s, &t, &b, reuse, answer).await
}

async fn get_group(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
    reuse: Reuse,
    q: QueryPairs,
    h: HeaderMap,
) -> Result<Response, ApiError> {
    let answer = get_one(&s, t, ResourceKind::Group, &id, &b, &q, &h);
    reusable(&s, &t, &b, reuse, answer).await
}

#[allow(clippy::too_many_arguments)]
async fn replace(
    s: &AppState,
    t: Tenant,
    kind: ResourceKind,
    id: &str,
    base: &str,
    q: &QueryPairs,
    h: &HeaderMap,
    body: &Value,
) -> ApiResult {
    let projection = q.projection(kind)?;
    let r = s
        .scim
        .replace(
            t.org,
            kind,
            id,
            body,
            &precondition(h),
            load_for(kind, &projection),
        )
        .await?;
    Ok(resource_response(StatusCode::OK, r, base, &projection))
}

async fn replace_user(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
    q: QueryPairs,
    h: HeaderMap,
    ScimBody(body): ScimBody,
) -> ApiResult {
    replace(&s, t, ResourceKind::User, &id, &b, &q, &h, &body).await
}

async fn replace_group(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
    q: QueryPairs,
    h: HeaderMap,
    ScimBody(body): ScimBody,
) -> ApiResult {
    replace(&s, t, ResourceKind::Group, &id, &b, &q, &h, &body).await
}

/// PATCH (RFC 7644 section 3.5.2) answers 200 with the resource, honouring `attributes` and
/// `excludedAttributes`. A Group PATCH asked for neither answers 204 with the new ETag: a group
/// may hold 100,000 members, and rendering them all after adding one would make every member
/// change cost what the group's size costs (Entra expects 204 here too; RFC 7644 allows it).
#[allow(clippy::too_many_arguments)]
async fn patch(
    s: &AppState,
    t: Tenant,
    kind: ResourceKind,
    id: &str,
    base: &str,
    q: &QueryPairs,
    h: &HeaderMap,
    body: &Value,
) -> ApiResult {
    let projection = q.projection(kind)?;
    let bare = q.get("attributes").is_none() && q.get("excludedAttributes").is_none();
    if kind == ResourceKind::Group && bare {
        let r = s
            .scim
            .patch(t.org, kind, id, body, &precondition(h), Load::default())
            .await?;
        return Ok(
            Scim::status(StatusCode::NO_CONTENT, None).header(header::ETAG, &etag(r.version))
        );
    }
    let r = s
        .scim
        .patch(
            t.org,
            kind,
            id,
            body,
            &precondition(h),
            load_for(kind, &projection),
        )
        .await?;
    Ok(resource_response(StatusCode::OK, r, base, &projection))
}

async fn patch_user(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
    q: QueryPairs,
    h: HeaderMap,
    ScimBody(body): ScimBody,
) -> ApiResult {
    patch(&s, t, ResourceKind::User, &id, &b, &q, &h, &body).await
}

async fn patch_group(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    Path(id): Path<String>,
    q: QueryPairs,
    h: HeaderMap,
    ScimBody(body): ScimBody,
) -> ApiResult {
    patch(&s, t, ResourceKind::Group, &id, &b, &q, &h, &body).await
}

async fn delete_user(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    Path(id): Path<String>,
    h: HeaderMap,
) -> ApiResult {
    s.scim
        .delete(t.org, ResourceKind::User, &id, &precondition(&h))
        .await?;
    Ok(Scim::status(StatusCode::NO_CONTENT, None))
}

async fn delete_group(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    Path(id): Path<String>,
    h: HeaderMap,
) -> ApiResult {
    s.scim
        .delete(t.org, ResourceKind::Group, &id, &precondition(&h))
        .await?;
    Ok(Scim::status(StatusCode::NO_CONTENT, None))
}

async fn bulk(
    State(s): State<Arc<AppState>>,
    t: Tenant,
    BaseUrl(b): BaseUrl,
    ScimBody(body): ScimBody,
) -> ApiResult {
    let req = parse_bulk(&body, s.scim.config().bulk_max_operations)?;
    let results = s.scim.bulk(t.org, req, &b).await;
    Ok(Scim::ok(bulk_response(&results)))
}
