//! SCIM bearer tokens: 256 random bits with a recognisable prefix; stored only as a SHA-256
//! hash (a slow KDF buys nothing for a 256-bit random secret and would make the lookup costly),
//! looked up by that hash through a unique index, and compared in constant time.
//!
//! [`Tokens`] records what an accepted token's request means for the token: its first use
//! (the connection turns active), then its `last_used`, written at most once a minute per
//! token and instance, so that use is recorded without one extra write per request.

use crate::clock::Clock;
use crate::ids::{OrgId, TokenId};
use crate::lifecycle::Lifecycle;
use crate::store::{Store, StoreError, TokenRecord};
use crate::usage::UseThrottle;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// Every secret starts with this, so leaked tokens are easy to recognise in logs and scanners.
pub const SECRET_PREFIX: &str = "scimd_";
/// Characters of the secret kept as the non-secret display prefix.
const DISPLAY_PREFIX_LEN: usize = SECRET_PREFIX.len() + 6;

/// A token's validity from its creation.
pub const TOKEN_LIFETIME: time::Duration = time::Duration::days(365);

/// SHA-256 of a presented secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A newly generated token: the secret, shown once, and the record to store.
#[derive(Debug)]
pub struct IssuedToken {
    pub secret: String,
    pub record: TokenRecord,
}

/// Generates a token for `org` (not yet stored).
pub fn generate(org: OrgId, now: OffsetDateTime) -> Result<IssuedToken, getrandom::Error> {
    let secret = loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        let secret = format!(
            "{SECRET_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        // About one token in 17 million would read as an application key, which SCIM refuses.
        if !secret.starts_with(crate::apps::KEY_PREFIX) {
            break secret;
        }
    };
    let record = TokenRecord {
        id: TokenId::new(),
        org_id: org,
        prefix: secret[..DISPLAY_PREFIX_LEN].to_owned(),
        hash: hash_secret(&secret),
        created: now,
        expires: now + TOKEN_LIFETIME,
        first_used: None,
        last_used: None,
        revoked: None,
    };
    Ok(IssuedToken { secret, record })
}

/// Why a presented token was refused. Only ever logged: clients see "invalid token".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    Unknown,
    Revoked,
    Expired,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing token",
            AuthFailure::Malformed => "malformed token",
            AuthFailure::Unknown => "unknown token",
            AuthFailure::Revoked => "revoked token",
            AuthFailure::Expired => "expired token",
        }
    }
}

/// Checks a presented secret. Shape checks come first, so garbage never reaches the store.
pub async fn authenticate(
    store: &dyn Store, clock: &dyn Clock, secret: &str,
) -> Result<Result<TokenRecord, AuthFailure>, StoreError> {
    Ok(check(store, clock, secret).await?.map_err(|(why, _)| why))
}

/// Like [`authenticate`], but a refused token that exists comes back with the refusal, so the
/// refusal can be recorded in its organisation's activity log. A token never used within
/// 4 days of its creation is expired (see [`crate::lifecycle::effective_expiry`]).
pub async fn check(
    store: &dyn Store, clock: &dyn Clock, secret: &str,
) -> Result<Result<TokenRecord, (AuthFailure, Option<TokenRecord>)>, StoreError> {
    check_at(store, clock, secret, None).await
}

/// [`check`] for a caller that has just read `mark` from [`HealthStore::change_mark`](crate::store::HealthStore::change_mark).
pub async fn check_at(
    store: &dyn Store, clock: &dyn Clock, secret: &str, mark: Option<crate::store::ChangeMark>,
) -> Result<Result<TokenRecord, (AuthFailure, Option<TokenRecord>)>, StoreError> {
    // An application key shares the `scimd_` prefix but is never a SCIM token: refused here,
    // before any lookup (docs/contract.md, "Applications").
    if !secret.starts_with(SECRET_PREFIX)
        || secret.starts_with(crate::apps::KEY_PREFIX)
        || secret.len() > 128
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(Err((AuthFailure::Malformed, None)));
    }
    let hash = hash_secret(secret);
    let Some(record) = store.find_token_by_hash_at(&hash, mark).await? else {
        return Ok(Err((AuthFailure::Unknown, None)));
    };
    if !bool::from(record.hash.ct_eq(&hash)) {
        return Ok(Err((AuthFailure::Unknown, None)));
    }
    if record.revoked.is_some() {
        return Ok(Err((AuthFailure::Revoked, Some(record))));
    }
    if clock.now() >= crate::lifecycle::effective_expiry(&record) {
        return Ok(Err((AuthFailure::Expired, Some(record))));
    }
    Ok(Ok(record))
}

/// What a request did with a token its store held from an earlier lookup (see [`witnessed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Witnessed {
    /// No held token was used: the token was read for this request, or the store keeps its
    /// own tokens exact.
    Nothing,
    /// A held token was used, and no statement of the request has read the token epoch since.
    Unconfirmed,
    /// A statement of the request read the epoch the token was held at: it is current.
    Confirmed,
    /// A statement read another epoch: some token changed since; check it again.
    Stale,
}

#[derive(Debug)]
struct Reliance {
    epoch: Option<i64>,
    outcome: Witnessed,
    /// The held token whose use is recorded only once it is known current.
    deferred_use: Option<TokenRecord>,
}

/// What [`witnessed`] tells its caller after the request.
#[derive(Debug)]
pub struct Witness {
    pub outcome: Witnessed,
    /// The token whose use [`defer_use`] put off: to record once it is known current.
    pub deferred_use: Option<TokenRecord>,
}

tokio::task_local! {
    static WITNESS: std::sync::Arc<std::sync::Mutex<Reliance>>;
}

/// Runs a read-only request with a witness, so that its store may accept a token it holds
/// from an earlier lookup and prove it current in the request's own statement instead of
/// reading the token first (PostgreSQL: one round trip for a GET). Returns what the request
/// relied on: unless [`Witnessed::Nothing`] or [`Witnessed::Confirmed`], the caller checks the
/// token again (outside the witness, so from the database) before anything is answered, and
/// records the token's use only once it is known current.
/// Never for a write: a write made with a revoked token could not be taken back.
pub async fn witnessed<F: std::future::Future>(f: F) -> (F::Output, Witness) {
    let witness = std::sync::Arc::new(std::sync::Mutex::new(Reliance {
        epoch: None,
        outcome: Witnessed::Nothing,
        deferred_use: None,
    }));
    let out = WITNESS.scope(witness.clone(), f).await;
    let mut w = witness.lock().unwrap_or_else(|e| e.into_inner());
    let witness = Witness {
        outcome: w.outcome,
        deferred_use: w.deferred_use.take(),
    };
    (out, witness)
}

/// For the token check: when the accepted `record` is a held token not yet proven current,
/// keeps it for [`witnessed`]'s caller and returns `true`; its use must not be recorded now
/// (a token revoked elsewhere would be marked used by a request it refuses).
pub fn defer_use(record: &TokenRecord) -> bool {
    WITNESS
        .try_with(|w| {
            let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
            let held = w.outcome == Witnessed::Unconfirmed;
            if held {
                w.deferred_use = Some(record.clone());
            }
            held
        })
        .unwrap_or(false)
}

/// For a store: whether it may answer with a token it has held since the token `epoch`. Only
/// inside [`witnessed`], which then expects a statement of the request to read the epoch
/// ([`observe`]); outside one the store reads the token.
pub fn rely_on(epoch: i64) -> bool {
    WITNESS
        .try_with(|w| {
            let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
            w.epoch = Some(epoch);
            w.outcome = Witnessed::Unconfirmed;
        })
        .is_ok()
}

/// For a store: a statement of the request read the token epoch `epoch`. Any epoch but the
/// one relied on makes the reliance [`Witnessed::Stale`], for good.
pub fn observe(epoch: i64) {
    let _ = WITNESS.try_with(|w| {
        let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
        w.outcome = match (w.epoch, w.outcome) {
            (_, Witnessed::Stale) | (None, _) => w.outcome,
            (Some(relied), _) if relied == epoch => Witnessed::Confirmed,
            (Some(_), _) => Witnessed::Stale,
        };
    });
}

pub use crate::usage::TOUCH_INTERVAL;

/// The use of accepted tokens, as one instance of the server records it.
#[derive(Debug)]
pub struct Tokens {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    lifecycle: Lifecycle,
    touched: UseThrottle<TokenId>,
}

impl Tokens {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Tokens {
            lifecycle: Lifecycle::new(store.clone(), clock.clone()),
            store,
            clock,
            touched: UseThrottle::default(),
        }
    }

    /// Records a request made with `record`, a token that was just accepted: on its first use
    /// the connection turns active and the set-up notice is queued (see
    /// [`Lifecycle::first_use`]); after that `last_used` is written when it is older than
    /// [`TOUCH_INTERVAL`]. Use is recorded on the side: a failure is logged, never returned,
    /// so that the request itself still succeeds (a full disk refuses writes and keeps
    /// serving reads), and the next request tries again.
    pub async fn record_use(&self, record: &TokenRecord) {
        let now = self.clock.now();
        if record.first_used.is_none() {
            if let Err(e) = self.lifecycle.first_use(record).await {
                tracing::error!(error = %e, token = %record.id, "cannot record a token's first use");
            }
        } else if self.touched.due(record.id, record.last_used, now)
            && let Err(e) = self.store.touch_token(record.org_id, record.id, now).await
        {
            tracing::warn!(error = %e, token = %record.id, "cannot record a token's use");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn outcome(f: impl std::future::Future<Output = ()>) -> Witnessed {
        witnessed(f).await.1.outcome
    }

    #[tokio::test]
    async fn a_held_token_is_confirmed_only_by_the_epoch_it_was_held_at() {
        assert!(!rely_on(1), "no witness outside a read");
        assert_eq!(outcome(async {}).await, Witnessed::Nothing);
        let relied = async {
            assert!(rely_on(7));
        };
        assert_eq!(outcome(relied).await, Witnessed::Unconfirmed);
        let confirmed = async {
            rely_on(7);
            observe(7);
        };
        assert_eq!(outcome(confirmed).await, Witnessed::Confirmed);
        let changed = async {
            rely_on(7);
            observe(7);
            observe(8);
            observe(7);
        };
        assert_eq!(
            outcome(changed).await,
            Witnessed::Stale,
            "a later change stays"
        );
        let unrelied = async { observe(7) };
        assert_eq!(
            outcome(unrelied).await,
            Witnessed::Nothing,
            "nothing relied on"
        );
    }

    #[tokio::test]
    async fn the_use_of_a_held_token_waits_for_the_proof() {
        let record = generate(OrgId::new(), OffsetDateTime::UNIX_EPOCH)
            .expect("random")
            .record;
        assert!(
            !defer_use(&record),
            "outside a read the use is recorded at once"
        );
        let ((), w) = witnessed(async { assert!(!defer_use(&record), "a token read now") }).await;
        assert!(w.deferred_use.is_none());
        let ((), w) = witnessed(async {
            rely_on(3);
            assert!(defer_use(&record));
        })
        .await;
        assert_eq!(w.deferred_use.map(|r| r.id), Some(record.id));
    }

    #[test]
    fn generated_secrets_are_prefixed_random_and_hash_matches() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let org = OrgId::new();
        let a = generate(org, now).expect("random");
        let b = generate(org, now).expect("random");
        assert!(a.secret.starts_with(SECRET_PREFIX));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.record.hash, hash_secret(&a.secret));
        assert!(a.secret.starts_with(&a.record.prefix));
        assert_eq!(a.record.expires - a.record.created, TOKEN_LIFETIME);
        // 32 bytes in unpadded base64 are 43 characters.
        assert_eq!(a.secret.len(), SECRET_PREFIX.len() + 43);
    }
}
