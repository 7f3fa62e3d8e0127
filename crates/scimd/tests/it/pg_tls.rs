//! PostgreSQL over TLS: `sslmode=require`, `verify-full` with a private CA (`sslrootcert`),
//! and the start-up errors when the certificate does not check out. Runs on the local cluster
//! that `scripts/services` serves with a test CA's certificate for localhost and 127.0.0.1
//! (`SCIMD_TEST_POSTGRES_CA`), whatever `SCIMD_TEST_BACKEND` says.

use crate::common::{Server, TempDir, TestDatabase, cli_status, psql_admin};

fn ca() -> String {
    std::env::var("SCIMD_TEST_POSTGRES_CA")
        .expect("SCIMD_TEST_POSTGRES_CA: run `source scripts/services` first")
}

/// How many of the database's sessions are encrypted, and how many it has.
fn sessions(db: &TestDatabase) -> (u64, u64) {
    let name = db.postgres_name().expect("a PostgreSQL database");
    let out = psql_admin(&format!(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
         JOIN pg_stat_ssl s USING (pid) WHERE a.datname = '{name}'"
    ));
    let (tls, all) = out.split_once('|').expect("two counts");
    (tls.parse().expect("count"), all.parse().expect("count"))
}

/// `scimd serve` on `url`, which must not start: its stderr.
fn refused_start(url: &str) -> String {
    let (ok, _, stderr) = cli_status(&["serve", "--listen", "127.0.0.1:0", "--database", url]);
    assert!(!ok, "serve started on {url}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "{stderr}"
    );
    // The URL (and so its password) is never repeated.
    assert!(!stderr.contains("postgres:postgres@"), "{stderr}");
    stderr
}

#[tokio::test]
async fn verify_full_with_the_private_ca_serves_over_tls() {
    let ca = ca();
    let db = TestDatabase::postgres_at(|prefix, name| {
        format!("{prefix}/{name}?sslmode=verify-full&sslrootcert={ca}")
    });
    let server = Server::start_on(db.clone());
    let id = server.api().create_user("tls@example.com").await;
    server.api().get(&format!("/Users/{id}")).await.expect(200);
    let (tls, all) = sessions(&db);
    assert!(all > 0, "the server holds sessions");
    assert_eq!(tls, all, "every session of the server is encrypted");
}

#[tokio::test]
async fn require_encrypts_without_a_ca() {
    let db = TestDatabase::postgres_at(|prefix, name| format!("{prefix}/{name}?sslmode=require"));
    let server = Server::start_on(db.clone());
    server.api().create_user("required@example.com").await;
    let (tls, all) = sessions(&db);
    assert!(all > 0);
    assert_eq!(tls, all);
}

#[tokio::test]
async fn a_url_without_sslmode_stays_plaintext() {
    let db = TestDatabase::postgres();
    let server = Server::start_on(db.clone());
    server.api().create_user("plain@example.com").await;
    let (tls, all) = sessions(&db);
    assert!(all > 0);
    assert_eq!(tls, 0);
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_another_host_name() {
    let ca = ca();
    let db = TestDatabase::postgres_at(|prefix, name| {
        // The certificate names localhost and 127.0.0.1; this URL reaches 127.0.0.1 by the
        // name wrong-name.invalid (libpq's hostaddr), which it does not name.
        let prefix = prefix.replace("@127.0.0.1:", "@wrong-name.invalid:");
        format!("{prefix}/{name}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}")
    });
    let stderr = refused_start(&db.url);
    assert!(stderr.contains("connecting to PostgreSQL"), "{stderr}");
    assert!(
        stderr.contains("the server's certificate does not name the host"),
        "{stderr}"
    );
    assert!(stderr.contains("wrong-name.invalid"), "{stderr}");
    assert!(stderr.contains("sslmode=verify-ca"), "{stderr}");
    // verify-ca checks the chain alone, so the same URL connects.
    let ca_only = db.url.replace("sslmode=verify-full", "sslmode=verify-ca");
    let (ok, _, stderr) = cli_status(&["migrate", "--database", &ca_only]);
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn verify_full_without_the_ca_refuses_an_unknown_issuer() {
    let db =
        TestDatabase::postgres_at(|prefix, name| format!("{prefix}/{name}?sslmode=verify-full"));
    let stderr = refused_start(&db.url);
    assert!(stderr.contains("connecting to PostgreSQL"), "{stderr}");
    assert!(
        stderr.contains("the server's certificate is not signed by a public CA"),
        "{stderr}"
    );
    assert!(stderr.contains("sslrootcert=PATH"), "{stderr}");
}

#[tokio::test]
async fn verify_full_with_another_ca_refuses_the_server_naming_the_ca_file() {
    // A CA of its own, which never signed the server's certificate.
    let dir = TempDir::new("scimd-pg-wrong-ca");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "not the server's CA");
    let other = params.self_signed(&key).expect("self-signed CA");
    let path = dir.path().join("other-ca.pem");
    std::fs::write(&path, other.pem()).expect("write the CA");
    let path = path.display().to_string();
    let db = TestDatabase::postgres_at(|prefix, name| {
        format!("{prefix}/{name}?sslmode=verify-full&sslrootcert={path}")
    });
    let stderr = refused_start(&db.url);
    assert!(
        stderr.contains(&format!(
            "the server's certificate is not signed by the CA in sslrootcert {path}"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn sslmode_disable_stays_plaintext() {
    let db = TestDatabase::postgres_at(|prefix, name| format!("{prefix}/{name}?sslmode=disable"));
    let server = Server::start_on(db.clone());
    let id = server.api().create_user("disabled@example.com").await;
    server.api().get(&format!("/Users/{id}")).await.expect(200);
    let (tls, all) = sessions(&db);
    assert!(all > 0);
    assert_eq!(tls, 0);
}

#[tokio::test]
async fn an_unreadable_root_certificate_or_mode_stops_the_start_naming_it() {
    let db = TestDatabase::postgres_at(|prefix, name| {
        format!("{prefix}/{name}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
    });
    let stderr = refused_start(&db.url);
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
    let db = TestDatabase::postgres_at(|prefix, name| format!("{prefix}/{name}?sslmode=allow"));
    let stderr = refused_start(&db.url);
    assert!(stderr.contains("sslmode=allow"), "{stderr}");
}
