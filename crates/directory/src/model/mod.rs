//! The domain model the storage port speaks: what stores keep and return. Each part is named
//! for what it describes; [`crate::store`] re-exports all of it.

pub mod account;
pub mod activity;
pub mod admin;
pub mod app;
pub mod columns;
pub mod cursor;
pub mod domain;
pub mod event;
pub mod group;
pub mod notice;
pub mod org;
pub mod resource;
pub mod roles;
pub mod token;

pub use account::{
    Account, AccountChange, AccountPage, AccountQuery, ConflictRecord, DirectoryState, LocalProps,
    SEARCH_COUNT_CAP, Source, Status, SyncPolicy,
};
pub use activity::ActivityEntry;
pub use admin::{
    AdminRole, Administrator, LinkPurpose, PasswordLink, SecondFactor, SessionRecord,
    SigninThrottle,
};
pub use app::{
    Application, DeliveryRecord, DeliveryReport, WebhookEndpoint, WebhookSecret, WebhookState,
};
pub use cursor::{Cursor, CursorKey};
pub use domain::DomainRecord;
pub use event::{DirectoryQuery, Event, EventId, EventQuery, EventType, NewEvent};
pub use group::{GroupPage, GroupSummary, MemberEntry, MemberPage, MemberQuery};
pub use notice::{Notice, NoticeKind};
pub use org::{Connection, ConnectionState};
pub use resource::{
    GroupView, ListQuery, Load, MemberView, NewResource, Page, StoredResource, Update,
};
pub use roles::{RoleRule, RuleCondition, RuleOp};
pub use token::TokenRecord;
