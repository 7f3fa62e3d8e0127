//! An account's roles in the console: a hand-set role added from the catalogue or removed on
//! the account's page, and a role given to (or taken from) the accounts chosen on the list.

use super::accounts::{account_page, list_page};
use super::csrf::Form;
use super::{Flash, PageError, PageResult, Signed, enc, see_other};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;

async fn hand_set(
    state: &AppState, signed: &Signed, id: &str, form: &Form, add: bool,
) -> PageResult {
    let role = form.text("role");
    match state
        .roles
        .assign(
            signed.org_id(),
            &signed.actor(),
            &[id.to_owned()],
            &role,
            add,
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/accounts/{}?done={}",
            enc(id),
            if add { "role-added" } else { "role-removed" }
        ))),
        Err(e) => {
            let PageError(status, message) = e.into();
            if status == StatusCode::NOT_FOUND || status.is_server_error() {
                return Err(PageError(status, message));
            }
            let flash = Some(Flash {
                error: true,
                text: super::auth::capitalise(&message),
                field: Some("role".into()),
            });
            account_page(state, signed, id, flash, status).await
        }
    }
}

pub(super) async fn add_role(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, form: Form,
) -> PageResult {
    hand_set(&state, &signed, &id, &form, true).await
}

pub(super) async fn remove_role(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, form: Form,
) -> PageResult {
    hand_set(&state, &signed, &id, &form, false).await
}

/// The accounts list's bulk "Assign role": the checked accounts get (or lose) a hand-set role.
pub(super) async fn assign_roles(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let ids: Vec<String> = form
        .all("account")
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let role = form.text("role");
    let add = form.text("action") != "remove";
    let back = form.text("back");
    // Only a path of the accounts list goes back; anything else starts it afresh.
    let back = if back.starts_with("/accounts?") || back == "/accounts" {
        back
    } else {
        "/accounts?".to_owned()
    };
    match state
        .roles
        .assign(signed.org_id(), &signed.actor(), &ids, &role, add)
        .await
    {
        Ok(n) => {
            let sep = if back.contains('?') { "&" } else { "?" };
            Ok(see_other(&format!(
                "{back}{sep}done={}",
                if n == 0 {
                    "unchanged"
                } else if add {
                    "assigned"
                } else {
                    "unassigned"
                }
            )))
        }
        Err(e) => {
            let PageError(status, message) = e.into();
            if status.is_server_error() {
                return Err(PageError(status, message));
            }
            let flash = Some(Flash {
                error: true,
                text: super::auth::capitalise(&message),
                field: Some("bulk-role".into()),
            });
            list_page(&state, &signed, HashMap::new(), flash, status).await
        }
    }
}
