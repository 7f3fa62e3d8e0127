//! The storage conformance suite on SQLite: a fresh database file per test.

use directory::Store;
use std::sync::Arc;

async fn open() -> Arc<dyn Store> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("store-tests-sqlite");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}.db", uuid::Uuid::new_v4()));
    Arc::new(store_sqlite::SqliteStore::open(&path).expect("open SQLite"))
}

store_tests::conformance!(open);
store_tests::conformance_strict!(open);
store_tests::directory_conformance!(open);
