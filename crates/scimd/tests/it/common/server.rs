//! A `scimd serve` process on its own database (SQLite, or PostgreSQL with
//! `SCIMD_TEST_BACKEND=postgres`), started on a free port and stopped on drop.

#![allow(dead_code)]

use super::*;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// `http://127.0.0.1:PORT` of the console's own listener (`--console-listen`), if any.
    pub console: Option<String>,
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

    /// A database at `url` that exists already and belongs to the caller (a private
    /// PostgreSQL cluster, a file on a mount of its own).
    pub fn existing(url: &str) -> Arc<TestDatabase> {
        TestDatabase::sqlite_at(url)
    }

    /// A fresh PostgreSQL database reached through a URL of `url_for(prefix, name)` (for
    /// TLS settings and other hosts): `prefix` is the admin URL without its database path.
    pub fn postgres_at(url_for: impl FnOnce(&str, &str) -> String) -> Arc<TestDatabase> {
        let plain = TestDatabase::postgres();
        let (admin, name) = plain.postgres.clone().expect("a PostgreSQL database");
        let (prefix, _) = admin.rsplit_once('/').expect("database URL with a path");
        let url = url_for(prefix, &name);
        let mut db = Arc::into_inner(plain).expect("the only handle");
        db.url = url;
        Arc::new(db)
    }

    /// The name of the PostgreSQL database, if it is one.
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres.as_ref().map(|(_, n)| n.as_str())
    }

    /// A fresh PostgreSQL database, whatever the backend chosen for the run.
    pub fn postgres() -> Arc<TestDatabase> {
        let dir = TempDir::new("scimd-bb");
        let admin = postgres_admin_url();
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

/// The URL of the test PostgreSQL server's admin database (`SCIMD_TEST_POSTGRES_URL`).
pub fn postgres_admin_url() -> String {
    std::env::var("SCIMD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/scimd_test".into())
}

/// Runs `sql` on the test PostgreSQL server's admin database; returns its unaligned output.
pub fn psql_admin(sql: &str) -> String {
    let admin = postgres_admin_url();
    let out = Command::new("psql")
        .args([admin.as_str(), "-qtAc", sql])
        .output()
        .expect("run psql (PostgreSQL client)");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
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

    /// Like [`Server::start_on`], with more `scimd serve` arguments.
    pub fn start_on_with(db: Arc<TestDatabase>, extra: &[&str]) -> Server {
        let org = new_org(&db.url, "Org A", "business");
        Server::serve_with(db, org, extra)
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
        // A test that needs a given port (an ACME authority validating on it) names it.
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_scimd"))
            .arg("serve")
            .args(listen)
            .args(["--database", &database])
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
                    if let Some(addr) = line.strip_prefix("scimd console listening on ") {
                        let addr = addr.split_whitespace().next().unwrap_or_default();
                        let _ = tx.send(addr.to_owned());
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
        // The console's listener is reported on the line after the public one.
        let console = extra.contains(&"--console-listen").then(|| {
            let addr = rx
                .recv_timeout(START_TIMEOUT)
                .expect("scimd serve reports its console listener");
            format!("http://{addr}")
        });
        let origin = format!("http://127.0.0.1:{port}");
        let base = format!("{origin}/scim/v2");
        let client = Client::new(&origin, &base);
        Server {
            child,
            origin,
            base,
            console,
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
