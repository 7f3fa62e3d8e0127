//! `Verifier::check_txt` against a real authoritative DNS server (hickory-server, in-memory zone)
//! on loopback, over UDP and TCP. One server per test, on ports the OS picks.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dns_verify::{Outcome, Verifier, VerifyError, txt_value};
use hickory_server::Server;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

const EXPECTED: &str = "scimd-domain-verification=Zm9vYmFyYmF6cXV4";
const ZONE: &str = "example.test.";

/// Every lookup in these tests must finish well within this; the resolver's own timeout is 3 s.
const BOUND: Duration = Duration::from_secs(10);

type Zone = InMemoryZoneHandler<TokioRuntimeProvider>;

/// Answers from the in-memory zone, except SERVFAIL for one name: a broken delegation, as seen
/// from a resolver.
struct TestDns {
    catalog: Catalog,
    servfail: LowerName,
}

#[async_trait::async_trait]
impl RequestHandler for TestDns {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self, request: &Request, mut response_handle: R,
    ) -> ResponseInfo {
        let fails = request
            .request_info()
            .is_ok_and(|info| *info.query.name() == self.servfail);
        if !fails {
            return self
                .catalog
                .handle_request::<R, T>(request, response_handle)
                .await;
        }
        let response = MessageResponseBuilder::from_message_request(request)
            .error_msg(&request.metadata, ResponseCode::ServFail);
        response_handle
            .send_response(response)
            .await
            .expect("the SERVFAIL answer is sent")
    }
}

fn name(s: &str) -> Name {
    Name::from_str(s).expect("a valid test name")
}

fn txt(owner: &str, strings: &[&str]) -> Record {
    let strings = strings.iter().map(|s| (*s).to_owned()).collect();
    Record::from_rdata(name(owner), 300, RData::TXT(TXT::new(strings)))
}

/// A running server and the zone it serves, which tests may change while it runs.
struct Fixture {
    addr: SocketAddr,
    zone: Arc<Zone>,
    server: Server<TestDns>,
}

impl Fixture {
    async fn start() -> Fixture {
        let origin = name(ZONE);
        let mut zone = Zone::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            name("ns.example.test."),
            name("hostmaster.example.test."),
            1,
            3600,
            600,
            86400,
            // Negative TTL of an hour: long enough that a cached NXDOMAIN would show.
            3600,
        );
        let records = [
            Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)),
            txt("verified.example.test.", &["v=spf1 -all"]),
            txt("verified.example.test.", &[EXPECTED]),
            // The same value split into three character-strings, as some DNS panels publish it.
            txt(
                "split.example.test.",
                &["scimd-domain-", "verification=Zm9vYmFy", "YmF6cXV4"],
            ),
            txt(
                "other.example.test.",
                &["v=spf1 include:_spf.example.net -all"],
            ),
            txt(
                "other.example.test.",
                &["scimd-domain-verification=Zm9vYmFyYmF6cXV5"],
            ),
            // A name with an address but no TXT records (NOERROR, empty answer).
            Record::from_rdata(
                name("notxt.example.test."),
                300,
                RData::A(Ipv4Addr::new(192, 0, 2, 1).into()),
            ),
            // Exists in the zone, so the SERVFAIL is the handler's doing, not a missing name.
            txt("broken.example.test.", &[EXPECTED]),
        ];
        for record in records {
            assert!(zone.upsert_mut(record, 1), "record added to the zone");
        }
        let zone = Arc::new(zone);

        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin), vec![zone.clone()]);
        let mut server = Server::new(TestDns {
            catalog,
            servfail: LowerName::new(&name("broken.example.test.")),
        });

        // UDP and TCP on the same port, as a name server is reached. The port the system
        // picks for UDP may be taken for TCP (by any client's outgoing connection): then try
        // another.
        let mut attempts = 0;
        let (udp, tcp, addr) = loop {
            let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("bind UDP on loopback");
            let addr = udp.local_addr().expect("UDP address");
            match TcpListener::bind(addr).await {
                Ok(tcp) => break (udp, tcp, addr),
                Err(e) => {
                    attempts += 1;
                    assert!(attempts < 50, "no port free for UDP and TCP alike: {e}");
                }
            }
        };
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);

        Fixture { addr, zone, server }
    }

    fn verifier(&self) -> Verifier {
        Verifier::with_servers(&[self.addr]).expect("a resolver for the test server")
    }

    async fn stop(mut self) {
        self.server
            .shutdown_gracefully()
            .await
            .expect("the test server stops cleanly");
    }
}

async fn check(verifier: &Verifier, domain: &str) -> Result<Outcome, VerifyError> {
    tokio::time::timeout(BOUND, verifier.check_txt(domain, EXPECTED))
        .await
        .expect("the lookup finishes in time")
}

#[tokio::test]
async fn record_with_expected_value_verifies() {
    let dns = Fixture::start().await;
    let outcome = check(&dns.verifier(), "verified.example.test").await;
    assert_eq!(outcome.expect("lookup succeeds"), Outcome::Verified);
    dns.stop().await;
}

#[tokio::test]
async fn domain_is_normalised_before_lookup() {
    let dns = Fixture::start().await;
    let outcome = check(&dns.verifier(), "  Verified.Example.TEST. ").await;
    assert_eq!(outcome.expect("lookup succeeds"), Outcome::Verified);
    dns.stop().await;
}

#[tokio::test]
async fn record_split_into_character_strings_is_joined_before_comparing() {
    let dns = Fixture::start().await;
    let outcome = check(&dns.verifier(), "split.example.test").await;
    assert_eq!(outcome.expect("lookup succeeds"), Outcome::Verified);
    dns.stop().await;
}

#[tokio::test]
async fn only_other_values_is_not_found_and_reports_them() {
    let dns = Fixture::start().await;
    let outcome = check(&dns.verifier(), "other.example.test").await;
    let Outcome::NotFound { mut seen } = outcome.expect("lookup succeeds") else {
        panic!("a near-miss value must not verify");
    };
    // Record order within an RRset is not guaranteed.
    seen.sort();
    assert_eq!(
        seen,
        [
            "scimd-domain-verification=Zm9vYmFyYmF6cXV5",
            "v=spf1 include:_spf.example.net -all",
        ]
    );
    dns.stop().await;
}

#[tokio::test]
async fn name_without_txt_records_is_not_found() {
    let dns = Fixture::start().await;
    let outcome = check(&dns.verifier(), "notxt.example.test").await;
    assert_eq!(
        outcome.expect("lookup succeeds"),
        Outcome::NotFound { seen: vec![] }
    );
    dns.stop().await;
}

#[tokio::test]
async fn nonexistent_name_is_not_found() {
    let dns = Fixture::start().await;
    let outcome = check(&dns.verifier(), "nxdomain.example.test").await;
    assert_eq!(
        outcome.expect("lookup succeeds"),
        Outcome::NotFound { seen: vec![] }
    );
    dns.stop().await;
}

#[tokio::test]
async fn record_published_after_a_failed_check_is_seen_on_the_next_check() {
    let dns = Fixture::start().await;
    let verifier = dns.verifier();
    let domain = "later.example.test";
    assert_eq!(
        check(&verifier, domain).await.expect("lookup succeeds"),
        Outcome::NotFound { seen: vec![] },
        "nothing published yet"
    );

    assert!(
        dns.zone
            .upsert(txt("later.example.test.", &[EXPECTED]), 2)
            .await,
        "record published"
    );
    assert_eq!(
        check(&verifier, domain).await.expect("lookup succeeds"),
        Outcome::Verified,
        "the NXDOMAIN (negative TTL one hour) was not cached"
    );
    dns.stop().await;
}

#[tokio::test]
async fn servfail_is_an_error_not_a_missing_record() {
    let dns = Fixture::start().await;
    let started = Instant::now();
    let outcome = check(&dns.verifier(), "broken.example.test").await;
    match outcome {
        Err(VerifyError::ServerAnswered { domain, code }) => {
            assert_eq!(domain, "broken.example.test");
            assert_eq!(code, "SERVFAIL");
        }
        other => panic!("expected a SERVFAIL error, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "SERVFAIL is not waited out"
    );
    dns.stop().await;
}

#[tokio::test]
async fn silent_name_server_is_a_timeout_not_a_missing_record() {
    // A UDP socket that receives queries and never answers. (Where nothing listens at all, the
    // ICMP "port unreachable" does not reach the resolver's unconnected socket either, so that
    // too ends in a timeout.) Two tries of 3 s: this test takes about 6 s.
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind UDP on loopback");
    let addr = silent.local_addr().expect("UDP address");
    let verifier = Verifier::with_servers(&[addr]).expect("a resolver");
    match check(&verifier, "verified.example.test").await {
        Err(VerifyError::Timeout { domain }) => assert_eq!(domain, "verified.example.test"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    drop(silent);
}

#[tokio::test]
async fn invalid_domain_is_rejected_before_any_lookup() {
    let verifier = Verifier::with_servers(&[(Ipv4Addr::LOCALHOST, 9).into()]).expect("a resolver");
    let outcome = check(&verifier, "http://example.test/").await;
    assert!(
        matches!(outcome, Err(VerifyError::InvalidDomain { .. })),
        "got {outcome:?}"
    );
}

#[test]
fn no_name_servers_is_a_configuration_error() {
    assert!(matches!(
        Verifier::with_servers(&[]),
        Err(VerifyError::Config(_))
    ));
}

#[test]
fn published_value_is_what_verification_expects() {
    assert_eq!(txt_value("Zm9vYmFyYmF6cXV4"), EXPECTED);
}

#[test]
fn system_configuration_builds_a_verifier() {
    // Reads /etc/resolv.conf (or the platform's equivalent) without sending any query, and
    // needs no runtime: a server builds its verifier at start-up.
    if let Err(e) = Verifier::system() {
        panic!("the system resolver configuration was not usable: {e}");
    }
}
