//! The Groups pages: every group (synced or manual) with its member count, in keyset pages;
//! a group's page lists its members in keyset pages (by member id), with a find box over
//! them (the account search), each member linked to its page.

use super::{Flash, Layout, Nav, PageResult, Signed, enc, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use directory::accounts::DirectoryError;
use directory::store::{MemberQuery, Source};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Groups and members in a page.
const PER_PAGE: u32 = 50;

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
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let after = q.get("after").cloned().filter(|s| !s.is_empty());
    let (page, flash) = match state
        .directory
        .list_groups(signed.org_id(), after.as_deref(), PER_PAGE)
        .await
    {
        Ok(p) => (Some(p), None),
        Err(DirectoryError::Invalid(_)) => (None, Flash::error("The page cursor is not valid.")),
        Err(e) => return Err(e.into()),
    };
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
    members: u64,
    search: String,
    rows: Vec<MemberRow>,
    next_url: Option<String>,
    first_url: Option<String>,
}

/// One group: its attributes and its members, `?search=` finding among them, `?after=` the
/// last member id of the previous page.
pub(super) async fn group(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
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
        .group_members(signed.org_id(), &id, &query)
        .await?;
    let rows = page
        .members
        .iter()
        .map(|m| match m.kind {
            ResourceKind::User => MemberRow {
                href: format!("/accounts/{}", m.id),
                name: text(&m.doc, "userName"),
                display_name: text(&m.doc, "displayName"),
                kind: "Account",
            },
            ResourceKind::Group => MemberRow {
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
    Ok(render(&GroupPage {
        l: signed.layout(&text(&group.resource.doc, "displayName"), Nav::Groups, None),
        id: group.resource.id.to_string(),
        name: text(&group.resource.doc, "displayName"),
        external_id: text(&group.resource.doc, "externalId"),
        source: source_name(group.source),
        members: group.members,
        rows,
        next_url: page
            .next
            .map(|n| with_search(&format!("{here}?after={n}"), '&')),
        first_url: after_text.map(|_| with_search(&here, '?')),
        search,
    }))
}
