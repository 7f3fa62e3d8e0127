//! The HTTP client deliveries go out with, and what keeps it off the operator's own network
//! (docs/contract.md, "Webhooks"): `serve` refuses loopback, private, link-local and
//! cloud-metadata targets unless started with `--allow-private-webhooks`.
//!
//! The check is made on the address the connection is made to, not on the URL's name: the
//! client resolves names through [`GuardedResolver`], which drops every refused address, so a
//! name that resolves (or is re-pointed, DNS rebinding) to `169.254.169.254` is never
//! connected to. A URL whose host is an address literal is not resolved at all, so it is
//! checked here before anything is sent. Redirects are not followed (a receiver could point
//! one anywhere), no proxy is used (it would connect for us, past the check), and every
//! delivery is bounded: 5 s to connect, 15 s in all.

use directory::apps::is_private_address;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A 2xx within this is a delivery; anything slower is a failed attempt.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// Time to establish the connection (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Of the receiver's answer, at most this much is read (the rest is dropped with the
/// connection): the status is what counts, and a receiver cannot make a worker buffer more.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a resolved name was not connected to.
#[derive(Debug)]
struct RefusedAddress {
    host: String,
    addrs: Vec<IpAddr>,
}

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = self.addrs.iter().map(IpAddr::to_string).collect();
        write!(
            f,
            "refused address: {} resolves only to {} (loopback, private, link-local or \
             metadata targets need serve --allow-private-webhooks)",
            self.host,
            list.join(", ")
        )
    }
}

impl std::error::Error for RefusedAddress {}

/// Resolves with the system resolver, then keeps only the addresses deliveries may reach.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    /// The addresses of `addrs` a delivery may connect to.
    fn keep(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, RefusedAddress> {
        if self.allow_private {
            return Ok(addrs);
        }
        let (kept, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
            addrs.into_iter().partition(|a| !is_private_address(a.ip()));
        if kept.is_empty() && !refused.is_empty() {
            return Err(RefusedAddress {
                host: host.to_owned(),
                addrs: refused.iter().map(SocketAddr::ip).collect(),
            });
        }
        Ok(kept)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = *self;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the client puts the URL's port in.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = guard.keep(&host, addrs)?;
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Option<u16>,
    /// Why it is not a delivery (`None` for a 2xx).
    pub error: Option<String>,
    pub latency: Duration,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// The headers of one signed delivery.
#[derive(Debug, Clone)]
pub struct Signed<'a> {
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
}

/// Sends deliveries: one client (its connections kept alive per receiver) for the process.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    /// `allow_private`: `serve --allow-private-webhooks`.
    pub fn new(allow_private: bool) -> Result<Sender, String> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("webhook TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(DELIVERY_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .user_agent(concat!(
                "scimd/",
                env!("CARGO_PKG_VERSION"),
                " (webhooks; +https://www.standardwebhooks.com)"
            ))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(Sender {
            client,
            allow_private,
        })
    }

    /// Whether loopback and private targets are allowed.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// The reason `url` may not be delivered to before anything is sent: not http(s), or a
    /// refused address literal (names are checked as they resolve).
    fn refuse(&self, url: &reqwest::Url) -> Option<String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Some(format!("a webhook URL must be https, not {}", url.scheme()));
        }
        let ip = match url.host()? {
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
            url::Host::Domain(_) => return None,
        };
        (!self.allow_private && is_private_address(ip)).then(|| {
            format!(
                "refused address: {ip} (loopback, private, link-local or metadata targets \
                 need serve --allow-private-webhooks)"
            )
        })
    }

    /// POSTs `body` to `url` with the delivery's headers. Never fails: every way it can go
    /// wrong is an [`Outcome`] with an error.
    pub async fn post(&self, url: &str, signed: &Signed<'_>, body: Vec<u8>) -> Outcome {
        let started = Instant::now();
        let done = |status: Option<u16>, error: Option<String>| Outcome {
            status,
            error,
            latency: started.elapsed(),
        };
        let url = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return done(None, Some(format!("not a URL: {e}"))),
        };
        if let Some(why) = self.refuse(&url) {
            return done(None, Some(why));
        }
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", signed.id)
            .header("webhook-timestamp", signed.timestamp.to_string())
            .header("webhook-signature", signed.signature)
            .body(body);
        // The client's own timeout bounds the whole exchange; this one is only a backstop.
        let exchange = async {
            let mut answer = request.send().await?;
            let status = answer.status();
            let mut read = 0usize;
            while read < MAX_ANSWER_BYTES {
                match answer.chunk().await? {
                    Some(chunk) => read += chunk.len(),
                    None => break,
                }
            }
            Ok::<_, reqwest::Error>(status)
        };
        match tokio::time::timeout(DELIVERY_TIMEOUT + Duration::from_secs(1), exchange).await {
            Err(_) => done(None, Some(timed_out())),
            Ok(Err(e)) => done(e.status().map(|s| s.as_u16()), Some(describe(&e))),
            Ok(Ok(status)) if status.is_success() => done(Some(status.as_u16()), None),
            Ok(Ok(status)) if status.is_redirection() => done(
                Some(status.as_u16()),
                Some(format!(
                    "the receiver answered {status}: redirects are not followed"
                )),
            ),
            Ok(Ok(status)) => done(
                Some(status.as_u16()),
                Some(format!("the receiver answered {status}")),
            ),
        }
    }
}

fn timed_out() -> String {
    format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs())
}

/// What went wrong, in words: a refused address, a timeout, a refused connection...
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<RefusedAddress>() {
            return refused.to_string();
        }
        source = s.source();
    }
    if e.is_timeout() {
        return timed_out();
    }
    // The innermost cause is the one people can act on ("Connection refused", "certificate
    // expired", "failed to lookup address").
    let mut inner: &(dyn std::error::Error + 'static) = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    if e.is_connect() {
        format!("cannot connect: {inner}")
    } else {
        format!("delivery failed: {inner}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().expect("ip"), 443)
    }

    #[test]
    fn the_resolver_drops_refused_addresses_and_refuses_a_name_with_no_other() {
        let guard = GuardedResolver {
            allow_private: false,
        };
        let mixed = vec![sock("10.0.0.1"), sock("93.184.216.34")];
        assert_eq!(
            guard.keep("h.example", mixed.clone()).expect("kept"),
            vec![sock("93.184.216.34")]
        );
        let err = guard
            .keep("metadata.example", vec![sock("169.254.169.254")])
            .expect_err("refused");
        assert!(err.to_string().contains("169.254.169.254"), "{err}");
        let open = GuardedResolver {
            allow_private: true,
        };
        assert_eq!(open.keep("h.example", mixed.clone()).expect("kept"), mixed);
    }

    #[test]
    fn address_literals_are_checked_before_sending() {
        let closed = Sender::new(false).expect("client");
        let open = Sender::new(true).expect("client");
        for u in [
            "http://127.0.0.1:9/hook",
            "http://[::1]:9/",
            "https://169.254.169.254/latest/meta-data",
            "http://[::ffff:10.0.0.1]/",
            "http://0.0.0.0:80/",
        ] {
            let url = reqwest::Url::parse(u).expect("url");
            assert!(closed.refuse(&url).is_some(), "{u}");
            assert!(open.refuse(&url).is_none(), "{u}");
        }
        let public = reqwest::Url::parse("https://93.184.216.34/").expect("url");
        assert!(closed.refuse(&public).is_none());
        let named = reqwest::Url::parse("https://hooks.example.com/").expect("url");
        assert!(
            closed.refuse(&named).is_none(),
            "names are checked as they resolve"
        );
        let ftp = reqwest::Url::parse("ftp://hooks.example.com/").expect("url");
        assert!(open.refuse(&ftp).is_some());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_never_connected_to() {
        // `localhost` resolves to loopback: refused at connection time, nothing is sent.
        let closed = Sender::new(false).expect("client");
        let signed = Signed {
            id: "evt_x",
            timestamp: 0,
            signature: "v1,x",
        };
        let out = closed
            .post("http://localhost:9/hook", &signed, b"{}".to_vec())
            .await;
        let error = out.error.expect("refused");
        assert!(error.starts_with("refused address"), "{error}");
        assert_eq!(out.status, None);
    }
}
