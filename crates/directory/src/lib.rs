//! # directory
//!
//! The scimd domain: organisations, SCIM resources (accounts and groups), tokens; the services
//! that enforce the rules; and the ports the rest of the system plugs into: the storage port
//! [`store::Store`] (one trait per area, implemented once per database, speaking the types of
//! [`model`]), the [`clock::Clock`] trait and the [`notify::Mailer`] trait. [`lifecycle`] holds
//! the token, connection and administrator rules; [`token`] the tokens' secrets, their check
//! and the record of their use; [`notify`] the notices and the background jobs that send
//! them; [`session`] and [`setup`] the console's sign-in, lock-out and first administrator;
//! [`second_factor`] administrators' two-step verification; [`applications`] the
//! applications, their webhook endpoints and how they read the directory and the events.
//!
//! Guarantees: every store call is scoped to one organisation, except the token lookup that
//! finds the organisation; services never see SQL; time only comes from the injected clock.

pub mod accounts;
pub mod applications;
pub mod apps;
pub mod clock;
pub mod events;
pub mod failure;
pub mod ids;
pub mod lifecycle;
pub mod model;
pub mod notify;
pub mod organisation;
pub mod passwords;
pub mod render;
pub mod reveal;
pub mod roles;
pub mod scim;
pub mod second_factor;
pub mod session;
pub mod setup;
pub mod store;
pub mod token;
pub mod usage;
pub mod zone;

pub use clock::{Clock, SystemClock};
pub use failure::{ErrorKind, Failure};
pub use ids::{OrgId, OrgKind, Organisation, ResourceId, TokenId};
pub use store::{Store, StoreError};
