//! The port of administrators' second factors (docs/contract.md, "Two-step verification").

use super::*;

/// Two-step verification: administrators' TOTP secrets, the newest accepted time step, their
/// recovery codes (hashed), and the organisation's rule that every administrator has one.
/// Every change that guards a one-time use (a time step, a recovery code) is one atomic
/// conditional write: of racing callers, exactly one succeeds.
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    /// Keeps `f`, unconfirmed, when the administrator has no second factor: `Ok(true)`.
    /// `Ok(false)`, and nothing changes, when they have one, confirmed or not: of two
    /// enrolments begun at once (two page loads), the first stays, so both show its key.
    async fn put_second_factor(&self, f: &SecondFactor) -> Result<bool, StoreError>;

    async fn get_second_factor(
        &self, org: OrgId, admin: AdminId,
    ) -> Result<Option<SecondFactor>, StoreError>;

    /// Confirms the unconfirmed second factor at `at` with `step` as its newest accepted step
    /// and, in the same transaction, replaces the administrator's recovery codes with
    /// `codes` (hashes); `Ok(false)`, and nothing changes, when there is no unconfirmed one.
    async fn confirm_second_factor(
        &self, org: OrgId, admin: AdminId, step: i64, at: OffsetDateTime, codes: &[[u8; 32]],
    ) -> Result<bool, StoreError>;

    /// Records `step` as the newest accepted time step of a confirmed second factor, only
    /// when it is later than the one recorded: `Ok(true)` for exactly one caller of a step.
    async fn accept_step(&self, org: OrgId, admin: AdminId, step: i64) -> Result<bool, StoreError>;

    /// Replaces the recovery codes of a confirmed second factor; `Ok(false)` without one.
    async fn replace_recovery_codes(
        &self, org: OrgId, admin: AdminId, codes: &[[u8; 32]],
    ) -> Result<bool, StoreError>;

    /// Marks an unused recovery code used at `at`: `Ok(true)` for exactly one caller.
    async fn spend_recovery_code(
        &self, org: OrgId, admin: AdminId, hash: &[u8; 32], at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// How many unused recovery codes the administrator has.
    async fn recovery_codes_left(&self, org: OrgId, admin: AdminId) -> Result<u32, StoreError>;

    /// The hashes of the administrator's unused recovery codes, in byte order (`scimd copy`
    /// carries them).
    async fn recovery_code_hashes(
        &self, org: OrgId, admin: AdminId,
    ) -> Result<Vec<[u8; 32]>, StoreError>;

    /// Removes the administrator's second factor and recovery codes in one transaction;
    /// `Ok(false)` when there was no second factor.
    async fn remove_second_factor(&self, org: OrgId, admin: AdminId) -> Result<bool, StoreError>;

    /// Whether the organisation requires a second factor of every administrator.
    async fn second_factor_required(&self, org: OrgId) -> Result<bool, StoreError>;

    /// Sets that rule; `Ok(false)` when there is no such organisation.
    async fn set_second_factor_required(&self, org: OrgId, on: bool) -> Result<bool, StoreError>;
}
