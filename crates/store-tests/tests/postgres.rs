//! The storage conformance suite on PostgreSQL, at `SCIMD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/scimd_test`). Tests share the database: each creates its
//! own organisations. An unreachable database fails every test; CI starts PostgreSQL.

use directory::Store;
use std::sync::Arc;

async fn open() -> Arc<dyn Store> {
    let url = std::env::var("SCIMD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/scimd_test".to_owned());
    match store_postgres::PgStore::connect(&url).await {
        Ok(store) => Arc::new(store),
        Err(e) => panic!(
            "PostgreSQL at {url} is unreachable ({e}); start it (see .ci/run) or set SCIMD_TEST_POSTGRES_URL"
        ),
    }
}

store_tests::conformance!(open);
store_tests::conformance_strict!(open);
store_tests::directory_conformance!(open);

fn test_url() -> String {
    std::env::var("SCIMD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/scimd_test".to_owned())
}

/// Several instances starting at once on an empty database: the advisory lock lets one apply
/// the migrations while the others wait, and every one of them comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let url = test_url();
    let config: tokio_postgres::Config = url.parse().expect("URL");
    let mut admin_config = config.clone();
    admin_config.dbname("postgres");
    let (admin, conn) = admin_config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL reachable");
    tokio::spawn(conn);
    let db = format!("scimd_migrate_{}", uuid::Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .expect("create database");
    let (base, _) = url
        .split('?')
        .next()
        .unwrap_or(&url)
        .rsplit_once('/')
        .expect("URL with a database");
    let fresh = format!("{base}/{db}");

    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let fresh = fresh.clone();
        starts.spawn(async move { store_postgres::PgStore::connect(&fresh).await.map(|_| ()) });
    }
    while let Some(r) = starts.join_next().await {
        r.expect("task").expect("instance starts");
    }
    let mut check_config = config.clone();
    check_config.dbname(&db);
    let (client, conn) = check_config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    let handle = tokio::spawn(conn);
    let applied: i64 = client
        .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
        .await
        .expect("query")
        .get(0);
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../store-postgres/migrations"
    ))
    .expect("migrations folder")
    .count() as i64;
    assert_eq!(applied, files, "each migration applied exactly once");
    drop(client);
    let _ = handle.await;
    admin
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await
        .expect("drop database");
}
