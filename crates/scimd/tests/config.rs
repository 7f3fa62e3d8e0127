//! Configuration layers on the binary: defaults < file < environment < flags, unknown keys
//! refused, unknown SCIMD_ variables reported, secrets from files and redacted, and the
//! example file in the repository valid.

mod common;

use common::TempDir;
use std::process::Command;

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
