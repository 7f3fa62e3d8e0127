//! Two-step verification for console administrators: a TOTP second factor (RFC 6238, as
//! authenticator apps make codes: HMAC-SHA-1, 6 digits, 30-second steps, one step of clock
//! skew either way) and ten recovery codes.
//!
//! - **Enrolment**: [`SecondFactors::begin`] keeps a new random 160-bit secret, unconfirmed,
//!   and gives it as base32 text and as its `otpauth://` URL (the console draws its QR code).
//!   It protects nothing until [`SecondFactors::confirm`] gets a first code made from it; that
//!   also makes the recovery codes, returned once (the console shows them through
//!   [`crate::reveal`]) and stored as SHA-256 hashes only.
//! - **Replay**: the store keeps the newest time step a code was accepted for, and accepts a
//!   code only for a later step, in one conditional write ([`SecondFactorStore::accept_step`]):
//!   a code works once, even when two requests race with it on two instances.
//! - **Recovery codes** are each spent once, atomically; [`SecondFactors::regenerate`] (with a
//!   current code) replaces them all.
//! - **The organisation's rule** ([`SecondFactors::set_required`]): every administrator must
//!   have one. Those without are sent to enrolment after their password and can reach nothing
//!   else until enrolled ([`crate::session::SignedIn::enrol_first`]); nobody can turn theirs
//!   off while the rule holds.
//! - **Reset** is an operator's act ([`SecondFactors::reset`], `scimd admin reset-2fa`): the
//!   factor and codes go and the administrator's sessions end.
//!
//! Code checks in Settings (confirm, regenerate, turn off) count toward the same per-address
//! lock-out as sign-ins ([`crate::session`]). Every act is in the activity log.

use crate::clock::Clock;
use crate::ids::{AdminId, OrgId, Organisation};
use crate::session::{SessionError, Sessions, SignedIn};
use crate::store::{ActivityEntry, Administrator, SecondFactor, Store, StoreError};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use totp_rs::{Builder, Totp};

/// Recovery codes made at enrolment and by each regeneration.
pub const RECOVERY_CODES: usize = 10;
/// The issuer authenticator apps show beside the account.
pub const ISSUER: &str = "scimd";
/// Seconds per TOTP step.
pub const STEP_SECONDS: u64 = 30;
/// Characters of a recovery code: no 0/o, 1/l/i, so it reads back unambiguously.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Characters in a recovery code (about 50 bits), shown as two groups of five.
const RECOVERY_LEN: usize = 10;
/// Longer input is no code at all.
pub(crate) const MAX_CODE_BYTES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    #[error("two-step verification is already on; turn it off first to enrol again")]
    AlreadyEnrolled,
    #[error("two-step verification is not on for this administrator")]
    NotEnrolled,
    #[error("there is no enrolment waiting for its first code: start again")]
    NoEnrolment,
    /// A wrong, malformed or already used code.
    #[error("the code is not correct, or was already used: enter the current code")]
    WrongCode,
    #[error(
        "the organisation requires two-step verification of every administrator: it cannot be turned off"
    )]
    Required,
    /// Requiring it from the console before having it oneself would lock one's own session.
    #[error("set up two-step verification for yourself before requiring it of everyone")]
    EnrolYourselfFirst,
    #[error("no administrator with e-mail address '{0}' in this organisation")]
    UnknownAdmin(String),
    #[error("no such organisation")]
    UnknownOrg,
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("cannot make the authenticator's details: {0}")]
    Totp(String),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the enrolment page shows (its `Debug` leaves the secret out).
#[derive(Clone)]
pub struct Enrolment {
    /// The secret in base32, for typing into an app.
    pub secret: String,
    /// The `otpauth://totp/...` URL, for the QR code the console draws of it.
    pub url: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment").finish_non_exhaustive()
    }
}

/// An administrator's two-step verification, as Settings shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub enrolled: bool,
    pub recovery_codes_left: u32,
    /// The organisation requires it of every administrator.
    pub required: bool,
}

/// How a code given at sign-in was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepted {
    Totp,
    Recovery,
}

/// The TOTP of a secret, labelled for an administrator of an organisation.
fn totp(secret: &[u8], account: &str) -> Result<Totp, SecondFactorError> {
    // Neither the issuer nor the account may hold a colon (the label's separator).
    let account = account.replace(':', " ");
    Builder::new()
        .with_secret(secret.to_vec())
        .with_step_duration(STEP_SECONDS)
        .with_skew(1)
        .with_digits(6)
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| SecondFactorError::Totp(format!("{e:?}")))
}

fn unix_seconds(t: time::OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp()).unwrap_or(0)
}

/// The code `secret` gives at `t`: what an authenticator app shows then (tests use it too).
pub fn code_at(secret: &[u8], t: time::OffsetDateTime) -> Result<String, SecondFactorError> {
    Ok(totp(secret, "x")?.generate(unix_seconds(t)).to_string())
}

/// The time step of a 6-digit `code` made from `secret` within one step of `now`, if any.
fn matching_step(secret: &[u8], code: &str, now: time::OffsetDateTime) -> Option<i64> {
    let t = totp(secret, "x").ok()?;
    t.check(code, unix_seconds(now))
        .and_then(|s| i64::try_from(s).ok())
}

/// A code as people type it: spaces and dashes gone, lower case.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a normalised code has the form of a TOTP code (six digits).
fn is_totp_form(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The stored hash of a recovery code (normalised).
fn recovery_hash(code: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"scimd recovery code\0")
        .chain_update(normalise(code).as_bytes())
        .finalize()
        .into()
}

/// Ten new recovery codes (`abcde-fghij`) and their hashes.
fn new_recovery_codes() -> Result<(Vec<String>, Vec<[u8; 32]>), SecondFactorError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let mut bytes = [0u8; RECOVERY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| SecondFactorError::Random(e.to_string()))?;
        // 256 is not a multiple of the alphabet's size: bytes past the last whole multiple
        // are dropped, so every character is equally likely.
        let limit = 256 - 256 % RECOVERY_ALPHABET.len();
        if bytes.iter().any(|b| usize::from(*b) >= limit) {
            continue;
        }
        let chars: String = bytes
            .iter()
            .map(|b| char::from(RECOVERY_ALPHABET[usize::from(*b) % RECOVERY_ALPHABET.len()]))
            .collect();
        let code = format!("{}-{}", &chars[..5], &chars[5..]);
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    Ok((codes, hashes))
}

/// Checks a sign-in code against the administrator's confirmed second factor and, when it is
/// right, uses it up: a TOTP code's step becomes the newest accepted one, a recovery code is
/// spent. `Ok(None)` for a wrong, malformed or already used code.
pub(crate) async fn use_code(
    store: &dyn Store, now: time::OffsetDateTime, admin: &Administrator, code: &str,
) -> Result<Option<Accepted>, StoreError> {
    if code.len() > MAX_CODE_BYTES {
        return Ok(None);
    }
    let Some(factor) = store
        .get_second_factor(admin.org_id, admin.id)
        .await?
        .filter(|f| f.confirmed.is_some())
    else {
        return Ok(None);
    };
    let code = normalise(code);
    if is_totp_form(&code) {
        let Some(step) = matching_step(&factor.secret, &code, now) else {
            return Ok(None);
        };
        let fresh = store.accept_step(admin.org_id, admin.id, step).await?;
        return Ok(fresh.then_some(Accepted::Totp));
    }
    let spent = store
        .spend_recovery_code(admin.org_id, admin.id, &recovery_hash(&code), now)
        .await?;
    Ok(spent.then_some(Accepted::Recovery))
}

/// Enrolment, codes, the organisation's rule and the operator's reset.
#[derive(Debug, Clone)]
pub struct SecondFactors {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sessions: Sessions,
}

impl SecondFactors {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, sessions: Sessions) -> Self {
        SecondFactors {
            store,
            clock,
            sessions,
        }
    }

    async fn record(&self, org: OrgId, actor: &str, action: &str, target: &str) {
        let entry = ActivityEntry::act(org, self.clock.now(), actor, action, target);
        if let Err(e) = self.store.append_activity(vec![entry]).await {
            tracing::error!(error = %e, "cannot record a two-step verification act");
        }
    }

    fn account(admin: &Administrator, org: &Organisation) -> String {
        format!("{} ({})", admin.email, org.name)
    }

    /// The administrator's two-step verification.
    pub async fn status(&self, admin: &Administrator) -> Result<Status, SecondFactorError> {
        let enrolled = self
            .store
            .get_second_factor(admin.org_id, admin.id)
            .await?
            .is_some_and(|f| f.confirmed.is_some());
        let recovery_codes_left = if enrolled {
            self.store
                .recovery_codes_left(admin.org_id, admin.id)
                .await?
        } else {
            0
        };
        Ok(Status {
            enrolled,
            recovery_codes_left,
            required: self.store.second_factor_required(admin.org_id).await?,
        })
    }

    /// The enrolment waiting for its first code, or a new one: the secret to scan or type.
    /// Showing the page again shows the same secret until it is confirmed.
    pub async fn begin(
        &self, admin: &Administrator, org: &Organisation,
    ) -> Result<Enrolment, SecondFactorError> {
        let existing = self.store.get_second_factor(admin.org_id, admin.id).await?;
        let secret = match existing {
            Some(f) if f.confirmed.is_some() => return Err(SecondFactorError::AlreadyEnrolled),
            Some(f) => f.secret,
            None => {
                let mut secret = vec![0u8; 20];
                getrandom::fill(&mut secret)
                    .map_err(|e| SecondFactorError::Random(e.to_string()))?;
                self.store
                    .put_second_factor(&SecondFactor {
                        org_id: admin.org_id,
                        admin_id: admin.id,
                        secret,
                        created: self.clock.now(),
                        confirmed: None,
                        last_step: None,
                    })
                    .await?;
                // Another page load may have begun first: its key is the one kept.
                match self.store.get_second_factor(admin.org_id, admin.id).await? {
                    Some(f) if f.confirmed.is_none() => f.secret,
                    _ => return Err(SecondFactorError::AlreadyEnrolled),
                }
            }
        };
        let t = totp(&secret, &Self::account(admin, org))?;
        let url = t
            .to_url()
            .map_err(|e| SecondFactorError::Totp(format!("{e:?}")))?;
        Ok(Enrolment {
            secret: t.secret().to_base32(),
            url,
        })
    }

    /// Counts a code check toward the address's lock-out, runs it, and settles the count.
    async fn guarded(
        &self, admin: &Administrator, ok: impl AsyncFnOnce() -> Result<bool, SecondFactorError>,
    ) -> Result<(), SecondFactorError> {
        let attempt = self.sessions.count_code_attempt(admin).await?;
        let ok = ok().await?;
        self.sessions
            .settle_code_attempt(admin, attempt, ok)
            .await?;
        if ok {
            Ok(())
        } else {
            Err(SecondFactorError::WrongCode)
        }
    }

    /// Turns two-step verification on with a first code from the app; returns the recovery
    /// codes, to show once. Logged.
    pub async fn confirm(
        &self, who: &SignedIn, code: &str,
    ) -> Result<Vec<String>, SecondFactorError> {
        let admin = &who.admin;
        let factor = match self.store.get_second_factor(admin.org_id, admin.id).await? {
            Some(f) if f.confirmed.is_some() => return Err(SecondFactorError::AlreadyEnrolled),
            Some(f) => f,
            None => return Err(SecondFactorError::NoEnrolment),
        };
        let now = self.clock.now();
        let code = normalise(code);
        let step = if is_totp_form(&code) {
            matching_step(&factor.secret, &code, now)
        } else {
            None
        };
        self.guarded(admin, async || Ok(step.is_some())).await?;
        let step = step.ok_or(SecondFactorError::WrongCode)?;
        let (codes, hashes) = new_recovery_codes()?;
        if !self
            .store
            .confirm_second_factor(admin.org_id, admin.id, step, now, &hashes)
            .await?
        {
            return Err(SecondFactorError::NoEnrolment);
        }
        self.record(
            admin.org_id,
            &format!("admin:{}", admin.email),
            "admin.2fa.enrol",
            &admin.email,
        )
        .await;
        Ok(codes)
    }

    /// Checks a current code of a confirmed second factor (and uses it up).
    async fn check_current(
        &self, admin: &Administrator, code: &str,
    ) -> Result<(), SecondFactorError> {
        let enrolled = self
            .store
            .get_second_factor(admin.org_id, admin.id)
            .await?
            .is_some_and(|f| f.confirmed.is_some());
        if !enrolled {
            return Err(SecondFactorError::NotEnrolled);
        }
        let now = self.clock.now();
        let code = normalise(code);
        self.guarded(admin, async || {
            // Only a code from the app: a recovery code is for signing in.
            if !is_totp_form(&code) {
                return Ok(false);
            }
            Ok(use_code(self.store.as_ref(), now, admin, &code).await? == Some(Accepted::Totp))
        })
        .await
    }

    /// New recovery codes for the old ones, with a current code; returns them, to show once.
    /// Logged.
    pub async fn regenerate(
        &self, who: &SignedIn, code: &str,
    ) -> Result<Vec<String>, SecondFactorError> {
        let admin = &who.admin;
        self.check_current(admin, code).await?;
        let (codes, hashes) = new_recovery_codes()?;
        if !self
            .store
            .replace_recovery_codes(admin.org_id, admin.id, &hashes)
            .await?
        {
            return Err(SecondFactorError::NotEnrolled);
        }
        self.record(
            admin.org_id,
            &format!("admin:{}", admin.email),
            "admin.2fa.recovery.regenerate",
            &admin.email,
        )
        .await;
        Ok(codes)
    }

    /// Turns one's own two-step verification off with a current code, unless the
    /// organisation requires it. Logged.
    pub async fn turn_off(&self, who: &SignedIn, code: &str) -> Result<(), SecondFactorError> {
        let admin = &who.admin;
        if self.store.second_factor_required(admin.org_id).await? {
            return Err(SecondFactorError::Required);
        }
        self.check_current(admin, code).await?;
        self.store
            .remove_second_factor(admin.org_id, admin.id)
            .await?;
        self.record(
            admin.org_id,
            &format!("admin:{}", admin.email),
            "admin.2fa.off",
            &admin.email,
        )
        .await;
        Ok(())
    }

    /// The operator's reset: the administrator's second factor and recovery codes go, and
    /// every session of theirs ends. Logged. An administrator without one (an enrolment
    /// waiting for its first code protects nothing) is refused, and nothing changes.
    pub async fn reset(
        &self, org: OrgId, email: &str, actor: &str,
    ) -> Result<Administrator, SecondFactorError> {
        let key = email.trim().to_lowercase();
        let admin = self
            .store
            .list_admins(org)
            .await?
            .into_iter()
            .find(|a| a.email.to_lowercase() == key)
            .ok_or_else(|| SecondFactorError::UnknownAdmin(email.trim().to_owned()))?;
        let enrolled = self
            .store
            .get_second_factor(org, admin.id)
            .await?
            .is_some_and(|f| f.confirmed.is_some());
        if !enrolled {
            return Err(SecondFactorError::NotEnrolled);
        }
        self.store.remove_second_factor(org, admin.id).await?;
        self.store.end_admin_sessions(org, admin.id).await?;
        self.record(org, actor, "admin.2fa.reset", &admin.email)
            .await;
        Ok(admin)
    }

    /// Sets the organisation's rule. From the console (`by` is the signed-in administrator),
    /// turning it on needs one's own second factor first. Logged.
    pub async fn set_required(
        &self, org: OrgId, on: bool, actor: &str, by: Option<AdminId>,
    ) -> Result<(), SecondFactorError> {
        if on && let Some(admin) = by {
            let enrolled = self
                .store
                .get_second_factor(org, admin)
                .await?
                .is_some_and(|f| f.confirmed.is_some());
            if !enrolled {
                return Err(SecondFactorError::EnrolYourselfFirst);
            }
        }
        if !self.store.set_second_factor_required(org, on).await? {
            return Err(SecondFactorError::UnknownOrg);
        }
        let action = if on {
            "org.2fa.required"
        } else {
            "org.2fa.optional"
        };
        self.record(org, actor, action, &org.to_string()).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_rfc_6238_and_match_one_step_either_way() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890", truncated to 6 digits.
        let secret = b"12345678901234567890";
        let at = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).expect("time");
        assert_eq!(code_at(secret, at(59)).expect("code"), "287082");
        assert_eq!(code_at(secret, at(1_111_111_109)).expect("code"), "081804");
        assert_eq!(code_at(secret, at(2_000_000_000)).expect("code"), "279037");
        let code = code_at(secret, at(1_111_111_109)).expect("code");
        let step = 1_111_111_109 / 30;
        for t in [1_111_111_109 - 30, 1_111_111_109, 1_111_111_109 + 30] {
            assert_eq!(matching_step(secret, &code, at(t)), Some(step), "{t}");
        }
        assert_eq!(matching_step(secret, &code, at(1_111_111_109 + 90)), None);
        assert_eq!(matching_step(secret, "+81804", at(1_111_111_109)), None);
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_read_back_however_typed() {
        let (codes, hashes) = new_recovery_codes().expect("codes");
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for (c, h) in codes.iter().zip(&hashes) {
            assert_eq!(c.len(), 11, "{c}");
            assert!(!is_totp_form(&normalise(c)), "{c}");
            let typed = format!(" {} ", c.to_uppercase().replace('-', " "));
            assert_eq!(recovery_hash(&typed), *h);
        }
    }

    #[test]
    fn debug_output_never_carries_the_secret() {
        let f = SecondFactor {
            org_id: OrgId::new(),
            admin_id: AdminId::new(),
            secret: b"12345678901234567890".to_vec(),
            created: time::OffsetDateTime::UNIX_EPOCH,
            confirmed: None,
            last_step: None,
        };
        let shown = format!("{f:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("49, 50, 51"), "{shown}");
    }
}
