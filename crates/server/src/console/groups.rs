//! The Groups page: the groups directory sync provisioned, read-only, in keyset pages.

use super::{Flash, Layout, Nav, PageResult, Signed, enc, render, when};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use directory::store::{ListQuery, Load};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

struct GroupRow {
    name: String,
    external_id: String,
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

/// The groups directory sync provisioned, read-only, in keyset pages (members are not loaded:
/// a group may have 100,000).
pub(super) async fn groups(
    State(state): State<Arc<AppState>>,
    signed: Signed,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let after = q.get("after").cloned().filter(|s| !s.is_empty());
    let query = ListQuery {
        start_index: 1,
        count: 50,
        cursor: Some(after.clone().unwrap_or_default()),
        load: Load::default(),
        ..ListQuery::default()
    };
    let (page, flash) = match state
        .store
        .list_resources(signed.org_id(), ResourceKind::Group, &query)
        .await
    {
        Ok(p) => (Some(p), None),
        Err(directory::StoreError::InvalidCursor) => {
            (None, Flash::error("The page cursor is not valid."))
        }
        Err(e) => return Err(e.into()),
    };
    let (rows, total, next) = match page {
        Some(p) => (
            p.resources
                .iter()
                .map(|g| GroupRow {
                    name: g
                        .doc
                        .get("displayName")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    external_id: g
                        .doc
                        .get("externalId")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    created: when(g.created),
                })
                .collect(),
            p.total,
            p.next_cursor,
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
