//! # dns-verify
//!
//! Proves that an organisation controls a domain: the administrator publishes a TXT record whose
//! value scimd gave them ([`txt_value`]), and [`Verifier::check_txt`] looks the record up through
//! a real DNS resolver (`hickory-resolver`, configured from the system or given name servers).
//!
//! Guarantees:
//! - domains are normalised once, by [`normalize_domain`], to lower-case ASCII (IDNA) host names
//!   of at least two labels; the lookup always asks for that exact, fully qualified name, so a
//!   resolver search list (`search corp.example` in `/etc/resolv.conf`) can never make
//!   `example.edu` match a record under `example.edu.corp.example`;
//! - nothing is cached: an administrator who publishes the record and presses "check again" gets
//!   a fresh answer, not a remembered NXDOMAIN;
//! - an absent record ([`Outcome::NotFound`]) and a failed lookup ([`VerifyError`]) are distinct,
//!   so callers can say "we did not find the record" only when DNS actually answered.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData};

/// Prefix of the TXT value scimd asks administrators to publish. Naming the product keeps the
/// record recognisable among the SPF and other verification records of the same domain.
pub const TXT_PREFIX: &str = "scimd-domain-verification=";

/// How long one query may take before the next attempt. A person is waiting on the answer, so
/// this is shorter than the usual resolver default of 5 s.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Retries after a failed query (hickory's `attempts` counts retries): two tries in all, so an
/// unreachable name server is reported after about 6 s.
const RETRIES: usize = 1;

/// At most this many non-matching TXT values are reported back in [`Outcome::NotFound`].
const MAX_SEEN: usize = 5;

/// Reported TXT values are cut to this many characters: DKIM keys and the like run to hundreds,
/// and the point is only to let an administrator recognise a typo.
const MAX_SEEN_CHARS: usize = 100;

/// Longest host name in presentation form, without the trailing dot (RFC 1035 §2.3.4: 255
/// octets on the wire).
const MAX_DOMAIN_LEN: usize = 253;

/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Why a domain could not be checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The domain typed by the administrator is not a host name we can look up.
    #[error("`{input}` is not a valid domain: {reason}")]
    InvalidDomain {
        /// What was typed, as given.
        input: String,
        /// What is wrong with it, in words an administrator can act on.
        reason: String,
    },
    /// The resolver could not be set up (unreadable system configuration, no name servers).
    #[error("the DNS resolver could not be configured: {0}")]
    Config(String),
    /// No name server answered in time.
    #[error("DNS lookup of {domain} timed out")]
    Timeout {
        /// The normalised domain that was looked up.
        domain: String,
    },
    /// A name server answered with an error code such as SERVFAIL or REFUSED: the zone may be
    /// broken or unreachable from here, which says nothing about whether the record exists.
    #[error("DNS lookup of {domain} failed: the name server answered {code}")]
    ServerAnswered {
        /// The normalised domain that was looked up.
        domain: String,
        /// The DNS response code mnemonic, e.g. `SERVFAIL`.
        code: String,
    },
    /// Any other lookup failure (network unreachable, connection refused, malformed answer).
    #[error("DNS lookup of {domain} failed: {reason}")]
    Lookup {
        /// The normalised domain that was looked up.
        domain: String,
        /// The resolver's description of the failure.
        reason: String,
    },
}

/// The result of a lookup that DNS answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// One of the domain's TXT records equals the expected value.
    Verified,
    /// No TXT record equals the expected value: the name does not exist, has no TXT records, or
    /// only other values. `seen` holds some of those other values (at most a few, each cut short)
    /// so an administrator can spot a typo; it is empty when there were none.
    NotFound {
        /// TXT values found instead, joined per record, in the order received.
        seen: Vec<String>,
    },
}

/// The TXT record value that proves control of a domain: `scimd-domain-verification=<secret>`.
///
/// The caller generates `secret` (random, unguessable) and stores it with the pending domain.
pub fn txt_value(secret: &str) -> String {
    format!("{TXT_PREFIX}{secret}")
}

/// Looks up TXT records through a DNS resolver.
///
/// Cheap to clone; clones share the resolver's connections.
#[derive(Clone, Debug)]
pub struct Verifier {
    resolver: TokioResolver,
}

impl Verifier {
    /// The system's resolver configuration (`/etc/resolv.conf` on Unix): its name servers and
    /// options, except that a query times out after 3 s, is tried twice, and nothing is cached (see
    /// the crate documentation).
    pub fn system() -> Result<Verifier, VerifyError> {
        let mut builder = TokioResolver::builder_tokio()
            .map_err(|e| VerifyError::Config(format!("reading the system configuration: {e}")))?;
        tune(builder.options_mut());
        let resolver = builder
            .build()
            .map_err(|e| VerifyError::Config(e.to_string()))?;
        Ok(Verifier { resolver })
    }

    /// A resolver that asks only the given name servers, over UDP and (for truncated answers)
    /// TCP, e.g. `127.0.0.1:5353`: for operators with split DNS, and for tests. Same timeout,
    /// tries and (absent) cache as [`Verifier::system`].
    pub fn with_servers(servers: &[SocketAddr]) -> Result<Verifier, VerifyError> {
        if servers.is_empty() {
            return Err(VerifyError::Config("no name servers given".into()));
        }
        let name_servers = servers
            .iter()
            .map(|server| {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                NameServerConfig::new(server.ip(), true, vec![udp, tcp])
            })
            .collect();
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        );
        tune(builder.options_mut());
        let resolver = builder
            .build()
            .map_err(|e| VerifyError::Config(e.to_string()))?;
        Ok(Verifier { resolver })
    }

    /// Looks up the TXT records of `domain` and reports whether one equals `expected` exactly
    /// (byte for byte, case-sensitive).
    ///
    /// `domain` goes through [`normalize_domain`] first. A record made of several
    /// character-strings (values over 255 bytes must be split, RFC 1035 §3.3.14) is compared
    /// after joining them without separators, as RFC 7208 §3.3 does for SPF.
    ///
    /// NXDOMAIN, a name without TXT records and a name with only other TXT values all give
    /// [`Outcome::NotFound`]; timeouts and error answers (SERVFAIL, REFUSED) give a
    /// [`VerifyError`], because they do not show that the record is absent.
    pub async fn check_txt(&self, domain: &str, expected: &str) -> Result<Outcome, VerifyError> {
        let domain = normalize_domain(domain)?;
        // The trailing dot makes the name fully qualified, so no search domain is appended.
        let lookup = match self.resolver.txt_lookup(format!("{domain}.")).await {
            Ok(lookup) => lookup,
            Err(NetError::Dns(DnsError::NoRecordsFound(NoRecords {
                response_code: ResponseCode::NXDomain | ResponseCode::NoError,
                ..
            }))) => {
                return Ok(Outcome::NotFound { seen: Vec::new() });
            }
            Err(e) => return Err(lookup_error(domain, e)),
        };

        let mut seen = Vec::new();
        // Answers may also hold the CNAME records that led to the TXT set; only TXT data counts.
        for record in lookup.answers() {
            let RData::TXT(txt) = &record.data else {
                continue;
            };
            let joined: Vec<u8> = txt
                .txt_data
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect();
            if joined == expected.as_bytes() {
                return Ok(Outcome::Verified);
            }
            if seen.len() < MAX_SEEN {
                seen.push(shorten(&String::from_utf8_lossy(&joined)));
            }
        }
        Ok(Outcome::NotFound { seen })
    }
}

/// Options for an interactive check: short timeout, and no cache, because the typical sequence
/// is "check (not there yet) — publish — check again", and a cached negative answer would hide
/// the new record for the zone's negative TTL (often an hour).
fn tune(opts: &mut ResolverOpts) {
    opts.timeout = QUERY_TIMEOUT;
    opts.attempts = RETRIES;
    opts.cache_size = 0;
    opts.positive_max_ttl = Some(Duration::ZERO);
    opts.negative_max_ttl = Some(Duration::ZERO);
    // The hosts file holds addresses, never TXT records.
    opts.use_hosts_file = ResolveHosts::Never;
}

fn lookup_error(domain: String, error: NetError) -> VerifyError {
    match error {
        NetError::Timeout => VerifyError::Timeout { domain },
        NetError::Dns(DnsError::ResponseCode(code)) => VerifyError::ServerAnswered {
            domain,
            code: response_code_mnemonic(code),
        },
        NetError::Dns(DnsError::NoRecordsFound(NoRecords { response_code, .. })) => {
            VerifyError::ServerAnswered {
                domain,
                code: response_code_mnemonic(response_code),
            }
        }
        other => VerifyError::Lookup {
            domain,
            reason: other.to_string(),
        },
    }
}

/// The conventional upper-case mnemonic (`SERVFAIL`, `REFUSED`), which is what `dig` prints and
/// what an operator will search for.
fn response_code_mnemonic(code: ResponseCode) -> String {
    format!("{code:?}").to_ascii_uppercase()
}

fn shorten(value: &str) -> String {
    match value.char_indices().nth(MAX_SEEN_CHARS) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

/// Normalises a domain as an administrator typed it: trims surrounding space, strips one trailing
/// dot, converts internationalised labels to ASCII (IDNA/punycode, which also lower-cases), and
/// checks that the result is a host name (RFC 1123 §2.1: letters, digits and inner hyphens,
/// labels of 1–63 characters, 253 in all) with at least two labels and a top-level label that is
/// not all digits (so neither `localhost` nor an IP address passes).
///
/// `"  Exämple.EDU. "` becomes `"xn--exmple-cua.edu"`.
pub fn normalize_domain(input: &str) -> Result<String, VerifyError> {
    let invalid = |reason: &str| VerifyError::InvalidDomain {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };

    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    if trimmed.contains("://") {
        return Err(invalid(
            "enter the domain alone, without http:// or https://",
        ));
    }
    if trimmed.contains(['/', '?', '#', '@', ':']) {
        return Err(invalid(
            "enter the domain alone, without a path, port or user name",
        ));
    }
    // Backslash escapes are zone-file syntax, not something a host name can contain.
    if trimmed.contains('\\') {
        return Err(invalid("it contains a backslash"));
    }
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);

    let mut labels = Vec::new();
    for label in trimmed.split('.') {
        if label.is_empty() {
            return Err(invalid(
                "it has an empty label (a leading dot, or two dots in a row)",
            ));
        }
        labels.push(ascii_label(label).map_err(|reason| invalid(&reason))?);
    }
    if labels.len() < 2 {
        return Err(invalid(
            "a domain needs at least two labels, such as example.edu",
        ));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(
            "the last label must not be all digits (an IP address is not a domain)",
        ));
    }
    let domain = labels.join(".");
    if domain.len() > MAX_DOMAIN_LEN {
        return Err(invalid(&format!(
            "it is longer than {MAX_DOMAIN_LEN} characters"
        )));
    }
    Ok(domain)
}

/// One label in lower-case ASCII, or why it is not a host name label.
fn ascii_label(label: &str) -> Result<String, String> {
    // UTS #46 processing (mapping, lower-casing, punycode) as hickory applies it to names; it
    // also rejects `xn--` labels that are not valid punycode. Plain ASCII labels skip it so that
    // the checks below, with their clearer messages, see them first.
    let idna = || {
        Name::from_utf8(label)
            .map(|name| name.to_ascii())
            .map_err(|_| format!("the label `{label}` is not a valid internationalised label"))
    };
    let ascii = if label.is_ascii() {
        label.to_ascii_lowercase()
    } else {
        idna()?
    };
    if ascii.len() > MAX_LABEL_LEN {
        return Err(format!(
            "the label `{label}` is longer than {MAX_LABEL_LEN} characters"
        ));
    }
    if let Some(bad) = ascii
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "the label `{label}` contains `{bad}`; only letters, digits and hyphens are allowed"
        ));
    }
    if ascii.starts_with('-') || ascii.ends_with('-') {
        return Err(format!("the label `{label}` starts or ends with a hyphen"));
    }
    if ascii.starts_with("xn--") {
        idna()?;
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(input: &str) -> String {
        match normalize_domain(input) {
            Ok(domain) => domain,
            Err(e) => panic!("{input:?} was rejected: {e}"),
        }
    }

    fn rejection(input: &str) -> String {
        match normalize_domain(input) {
            Ok(domain) => panic!("{input:?} was accepted as {domain:?}"),
            Err(VerifyError::InvalidDomain {
                input: echoed,
                reason,
            }) => {
                assert_eq!(echoed, input, "the error names what was typed");
                reason
            }
            Err(other) => panic!("{input:?} gave a non-domain error: {other}"),
        }
    }

    #[test]
    fn normalize_trims_lowercases_and_strips_one_trailing_dot() {
        assert_eq!(normalized("  Example.EDU. \n"), "example.edu");
        assert_eq!(normalized("sub.example.co.uk"), "sub.example.co.uk");
        assert_eq!(normalized("a-b.x1.io"), "a-b.x1.io");
    }

    #[test]
    fn normalize_converts_idn_to_punycode() {
        assert_eq!(normalized("Bücher.example"), "xn--bcher-kva.example");
        assert_eq!(normalized("例え.jp"), "xn--r8jz45g.jp");
        // Already-encoded labels pass through unchanged.
        assert_eq!(normalized("xn--bcher-kva.example"), "xn--bcher-kva.example");
    }

    #[test]
    fn normalize_rejects_single_labels() {
        assert!(rejection("localhost").contains("at least two labels"));
        assert!(rejection("localhost.").contains("at least two labels"));
        assert!(rejection("com").contains("at least two labels"));
    }

    #[test]
    fn normalize_rejects_empty_labels_and_extra_dots() {
        assert!(rejection("a..b").contains("empty label"));
        assert!(rejection(".example.com").contains("empty label"));
        assert!(rejection("example.com..").contains("empty label"));
        assert!(rejection("   ").contains("empty"));
    }

    #[test]
    fn normalize_rejects_hyphens_at_label_edges() {
        assert!(rejection("-x.com").contains("hyphen"));
        assert!(rejection("x-.com").contains("hyphen"));
        assert!(rejection("x.-com").contains("hyphen"));
    }

    #[test]
    fn normalize_rejects_urls_paths_and_ports() {
        assert!(rejection("http://x.com").contains("http://"));
        assert!(rejection("https://x.com/").contains("http://"));
        assert!(rejection("x.com/path").contains("path"));
        assert!(rejection("x.com:443").contains("port"));
        assert!(rejection("admin@x.com").contains("user name"));
    }

    #[test]
    fn normalize_rejects_characters_outside_host_names() {
        assert!(rejection("ex ample.com").contains("` `"));
        assert!(rejection("_dmarc.example.com").contains("`_`"));
        assert!(rejection("*.example.com").contains("`*`"));
        assert!(rejection("exa\\mple.com").contains("backslash"));
        assert!(rejection("xn--a.example").contains("internationalised"));
    }

    #[test]
    fn normalize_rejects_ip_addresses() {
        assert!(rejection("192.0.2.1").contains("all digits"));
    }

    #[test]
    fn normalize_enforces_label_and_name_length() {
        let label63 = "a".repeat(63);
        assert_eq!(
            normalized(&format!("{label63}.com")),
            format!("{label63}.com")
        );
        assert!(rejection(&format!("{}.com", "a".repeat(64))).contains("longer than 63"));

        // Four labels of 63 plus three dots: 255 characters.
        let too_long = [label63.as_str(); 4].join(".");
        assert!(rejection(&too_long).contains("longer than 253"));
        // 253 characters exactly is the longest accepted.
        let longest = format!("{}.{}.{}.{}", label63, label63, label63, "a".repeat(61));
        assert_eq!(longest.len(), 253);
        assert_eq!(normalized(&longest), longest);
        assert!(rejection(&format!("{longest}a")).contains("longer than 253"));
    }

    #[test]
    fn txt_value_prefixes_the_secret() {
        assert_eq!(txt_value("s3cr3t"), "scimd-domain-verification=s3cr3t");
    }

    #[test]
    fn shorten_cuts_long_values_on_a_character_boundary() {
        let long = "é".repeat(150);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), MAX_SEEN_CHARS + 1);
        assert!(short.ends_with('…'));
        assert_eq!(shorten("short"), "short");
    }
}
