//! The administrative API's error answer, [`ApiError`], and its one table from the services'
//! errors to a status and a stable code (5xx causes are logged here and never shown).

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use directory::{ErrorKind, Failure, StoreError};
use serde_json::json;

/// An error of the administrative API, answered as `{"error": code, "message": message}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code (`invalid`, `not_found`, `conflict`...).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: String) -> Self {
        ApiError {
            status,
            code,
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unavailable = self.status == StatusCode::SERVICE_UNAVAILABLE;
        let mut r = (
            self.status,
            Json(json!({ "error": self.code, "message": self.message })),
        )
            .into_response();
        if unavailable {
            // Every 503 is a passing condition (RFC 9110 section 10.2.3).
            r.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(crate::scim::response::RETRY_AFTER_SECS),
            );
        }
        r
    }
}

pub(super) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid", msg.into())
}

pub(super) fn store_failure(e: StoreError) -> ApiError {
    ApiError::from(e)
}

/// The one table from a kind of failure to the HTTP status and the API's stable code; the
/// console answers with the same statuses.
pub(crate) fn status_and_code(kind: ErrorKind) -> (StatusCode, &'static str) {
    match kind {
        ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid"),
        ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        ErrorKind::ReadOnly => (StatusCode::FORBIDDEN, "read_only"),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        ErrorKind::Gone => (StatusCode::GONE, "gone"),
        ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
        ErrorKind::Refused => (StatusCode::CONFLICT, "refused"),
        ErrorKind::Stale => (StatusCode::CONFLICT, "stale"),
        ErrorKind::Unverified => (StatusCode::UNPROCESSABLE_ENTITY, "dns"),
        ErrorKind::Locked => (StatusCode::TOO_MANY_REQUESTS, "locked"),
        ErrorKind::SecondFactorRequired => (StatusCode::UNAUTHORIZED, "second_factor_required"),
        ErrorKind::EnrolmentRequired => (StatusCode::FORBIDDEN, "enrolment_required"),
        ErrorKind::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        ErrorKind::StorageFull => (StatusCode::INSUFFICIENT_STORAGE, "storage_full"),
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// What a client is told of a server-side failure (its cause goes to the log).
fn server_side_message(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Unavailable => "the database is unavailable; retry later",
        ErrorKind::StorageFull => "the server's storage is full; the change was not made",
        _ => "internal error",
    }
}

impl<E: Failure> From<E> for ApiError {
    fn from(e: E) -> Self {
        let kind = e.kind();
        let (status, code) = status_and_code(kind);
        let message = if kind.is_server_side() {
            match kind {
                ErrorKind::Unavailable => tracing::warn!(error = %e, "a dependency is unavailable"),
                _ => tracing::error!(error = %e, "request failed on the server's side"),
            }
            server_side_message(kind).to_owned()
        } else {
            e.to_string()
        };
        ApiError::new(status, code, message)
    }
}

/// 429 for an address that failed to authenticate too often.
pub(super) fn throttled(wait: std::time::Duration) -> Response {
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        "too many failed sign-ins from this address; retry later".into(),
    )
    .into_response();
    if let Ok(v) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_store_is_503_with_retry_after_and_a_full_one_507() {
        let r = store_failure(StoreError::Unavailable("connection refused".into())).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key(header::RETRY_AFTER));
        let e = store_failure(StoreError::StorageFull("disk full".into()));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::INSUFFICIENT_STORAGE, "storage_full")
        );
    }
}
