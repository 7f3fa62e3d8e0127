//! The Roles page (docs/contract.md, "Roles and rules"): the organisation's role catalogue
//! and the rules that give roles and locations from what the identity provider sends; create,
//! edit, delete and reorder. The rules are `directory::roles`'; this module turns forms into
//! its calls. Everyone who signs in sees the page; administrators change it.

use super::csrf::Form;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, render_status, see_other,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use directory::roles::{RuleInput, describe};
use directory::store::{RoleRule, RuleOp};
use std::collections::HashMap;
use std::sync::Arc;

const DONE: &[(&str, &str)] = &[
    ("role-added", "The role is added to the catalogue."),
    ("role-removed", "The role is removed from the catalogue."),
    (
        "rule-created",
        "The rule is created and applied to every account.",
    ),
    (
        "rule-saved",
        "The rule is saved and applied to every account again.",
    ),
    (
        "rule-deleted",
        "The rule is deleted; what it alone gave is taken away.",
    ),
    ("rule-moved", "The rule is moved."),
    ("applied", "The rules are applied to every account again."),
];

struct RuleRow {
    id: String,
    position: usize,
    name: String,
    when: String,
    first: bool,
    last: bool,
}

/// The rule form's values (a new rule, an edit, or what was sent back with a refusal).
pub(crate) struct RuleForm {
    name: String,
    op: String,
    attribute: String,
    value: String,
    roles: Vec<String>,
    locations: String,
}

impl RuleForm {
    fn empty() -> RuleForm {
        RuleForm {
            name: String::new(),
            op: "memberOf".into(),
            attribute: String::new(),
            value: String::new(),
            roles: Vec::new(),
            locations: String::new(),
        }
    }

    fn of(r: &RoleRule) -> RuleForm {
        RuleForm {
            name: r.name.clone(),
            op: r.condition.op.as_str().to_owned(),
            attribute: r.condition.attribute.clone(),
            value: r.condition.value.clone(),
            roles: r.roles.clone(),
            locations: r.locations.join(", "),
        }
    }

    fn from_form(form: &Form) -> RuleForm {
        RuleForm {
            name: form.text("name"),
            op: form.text("op"),
            attribute: form.text("attribute"),
            value: form.text("value"),
            roles: form.all("role").iter().map(|r| (*r).to_owned()).collect(),
            locations: form.text("locations"),
        }
    }

    fn input(&self) -> RuleInput {
        RuleInput {
            name: self.name.clone(),
            attribute: if self.op == RuleOp::MemberOf.as_str() {
                String::new()
            } else {
                self.attribute.clone()
            },
            op: self.op.clone(),
            value: self.value.clone(),
            roles: self.roles.clone(),
            locations: super::accounts::list_of(&self.locations),
        }
    }

    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    l: Layout,
    administrator: bool,
    kind: &'static str,
    defaults: Vec<String>,
    own: Vec<String>,
    catalogue: Vec<String>,
    rules: Vec<RuleRow>,
    new_role: String,
    form: RuleForm,
}

#[derive(Template)]
#[template(path = "role_rule.html")]
struct RuleEditPage {
    l: Layout,
    id: String,
    catalogue: Vec<String>,
    form: RuleForm,
}

async fn roles_page(
    state: &AppState, signed: &Signed, flash: Option<Flash>, status: StatusCode, new_role: String,
    form: RuleForm,
) -> PageResult {
    let org = signed.org_id();
    let cat = state.roles.catalogue(org).await?;
    let rules = state.roles.rules(org).await?;
    let n = rules.len();
    let rows = rules
        .iter()
        .enumerate()
        .map(|(i, r)| RuleRow {
            id: r.id.to_string(),
            position: i + 1,
            name: r.name.clone(),
            when: describe(r),
            first: i == 0,
            last: i + 1 == n,
        })
        .collect();
    Ok(render_status(
        status,
        &RolesPage {
            l: signed.layout("Roles", Nav::Roles, flash),
            administrator: signed.is_administrator(),
            kind: signed.org.kind.as_str(),
            catalogue: cat.all().cloned().collect(),
            defaults: cat.defaults,
            own: cat.own,
            rules: rows,
            new_role,
            form,
        },
    ))
}

/// A refusal shown next to `field` and at the top of the page, or a failed request on a 5xx.
fn refused(e: impl Into<PageError>, field: &str) -> Result<(StatusCode, Option<Flash>), PageError> {
    let (status, flash) = super::split(e)?;
    Ok((
        status,
        flash.map(|f| Flash {
            field: Some(field.to_owned()),
            ..f
        }),
    ))
}

pub(super) async fn page(
    State(state): State<Arc<AppState>>, signed: Signed, q: Query<HashMap<String, String>>,
) -> PageResult {
    roles_page(
        &state,
        &signed,
        done_flash(&q, DONE),
        StatusCode::OK,
        String::new(),
        RuleForm::empty(),
    )
    .await
}

pub(super) async fn add_role(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let name = form.text("role");
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => state
            .roles
            .add_role(signed.org_id(), &signed.actor(), &name)
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/roles?done=role-added")),
        Err(e) => {
            let (status, flash) = refused(e, "role")?;
            roles_page(&state, &signed, flash, status, name, RuleForm::empty()).await
        }
    }
}

pub(super) async fn remove_role(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let name = form.text("role");
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => state
            .roles
            .remove_role(signed.org_id(), &signed.actor(), &name)
            .await
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/roles?done=role-removed")),
        Err(e) => {
            let (status, flash) = super::split(e)?;
            roles_page(
                &state,
                &signed,
                flash,
                status,
                String::new(),
                RuleForm::empty(),
            )
            .await
        }
    }
}

pub(super) async fn create_rule(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let rf = RuleForm::from_form(&form);
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => state
            .roles
            .create_rule(signed.org_id(), &signed.actor(), &rf.input())
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/roles?done=rule-created")),
        Err(e) => {
            let (status, flash) = refused(e, "rule")?;
            roles_page(&state, &signed, flash, status, String::new(), rf).await
        }
    }
}

pub(super) async fn edit_page(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>,
) -> PageResult {
    signed.require_administrator()?;
    let rule = state.roles.rule(signed.org_id(), &id).await?;
    rule_page(
        &state,
        &signed,
        &id,
        None,
        StatusCode::OK,
        RuleForm::of(&rule),
    )
    .await
}

async fn rule_page(
    state: &AppState, signed: &Signed, id: &str, flash: Option<Flash>, status: StatusCode,
    form: RuleForm,
) -> PageResult {
    let cat = state.roles.catalogue(signed.org_id()).await?;
    Ok(render_status(
        status,
        &RuleEditPage {
            l: signed.layout("Edit rule", Nav::Roles, flash),
            id: id.to_owned(),
            catalogue: cat.all().cloned().collect(),
            form,
        },
    ))
}

pub(super) async fn edit_rule(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let rf = RuleForm::from_form(&form);
    match state
        .roles
        .update_rule(signed.org_id(), &signed.actor(), &id, &rf.input())
        .await
    {
        Ok(_) => Ok(see_other("/roles?done=rule-saved")),
        Err(e) => {
            let (status, flash) = refused(e, "rule")?;
            if status == StatusCode::NOT_FOUND {
                return Err(PageError::not_found());
            }
            rule_page(&state, &signed, &id, flash, status, rf).await
        }
    }
}

pub(super) async fn delete_rule(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, _form: Form,
) -> PageResult {
    signed.require_administrator()?;
    state
        .roles
        .delete_rule(signed.org_id(), &signed.actor(), &id)
        .await?;
    Ok(see_other("/roles?done=rule-deleted"))
}

pub(super) async fn move_rule(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, form: Form,
) -> PageResult {
    signed.require_administrator()?;
    let by = match form.text("direction").as_str() {
        "up" => -1,
        "down" => 1,
        _ => {
            return Err(PageError(
                StatusCode::BAD_REQUEST,
                "Choose up or down.".into(),
            ));
        }
    };
    state
        .roles
        .move_rule(signed.org_id(), &signed.actor(), &id, by)
        .await?;
    Ok(see_other("/roles?done=rule-moved"))
}

pub(super) async fn apply(
    State(state): State<Arc<AppState>>, signed: Signed, _form: Form,
) -> PageResult {
    signed.require_administrator()?;
    state
        .roles
        .apply_all(signed.org_id(), &signed.actor())
        .await?;
    Ok(see_other("/roles?done=applied"))
}
