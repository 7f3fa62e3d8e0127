//! The administrative API's error answer, [`ApiError`], and its one table from the services'
//! errors to a status and a stable code (5xx causes are logged here and never shown).

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use directory::StoreError;
use directory::accounts::DirectoryError;
use directory::applications::AppError;
use directory::lifecycle::LifecycleError;
use directory::session::SessionError;
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
    match e {
        StoreError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found".into())
        }
        StoreError::VersionMismatch => ApiError::new(
            StatusCode::CONFLICT,
            "stale",
            "the resource changed since it was read".into(),
        ),
        StoreError::Conflict(f) => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{f} is already in use in this organisation"),
        ),
        StoreError::Unavailable(m) => {
            tracing::warn!(error = %m, "storage unavailable in the administrative API");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unavailable; retry later".into(),
            )
        }
        StoreError::StorageFull(m) => {
            tracing::error!(error = %m, "storage full in the administrative API");
            ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                "the server's storage is full; the change was not made".into(),
            )
        }
        other => {
            tracing::error!(error = %other, "storage failure in the administrative API");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error".into(),
            )
        }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        let msg = e.to_string();
        match e {
            DirectoryError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            DirectoryError::ReadOnly(_) => ApiError::new(StatusCode::FORBIDDEN, "read_only", msg),
            DirectoryError::Invalid(_) => bad(msg),
            DirectoryError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            DirectoryError::Stale => ApiError::new(StatusCode::CONFLICT, "stale", msg),
            DirectoryError::Dns(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "dns", msg),
            DirectoryError::Lifecycle(l) => l.into(),
            DirectoryError::Store(s) => store_failure(s),
        }
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        let msg = e.to_string();
        match e {
            LifecycleError::TooManyTokens
            | LifecycleError::LastLiveToken
            | LifecycleError::AlreadyRevoked(_)
            | LifecycleError::DuplicateAdmin(_)
            | LifecycleError::LastAdministrator(_)
            | LifecycleError::KindLocked
            | LifecycleError::SiteManagersRemain => {
                ApiError::new(StatusCode::CONFLICT, "refused", msg)
            }
            LifecycleError::UnknownToken(_)
            | LifecycleError::UnknownAdmin(_)
            | LifecycleError::UnknownOrg => ApiError::new(StatusCode::NOT_FOUND, "not_found", msg),
            LifecycleError::InvalidEmail(_)
            | LifecycleError::RoleNotForKind
            | LifecycleError::WeakPassword(_)
            | LifecycleError::InvalidName(_) => bad(msg),
            LifecycleError::Store(s) => store_failure(s),
            LifecycleError::Password(_) | LifecycleError::Random(_) => {
                tracing::error!(error = %msg, "administrative act failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".into(),
                )
            }
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let msg = e.to_string();
        match e {
            AppError::Invalid(_) | AppError::UnknownEvent(_) => bad(msg),
            AppError::UnknownApp(_) | AppError::UnknownWebhook(_) | AppError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", msg)
            }
            AppError::DuplicateName(_) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            AppError::AlreadyRevoked(_) => ApiError::new(StatusCode::CONFLICT, "refused", msg),
            AppError::Store(s) => store_failure(s),
            AppError::Random(_) => {
                tracing::error!(error = %msg, "application act failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".into(),
                )
            }
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::BadCredentials | SessionError::NoSession => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string())
            }
            SessionError::LockedOut(_) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "locked", e.to_string())
            }
            SessionError::Busy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
            }
            SessionError::PasswordTooLong => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
            }
            SessionError::Store(s) => store_failure(s),
            SessionError::Random(m) => {
                tracing::error!(error = %m, "no randomness for a session");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".into(),
                )
            }
        }
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
