//! One vocabulary of failure for every service. Each service keeps its own error enum, with
//! messages in its own words; [`Failure::kind`] says what sort of failure a value is, and each
//! surface (the administrative API, the console, the command line) turns kinds into its own
//! answers with one table (`server::api::error` for HTTP). A surface never matches a service's
//! variants itself, so a new variant only has to be given its kind here.
//!
//! [`Failure::field`] names the input a refusal is about (`userName`, `email`, `password`...),
//! so a form can show the message next to that field.

use crate::accounts::DirectoryError;
use crate::applications::AppError;
use crate::lifecycle::LifecycleError;
use crate::reveal::RevealError;
use crate::second_factor::SecondFactorError;
use crate::session::SessionError;
use crate::setup::SetupError;
use crate::store::StoreError;

/// What sort of failure: the caller's input, the caller's identity, the state of the
/// directory, or the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is malformed or breaks a rule of its own (a bad address, a short password).
    Invalid,
    /// No valid credentials or session.
    Unauthenticated,
    /// The thing is managed elsewhere (by the identity provider) and cannot be changed here.
    ReadOnly,
    /// No such thing in this organisation.
    NotFound,
    /// A one-time thing (a link) that was used, has expired, or never existed.
    Gone,
    /// A unique value already in use.
    Conflict,
    /// A rule of the directory refuses the act in the current state (the last live token,
    /// a second administrator with one address, an already revoked token).
    Refused,
    /// The thing changed since the caller read it.
    Stale,
    /// A check against the outside world failed (a domain's DNS record).
    Unverified,
    /// Too many failed attempts: refused for a while whatever the input.
    Locked,
    /// The password was right; a code of the second factor is needed as well.
    SecondFactorRequired,
    /// The organisation requires two-step verification and the administrator has none yet:
    /// nothing but enrolment is open.
    EnrolmentRequired,
    /// The server is taking as much of this work as it can: retry in a moment.
    Busy,
    /// A dependency (the database) cannot be reached: retry later.
    Unavailable,
    /// The database's storage is full: the change was not made.
    StorageFull,
    /// Anything else: a fault of the server, shown without details and logged.
    Internal,
}

impl ErrorKind {
    /// Whether the cause is the server's (logged, never shown in detail).
    pub fn is_server_side(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable | ErrorKind::StorageFull | ErrorKind::Internal
        )
    }
}

/// A service error that says what sort of failure it is.
pub trait Failure: std::error::Error + Send + Sync + 'static {
    fn kind(&self) -> ErrorKind;

    /// The input field the failure is about, when there is one.
    fn field(&self) -> Option<&str> {
        None
    }
}

impl Failure for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::NotFound => ErrorKind::NotFound,
            StoreError::VersionMismatch => ErrorKind::Stale,
            StoreError::UnknownMember(_) | StoreError::InvalidCursor => ErrorKind::Invalid,
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::StorageFull(_) => ErrorKind::StorageFull,
            StoreError::Internal(_) => ErrorKind::Internal,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            StoreError::Conflict(f) => Some(f),
            StoreError::UnknownMember(_) => Some("members"),
            _ => None,
        }
    }
}

impl Failure for DirectoryError {
    fn kind(&self) -> ErrorKind {
        match self {
            DirectoryError::NotFound(_) => ErrorKind::NotFound,
            DirectoryError::ReadOnly(_) => ErrorKind::ReadOnly,
            DirectoryError::Invalid(_) => ErrorKind::Invalid,
            DirectoryError::Conflict(..) => ErrorKind::Conflict,
            DirectoryError::Stale => ErrorKind::Stale,
            DirectoryError::Dns(_) => ErrorKind::Unverified,
            DirectoryError::Lifecycle(l) => l.kind(),
            DirectoryError::Store(s) => s.kind(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            DirectoryError::Conflict(field, _) => Some(field),
            DirectoryError::Lifecycle(l) => l.field(),
            DirectoryError::Store(s) => s.field(),
            _ => None,
        }
    }
}

impl Failure for LifecycleError {
    fn kind(&self) -> ErrorKind {
        match self {
            LifecycleError::TooManyTokens
            | LifecycleError::LastLiveToken
            | LifecycleError::AlreadyRevoked(_)
            | LifecycleError::DuplicateAdmin(_)
            | LifecycleError::LastAdministrator(_)
            | LifecycleError::KindLocked
            | LifecycleError::SiteManagersRemain => ErrorKind::Refused,
            LifecycleError::UnknownToken(_)
            | LifecycleError::UnknownAdmin(_)
            | LifecycleError::UnknownOrg => ErrorKind::NotFound,
            LifecycleError::InvalidEmail(_)
            | LifecycleError::RoleNotForKind
            | LifecycleError::WeakPassword(_)
            | LifecycleError::InvalidName(_)
            | LifecycleError::InvalidTimeZone(_) => ErrorKind::Invalid,
            LifecycleError::Password(_) | LifecycleError::Random(_) => ErrorKind::Internal,
            LifecycleError::Store(s) => s.kind(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            LifecycleError::InvalidEmail(_)
            | LifecycleError::DuplicateAdmin(_)
            | LifecycleError::UnknownAdmin(_) => Some("email"),
            LifecycleError::RoleNotForKind => Some("role"),
            LifecycleError::InvalidName(_) => Some("name"),
            LifecycleError::InvalidTimeZone(_) => Some("time_zone"),
            LifecycleError::KindLocked | LifecycleError::SiteManagersRemain => Some("kind"),
            LifecycleError::WeakPassword(_) => Some("password"),
            LifecycleError::Store(s) => s.field(),
            _ => None,
        }
    }
}

impl Failure for AppError {
    fn kind(&self) -> ErrorKind {
        match self {
            AppError::Invalid(_) | AppError::UnknownEvent(_) => ErrorKind::Invalid,
            AppError::UnknownApp(_) | AppError::UnknownWebhook(_) | AppError::NotFound(_) => {
                ErrorKind::NotFound
            }
            AppError::DuplicateName(_) => ErrorKind::Conflict,
            AppError::AlreadyRevoked(_) => ErrorKind::Refused,
            AppError::Random(_) => ErrorKind::Internal,
            AppError::Store(s) => s.kind(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            AppError::DuplicateName(_) => Some("name"),
            AppError::Store(s) => s.field(),
            _ => None,
        }
    }
}

impl Failure for SessionError {
    fn kind(&self) -> ErrorKind {
        match self {
            SessionError::BadCredentials
            | SessionError::NoSession
            | SessionError::InvalidChoice
            | SessionError::WrongCode => ErrorKind::Unauthenticated,
            SessionError::CodeRequired => ErrorKind::SecondFactorRequired,
            SessionError::EnrolmentRequired => ErrorKind::EnrolmentRequired,
            SessionError::LockedOut(_) => ErrorKind::Locked,
            SessionError::Busy => ErrorKind::Busy,
            SessionError::PasswordTooLong => ErrorKind::Invalid,
            SessionError::Random(_) => ErrorKind::Internal,
            SessionError::Store(s) => s.kind(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            SessionError::PasswordTooLong => Some("password"),
            SessionError::WrongCode | SessionError::CodeRequired => Some("code"),
            _ => None,
        }
    }
}

impl Failure for SetupError {
    fn kind(&self) -> ErrorKind {
        match self {
            SetupError::InvalidLink => ErrorKind::Gone,
            SetupError::AlreadySetUp => ErrorKind::Refused,
            SetupError::Password(_) => ErrorKind::Invalid,
            SetupError::Lifecycle(l) => l.kind(),
            SetupError::Store(s) => s.kind(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            SetupError::Password(_) => Some("password"),
            SetupError::Lifecycle(l) => l.field(),
            SetupError::Store(s) => s.field(),
            _ => None,
        }
    }
}

impl Failure for SecondFactorError {
    fn kind(&self) -> ErrorKind {
        match self {
            SecondFactorError::AlreadyEnrolled
            | SecondFactorError::NotEnrolled
            | SecondFactorError::NoEnrolment
            | SecondFactorError::Required
            | SecondFactorError::EnrolYourselfFirst => ErrorKind::Refused,
            SecondFactorError::WrongCode => ErrorKind::Invalid,
            SecondFactorError::UnknownAdmin(_) | SecondFactorError::UnknownOrg => {
                ErrorKind::NotFound
            }
            SecondFactorError::Random(_) | SecondFactorError::Totp(_) => ErrorKind::Internal,
            SecondFactorError::Session(s) => s.kind(),
            SecondFactorError::Store(s) => s.kind(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            SecondFactorError::WrongCode => Some("code"),
            SecondFactorError::UnknownAdmin(_) => Some("email"),
            SecondFactorError::Session(s) => s.field(),
            SecondFactorError::Store(s) => s.field(),
            _ => None,
        }
    }
}

impl Failure for RevealError {
    fn kind(&self) -> ErrorKind {
        match self {
            RevealError::Random(_) | RevealError::Seal => ErrorKind::Internal,
            RevealError::Store(s) => s.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_errors_keep_the_kind_and_field_of_what_they_wrap() {
        let e = DirectoryError::from(StoreError::Conflict("userName"));
        assert_eq!(
            (e.kind(), e.field()),
            (ErrorKind::Conflict, Some("userName"))
        );
        let e = SetupError::Lifecycle(LifecycleError::InvalidEmail("x".into()));
        assert_eq!((e.kind(), e.field()), (ErrorKind::Invalid, Some("email")));
        let e = AppError::Store(StoreError::Unavailable("refused".into()));
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.kind().is_server_side());
        assert!(!ErrorKind::Refused.is_server_side());
    }
}
