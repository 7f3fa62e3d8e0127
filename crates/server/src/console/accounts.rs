//! The Accounts pages: search, filters and keyset paging; an account's page with imported
//! attributes (read-only when directory sync owns them) and local properties; creating and
//! editing manual accounts. The rules (read-only attributes, local property limits) are the
//! directory service's; this module only turns forms into its calls.

use super::csrf::Form;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, enc, render, render_status,
    see_other,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use directory::OrgKind;
use directory::accounts::AccountEdit;
use directory::store::{Account, AccountQuery, LocalProps, Source, Status, columns};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Accounts per page. Paging is keyset (`after`), so the last page costs what the first does.
const PAGE_SIZE: u32 = 50;

const DONE: &[(&str, &str)] = &[
    ("created", "The account is created."),
    ("saved", "The changes are saved."),
    ("local-saved", "The local properties are saved."),
    ("unchanged", "Nothing was changed."),
    ("released", "The held user name is released."),
    ("role-added", "The role is set by hand."),
    ("role-removed", "The hand-set role is taken away."),
    ("assigned", "The role is given to the chosen accounts."),
    (
        "unassigned",
        "The hand-set role is taken away from the chosen accounts.",
    ),
];

struct AccountRow {
    id: String,
    user_name: String,
    display_name: String,
    source: &'static str,
    status: &'static str,
    roles: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    l: Layout,
    search: String,
    source: String,
    status: String,
    rows: Vec<AccountRow>,
    /// How many accounts match, as the page says it.
    total: String,
    next_url: Option<String>,
    first_url: Option<String>,
    /// The roles the bulk assignment offers.
    catalogue: Vec<String>,
    /// This page's address, to come back to after a bulk assignment.
    here: String,
}

fn source_label(s: Source) -> &'static str {
    match s {
        Source::Scim => "Directory sync",
        Source::Manual => "Manual",
    }
}

fn display_name(a: &Account) -> String {
    let doc = &a.resource.doc;
    if let Some(d) = doc.get("displayName").and_then(Value::as_str) {
        return d.to_owned();
    }
    let part = |k: &str| {
        doc.get("name")
            .and_then(|n| n.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    format!("{} {}", part("givenName"), part("familyName"))
        .trim()
        .to_owned()
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>, signed: Signed, Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let flash = done_flash(&Query(q.clone()), DONE);
    list_page(&state, &signed, q, flash, StatusCode::OK).await
}

pub(super) async fn list_page(
    state: &AppState, signed: &Signed, q: HashMap<String, String>, mut flash: Option<Flash>,
    code: StatusCode,
) -> PageResult {
    let text = |k: &str| q.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let (search, source, status) = (text("search"), text("source"), text("status"));
    let query = AccountQuery {
        search: Some(search.clone()).filter(|s| !s.is_empty()),
        source: Source::parse(&source),
        status: Status::parse(&status),
        after: q.get("after").cloned().filter(|s| !s.is_empty()),
        count: PAGE_SIZE,
    };
    let page = match state.directory.list_accounts(signed.org_id(), &query).await {
        Ok(p) => Some(p),
        Err(directory::accounts::DirectoryError::Invalid(m)) => {
            flash = Flash::error(super::auth::capitalise(&m));
            None
        }
        Err(e) => return Err(e.into()),
    };
    let filters = format!(
        "search={}&source={}&status={}",
        enc(&search),
        enc(&source),
        enc(&status)
    );
    let (rows, total, next) = match page {
        Some(p) => (
            p.accounts
                .iter()
                .map(|a| AccountRow {
                    id: a.resource.id.to_string(),
                    user_name: a.user_name().to_owned(),
                    display_name: display_name(a),
                    source: source_label(a.source),
                    status: a.status().as_str(),
                    roles: a.local.roles.join(", "),
                })
                .collect(),
            count_text(p.total, p.total_exact),
            p.next,
        ),
        None => (Vec::new(), count_text(0, true), None),
    };
    let catalogue = state
        .roles
        .catalogue(signed.org_id())
        .await?
        .all()
        .cloned()
        .collect();
    let here = match &query.after {
        Some(a) => format!("/accounts?{filters}&after={}", enc(a)),
        None => format!("/accounts?{filters}"),
    };
    Ok(render_status(
        code,
        &AccountsPage {
            l: signed.layout("Accounts", Nav::Accounts, flash),
            next_url: next.map(|n| format!("/accounts?{filters}&after={}", enc(&n))),
            first_url: query.after.as_ref().map(|_| format!("/accounts?{filters}")),
            catalogue,
            here,
            search,
            source,
            status,
            rows,
            total,
        },
    ))
}

/// "3 accounts", or "More than 1000 accounts" where the store stopped counting.
fn count_text(total: u64, exact: bool) -> String {
    let plural = if total == 1 { "" } else { "s" };
    if exact {
        format!("{total} account{plural}")
    } else {
        format!("More than {total} accounts")
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    l: Layout,
    id: String,
    managed: bool,
    source: &'static str,
    status: &'static str,
    held: Option<String>,
    attributes: Vec<super::account_view::Row>,
    /// The groups the account is a direct member of, synced or manual: (id, name).
    groups: Vec<(String, String)>,
    created: String,
    modified: String,
    school: bool,
    /// Each role with where it came from, and whether a hand set it (so it can be removed).
    roles: Vec<RoleRow>,
    /// The catalogue's roles the account does not have by hand, to add.
    addable: Vec<String>,
    locations: String,
    /// Locations a rule gives, with the rule.
    rule_locations: Vec<(String, String)>,
    grade_level: String,
    sis_username: String,
}

pub(super) async fn account_page(
    state: &AppState, signed: &Signed, id: &str, flash: Option<Flash>, status: StatusCode,
) -> PageResult {
    let a = state.directory.get_account(signed.org_id(), id).await?;
    let kind = signed.org.kind;
    let rules = state.roles.rules(signed.org_id()).await?;
    let catalogue = state.roles.catalogue(signed.org_id()).await?;
    let role_sources = directory::roles::sources_of_roles(kind, &a.local);
    let label = |s: &str| -> String {
        if s == directory::roles::MANUAL {
            "set by hand".to_owned()
        } else if s == directory::roles::DEFAULT {
            format!("default for a {} organisation", kind.as_str())
        } else {
            match directory::roles::rule_of(&rules, &[s.to_owned()]) {
                Some(name) => format!("rule \u{201c}{name}\u{201d}"),
                None => "a rule".to_owned(),
            }
        }
    };
    let roles: Vec<RoleRow> = a
        .local
        .roles
        .iter()
        .map(|r| {
            let sources = role_sources.get(r).cloned().unwrap_or_default();
            RoleRow {
                name: r.clone(),
                manual: sources.iter().any(|s| s == directory::roles::MANUAL),
                sources: sources
                    .iter()
                    .map(|s| label(s))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })
        .collect();
    let addable = catalogue
        .all()
        .filter(|c| !roles.iter().any(|r| r.manual && &r.name == *c))
        .cloned()
        .collect();
    let location_sources = directory::roles::sources_of_locations(&a.local);
    let rule_locations = a
        .local
        .locations
        .iter()
        .filter_map(|l| {
            let s = location_sources.get(l)?;
            let by: Vec<String> = s
                .iter()
                .filter(|s| s.starts_with("rule:"))
                .map(|s| label(s))
                .collect();
            (!by.is_empty()).then(|| (l.clone(), by.join(", ")))
        })
        .collect();
    let groups = state
        .directory
        .account_groups(signed.org_id(), a.resource.id)
        .await?
        .into_iter()
        .map(|g| {
            let id = g.id.to_string();
            (id.clone(), g.display.unwrap_or(id))
        })
        .collect();
    Ok(render_status(
        status,
        &AccountPage {
            l: signed.layout(a.user_name(), Nav::Accounts, flash),
            id: a.resource.id.to_string(),
            managed: a.source == Source::Scim,
            source: source_label(a.source),
            status: a.status().as_str(),
            held: a
                .hold_until
                .filter(|_| a.deleted.is_some())
                .map(|t| signed.when(t)),
            attributes: super::account_view::rows(&a.resource.doc),
            groups,
            created: signed.when(a.resource.created),
            modified: signed.when(a.resource.last_modified),
            school: signed.org.kind == OrgKind::School,
            roles,
            addable,
            locations: a.local.locations.join(", "),
            rule_locations,
            grade_level: a.local.grade_level.clone().unwrap_or_default(),
            sis_username: a.local.sis_username.clone().unwrap_or_default(),
        },
    ))
}

struct RoleRow {
    name: String,
    sources: String,
    manual: bool,
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>,
    q: Query<HashMap<String, String>>,
) -> PageResult {
    account_page(&state, &signed, &id, done_flash(&q, DONE), StatusCode::OK).await
}

/// Comma-separated values as a list.
pub(super) fn list_of(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn local_from(form: &Form, school: bool) -> LocalProps {
    let opt = |k: &str| Some(form.text(k)).filter(|v| school && !v.is_empty());
    LocalProps {
        roles: Vec::new(),
        locations: list_of(&form.text("locations")),
        grade_level: opt("gradeLevel"),
        sis_username: opt("sisUsername"),
        ..LocalProps::default()
    }
}

pub(super) async fn release(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>,
) -> PageResult {
    let a = state.directory.get_account(signed.org_id(), &id).await?;
    match state
        .directory
        .release_hold(signed.org_id(), &signed.actor(), &id)
        .await
    {
        Ok(()) => Ok(see_other(&format!(
            "/accounts?done=released&search={}",
            super::enc(a.user_name())
        ))),
        Err(e) => {
            let (status, flash) = super::refusal(e)?;
            account_page(&state, &signed, &id, flash, status).await
        }
    }
}

pub(super) async fn edit_local(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, form: Form,
) -> PageResult {
    let mut local = local_from(&form, signed.org.kind == OrgKind::School);
    // Roles have their own forms on the page: this one keeps them as they are.
    local.roles = state
        .directory
        .get_account(signed.org_id(), &id)
        .await?
        .local
        .roles;
    let edit = AccountEdit {
        local: Some(local),
        ..AccountEdit::default()
    };
    match state
        .directory
        .edit_account(signed.org_id(), &signed.actor(), &id, edit)
        .await
    {
        Ok(a) => Ok(see_other(&format!(
            "/accounts/{}?done=local-saved",
            a.resource.id
        ))),
        Err(e) => {
            let PageError(status, message) = e.into();
            if status == StatusCode::NOT_FOUND || status.is_server_error() {
                return Err(PageError(status, message));
            }
            account_page(
                &state,
                &signed,
                &id,
                Flash::error(super::auth::capitalise(&message)),
                status,
            )
            .await
        }
    }
}

// ---- the attribute form (create and edit)

#[derive(Template)]
#[template(path = "account_form.html")]
struct AccountForm {
    l: Layout,
    /// `None` for a new account.
    id: Option<String>,
    managed: bool,
    version: i64,
    user_name: String,
    given_name: String,
    family_name: String,
    display_name: String,
    email: String,
    active: bool,
    school: bool,
    roles: String,
    locations: String,
    grade_level: String,
    sis_username: String,
}

impl AccountForm {
    fn blank(signed: &Signed, flash: Option<Flash>) -> AccountForm {
        AccountForm {
            l: signed.layout("New account", Nav::Accounts, flash),
            id: None,
            managed: false,
            version: 0,
            user_name: String::new(),
            given_name: String::new(),
            family_name: String::new(),
            display_name: String::new(),
            email: String::new(),
            active: true,
            school: signed.org.kind == OrgKind::School,
            roles: String::new(),
            locations: String::new(),
            grade_level: String::new(),
            sis_username: String::new(),
        }
    }

    /// The form as posted, to show again with a refusal.
    fn posted(mut self, form: &Form) -> AccountForm {
        self.user_name = form.text("userName");
        self.given_name = form.text("givenName");
        self.family_name = form.text("familyName");
        self.display_name = form.text("displayName");
        self.email = form.text("email");
        self.active = form.get("active").is_some();
        self.roles = form.text("roles");
        self.locations = form.text("locations");
        self.grade_level = form.text("gradeLevel");
        self.sis_username = form.text("sisUsername");
        self
    }
}

fn text_at<'a>(doc: &'a Value, path: &[&str]) -> &'a str {
    let mut v = doc;
    for p in path {
        match v.get(p) {
            Some(next) => v = next,
            None => return "",
        }
    }
    v.as_str().unwrap_or_default()
}

/// The index of the e-mail address the form edits: the primary one, else the first.
fn main_email(doc: &Value) -> Option<usize> {
    let emails = doc.get("emails")?.as_array()?;
    emails
        .iter()
        .position(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or((!emails.is_empty()).then_some(0))
}

fn email_of(doc: &Value) -> &str {
    main_email(doc)
        .and_then(|i| doc["emails"][i].get("value"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(super) async fn new_page(signed: Signed) -> PageResult {
    Ok(render(&AccountForm::blank(&signed, None)))
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let mut doc = Map::new();
    doc.insert("userName".into(), form.text("userName").into());
    let mut name = Map::new();
    for (field, key) in [("givenName", "givenName"), ("familyName", "familyName")] {
        let v = form.text(field);
        if !v.is_empty() {
            name.insert(key.into(), v.into());
        }
    }
    if !name.is_empty() {
        doc.insert("name".into(), Value::Object(name));
    }
    let display = form.text("displayName");
    if !display.is_empty() {
        doc.insert("displayName".into(), display.into());
    }
    let email = form.text("email");
    if !email.is_empty() {
        doc.insert(
            "emails".into(),
            json!([{ "value": email, "type": "work", "primary": true }]),
        );
    }
    doc.insert("active".into(), Value::Bool(form.get("active").is_some()));
    let school = signed.org.kind == OrgKind::School;
    let local = local_from(&form, school);
    let local = (!local.roles.is_empty()
        || !local.locations.is_empty()
        || local.grade_level.is_some()
        || local.sis_username.is_some())
    .then_some(local);
    match state
        .directory
        .create_account(signed.org_id(), &signed.actor(), &Value::Object(doc), local)
        .await
    {
        Ok(a) => Ok(see_other(&format!(
            "/accounts/{}?done=created",
            a.resource.id
        ))),
        Err(e) => {
            let (status, flash) = super::refusal(e)?;
            Ok(render_status(
                status,
                &AccountForm::blank(&signed, flash).posted(&form),
            ))
        }
    }
}

fn edit_form(signed: &Signed, a: &Account, flash: Option<Flash>) -> AccountForm {
    let doc = &a.resource.doc;
    AccountForm {
        l: signed.layout(&format!("Edit {}", a.user_name()), Nav::Accounts, flash),
        id: Some(a.resource.id.to_string()),
        managed: a.source == Source::Scim,
        version: a.resource.version,
        user_name: a.user_name().to_owned(),
        given_name: text_at(doc, &["name", "givenName"]).to_owned(),
        family_name: text_at(doc, &["name", "familyName"]).to_owned(),
        display_name: text_at(doc, &["displayName"]).to_owned(),
        email: email_of(doc).to_owned(),
        active: columns::active(doc),
        school: signed.org.kind == OrgKind::School,
        roles: String::new(),
        locations: String::new(),
        grade_level: String::new(),
        sis_username: String::new(),
    }
}

pub(super) async fn edit_page(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>,
) -> PageResult {
    let a = state.directory.get_account(signed.org_id(), &id).await?;
    if a.source == Source::Scim || a.deleted.is_some() {
        // Only the local properties of a synced or held account can change: they are on its
        // page, so the attributes form is never offered.
        return Ok(see_other(&format!("/accounts/{}", a.resource.id)));
    }
    Ok(render(&edit_form(&signed, &a, None)))
}

/// The attributes the form changes, compared with the stored document; sub-attributes and
/// other e-mail addresses the form does not show are kept.
fn attribute_changes(doc: &Value, form: &Form) -> Map<String, Value> {
    let mut out = Map::new();
    let user_name = form.text("userName");
    if user_name != text_at(doc, &["userName"]) {
        out.insert("userName".into(), user_name.into());
    }
    let display = form.text("displayName");
    if display != text_at(doc, &["displayName"]) {
        out.insert(
            "displayName".into(),
            if display.is_empty() {
                Value::Null
            } else {
                display.into()
            },
        );
    }
    let (given, family) = (form.text("givenName"), form.text("familyName"));
    if given != text_at(doc, &["name", "givenName"])
        || family != text_at(doc, &["name", "familyName"])
    {
        let mut name = doc
            .get("name")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in [("givenName", given), ("familyName", family)] {
            if v.is_empty() {
                name.remove(k);
            } else {
                name.insert(k.into(), v.into());
            }
        }
        out.insert(
            "name".into(),
            if name.is_empty() {
                Value::Null
            } else {
                Value::Object(name)
            },
        );
    }
    let email = form.text("email");
    if email != email_of(doc) {
        let mut emails = doc
            .get("emails")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match (main_email(doc), email.is_empty()) {
            (Some(i), true) => {
                emails.remove(i);
            }
            (Some(i), false) => emails[i]["value"] = email.into(),
            (None, false) => {
                emails.push(json!({ "value": email, "type": "work", "primary": true }));
            }
            (None, true) => {}
        }
        out.insert(
            "emails".into(),
            if emails.is_empty() {
                Value::Null
            } else {
                Value::Array(emails)
            },
        );
    }
    let active = form.get("active").is_some();
    if active != columns::active(doc) {
        out.insert("active".into(), Value::Bool(active));
    }
    out
}

pub(super) async fn edit(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, form: Form,
) -> PageResult {
    let a = state.directory.get_account(signed.org_id(), &id).await?;
    let attributes = attribute_changes(&a.resource.doc, &form);
    if attributes.is_empty() {
        return Ok(see_other(&format!(
            "/accounts/{}?done=unchanged",
            a.resource.id
        )));
    }
    let edit = AccountEdit {
        attributes,
        local: None,
        expected_version: form.text("version").parse().ok(),
    };
    match state
        .directory
        .edit_account(signed.org_id(), &signed.actor(), &id, edit)
        .await
    {
        Ok(a) => Ok(see_other(&format!(
            "/accounts/{}?done=saved",
            a.resource.id
        ))),
        Err(e) => {
            let (status, flash) = super::refusal(e)?;
            Ok(render_status(
                status,
                &edit_form(&signed, &a, flash).posted(&form),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_count_says_when_the_store_stopped_counting() {
        assert_eq!(super::count_text(1, true), "1 account");
        assert_eq!(super::count_text(0, true), "0 accounts");
        assert_eq!(super::count_text(1000, false), "More than 1000 accounts");
    }
}
