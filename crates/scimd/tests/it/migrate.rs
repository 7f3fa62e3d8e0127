//! `scimd migrate`: applies the schema to a new database, is idempotent, and never prints a
//! database password.

use crate::common::*;

#[test]
fn migrate_prepares_a_new_database_and_can_run_again() {
    let db = TestDatabase::new();
    for _ in 0..2 {
        let (ok, out, err) = cli_status(&["migrate", "--database", &db.url]);
        assert!(ok, "migrate failed: {err}");
        assert!(out.starts_with("migrations applied to "), "{out}");
    }
    // The migrated database serves the CLI straight away.
    let org = cli(&[
        "org",
        "create",
        "Migrated",
        "--kind",
        "school",
        "--database",
        &db.url,
    ]);
    assert_eq!(org.trim().len(), 36, "an organisation id: {org}");
}

#[test]
fn migrate_output_hides_the_database_password() {
    let db = TestDatabase::new();
    let (ok, out, err) = cli_status(&["migrate", "--database", &db.url]);
    assert!(ok, "migrate failed: {err}");
    if let Some((_, rest)) = db.url.split_once("://")
        && let Some((creds, _)) = rest.split_once('@')
        && let Some((_, password)) = creds.split_once(':')
    {
        assert!(!out.contains(&format!(":{password}@")), "{out}");
        assert!(out.contains(":***@"), "{out}");
    }
}

#[test]
fn migrate_refuses_an_unknown_database_url_clearly() {
    let (ok, _, err) = cli_status(&["migrate", "--database", "mysql://localhost/x"]);
    assert!(!ok);
    assert!(err.contains("unsupported database URL"), "{err}");
}
