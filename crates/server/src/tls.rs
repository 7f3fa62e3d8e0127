//! HTTPS built in: rustls with TLS 1.2 and 1.3 only (rustls implements nothing older) and its
//! default, modern cipher suites. The certificate comes from PEM files, reloaded on SIGHUP, or
//! from an ACME certificate authority (`crate::acme`), renewed while serving. Either way one
//! [`CertStore`] answers every handshake: replacing its certificate drops no connection (new
//! handshakes use the new certificate, open connections keep theirs).

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737, section 6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A certificate chain and its private key (PEM text) as rustls serves them; the key must be
/// the one of the first certificate.
pub fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading the certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in the PEM text".to_owned());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("reading the private key: {e}"))?;
    CertifiedKey::from_der(certs, key, &provider())
        .map(Arc::new)
        .map_err(|e| format!("certificate and key do not fit: {e}"))
}

fn read_files(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain = std::fs::read(cert).map_err(|e| format!("reading {}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key)
        .map_err(|e| format!("reading the private key {}: {e}", key.display()))?;
    certified_key(&chain, &key_pem).map_err(|e| format!("{}: {e}", cert.display()))
}

/// The certificates a listener serves: the current one, and the TLS-ALPN-01 challenge
/// certificates of validations under way, by domain.
#[derive(Default)]
pub struct CertStore {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("current", &self.current().is_some())
            .finish()
    }
}

impl CertStore {
    /// The certificate new handshakes get from now on.
    pub fn set(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
    }

    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Answers the TLS-ALPN-01 validation of `domain` with `key` until it is taken away.
    pub fn set_challenge(&self, domain: &str, key: Arc<CertifiedKey>) {
        self.challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_ascii_lowercase(), key);
    }

    pub fn clear_challenge(&self, domain: &str) {
        self.challenges
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&domain.to_ascii_lowercase());
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A validation server offers acme-tls/1 alone and names the domain (RFC 8737, section
        // 3); it gets the challenge certificate, and nothing else does.
        let acme = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
        if acme {
            let name = hello.server_name()?.to_ascii_lowercase();
            return self
                .challenges
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&name)
                .cloned();
        }
        // Before a first certificate is issued, handshakes fail (no certificate to offer).
        self.current()
    }
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
enum Source {
    Files { cert: PathBuf, key: PathBuf },
    Acme,
}

/// The TLS side of a running server: one configuration, built once, whose certificate store
/// changes under it.
#[derive(Clone)]
pub struct Tls {
    source: Source,
    store: Arc<CertStore>,
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("source", &self.source).finish()
    }
}

fn server_config(store: Arc<CertStore>, acme: bool) -> Result<Arc<ServerConfig>, String> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if acme {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    Ok(Arc::new(config))
}

impl Tls {
    /// Serves the certificate chain and key of these PEM files.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, String> {
        let store = Arc::new(CertStore::default());
        store.set(read_files(cert, key)?);
        Ok(Tls {
            source: Source::Files {
                cert: cert.to_owned(),
                key: key.to_owned(),
            },
            config: server_config(store.clone(), false)?,
            store,
        })
    }

    /// Serves what `store` holds, and answers TLS-ALPN-01 challenges from it.
    pub fn acme(store: Arc<CertStore>) -> Result<Tls, String> {
        Ok(Tls {
            source: Source::Acme,
            config: server_config(store.clone(), true)?,
            store,
        })
    }

    pub fn store(&self) -> &Arc<CertStore> {
        &self.store
    }

    /// Reads the files again; on any error the running certificate stays. A certificate from
    /// ACME is renewed by its own schedule and has nothing to reload.
    pub fn reload(&self) -> Result<(), String> {
        if let Source::Files { cert, key } = &self.source {
            self.store.set(read_files(cert, key)?);
        }
        Ok(())
    }

    /// An acceptor for one handshake.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }

    /// Reloads on every SIGHUP until the process ends.
    pub fn reload_on_sighup(&self) {
        #[cfg(unix)]
        {
            let Source::Files { cert, .. } = &self.source else {
                return;
            };
            let cert = cert.clone();
            let tls = self.clone();
            tokio::spawn(async move {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    tracing::error!("cannot listen for SIGHUP; certificates will not reload");
                    return;
                };
                while hup.recv().await.is_some() {
                    match tls.reload() {
                        Ok(()) => {
                            tracing::info!(cert = %cert.display(), "TLS certificate reloaded")
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "TLS reload failed; keeping the current certificate")
                        }
                    }
                }
            });
        }
    }
}
