//! Keyset cursors and the deployment's key that seals them.

use crate::ids::OrgId;
use crate::store::StoreError;
use serde_json::Value;

/// An RFC 9865 keyset cursor: the last row's sort key and sequence number. Clients only ever
/// see it sealed by a [`CursorKey`]: the sequence is shared by every organisation, and in the
/// clear it would tell a tenant how much every other tenant writes. Both stores use this one
/// encoding.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    pub seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
}

/// The deployment's key for cursors, kept in its database (made once, by whichever instance
/// opens it first): every instance reads cursors the others wrote, and they survive restarts.
/// A cursor is `base64url(nonce || XChaCha20-Poly1305(cursor))`, authenticated with the
/// organisation it was written for, so it can be neither read, forged nor used by another
/// organisation.
#[derive(Clone)]
pub struct CursorKey(chacha20poly1305::XChaCha20Poly1305);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// Bytes of a random nonce (XChaCha20's 192 bits: random nonces never repeat in practice).
const CURSOR_NONCE: usize = 24;

impl CursorKey {
    /// Bytes of a key.
    pub const LEN: usize = 32;

    /// A new random key, to be stored.
    pub fn generate() -> Result<[u8; Self::LEN], StoreError> {
        let mut key = [0u8; Self::LEN];
        getrandom::fill(&mut key).map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(key)
    }

    /// The key from its stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<CursorKey, StoreError> {
        use chacha20poly1305::KeyInit;
        chacha20poly1305::XChaCha20Poly1305::new_from_slice(bytes)
            .map(CursorKey)
            .map_err(|_| StoreError::Internal("the stored cursor key is not 32 bytes".into()))
    }

    /// The opaque text of a cursor for `org` (only RFC 3986 unreserved characters).
    pub fn seal(&self, org: OrgId, c: &Cursor) -> Result<String, StoreError> {
        use base64::Engine;
        use chacha20poly1305::aead::{Aead, Payload};
        let plain = serde_json::to_vec(c).map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut nonce = [0u8; CURSOR_NONCE];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Internal(e.to_string()))?;
        let sealed = self
            .0
            .encrypt(
                &chacha20poly1305::XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: org.0.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Internal("cannot seal a cursor".into()))?;
        let mut out = Vec::with_capacity(CURSOR_NONCE + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
    }

    /// Reads a cursor `org`'s client sent back; anything this key did not seal for `org` is
    /// [`StoreError::InvalidCursor`].
    pub fn open(&self, org: OrgId, s: &str) -> Result<Cursor, StoreError> {
        use base64::Engine;
        use chacha20poly1305::aead::{Aead, Payload};
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| StoreError::InvalidCursor)?;
        if bytes.len() < CURSOR_NONCE {
            return Err(StoreError::InvalidCursor);
        }
        let (nonce, sealed) = bytes.split_at(CURSOR_NONCE);
        let nonce =
            chacha20poly1305::XNonce::try_from(nonce).map_err(|_| StoreError::InvalidCursor)?;
        let plain = self
            .0
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: org.0.as_bytes(),
                },
            )
            .map_err(|_| StoreError::InvalidCursor)?;
        serde_json::from_slice(&plain).map_err(|_| StoreError::InvalidCursor)
    }
}
