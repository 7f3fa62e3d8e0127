//! Schema migrations: SQL files embedded in the binary, applied in order, each recorded in
//! `schema_migrations`, each in its own transaction.

use rusqlite::{Connection, params};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_lifecycle.sql")),
    (3, include_str!("../migrations/0003_directory.sql")),
    (4, include_str!("../migrations/0004_console.sql")),
    (5, include_str!("../migrations/0005_activity_chunks.sql")),
    (6, include_str!("../migrations/0006_scim_counts.sql")),
    (7, include_str!("../migrations/0007_deployment_keys.sql")),
    (8, include_str!("../migrations/0008_applications.sql")),
    (9, include_str!("../migrations/0009_password_links.sql")),
    (10, include_str!("../migrations/0010_first_week.sql")),
    (11, include_str!("../migrations/0011_account_search.sql")),
    (12, include_str!("../migrations/0012_second_factor.sql")),
    (13, include_str!("../migrations/0013_time_zone.sql")),
    (14, include_str!("../migrations/0014_roles.sql")),
    (15, include_str!("../migrations/0015_search_reindex.sql")),
];

pub(crate) fn apply(conn: &Connection) -> rusqlite::Result<()> {
    apply_up_to(conn, i64::MAX)
}

/// Applies the migrations up to `last`, inclusive.
fn apply_up_to(conn: &Connection, last: i64) -> rusqlite::Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)")?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= last) {
        let done: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            params![version],
            |r| r.get(0),
        )?;
        if done {
            continue;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = conn.execute_batch(sql).and_then(|()| {
            conn.execute(
                "INSERT INTO schema_migrations (version, applied) VALUES (?1, unixepoch())",
                params![version],
            )
            .map(|_| ())
        });
        match result {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_rows_become_chunks_of_one_and_keep_every_field() {
        let conn = Connection::open_in_memory().expect("open");
        apply_up_to(&conn, 4).expect("migrations 1-4");
        let org = uuid::Uuid::new_v4();
        let token = uuid::Uuid::new_v4();
        conn.execute(
            "INSERT INTO activity (org_id, at, token_id, actor, action, target, status, duration_us, resource, detail) \
             VALUES (?1, 5, ?2, 'scim', 'GET', '/scim/v2/Users/\"a\"', 200, 17, 'Users/a', NULL), \
                    (?1, 9, NULL, 'cli', 'token.revoke', 'token', NULL, NULL, NULL, 'refused: x')",
            params![org.as_bytes().as_slice(), token.as_bytes().as_slice()],
        )
        .expect("old rows");
        apply(&conn).expect("migration 5");
        let chunks: Vec<(Vec<u8>, i64, i64, i64, String)> = conn
            .prepare(
                "SELECT org_id, first_at, last_at, entries, body FROM activity_chunks ORDER BY seq",
            )
            .expect("select")
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(chunks.len(), 2);
        assert_eq!((chunks[0].1, chunks[0].2, chunks[0].3), (5, 5, 1));
        assert_eq!(chunks[0].0, org.as_bytes().to_vec());
        let first: serde_json::Value = serde_json::from_str(&chunks[0].4).expect("json");
        assert_eq!(
            first,
            serde_json::json!([{"at": 5, "token": token.simple().to_string(), "actor": "scim",
                "action": "GET", "target": "/scim/v2/Users/\"a\"", "status": 200, "us": 17,
                "resource": "Users/a", "detail": null}])
        );
        let second: serde_json::Value = serde_json::from_str(&chunks[1].4).expect("json");
        assert_eq!(second[0]["token"], serde_json::Value::Null);
        assert_eq!(second[0]["detail"], "refused: x");
        let gone: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'activity')",
                [],
                |r| r.get(0),
            )
            .expect("exists");
        assert!(!gone, "the old table is dropped");
    }

    #[test]
    fn counts_start_from_what_scim_sees_already() {
        let conn = Connection::open_in_memory().expect("open");
        apply_up_to(&conn, 5).expect("migrations 1-5");
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let insert = |org: &uuid::Uuid, kind: i64, source: &str, deleted: Option<i64>| {
            conn.execute(
                "INSERT INTO resources (org_id, id, kind, version, created, last_modified, source, doc, deleted) \
                 VALUES (?1, ?2, ?3, 1, 0, 0, ?4, '{}', ?5)",
                params![org.as_bytes().as_slice(), uuid::Uuid::new_v4().as_bytes().as_slice(), kind, source, deleted],
            )
            .expect("row");
        };
        insert(&a, 0, "scim", None);
        insert(&a, 0, "scim", None);
        insert(&a, 0, "scim", Some(5));
        insert(&a, 0, "manual", None);
        insert(&a, 1, "scim", None);
        insert(&b, 0, "scim", None);
        apply(&conn).expect("migration 6");
        let count = |org: &uuid::Uuid, kind: i64| -> i64 {
            conn.query_row(
                "SELECT n FROM scim_counts WHERE org_id = ?1 AND kind = ?2",
                params![org.as_bytes().as_slice(), kind],
                |r| r.get(0),
            )
            .expect("count")
        };
        assert_eq!((count(&a, 0), count(&a, 1), count(&b, 0)), (2, 1, 1));
        // And from then on the triggers keep them.
        insert(&a, 0, "scim", None);
        conn.execute(
            "UPDATE resources SET source = 'manual' WHERE org_id = ?1 AND kind = 1",
            params![a.as_bytes().as_slice()],
        )
        .expect("disconnect the group");
        conn.execute(
            "DELETE FROM resources WHERE org_id = ?1",
            params![b.as_bytes().as_slice()],
        )
        .expect("purge");
        assert_eq!((count(&a, 0), count(&a, 1), count(&b, 0)), (3, 0, 0));
    }
}
