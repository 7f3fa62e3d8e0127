//! The storage conformance suite on SQLite: a fresh database file per test.

use directory::Store;
use std::sync::Arc;

fn new_path() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("store-tests-sqlite");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}.db", uuid::Uuid::new_v4()))
}

async fn open() -> Arc<dyn Store> {
    Arc::new(store_sqlite::SqliteStore::open(&new_path()).expect("open SQLite"))
}

#[tokio::test]
async fn token_changes_through_another_handle_are_seen_at_once() {
    let path = new_path();
    let a = store_sqlite::SqliteStore::open(&path).expect("open SQLite");
    let b = store_sqlite::SqliteStore::open(&path).expect("open SQLite");
    store_tests::cases::token_changes_through_another_handle_are_seen_at_once(
        Arc::new(a),
        Arc::new(b),
    )
    .await;
}

#[tokio::test]
async fn cursors_are_sealed_for_their_organisation_and_deployment() {
    let path = new_path();
    let a = store_sqlite::SqliteStore::open(&path).expect("open SQLite");
    let b = store_sqlite::SqliteStore::open(&path).expect("open SQLite");
    store_tests::cases::cursors_are_sealed_for_their_organisation_and_deployment(
        Arc::new(a),
        Arc::new(b),
    )
    .await;
}

#[tokio::test]
async fn activity_purge_keeps_the_newer_entries_of_a_batch() {
    store_tests::cases::activity_purge_keeps_the_newer_entries_of_a_batch(open().await).await;
}

store_tests::conformance!(open);
store_tests::conformance_strict!(open);
store_tests::directory_conformance!(open);

#[tokio::test]
async fn account_search_past_the_count_cap_pages_every_match_once() {
    store_tests::directory_cases::account_search_past_the_count_cap_pages_every_match_once(
        open().await,
        true,
    )
    .await;
}
