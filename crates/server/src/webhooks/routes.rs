//! "Send a test event" to an endpoint: `POST /api/v1/webhooks/{id}/test` for the
//! administrative API and `POST /console/applications/webhooks/{id}/test` for the console's
//! Applications page. Both are for administrators of the endpoint's organisation only; an id
//! of another organisation's endpoint is 404, as an unknown one.

use super::send_test;
use crate::api::{Admin, ApiError};
use crate::console::csrf::Form;
use crate::console::{PageError, Signed, see_other};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use directory::OrgId;
use directory::accounts::DirectoryError;
use directory::ids::WebhookId;
use directory::store::WebhookEndpoint;
use serde_json::Value;
use std::sync::Arc;

/// Why a test cannot be sent, before anything is.
enum Refused {
    NotFound,
    NotConfigured,
    Store(directory::StoreError),
}

/// The endpoint `id` of `org`, and the sender to reach it with.
async fn endpoint(
    state: &AppState, org: OrgId, id: &str,
) -> Result<(WebhookEndpoint, Arc<super::Sender>), Refused> {
    let id: WebhookId = id.parse().map_err(|_| Refused::NotFound)?;
    let ep = state
        .store
        .get_webhook(org, id)
        .await
        .map_err(Refused::Store)?
        .ok_or(Refused::NotFound)?;
    let sender = state.webhooks.clone().ok_or(Refused::NotConfigured)?;
    Ok((ep, sender))
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such webhook endpoint".into(),
            ),
            Refused::NotConfigured => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "this process delivers no webhooks".into(),
            ),
            Refused::Store(e) => ApiError::from(DirectoryError::from(e)),
        }
    }
}

/// `POST /api/v1/webhooks/{id}/test`: 200 with the attempt, whether the receiver took it or
/// not (`ok`, `status`, `error` say which): the request itself succeeded.
pub(crate) async fn api_test(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let (ep, sender) = endpoint(&state, admin.org(), &id).await?;
    let record = send_test(
        state.store.as_ref(),
        state.clock.as_ref(),
        &sender,
        &ep,
        &admin.actor(),
    )
    .await
    .map_err(|e| ApiError::from(DirectoryError::from(e)))?;
    Ok(Json(directory::applications::delivery_json(&record)))
}

/// The console's "Send test event": back to the endpoint's page, whose delivery log shows
/// how the attempt went (`?done=tested`).
pub(crate) async fn console_test(
    State(state): State<Arc<AppState>>, signed: Signed, Path(id): Path<String>, _form: Form,
) -> Result<Response, PageError> {
    signed.require_administrator()?;
    let (ep, sender) = endpoint(&state, signed.org_id(), &id)
        .await
        .map_err(|r| PageError::from(ApiError::from(r)))?;
    let record = send_test(
        state.store.as_ref(),
        state.clock.as_ref(),
        &sender,
        &ep,
        &signed.actor(),
    )
    .await?;
    if !record.ok {
        tracing::info!(endpoint = %ep.id, error = record.error.as_deref().unwrap_or(""), "test event not delivered");
    }
    Ok(see_other(&format!(
        "/applications/webhooks/{}?done=tested",
        ep.id
    )))
}
