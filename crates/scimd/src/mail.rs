//! Outgoing e-mail over SMTP (lettre, rustls): the production [`Mailer`].
//!
//! `--smtp-url smtp://host:port` (plain; add `?tls=required` for STARTTLS) or
//! `smtps://user:pass@host:port` (TLS from the start). A URL that cannot be used is a start-up
//! error, not a surprise at the first notice.

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use directory::notify::{Mail, Mailer};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

/// Sender address when `--mail-from` is not given.
const DEFAULT_FROM: &str = "scimd <scimd@localhost>";

#[derive(Debug, Clone, clap::Args)]
pub struct MailArgs {
    /// SMTP relay for notifications: smtp://host:port (add ?tls=required for STARTTLS) or
    /// smtps://user:pass@host:port. Without it, notices stay in the outbox.
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

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<SmtpMailer> {
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
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("invalid SMTP URL {relay}: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
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
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP {}: {e}", self.relay))
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
        assert_eq!(
            redact("smtps://u:secret@mail.example.com:465"),
            "smtps://mail.example.com:465"
        );
    }
}
