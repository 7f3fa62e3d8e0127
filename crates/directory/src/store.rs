//! The storage port, one trait per area. One implementation per database; one conformance
//! suite for all. [`Store`] is every area at once: what services hold, as `Arc<dyn Store>`, on
//! which every area's methods can be called as they are. A caller that holds a concrete store
//! (`SqliteStore`, `PgStore`) or a generic one brings the area traits into scope with
//! `use directory::store::prelude::*`.
//!
//! Every method but [`TokenStore::find_token_by_hash`], [`AdminStore::find_session_by_hash`],
//! [`AdminStore::find_admins_by_email`] and the sign-in lock-out (keyed by address alone)
//! takes the organisation first and touches only that organisation's rows (the jobs that purge or claim across organisations say so). Stores
//! return domain values ([`crate::model`]), never rows.

use crate::ids::{
    AdminId, AppId, NoticeId, OrgId, OrgKind, Organisation, ResourceId, RuleId, SessionId, TokenId,
    WebhookId,
};
use async_trait::async_trait;
use scim_core::schema::ResourceKind;
use time::OffsetDateTime;

pub use crate::model::columns;
pub use crate::model::{
    Account, AccountChange, AccountPage, AccountQuery, ActivityEntry, AdminRole, Administrator,
    ConflictRecord, Connection, ConnectionState, Cursor, CursorKey, DirectoryState, DomainRecord,
    GroupView, LinkPurpose, ListQuery, Load, LocalProps, MemberView, NewResource, Notice,
    NoticeKind, Page, PasswordLink, SEARCH_COUNT_CAP, SecondFactor, SessionRecord, SigninThrottle,
    Source, Status, StoredResource, SyncPolicy, TokenRecord, Update,
};
pub use crate::model::{
    Application, DeliveryRecord, DeliveryReport, DirectoryQuery, Event, EventId, EventQuery,
    EventType, NewEvent, WebhookEndpoint, WebhookSecret, WebhookState,
};
pub use crate::model::{GroupPage, GroupSummary, MemberEntry, MemberPage, MemberQuery};
pub use crate::model::{RoleRule, RuleCondition, RuleOp};

mod groups;
mod roles;
mod second_factors;

pub use groups::GroupStore;
pub use roles::RoleStore;
pub use second_factors::SecondFactorStore;

/// The area traits and [`Store`], for callers: `use directory::store::prelude::*`.
pub mod prelude {
    pub use super::{
        AccountStore, ActivityStore, AdminStore, AppStore, DirectoryReadStore, DomainStore,
        EventStore, GroupStore, HealthStore, LinkStore, OrgStore, OutboxStore, ResourceStore,
        RevealStore, RoleStore, SecondFactorStore, Store, TokenStore, WebhookStore,
    };
}

/// What can go wrong in a store, in domain terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key was violated; the field names which (`userName`, `externalId`, ...).
    #[error("{0} is already in use in this organisation")]
    Conflict(&'static str),
    /// The resource does not exist (in this organisation).
    #[error("not found")]
    NotFound,
    /// The resource changed since the version the caller read (optimistic concurrency).
    #[error("the resource changed since it was read")]
    VersionMismatch,
    /// A group member that does not exist in the organisation.
    #[error("member '{0}' does not exist")]
    UnknownMember(String),
    /// A cursor that does not decode or belongs to another query.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The database cannot be reached or did not answer in time (connection refused or lost,
    /// no connection or reader free within the wait, locked by another process): a passing
    /// condition, shown to clients as 503 with `Retry-After`. A write that was in flight when
    /// the connection was lost may or may not have committed; one answered 503 before it was
    /// sent did not.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database's disk is full: the change was not made. Reads still work, and writes
    /// work again once space is freed; shown to clients as 507 (RFC 4918 section 11.5).
    #[error("storage full: {0}")]
    StorageFull(String),
    /// Anything else: logged, shown to clients as a 500 without details.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// A store's own load figures; `None` where a store has no such thing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Connections open / idle in the pool.
    pub pool_size: Option<u64>,
    pub pool_idle: Option<u64>,
    /// Write jobs queued for the single writer (SQLite).
    pub write_queue: Option<u64>,
}

/// See [`HealthStore::change_mark`].
pub type ChangeMark = [u8; 16];

/// Organisations and their directory-sync connection.
#[async_trait]
pub trait OrgStore: Send + Sync {
    async fn create_org(&self, org: &Organisation) -> Result<(), StoreError>;

    async fn get_org(&self, id: OrgId) -> Result<Option<Organisation>, StoreError>;

    async fn list_orgs(&self) -> Result<Vec<Organisation>, StoreError>;

    /// The organisation's connection state; `None` when it was never set (`not connected`).
    async fn get_connection(&self, org: OrgId) -> Result<Option<Connection>, StoreError>;

    async fn set_connection(&self, org: OrgId, conn: &Connection) -> Result<(), StoreError>;

    /// Sets the organisation's name and kind in one write. A change of kind is made only while
    /// the organisation holds no account (a user row of any source or state), decided by the
    /// same statement; a rename alone always goes through.
    async fn update_org(
        &self, id: OrgId, name: &str, kind: OrgKind,
    ) -> Result<OrgUpdate, StoreError>;
}

/// The outcome of [`OrgStore::update_org`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgUpdate {
    Updated,
    /// No such organisation.
    NotFound,
    /// The kind differs and the organisation has accounts: nothing was changed.
    HasAccounts,
}

/// Values shown once, after a redirect (the console's new token, application key, webhook
/// secret): a short-lived row keyed by the hash of a handle that only the browser holds,
/// sealed with a key derived from that handle, and deleted when it is first read.
#[async_trait]
pub trait RevealStore: Send + Sync {
    /// Keeps a sealed value; also drops the organisation's ones expired by `now`.
    async fn put_reveal(&self, r: &Reveal, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Deletes and returns the value of `hash` if it belongs to `admin` and is live at `now`;
    /// `None` when it is unknown, expired, another administrator's or already taken.
    async fn take_reveal(
        &self, org: OrgId, hash: &[u8; 32], admin: AdminId, now: OffsetDateTime,
    ) -> Result<Option<Reveal>, StoreError>;
}

/// A value kept for one display (see [`RevealStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reveal {
    pub org_id: OrgId,
    pub hash: [u8; 32],
    pub admin_id: AdminId,
    /// Nonce and ciphertext, as `crate::reveal` writes them.
    pub sealed: Vec<u8>,
    pub expires: OffsetDateTime,
}

/// Bearer tokens: only their hashes, their use and their revocation.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError>;

    /// The one cross-organisation lookup: finds a token by the hash of its secret.
    async fn find_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError>;

    /// [`TokenStore::find_token_by_hash`] for a caller that has just read `mark` from
    /// [`HealthStore::change_mark`]: every change to a token changes the mark too, so a store may
    /// use it to tell cheaply that what it keeps of the token is current.
    async fn find_token_by_hash_at(
        &self, hash: &[u8; 32], mark: Option<ChangeMark>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let _ = mark;
        self.find_token_by_hash(hash).await
    }

    async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenRecord>, StoreError>;

    /// Records use of a token at `at`: sets `first_used` if unset, and `last_used`.
    async fn touch_token(
        &self, org: OrgId, id: TokenId, at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Marks a token revoked at `at`. `Ok(false)` when the organisation has no such token or
    /// it was already revoked. The rules (never the last live token) are the service's.
    async fn revoke_token(
        &self, org: OrgId, id: TokenId, at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// The earliest expiry of a token that is not revoked and not yet expired at `now`.
    async fn next_token_expiry(
        &self, now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;
}

/// SCIM resources (Users and Groups) as SCIM sees them, and moving them to another database
/// (`scimd copy`).
#[async_trait]
pub trait ResourceStore: Send + Sync {
    async fn create_resource(
        &self, org: OrgId, kind: ResourceKind, new: NewResource,
    ) -> Result<StoredResource, StoreError>;

    /// Creates many users for a bulk load (`scimd import`): each as [`create_resource`] would,
    /// with its `user.created` event. One outcome per user, in order: [`StoreError::Conflict`]
    /// when its userName is taken (by the directory, or by an earlier user of `users`). An
    /// `Err` of the whole: the store failed, and none of them was created (or, for a
    /// connection lost at the commit, none can be assumed to be). A store may commit them
    /// together; by default they are all asked for at once, which suits a store whose single
    /// writer groups concurrent writes into one commit (SQLite), not one that gives each
    /// write a connection.
    ///
    /// [`create_resource`]: ResourceStore::create_resource
    async fn create_users(
        &self, org: OrgId, users: &[NewResource],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let creates = users
            .iter()
            .map(|new| self.create_resource(org, ResourceKind::User, new.clone()));
        Ok(futures_util::future::join_all(creates)
            .await
            .into_iter()
            .map(|done| done.map(|_| ()))
            .collect())
    }

    async fn get_resource(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId, load: Load,
    ) -> Result<Option<StoredResource>, StoreError>;

    /// Applies an update atomically and returns the resource afterwards (with relations
    /// loaded when `load` says so).
    async fn update_resource(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId, update: Update, load: Load,
    ) -> Result<StoredResource, StoreError>;

    /// Deletes a resource and its memberships. `expected_version` guards against a stale
    /// `If-Match`.
    async fn delete_resource(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId, expected_version: Option<i64>,
    ) -> Result<(), StoreError>;

    async fn list_resources(
        &self, org: OrgId, kind: ResourceKind, query: &ListQuery,
    ) -> Result<Page, StoreError>;

    /// Inserts a resource exactly as given (id, version, timestamps, document) with its
    /// directory state, without its relations: moving a deployment to another database
    /// (`scimd copy`).
    async fn import_resource(
        &self, org: OrgId, resource: &StoredResource, state: &DirectoryState,
    ) -> Result<(), StoreError>;

    /// Every group of the organisation, whatever its source, with its members (`scimd copy`).
    async fn export_groups(&self, org: OrgId) -> Result<Vec<(StoredResource, Source)>, StoreError>;

    /// Inserts a group's membership rows as given, without touching the group's version.
    async fn import_members(
        &self, org: OrgId, group: ResourceId, members: &[MemberView],
    ) -> Result<(), StoreError>;
}

/// The directory (docs/contract.md, "Directory semantics"): accounts whatever their source or state, and the conflicts directory
/// sync runs into. The SCIM methods of [`ResourceStore`] see only accounts and groups that
/// directory sync owns and that SCIM has not deleted; these see every account.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// An account by id, whatever its source or state.
    async fn get_account(&self, org: OrgId, id: ResourceId) -> Result<Option<Account>, StoreError>;

    /// An account by folded `userName`, whatever its source or state.
    async fn find_account_by_name(
        &self, org: OrgId, name_ci: &str,
    ) -> Result<Option<Account>, StoreError>;

    async fn list_accounts(&self, org: OrgId, q: &AccountQuery) -> Result<AccountPage, StoreError>;

    /// Creates an account with its source and local properties ([`StoreError::Conflict`] on a
    /// taken `userName`, including held and manual accounts).
    async fn create_account(
        &self, org: OrgId, new: NewResource, source: Source, local: &LocalProps,
    ) -> Result<Account, StoreError>;

    /// Applies a change to any account (not one SCIM deleted: [`StoreError::NotFound`]).
    async fn update_account(
        &self, org: OrgId, id: ResourceId, change: AccountChange,
    ) -> Result<Account, StoreError>;

    /// SCIM DELETE of a User: the account leaves SCIM (and its groups), is deactivated and its
    /// `userName` held until `hold_until`.
    async fn retire_account(
        &self, org: OrgId, id: ResourceId, expected_version: Option<i64>, at: OffsetDateTime,
        hold_until: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Deletes retired accounts whose hold ended at or before `now`, across organisations (an
    /// idempotent job); returns how many went.
    async fn purge_retired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// Deletes one retired account whose hold has ended (a create wants its `userName`).
    async fn purge_retired_account(
        &self, org: OrgId, id: ResourceId, now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Disconnect: every account and group that directory sync owns becomes manual. Returns
    /// how many changed.
    async fn release_sync(&self, org: OrgId) -> Result<u64, StoreError>;

    /// What a SCIM create checks, in one read: kind, Auto Merge, verified domains, and whether
    /// `name_ci` is an administrator's sign-in.
    async fn sync_policy(&self, org: OrgId, name_ci: &str) -> Result<SyncPolicy, StoreError>;

    async fn set_auto_merge(&self, org: OrgId, on: bool) -> Result<(), StoreError>;

    /// The organisation's time zone, an IANA name (`UTC` until set); `NotFound` for an
    /// unknown organisation.
    async fn org_time_zone(&self, org: OrgId) -> Result<String, StoreError>;

    /// Sets the organisation's time zone (a name [`crate::zone::Zone`] validated); `NotFound`
    /// for an unknown organisation.
    async fn set_org_time_zone(&self, org: OrgId, zone: &str) -> Result<(), StoreError>;

    /// Records a conflict once per `(org, name_ci)`: a repeat updates `incoming`, `last_seen`
    /// and `attempts`. `Ok(true)` when it was new.
    async fn record_conflict(&self, c: &ConflictRecord) -> Result<bool, StoreError>;

    async fn list_conflicts(&self, org: OrgId) -> Result<Vec<ConflictRecord>, StoreError>;

    async fn delete_conflict(&self, org: OrgId, name_ci: &str) -> Result<bool, StoreError>;
}

/// An organisation's e-mail domains and their verification.
#[async_trait]
pub trait DomainStore: Send + Sync {
    /// [`StoreError::Conflict`]`("domain")` when the organisation has it already.
    async fn add_domain(&self, d: &DomainRecord) -> Result<(), StoreError>;

    async fn list_domains(&self, org: OrgId) -> Result<Vec<DomainRecord>, StoreError>;

    async fn set_domain_verified(
        &self, org: OrgId, name: &str, at: OffsetDateTime, by: &str,
    ) -> Result<bool, StoreError>;

    async fn remove_domain(&self, org: OrgId, name: &str) -> Result<bool, StoreError>;
}

/// Administrators and signing in: passwords, sessions and the sign-in lock-out (per folded
/// address, across organisations).
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Adds an administrator; [`StoreError::Conflict`]`("email")` when the organisation already
    /// has one with that e-mail address (compared case-insensitively).
    async fn add_admin(&self, admin: &Administrator) -> Result<(), StoreError>;

    async fn list_admins(&self, org: OrgId) -> Result<Vec<Administrator>, StoreError>;

    /// The second lookup across organisations (after the token's and the session's): every
    /// administrator with this folded e-mail address, in any organisation, for sign-in by
    /// address alone and the forgotten-password form. Ordered by organisation id.
    async fn find_admins_by_email(&self, email_ci: &str) -> Result<Vec<Administrator>, StoreError>;

    /// Removes an administrator and, in the same transaction, its sessions, second factor and
    /// recovery codes; `Ok(false)` when there is no such administrator.
    async fn remove_admin(&self, org: OrgId, admin: AdminId) -> Result<bool, StoreError>;

    /// Replaces an administrator's password hash and, in the same transaction, ends its
    /// sessions and forgets the failed sign-ins of its address; `Ok(false)` when there is no
    /// such administrator.
    async fn set_admin_password(
        &self, org: OrgId, admin: AdminId, password_hash: &str,
    ) -> Result<bool, StoreError>;

    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError>;

    /// Like the token lookup, the one other lookup across organisations: a presented session
    /// secret's hash finds its session.
    async fn find_session_by_hash(
        &self, hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError>;

    async fn delete_session(&self, org: OrgId, id: SessionId) -> Result<(), StoreError>;

    /// Ends every session of an administrator; returns how many there were.
    async fn end_admin_sessions(&self, org: OrgId, admin: AdminId) -> Result<u64, StoreError>;

    /// Deletes sessions and password links expired at `now` (a link is found by its hash, and
    /// an expired one is refused whether it is kept or not), and failed-sign-in counts whose
    /// window began before `failures_from` and that lock nothing at `now`; returns how many
    /// rows went.
    async fn purge_sessions(
        &self, now: OffsetDateTime, failures_from: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// The failed sign-ins recorded for a folded e-mail address.
    async fn signin_throttle(&self, email_ci: &str) -> Result<Option<SigninThrottle>, StoreError>;

    /// Counts one sign-in attempt at `at`, atomically (the service counts each attempt before
    /// checking its password): the count restarts at 1 (and the window at `at`) when the
    /// current window began before `window_from` or its lock has ended by `at`, and an ended
    /// lock is cleared. Returns the row after.
    async fn note_signin_failure(
        &self, email_ci: &str, at: OffsetDateTime, window_from: OffsetDateTime,
    ) -> Result<SigninThrottle, StoreError>;

    /// Refuses sign-ins for the address until `until` (the rule is the service's).
    async fn lock_signin(&self, email_ci: &str, until: OffsetDateTime) -> Result<(), StoreError>;

    /// Forgets the failures of an address (after a successful sign-in).
    async fn clear_signin_failures(&self, email_ci: &str) -> Result<(), StoreError>;
}

/// One-time password links: set-up, reset, invitation and pending sign-in (see
/// [`LinkPurpose`]). The link names its organisation, so every lookup is keyed by it.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Stores a new link and, in the same transaction, forgets the earlier unused links of the
    /// same organisation, purpose and administrator: one such link works at a time. Links of
    /// purpose [`LinkPurpose::Signin`] retire nothing (several rows share one secret).
    async fn insert_password_link(&self, link: &PasswordLink) -> Result<(), StoreError>;

    /// A link by the hash of its secret, within its organisation.
    async fn find_password_link(
        &self, org: OrgId, hash: &[u8; 32],
    ) -> Result<Option<PasswordLink>, StoreError>;

    /// Marks a link of `purpose` used at `at` when it is unused and not expired at `at`,
    /// atomically: `Ok(true)` for exactly one caller, however many race. The
    /// [`LinkPurpose::Signin`] rows of one secret are one choice: the first use of any of them
    /// marks them all used, so a second choice (of any organisation) fails.
    async fn use_password_link(
        &self, org: OrgId, hash: &[u8; 32], purpose: LinkPurpose, at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// The activity log.
#[async_trait]
pub trait ActivityStore: Send + Sync {
    /// Appends activity entries, all in one transaction.
    async fn append_activity(&self, entries: Vec<ActivityEntry>) -> Result<(), StoreError>;

    /// An organisation's activity (`None`: entries no organisation could be named for, such
    /// as unknown tokens) at or after `since`, oldest first, at most `limit`.
    async fn list_activity(
        &self, org: Option<OrgId>, since: Option<OffsetDateTime>, limit: u32,
    ) -> Result<Vec<ActivityEntry>, StoreError>;

    /// Deletes activity older than `before`, across organisations (the operator's retention);
    /// returns how many entries went.
    async fn purge_activity(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// The durable outbox of notices, delivered by e-mail.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Puts a notice in the outbox unless one with the same `(org, key)` is there already
    /// (`Ok(false)`): the unique key makes each notice happen once, whoever enqueues it.
    async fn enqueue_notice(&self, notice: &Notice) -> Result<bool, StoreError>;

    /// Claims up to `limit` unsent notices due at `now`, across organisations: each claimed
    /// notice gets one more attempt and is hidden from other claims until `lease_until`, so
    /// several instances never deliver one notice at the same time.
    async fn claim_notices(
        &self, now: OffsetDateTime, lease_until: OffsetDateTime, limit: u32,
    ) -> Result<Vec<Notice>, StoreError>;

    /// Records that a claimed notice was delivered.
    async fn complete_notice(
        &self, org: OrgId, id: NoticeId, sent: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Records a failed delivery: the notice is due again at `next_attempt`.
    async fn retry_notice(
        &self, org: OrgId, id: NoticeId, next_attempt: OffsetDateTime, error: &str,
    ) -> Result<(), StoreError>;

    /// An organisation's outbox, oldest first.
    async fn list_notices(&self, org: OrgId) -> Result<Vec<Notice>, StoreError>;

    /// Unsent notices in the outbox.
    async fn outbox_pending(&self) -> Result<u64, StoreError>;
}

/// The store's own health and upkeep, across organisations: the change mark, `/readyz`,
/// `/metrics` figures and planner statistics.
#[async_trait]
pub trait HealthStore: Send + Sync {
    /// A value that changes after every committed change to what SCIM reads return, made by
    /// any process or handle on the same data, before that change is acknowledged. An answer
    /// built from reads made after this returned `m` stays exact while it still returns `m`.
    /// `None` when the store cannot tell cheaply: answers are then never reused.
    fn change_mark(&self) -> Option<ChangeMark> {
        None
    }

    /// Whether the database answers and its schema is migrated (`/readyz`).
    async fn ready(&self) -> Result<(), StoreError>;

    /// Connection pool and write queue figures, for `/metrics`.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }

    /// Gathers the query planner's statistics again for the tables that changed much since
    /// they were last gathered, where the database has not done so by itself; returns how
    /// many tables it refreshed. A planner without statistics can choose the wrong index and
    /// turn a one-row lookup into a scan. Called periodically by `serve` and after bulk
    /// loads. The default has nothing to do.
    async fn refresh_statistics(&self) -> Result<u32, StoreError> {
        Ok(0)
    }
}

/// The directory as applications read it (docs/contract.md, "The directory API"): user and
/// group objects ([`crate::events`]), oldest first, paged by a position that only moves forward.
#[async_trait]
pub trait DirectoryReadStore: Send + Sync {
    /// Users (accounts whatever their source, but not those SCIM deleted) or groups, after
    /// position `q.after`, changed at or after `q.updated_since`; each with its position.
    async fn directory_objects(
        &self, org: OrgId, kind: ResourceKind, q: &DirectoryQuery,
    ) -> Result<Vec<(i64, serde_json::Value)>, StoreError>;

    /// One user or group object (`None`: no such resource, or a user SCIM deleted).
    async fn directory_object(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId,
    ) -> Result<Option<serde_json::Value>, StoreError>;

    /// A group's direct members (user objects, and group objects for nested groups) after
    /// member `after`, in member-id order; `None` when there is no such group.
    async fn directory_members(
        &self, org: OrgId, group: ResourceId, after: Option<ResourceId>, limit: u32,
    ) -> Result<Option<Vec<(ResourceId, serde_json::Value)>>, StoreError>;

    /// The deployment's cursor key, which seals the directory API's cursors: positions are
    /// shared by every organisation, so in the clear they would tell a tenant how much the
    /// others write. `None` would leave them in the clear (a store without a key).
    fn cursor_key(&self) -> Option<&CursorKey>;
}

/// The event log (docs/contract.md, "Events"). Events are appended by the writes themselves,
/// in their transactions; this trait reads and ages them.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events after `q.after`, oldest first, at most `q.limit`.
    async fn list_events(&self, org: OrgId, q: &EventQuery) -> Result<Vec<Event>, StoreError>;

    /// One event by id (`None` when it is unknown here or no longer kept).
    async fn find_event(&self, org: OrgId, id: EventId) -> Result<Option<Event>, StoreError>;

    /// The sequence of the organisation's newest event (0 before the first).
    async fn last_event_sequence(&self, org: OrgId) -> Result<i64, StoreError>;

    /// Deletes events (and delivery records) created before `before`, across organisations;
    /// the numbering carries on where it was.
    async fn purge_events(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Applications and their keys.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// [`StoreError::Conflict`]`("name")` when a live application of the organisation has
    /// that name.
    async fn insert_app(&self, app: &Application) -> Result<(), StoreError>;

    async fn list_apps(&self, org: OrgId) -> Result<Vec<Application>, StoreError>;

    /// The one lookup across organisations: a presented key's hash finds its application.
    async fn find_app_by_hash(&self, hash: &[u8; 32]) -> Result<Option<Application>, StoreError>;

    /// Records use, at most once a minute per application.
    async fn touch_app(&self, org: OrgId, id: AppId, at: OffsetDateTime) -> Result<(), StoreError>;

    /// `Ok(false)` when there is no such live application.
    async fn revoke_app(
        &self, org: OrgId, id: AppId, at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// Webhook endpoints, their delivery state and their delivery log.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert_webhook(&self, w: &WebhookEndpoint) -> Result<(), StoreError>;

    async fn list_webhooks(&self, org: OrgId) -> Result<Vec<WebhookEndpoint>, StoreError>;

    async fn get_webhook(
        &self, org: OrgId, id: WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Removes the endpoint and its delivery log; `Ok(false)` when there is none.
    async fn remove_webhook(&self, org: OrgId, id: WebhookId) -> Result<bool, StoreError>;

    /// Replaces the signing secrets (a rotation).
    async fn set_webhook_secrets(
        &self, org: OrgId, id: WebhookId, secrets: &[WebhookSecret],
    ) -> Result<bool, StoreError>;

    /// Delivery goes on after `cursor` (a replay), as a healthy endpoint: attempts, retry
    /// and failing state are cleared.
    async fn set_webhook_cursor(
        &self, org: OrgId, id: WebhookId, cursor: i64,
    ) -> Result<bool, StoreError>;

    /// Leases to `owner`, until `until`, up to `limit` active endpoints, across organisations,
    /// whose next attempt is due at `now` and that no other owner holds; endpoints `owner`
    /// holds already are renewed and returned too.
    async fn claim_webhooks(
        &self, owner: &str, now: OffsetDateTime, until: OffsetDateTime, limit: u32,
    ) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// Applies a worker's report in one transaction: the attempts join the log, the endpoint
    /// moves to its new cursor and state. `Ok(false)`, and nothing changes, when `owner` no
    /// longer holds the lease.
    async fn report_delivery(&self, report: &DeliveryReport) -> Result<bool, StoreError>;

    /// Appends attempts outside a lease (a test event).
    async fn record_deliveries(&self, records: &[DeliveryRecord]) -> Result<(), StoreError>;

    /// The endpoint's newest attempts first.
    async fn list_deliveries(
        &self, org: OrgId, id: WebhookId, limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
}

/// The whole port: every area. Implemented for anything that implements them all, so a store
/// only writes the area impls.
pub trait Store:
    OrgStore
    + TokenStore
    + ResourceStore
    + AccountStore
    + DomainStore
    + AdminStore
    + LinkStore
    + ActivityStore
    + OutboxStore
    + HealthStore
    + EventStore
    + DirectoryReadStore
    + AppStore
    + WebhookStore
    + RevealStore
    + GroupStore
    + SecondFactorStore
    + RoleStore
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: OrgStore
        + TokenStore
        + ResourceStore
        + AccountStore
        + DomainStore
        + AdminStore
        + LinkStore
        + ActivityStore
        + OutboxStore
        + HealthStore
        + EventStore
        + DirectoryReadStore
        + AppStore
        + WebhookStore
        + RevealStore
        + GroupStore
        + SecondFactorStore
        + RoleStore
        + std::fmt::Debug
        + ?Sized
{
}
