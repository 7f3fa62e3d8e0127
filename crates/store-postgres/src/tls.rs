//! TLS to PostgreSQL, with rustls, chosen by the URL as libpq reads it (its "SSL Support"
//! chapter): `sslmode=disable|prefer|require|verify-ca|verify-full` and `sslrootcert=PATH`
//! (PEM, a private CA) or `sslrootcert=system` (the system's roots).
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | absent, `disable` | never | - |
//! | `prefer` | when the server offers it | no |
//! | `require` | always | no; with `sslrootcert`, its chain as in `verify-ca` |
//! | `verify-ca` | always | its chain, to `sslrootcert` or the Mozilla roots |
//! | `verify-full` | always | its chain, and that it names the URL's host |
//!
//! A URL without `sslmode` stays plaintext, as every scimd before this one connected: libpq's
//! own default (`prefer`) would start encrypting without checking anything, which protects
//! from nobody who can intercept. Managed PostgreSQL wants `verify-full`.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and refuses the other keys,
//! so [`TlsOptions::take`] removes both keys from the URL before it is parsed and the
//! certificate policy lives in the rustls configuration given to the pool.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::SslMode as DriverMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            // `allow` means plaintext first, which this store never wants to fall back from.
            other => {
                return Err(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the roots that certify the server come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The Mozilla roots compiled in (no system store to depend on in a container).
    Bundled,
    /// `sslrootcert=system`: the operating system's store.
    System,
    /// `sslrootcert=PATH`: the CA certificates in that PEM file.
    File(PathBuf),
}

/// The TLS settings of one database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: SslMode,
    pub roots: Roots,
    /// `sslrootcert` was given (which makes `require` check the chain, as in libpq).
    explicit_roots: bool,
}

impl TlsOptions {
    /// Takes `sslmode` and `sslrootcert` out of `url`'s query; returns the URL without them
    /// and the settings. Errors never repeat the URL (it may hold a password).
    pub fn take(url: &str) -> Result<(String, TlsOptions), String> {
        let mut options = TlsOptions {
            mode: SslMode::Disable,
            roots: Roots::Bundled,
            explicit_roots: false,
        };
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), options));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => options.mode = SslMode::parse(&percent_decode(value)?)?,
                "sslrootcert" => {
                    let value = percent_decode(value)?;
                    if value.is_empty() {
                        return Err("sslrootcert is empty: give a PEM file or `system`".into());
                    }
                    options.explicit_roots = true;
                    options.roots = if value == "system" {
                        Roots::System
                    } else {
                        Roots::File(PathBuf::from(value))
                    };
                }
                "sslcert" | "sslkey" | "sslpassword" => {
                    return Err(format!(
                        "{key}: client certificates are not supported; authenticate with a password"
                    ));
                }
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((url, options))
    }

    /// The driver's mode: whether to ask for TLS and whether to go on without it.
    pub fn driver_mode(&self) -> DriverMode {
        match self.mode {
            SslMode::Disable => DriverMode::Disable,
            SslMode::Prefer => DriverMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverMode::Require,
        }
    }

    /// The connector the pool makes its sessions with. Reads the roots now, so that a missing
    /// or unreadable `sslrootcert` stops the start instead of every connection.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS to PostgreSQL: {e}"))?;
        let check_chain = match self.mode {
            SslMode::Disable | SslMode::Prefer => false,
            SslMode::Require => self.explicit_roots,
            SslMode::VerifyCa | SslMode::VerifyFull => true,
        };
        let verifier: Arc<dyn ServerCertVerifier> = if check_chain {
            let roots = Arc::new(self.root_store()?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("TLS to PostgreSQL: {e}"))?;
            if self.mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        } else {
            Arc::new(Unchecked(provider))
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn root_store(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match &self.roots {
            Roots::Bundled => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(
                        "sslrootcert=system: no CA certificates found in the system's store".into(),
                    );
                }
            }
            Roots::File(path) => {
                let shown = path.display();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("sslrootcert {shown}: {e}"))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!(
                        "sslrootcert {shown}: no CA certificate in the file"
                    ));
                }
            }
        }
        Ok(store)
    }
}

impl TlsOptions {
    /// A connection that failed in its TLS handshake, in words an operator can act on; `None`
    /// when `error` has another cause. Names the roots and the mode, never the URL.
    pub fn explain(&self, error: &(dyn std::error::Error + 'static)) -> Option<String> {
        let mode = self.mode.as_str();
        let mut cause = Some(error);
        while let Some(c) = cause {
            if c.to_string() == "server does not support TLS" {
                return Some(format!(
                    "TLS to PostgreSQL: the server does not offer TLS, and sslmode={mode} needs it \
                     (turn `ssl` on in the server, or use sslmode=disable on a trusted network)"
                ));
            }
            let tls = c.downcast_ref::<rustls::Error>().or_else(|| {
                c.downcast_ref::<std::io::Error>()
                    .and_then(|io| io.get_ref())
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            });
            if let Some(tls) = tls {
                return Some(self.explain_tls(tls));
            }
            cause = c.source();
        }
        None
    }

    fn explain_tls(&self, error: &rustls::Error) -> String {
        let mode = self.mode.as_str();
        let roots = match &self.roots {
            Roots::File(path) => format!("the CA in sslrootcert {}", path.display()),
            Roots::System => "a CA of the system's store (sslrootcert=system)".to_owned(),
            Roots::Bundled => {
                "a public CA (no sslrootcert given: the Mozilla roots are trusted)".to_owned()
            }
        };
        match error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
                "TLS to PostgreSQL: the server's certificate is not signed by {roots} \
                 (sslmode={mode}); give the server's CA with sslrootcert=PATH"
            ),
            rustls::Error::InvalidCertificate(
                e @ (CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. }),
            ) => format!(
                "TLS to PostgreSQL: the server's certificate does not name the host the URL \
                 connects to ({e}); sslmode={mode} checks the name: connect by a name the \
                 certificate holds, or use sslmode=verify-ca to check the chain alone"
            ),
            rustls::Error::InvalidCertificate(e) => format!(
                "TLS to PostgreSQL: the server's certificate is refused (sslmode={mode}, \
                 trusting {roots}): {e}"
            ),
            other => format!("TLS to PostgreSQL: the handshake failed (sslmode={mode}): {other}"),
        }
    }
}

/// `%XX` escapes of a URL's query value (no `+` for space: libpq reads URIs so).
fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a bad %-escape in the database URL's query")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the database URL's query is not UTF-8".to_owned())
}

/// `verify-ca`: the chain must lead to a trusted root; the name in it is not compared with
/// the host (as libpq, for servers reached by an address their certificate does not name).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self, end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>, ocsp: &[u8], now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without `sslrootcert`: encrypted, the certificate taken as it comes
/// (libpq does the same). The handshake's signatures are still checked, so the session is
/// with whoever holds the certificate's key.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self, _end_entity: &CertificateDer<'_>, _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>, _ocsp: &[u8], _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_sslmode_stays_plaintext_and_unchanged() {
        let (url, o) = TlsOptions::take("postgres://u:p@h/db?options=-c%20x%3D1").expect("ok");
        assert_eq!(url, "postgres://u:p@h/db?options=-c%20x%3D1");
        assert_eq!(o.mode, SslMode::Disable);
        assert_eq!(o.driver_mode(), DriverMode::Disable);
    }

    #[test]
    fn sslmode_and_sslrootcert_leave_the_url_and_other_keys_stay() {
        let (url, o) = TlsOptions::take(
            "postgres://u:p@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        )
        .expect("ok");
        assert_eq!(url, "postgres://u:p@h/db?application_name=x");
        assert_eq!(o.mode, SslMode::VerifyFull);
        assert_eq!(o.roots, Roots::File(PathBuf::from("/etc/ca.pem")));
        let (url, o) = TlsOptions::take("postgres://h/db?sslmode=require").expect("ok");
        assert_eq!(url, "postgres://h/db");
        assert_eq!(o.driver_mode(), DriverMode::Require);
        let (_, o) =
            TlsOptions::take("postgres://h/db?sslrootcert=system&sslmode=verify-ca").expect("ok");
        assert_eq!((o.mode, o.roots), (SslMode::VerifyCa, Roots::System));
    }

    #[test]
    fn unknown_modes_and_client_certificates_are_refused_without_the_url() {
        let e = TlsOptions::take("postgres://u:secret@h/db?sslmode=allow").expect_err("refused");
        assert!(e.contains("sslmode=allow") && !e.contains("secret"), "{e}");
        let e = TlsOptions::take("postgres://u:secret@h/db?sslcert=/c.pem").expect_err("refused");
        assert!(e.contains("sslcert") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn a_missing_root_file_is_a_start_up_error_naming_it() {
        let (_, o) =
            TlsOptions::take("postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
                .expect("ok");
        let e = o.connector().err().expect("refused");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
