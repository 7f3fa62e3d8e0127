//! Domain verification over real DNS: the `dns-verify` resolver behind the directory's
//! [`TxtLookup`] port. What a new domain is (its name, its TXT value) is the directory's rule
//! (`Directory::add_domain`).

use async_trait::async_trait;
use directory::accounts::{TxtLookup, TxtOutcome};
use dns_verify::{Outcome, Verifier};

/// The resolver the server verifies domains with: the system's configuration, or the given
/// name servers (`--dns-server`).
#[derive(Debug, Clone)]
pub struct Dns(pub Verifier);

#[async_trait]
impl TxtLookup for Dns {
    async fn lookup(&self, domain: &str, value: &str) -> Result<TxtOutcome, String> {
        match self.0.check_txt(domain, value).await {
            Ok(Outcome::Verified) => Ok(TxtOutcome::Found),
            Ok(Outcome::NotFound { seen }) => Ok(TxtOutcome::Missing { seen }),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Builds the resolver: `servers` when given, else the system's.
pub fn resolver(servers: &[std::net::SocketAddr]) -> Result<Dns, String> {
    let v = if servers.is_empty() {
        Verifier::system()
    } else {
        Verifier::with_servers(servers)
    };
    v.map(Dns).map_err(|e| e.to_string())
}
