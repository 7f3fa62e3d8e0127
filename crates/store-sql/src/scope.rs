//! Whose resources a write reaches. SCIM writes see only what directory sync owns and SCIM has
//! not deleted; an administrator's writes to a manual group see only manual groups, and may
//! add as members any account or group of the organisation that SCIM has not deleted (a
//! synced account in a manual group stays synced: SCIM never sees the manual group).

use directory::store::Source;

/// The part of the directory a write works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// SCIM's own resources.
    Scim,
    /// The administrators' manual groups.
    Manual,
}

impl Scope {
    /// The condition, on the row `r`, that a resource written belongs to this scope.
    pub fn owns(self) -> &'static str {
        match self {
            Scope::Scim => "(r.source = 'scim' AND r.deleted IS NULL)",
            Scope::Manual => "(r.source = 'manual' AND r.deleted IS NULL)",
        }
    }

    /// The condition, on the row `r`, that a resource may become a member of a group of this
    /// scope.
    pub fn admits(self) -> &'static str {
        match self {
            Scope::Scim => Scope::Scim.owns(),
            Scope::Manual => "(r.deleted IS NULL)",
        }
    }

    /// The source of the resources this scope creates.
    pub fn source(self) -> Source {
        match self {
            Scope::Scim => Source::Scim,
            Scope::Manual => Source::Manual,
        }
    }
}
