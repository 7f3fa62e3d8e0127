//! Configuration layers on the binary: defaults < file < environment < flags, unknown keys
//! refused, unknown SCIMD_ variables reported, secrets from files and redacted, and the
//! example file in the repository valid; no command prints a database password.

use crate::common::{Server, TempDir, TestDatabase, cli_status};
use std::process::Command;
use std::time::{Duration, Instant};

fn check(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scimd"));
    cmd.arg("config").arg("check").args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("SCIMD_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run scimd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
}

#[test]
fn layers_apply_in_order_and_secrets_stay_hidden() {
    let dir = TempDir::new("config");
    let file = dir.path().join("scimd.toml");
    let secret = dir.path().join("db-url");
    std::fs::write(&secret, "postgres://scimd:s3cr3t@db.internal/scimd\n").expect("secret");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:9001\"\nrate_limit_per_token = 50\nrequest_timeout_secs = 5\n\
             max_concurrent_requests = 7\ndatabase_file = \"{}\"\n",
            secret.display()
        ),
    )
    .expect("file");
    let f = file.to_str().expect("path");
    let (ok, out, err) = check(
        &["--config", f, "--max-concurrent-requests", "3"],
        &[("SCIMD_REQUEST_TIMEOUT_SECS", "9"), ("SCIMD_SURPRISE", "1")],
    );
    assert!(ok, "{err}");
    assert!(line(&out, "listen").contains("127.0.0.1:9001"), "{out}");
    assert!(line(&out, "listen").contains("file (listen)"), "{out}");
    assert!(line(&out, "rate_limit_per_token").contains("50"), "{out}");
    // The environment beats the file, a flag beats both.
    assert!(line(&out, "request_timeout_secs").contains("= 9 "), "{out}");
    assert!(
        line(&out, "request_timeout_secs").contains("environment"),
        "{out}"
    );
    assert!(
        line(&out, "max_concurrent_requests").contains("= 3 "),
        "{out}"
    );
    assert!(
        line(&out, "max_concurrent_requests").contains("flag"),
        "{out}"
    );
    assert!(
        line(&out, "auth_failures_per_minute").contains("default"),
        "{out}"
    );
    // The secret came from its file and is not printed.
    assert!(
        line(&out, "database").contains("postgres://scimd:***@db.internal"),
        "{out}"
    );
    assert!(!out.contains("s3cr3t"), "{out}");
    assert!(
        out.contains("unknown environment variable SCIMD_SURPRISE"),
        "{out}"
    );
}

#[test]
fn unknown_keys_stop_the_start() {
    let dir = TempDir::new("config-bad");
    let file = dir.path().join("scimd.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:1\"\nlisten_adress = \"x\"\n").expect("file");
    let (ok, _, err) = check(&["--config", file.to_str().expect("path")], &[]);
    assert!(!ok);
    assert!(
        err.contains("unknown key(s)") && err.contains("listen_adress"),
        "{err}"
    );
}

#[test]
fn the_example_file_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scimd.example.toml");
    let (ok, out, err) = check(&["--config", example], &[]);
    assert!(ok, "{err}");
    assert!(line(&out, "rate_limit_per_token").contains("1000"), "{out}");
}

/// The password in the user-info of `url` (`postgres` in `postgres://postgres:postgres@h/db`).
fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let user_info = rest.split_once('@')?.0;
    let password = user_info.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_owned())
}

#[test]
fn serve_on_postgres_never_prints_the_database_password() {
    let db = TestDatabase::postgres();
    let password = password_of(&db.url).unwrap_or_else(|| {
        panic!(
            "this test needs a PostgreSQL URL with a password (SCIMD_TEST_POSTGRES_URL), got {}",
            db.url
        )
    });
    let server = Server::start_on(db);
    // The harness returns at "scimd listening on"; the token hint, which names the database,
    // comes a few lines later.
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = server.log_tail();
        if log.contains("Get a token") {
            break log;
        }
        assert!(Instant::now() < deadline, "no token hint on stderr:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!log.contains(&format!(":{password}@")), "{log}");
    let hint = log
        .lines()
        .find(|l| l.contains("Get a token"))
        .expect("the hint");
    assert!(hint.contains("--database postgres://"), "{hint}");
    assert!(hint.contains(":***@127.0.0.1"), "{hint}");
}

#[test]
fn errors_and_help_never_print_a_database_password() {
    let dir = TempDir::new("config-errors");
    let sqlite = format!("sqlite://{}", dir.path().join("x.db").display());
    // A closed port: connecting fails at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let unreachable = format!("postgres://u:hunter2@127.0.0.1:{closed}/db");
    for args in [
        vec![
            "org",
            "list",
            "--database",
            "postgre://u:hunter2@db.internal/x",
        ],
        vec!["org", "list", "--database", unreachable.as_str()],
        vec!["migrate", "--database", unreachable.as_str()],
        vec![
            "copy",
            "--from",
            unreachable.as_str(),
            "--to",
            sqlite.as_str(),
        ],
        vec![
            "copy",
            "--from",
            sqlite.as_str(),
            "--to",
            unreachable.as_str(),
        ],
    ] {
        let (ok, stdout, stderr) = cli_status(&args);
        assert!(!ok, "{args:?} succeeded");
        assert!(!stderr.is_empty(), "{args:?}: no error shown");
        assert!(
            !stdout.contains("hunter2") && !stderr.contains("hunter2"),
            "{args:?}:\n{stdout}\n{stderr}"
        );
    }
    // clap prints an option's variable and its value in --help.
    let out = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["serve", "--help"])
        .env("SCIMD_DATABASE_URL", "postgres://u:hunter2@db.internal/x")
        .env("SCIMD_SMTP_URL", "smtps://u:hunter3@relay.example")
        .output()
        .expect("run scimd");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("SCIMD_DATABASE_URL"), "{help}");
    assert!(
        !help.contains("hunter2") && !help.contains("hunter3"),
        "{help}"
    );
}

#[test]
fn config_check_hides_password_query_parameters() {
    let (ok, out, err) = check(
        &[
            "--database",
            "postgres://u@db.internal/scimd?password=hunter2",
            "--smtp-url",
            "smtps://relay.example:465?PASSWORD=hunter3",
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(
        line(&out, "database").contains("postgres://***@db.internal/scimd?password=***"),
        "{out}"
    );
    assert!(
        !out.contains("hunter2") && !out.contains("hunter3"),
        "{out}"
    );
    assert!(
        !err.contains("hunter2") && !err.contains("hunter3"),
        "{err}"
    );
}

/// `scimd check` with a clean environment plus `env`.
fn check_endpoint(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scimd"));
    cmd.arg("check").args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("SCIMD_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run scimd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_takes_its_token_from_a_file_or_the_environment() {
    let server = Server::start();
    let dir = TempDir::new("check-token");
    let good = dir.path().join("good");
    let wrong = dir.path().join("wrong");
    let empty = dir.path().join("empty");
    // First line, trimmed; what follows is ignored.
    std::fs::write(&good, format!("  {}  \nnot the token\n", server.org.token)).expect("write");
    std::fs::write(&wrong, "scimd_not-a-real-token\n").expect("write");
    std::fs::write(&empty, "\n").expect("write");
    let (good, wrong, empty) = (
        good.to_str().expect("path"),
        wrong.to_str().expect("path"),
        empty.to_str().expect("path"),
    );
    let base = server.base.as_str();

    let (ok, out, err) = check_endpoint(&[base, "--token-file", good], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("passed"), "{out}");
    let (ok, out, _) = check_endpoint(&[base, "--token-file", wrong], &[]);
    assert!(!ok, "a wrong token passed: {out}");
    assert!(out.contains("FAIL"), "{out}");

    let (ok, out, err) = check_endpoint(&[base], &[("SCIMD_CHECK_TOKEN", &server.org.token)]);
    assert!(ok, "{out}\n{err}");
    // The variable is one of scimd's own, not reported as unknown.
    assert!(!err.contains("unknown environment variable"), "{err}");
    let (ok, _, _) = check_endpoint(&[base], &[("SCIMD_CHECK_TOKEN", "scimd_wrong")]);
    assert!(!ok);
    // --token keeps working, and a flag wins over the variable as flags do.
    let (ok, out, err) = check_endpoint(&[base, "--token", &server.org.token], &[]);
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = check_endpoint(
        &[base, "--token", &server.org.token],
        &[("SCIMD_CHECK_TOKEN", "scimd_wrong")],
    );
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = check_endpoint(
        &[base, "--token-file", good],
        &[("SCIMD_CHECK_TOKEN", "scimd_wrong")],
    );
    assert!(ok, "{out}\n{err}");

    // One flag at most; none, both, or an empty or missing file is a clear error.
    for (args, env, says) in [
        (vec![base], vec![], "no token"),
        (
            vec![base, "--token-file", good, "--token", "x"],
            vec![],
            "one way only",
        ),
        (vec![base, "--token-file", empty], vec![], "is empty"),
        (
            vec![base, "--token-file", "/nonexistent/scimd-token"],
            vec![],
            "reading the token file",
        ),
    ] {
        let (ok, out, err) = check_endpoint(&args, &env);
        assert!(!ok, "{args:?} passed: {out}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} ran the check: {out}");
    }
}
