//! Nothing acknowledged is lost (docs/contract.md, "Reliability and security promises"): the real binary under 16 parallel writers is
//! killed with SIGKILL at random moments, several times; after each restart every write that got
//! a 2xx is present and the SQLite database passes `PRAGMA integrity_check`.

use crate::common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;

const WRITERS: usize = 16;
const ROUNDS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sigkill_under_write_load_loses_no_acknowledged_write() {
    let mut server = Server::start();
    // id -> the title the last acknowledged write gave it.
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let run = random_hex(6);
    for round in 0..ROUNDS {
        let api = server.api();
        let mut tasks = JoinSet::new();
        for w in 0..WRITERS {
            let api = api.clone();
            let acked = acked.clone();
            let run = run.clone();
            tasks.spawn(async move {
                // Writes until the server dies under it (bounded in count).
                for i in 0..10_000 {
                    let name = format!("r{round}w{w}i{i}-{run}@crash.example");
                    let r = api.post("/Users", &user_body(&name)).await;
                    if r.status != 201 {
                        return;
                    }
                    let id = r.id();
                    let lock = |a: &Mutex<BTreeMap<String, String>>, t: String| {
                        a.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(id.clone(), t);
                    };
                    lock(&acked, String::new());
                    let title = format!("t{i}");
                    let r = api
                        .patch(
                            &format!("/Users/{id}"),
                            &patch_op(
                                json!([{ "op": "replace", "path": "title", "value": title }]),
                            ),
                        )
                        .await;
                    if r.status != 200 {
                        return;
                    }
                    lock(&acked, title);
                }
            });
        }
        // A pseudo-random moment between 150 and 650 ms into the load.
        let wait = 150 + (u64::from_str_radix(&random_hex(4), 16).unwrap_or(0) % 500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill9();
        while tasks.join_next().await.is_some() {}
        let restarted = server.another_instance();
        server = restarted;
        let api = server.api();
        let expected = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(
            !expected.is_empty(),
            "round {round}: no write was acknowledged"
        );
        for (id, title) in &expected {
            let r = api.get(&format!("/Users/{id}")).await;
            assert_eq!(r.status, 200, "round {round}: acknowledged user {id} lost");
            if !title.is_empty() {
                assert_eq!(
                    r.json()["title"],
                    json!(title),
                    "round {round}: acknowledged PATCH of {id} lost"
                );
            }
        }
        if let Some(path) = server.database.strip_prefix("sqlite://") {
            let conn = rusqlite::Connection::open(path).expect("open the database");
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |row| row.get(0))
                .expect("integrity_check");
            assert_eq!(check, "ok", "round {round}");
        }
    }
}
