//! What PostgreSQL hears per SCIM request (docs/benchmarks.md, "PostgreSQL round trips"): the
//! server runs on a PostgreSQL database reached through a counting relay on 127.0.0.1, which
//! reads the client side of the wire protocol and counts every statement the server sends
//! (each extended-protocol `Sync` and each simple `Query`). Everything the server sends while
//! the requests run is counted, its background work and batched activity log included, so the
//! bounds below hold with some room for that and no more: a GET that cost two statements would
//! cross them. Runs on the local PostgreSQL whatever `SCIMD_TEST_BACKEND` says.

use crate::common::{Server, TestDatabase, patch_op};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Requests of each kind in a measured run.
const N: u64 = 200;

/// A relay to the local PostgreSQL that counts the statements sent through it.
struct Relay {
    port: u16,
    statements: Arc<AtomicU64>,
}

impl Relay {
    /// Runs on a thread of its own: the test's runtime blocks while the CLI runs.
    fn start(upstream: &'static str) -> Relay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("addr").port();
        let statements = Arc::new(AtomicU64::new(0));
        let count = statements.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    tokio::spawn(relay(client, server, count.clone()));
                }
            });
        });
        Relay { port, statements }
    }

    fn count(&self) -> u64 {
        self.statements.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, server: TcpStream, count: Arc<AtomicU64>) {
    let (mut from_client, mut to_server) = (client, server);
    let (mut cr, mut cw) = from_client.split();
    let (mut sr, mut sw) = to_server.split();
    let up = async {
        let mut wire = Wire::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            count.fetch_add(wire.feed(&buf[..n]), Ordering::SeqCst);
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

/// The frontend side of the wire protocol, read as it streams by: an untyped start-up message
/// (again after an `SSLRequest`), then messages of a type byte and a length.
#[derive(Default)]
struct Wire {
    pending: Vec<u8>,
    started: bool,
}

impl Wire {
    /// Takes the next bytes; returns how many statements completed in them.
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        self.pending.extend_from_slice(bytes);
        let mut statements = 0;
        loop {
            let head = usize::from(self.started);
            let Some(len) = self.pending.get(head..head + 4) else {
                break;
            };
            let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
            if self.pending.len() < head + len {
                break;
            }
            if self.started {
                statements += u64::from(matches!(self.pending[0], b'S' | b'Q'));
            } else {
                // 80877103 asks for TLS; the real start-up message follows.
                let code = &self.pending[4..8];
                self.started = code != 80877103u32.to_be_bytes();
            }
            self.pending.drain(..head + len);
        }
        statements
    }
}

/// Statements the server sent while `run` ran.
async fn statements_of(relay: &Relay, run: impl std::future::Future<Output = ()>) -> u64 {
    let before = relay.count();
    run.await;
    relay.count() - before
}

#[tokio::test]
async fn a_get_or_filter_is_one_statement_and_a_patch_two() {
    let relay = Relay::start("127.0.0.1:5432");
    let port = relay.port;
    let db = TestDatabase::postgres_at(|prefix, name| {
        let (scheme_user, _) = prefix.rsplit_once('@').expect("user@host");
        format!("{scheme_user}@127.0.0.1:{port}/{name}?sslmode=disable")
    });
    let server = Server::start_on(db);
    let api = server.api();
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(api.create_user(&format!("trip{i}@example.com")).await);
    }
    // Every pooled connection prepares its statements once: warm them all up first.
    for round in 0..3 {
        let mut set = tokio::task::JoinSet::new();
        for (i, id) in ids.iter().enumerate() {
            let api = api.clone();
            let id = id.clone();
            set.spawn(async move {
                api.get(&format!("/Users/{id}")).await.expect(200);
                api.get(&format!(
                    "/Users?filter=userName%20eq%20%22trip{i}@example.com%22"
                ))
                .await
                .expect(200);
                let title =
                    json!([{ "op": "replace", "path": "title", "value": format!("w{round}") }]);
                api.patch(&format!("/Users/{id}"), &patch_op(title))
                    .await
                    .expect(200);
            });
        }
        set.join_all().await;
    }
    let gets = statements_of(&relay, async {
        for i in 0..N as usize {
            api.get(&format!("/Users/{}", ids[i % ids.len()]))
                .await
                .expect(200);
        }
    })
    .await;
    let filters = statements_of(&relay, async {
        for i in 0..N as usize {
            let name = format!("trip{}@example.com", i % ids.len());
            let r = api
                .get(&format!("/Users?filter=userName%20eq%20%22{name}%22"))
                .await;
            assert_eq!(r.expect(200).total(), 1);
        }
    })
    .await;
    let patches = statements_of(&relay, async {
        for i in 0..N as usize {
            let title = json!([{ "op": "replace", "path": "title", "value": format!("t{i}") }]);
            let id = &ids[i % ids.len()];
            api.patch(&format!("/Users/{id}"), &patch_op(title))
                .await
                .expect(200);
        }
    })
    .await;
    let report =
        format!("{N} requests each: GET {gets}, filter {filters}, PATCH {patches} statements");
    eprintln!("{report}");
    // Room for the server's own work meanwhile: a tenth of a statement per request.
    let room = N / 10;
    assert!(gets <= N + room, "{report}");
    assert!(filters <= N + room, "{report}");
    assert!(patches <= 2 * N + room, "{report}");
}
