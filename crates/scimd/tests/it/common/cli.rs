//! The `scimd` command line, run to completion.

#![allow(dead_code)]

use super::*;
use std::process::{Command, Stdio};

/// Runs `scimd` with `args` to completion and returns its stdout, trimmed; panics on failure.
pub fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(args)
        .env_remove("SCIMD_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run scimd");
    assert!(
        out.status.success(),
        "scimd {args:?} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("stdout is UTF-8")
        .trim()
        .to_owned()
}

/// Runs `scimd` with `args` and returns whether it exited 0, with its stdout and stderr.
pub fn cli_status(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(args)
        .env_remove("SCIMD_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run scimd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Adds an administrator of `org` with a console password, through the CLI.
pub fn add_admin(server: &Server, org: &str, email: &str, password: &str) {
    let dir = TempDir::new("admin-password");
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{password}\n")).expect("write password");
    cli(&[
        "admin",
        "add",
        "--org",
        org,
        "--email",
        email,
        "--password-file",
        file.to_str().expect("path"),
        "--database",
        &server.database,
    ]);
}

/// Generates a second token for the server's organisation, then revokes the first (the one
/// the harness holds); returns the new secret and the revoked token's id.
pub fn replace_first_token(server: &Server) -> (String, String) {
    let (org, db) = (server.org.id.as_str(), server.database.as_str());
    let second = cli(&["token", "generate", "--org", org, "--database", db]);
    let list = token_list(server, org);
    let first_id = list["tokens"][0]["id"].as_str().expect("id").to_owned();
    cli(&["token", "revoke", "--org", org, &first_id, "--database", db]);
    (second, first_id)
}

/// `scimd token list --format json` for `org` on the server's database.
pub fn token_list(server: &Server, org: &str) -> serde_json::Value {
    let out = cli(&[
        "token",
        "list",
        "--org",
        org,
        "--format",
        "json",
        "--database",
        &server.database,
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("token list JSON ({e}): {out}"))
}

/// Signs `email` of `org` (added with [`add_admin`]) in through the administrators' API;
/// returns the session's bearer secret.
pub async fn api_session(server: &Server, org: &str, email: &str, password: &str) -> String {
    let r = server
        .client
        .post(
            &format!("{}/api/v1/sessions", server.origin),
            &serde_json::json!({ "organisation": org, "email": email, "password": password }),
            "",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["token"]
        .as_str()
        .expect("session token")
        .to_owned()
}
