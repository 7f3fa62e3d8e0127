//! The administrative API: JSON over HTTP under `/api/v1`, for one organisation's signed-in
//! administrators (a bearer session from `POST /api/v1/sessions`). The CLI and the console call
//! the same services. Errors are `{"error": code, "message": text}` with a 4xx status; a
//! refused edit of an imported attribute is 403 `read_only`, naming directory sync.
//!
//! Roles: `administrator` may do everything; `people-manager` and `site-manager` work with
//! accounts and conflicts only.
//!
//! Beside them, under the same prefix and in the same error shape, the application endpoints
//! (`/api/v1/directory/...`, `/api/v1/events`, in [`app_reads`]) take an application key
//! ([`app_key`]) and nothing else; the administrators' routes take a session and nothing else,
//! applications' ones included ([`applications`]).

mod accounts;
mod app_key;
mod app_reads;
mod applications;
mod domains;
mod error;
mod groups;
mod roles;

pub use error::ApiError;
use error::{bad, store_failure, throttled};

use crate::context::RequestContext;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use directory::accounts::{AccountEdit, MergeOutcome};
use directory::session::{SessionError, SignInOutcome, SignedIn};
use directory::store::{
    Account, AccountQuery, ActivityEntry, AdminRole, ConflictRecord, DomainRecord, LocalProps,
    Source, Status,
};
use directory::{OrgId, StoreError, TokenId};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use time::OffsetDateTime;

/// A signed-in administrator of the request's organisation.
pub struct Admin(pub SignedIn);

impl Admin {
    pub(crate) fn org(&self) -> OrgId {
        self.0.session.org_id
    }

    pub(crate) fn actor(&self) -> String {
        format!("admin:{}", self.0.admin.email)
    }

    /// Refuses unless the administrator has the `administrator` role.
    pub(crate) fn require_administrator(&self) -> Result<(), ApiError> {
        if self.0.admin.role == AdminRole::Administrator {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this needs the administrator role; you are {}",
                    self.0.admin.role.as_str()
                ),
            ))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts, state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let ctx = RequestContext::of(&parts.extensions);
        let ip = ctx.and_then(|c| c.ip);
        // The address's throttle applies to failures only: a valid session always passes,
        // whatever else was sent from the same (perhaps shared) address.
        let fail = |e: SessionError| {
            if let Some(wait) = state.ops.throttled(ip) {
                return throttled(wait);
            }
            state.ops.auth_failed(ip);
            ApiError::from(e).into_response()
        };
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, s)| s.trim().to_owned())
            .ok_or_else(|| fail(SessionError::NoSession))?;
        match state.sessions.authenticate(&secret).await {
            Ok(s) if s.enrol_first => {
                Err(ApiError::from(SessionError::EnrolmentRequired).into_response())
            }
            Ok(s) => {
                if let Some(ctx) = ctx {
                    ctx.org.fill(s.session.org_id);
                }
                Ok(Admin(s))
            }
            Err(e @ (SessionError::NoSession | SessionError::BadCredentials)) => Err(fail(e)),
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }
}

/// The API's routes, to nest under `/api/v1`: the administrators' and the applications'.
pub fn routes() -> Router<Arc<AppState>> {
    finish(admin_routes(Router::new()).merge(app_routes(Router::new())))
}

/// The administrators' routes alone (the console listener's share of `/api/v1`).
pub fn admin_only() -> Router<Arc<AppState>> {
    finish(admin_routes(Router::new()))
}

/// The applications' routes alone (the public listener's share of `/api/v1`).
pub fn apps_only() -> Router<Arc<AppState>> {
    finish(app_routes(Router::new()))
}

/// Routes that take a session: sessions, accounts, tokens, the organisation's settings,
/// applications and webhooks as administrators manage them.
fn admin_routes(r: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    r.route("/sessions", post(sign_in))
        .route("/sessions/current", delete(sign_out))
        .route(
            "/accounts",
            get(accounts::list_accounts).post(accounts::create_account),
        )
        .route(
            "/accounts/{id}",
            get(accounts::show_account).patch(accounts::edit_account),
        )
        .route("/groups", get(groups::list).post(groups::create))
        .route(
            "/groups/{id}",
            get(groups::show).patch(groups::edit).delete(groups::remove),
        )
        .route("/accounts/roles", post(roles::assign))
        .route("/roles", get(roles::catalogue).post(roles::add_role))
        .route("/roles/{name}", delete(roles::remove_role))
        .route(
            "/role-rules",
            get(roles::list_rules).post(roles::create_rule),
        )
        .route("/role-rules/apply", post(roles::apply))
        .route(
            "/role-rules/{id}",
            get(roles::show_rule)
                .put(roles::update_rule)
                .delete(roles::delete_rule),
        )
        .route("/role-rules/{id}/move", post(roles::move_rule))
        .route("/connection", get(connection))
        .route("/tokens", post(generate_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/disconnect", post(disconnect))
        .route("/settings/auto-merge", put(set_auto_merge))
        .route("/settings/time-zone", get(time_zone).put(set_time_zone))
        .route("/conflicts", get(list_conflicts))
        .route("/conflicts.csv", get(conflicts_csv))
        .route("/conflicts/merge", post(merge_conflict))
        .route("/conflicts/merge-all", post(merge_all))
        .route(
            "/domains",
            get(domains::list_domains).post(domains::add_domain),
        )
        .route("/domains/{name}", delete(domains::remove_domain))
        .route("/domains/{name}/verify", post(domains::verify_domain))
        .route("/activity", get(activity))
        .route(
            "/webhooks/{id}/test",
            post(crate::webhooks::routes::api_test),
        )
        .route(
            "/applications",
            get(applications::list_apps).post(applications::create_app),
        )
        .route("/applications/{id}", delete(applications::revoke_app))
        .route(
            "/webhooks",
            get(applications::list_webhooks).post(applications::add_webhook),
        )
        .route(
            "/webhooks/{id}",
            get(applications::show_webhook).delete(applications::remove_webhook),
        )
        .route("/webhooks/{id}/replay", post(applications::replay_webhook))
        .route(
            "/webhooks/{id}/rotate-secret",
            post(applications::rotate_secret),
        )
        .route("/webhooks/{id}/deliveries", get(applications::deliveries))
}

/// Routes that take an application key: the directory API and the events.
fn app_routes(r: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    r.route("/directory/users", get(app_reads::users))
        .route("/directory/users/{id}", get(app_reads::user))
        .route("/directory/groups", get(app_reads::groups))
        .route("/directory/groups/{id}", get(app_reads::group))
        .route("/directory/groups/{id}/members", get(app_reads::members))
        .route("/events", get(app_reads::events))
}

fn finish(r: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    r.fallback(|| async {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint".into(),
        )
    })
    // Session tokens and SCIM token secrets are in these answers: no cache may keep one.
    .layer(axum::middleware::map_response(crate::middleware::no_store))
}

fn ts(t: OffsetDateTime) -> String {
    directory::render::timestamp(t)
}

fn conflict_json(c: &ConflictRecord) -> Value {
    json!({
        "userName": c.user_name,
        "accountId": c.account_id.to_string(),
        "incoming": c.incoming,
        "firstSeen": ts(c.first_seen),
        "lastSeen": ts(c.last_seen),
        "attempts": c.attempts,
    })
}

/// A JSON body, with a 400 in the API's shape when it is not one.
struct Body<T>(T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<Arc<AppState>> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request, state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let media = crate::middleware::media_type(req.headers());
        let unsupported = |what: &str| {
            ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("the body must be application/json, not {what}"),
            )
        };
        if let Some(m) = media.as_deref()
            && !matches!(m, "application/json" | "application/scim+json")
        {
            return Err(unsupported(m));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| bad(format!("cannot read the body: {e}")))?;
        if media.is_none() && !bytes.is_empty() {
            return Err(unsupported("a body without a Content-Type"));
        }
        let value = scim_core::json::parse_strict(&bytes)
            .map_err(|e| bad(format!("the body is not the expected JSON: {e}")))?;
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| bad(format!("the body is not the expected JSON: {e}")))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// Optional: without it the address's organisations are searched (docs/contract.md).
    organisation: Option<String>,
    email: String,
    password: String,
    /// For an administrator with two-step verification: the authenticator app's current
    /// code, or a recovery code.
    code: Option<String>,
}

async fn sign_in(
    State(state): State<Arc<AppState>>, ctx: RequestContext, Body(body): Body<SignIn>,
) -> Result<Response, Response> {
    let ip = ctx.ip;
    if let Some(wait) = state.ops.throttled(ip) {
        return Err(throttled(wait));
    }
    let refused = |e: SessionError| {
        state.ops.auth_failed(ip);
        ApiError::from(e).into_response()
    };
    let org: Option<OrgId> = match body.organisation.as_deref() {
        None => None,
        Some(o) => Some(
            o.parse()
                .map_err(|_| refused(SessionError::BadCredentials))?,
        ),
    };
    let (secret, s) = match state
        .sessions
        .sign_in(org, &body.email, &body.password)
        .await
    {
        Ok(SignInOutcome::SignedIn(secret, s)) => (secret, s),
        // The password is proven; the session opens with a code as well, in this request.
        Ok(SignInOutcome::SecondStep { handle, admin }) => {
            let Some(code) = body.code.as_deref().filter(|c| !c.trim().is_empty()) else {
                return Err(ApiError::from(SessionError::CodeRequired).into_response());
            };
            match state
                .sessions
                .second_step(admin.org_id, &handle, code)
                .await
            {
                Ok(signed) => signed,
                Err(e @ SessionError::WrongCode) => return Err(refused(e)),
                Err(e) => return Err(ApiError::from(e).into_response()),
            }
        }
        // The password is proven: the organisations it matched are the caller's to see.
        Ok(SignInOutcome::Choose { organisations, .. }) => {
            let list: Vec<_> = organisations
                .iter()
                .map(|o| json!({"id": o.id.to_string(), "name": o.name}))
                .collect();
            return Err((
                StatusCode::CONFLICT,
                Json(json!({
                    "error": "organisation_required",
                    "message": "this e-mail address and password sign in to several organisations; repeat the request with \"organisation\" set to one of them",
                    "organisations": list,
                })),
            )
                .into_response());
        }
        Err(e @ SessionError::BadCredentials) => return Err(refused(e)),
        Err(e @ SessionError::Busy) => {
            let mut r = ApiError::from(e).into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return Err(r);
        }
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    if s.enrol_first {
        // Such a session could do nothing here: it ends at once.
        state
            .sessions
            .sign_out(&s)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        return Err(ApiError::from(SessionError::EnrolmentRequired).into_response());
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": secret,
            "expires": ts(s.session.expires),
            "organisation": s.admin.org_id.to_string(),
            "email": s.admin.email,
            "role": s.admin.role.as_str(),
        })),
    )
        .into_response())
}

async fn sign_out(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<StatusCode, ApiError> {
    state.sessions.sign_out(&admin.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn connection(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    let org = admin.org();
    let conn = state
        .lifecycle
        .connection(org)
        .await
        .map_err(store_failure)?;
    let tokens = state.lifecycle.list_tokens(org).await?;
    Ok(Json(json!({
        "state": conn.state.as_str(),
        "changed": ts(conn.changed),
        "autoMerge": state.directory.auto_merge(org).await?,
        "tokens": tokens.iter().map(|t| json!({
            "id": t.record.id.to_string(),
            "prefix": t.record.prefix,
            "state": t.state.as_str(),
            "created": ts(t.record.created),
            "expires": ts(t.expires),
            "lastUsed": t.record.last_used.map(ts),
        })).collect::<Vec<_>>(),
    })))
}

async fn generate_token(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Response, ApiError> {
    admin.require_administrator()?;
    let org = state
        .store
        .get_org(admin.org())
        .await
        .map_err(store_failure)?
        .ok_or_else(|| store_failure(StoreError::NotFound))?;
    let issued = state.lifecycle.generate_token(&org, &admin.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "secret": issued.secret,
            "id": issued.record.id.to_string(),
            "prefix": issued.record.prefix,
            "expires": ts(directory::lifecycle::effective_expiry(&issued.record)),
        })),
    )
        .into_response())
}

async fn revoke_token(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin.require_administrator()?;
    let id: TokenId = id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such token".into()))?;
    state
        .lifecycle
        .revoke_token(admin.org(), id, &admin.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn disconnect(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let (revoked, released) = state
        .directory
        .disconnect(admin.org(), &admin.actor())
        .await?;
    Ok(Json(
        json!({ "tokensRevoked": revoked, "accountsAndGroupsReleased": released }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Toggle {
    enabled: bool,
}

async fn set_auto_merge(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<Toggle>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    state
        .directory
        .set_auto_merge(admin.org(), &admin.actor(), body.enabled)
        .await?;
    Ok(Json(json!({ "autoMerge": body.enabled })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TimeZoneBody {
    time_zone: String,
}

/// The organisation's time zone, an IANA name (`UTC` until set).
async fn time_zone(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    let zone = state.lifecycle.time_zone(admin.org()).await?;
    Ok(Json(json!({ "timeZone": zone.name() })))
}

/// Sets the organisation's time zone; a name the tz database does not know is 400.
async fn set_time_zone(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<TimeZoneBody>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let zone = state
        .lifecycle
        .set_time_zone(admin.org(), &body.time_zone, &admin.actor())
        .await?;
    Ok(Json(json!({ "timeZone": zone.name() })))
}

async fn list_conflicts(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    let list = state.directory.list_conflicts(admin.org()).await?;
    Ok(Json(
        json!({ "conflicts": list.iter().map(conflict_json).collect::<Vec<_>>() }),
    ))
}

async fn conflicts_csv(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Response, ApiError> {
    let csv = state.directory.conflicts_csv(admin.org()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"conflicts.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Merge {
    #[serde(rename = "userName")]
    user_name: String,
}

async fn merge_conflict(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<Merge>,
) -> Result<Json<Value>, ApiError> {
    let outcome = state
        .directory
        .merge_conflict(admin.org(), &admin.actor(), &body.user_name)
        .await?;
    Ok(Json(match outcome {
        MergeOutcome::Merged(a) => json!({ "merged": true, "account": accounts::account_json(&a) }),
        MergeOutcome::Dropped => json!({ "merged": false }),
    }))
}

async fn merge_all(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    let merged = state
        .directory
        .merge_all(admin.org(), &admin.actor())
        .await?;
    Ok(Json(json!({ "merged": merged })))
}

#[derive(Deserialize)]
struct ActivityQuery {
    limit: Option<u32>,
}

async fn activity(
    State(state): State<Arc<AppState>>, admin: Admin, Query(q): Query<ActivityQuery>,
) -> Result<Json<Value>, ApiError> {
    let entries: Vec<ActivityEntry> = state
        .store
        .list_activity(
            Some(admin.org()),
            None,
            q.limit.unwrap_or(1000).clamp(1, 10_000),
        )
        .await
        .map_err(store_failure)?;
    Ok(Json(json!({
        "entries": entries.iter().map(|e| json!({
            "at": ts(e.at),
            "token": e.token_id.map(|t| t.to_string()),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "status": e.status,
            "resource": e.resource,
            "detail": e.detail,
        })).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    use crate::testing::{Answer, TestApp};
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use directory::store::AdminRole;
    use serde_json::Value;

    pub(super) async fn call(
        t: &TestApp, method: Method, path: &str, session: &str, body: &str,
    ) -> Answer {
        let mut b = Request::builder().method(method).uri(path);
        if !session.is_empty() {
            b = b.header(header::AUTHORIZATION, format!("Bearer {session}"));
        }
        if !body.is_empty() {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        t.send(b.body(Body::from(body.to_owned())).expect("request"))
            .await
    }

    /// The API's error shape: `{"error": code, "message": text}`, never cached.
    pub(super) fn assert_api_error(a: &Answer, status: StatusCode, code: &str) {
        assert_eq!(a.status, status, "{}", a.text());
        assert_eq!(a.header(header::CONTENT_TYPE), "application/json");
        assert_eq!(a.header(header::CACHE_CONTROL), "no-store");
        let body = a.json();
        assert_eq!(body["error"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    }

    #[tokio::test]
    async fn without_a_live_session_the_api_is_401_in_its_own_shape() {
        let t = TestApp::new().await;
        for session in ["", "scimds_no-such-session", "not-even-a-session"] {
            let a = call(&t, Method::GET, "/api/v1/accounts", session, "").await;
            assert_api_error(&a, StatusCode::UNAUTHORIZED, "unauthenticated");
        }
        // A SCIM token is not a session.
        let token = t.token().await;
        let a = call(&t, Method::GET, "/api/v1/connection", &token, "").await;
        assert_api_error(&a, StatusCode::UNAUTHORIZED, "unauthenticated");
    }

    #[tokio::test]
    async fn an_unknown_api_path_is_404_in_the_api_shape_not_scim() {
        let t = TestApp::new().await;
        let a = call(&t, Method::GET, "/api/v1/nothing", "", "").await;
        assert_api_error(&a, StatusCode::NOT_FOUND, "not_found");
        assert!(a.json().get("schemas").is_none());
    }

    #[tokio::test]
    async fn a_body_that_is_not_the_expected_json_is_400_invalid() {
        let t = TestApp::new().await;
        let a = call(
            &t,
            Method::POST,
            "/api/v1/sessions",
            "",
            r#"{"organisation": "x", "email": "a@example.com", "password": "p", "extra": 1}"#,
        )
        .await;
        assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
        let session = t.session(AdminRole::Administrator).await;
        let a = call(
            &t,
            Method::PUT,
            "/api/v1/settings/auto-merge",
            &session,
            "yes",
        )
        .await;
        assert_api_error(&a, StatusCode::BAD_REQUEST, "invalid");
    }

    #[tokio::test]
    async fn tokens_need_the_administrator_role_and_their_secret_is_never_cached() {
        let t = TestApp::new().await;
        let manager = t.session(AdminRole::PeopleManager).await;
        let a = call(&t, Method::POST, "/api/v1/tokens", &manager, "").await;
        assert_api_error(&a, StatusCode::FORBIDDEN, "forbidden");
        let a = call(&t, Method::GET, "/api/v1/connection", &manager, "").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());

        let admin = t.session(AdminRole::Administrator).await;
        let a = call(&t, Method::POST, "/api/v1/tokens", &admin, "").await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        assert_eq!(a.header(header::CACHE_CONTROL), "no-store");
        let secret = a.json()["secret"].as_str().expect("secret").to_owned();
        let a = t
            .scim(Method::GET, "/scim/v2/Users", &secret, Value::Null)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    }
}
