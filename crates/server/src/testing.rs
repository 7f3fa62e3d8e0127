//! What the in-process tests share: the real router over a throwaway SQLite store, with one
//! organisation, and ways to give it a SCIM token or an administrator's session.

use crate::state::AppState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use directory::ids::SessionId;
use directory::store::{AdminRole, SessionRecord};
use directory::{OrgId, OrgKind, Organisation};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

/// The router and its state over a store of its own, removed on drop.
pub(crate) struct TestApp {
    pub state: Arc<AppState>,
    pub app: Router,
    pub org: Organisation,
    dir: PathBuf,
}

/// One answer, read whole.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value ("" when absent).
    pub fn header(&self, name: impl header::AsHeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl TestApp {
    /// The default state.
    pub async fn new() -> TestApp {
        TestApp::with(|s| s).await
    }

    /// The state as `configure` makes it from the default one.
    pub async fn with(configure: impl FnOnce(AppState) -> AppState) -> TestApp {
        let dir = std::env::temp_dir().join(format!("scimd-server-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let store: Arc<dyn directory::Store> =
            Arc::new(store_sqlite::SqliteStore::open(&dir.join("t.db")).expect("store"));
        let clock: Arc<dyn directory::Clock> = Arc::new(directory::SystemClock);
        let org = Organisation {
            id: OrgId::new(),
            name: "Org A".into(),
            kind: OrgKind::Business,
            created: clock.now(),
        };
        store.create_org(&org).await.expect("org");
        let scim = directory::scim::ScimService::new(store, clock, Default::default());
        let state = Arc::new(configure(AppState::new(scim, None)));
        let app = crate::router(state.clone());
        TestApp {
            state,
            app,
            org,
            dir,
        }
    }

    /// A new SCIM token of the organisation.
    pub async fn token(&self) -> String {
        self.state
            .lifecycle
            .generate_token(&self.org, "test")
            .await
            .expect("token")
            .secret
    }

    /// The key of a new application of the organisation.
    pub async fn app_key(&self) -> String {
        self.app_key_of(self.org.id).await
    }

    /// The key of a new application of `org`.
    pub async fn app_key_of(&self, org: OrgId) -> String {
        let name = format!("app {}", uuid::Uuid::now_v7().simple());
        self.state
            .applications
            .create_app(org, &name, "test")
            .await
            .expect("application")
            .key
    }

    /// Another organisation on the same store, and a SCIM token of it.
    pub async fn other_org(&self) -> (Organisation, String) {
        let org = Organisation {
            id: OrgId::new(),
            name: "Org B".into(),
            kind: OrgKind::Business,
            created: self.state.clock.now(),
        };
        self.state.store.create_org(&org).await.expect("org");
        let token = self
            .state
            .lifecycle
            .generate_token(&org, "test")
            .await
            .expect("token")
            .secret;
        (org, token)
    }

    /// A GET of `path` with `bearer` as its bearer credential (none when empty).
    pub async fn get_bearer(&self, path: &str, bearer: &str) -> Answer {
        let mut b = Request::builder().method(Method::GET).uri(path);
        if !bearer.is_empty() {
            b = b.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
        self.send(b.body(Body::empty()).expect("request")).await
    }

    /// A session secret of a new administrator with `role` (no password: no Argon2 here).
    pub async fn session(&self, role: AdminRole) -> String {
        self.session_in(&self.org, role).await
    }

    /// A session secret of a new administrator of `org` with `role`.
    pub async fn session_in(&self, org: &Organisation, role: AdminRole) -> String {
        let email = format!("{}@example.com", uuid::Uuid::now_v7().simple());
        let admin = self
            .state
            .lifecycle
            .add_admin(org, &email, role, None, "test")
            .await
            .expect("admin");
        let secret = format!(
            "{}{}",
            directory::session::SESSION_PREFIX,
            uuid::Uuid::now_v7().simple()
        );
        let now = self.state.clock.now();
        let record = SessionRecord {
            org_id: org.id,
            id: SessionId::new(),
            hash: directory::token::hash_secret(&secret),
            admin_id: admin.id,
            created: now,
            expires: now + time::Duration::hours(1),
        };
        self.state
            .store
            .insert_session(&record)
            .await
            .expect("session");
        secret
    }

    /// Sends `req` through the router.
    pub async fn send(&self, req: Request<Body>) -> Answer {
        let r = self.app.clone().oneshot(req).await.expect("answer");
        let (parts, body) = r.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `method path` with `token` as its bearer token (none when empty) and `body` as SCIM
    /// JSON (none when `Null`).
    pub async fn scim(&self, method: Method, path: &str, token: &str, body: Value) -> Answer {
        self.send(scim_request(method, path, token, body)).await
    }
}

/// A SCIM request: `token` as its bearer token (none when empty), `body` as SCIM JSON (none
/// when `Null`).
pub(crate) fn scim_request(method: Method, path: &str, token: &str, body: Value) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if !token.is_empty() {
        b = b.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        b = b.header(header::CONTENT_TYPE, crate::scim::response::SCIM_JSON);
        Body::from(body.to_string())
    };
    b.body(body).expect("request")
}

/// A new user's SCIM body.
pub(crate) fn user(name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
    })
}

/// A new group's SCIM body.
pub(crate) fn group(name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
