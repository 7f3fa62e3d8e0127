//! `scimd check URL`: the base URL as operators paste it (without `/scim/v2`, with Entra's
//! `?aadOptscim062020` flag), nothing listening, and user errors, which print no backtrace.

use crate::common::Server;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// `scimd check ARGS` with `RUST_BACKTRACE=1` (as a shell often has it): success, stdout and
/// stderr.
fn check(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .arg("check")
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .env_remove("SCIMD_CHECK_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run scimd");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        !stderr.to_lowercase().contains("backtrace"),
        "a backtrace on stderr:\n{stderr}"
    );
    (out.status.success(), stdout, stderr)
}

fn fails(out: &str) -> usize {
    out.lines().filter(|l| l.starts_with("FAIL")).count()
}

#[tokio::test]
async fn a_base_without_scim_v2_is_one_404_with_the_url_meant() {
    let s = Server::start();
    let (ok, stdout, stderr) = check(&[&s.origin, "--token", &s.org.token]);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains(&format!("did you mean {}/scim/v2 ", s.origin)),
        "{stdout}"
    );
    assert_eq!(fails(&stdout), 1, "one failure, not four:\n{stdout}");
    assert!(stdout.contains("expected 200, got 404"), "{stdout}");
    assert!(stderr.contains("did not pass"), "{stderr}");
    // The URL it suggests passes.
    let (ok, stdout, _) = check(&[&format!("{}/scim/v2", s.origin), "--token", &s.org.token]);
    assert!(ok, "{stdout}");
}

#[tokio::test]
async fn entras_flag_on_the_url_passes_and_stays_in_the_suggestion() {
    let s = Server::start();
    let flagged = format!("{}?aadOptscim062020", s.base);
    let (ok, stdout, stderr) = check(&[&flagged, "--token", &s.org.token]);
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(fails(&stdout), 0, "{stdout}");
    // Without /scim/v2 the suggestion keeps the flag where it was.
    let (ok, stdout, _) = check(&[
        &format!("{}/?aadOptscim062020", s.origin),
        "--token",
        &s.org.token,
    ]);
    assert!(!ok);
    assert!(
        stdout.contains(&format!(
            "did you mean {}/scim/v2?aadOptscim062020 ",
            s.origin
        )),
        "{stdout}"
    );
}

/// A listener that answers 404 to everything and keeps each request's target.
fn recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            if let Some(target) = line.split_whitespace().nth(1) {
                keep.lock().expect("lock").push(target.to_owned());
            }
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn query_flags_ride_on_every_request_after_the_path() {
    let (origin, seen) = recorder();
    let (ok, stdout, _) = check(&[
        &format!("{origin}/scim/v2?aadOptscim062020"),
        "--token",
        "t",
    ]);
    assert!(!ok);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen.first().map(String::as_str),
        Some("/scim/v2/ServiceProviderConfig?aadOptscim062020"),
        "{seen:?}"
    );
    // Nothing answers SCIM there, and the URL already ends in /scim/v2: no guess.
    assert!(stdout.contains("nothing answers SCIM at"), "{stdout}");
    assert!(!stdout.contains("did you mean"), "{stdout}");
    let (_, stdout, _) = check(&[&format!("{origin}?aadOptscim062020"), "--token", "t"]);
    assert!(
        stdout.contains(&format!("did you mean {origin}/scim/v2?aadOptscim062020?")),
        "{stdout}"
    );
    assert!(stdout.contains("nothing answers there either"), "{stdout}");
}

#[tokio::test]
async fn nothing_listening_is_connection_refused_once() {
    // A port that was just free: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (ok, stdout, stderr) =
        check(&[&format!("http://127.0.0.1:{port}/scim/v2"), "--token", "t"]);
    assert!(!ok);
    assert!(
        stdout.contains(&format!(
            "connection refused: nothing listens on 127.0.0.1:{port}"
        )),
        "{stdout}"
    );
    assert_eq!(fails(&stdout), 1, "{stdout}");
    assert!(stderr.starts_with("Error: "), "{stderr}");
}

#[tokio::test]
async fn user_errors_are_one_message_without_a_backtrace() {
    let (ok, stdout, _) = check(&["scim.example.org/scim/v2", "--token", "t"]);
    assert!(!ok);
    assert!(stdout.contains("is not a URL"), "{stdout}");
    let (ok, stdout, _) = check(&["ftp://scim.example.org/scim/v2", "--token", "t"]);
    assert!(!ok);
    assert!(
        stdout.contains("is not an http:// or https:// URL"),
        "{stdout}"
    );
    let (ok, _, stderr) = check(&["http://127.0.0.1:9/scim/v2"]);
    assert!(!ok);
    assert!(stderr.contains("no token"), "{stderr}");
    let (ok, _, stderr) = check(&[
        "http://127.0.0.1:9/scim/v2",
        "--token-file",
        "/nonexistent/token",
    ]);
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/token"), "{stderr}");
    assert!(stderr.contains("Caused by:"), "{stderr}");
}
