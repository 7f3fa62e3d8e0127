//! Groups for administrators: every group with its source and member count, one group with a
//! page of its members, and manual groups made, changed and deleted (docs/contract.md,
//! "Manual groups"). A group directory sync owns answers 403 `read_only` to a change.

use super::{Admin, Body, ts};
use crate::api::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use directory::accounts::GroupEdit;
use directory::store::{GroupSummary, MemberQuery};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn group_json(g: &GroupSummary) -> Value {
    let r = &g.resource;
    json!({
        "id": r.id.to_string(),
        "displayName": r.doc.get("displayName"),
        "source": g.source.as_str(),
        "members": g.members,
        "version": r.version,
        "created": ts(r.created),
        "lastModified": ts(r.last_modified),
    })
}

#[derive(Deserialize)]
pub(super) struct GroupList {
    after: Option<String>,
    count: Option<u32>,
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>, admin: Admin, Query(q): Query<GroupList>,
) -> Result<Json<Value>, ApiError> {
    let page = state
        .directory
        .list_groups(
            admin.org(),
            q.after.as_deref(),
            q.count.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(json!({
        "total": page.total,
        "next": page.next,
        "groups": page.groups.iter().map(group_json).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
pub(super) struct MemberList {
    search: Option<String>,
    after: Option<String>,
    count: Option<u32>,
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
    Query(q): Query<MemberList>,
) -> Result<Json<Value>, ApiError> {
    let after = match q.after.as_deref().filter(|s| !s.is_empty()) {
        Some(a) => Some(
            a.parse()
                .map_err(|_| super::bad("after is not a member id"))?,
        ),
        None => None,
    };
    let (group, page) = state
        .directory
        .group_members(
            admin.org(),
            &id,
            &MemberQuery {
                search: q.search.filter(|s| !s.trim().is_empty()),
                after,
                count: q.count.unwrap_or(100).clamp(1, 1000),
            },
        )
        .await?;
    let mut body = group_json(&group);
    body["page"] = json!({
        "next": page.next.map(|n| n.to_string()),
        "members": page.members.iter().map(|m| json!({
            "id": m.id.to_string(),
            "type": match m.kind { scim_core::schema::ResourceKind::User => "User", scim_core::schema::ResourceKind::Group => "Group" },
            "userName": m.doc.get("userName"),
            "displayName": m.doc.get("displayName"),
        })).collect::<Vec<_>>(),
    });
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct GroupBody {
    #[serde(default)]
    display_name: Option<String>,
    /// Accounts to add, by `userName`.
    #[serde(default)]
    add: Vec<String>,
    /// Members to remove, by id.
    #[serde(default)]
    remove: Vec<String>,
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<GroupBody>,
) -> Result<Response, ApiError> {
    let name = body
        .display_name
        .clone()
        .ok_or_else(|| super::bad("displayName is required"))?;
    if !body.remove.is_empty() {
        return Err(super::bad("a new group has no members to remove"));
    }
    let g = state
        .directory
        .create_group(admin.org(), &admin.actor(), &name, &body.add)
        .await?;
    Ok((StatusCode::CREATED, Json(group_json(&g))).into_response())
}

pub(super) async fn edit(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
    Body(body): Body<GroupBody>,
) -> Result<Json<Value>, ApiError> {
    let g = state
        .directory
        .edit_group(
            admin.org(),
            &admin.actor(),
            &id,
            GroupEdit {
                display_name: body.display_name,
                add_user_names: body.add,
                remove: body.remove,
            },
        )
        .await?;
    Ok(Json(group_json(&g)))
}

pub(super) async fn remove(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .directory
        .delete_group(admin.org(), &admin.actor(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
