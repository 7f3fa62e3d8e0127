//! Test harness for the black-box suites: runs the real `scimd` binary on a free port with its
//! own SQLite database in a temporary directory, and talks to it over HTTP like an identity
//! provider would.
//!
//! Every test starts its own [`Server`]; ports never clash because the server binds port 0 and
//! reports the port it got. Dropping the [`Server`] stops the process (SIGTERM, then a kill if it
//! does not stop) and removes the directory. When a test panics, the tail of the server's log is
//! printed to help diagnose it.

#![allow(dead_code)]

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SEARCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const SCIM_JSON: &str = "application/scim+json";

const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const LOG_TAIL: usize = 200;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process-unique, unpredictable hex string of `len` characters.
pub fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(len);
    out
}

/// A random GUID such as Entra uses for its Test Connection probe.
pub fn guid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Percent-encodes a query-string value (everything but RFC 3986 unreserved characters).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `filter=<encoded filter>` for a query string.
pub fn filter(expr: &str) -> String {
    format!("filter={}", enc(expr))
}

/// `filter=attr eq "value"`, encoded.
pub fn filter_eq(attr: &str, value: &str) -> String {
    filter(&format!("{attr} eq \"{value}\""))
}

/// A temporary directory removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "{prefix}-{}-{nanos}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            random_hex(8)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create the temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs `scimd` with `args` to completion and returns its stdout, trimmed; panics on failure.
pub fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(args)
        .env_remove("SCIMD_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run scimd");
    assert!(
        out.status.success(),
        "scimd {args:?} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("stdout is UTF-8")
        .trim()
        .to_owned()
}

/// Runs `scimd` with `args` and returns whether it exited 0, with its stdout and stderr.
pub fn cli_status(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(args)
        .env_remove("SCIMD_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run scimd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An organisation and a bearer token for it.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: String,
    pub token: String,
}

/// A running `scimd serve` on its own database.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    /// `http://127.0.0.1:PORT/scim/v2`
    pub base: String,
    pub port: u16,
    /// `sqlite:///tmp/.../scimd.db`
    pub database: String,
    /// The first organisation, created before the server started.
    pub org: Org,
    pub client: Client,
    log: Arc<Mutex<VecDeque<String>>>,
    _db: Arc<TestDatabase>,
}

/// The database a test server runs on: a SQLite file in a temp dir (default), or, when
/// `SCIMD_TEST_BACKEND=postgres`, a fresh PostgreSQL database on the server named by
/// `SCIMD_TEST_POSTGRES_URL`, dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: TempDir,
}

impl TestDatabase {
    pub fn new() -> Arc<TestDatabase> {
        if std::env::var("SCIMD_TEST_BACKEND").as_deref() == Ok("postgres") {
            return TestDatabase::postgres();
        }
        TestDatabase::sqlite()
    }

    /// A SQLite file in a temp dir, whatever the backend chosen for the run.
    pub fn sqlite() -> Arc<TestDatabase> {
        let dir = TempDir::new("scimd-bb");
        let url = format!("sqlite://{}", dir.path().join("scimd.db").display());
        Arc::new(TestDatabase {
            url,
            postgres: None,
            _dir: dir,
        })
    }

    /// An existing SQLite database at `url` (its file belongs to the caller).
    pub fn sqlite_at(url: &str) -> Arc<TestDatabase> {
        Arc::new(TestDatabase {
            url: url.to_owned(),
            postgres: None,
            _dir: TempDir::new("scimd-bb"),
        })
    }

    /// A fresh PostgreSQL database, whatever the backend chosen for the run.
    pub fn postgres() -> Arc<TestDatabase> {
        let dir = TempDir::new("scimd-bb");
        let admin = std::env::var("SCIMD_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/scimd_test".into());
        let name = format!("scimd_bb_{}", random_hex(12));
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let (prefix, _) = admin.rsplit_once('/').expect("database URL with a path");
        let url = format!("{prefix}/{name}");
        Arc::new(TestDatabase {
            url,
            postgres: Some((admin, name)),
            _dir: dir,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            psql(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-qtAc", sql])
        .output()
        .expect("run psql (PostgreSQL client)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Server {
    /// Creates an organisation and a token with the CLI, then starts `scimd serve` on port 0
    /// and waits (at most 20 s) for the line that names the port.
    pub fn start() -> Server {
        Server::start_on(TestDatabase::new())
    }

    /// Like [`Server::start`], on the given database.
    pub fn start_on(db: Arc<TestDatabase>) -> Server {
        let org = new_org(&db.url, "Org A", "business");
        Server::serve(db, org)
    }

    /// `scimd serve` on another database, with this server's first organisation (whose data
    /// the caller put there, e.g. by `scimd copy`).
    pub fn serve_copy(db: Arc<TestDatabase>, org: Org) -> Server {
        Server::serve(db, org)
    }

    /// The database this server runs on.
    pub fn db(&self) -> Arc<TestDatabase> {
        self._db.clone()
    }

    /// [`Server::start`] with more `scimd serve` arguments (`--smtp-url`, ...).
    pub fn start_with(extra: &[&str]) -> Server {
        let db = TestDatabase::new();
        let org = new_org(&db.url, "Org A", "business");
        Server::serve_with(db, org, extra)
    }

    /// Another `scimd serve` process on this server's database (for several instances).
    pub fn another_instance(&self) -> Server {
        Server::serve(self._db.clone(), self.org.clone())
    }

    /// Another instance on this server's database, with extra `serve` arguments.
    pub fn another_instance_with(&self, extra: &[&str]) -> Server {
        Server::serve_with(self._db.clone(), self.org.clone(), extra)
    }

    fn serve(db: Arc<TestDatabase>, org: Org) -> Server {
        Server::serve_with(db, org, &[])
    }

    fn serve_with(db: Arc<TestDatabase>, org: Org, extra: &[&str]) -> Server {
        let database = db.url.clone();
        let mut child = Command::new(env!("CARGO_BIN_EXE_scimd"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
            .args(extra)
            .env_remove("SCIMD_SMTP_URL")
            .env_remove("SCIMD_MAIL_FROM")
            .env_remove("SCIMD_PUBLIC_URL")
            .env_remove("SCIMD_DATABASE_URL")
            .env_remove("SCIMD_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn scimd serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel::<String>();
        {
            // Keeps draining stderr for the server's whole life: a full pipe would block it.
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = line.strip_prefix("scimd listening on ") {
                        let _ = tx.send(addr.trim().to_owned());
                    }
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    if log.len() == LOG_TAIL {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = log.lock().unwrap_or_else(|e| e.into_inner());
                panic!(
                    "scimd serve did not report its address within {START_TIMEOUT:?}; stderr:\n{}",
                    log.iter().cloned().collect::<Vec<_>>().join("\n")
                );
            }
        };
        let port: u16 = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("cannot read a port from '{addr}'"));
        let origin = format!("http://127.0.0.1:{port}");
        let base = format!("{origin}/scim/v2");
        let client = Client::new(&origin, &base);
        Server {
            child,
            origin,
            base,
            port,
            database,
            org,
            client,
            log,
            _db: db,
        }
    }

    /// Another organisation with its own token, on the same database (the server reads tokens
    /// from the database on each request, so it can be created while serving).
    pub fn second_org(&self) -> Org {
        new_org(&self.database, "Org B", "business")
    }

    /// Another organisation of kind `business` or `school`, with its own token.
    pub fn org_of_kind(&self, kind: &str) -> Org {
        new_org(&self.database, &format!("A {kind}"), kind)
    }

    /// A client acting with the first organisation's token.
    pub fn api(&self) -> Api {
        self.api_as(&self.org)
    }

    /// A client acting with `org`'s token.
    pub fn api_as(&self, org: &Org) -> Api {
        Api {
            client: self.client.clone(),
            token: org.token.clone(),
        }
    }

    /// A client sending `token` verbatim as the bearer secret.
    pub fn api_with_token(&self, token: &str) -> Api {
        Api {
            client: self.client.clone(),
            token: token.to_owned(),
        }
    }

    /// The last lines the server wrote on stderr.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL, as a crash would, and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "---- scimd stderr (last {LOG_TAIL} lines) ----\n{}",
                self.log_tail()
            );
        }
    }
}

fn new_org(database: &str, name: &str, kind: &str) -> Org {
    let id = cli(&[
        "org",
        "create",
        name,
        "--kind",
        kind,
        "--database",
        database,
    ]);
    assert!(
        !id.is_empty() && !id.contains('\n'),
        "org create printed {id:?}"
    );
    let token = cli(&["token", "generate", "--org", &id, "--database", database]);
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "token generate printed {token:?}"
    );
    Org { id, token }
}

/// One HTTP response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub method: Method,
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    /// The body parsed as JSON, when there is a body and it is JSON.
    pub body: Option<Value>,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    fn describe(&self) -> String {
        format!(
            "{} {} -> {} {}",
            self.method, self.url, self.status, self.text
        )
    }

    /// The JSON body; panics when there is none.
    #[track_caller]
    pub fn json(&self) -> &Value {
        self.body
            .as_ref()
            .unwrap_or_else(|| panic!("no JSON body: {}", self.describe()))
    }

    /// Asserts the status, and `application/scim+json` whenever there is a body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Reply {
        assert_eq!(
            self.status,
            status,
            "unexpected status: {}",
            self.describe()
        );
        if !self.text.is_empty() {
            assert!(
                self.content_type().starts_with(SCIM_JSON),
                "Content-Type '{}' is not {SCIM_JSON}: {}",
                self.content_type(),
                self.describe()
            );
        }
        self
    }

    /// Asserts a SCIM error response: the status, the media type, the Error schema, `status`
    /// as a string, and the `scimType` (`None`: no particular one is asserted).
    #[track_caller]
    pub fn expect_error(&self, status: u16, scim_type: Option<&str>) -> &Value {
        self.expect(status);
        let body = self.json();
        assert_eq!(
            body["schemas"],
            json!([ERROR_URN]),
            "not a SCIM error: {}",
            self.describe()
        );
        assert_eq!(
            body["status"],
            json!(status.to_string()),
            "status must be a string: {}",
            self.describe()
        );
        if let Some(t) = scim_type {
            assert_eq!(
                body["scimType"],
                json!(t),
                "wrong scimType: {}",
                self.describe()
            );
        }
        body
    }

    /// Asserts a 200 ListResponse and returns its body.
    #[track_caller]
    pub fn expect_list(&self) -> &Value {
        self.expect(200);
        let body = self.json();
        assert_eq!(
            body["schemas"],
            json!([LIST_URN]),
            "not a ListResponse: {}",
            self.describe()
        );
        assert!(
            body["Resources"].is_array(),
            "Resources is not an array: {}",
            self.describe()
        );
        body
    }

    /// The `Resources` of a ListResponse.
    #[track_caller]
    pub fn resources(&self) -> &Vec<Value> {
        self.json()["Resources"]
            .as_array()
            .unwrap_or_else(|| panic!("no Resources: {}", self.describe()))
    }

    /// `totalResults` of a ListResponse, which must be an integer.
    #[track_caller]
    pub fn total(&self) -> u64 {
        self.json()["totalResults"]
            .as_u64()
            .unwrap_or_else(|| panic!("totalResults is not an integer: {}", self.describe()))
    }

    /// The `id` of the resource in the body.
    #[track_caller]
    pub fn id(&self) -> String {
        self.json()["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id: {}", self.describe()))
            .to_owned()
    }

    /// The ids of the `Resources` of a ListResponse, in order.
    #[track_caller]
    pub fn resource_ids(&self) -> Vec<String> {
        self.resources()
            .iter()
            .map(|r| {
                r["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("resource without id: {r}"))
                    .to_owned()
            })
            .collect()
    }
}

/// An HTTP client bound to one server; every request carries `Authorization: Bearer` and
/// `Content-Type: application/scim+json`.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    pub origin: String,
    pub base: String,
}

impl Client {
    pub fn new(origin: &str, base: &str) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()
            .expect("build an HTTP client");
        Client {
            http,
            origin: origin.to_owned(),
            base: base.to_owned(),
        }
    }

    /// `path` is relative to the SCIM base (`/Users?...`), or an absolute URL.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, None, token, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: &str) -> Reply {
        self.send(Method::POST, path, Some(body), token, &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value, token: &str) -> Reply {
        self.send(Method::PUT, path, Some(body), token, &[]).await
    }

    pub async fn patch(&self, path: &str, body: &Value, token: &str) -> Reply {
        self.send(Method::PATCH, path, Some(body), token, &[]).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(Method::DELETE, path, None, token, &[]).await
    }

    /// A request with a JSON body (or none) and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("serialise the body"));
        self.send_bytes(
            method,
            &self.url(path),
            bytes,
            Some(token),
            SCIM_JSON,
            headers,
        )
        .await
    }

    /// The lowest level: a full URL, raw body bytes, an optional bearer token and any
    /// content type and headers.
    pub async fn send_bytes(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method.clone(), url)
            .header("Accept", SCIM_JSON)
            .header("Content-Type", content_type);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: reading the body failed: {e}"));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if bytes.is_empty() {
            None
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        Reply {
            method,
            url: url.to_owned(),
            status,
            headers,
            body,
            text,
        }
    }
}

/// A [`Client`] together with one organisation's token.
#[derive(Debug, Clone)]
pub struct Api {
    pub client: Client,
    pub token: String,
}

impl Api {
    pub async fn get(&self, path: &str) -> Reply {
        self.client.get(path, &self.token).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.client.post(path, body, &self.token).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.client.put(path, body, &self.token).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.client.patch(path, body, &self.token).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.client.delete(path, &self.token).await
    }

    /// A request with extra headers (`If-Match`, ...).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.client
            .send(method, path, body, &self.token, headers)
            .await
    }

    /// A request with a raw body and content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Reply {
        let url = self.client.url(path);
        self.client
            .send_bytes(
                method,
                &url,
                Some(body),
                Some(&self.token),
                content_type,
                &[],
            )
            .await
    }

    /// Creates a user from `body`, asserting 201, and returns the response.
    pub async fn create_user_from(&self, body: &Value) -> Reply {
        let r = self.post("/Users", body).await;
        r.expect(201);
        r
    }

    /// Creates a plain user and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self.post("/Users", &user_body(user_name)).await;
        r.expect(201);
        r.id()
    }

    /// Creates a group with these member ids and returns its id.
    pub async fn create_group(&self, display_name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
        let r = self
            .post(
                "/Groups",
                &json!({ "schemas": [GROUP_URN], "displayName": display_name, "members": members }),
            )
            .await;
        r.expect(201);
        r.id()
    }

    /// The member ids of a group (read with `attributes=members`).
    pub async fn member_ids(&self, group_id: &str) -> BTreeSet<String> {
        let r = self
            .get(&format!("/Groups/{group_id}?attributes=members"))
            .await;
        r.expect(200);
        member_values(r.json())
    }

    /// `totalResults` of an unfiltered user list.
    pub async fn user_count(&self) -> u64 {
        let r = self.get("/Users?count=0").await;
        r.expect_list();
        r.total()
    }
}

/// The `value`s of a resource's `members`.
pub fn member_values(resource: &Value) -> BTreeSet<String> {
    resource["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A typical user body.
pub fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": [USER_URN],
        "userName": user_name,
        "name": { "givenName": "Given", "familyName": "Family", "formatted": "Given Family" },
        "displayName": "Given Family",
        "emails": [{ "value": user_name, "type": "work", "primary": true }],
        "active": true
    })
}

/// A PatchOp message with these operations.
pub fn patch_op(operations: Value) -> Value {
    json!({ "schemas": [PATCH_URN], "Operations": operations })
}

/// The number in a `W/"n"` ETag / `meta.version`.
#[track_caller]
pub fn version_of(resource: &Value) -> String {
    resource["meta"]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no meta.version in {resource}"))
        .to_owned()
}

// ---- A real SMTP server for the mail tests (`mailin-embedded` on loopback).

/// One message the sink accepted: its recipients and its raw text.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
struct Sink {
    to: Vec<String>,
    data: Vec<u8>,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl mailin_embedded::Handler for Sink {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        self.inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Received {
                to: std::mem::take(&mut self.to),
                data: String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned(),
            });
        mailin_embedded::response::OK
    }
}

/// An SMTP server on a free loopback port, running for the rest of the test process.
pub struct SmtpSink {
    pub url: String,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the SMTP sink");
        let port = listener.local_addr().expect("address").port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let mut server = mailin_embedded::Server::new(Sink {
            to: Vec::new(),
            data: Vec::new(),
            inbox: inbox.clone(),
        });
        server.with_name("sink.test").with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpSink {
            url: format!("smtp://127.0.0.1:{port}"),
            inbox,
        }
    }

    /// Waits (at most 20 s) for a message whose text contains `needle`.
    pub fn wait_for(&self, needle: &str) -> Received {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self
                .inbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|m| m.data.contains(needle))
            {
                return m.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no message containing {needle:?} arrived"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn count(&self) -> usize {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Adds an administrator of `org` with a console password, through the CLI.
pub fn add_admin(server: &Server, org: &str, email: &str, password: &str) {
    let dir = TempDir::new("admin-password");
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{password}\n")).expect("write password");
    cli(&[
        "admin",
        "add",
        "--org",
        org,
        "--email",
        email,
        "--password-file",
        file.to_str().expect("path"),
        "--database",
        &server.database,
    ]);
}
