//! Applications' keys and webhook secrets (docs/contract.md, "Applications"): generating them,
//! and the rules a webhook URL must follow before anything is delivered to it.
//!
//! A key is 256 random bits behind a recognisable prefix, stored only as its SHA-256 (as SCIM
//! tokens are: a slow KDF buys nothing for a random secret). A signing secret is `whsec_` and
//! the base64 of 32 random bytes, the form Standard Webhooks libraries take.

use crate::ids::{AppId, OrgId};
use crate::model::Application;
use crate::token::hash_secret;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::net::IpAddr;
use time::OffsetDateTime;

/// Every application key starts with this (SCIM tokens start with `scimd_` alone), so a key
/// pasted in the wrong place is easy to recognise.
pub const KEY_PREFIX: &str = "scimd_app_";
/// Characters of the key kept as its non-secret display prefix.
const DISPLAY_PREFIX_LEN: usize = KEY_PREFIX.len() + 6;
/// The longest application name accepted.
pub const MAX_NAME_CHARS: usize = 100;

/// A new application: its key, shown once, and the record to store.
#[derive(Debug)]
pub struct IssuedApp {
    pub key: String,
    pub record: Application,
}

fn random32() -> Result<[u8; 32], getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// Checks and trims an application's name.
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("an application needs a name".into());
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(format!(
            "an application's name is at most {MAX_NAME_CHARS} printable characters"
        ));
    }
    Ok(name.to_owned())
}

/// Generates an application of `org` named `name` (already checked), not yet stored.
pub fn generate(org: OrgId, name: String, now: OffsetDateTime) -> Result<IssuedApp, String> {
    let bytes = random32().map_err(|e| e.to_string())?;
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let record = Application {
        id: AppId::new(),
        org_id: org,
        name,
        prefix: key[..DISPLAY_PREFIX_LEN].to_owned(),
        hash: hash_secret(&key),
        created: now,
        last_used: None,
        revoked: None,
    };
    Ok(IssuedApp { key, record })
}

/// A new webhook signing secret.
pub fn generate_secret() -> Result<String, String> {
    let bytes = random32().map_err(|e| e.to_string())?;
    Ok(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// How long a rotated-out secret keeps signing beside the new one.
pub const SECRET_OVERLAP: time::Duration = time::Duration::hours(24);

/// Whether deliveries must never reach `ip` unless the operator allows private targets:
/// loopback, private, shared (carrier-grade NAT), link-local (which holds the cloud metadata
/// address 169.254.169.254), unspecified, multicast, broadcast and documentation ranges, and the
/// IPv6 equivalents (unique-local, link-local, IPv4-mapped forms of the above).
pub fn is_private_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private_address(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                || (first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

/// Whether `host` (a URL's host) names this machine or a private network by itself: a private
/// address literal or `localhost`.
fn is_private_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => is_private_address(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => is_private_address(IpAddr::V6(*ip)),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    }
}

/// The longest webhook URL accepted.
pub const MAX_URL_BYTES: usize = 2048;

/// Checks a webhook URL as it is registered: absolute HTTPS without credentials or fragment.
/// Plain HTTP is accepted only for a private or loopback target (a receiver on the operator's
/// own machine or network), which `serve` delivers to only with `--allow-private-webhooks`.
/// Returns the URL normalised.
pub fn check_webhook_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_BYTES {
        return Err(format!("a webhook URL is at most {MAX_URL_BYTES} bytes"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("'{raw}' is not a URL: {e}"))?;
    let host = url.host().ok_or_else(|| format!("'{raw}' has no host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a webhook URL carries no user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("a webhook URL has no fragment".into());
    }
    match url.scheme() {
        "https" => {}
        "http" if is_private_host(&host) => {}
        "http" => {
            return Err(
                "a webhook URL must use https (plain http only for a private or loopback receiver)"
                    .into(),
            );
        }
        other => return Err(format!("a webhook URL must use https, not {other}")),
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_stored_as_their_hash() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let a = generate(OrgId::new(), "LMS".into(), now).expect("key");
        let b = generate(OrgId::new(), "LMS".into(), now).expect("key");
        assert!(a.key.starts_with(KEY_PREFIX));
        assert_ne!(a.key, b.key);
        assert_eq!(a.record.hash, hash_secret(&a.key));
        assert!(a.key.starts_with(&a.record.prefix));
        assert!(!a.record.prefix.contains(&a.key[DISPLAY_PREFIX_LEN..]));
    }

    #[test]
    fn secrets_carry_32_bytes_of_key_in_standard_base64() {
        let s = generate_secret().expect("secret");
        let key = STANDARD
            .decode(s.strip_prefix("whsec_").expect("prefix"))
            .expect("base64");
        assert_eq!(key.len(), 32);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  Intranet ").as_deref(), Ok("Intranet"));
        assert!(check_name("   ").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_name("a\nb").is_err());
    }

    #[test]
    fn private_and_metadata_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_private_address(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_private_address(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn webhook_urls_must_be_https_but_for_private_receivers() {
        assert!(check_webhook_url("https://hooks.example.com/scimd").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_webhook_url("http://localhost:9000/hook").is_ok());
        assert!(check_webhook_url("http://hooks.example.com/scimd").is_err());
        assert!(check_webhook_url("ftp://hooks.example.com/").is_err());
        assert!(check_webhook_url("https://user:pw@hooks.example.com/").is_err());
        assert!(check_webhook_url("https://hooks.example.com/#x").is_err());
        assert!(check_webhook_url("hooks.example.com").is_err());
        assert!(check_webhook_url(&format!("https://h.example/{}", "a".repeat(3000))).is_err());
    }
}
