//! Outgoing e-mail over SMTP (lettre, rustls): the production [`Mailer`].
//!
//! `--smtp-url smtps://user:pass@host:port` (TLS from the start), `smtp://user:pass@host:port
//! ?tls=required` (STARTTLS, refused if the relay does not offer it), or, without credentials,
//! `smtp://host:port` (STARTTLS when the relay offers it, plain otherwise; `?tls=none` never
//! tries). Credentials are refused unless TLS is certain: lettre sends them over whatever
//! connection it has. A URL that cannot be used is a start-up error, not a surprise at the
//! first notice.

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use directory::notify::{Mail, Mailer};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

/// Sender address when `--mail-from` is not given.
const DEFAULT_FROM: &str = "scimd <scimd@localhost>";

#[derive(Debug, Clone, clap::Args)]
pub struct MailArgs {
    /// SMTP relay for notifications: smtps://user:pass@host:port (TLS),
    /// smtp://user:pass@host:port?tls=required (STARTTLS), or smtp://host:port without
    /// credentials (STARTTLS when offered; ?tls=none: never). Without it, notices stay in the
    /// outbox.
    // `--help` would print the variable's value, credentials included.
    #[arg(long, env = "SCIMD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of notifications.
    #[arg(long, env = "SCIMD_MAIL_FROM")]
    pub mail_from: Option<String>,
}

impl MailArgs {
    /// The mailer these options describe; `None` when no SMTP URL is set.
    pub fn mailer(&self) -> Result<Option<Arc<dyn Mailer>>> {
        let Some(url) = &self.smtp_url else {
            return Ok(None);
        };
        Ok(Some(Arc::new(SmtpMailer::new(
            url,
            self.mail_from.as_deref().unwrap_or(DEFAULT_FROM),
        )?)))
    }
}

/// Sends through one SMTP relay, with a connection pool.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The relay without credentials.
        f.debug_struct("SmtpMailer")
            .field("relay", &self.relay)
            .finish()
    }
}

/// `scheme://host:port` of an SMTP URL, without credentials, for messages.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
            format!("{scheme}://{}", host.split(['?', '/']).next().unwrap_or(""))
        }
        None => "(not a URL)".to_owned(),
    }
}

/// How the connection to the relay is secured, from the URL's scheme and `tls` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtps://`: TLS from the first byte.
    Wrapper,
    /// `smtp://...?tls=required`: STARTTLS, or no connection.
    Required,
    /// `smtp://` (or `?tls=opportunistic`): STARTTLS when the relay offers it.
    Opportunistic,
    /// `smtp://...?tls=none`: never TLS.
    None,
}

/// A relay URL checked before anything is built: its scheme, host and `tls` parameter, and
/// that credentials only travel over a connection that is certain to be encrypted (lettre
/// sends them over a plain one as readily, and opportunistic STARTTLS is dropped by anyone
/// who can strip the relay's offer).
pub fn check_url(url: &str) -> Result<Security> {
    let relay = redact(url);
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        bail!("invalid SMTP URL {relay}: it must start with smtp:// or smtps://");
    }
    let host_part = url
        .split_once("://")
        .map(|(_, r)| r.rsplit_once('@').map(|(_, h)| h).unwrap_or(r))
        .unwrap_or("");
    if host_part.is_empty() || host_part.starts_with([':', '/', '?']) {
        bail!("invalid SMTP URL {relay}: no host");
    }
    let parsed =
        url::Url::parse(url).map_err(|e| anyhow::anyhow!("invalid SMTP URL {relay}: {e}"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        bail!("invalid SMTP URL {relay}: no host");
    }
    let tls = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let security = match (parsed.scheme(), tls.as_deref()) {
        // lettre ignores `tls` on smtps://, and so does this.
        ("smtps", _) => Security::Wrapper,
        ("smtp", Some("required")) => Security::Required,
        ("smtp", None | Some("opportunistic")) => Security::Opportunistic,
        ("smtp", Some("none")) => Security::None,
        (_, Some(t)) => {
            bail!("invalid SMTP URL {relay}: tls={t} is not one of required, opportunistic, none")
        }
        (scheme, None) => bail!("invalid SMTP URL {relay}: unknown scheme {scheme}"),
    };
    let credentials = !parsed.username().is_empty() || parsed.password().is_some();
    if credentials && !matches!(security, Security::Wrapper | Security::Required) {
        bail!(
            "invalid SMTP URL {relay}: its credentials could be sent unencrypted; use \
             smtps://USER:PASS@HOST:465 (TLS) or add ?tls=required (STARTTLS) to the smtp:// URL"
        );
    }
    Ok(security)
}

/// The longest one message's exchange with the relay may take, greeting included.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<SmtpMailer> {
        let relay = redact(url);
        let security = check_url(url)?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&without_tls_none(url))
            .map_err(|e| anyhow::anyhow!("invalid SMTP URL {relay}: {e}"))?;
        if security == Security::Opportunistic {
            // lettre reads a bare smtp:// as "never TLS"; keep its port (25) and hello name,
            // and take STARTTLS whenever the relay offers it.
            // The name the certificate must carry; an IPv6 literal without its brackets.
            let host = match url::Url::parse(url).ok().as_ref().and_then(url::Url::host) {
                Some(url::Host::Ipv6(addr)) => addr.to_string(),
                Some(host) => host.to_string(),
                None => String::new(),
            };
            let params = TlsParameters::new(host)
                .map_err(|e| anyhow::anyhow!("invalid SMTP URL {relay}: {e}"))?;
            builder = builder.tls(Tls::Opportunistic(params));
        }
        let transport = builder.timeout(Some(SEND_TIMEOUT)).build();
        let from: Mailbox = from
            .parse()
            .with_context(|| format!("invalid sender address '{from}' (--mail-from)"))?;
        Ok(SmtpMailer {
            transport,
            from,
            relay,
        })
    }
}

/// The URL without its `tls=none` parameter, which lettre does not know: its bare `smtp://`
/// already means no TLS.
fn without_tls_none(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query.split('&').filter(|p| *p != "tls=none").collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), String> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN);
        for to in &mail.to {
            let to: Mailbox = to
                .parse()
                .map_err(|e| format!("invalid recipient '{to}': {e}"))?;
            builder = builder.to(to);
        }
        let message = builder
            .body(mail.body.clone())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        // lettre's own timeout bounds the connection and each command, but not the wait for a
        // relay's greeting: a relay that accepts and never speaks would hold the delivery job
        // for ever. The whole exchange is bounded here; the notice is then retried later.
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(sent) => sent
                .map(|_| ())
                .map_err(|e| format!("SMTP {}: {e}", self.relay)),
            Err(_) => Err(format!(
                "SMTP {}: no answer within {} s",
                self.relay,
                SEND_TIMEOUT.as_secs()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The pooled transport spawns its housekeeping on the runtime, hence a runtime here.
    #[tokio::test]
    async fn malformed_smtp_urls_are_refused_with_the_reason() {
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "mail.example.com:25",
            "smtp://:25",
        ] {
            let e = SmtpMailer::new(bad, "a@example.com").expect_err(bad);
            assert!(e.to_string().contains("invalid SMTP URL"), "{bad}: {e}");
        }
        let e = SmtpMailer::new("smtp://127.0.0.1:2525", "not an address").expect_err("from");
        assert!(e.to_string().contains("--mail-from"));
        assert!(SmtpMailer::new("smtps://u:secret@mail.example.com:465", "a@example.com").is_ok());
        for plain in [
            "smtp://127.0.0.1:2525",
            "smtp://[::1]:2525",
            "smtp://localhost",
        ] {
            assert!(SmtpMailer::new(plain, "a@example.com").is_ok(), "{plain}");
        }
        assert_eq!(
            redact("smtps://u:secret@mail.example.com:465"),
            "smtps://mail.example.com:465"
        );
    }

    #[test]
    fn credentials_need_a_connection_that_is_certainly_encrypted() {
        for (url, want) in [
            ("smtps://u:p@mail.example.com", Security::Wrapper),
            ("smtps://token@mail.example.com:465", Security::Wrapper),
            (
                "smtp://u:p@mail.example.com:587?tls=required",
                Security::Required,
            ),
            ("smtp://mail.example.com", Security::Opportunistic),
            (
                "smtp://mail.example.com?tls=opportunistic",
                Security::Opportunistic,
            ),
            ("smtp://127.0.0.1:2525?tls=none", Security::None),
        ] {
            assert_eq!(check_url(url).expect(url), want, "{url}");
        }
        for url in [
            "smtp://u:p@mail.example.com",
            "smtp://u:p@mail.example.com:587?tls=opportunistic",
            "smtp://u:p@mail.example.com?tls=none",
            "smtp://user@mail.example.com",
            "smtp://:p@mail.example.com",
        ] {
            let e = check_url(url).expect_err(url).to_string();
            assert!(
                e.contains("?tls=required") && e.contains("smtps://"),
                "{url}: {e}"
            );
            assert!(!e.contains(":p@"), "{url}: {e}");
        }
        let e = check_url("smtp://mail.example.com?tls=maybe").expect_err("tls");
        assert!(e.to_string().contains("tls=maybe"), "{e}");
    }

    #[test]
    fn tls_none_is_taken_out_of_the_url_lettre_sees() {
        assert_eq!(without_tls_none("smtp://h:25?tls=none"), "smtp://h:25");
        assert_eq!(
            without_tls_none("smtp://h:25/hello?tls=none&x=1"),
            "smtp://h:25/hello?x=1"
        );
        assert_eq!(without_tls_none("smtp://h:25"), "smtp://h:25");
    }
}
