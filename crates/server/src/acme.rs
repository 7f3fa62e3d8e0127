//! Automatic certificates from an ACME certificate authority (RFC 8555): Let's Encrypt by
//! default, or any ACME directory. The domain is validated by TLS-ALPN-01 (RFC 8737) on the
//! server's own listening port: while an order is open, a handshake that offers `acme-tls/1`
//! for the domain gets a self-signed certificate carrying the key authorization's digest
//! (`crate::tls::CertStore`), and every other handshake gets the current certificate.
//!
//! The account key and the certificate live in the state folder, private to the process's
//! user (0600, the folder 0700), so a restart serves the stored certificate at once and keeps
//! its account. A certificate is renewed when [`AcmeConfig::renew_before`] of its lifetime is
//! left (a third of it by default: 30 days of a 90-day certificate), into the same store:
//! new handshakes get the new one, open connections are untouched. While renewing fails the
//! old certificate is served, each failure is logged and counted, and once the renewal is
//! [`LATE_MAIL_AFTER`] late (or half-way through a shorter renewal window) the operator gets
//! one e-mail about it.

use crate::tls::{CertStore, Tls};
use directory::notify::{Mail, Mailer};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, HttpClient, Identifier,
    NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Let's Encrypt's production directory, the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// How late a renewal may be before the operator is mailed about it.
pub const LATE_MAIL_AFTER: Duration = Duration::from_secs(14 * 24 * 3600);

/// The longest wait between two failed renewals, and between two looks at the clock while
/// waiting for a renewal (a clock set forward is noticed within it).
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// How long the authority may take to validate or to issue, per order.
const ORDER_TIMEOUT: Duration = Duration::from_secs(90);

const ACCOUNT_FILE: &str = "account.json";
const CERT_FILE: &str = "certificate.pem";
const KEY_FILE: &str = "certificate.key";

/// What `serve --acme-*` asks for.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The names the certificate is for (the first is its subject).
    pub domains: Vec<String>,
    /// The operator's address: the account's contact, and where a late renewal is reported.
    pub email: Option<String>,
    /// The ACME directory URL.
    pub directory: String,
    /// PEM certificates to trust for the directory's HTTPS instead of the system's roots (a
    /// private or test authority).
    pub directory_ca: Option<PathBuf>,
    /// The folder that keeps the account and the certificate.
    pub state_dir: PathBuf,
    /// Renew when this much of the certificate's lifetime is left; unset, or not shorter than
    /// the lifetime: a third of the lifetime.
    pub renew_before: Option<Duration>,
}

/// What is known of the certificate being served.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    not_before: SystemTime,
    not_after: SystemTime,
    names: Vec<String>,
}

impl Held {
    fn lifetime(&self) -> Duration {
        self.not_after
            .duration_since(self.not_before)
            .unwrap_or_default()
    }

    fn covers(&self, domains: &[String]) -> bool {
        domains
            .iter()
            .all(|d| self.names.iter().any(|n| n.eq_ignore_ascii_case(d)))
    }
}

/// The renewal window of a certificate of `lifetime`: how much of it is left when it is
/// renewed.
fn renewal_window(lifetime: Duration, renew_before: Option<Duration>) -> Duration {
    match renew_before {
        Some(before) if before < lifetime => before,
        _ => lifetime / 3,
    }
}

/// How late a renewal may be before the operator hears of it: [`LATE_MAIL_AFTER`], or half
/// the window when the window is shorter than twice that (short-lived certificates).
fn late_after(window: Duration) -> Duration {
    LATE_MAIL_AFTER.min(window / 2)
}

/// The wait after a failed renewal: an eighth of the window (several tries before it is late),
/// at least a second, at most [`MAX_WAIT`]. Without a certificate: 5 s doubling to 10 min.
fn retry_wait(window: Option<Duration>, failures: u32) -> Duration {
    match window {
        Some(w) => (w / 8).clamp(Duration::from_secs(1), MAX_WAIT),
        None => Duration::from_secs(5)
            .saturating_mul(1 << failures.saturating_sub(1).min(7))
            .min(Duration::from_secs(600)),
    }
}

/// A time for logs and mail: RFC 3339, UTC.
fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// An error with its causes, for the log (the HTTP client's errors say little at the top).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn acme_err(what: &str) -> impl FnOnce(instant_acme::Error) -> String + '_ {
    move |e| format!("{what}: {}", chain(&e))
}

/// A name TLS-ALPN-01 can validate: a DNS name, not an IP address and not a wildcard (RFC
/// 8737, section 3: the validation connects to the name itself).
fn check_domain(d: &str) -> Result<(), String> {
    if d.starts_with("*.") {
        return Err(format!(
            "'{d}': a wildcard name cannot be validated by TLS-ALPN-01; name each host"
        ));
    }
    if d.parse::<std::net::IpAddr>().is_ok() || !d.contains('.') {
        return Err(format!("'{d}' is not a public DNS name"));
    }
    rustls::pki_types::DnsName::try_from(d)
        .map(|_| ())
        .map_err(|_| format!("'{d}' is not a DNS name"))
}

/// The validity and names of the first certificate of a PEM chain.
fn inspect(chain_pem: &[u8]) -> Result<Held, String> {
    let leaf = CertificateDer::pem_slice_iter(chain_pem)
        .next()
        .ok_or("no certificate in the chain")?
        .map_err(|e| format!("reading the certificate: {e}"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| format!("parsing the certificate: {e}"))?;
    let at = |ts: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(ts).unwrap_or(0));
    let validity = cert.validity();
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(n) = name {
                names.push((*n).to_owned());
            }
        }
    }
    Ok(Held {
        not_before: at(validity.not_before.timestamp()),
        not_after: at(validity.not_after.timestamp()),
        names,
    })
}

/// Writes `bytes` to `path` readable by this user alone, replacing it in one step (a crash
/// leaves the old file or the new one, never half of one).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The account as stored: the directory it belongs to, and its key and URL.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// The HTTPS client for the directory: the system's roots, or the given CA file's.
fn http_client(ca: Option<&Path>) -> Result<Option<Box<dyn HttpClient>>, String> {
    let Some(ca) = ca else { return Ok(None) };
    let mut roots = rustls::RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("reading {}: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: not a CA certificate: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no certificate", ca.display()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    Ok(Some(Box::new(client)))
}

/// The TLS-ALPN-01 answer for `domain`: a self-signed certificate for it alone, with the
/// critical acmeIdentifier extension holding the key authorization's SHA-256 digest (RFC
/// 8737, section 3).
fn challenge_certificate(domain: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let mut params =
        rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(|e| e.to_string())?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    // Not `CertifiedKey::from_der`: its consistency check parses the certificate with webpki,
    // which refuses the critical extension it does not know; the key is the one just made.
    let signer = rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            key.serialize_der(),
        )))
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    )))
}

/// Takes the challenge certificates away when an order ends, however it ends.
struct Challenges<'a> {
    store: &'a CertStore,
    domains: Vec<String>,
}

impl Drop for Challenges<'_> {
    fn drop(&mut self) {
        for d in &self.domains {
            self.store.clear_challenge(d);
        }
    }
}

/// The certificate manager of one listener.
pub struct Acme {
    config: AcmeConfig,
    store: Arc<CertStore>,
    mailer: Option<Arc<dyn Mailer>>,
    held: Option<Held>,
    account: Option<Account>,
}

impl std::fmt::Debug for Acme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acme")
            .field("domains", &self.config.domains)
            .field("held", &self.held)
            .finish()
    }
}

impl Acme {
    /// Makes the state folder and loads the certificate kept there, when it is for the
    /// configured names; the listener's TLS serves whatever the manager holds.
    pub fn prepare(config: AcmeConfig) -> Result<(Acme, Tls), String> {
        if config.domains.is_empty() {
            return Err("no domain to get a certificate for".to_owned());
        }
        for d in &config.domains {
            check_domain(d)?;
        }
        if let Some(e) = &config.email
            && !e.contains('@')
        {
            return Err(format!("--acme-email '{e}' is not an e-mail address"));
        }
        // The directory's HTTPS client (hyper-rustls) asks rustls for the process's provider.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // The CA file is read now: a wrong path stops the start, not the first renewal.
        http_client(config.directory_ca.as_deref())?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.state_dir)
            .map_err(|e| format!("creating {}: {e}", config.state_dir.display()))?;
        let _ = std::fs::set_permissions(&config.state_dir, std::fs::Permissions::from_mode(0o700));
        let store = Arc::new(CertStore::default());
        let tls = Tls::acme(store.clone())?;
        let mut acme = Acme {
            config,
            store,
            mailer: None,
            held: None,
            account: None,
        };
        match acme.load_stored() {
            Ok(Some(held)) => {
                tracing::info!(
                    names = ?held.names,
                    expires = %rfc3339(held.not_after),
                    "serving the stored ACME certificate"
                );
                acme.held = Some(held);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the stored certificate is not used; ordering a new one")
            }
        }
        Ok((acme, tls))
    }

    /// Mails late renewals to the operator through `mailer`.
    pub fn with_mailer(mut self, mailer: Option<Arc<dyn Mailer>>) -> Self {
        self.mailer = mailer;
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.config.state_dir.join(name)
    }

    fn load_stored(&self) -> Result<Option<Held>, String> {
        let (cert_path, key_path) = (self.path(CERT_FILE), self.path(KEY_FILE));
        if !cert_path.exists() {
            return Ok(None);
        }
        let chain = std::fs::read(&cert_path).map_err(|e| e.to_string())?;
        let key = std::fs::read(&key_path).map_err(|e| e.to_string())?;
        let held = inspect(&chain)?;
        if !held.covers(&self.config.domains) {
            return Err(format!(
                "it is for {:?}, not {:?}",
                held.names, self.config.domains
            ));
        }
        if held.not_after <= SystemTime::now() {
            return Err("it has expired".to_owned());
        }
        self.store.set(crate::tls::certified_key(&chain, &key)?);
        Ok(Some(held))
    }

    /// Renews for ever (the task ends with the process). Call it once the metrics recorder
    /// is installed (`AppState::new`) and the listener is bound.
    pub fn start(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) {
        // Here rather than at `prepare`: the metrics recorder exists by now.
        if let Some(held) = &self.held {
            metrics::gauge!("scimd_tls_certificate_expiry_timestamp_seconds")
                .set(unix(held.not_after));
        }
        let mut failures = 0u32;
        // The renewal (by its due time) the operator was mailed about.
        let mut mailed_for: Option<SystemTime> = None;
        loop {
            let now = SystemTime::now();
            let window = self
                .held
                .as_ref()
                .map(|h| renewal_window(h.lifetime(), self.config.renew_before));
            let due = match (&self.held, window) {
                (Some(h), Some(w)) => h.not_after.checked_sub(w).unwrap_or(h.not_before),
                _ => now,
            };
            if let Ok(wait) = due.duration_since(now)
                && !wait.is_zero()
            {
                metrics::gauge!("scimd_acme_renewal_overdue_seconds").set(0.0);
                tokio::time::sleep(wait.min(MAX_WAIT)).await;
                continue;
            }
            match self.renew().await {
                Ok(held) => {
                    failures = 0;
                    mailed_for = None;
                    tracing::info!(
                        names = ?held.names,
                        expires = %rfc3339(held.not_after),
                        "ACME certificate issued and now served"
                    );
                    metrics::counter!("scimd_acme_renewals_total", "result" => "issued")
                        .increment(1);
                    metrics::gauge!("scimd_acme_last_issued_timestamp_seconds").set(unix(now));
                    metrics::gauge!("scimd_tls_certificate_expiry_timestamp_seconds")
                        .set(unix(held.not_after));
                    metrics::gauge!("scimd_acme_renewal_overdue_seconds").set(0.0);
                    self.held = Some(held);
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let late = SystemTime::now().duration_since(due).unwrap_or_default();
                    metrics::counter!("scimd_acme_renewals_total", "result" => "failed")
                        .increment(1);
                    metrics::gauge!("scimd_acme_renewal_overdue_seconds").set(late.as_secs_f64());
                    let wait = retry_wait(window, failures);
                    match &self.held {
                        Some(_) => tracing::error!(
                            error = %e,
                            failures,
                            late_secs = late.as_secs(),
                            retry_in_secs = wait.as_secs(),
                            "ACME renewal failed; the current certificate is still served"
                        ),
                        None => tracing::error!(
                            error = %e,
                            failures,
                            retry_in_secs = wait.as_secs(),
                            "ACME certificate order failed; HTTPS handshakes fail until one is issued"
                        ),
                    }
                    if let (Some(held), Some(window)) = (&self.held, window)
                        && late >= late_after(window)
                        && mailed_for != Some(due)
                    {
                        mailed_for = Some(due);
                        self.mail_late(held, late, &e).await;
                    }
                    self.account = None;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn mail_late(&self, held: &Held, late: Duration, error: &str) {
        let Some(to) = self.config.email.clone() else {
            tracing::error!("the renewal is late and no --acme-email is set to tell");
            return;
        };
        let Some(mailer) = &self.mailer else {
            tracing::error!("the renewal is late and SMTP is not configured to tell {to}");
            return;
        };
        let expires = rfc3339(held.not_after);
        let mail = Mail {
            to: vec![to.clone()],
            subject: format!(
                "scimd: the TLS certificate for {} is not renewed",
                self.config.domains.join(", ")
            ),
            body: format!(
                "scimd could not renew its certificate for {names} from {dir}.\n\
                 The renewal is {days} days late; the certificate in use expires at {expires}.\n\
                 scimd keeps trying and keeps serving the current certificate until then.\n\n\
                 Last error: {error}\n",
                names = self.config.domains.join(", "),
                dir = self.config.directory,
                days = late.as_secs() / 86_400,
            ),
        };
        match mailer.send(&mail).await {
            Ok(()) => tracing::warn!(%to, "told the operator the renewal is late"),
            Err(e) => {
                tracing::error!(%to, error = %e, "cannot mail the operator about the late renewal")
            }
        }
    }

    /// The account, from the state folder or newly registered.
    async fn account(&mut self) -> Result<Account, String> {
        if let Some(a) = &self.account {
            return Ok(a.clone());
        }
        let builder = || -> Result<instant_acme::AccountBuilder, String> {
            match http_client(self.config.directory_ca.as_deref())? {
                Some(http) => Ok(Account::builder_with_http(http)),
                None => Account::builder().map_err(acme_err("the HTTPS client")),
            }
        };
        let path = self.path(ACCOUNT_FILE);
        let stored: Option<StoredAccount> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|s: &StoredAccount| s.directory == self.config.directory);
        let account = match stored {
            Some(s) => builder()?
                .from_credentials(s.credentials)
                .await
                .map_err(acme_err("restoring the ACME account"))?,
            None => {
                let contact: Vec<String> = self
                    .config
                    .email
                    .iter()
                    .map(|e| format!("mailto:{e}"))
                    .collect();
                let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
                let (account, credentials) = builder()?
                    .create(
                        &NewAccount {
                            contact: &contact,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        self.config.directory.clone(),
                        None,
                    )
                    .await
                    .map_err(acme_err("registering an ACME account"))?;
                let stored = StoredAccount {
                    directory: self.config.directory.clone(),
                    credentials,
                };
                let json = serde_json::to_vec_pretty(&stored).map_err(|e| e.to_string())?;
                write_private(&path, &json)?;
                tracing::info!(id = account.id(), "registered an ACME account");
                account
            }
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    /// One order, from its creation to the certificate served and stored.
    async fn renew(&mut self) -> Result<Held, String> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .config
            .domains
            .iter()
            .map(|d| Identifier::Dns(d.clone()))
            .collect();
        let mut order = match account.new_order(&NewOrder::new(&identifiers)).await {
            Ok(order) => order,
            Err(e) => {
                // The authority no longer knows the stored account (a test authority that
                // restarted, an account deactivated elsewhere): register anew next time.
                if let instant_acme::Error::Api(p) = &e
                    && p.r#type.as_deref() == Some("urn:ietf:params:acme:error:accountDoesNotExist")
                {
                    let _ = std::fs::remove_file(self.path(ACCOUNT_FILE));
                }
                return Err(acme_err("creating the order")(e));
            }
        };
        let mut challenges = Challenges {
            store: &self.store,
            domains: Vec::new(),
        };
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(acme_err("reading an authorization"))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("an authorization is {other:?}")),
            }
            let mut challenge = authz
                .challenge(ChallengeType::TlsAlpn01)
                .ok_or("the authority offers no tls-alpn-01 challenge")?;
            let domain = challenge.identifier().to_string();
            let answer =
                challenge_certificate(&domain, challenge.key_authorization().digest().as_ref())?;
            self.store.set_challenge(&domain, answer);
            challenges.domains.push(domain);
            challenge
                .set_ready()
                .await
                .map_err(acme_err("answering the challenge"))?;
        }
        let retry = RetryPolicy::new().timeout(ORDER_TIMEOUT);
        let status = order
            .poll_ready(&retry)
            .await
            .map_err(acme_err("waiting for validation"))?;
        drop(challenges);
        if status != OrderStatus::Ready {
            return Err(format!("the order is {status:?} after validation"));
        }
        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = rcgen::CertificateParams::new(self.config.domains.clone())
            .map_err(|e| e.to_string())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(|e| e.to_string())?;
        order
            .finalize_csr(csr.der())
            .await
            .map_err(acme_err("finalizing the order"))?;
        let chain = order
            .poll_certificate(&retry)
            .await
            .map_err(acme_err("downloading the certificate"))?;
        let key_pem = key.serialize_pem();
        let held = inspect(chain.as_bytes())?;
        let certified = crate::tls::certified_key(chain.as_bytes(), key_pem.as_bytes())?;
        // The key first: a crash between the two writes leaves a chain whose key is missing or
        // newer, which the next start refuses (and orders again), never a mismatch it serves.
        write_private(&self.path(KEY_FILE), key_pem.as_bytes())?;
        write_private(&self.path(CERT_FILE), chain.as_bytes())?;
        self.store.set(certified);
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_certificate_is_renewed_with_a_third_of_its_life_left_unless_told() {
        assert_eq!(renewal_window(90 * DAY, None), 30 * DAY);
        assert_eq!(renewal_window(6 * DAY, None), 2 * DAY);
        assert_eq!(renewal_window(90 * DAY, Some(10 * DAY)), 10 * DAY);
        // A window as long as the certificate would renew it the moment it is issued.
        assert_eq!(renewal_window(90 * DAY, Some(90 * DAY)), 30 * DAY);
        assert_eq!(renewal_window(90 * DAY, Some(400 * DAY)), 30 * DAY);
    }

    #[test]
    fn the_operator_hears_of_a_renewal_two_weeks_late_or_half_way_through_a_short_window() {
        assert_eq!(late_after(30 * DAY), 14 * DAY);
        assert_eq!(late_after(2 * DAY), DAY);
    }

    #[test]
    fn failed_renewals_are_retried_several_times_within_the_window() {
        assert_eq!(retry_wait(Some(30 * DAY), 1), MAX_WAIT);
        assert_eq!(
            retry_wait(Some(Duration::from_secs(80)), 3),
            Duration::from_secs(10)
        );
        assert_eq!(
            retry_wait(Some(Duration::from_secs(2)), 1),
            Duration::from_secs(1)
        );
        assert_eq!(retry_wait(None, 1), Duration::from_secs(5));
        assert_eq!(retry_wait(None, 3), Duration::from_secs(20));
        assert_eq!(retry_wait(None, 40), Duration::from_secs(600));
    }

    #[test]
    fn the_challenge_certificate_carries_the_digest_in_a_critical_extension() {
        let digest = [7u8; 32];
        let key = challenge_certificate("scim.example.org", &digest).expect("certificate");
        let der = key.cert[0].as_ref();
        let (_, cert) = x509_parser::parse_x509_certificate(der).expect("parse");
        // id-pe-acmeIdentifier, RFC 8737 section 6.1
        let oid = x509_parser::oid_registry::Oid::from(&[1, 3, 6, 1, 5, 5, 7, 1, 31]).expect("oid");
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid == oid)
            .expect("acmeIdentifier");
        assert!(ext.critical);
        // An OCTET STRING of the 32 digest bytes.
        assert_eq!(ext.value[..2], [0x04, 0x20]);
        assert_eq!(ext.value[2..], digest);
        let held = inspect(pem_of(der).as_bytes()).expect("inspect");
        assert_eq!(held.names, vec!["scim.example.org".to_owned()]);
        assert!(held.covers(&["SCIM.example.org".to_owned()]));
        assert!(!held.covers(&["other.example.org".to_owned()]));
    }

    fn pem_of(der: &[u8]) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    #[test]
    fn only_names_tls_alpn_01_can_validate_are_taken() {
        assert!(check_domain("scim.example.org").is_ok());
        for bad in [
            "*.example.org",
            "192.0.2.1",
            "localhost",
            "bad name.example",
            "",
        ] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_files_are_private_and_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("scimd-acme-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("f.pem");
        write_private(&path, b"one").expect("write");
        write_private(&path, b"two").expect("write again");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!path.with_extension("tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
