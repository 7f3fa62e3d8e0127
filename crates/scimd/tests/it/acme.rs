//! Automatic certificates against Pebble, the ACME test authority, with a real TLS-ALPN-01
//! validation: pebble-challtestsrv answers Pebble's DNS queries for the domain with
//! 127.0.0.1, and Pebble's `tlsPort` is scimd's own listening port. Pebble issues
//! certificates of 30 s, so the renewal, its failure and the late-renewal e-mail all happen
//! within the test, on one running server. Pebble is a Debian package (`pebble`), installed by
//! scripts/services; without it this test fails.

use crate::common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DOMAIN: &str = "scim.example.org";
const OPERATOR: &str = "ops@example.org";

/// Certificates Pebble issues live this long.
const VALIDITY_SECS: u64 = 30;
/// scimd renews with this much left: 6 s after issuance. Its retries after a failure come at
/// an eighth of it (3 s), and the operator is mailed half-way through it (12 s late).
const RENEW_BEFORE: &str = "24s";

/// The longest any one step may take.
const STEP: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A port free for UDP and TCP alike (the DNS server listens on both).
fn free_dns_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("address").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for UDP and TCP");
}

fn wait_listening(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + STEP;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pebble and its DNS server, stopped on drop.
struct Pebble {
    processes: Vec<Child>,
    directory: String,
    /// The CA of Pebble's own HTTPS (the directory and the management interface).
    https_ca: std::path::PathBuf,
    https_ca_der: Vec<u8>,
    management: u16,
    log: std::path::PathBuf,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "---- pebble log ----\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Pebble {
    /// Starts Pebble validating TLS-ALPN-01 on `tls_port` of 127.0.0.1.
    fn start(dir: &TempDir, tls_port: u16) -> Pebble {
        // Pebble's HTTPS certificate, for 127.0.0.1, from a CA of the test's own.
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "scimd test CA for Pebble");
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("key");
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".into()])
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("leaf");
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("pebble-ca.pem"), ca.pem()).expect("write");
        std::fs::write(path("pebble-cert.pem"), leaf.pem()).expect("write");
        std::fs::write(path("pebble-key.pem"), key.serialize_pem()).expect("write");
        let (listen, management, dns, dns_management) =
            (free_port(), free_port(), free_dns_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": path("pebble-cert.pem"),
            "privateKey": path("pebble-key.pem"),
            "httpPort": free_port(),
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": VALIDITY_SECS,
        }});
        std::fs::write(path("pebble.json"), config.to_string()).expect("write");
        let log = path("pebble.log");
        let out = || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("log");
            Stdio::from(f)
        };
        let spawn = |cmd: &mut Command, name: &str| {
            cmd.stdin(Stdio::null())
                .stdout(out())
                .stderr(out())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run {name} ({e}): install the Debian package pebble (scripts/services does)")
                })
        };
        let mut pebble = Pebble {
            processes: Vec::new(),
            directory: format!("https://127.0.0.1:{listen}/dir"),
            https_ca: path("pebble-ca.pem"),
            https_ca_der: ca.der().to_vec(),
            management,
            log: log.clone(),
        };
        // Every name resolves to 127.0.0.1 (and has no IPv6 address): the domain is scimd.
        pebble.processes.push(spawn(
            Command::new("pebble-challtestsrv").args([
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-management",
                &format!("127.0.0.1:{dns_management}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ]),
            "pebble-challtestsrv",
        ));
        wait_listening(dns_management, "pebble-challtestsrv", &log);
        pebble.processes.push(spawn(
            Command::new("pebble")
                .args(["-config"])
                .arg(path("pebble.json"))
                .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
                // No artificial delays, and a fresh validation for every order (no reuse of
                // an earlier authorization): each renewal is validated on scimd's port.
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_AUTHZREUSE", "0"),
            "pebble",
        ));
        wait_listening(listen, "pebble", &log);
        wait_listening(management, "pebble (management)", &log);
        pebble
    }

    /// The root Pebble issues under (made anew at each start), from its management interface.
    fn root_der(&self) -> Vec<u8> {
        let (_, body) = https_get(self.management, "127.0.0.1", &self.https_ca_der, "/roots/0");
        rustls::pki_types::pem::PemObject::from_pem_slice(body.as_bytes())
            .map(|c: rustls::pki_types::CertificateDer<'static>| c.as_ref().to_vec())
            .expect("a PEM root")
    }

    fn stop(&mut self) {
        for p in &mut self.processes {
            let _ = p.kill();
            let _ = p.wait();
        }
        self.processes.clear();
    }
}

fn client_config(trusted: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(trusted.to_vec()))
        .expect("trust the root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A verified TLS connection to `name` on `port` (trusting `trusted` alone), handshake done.
fn connect(port: u16, name: &str, trusted: &[u8]) -> Result<Tls, String> {
    let server_name =
        rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(client_config(trusted), server_name)
        .map_err(|e| e.to_string())?;
    let sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| e.to_string())?;
    }
    Ok(tls)
}

fn leaf(tls: &Tls) -> Vec<u8> {
    tls.conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .expect("a peer certificate")
}

/// Reads one HTTP/1.1 response with a Content-Length body off a kept-alive connection.
fn read_response(tls: &mut Tls) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tls.read(&mut byte).expect("read the head");
        assert_eq!(n, 1, "the connection closed mid-head");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    tls.read_exact(&mut body).expect("read the body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get(tls: &mut Tls, host: &str, path: &str) -> (u16, String) {
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .expect("send");
    tls.flush().expect("flush");
    read_response(tls)
}

/// One request on a connection of its own: the peer's certificate and the response body.
fn https_get(port: u16, name: &str, trusted: &[u8], path: &str) -> (Vec<u8>, String) {
    let mut tls = connect(port, name, trusted).expect("TLS");
    let (status, body) = get(&mut tls, name, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    (leaf(&tls), body)
}

/// Waits until a verified handshake with scimd succeeds with a certificate other than
/// `not`, and returns it.
fn served_other_than(port: u16, root: &[u8], not: Option<&[u8]>, server: &Server) -> Vec<u8> {
    let deadline = Instant::now() + STEP;
    loop {
        let last = match connect(port, DOMAIN, root) {
            Ok(tls) if Some(leaf(&tls).as_slice()) != not => return leaf(&tls),
            Ok(_) => "the same certificate".to_owned(),
            Err(e) => e,
        };
        assert!(
            Instant::now() < deadline,
            "no new certificate served within {STEP:?} (last: {last}); scimd:\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_certificate_is_issued_renewed_while_serving_and_kept_while_renewal_fails() {
    let dir = TempDir::new("acme");
    let data = dir.path().join("data");
    let port = free_port();
    let mut pebble = Pebble::start(&dir, port);
    let root = pebble.root_der();
    let sink = SmtpSink::start();
    let listen = format!("127.0.0.1:{port}");
    let args = |data: &Path| -> Vec<String> {
        [
            "--listen",
            &listen,
            "--data-dir",
            data.to_str().expect("path"),
            "--acme-domain",
            DOMAIN,
            "--acme-email",
            OPERATOR,
            "--acme-directory",
            &pebble.directory,
            "--acme-directory-ca",
            pebble.https_ca.to_str().expect("path"),
            "--acme-renew-before",
            RENEW_BEFORE,
            "--smtp-url",
            &sink.url,
            // The kept-alive connection below outlives a renewal.
            "--header-timeout-secs",
            "60",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let owned = args(&data);
    let argv: Vec<&str> = owned.iter().map(String::as_str).collect();
    let db = TestDatabase::sqlite();
    let server = Server::start_on_with(db.clone(), &argv);

    // Issued: a handshake for the domain verifies against Pebble's root.
    let first = served_other_than(port, &root, None, &server);
    let acme = data.join("acme");
    assert_eq!(mode(&acme), 0o700);
    for f in ["account.json", "certificate.pem", "certificate.key"] {
        assert_eq!(mode(&acme.join(f)), 0o600, "{f}");
    }

    // A connection opened now stays open across the renewal.
    let mut kept = connect(port, DOMAIN, &root).expect("connect");
    assert_eq!(leaf(&kept), first);
    assert_eq!(get(&mut kept, DOMAIN, "/healthz").0, 200);

    // Renewed without a restart: new handshakes get the new certificate...
    served_other_than(port, &root, Some(&first), &server);
    // ...and the open connection is served still, on its first certificate.
    assert_eq!(get(&mut kept, DOMAIN, "/healthz").0, 200);
    assert_eq!(leaf(&kept), first);
    drop(kept);

    // The authority goes away. A restart serves the stored certificate at once, with no
    // authority to ask.
    pebble.stop();
    let (before_restart, _) = https_get(port, DOMAIN, &root, "/healthz");
    assert_ne!(before_restart, first);
    drop(server);
    let server = Server::start_on_with(db, &argv);
    let (after_restart, _) = https_get(port, DOMAIN, &root, "/healthz");
    assert_eq!(after_restart, before_restart);
    assert!(
        server
            .log_tail()
            .contains("serving the stored ACME certificate"),
        "{}",
        server.log_tail()
    );

    // Its renewals fail: the current certificate is served meanwhile, and the failures are
    // counted.
    let deadline = Instant::now() + STEP;
    loop {
        let (cert, text) = https_get(port, DOMAIN, &root, "/metrics");
        assert_eq!(cert, before_restart);
        if metric(&text, "scimd_acme_renewals_total{result=\"failed\"}") >= 1.0 {
            assert!(
                metric(&text, "scimd_tls_certificate_expiry_timestamp_seconds") > 0.0,
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed renewal counted; scimd:\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(server.log_tail().contains("ACME renewal failed"));

    // Late enough, the operator is told.
    let mail = sink.wait_for("is not renewed");
    assert!(mail.to.iter().any(|t| t == OPERATOR), "{:?}", mail.to);
    assert!(mail.data.contains(DOMAIN), "{}", mail.data);
    assert_eq!(https_get(port, DOMAIN, &root, "/healthz").0, before_restart);
}
