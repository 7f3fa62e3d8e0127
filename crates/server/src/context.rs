//! One request's context: made once by [`guard`](crate::middleware::guard), the outermost
//! middleware, and carried in the request's extensions to every layer and handler behind it.
//!
//! It holds what is known when the request arrives (its id, the client address) and slots
//! that are filled once, later, by whoever learns the value (the organisation an extractor
//! authenticated, the route the router matched, what SCIM authentication found, the change
//! mark a read may be answered from the read cache with). The layers that run after the
//! handler read the slots: `guard` for the metrics labels, `activity::record` for the
//! activity entry. One type instead of one extension per value, so that a layer cannot look
//! for a value nobody inserted under that type.

use crate::activity::AuthNote;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::StatusCode;
use axum::http::request::Parts;
use directory::OrgId;
use directory::store::ChangeMark;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// The context of one request; cheap to clone (all clones share the slots).
#[derive(Debug, Clone)]
pub(crate) struct RequestContext(Arc<Context>);

/// What [`RequestContext`] holds.
#[derive(Debug)]
pub(crate) struct Context {
    /// The request id (answered in `x-request-id`, logged with the request).
    pub id: String,
    /// The client address (see [`client_ip`](crate::middleware::client_ip)), when known.
    pub ip: Option<IpAddr>,
    /// The organisation the request acts for, once a credential named one.
    pub org: Slot<OrgId>,
    /// The route template the router matched.
    pub route: Slot<MatchedPath>,
    /// What SCIM authentication found.
    pub auth: Slot<AuthNote>,
    /// The change mark read before the request's token was checked, for the read cache.
    pub mark: Slot<ChangeMark>,
}

/// A value learnt once, partway through the request; the first one given stands.
#[derive(Debug)]
pub(crate) struct Slot<T>(OnceLock<T>);

impl<T: Clone> Slot<T> {
    pub(crate) fn fill(&self, value: T) {
        let _ = self.0.set(value);
    }

    pub(crate) fn get(&self) -> Option<T> {
        self.0.get().cloned()
    }
}

impl RequestContext {
    /// The context of a request that has just arrived from `ip`, known as `id`.
    pub(crate) fn new(id: String, ip: Option<IpAddr>) -> RequestContext {
        RequestContext(Arc::new(Context {
            id,
            ip,
            org: Slot(OnceLock::new()),
            route: Slot(OnceLock::new()),
            auth: Slot(OnceLock::new()),
            mark: Slot(OnceLock::new()),
        }))
    }

    /// The context `guard` put in a request's extensions, if it ran.
    pub(crate) fn of(extensions: &axum::http::Extensions) -> Option<&RequestContext> {
        extensions.get::<RequestContext>()
    }

    /// The route's metrics label: its template, or `other` when no route matched (the
    /// fallback), so that a client cannot create a series per path it makes up.
    pub(crate) fn route_label(&self) -> String {
        self.route
            .get()
            .map_or_else(|| "other".to_owned(), |m| m.as_str().to_owned())
    }
}

impl std::ops::Deref for RequestContext {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match RequestContext::of(&parts.extensions) {
            Some(ctx) => Ok(ctx.clone()),
            // Only a router built without `guard` gets here: a mistake in the code, not in the
            // request.
            None => {
                tracing::error!("a handler needs the request context, and no guard made one");
                Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
            }
        }
    }
}
