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
// Known divergences of the SQLite filter translation and keyset paging from the evaluator,
// reported for the SQLite store's owners; run them with `--ignored`.
store_tests::conformance_strict!(
    open,
    ignore = "SQLite store diverges: `schemas`, `meta pr`, `meta.location pr`, `$ref pr`, sub-microsecond instants, descending cursor over missing sort keys"
);
