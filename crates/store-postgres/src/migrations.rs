//! Schema migrations: SQL files embedded in the binary, applied in order and recorded in
//! `schema_migrations`, all inside one transaction that holds a transaction-level advisory
//! lock. Several scimd instances starting at once on one database therefore queue on the lock:
//! the first applies what is missing, the others find it recorded and apply nothing.

use crate::Failure;
use deadpool_postgres::Client;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_lifecycle.sql")),
    (3, include_str!("../migrations/0003_directory.sql")),
    (4, include_str!("../migrations/0004_console.sql")),
    (5, include_str!("../migrations/0005_deployment_keys.sql")),
    (6, include_str!("../migrations/0006_applications.sql")),
    (7, include_str!("../migrations/0007_password_links.sql")),
    (8, include_str!("../migrations/0008_first_week.sql")),
    (9, include_str!("../migrations/0009_account_search.sql")),
    (10, include_str!("../migrations/0010_second_factor.sql")),
    (11, include_str!("../migrations/0011_time_zone.sql")),
    (12, include_str!("../migrations/0012_roles.sql")),
    (13, include_str!("../migrations/0013_search_text.sql")),
    (14, include_str!("../migrations/0014_token_epoch.sql")),
];

/// The advisory lock key that serialises migrations ("scimd" and 1), shared by every scimd
/// version so that an old and a new binary never migrate at the same time.
const MIGRATION_LOCK: i64 = 0x7363_696d_6400_0001;

pub(crate) async fn apply(client: &mut Client) -> Result<(), Failure> {
    let tx = client.transaction().await?;
    // A migration rewriting a large table may take longer than the pool's statement bound;
    // `LOCAL` leaves the session's bound as it was after this transaction.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // Checked first rather than `IF NOT EXISTS`, which logs a notice on every start.
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        tx.batch_execute("CREATE TABLE schema_migrations (version bigint PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())")
            .await?;
    }
    let done: Vec<i64> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for (version, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tracing::info!(version, "applying PostgreSQL migration");
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
