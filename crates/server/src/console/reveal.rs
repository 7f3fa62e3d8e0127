//! Secrets shown once, after a redirect: a POST that mints a token, an application key or a
//! webhook secret keeps it through [`directory::reveal::Reveals`] and answers 303 to a page
//! named by the handle; that page shows the value the first time and "already shown" after,
//! so a reload neither mints another nor shows it again. Any instance can show it.

use super::{Layout, PageError, Signed, render_status};
use crate::state::AppState;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use directory::reveal::Reveals;
use serde_json::Value;

fn reveals(state: &AppState) -> Reveals {
    Reveals::new(state.store.clone(), state.clock.clone())
}

/// Keeps `value` (an object with a `"kind"`) for the signed-in administrator; returns the
/// handle for the page's path.
pub(super) async fn keep(
    state: &AppState, signed: &Signed, value: Value,
) -> Result<String, PageError> {
    Ok(reveals(state)
        .keep(signed.org_id(), signed.who.admin.id, &value)
        .await?)
}

/// The value behind `handle` if it is of `kind` and not yet shown (it is then gone).
pub(super) async fn take(
    state: &AppState, signed: &Signed, handle: &str, kind: &str,
) -> Result<Option<Value>, PageError> {
    if handle.len() > 64 {
        return Ok(None);
    }
    Ok(reveals(state)
        .take(signed.org_id(), signed.who.admin.id, handle)
        .await?
        .filter(|v| v.get("kind").and_then(Value::as_str) == Some(kind)))
}

/// A string field of a kept value.
pub(super) fn field(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[derive(Template)]
#[template(path = "shown.html")]
struct ShownPage {
    l: Layout,
    what: &'static str,
    back: &'static str,
}

/// The page a second view gets: 410, with the way back.
pub(super) fn already_shown(l: Layout, what: &'static str, back: &'static str) -> Response {
    render_status(StatusCode::GONE, &ShownPage { l, what, back })
}
