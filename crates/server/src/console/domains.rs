//! The Domains page: an organisation's e-mail domains, each proven by a DNS TXT record
//! before its accounts are trusted; add, verify and remove.

use super::csrf::Form;
use super::{
    Flash, Layout, Nav, PageError, PageResult, Signed, done_flash, render_status, see_other,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;

use super::split;

struct DomainRow {
    name: String,
    txt: String,
    verified: Option<String>,
    verified_by: String,
}

#[derive(Template)]
#[template(path = "domains.html")]
struct DomainsPage {
    l: Layout,
    rows: Vec<DomainRow>,
    administrator: bool,
    name: String,
}

const DOMAINS_DONE: &[(&str, &str)] = &[
    (
        "added",
        "The domain is added. Publish its TXT record in DNS, then choose Verify.",
    ),
    ("verified", "The domain is verified."),
    ("removed", "The domain is removed."),
];

async fn domains_page(
    state: &AppState, signed: &Signed, flash: Option<Flash>, status: StatusCode, name: String,
) -> PageResult {
    let rows = state
        .directory
        .list_domains(signed.org_id())
        .await?
        .into_iter()
        .map(|d| DomainRow {
            verified: d.verified.map(|t| signed.when(t)),
            verified_by: d.verified_by.unwrap_or_default(),
            name: d.name,
            txt: d.txt,
        })
        .collect();
    Ok(render_status(
        status,
        &DomainsPage {
            l: signed.layout("Domains", Nav::Domains, flash),
            rows,
            administrator: signed.is_administrator(),
            name,
        },
    ))
}

pub(super) async fn domains(
    State(state): State<Arc<AppState>>, signed: Signed, q: Query<HashMap<String, String>>,
) -> PageResult {
    domains_page(
        &state,
        &signed,
        done_flash(&q, DOMAINS_DONE),
        StatusCode::OK,
        String::new(),
    )
    .await
}

pub(super) async fn add_domain(
    State(state): State<Arc<AppState>>, signed: Signed, form: Form,
) -> PageResult {
    let name = form.text("name");
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => state
            .directory
            .add_domain(signed.org_id(), &signed.actor(), &name)
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/domains?done=added")),
        Err(e) => {
            let (status, flash) = split(e)?;
            domains_page(&state, &signed, flash, status, name).await
        }
    }
}

pub(super) async fn verify_domain(
    State(state): State<Arc<AppState>>, signed: Signed, Path(name): Path<String>, _form: Form,
) -> PageResult {
    let result = match (signed.require_administrator(), state.dns.as_ref()) {
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(PageError(
            StatusCode::SERVICE_UNAVAILABLE,
            "No DNS resolver is configured on this server, so domains cannot be verified here."
                .into(),
        )),
        (Ok(()), Some(dns)) => state
            .directory
            .verify_domain(signed.org_id(), &signed.actor(), &name, dns.as_ref())
            .await
            .map(|_| ())
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/domains?done=verified")),
        // No resolver is the server's state, not a fault: say so on the page.
        Err(PageError(StatusCode::SERVICE_UNAVAILABLE, m)) => {
            domains_page(
                &state,
                &signed,
                Flash::error(m),
                StatusCode::SERVICE_UNAVAILABLE,
                String::new(),
            )
            .await
        }
        Err(e) => {
            let (status, flash) = split(e)?;
            domains_page(&state, &signed, flash, status, String::new()).await
        }
    }
}

pub(super) async fn remove_domain(
    State(state): State<Arc<AppState>>, signed: Signed, Path(name): Path<String>, _form: Form,
) -> PageResult {
    let result = match signed.require_administrator() {
        Err(e) => Err(e),
        Ok(()) => state
            .directory
            .remove_domain(signed.org_id(), &signed.actor(), &name)
            .await
            .map_err(PageError::from),
    };
    match result {
        Ok(()) => Ok(see_other("/domains?done=removed")),
        Err(e) => {
            let (status, flash) = split(e)?;
            domains_page(&state, &signed, flash, status, String::new()).await
        }
    }
}
