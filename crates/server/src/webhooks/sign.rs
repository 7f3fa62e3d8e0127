//! Signatures per Standard Webhooks (docs/contract.md, "Webhooks"): `v1,` and the base64 of
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the bytes of the
//! base64 after `whsec_`. During a rotation every secret still in force signs, and the
//! signatures are sent space-separated, so a receiver holding either secret verifies.

use directory::store::WebhookSecret;
use standardwebhooks::Webhook;

/// The `webhook-signature` value for one delivery: one `v1,...` per secret in force at
/// `timestamp` (the current one, and any rotated-out one whose `retires` is still ahead).
/// An error when no secret can sign (none in force, or all unreadable).
pub fn signature(
    secrets: &[WebhookSecret], id: &str, timestamp: i64, body: &[u8],
) -> Result<String, String> {
    let mut out = Vec::with_capacity(secrets.len());
    for s in secrets
        .iter()
        .filter(|s| s.retires.is_none_or(|r| r > timestamp))
    {
        let signed = Webhook::new(&s.secret).and_then(|w| w.sign(id, timestamp, body));
        match signed {
            Ok(sig) => out.push(sig),
            // A stored secret that does not decode is a fault of the store, not of the
            // receiver: sign with the others, and say so.
            Err(e) => tracing::error!(error = %e, "a webhook secret cannot sign"),
        }
    }
    if out.is_empty() {
        return Err("no signing secret in force".into());
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn secret(s: &str, retires: Option<i64>) -> WebhookSecret {
        WebhookSecret {
            secret: s.to_owned(),
            retires,
        }
    }

    fn headers(id: &str, ts: i64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("webhook-id", HeaderValue::from_str(id).expect("id"));
        h.insert(
            "webhook-timestamp",
            HeaderValue::from_str(&ts.to_string()).expect("ts"),
        );
        h.insert(
            "webhook-signature",
            HeaderValue::from_str(sig).expect("sig"),
        );
        h
    }

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The vector the specification's reference implementations share.
        let sig = signature(
            &[secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", None)],
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .expect("signs");
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_and_each_verifies_alone() {
        let old = directory::apps::generate_secret().expect("secret");
        let new = directory::apps::generate_secret().expect("secret");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = br#"{"id":"evt_1"}"#;
        let secrets = [secret(&new, None), secret(&old, Some(now + 3600))];
        let sig = signature(&secrets, "evt_1", now, body).expect("signs");
        assert_eq!(sig.split(' ').count(), 2, "{sig}");
        for s in [&old, &new] {
            Webhook::new(s)
                .expect("secret")
                .verify(body, &headers("evt_1", now, &sig))
                .expect("verifies");
        }
        let other = directory::apps::generate_secret().expect("secret");
        assert!(
            Webhook::new(&other)
                .expect("secret")
                .verify(body, &headers("evt_1", now, &sig))
                .is_err()
        );
    }

    #[test]
    fn a_retired_secret_no_longer_signs() {
        let old = directory::apps::generate_secret().expect("secret");
        let new = directory::apps::generate_secret().expect("secret");
        let now = 1_700_000_000;
        let sig = signature(
            &[secret(&new, None), secret(&old, Some(now))],
            "e",
            now,
            b"{}",
        )
        .expect("signs");
        assert!(!sig.contains(' '), "{sig}");
        assert!(signature(&[secret(&old, Some(now - 1))], "e", now, b"{}").is_err());
        assert!(signature(&[secret("whsec_***", None)], "e", now, b"{}").is_err());
    }
}
