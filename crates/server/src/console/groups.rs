//! The Groups pages: every group (synced or manual) with its member count, in keyset pages;
//! a group's page lists its members in keyset pages (by member id), with a find box over
//! them (the account search), each member linked to its page. Manual groups are made here,
//! renamed, given members by user name, emptied of them and deleted (after a confirmation);
//! every form answers with a redirect, so a reload repeats nothing.

use super::csrf::Form;
use super::{
    Flash, Layout, Nav, PageResult, Signed, done_flash, enc, refusal, render, render_status,
    see_other,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use directory::accounts::{DirectoryError, GroupEdit};
use directory::store::{MemberQuery, Source};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Groups and members in a page.
const PER_PAGE: u32 = 50;

/// The confirmations a group's pages show after a redirect.
const DONE: &[(&str, &str)] = &[
    ("created", "The group is created. Add its members below."),
    ("renamed", "The group is renamed."),
    ("added", "The account is added to the group."),
    ("removed", "The member is removed from the group."),
    (
        "deleted",
        "The group is deleted. Its members' accounts are unchanged.",
    ),
];

fn text(doc: &Value, key: &str) -> String {
    doc.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Scim => "Directory sync",
        Source::Manual => "Manual",
    }
}

struct GroupRow {
    id: String,
    name: String,
    source: &'static str,
    members: u64,
    created: String,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    l: Layout,
    rows: Vec<GroupRow>,
    total: u64,
    next_url: Option<String>,
    first_url: Option<String>,
}

/// Every group of the organisation, in keyset pages (members are counted, not loaded: a
/// group may have 100,000).
pub(super) async fn groups(
    State(state): State<Arc<AppState>>, signed: Signed, q: Query<HashMap<String, String>>,
) -> PageResult {
    let after = q.get("after").cloned().filter(|s| !s.is_empty());
    let done = done_flash(&q, DONE);
    let (page, flash) = match state
        .directory
        .list_groups(signed.org_id(), after.as_deref(), PER_PAGE)
        .await
    {
        Ok(p) => (Some(p), None),
        Err(DirectoryError::Invalid(_)) => (None, Flash::error("The page cursor is not valid.")),
        Err(e) => return Err(e.into()),
    };
    let flash = flash.or(done);
    let (rows, total, next) = match page {
        Some(p) => (
            p.groups
                .iter()
                .map(|g| GroupRow {
                    id: g.resource.id.to_string(),
                    name: text(&g.resource.doc, "displayName"),
                    source: source_name(g.source),
                    members: g.members,
                    created: signed.when(g.resource.created),
                })
                .collect(),
            p.total,
            p.next,
        ),
        None => (Vec::new(), 0, None),
    };
    Ok(render(&GroupsPage {
        l: signed.layout("Groups", Nav::Groups, flash),
        rows,
        total,
        next_url: next.map(|n| format!("/groups?after={}", enc(&n))),
        first_url: after.map(|_| "/groups".to_owned()),
    }))
}

struct MemberRow {
    id: String,
    href: String,
    name: String,
    display_name: String,
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    l: Layout,
    id: String,
    name: String,
    external_id: String,
    source: &'static str,
    /// An administrator's group: renamed, filled and deleted here.
    manual: bool,
    /// What the add-member form was sent with, kept when it is refused.
    adding: String,
    members: u64,
    search: String,
    rows: Vec<MemberRow>,
    next_url: Option<String>,
    first_url: Option<String>,
}

/// One group: its attributes and its members, `?search=` finding among them, `?after=` the
/// last member id of the previous page.
pub(super) async fn group(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>,
    q: Query<HashMap<String, String>>,
) -> PageResult {
    let flash = done_flash(&q, DONE);
    group_page(
        &state,
        &signed,
        &id,
        &q,
        flash,
        String::new(),
        StatusCode::OK,
    )
    .await
}

async fn group_page(
    state: &AppState, signed: &Signed, id: &str, q: &HashMap<String, String>, flash: Option<Flash>,
    adding: String, status: StatusCode,
) -> PageResult {
    let search = q
        .get("search")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let after_text = q.get("after").cloned().filter(|s| !s.is_empty());
    let after = match after_text.as_deref().map(str::parse) {
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            return Err(DirectoryError::Invalid("the page cursor is not valid".into()).into());
        }
        None => None,
    };
    let query = MemberQuery {
        search: Some(search.clone()).filter(|s| !s.is_empty()),
        after,
        count: PER_PAGE,
    };
    let (group, page) = state
        .directory
        .group_members(signed.org_id(), id, &query)
        .await?;
    let rows = page
        .members
        .iter()
        .map(|m| match m.kind {
            ResourceKind::User => MemberRow {
                id: m.id.to_string(),
                href: format!("/accounts/{}", m.id),
                name: text(&m.doc, "userName"),
                display_name: text(&m.doc, "displayName"),
                kind: "Account",
            },
            ResourceKind::Group => MemberRow {
                id: m.id.to_string(),
                href: format!("/groups/{}", m.id),
                name: text(&m.doc, "displayName"),
                display_name: String::new(),
                kind: "Group",
            },
        })
        .collect();
    let here = format!("/groups/{}", group.resource.id);
    let with_search = |base: &str, sep: char| {
        if search.is_empty() {
            base.to_owned()
        } else {
            format!("{base}{sep}search={}", enc(&search))
        }
    };
    Ok(render_status(
        status,
        &GroupPage {
            l: signed.layout(
                &text(&group.resource.doc, "displayName"),
                Nav::Groups,
                flash,
            ),
            id: group.resource.id.to_string(),
            name: text(&group.resource.doc, "displayName"),
            external_id: text(&group.resource.doc, "externalId"),
            source: source_name(group.source),
            manual: group.source == Source::Manual,
            adding,
            members: group.members,
            rows,
            next_url: page
                .next
                .map(|n| with_search(&format!("{here}?after={n}"), '&')),
            first_url: after_text.map(|_| with_search(&here, '?')),
            search,
        },
    ))
}

#[derive(Template)]
#[template(path = "group_new.html")]
struct NewGroupPage {
    l: Layout,
    name: String,
}

pub(super) async fn new_page(signed: Signed) -> PageResult {
    Ok(render(&NewGroupPage {
        l: signed.layout("New group", Nav::Groups, None),
        name: String::new(),
    }))
}

/// A refusal shown next to `field` when the service named none.
fn at_field<E: directory::Failure>(
    e: E, field: &str,
) -> Result<(StatusCode, Option<Flash>), super::PageError> {
    let (status, flash) = refusal(e)?;
    Ok((
        status,
        flash.map(|f| Flash {
            field: f.field.or_else(|| Some(field.to_owned())),
            ..f
        }),
    ))
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let name = form.text("displayName");
    match state
        .directory
        .create_group(signed.org_id(), &signed.actor(), &name, &[])
        .await
    {
        Ok(g) => Ok(see_other(&format!(
            "/groups/{}?done=created",
            g.resource.id
        ))),
        Err(e) => {
            let (status, flash) = at_field(e, "displayName")?;
            Ok(render_status(
                status,
                &NewGroupPage {
                    l: signed.layout("New group", Nav::Groups, flash),
                    name,
                },
            ))
        }
    }
}

/// One change to a manual group, named by the form's path: `edit` renames it, `members` adds
/// an account by user name, `remove` removes a member. Back to its page with the
/// confirmation, or the page with the refusal next to the field.
pub(super) async fn change(
    State(state): State<Arc<AppState>>, signed: Signed, Path((id, act)): Path<(String, String)>,
    form: Form,
) -> PageResult {
    let mut edit = GroupEdit::default();
    let (done, field) = match act.as_str() {
        "edit" => {
            edit.display_name = Some(form.text("displayName"));
            ("renamed", "displayName")
        }
        "members" => {
            edit.add_user_names = vec![form.text("userName")];
            ("added", "userName")
        }
        "remove" => {
            edit.remove = vec![form.text("member")];
            ("removed", "member")
        }
        _ => return Err(DirectoryError::NotFound(format!("page '{act}'")).into()),
    };
    let adding = edit.add_user_names.first().cloned().unwrap_or_default();
    match state
        .directory
        .edit_group(signed.org_id(), &signed.actor(), &id, edit)
        .await
    {
        Ok(g) => Ok(see_other(&format!("/groups/{}?done={done}", g.resource.id))),
        Err(e) => {
            let (status, flash) = at_field(e, field)?;
            group_page(&state, &signed, &id, &HashMap::new(), flash, adding, status).await
        }
    }
}

#[derive(Template)]
#[template(path = "group_delete.html")]
struct DeletePage {
    l: Layout,
    id: String,
    name: String,
    members: u64,
}

/// Asks before deleting a manual group.
pub(super) async fn confirm_delete(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>,
) -> PageResult {
    let (group, _) = state
        .directory
        .group_members(
            signed.org_id(),
            &id,
            &MemberQuery {
                count: 1,
                ..MemberQuery::default()
            },
        )
        .await?;
    if group.source != Source::Manual {
        return Err(DirectoryError::ReadOnly("group".into()).into());
    }
    let name = text(&group.resource.doc, "displayName");
    Ok(render(&DeletePage {
        l: signed.layout(&format!("Delete {name}"), Nav::Groups, None),
        id: group.resource.id.to_string(),
        name,
        members: group.members,
    }))
}

pub(super) async fn delete(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, _form: Form,
) -> PageResult {
    match state
        .directory
        .delete_group(signed.org_id(), &signed.actor(), &id)
        .await
    {
        Ok(()) => Ok(see_other("/groups?done=deleted")),
        Err(e) => {
            let (status, flash) = refusal(e)?;
            group_page(
                &state,
                &signed,
                &id,
                &HashMap::new(),
                flash,
                String::new(),
                status,
            )
            .await
        }
    }
}
