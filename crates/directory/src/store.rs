//! The storage port. One implementation per database; one conformance suite for all.
//!
//! Every method but [`Store::find_token_by_hash`] takes the organisation first and touches
//! only that organisation's rows. Stores return domain values, never rows.

use crate::ids::{AdminId, NoticeId, OrgId, Organisation, ResourceId, SessionId, TokenId};
use async_trait::async_trait;
use scim_core::filter::Filter;
use scim_core::messages::SortOrder;
use scim_core::patch::MemberChange;
use scim_core::path::AttrPath;
use scim_core::schema::ResourceKind;
use serde_json::Value;
use time::OffsetDateTime;

/// What can go wrong in a store, in domain terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key was violated; the field names which (`userName`, `externalId`, ...).
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// The resource does not exist (in this organisation).
    #[error("not found")]
    NotFound,
    /// The resource changed since the version the caller read (optimistic concurrency).
    #[error("version mismatch")]
    VersionMismatch,
    /// A group member that does not exist in the organisation.
    #[error("member '{0}' does not exist")]
    UnknownMember(String),
    /// A cursor that does not decode or belongs to another query.
    #[error("invalid cursor")]
    InvalidCursor,
    /// Anything else: logged, shown to clients as a 500 without details.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// A stored SCIM resource as the domain sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: ResourceId,
    pub kind: ResourceKind,
    /// The canonical document (see `scim_core::resource`), without `id`, `meta`, members or
    /// `groups`.
    pub doc: Value,
    /// Bumped on every change of the SCIM representation (`meta.version`).
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    /// Group members, when asked for.
    pub members: Option<Vec<MemberView>>,
    /// A User's groups, when asked for.
    pub groups: Option<Vec<GroupView>>,
}

/// A group member as rendered in `members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub id: ResourceId,
    pub kind: ResourceKind,
    pub display: Option<String>,
}

/// A group as rendered in a User's `groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub id: ResourceId,
    pub display: Option<String>,
}

/// What to load beside the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Group `members` / User `groups`.
    pub relations: bool,
}

/// A new resource.
#[derive(Debug, Clone)]
pub struct NewResource {
    pub id: ResourceId,
    pub doc: Value,
    pub now: OffsetDateTime,
    /// Initial members of a group.
    pub members: Vec<scim_core::patch::MemberRef>,
}

/// An update computed by a service from a version it read.
#[derive(Debug, Clone)]
pub struct Update {
    /// The version the change was computed from; the store refuses with
    /// [`StoreError::VersionMismatch`] if the row moved on.
    /// `None` when the change does not depend on what was read (membership changes alone are
    /// set operations that commute with any other change), so no retry is needed under
    /// contention.
    pub expected_version: Option<i64>,
    /// The new document, when it changed.
    pub doc: Option<Value>,
    pub member_changes: Vec<MemberChange>,
    pub now: OffsetDateTime,
}

/// A list query, already validated.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort: Option<(AttrPath, SortOrder)>,
    /// 1-based index paging.
    pub start_index: u64,
    pub count: u64,
    /// RFC 9865 cursor paging: `Some("")` for the first page.
    pub cursor: Option<String>,
    pub load: Load,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    pub resources: Vec<StoredResource>,
    pub total: u64,
    pub next_cursor: Option<String>,
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

/// A token as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: TokenId,
    pub org_id: OrgId,
    /// The first characters of the secret, safe to show.
    pub prefix: String,
    pub hash: [u8; 32],
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
    pub first_used: Option<OffsetDateTime>,
    pub last_used: Option<OffsetDateTime>,
    pub revoked: Option<OffsetDateTime>,
}

/// See [`Store::change_mark`].
pub type ChangeMark = [u8; 16];

/// The storage port.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// A value that changes after every committed change to what SCIM reads return, made by
    /// any process or handle on the same data, before that change is acknowledged. An answer
    /// built from reads made after this returned `m` stays exact while it still returns `m`.
    /// `None` when the store cannot tell cheaply: answers are then never reused.
    fn change_mark(&self) -> Option<ChangeMark> {
        None
    }

    async fn create_org(&self, org: &Organisation) -> Result<(), StoreError>;
    async fn get_org(&self, id: OrgId) -> Result<Option<Organisation>, StoreError>;
    async fn list_orgs(&self) -> Result<Vec<Organisation>, StoreError>;

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    /// The one cross-organisation lookup: finds a token by the hash of its secret.
    async fn find_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError>;
    /// [`Store::find_token_by_hash`] for a caller that has just read `mark` from
    /// [`Store::change_mark`]: every change to a token changes the mark too, so a store may
    /// use it to tell cheaply that what it keeps of the token is current.
    async fn find_token_by_hash_at(
        &self,
        hash: &[u8; 32],
        mark: Option<ChangeMark>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let _ = mark;
        self.find_token_by_hash(hash).await
    }
    async fn list_tokens(&self, org: OrgId) -> Result<Vec<TokenRecord>, StoreError>;
    /// Records use of a token at `at`: sets `first_used` if unset, and `last_used`.
    async fn touch_token(
        &self,
        org: OrgId,
        id: TokenId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    async fn create_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        new: NewResource,
    ) -> Result<StoredResource, StoreError>;
    async fn get_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        load: Load,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// Applies an update atomically and returns the resource afterwards (with relations
    /// loaded when `load` says so).
    async fn update_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        update: Update,
        load: Load,
    ) -> Result<StoredResource, StoreError>;
    /// Deletes a resource and its memberships. `expected_version` guards against a stale
    /// `If-Match`.
    async fn delete_resource(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: ResourceId,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError>;
    async fn list_resources(
        &self,
        org: OrgId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<Page, StoreError>;

    // Token lifecycle, connection state, administrators, activity log and outbox (SPEC 3, 4).

    /// Marks a token revoked at `at`. `Ok(false)` when the organisation has no such token or
    /// it was already revoked. The rules (never the last live token) are the service's.
    async fn revoke_token(
        &self,
        org: OrgId,
        id: TokenId,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// The organisation's connection state; `None` when it was never set (`not connected`).
    async fn get_connection(&self, org: OrgId) -> Result<Option<Connection>, StoreError>;
    async fn set_connection(&self, org: OrgId, conn: &Connection) -> Result<(), StoreError>;

    /// Adds an administrator; [`StoreError::Conflict`]`("email")` when the organisation already
    /// has one with that e-mail address (compared case-insensitively).
    async fn add_admin(&self, admin: &Administrator) -> Result<(), StoreError>;
    async fn list_admins(&self, org: OrgId) -> Result<Vec<Administrator>, StoreError>;

    /// Appends activity entries, all in one transaction.
    async fn append_activity(&self, entries: Vec<ActivityEntry>) -> Result<(), StoreError>;
    /// An organisation's activity (`None`: entries no organisation could be named for, such
    /// as unknown tokens) at or after `since`, oldest first, at most `limit`.
    async fn list_activity(
        &self,
        org: Option<OrgId>,
        since: Option<OffsetDateTime>,
        limit: u32,
    ) -> Result<Vec<ActivityEntry>, StoreError>;
    /// Deletes activity older than `before`, across organisations (the operator's retention);
    /// returns how many entries went.
    async fn purge_activity(&self, before: OffsetDateTime) -> Result<u64, StoreError>;

    // The operator's gauges (`/metrics`), across organisations.

    /// Unsent notices in the outbox.
    async fn outbox_pending(&self) -> Result<u64, StoreError>;
    /// The earliest expiry of a token that is not revoked and not yet expired at `now`.
    async fn next_token_expiry(
        &self,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;
    /// Connection pool and write queue figures, for `/metrics`.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
    /// Whether the database answers and its schema is migrated (`/readyz`).
    async fn ready(&self) -> Result<(), StoreError>;

    /// Puts a notice in the outbox unless one with the same `(org, key)` is there already
    /// (`Ok(false)`): the unique key makes each notice happen once, whoever enqueues it.
    async fn enqueue_notice(&self, notice: &Notice) -> Result<bool, StoreError>;
    /// Claims up to `limit` unsent notices due at `now`, across organisations: each claimed
    /// notice gets one more attempt and is hidden from other claims until `lease_until`, so
    /// several instances never deliver one notice at the same time.
    async fn claim_notices(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Notice>, StoreError>;
    /// Records that a claimed notice was delivered.
    async fn complete_notice(
        &self,
        org: OrgId,
        id: NoticeId,
        sent: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Records a failed delivery: the notice is due again at `next_attempt`.
    async fn retry_notice(
        &self,
        org: OrgId,
        id: NoticeId,
        next_attempt: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;
    /// An organisation's outbox, oldest first.
    async fn list_notices(&self, org: OrgId) -> Result<Vec<Notice>, StoreError>;

    /// Inserts a resource exactly as given (id, version, timestamps, document) with its
    /// directory state, without its relations: moving a deployment to another database
    /// (`scimd copy`).
    async fn import_resource(
        &self,
        org: OrgId,
        resource: &StoredResource,
        state: &DirectoryState,
    ) -> Result<(), StoreError>;
    /// Every group of the organisation, whatever its source, with its members (`scimd copy`).
    async fn export_groups(&self, org: OrgId) -> Result<Vec<(StoredResource, Source)>, StoreError>;
    /// Inserts a group's membership rows as given, without touching the group's version.
    async fn import_members(
        &self,
        org: OrgId,
        group: ResourceId,
        members: &[MemberView],
    ) -> Result<(), StoreError>;

    // The directory (SPEC 5). The SCIM methods above see only accounts and groups that
    // directory sync owns and that SCIM has not deleted; these see every account.

    /// An account by id, whatever its source or state.
    async fn get_account(&self, org: OrgId, id: ResourceId) -> Result<Option<Account>, StoreError>;
    /// An account by folded `userName`, whatever its source or state.
    async fn find_account_by_name(
        &self,
        org: OrgId,
        name_ci: &str,
    ) -> Result<Option<Account>, StoreError>;
    async fn list_accounts(&self, org: OrgId, q: &AccountQuery) -> Result<AccountPage, StoreError>;
    /// Creates an account with its source and local properties ([`StoreError::Conflict`] on a
    /// taken `userName`, including held and manual accounts).
    async fn create_account(
        &self,
        org: OrgId,
        new: NewResource,
        source: Source,
        local: &LocalProps,
    ) -> Result<Account, StoreError>;
    /// Applies a change to any account (not one SCIM deleted: [`StoreError::NotFound`]).
    async fn update_account(
        &self,
        org: OrgId,
        id: ResourceId,
        change: AccountChange,
    ) -> Result<Account, StoreError>;
    /// SCIM DELETE of a User: the account leaves SCIM (and its groups), is deactivated and its
    /// `userName` held until `hold_until`.
    async fn retire_account(
        &self,
        org: OrgId,
        id: ResourceId,
        expected_version: Option<i64>,
        at: OffsetDateTime,
        hold_until: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Deletes retired accounts whose hold ended at or before `now`, across organisations (an
    /// idempotent job); returns how many went.
    async fn purge_retired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
    /// Deletes one retired account whose hold has ended (a create wants its `userName`).
    async fn purge_retired_account(
        &self,
        org: OrgId,
        id: ResourceId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Disconnect: every account and group that directory sync owns becomes manual. Returns
    /// how many changed.
    async fn release_sync(&self, org: OrgId) -> Result<u64, StoreError>;

    /// What a SCIM create checks, in one read: kind, Auto Merge, verified domains, and whether
    /// `name_ci` is an administrator's sign-in.
    async fn sync_policy(&self, org: OrgId, name_ci: &str) -> Result<SyncPolicy, StoreError>;
    async fn set_auto_merge(&self, org: OrgId, on: bool) -> Result<(), StoreError>;

    /// Records a conflict once per `(org, name_ci)`: a repeat updates `incoming`, `last_seen`
    /// and `attempts`. `Ok(true)` when it was new.
    async fn record_conflict(&self, c: &ConflictRecord) -> Result<bool, StoreError>;
    async fn list_conflicts(&self, org: OrgId) -> Result<Vec<ConflictRecord>, StoreError>;
    async fn delete_conflict(&self, org: OrgId, name_ci: &str) -> Result<bool, StoreError>;

    /// [`StoreError::Conflict`]`("domain")` when the organisation has it already.
    async fn add_domain(&self, d: &DomainRecord) -> Result<(), StoreError>;
    async fn list_domains(&self, org: OrgId) -> Result<Vec<DomainRecord>, StoreError>;
    async fn set_domain_verified(
        &self,
        org: OrgId,
        name: &str,
        at: OffsetDateTime,
        by: &str,
    ) -> Result<bool, StoreError>;
    async fn remove_domain(&self, org: OrgId, name: &str) -> Result<bool, StoreError>;

    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError>;
    /// Like the token lookup, the one other lookup across organisations: a presented session
    /// secret's hash finds its session.
    async fn find_session_by_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError>;
    async fn delete_session(&self, org: OrgId, id: SessionId) -> Result<(), StoreError>;
    /// Ends every session of an administrator; returns how many there were.
    async fn end_admin_sessions(&self, org: OrgId, admin: AdminId) -> Result<u64, StoreError>;
    /// Removes an administrator and, in the same transaction, its sessions; `Ok(false)` when
    /// there is no such administrator.
    async fn remove_admin(&self, org: OrgId, admin: AdminId) -> Result<bool, StoreError>;
    /// Replaces an administrator's password hash and, in the same transaction, ends its
    /// sessions and forgets the failed sign-ins of its address; `Ok(false)` when there is no
    /// such administrator.
    async fn set_admin_password(
        &self,
        org: OrgId,
        admin: AdminId,
        password_hash: &str,
    ) -> Result<bool, StoreError>;
    /// Deletes sessions expired at `now`, and failed-sign-in counts whose window began before
    /// `failures_from` and that lock nothing at `now`; returns how many rows went.
    async fn purge_sessions(
        &self,
        now: OffsetDateTime,
        failures_from: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    // The console (SPEC 6): set-up links for a first administrator, and the sign-in lock-out.

    /// Stores a new set-up link and, in the same transaction, forgets the organisation's
    /// earlier unused ones: one link works at a time.
    async fn insert_setup_link(&self, link: &SetupLink) -> Result<(), StoreError>;
    /// A set-up link by the hash of its secret, within its organisation.
    async fn find_setup_link(
        &self,
        org: OrgId,
        hash: &[u8; 32],
    ) -> Result<Option<SetupLink>, StoreError>;
    /// Marks a link used at `at` when it is unused and not expired at `at`, in one statement:
    /// `Ok(true)` for exactly one caller, however many race.
    async fn use_setup_link(
        &self,
        org: OrgId,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// The failed sign-ins recorded for a folded e-mail address.
    async fn signin_throttle(
        &self,
        org: OrgId,
        email_ci: &str,
    ) -> Result<Option<SigninThrottle>, StoreError>;
    /// Counts one sign-in attempt at `at`, atomically (the service counts each attempt before
    /// checking its password): the count restarts at 1 (and the window at `at`) when the
    /// current window began before `window_from` or its lock has ended by `at`, and an ended
    /// lock is cleared. Returns the row after.
    async fn note_signin_failure(
        &self,
        org: OrgId,
        email_ci: &str,
        at: OffsetDateTime,
        window_from: OffsetDateTime,
    ) -> Result<SigninThrottle, StoreError>;
    /// Refuses sign-ins for the address until `until` (the rule is the service's).
    async fn lock_signin(
        &self,
        org: OrgId,
        email_ci: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Forgets the failures of an address (after a successful sign-in).
    async fn clear_signin_failures(&self, org: OrgId, email_ci: &str) -> Result<(), StoreError>;
    /// Gathers the query planner's statistics again for the tables that changed much since
    /// they were last gathered, where the database has not done so by itself; returns how
    /// many tables it refreshed. A planner without statistics can choose the wrong index and
    /// turn a one-row lookup into a scan. Called periodically by `serve` and after bulk
    /// loads. The default has nothing to do.
    async fn refresh_statistics(&self) -> Result<u32, StoreError> {
        Ok(0)
    }
}

/// An organisation's directory-sync connection (SPEC section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No token was ever generated (or the state was never recorded).
    NotConnected,
    /// A token exists; no SCIM request has succeeded with it yet.
    Pending,
    /// A SCIM request succeeded with a token.
    Active,
    /// An administrator disconnected directory sync.
    Disconnected,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::NotConnected => "not connected",
            ConnectionState::Pending => "pending",
            ConnectionState::Active => "active",
            ConnectionState::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "not connected" => ConnectionState::NotConnected,
            "pending" => ConnectionState::Pending,
            "active" => ConnectionState::Active,
            "disconnected" => ConnectionState::Disconnected,
            _ => return None,
        })
    }
}

/// The connection state and when it last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub state: ConnectionState,
    pub changed: OffsetDateTime,
}

/// An administrator's role (SPEC section 1). `SiteManager` exists only in schools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRole {
    Administrator,
    PeopleManager,
    SiteManager,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Administrator => "administrator",
            AdminRole::PeopleManager => "people-manager",
            AdminRole::SiteManager => "site-manager",
        }
    }
}

impl std::str::FromStr for AdminRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "administrator" => Ok(AdminRole::Administrator),
            "people-manager" => Ok(AdminRole::PeopleManager),
            "site-manager" => Ok(AdminRole::SiteManager),
            other => Err(format!(
                "unknown role '{other}' (expected administrator, people-manager or site-manager)"
            )),
        }
    }
}

/// A person who administers one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Administrator {
    pub id: AdminId,
    pub org_id: OrgId,
    pub email: String,
    pub role: AdminRole,
    /// An Argon2id PHC string, for the console; `None` until a password is set.
    pub password_hash: Option<String>,
    pub created: OffsetDateTime,
}

/// One line of the activity log: a SCIM request or an administrative act. Never holds a
/// secret, a password or a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEntry {
    /// `None` when no organisation could be named (a missing or unknown token).
    pub org_id: Option<OrgId>,
    pub at: OffsetDateTime,
    /// The token a SCIM request authenticated with (or tried to).
    pub token_id: Option<TokenId>,
    /// Who acted: `scim`, `cli`, `system`.
    pub actor: String,
    /// The HTTP method, or the administrative act (`token.generate`, ...).
    pub action: String,
    /// The request path (without its query), or what the act was about.
    pub target: String,
    /// The HTTP status of a SCIM request.
    pub status: Option<u16>,
    /// How long a SCIM request took, in microseconds.
    pub duration_us: Option<i64>,
    /// The resource touched (`Users/<id>`), when there is one.
    pub resource: Option<String>,
    /// What happened, in words: the reason a token was refused, what changed.
    pub detail: Option<String>,
}

impl ActivityEntry {
    /// An act on `org` that is not an HTTP request (no token, status or duration).
    pub fn act(
        org: OrgId,
        at: OffsetDateTime,
        actor: &str,
        action: &str,
        target: impl Into<String>,
    ) -> Self {
        ActivityEntry {
            org_id: Some(org),
            at,
            token_id: None,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.into(),
            status: None,
            duration_us: None,
            resource: None,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }

    pub fn with_resource(mut self, resource: Option<String>) -> Self {
        self.resource = resource;
        self
    }
}

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// A token expires within the threshold's number of days.
    ExpiryReminder,
    /// A token expired while it was the organisation's last live one.
    TokenExpired,
    /// A new token was used successfully for the first time.
    SetupComplete,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::ExpiryReminder => "expiry-reminder",
            NoticeKind::TokenExpired => "token-expired",
            NoticeKind::SetupComplete => "setup-complete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "expiry-reminder" => NoticeKind::ExpiryReminder,
            "token-expired" => NoticeKind::TokenExpired,
            "setup-complete" => NoticeKind::SetupComplete,
            _ => return None,
        })
    }
}

/// A notice in the durable outbox, sent by e-mail to the organisation's administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: NoticeId,
    pub org_id: OrgId,
    /// Unique per organisation: `kind:token:threshold`. A second notice with the same key is
    /// never enqueued.
    pub key: String,
    pub kind: NoticeKind,
    pub token_id: Option<TokenId>,
    /// Days before expiry, for reminders.
    pub threshold_days: Option<i32>,
    pub subject: String,
    pub body: String,
    pub created: OffsetDateTime,
    /// Delivery attempts so far (a claim counts as one).
    pub attempts: i32,
    /// When delivery is (next) due; while claimed, when the claim lapses.
    pub next_attempt: OffsetDateTime,
    pub sent: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

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

/// The storage model's derived columns, shared by every store so that they agree on them:
/// the resource kind code, timestamps as unix microseconds, the folded unique name, the
/// indexed `externalId`.
pub mod columns {
    use scim_core::schema::ResourceKind;
    use serde_json::Value;
    use time::OffsetDateTime;

    /// 0 for User, 1 for Group.
    pub fn kind_code(kind: ResourceKind) -> i16 {
        match kind {
            ResourceKind::User => 0,
            ResourceKind::Group => 1,
        }
    }

    pub fn kind_from(code: impl Into<i64>) -> ResourceKind {
        if code.into() == 0 {
            ResourceKind::User
        } else {
            ResourceKind::Group
        }
    }

    /// A timestamp as stored: unix microseconds (filters on `meta.created` compare these).
    pub fn micros(t: OffsetDateTime) -> i64 {
        (t.unix_timestamp_nanos() / 1000) as i64
    }

    pub fn from_micros(m: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The lower-cased (Unicode) unique name: User `userName`, Group `displayName`.
    pub fn name_ci(kind: ResourceKind, doc: &Value) -> Option<String> {
        let key = match kind {
            ResourceKind::User => "userName",
            ResourceKind::Group => "displayName",
        };
        doc.get(key).and_then(Value::as_str).map(str::to_lowercase)
    }

    pub fn external_id(doc: &Value) -> Option<&str> {
        doc.get("externalId").and_then(Value::as_str)
    }

    /// A case-insensitive substring pattern for `LIKE ... ESCAPE '\\'`; `None` for a blank search.
    pub fn like_pattern(search: &str) -> Option<String> {
        let s = search.trim();
        (!s.is_empty()).then(|| {
            let escaped = s
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        })
    }

    /// A User's `active` (absent counts as active).
    pub fn active(doc: &Value) -> bool {
        doc.get("active").and_then(Value::as_bool) != Some(false)
    }
}

// ---------------------------------------------------------------------------------------------
// The directory (SPEC section 5): accounts as the organisation sees them.

/// Who owns an account's (or group's) imported attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Provisioned by directory sync: read-only to administrators but for local properties.
    Scim,
    /// Created by an administrator, or left behind by a disconnected connection.
    Manual,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Scim => "scim",
            Source::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scim" => Some(Source::Scim),
            "manual" => Some(Source::Manual),
            _ => None,
        }
    }
}

/// An account's status in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// `active: false`, or deleted over SCIM and held until its `userName` frees up.
    Deactivated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Deactivated => "deactivated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Status::Active),
            "deactivated" => Some(Status::Deactivated),
            _ => None,
        }
    }
}

/// The organisation's own properties of an account: never sent over SCIM, never part of
/// `meta.version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalProps {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub locations: Vec<String>,
    /// Schools only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade_level: Option<String>,
    /// Schools only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sis_username: Option<String>,
}

/// An account (a User resource) with what only the directory knows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub resource: StoredResource,
    pub source: Source,
    /// When SCIM deleted it; it is then invisible to SCIM and held until `hold_until`.
    pub deleted: Option<OffsetDateTime>,
    pub hold_until: Option<OffsetDateTime>,
    pub local: LocalProps,
}

impl Account {
    pub fn status(&self) -> Status {
        if self.deleted.is_some() || !columns::active(&self.resource.doc) {
            Status::Deactivated
        } else {
            Status::Active
        }
    }

    /// The `userName`.
    pub fn user_name(&self) -> &str {
        self.resource
            .doc
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// What the directory keeps beside a resource's SCIM representation (`scimd copy`).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryState {
    pub source: Source,
    pub deleted: Option<OffsetDateTime>,
    pub hold_until: Option<OffsetDateTime>,
    /// Accounts only.
    pub local: Option<LocalProps>,
}

impl DirectoryState {
    pub fn of_account(a: &Account) -> Self {
        DirectoryState {
            source: a.source,
            deleted: a.deleted,
            hold_until: a.hold_until,
            local: Some(a.local.clone()),
        }
    }

    pub fn of_group(source: Source) -> Self {
        DirectoryState {
            source,
            deleted: None,
            hold_until: None,
            local: None,
        }
    }
}

/// An account search for administrators: keyset paging in creation order.
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// Case-insensitive substring of `userName`, `displayName`, given or family name.
    pub search: Option<String>,
    pub source: Option<Source>,
    pub status: Option<Status>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    pub count: u32,
}

/// One page of accounts.
#[derive(Debug, Clone)]
pub struct AccountPage {
    pub accounts: Vec<Account>,
    /// Matching accounts in all pages.
    pub total: u64,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
}

/// A change to an account, whatever its source. Each part is optional.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    /// Refuse with [`StoreError::VersionMismatch`] unless the account is at this version.
    pub expected_version: Option<i64>,
    /// A new SCIM document (bumps `meta.version`).
    pub doc: Option<Value>,
    /// A new source (directory sync taking over an account, or letting it go).
    pub source: Option<Source>,
    /// New local properties (never bumps `meta.version`).
    pub local: Option<LocalProps>,
    pub now: Option<OffsetDateTime>,
}

/// What a SCIM create needs to know about the organisation, read at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPolicy {
    pub kind: crate::ids::OrgKind,
    pub auto_merge: bool,
    /// The organisation's verified domains (lower-case).
    pub verified_domains: Vec<String>,
    /// Whether the `userName` asked about is an administrator's sign-in.
    pub admin_collision: bool,
}

/// An incoming SCIM account that collided with an account directory sync does not own.
/// One per `(organisation, userName)`, however often the identity provider retries.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictRecord {
    pub org_id: crate::ids::OrgId,
    /// The folded `userName`: the key.
    pub name_ci: String,
    pub user_name: String,
    /// The existing account.
    pub account_id: ResourceId,
    /// The document the identity provider sent (latest attempt).
    pub incoming: Value,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    pub attempts: i64,
}

/// A domain an organisation added, and whether it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRecord {
    pub org_id: crate::ids::OrgId,
    /// Lower-case, ASCII (IDNA).
    pub name: String,
    /// The value of the TXT record to publish.
    pub txt: String,
    pub created: OffsetDateTime,
    pub verified: Option<OffsetDateTime>,
    /// `dns`, or who forced it (`cli`).
    pub verified_by: Option<String>,
}

/// A signed-in administrator's session (API bearer or console cookie); only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub org_id: crate::ids::OrgId,
    pub id: crate::ids::SessionId,
    pub hash: [u8; 32],
    pub admin_id: AdminId,
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
}

/// A one-time link that creates an organisation's first administrator; only the hash of its
/// secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupLink {
    pub org_id: crate::ids::OrgId,
    pub hash: [u8; 32],
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
    pub used: Option<OffsetDateTime>,
}

/// Failed sign-ins for one e-mail address of one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigninThrottle {
    /// Failures since `window_start`.
    pub failures: u32,
    pub window_start: OffsetDateTime,
    /// Sign-ins are refused until then.
    pub locked_until: Option<OffsetDateTime>,
}
