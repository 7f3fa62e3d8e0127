//! The storage conformance suite on PostgreSQL, at `SCIMD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/scimd_test`). Tests share the database: each creates its
//! own organisations. An unreachable database fails every test; CI starts PostgreSQL.

use directory::Store;
use directory::store::prelude::*;
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

#[tokio::test]
async fn token_changes_through_another_handle_are_seen_at_once() {
    store_tests::cases::token_changes_through_another_handle_are_seen_at_once(
        open().await,
        open().await,
    )
    .await;
}

#[tokio::test]
async fn cursors_are_sealed_for_their_organisation_and_deployment() {
    store_tests::cases::cursors_are_sealed_for_their_organisation_and_deployment(
        open().await,
        open().await,
    )
    .await;
}

#[tokio::test]
async fn account_search_past_the_count_cap_pages_every_match_once() {
    store_tests::directory_cases::account_search_past_the_count_cap_pages_every_match_once(
        open().await,
        false,
    )
    .await;
}

fn test_url() -> String {
    std::env::var("SCIMD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/scimd_test".to_owned())
}

/// A new, empty database beside the test database: the maintenance connection, its name and
/// its URL. Drop it with [`drop_database`].
async fn fresh_database(prefix: &str) -> (tokio_postgres::Client, String, String) {
    let url = test_url();
    let config: tokio_postgres::Config = url.parse().expect("URL");
    let mut admin_config = config.clone();
    admin_config.dbname("postgres");
    let (admin, conn) = admin_config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL reachable");
    tokio::spawn(conn);
    let db = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
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
    (admin, db, fresh)
}

async fn drop_database(admin: &tokio_postgres::Client, db: &str) {
    admin
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await
        .expect("drop database");
}

/// Several instances starting at once on an empty database: the advisory lock lets one apply
/// the migrations while the others wait, and every one of them comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let url = test_url();
    let config: tokio_postgres::Config = url.parse().expect("URL");
    let (admin, db, fresh) = fresh_database("scimd_migrate").await;

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
    drop_database(&admin, &db).await;
}

/// On a table PostgreSQL has no statistics for (a new database, or `autovacuum = off`), every
/// `org_id =` and `kind =` looks rare (0.5 % of the rows each), and the planner once took
/// `(org_id, kind, seq)`, or the partial name index, for as selective as the primary key:
/// each read by id walked all of the organisation's users (about 9 ms here, 4.5 s for the
/// reads below, which take well under a second as lookups). Reads by id must not depend on
/// statistics. Filters do (a page in `seq` order is also served by `(org_id, kind, seq)`):
/// `refresh_statistics` gathers them once the table has changed enough, and only then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_by_id_need_no_statistics_and_filters_get_them() {
    use directory::ResourceId;
    use directory::store::{ListQuery, Load};
    use scim_core::schema::ResourceKind;
    use std::time::{Duration, Instant};

    let (admin, db, url) = fresh_database("scimd_nostats").await;
    let store = store_postgres::PgStore::connect(&url)
        .await
        .expect("connect");
    let org = store_tests::support::new_org(&store).await;
    let config: tokio_postgres::Config = url.parse().expect("URL");
    let (client, conn) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    let handle = tokio::spawn(conn);
    client
        .execute(
            "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, doc) \
             SELECT $1, gen_random_uuid(), 0, 1, 0, 0, 'user' || i, jsonb_build_object('userName', 'user' || i) \
             FROM generate_series(1, 50000) i",
            &[&org.id.0],
        )
        .await
        .expect("load users");
    let statistics = || async {
        client
            .query_one(
                "SELECT reltuples >= 0 FROM pg_class WHERE oid = 'resources'::regclass",
                &[],
            )
            .await
            .expect("query")
            .get::<_, bool>(0)
    };
    assert!(!statistics().await, "the table must have no statistics yet");
    let ids: Vec<uuid::Uuid> = client
        .query("SELECT id FROM resources WHERE kind = 0 LIMIT 500", &[])
        .await
        .expect("ids")
        .iter()
        .map(|r| r.get(0))
        .collect();

    let started = Instant::now();
    for id in &ids {
        let user = store
            .get_resource(
                org.id,
                ResourceKind::User,
                ResourceId(*id),
                Load { relations: true },
            )
            .await
            .expect("get");
        assert!(user.is_some());
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "500 reads by id without statistics took {took:?}: a scan per read?"
    );
    assert!(!statistics().await, "reads gathered no statistics");

    // The load is counted within about a second of its commit; one refresh gathers it.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut refreshed = 0;
    while refreshed == 0 && Instant::now() < deadline {
        refreshed = store.refresh_statistics().await.expect("refresh");
        if refreshed == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(refreshed, 1, "resources, and only it, had changed");
    assert!(statistics().await);
    assert_eq!(store.refresh_statistics().await.expect("refresh"), 0);

    let started = Instant::now();
    for i in 0..300 {
        let q = ListQuery {
            filter: Some(store_tests::support::filter(
                ResourceKind::User,
                &format!("userName eq \"user{}\"", i * 97 + 1),
            )),
            ..store_tests::support::query(100)
        };
        let page = store
            .list_resources(org.id, ResourceKind::User, &q)
            .await
            .expect("list");
        assert_eq!((page.total, page.resources.len()), (1, 1));
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "300 userName lookups took {took:?}: a scan per lookup?"
    );

    drop(client);
    let _ = handle.await;
    drop(store);
    drop_database(&admin, &db).await;
}

/// The event log's ordering claim (docs/contract.md, "Events"): a reader that follows
/// `seq > after` sees every event once, in sequence order, however many instances write. Eight
/// writers create users in one organisation at once, each write on its own pooled connection,
/// while a reader follows the log. Every page must start right after the last sequence seen:
/// a page that skips one (even if the missing event turned up later) breaks the claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_following_the_log_never_sees_a_gap_while_writers_race() {
    use directory::store::EventQuery;
    use std::sync::atomic::{AtomicBool, Ordering};

    const WRITERS: usize = 8;
    const USERS_EACH: usize = 60;
    let total = (WRITERS * USERS_EACH) as i64;
    let store = open().await;
    let org = store_tests::support::new_org(&*store).await;
    let writing = Arc::new(AtomicBool::new(true));

    let reader = {
        let store = store.clone();
        let writing = writing.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut gaps = Vec::new();
            let mut after = 0;
            loop {
                // Read before checking whether the writers are done: a read that starts after
                // they are done sees everything they wrote.
                let done = !writing.load(Ordering::SeqCst);
                let page = store
                    .list_events(
                        org.id,
                        &EventQuery {
                            after,
                            limit: 100,
                            types: Vec::new(),
                        },
                    )
                    .await
                    .expect("list events");
                for e in &page {
                    if e.sequence != after + 1 {
                        gaps.push((after, e.sequence));
                    }
                    after = e.sequence;
                    seen.push(e.sequence);
                }
                if done && page.is_empty() {
                    return (seen, gaps);
                }
            }
        })
    };

    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.spawn(async move {
            for i in 0..USERS_EACH {
                store_tests::support::create_user(&*store, org.id, &format!("w{w}-u{i}")).await;
            }
        });
    }
    while let Some(r) = writers.join_next().await {
        r.expect("writer");
    }
    writing.store(false, Ordering::SeqCst);
    let (seen, gaps) = reader.await.expect("reader");
    assert!(
        gaps.is_empty(),
        "the reader saw gaps (after, next): {gaps:?}"
    );
    assert_eq!(
        seen,
        (1..=total).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert_eq!(
        store.last_event_sequence(org.id).await.expect("last"),
        total
    );
}
