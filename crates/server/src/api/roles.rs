//! Roles by rule in the administrative API (docs/contract.md, "Roles and rules"): the role
//! catalogue and the rules (administrators), and bulk assignment of a hand-set role (anyone
//! who works with accounts).

use super::{Admin, Body, ts};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use directory::roles::{Applied, RuleInput, describe};
use directory::store::RoleRule;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::ApiError;

pub(super) fn rule_json(r: &RoleRule) -> Value {
    json!({
        "id": r.id.to_string(),
        "position": r.position,
        "name": r.name,
        "attribute": r.condition.attribute,
        "op": r.condition.op.as_str(),
        "value": r.condition.value,
        "roles": r.roles,
        "locations": r.locations,
        "description": describe(r),
        "created": ts(r.created),
        "updated": ts(r.updated),
    })
}

fn applied_json(a: Applied) -> Value {
    json!({ "accounts": a.accounts, "changed": a.changed })
}

pub(super) async fn catalogue(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    let c = state.roles.catalogue(admin.org()).await?;
    Ok(Json(json!({ "defaults": c.defaults, "own": c.own })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleBody {
    name: String,
}

pub(super) async fn add_role(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<RoleBody>,
) -> Result<Response, ApiError> {
    admin.require_administrator()?;
    let name = state
        .roles
        .add_role(admin.org(), &admin.actor(), &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "name": name }))).into_response())
}

pub(super) async fn remove_role(
    State(state): State<Arc<AppState>>, admin: Admin, Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin.require_administrator()?;
    state
        .roles
        .remove_role(admin.org(), &admin.actor(), &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn list_rules(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    let rules = state.roles.rules(admin.org()).await?;
    Ok(Json(
        json!({ "rules": rules.iter().map(rule_json).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn show_rule(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = state.roles.rule(admin.org(), &id).await?;
    Ok(Json(rule_json(&r)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleBody {
    name: String,
    #[serde(default)]
    attribute: String,
    op: String,
    value: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    locations: Vec<String>,
}

impl From<RuleBody> for RuleInput {
    fn from(b: RuleBody) -> Self {
        RuleInput {
            name: b.name,
            attribute: b.attribute,
            op: b.op,
            value: b.value,
            roles: b.roles,
            locations: b.locations,
        }
    }
}

pub(super) async fn create_rule(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<RuleBody>,
) -> Result<Response, ApiError> {
    admin.require_administrator()?;
    let (rule, applied) = state
        .roles
        .create_rule(admin.org(), &admin.actor(), &body.into())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "rule": rule_json(&rule), "applied": applied_json(applied) })),
    )
        .into_response())
}

pub(super) async fn update_rule(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
    Body(body): Body<RuleBody>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let (rule, applied) = state
        .roles
        .update_rule(admin.org(), &admin.actor(), &id, &body.into())
        .await?;
    Ok(Json(
        json!({ "rule": rule_json(&rule), "applied": applied_json(applied) }),
    ))
}

pub(super) async fn delete_rule(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let applied = state
        .roles
        .delete_rule(admin.org(), &admin.actor(), &id)
        .await?;
    Ok(Json(json!({ "applied": applied_json(applied) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MoveBody {
    /// `up` or `down`.
    direction: String,
}

pub(super) async fn move_rule(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
    Body(body): Body<MoveBody>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let by = match body.direction.as_str() {
        "up" => -1,
        "down" => 1,
        _ => return Err(super::bad("direction must be up or down")),
    };
    state
        .roles
        .move_rule(admin.org(), &admin.actor(), &id, by)
        .await?;
    let rules = state.roles.rules(admin.org()).await?;
    Ok(Json(
        json!({ "rules": rules.iter().map(rule_json).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn apply(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let applied = state.roles.apply_all(admin.org(), &admin.actor()).await?;
    Ok(Json(json!({ "applied": applied_json(applied) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignBody {
    accounts: Vec<String>,
    role: String,
    /// Takes the hand-set role away instead.
    #[serde(default)]
    remove: bool,
}

pub(super) async fn assign(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<AssignBody>,
) -> Result<Json<Value>, ApiError> {
    let changed = state
        .roles
        .assign(
            admin.org(),
            &admin.actor(),
            &body.accounts,
            &body.role,
            !body.remove,
        )
        .await?;
    Ok(Json(json!({ "changed": changed })))
}
