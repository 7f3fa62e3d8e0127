//! Secrets shown once after a redirect (POST/redirect/GET): the console mints a token, an
//! application key or a webhook secret in a POST, keeps it here and redirects to a page that
//! shows it. Reloading that page must not mint another one, and must not show it twice.
//!
//! A value is kept for [`REVEAL_LIFETIME`] in the store ([`crate::store::RevealStore`]), so
//! any instance on the database can show it. The row is keyed by the SHA-256 of a random
//! 256-bit handle that only the browser holds (it is in the redirect's URL), and the value is
//! sealed (XChaCha20-Poly1305, the organisation as associated data) with a key derived from
//! that handle: the database alone never holds a readable secret. The row belongs to the
//! administrator who made it and is deleted when it is first read.

use crate::clock::Clock;
use crate::ids::{AdminId, OrgId};
use crate::store::{Reveal, Store, StoreError};
use crate::token::hash_secret;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::Duration;

/// How long a kept value waits for its page.
pub const REVEAL_LIFETIME: Duration = Duration::minutes(10);

const NONCE: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum RevealError {
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("cannot seal the value")]
    Seal,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Keeps values for one display.
#[derive(Debug, Clone)]
pub struct Reveals {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

fn cipher(handle: &str) -> Result<XChaCha20Poly1305, RevealError> {
    let key = Sha256::new()
        .chain_update(b"scimd reveal key\0")
        .chain_update(handle.as_bytes())
        .finalize();
    XChaCha20Poly1305::new_from_slice(&key).map_err(|_| RevealError::Seal)
}

impl Reveals {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Reveals { store, clock }
    }

    /// Keeps `value` for `admin` of `org`; returns the handle (URL-safe) that reads it once.
    pub async fn keep(
        &self, org: OrgId, admin: AdminId, value: &serde_json::Value,
    ) -> Result<String, RevealError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| RevealError::Random(e.to_string()))?;
        let handle = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).map_err(|e| RevealError::Random(e.to_string()))?;
        let plain = serde_json::to_vec(value).map_err(|_| RevealError::Seal)?;
        let sealed = cipher(&handle)?
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: org.0.as_bytes(),
                },
            )
            .map_err(|_| RevealError::Seal)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        let now = self.clock.now();
        self.store
            .put_reveal(
                &Reveal {
                    org_id: org,
                    hash: hash_secret(&handle),
                    admin_id: admin,
                    sealed: blob,
                    expires: now + REVEAL_LIFETIME,
                },
                now,
            )
            .await?;
        Ok(handle)
    }

    /// The value behind `handle`, once; `None` when it was already shown, has expired, is
    /// another administrator's or never existed.
    pub async fn take(
        &self, org: OrgId, admin: AdminId, handle: &str,
    ) -> Result<Option<serde_json::Value>, RevealError> {
        let Some(r) = self
            .store
            .take_reveal(org, &hash_secret(handle), admin, self.clock.now())
            .await?
        else {
            return Ok(None);
        };
        if r.sealed.len() < NONCE {
            return Ok(None);
        }
        let (nonce, body) = r.sealed.split_at(NONCE);
        let Ok(nonce) = XNonce::try_from(nonce) else {
            return Ok(None);
        };
        let Ok(plain) = cipher(handle)?.decrypt(
            &nonce,
            Payload {
                msg: body,
                aad: org.0.as_bytes(),
            },
        ) else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&plain).ok())
    }
}
