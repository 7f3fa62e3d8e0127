//! SCIM responses: `application/scim+json`, errors as SCIM error bodies, ETag and Location.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_core::ScimError;
use serde_json::Value;

/// The SCIM media type (RFC 7644 section 3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// A SCIM JSON response.
pub struct Scim {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub headers: HeaderMap,
    /// What the activity log says the request did, beyond its method and status.
    pub(crate) note: Option<crate::activity::ActivityNote>,
}

impl Scim {
    pub fn ok(body: Value) -> Self {
        Scim {
            status: StatusCode::OK,
            body: Some(body),
            headers: HeaderMap::new(),
            note: None,
        }
    }
    pub fn status(status: StatusCode, body: Option<Value>) -> Self {
        Scim {
            status,
            body,
            headers: HeaderMap::new(),
            note: None,
        }
    }
    /// The answer with `note` for its activity entry.
    pub(crate) fn note(mut self, note: crate::activity::ActivityNote) -> Self {
        self.note = Some(note);
        self
    }
    pub fn header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

impl Scim {
    /// The answer as its status, serialised body and headers.
    pub fn into_parts(self) -> (StatusCode, Option<Bytes>, HeaderMap) {
        let body = self
            .body
            .map(|b| Bytes::from(serde_json::to_vec(&b).unwrap_or_default()));
        (self.status, body, self.headers)
    }
}

/// A response with a serialised SCIM JSON body.
pub fn with_body(status: StatusCode, bytes: Bytes) -> Response {
    let mut r = (status, bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    r
}

/// The response for [`Scim::into_parts`].
pub fn from_parts(status: StatusCode, body: Option<Bytes>, headers: HeaderMap) -> Response {
    let mut resp = match body {
        Some(bytes) => with_body(status, bytes),
        None => status.into_response(),
    };
    resp.headers_mut().extend(headers);
    resp
}

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        let note = self.note.clone();
        let (status, body, headers) = self.into_parts();
        let mut resp = from_parts(status, body, headers);
        if let Some(note) = note {
            resp.extensions_mut().insert(note);
        }
        resp
    }
}

/// A SCIM error as an HTTP response: the error body of RFC 7644 section 3.12, with
/// `WWW-Authenticate` on a 401, `Connection: close` on a 413 and `Retry-After` on a 503 (RFC
/// 9110 section 10.2.3: every 503 is a passing condition here). The administrative API's
/// errors are [`crate::api::ApiError`].
pub struct ScimFailure(pub ScimError);

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        ScimFailure(e)
    }
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = Scim::status(status, Some(self.0.to_json())).into_response();
        resp.extensions_mut().insert(crate::activity::FailureNote {
            scim_type: self.0.scim_type.map(|t| t.as_str()),
            detail: self.0.detail.clone(),
        });
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was not read: the connection cannot carry another request.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scimd\""),
            );
        }
        resp
    }
}

/// The `Retry-After` of a 503 that names no delay of its own: long enough for a lost database
/// connection to be made again, short enough that an identity provider's next attempt is not
/// held back.
pub const RETRY_AFTER_SECS: &str = "1";

/// What a SCIM handler answers.
pub type ScimResult = Result<Scim, ScimFailure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_503_says_when_to_retry_and_a_507_names_storage() {
        let r =
            ScimFailure(ScimError::new(503, None, "the database is unavailable")).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
        assert_eq!(r.headers()[header::CONTENT_TYPE], SCIM_JSON);
        let r = ScimFailure(directory::scim::store_error(
            directory::StoreError::StorageFull("disk full".into()),
        ))
        .into_response();
        assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(!r.headers().contains_key(header::RETRY_AFTER));
    }
}
