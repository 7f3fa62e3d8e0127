//! The rules of applications and webhooks (docs/contract.md, "Applications"), whoever calls
//! (the administrators' API, the console, the CLI), and how applications read the directory
//! and the events:
//!
//! - an application has a name unique among the organisation's live ones and a key shown once
//!   (only its hash is kept); a revoked key stops working at once;
//! - a webhook endpoint starts at the organisation's newest event, so it hears of what happens
//!   from now on; a replay moves it back to just before a kept event;
//! - a rotation puts a new secret first; the one it replaces goes on signing for
//!   [`SECRET_OVERLAP`] so receivers can switch without losing a delivery;
//! - directory API cursors are sealed with the deployment's cursor key when the store has one
//!   (positions are shared by every organisation: in the clear they would tell a tenant how
//!   much the others write), and carry what they page, so one list's cursor is refused by
//!   another;
//! - every act goes to the activity log.

use crate::apps::{self, IssuedApp, SECRET_OVERLAP};
use crate::clock::Clock;
use crate::ids::{AppId, OrgId, ResourceId, WebhookId};
use crate::store::{
    ActivityEntry, Application, Cursor, DeliveryRecord, DirectoryQuery, Event, EventId, EventQuery,
    EventType, Store, StoreError, WebhookEndpoint, WebhookSecret, WebhookState,
};
use crate::usage::UseThrottle;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scim_core::schema::ResourceKind;
use serde_json::{Value, json};
use std::sync::Arc;
use time::OffsetDateTime;

/// A page of the directory API or the events when the caller names no size.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page of the directory API or the events.
pub const MAX_LIMIT: u32 = 1000;
/// Delivery attempts shown for an endpoint when the caller names no number.
pub const DEFAULT_DELIVERIES: u32 = 100;
/// The most delivery attempts shown at once.
pub const MAX_DELIVERIES: u32 = 1000;

/// A refusal or failure of an application act, in words an administrator (or a developer
/// reading an API answer) can act on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: a name, a URL, an event type, a limit, a cursor.
    #[error("{0}")]
    Invalid(String),
    #[error("the organisation has no application {0}")]
    UnknownApp(String),
    #[error("the organisation has no webhook endpoint {0}")]
    UnknownWebhook(String),
    /// An event id that names no kept event of the organisation.
    #[error(
        "no event {0} is kept in this organisation (events are kept for a limited time; list them with GET /api/v1/events)"
    )]
    UnknownEvent(String),
    /// A user or group the directory API does not have.
    #[error("{0} not found")]
    NotFound(String),
    #[error("a live application named '{0}' already exists in this organisation")]
    DuplicateName(String),
    #[error("application {0} is already revoked")]
    AlreadyRevoked(AppId),
    #[error("no randomness available: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A page of the directory API: objects oldest first and the cursor of the next page (`None`
/// when this page is not full, so nothing follows it yet).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryPage {
    pub data: Vec<Value>,
    pub next: Option<String>,
}

/// A page of the events: oldest first, and the `after` of the next page (the last event's id)
/// when this page is full; `None` once it reaches the newest event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsPage {
    pub events: Vec<Event>,
    pub next: Option<String>,
}

/// A new webhook endpoint and its signing secret, shown once.
#[derive(Debug, Clone)]
pub struct AddedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

/// What a directory API cursor pages: users, groups, or one group's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paged {
    Users,
    Groups,
    Members,
}

impl Paged {
    fn tag(self) -> &'static str {
        match self {
            Paged::Users => "u",
            Paged::Groups => "g",
            Paged::Members => "m",
        }
    }

    fn of(kind: ResourceKind) -> Paged {
        match kind {
            ResourceKind::User => Paged::Users,
            ResourceKind::Group => Paged::Groups,
        }
    }
}

/// A cursor's content: the position (users, groups) or member id (members) of the last object
/// of a page, and what it pages.
#[derive(Debug, Clone, PartialEq)]
struct Position {
    paged: Paged,
    seq: i64,
    member: Option<ResourceId>,
}

/// The application and webhook rules of one deployment.
#[derive(Debug, Clone)]
pub struct Applications {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// When this instance last wrote each application's use.
    touched: Arc<UseThrottle<AppId>>,
}

impl Applications {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Applications {
            store,
            clock,
            touched: Arc::default(),
        }
    }

    /// Records a request made with `app`'s key, just accepted: `last_used` is written when it
    /// is older than [`crate::usage::TOUCH_INTERVAL`]. A failure is logged, never returned: use
    /// is informational, and the application's read still succeeds.
    pub async fn record_use(&self, app: &Application) {
        let now = self.clock.now();
        if self.touched.due(app.id, app.last_used, now)
            && let Err(e) = self.store.touch_app(app.org_id, app.id, now).await
        {
            tracing::warn!(error = %e, app = %app.id, "cannot record an application's use");
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn record(
        &self, org: OrgId, actor: &str, action: &str, target: String, detail: Option<String>,
    ) -> Result<(), StoreError> {
        let entry =
            ActivityEntry::act(org, self.clock.now(), actor, action, target).with_detail(detail);
        self.store.append_activity(vec![entry]).await
    }

    // -----------------------------------------------------------------------------------------
    // Applications.

    /// Registers an application named `name`; its key is in the answer and nowhere else.
    pub async fn create_app(
        &self, org: OrgId, name: &str, actor: &str,
    ) -> Result<IssuedApp, AppError> {
        let name = apps::check_name(name).map_err(AppError::Invalid)?;
        let issued = apps::generate(org, name, self.clock.now()).map_err(AppError::Random)?;
        match self.store.insert_app(&issued.record).await {
            Err(StoreError::Conflict(_)) => {
                return Err(AppError::DuplicateName(issued.record.name));
            }
            other => other?,
        }
        self.record(
            org,
            actor,
            "app.create",
            format!(
                "application {} ({}, {})",
                issued.record.id, issued.record.name, issued.record.prefix
            ),
            None,
        )
        .await?;
        Ok(issued)
    }

    /// The organisation's applications, revoked ones included, as the store orders them.
    pub async fn list_apps(&self, org: OrgId) -> Result<Vec<Application>, AppError> {
        Ok(self.store.list_apps(org).await?)
    }

    /// Revokes an application: its key is refused from the next request on.
    pub async fn revoke_app(&self, org: OrgId, id: AppId, actor: &str) -> Result<(), AppError> {
        let app = self
            .store
            .list_apps(org)
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| AppError::UnknownApp(id.to_string()))?;
        if app.revoked.is_some() || !self.store.revoke_app(org, id, self.clock.now()).await? {
            return Err(AppError::AlreadyRevoked(id));
        }
        self.record(
            org,
            actor,
            "app.revoke",
            format!("application {id} ({}, {})", app.name, app.prefix),
            None,
        )
        .await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Webhook endpoints.

    /// Adds an endpoint for `types` (a comma-separated list; every type when empty). It starts
    /// at the organisation's newest event: deliveries are of what happens from now on.
    pub async fn add_webhook(
        &self, org: OrgId, url: &str, types: &str, actor: &str,
    ) -> Result<AddedWebhook, AppError> {
        let url = apps::check_webhook_url(url).map_err(AppError::Invalid)?;
        let types = EventType::parse_list(types).map_err(AppError::Invalid)?;
        let secret = apps::generate_secret().map_err(AppError::Random)?;
        let cursor = self.store.last_event_sequence(org).await?;
        let endpoint = WebhookEndpoint {
            id: WebhookId::new(),
            org_id: org,
            url,
            types,
            secrets: vec![WebhookSecret {
                secret: secret.clone(),
                retires: None,
            }],
            state: WebhookState::Active,
            cursor,
            attempts: 0,
            next_attempt: None,
            failing_since: None,
            created: self.clock.now(),
            last_delivery: None,
            last_status: None,
        };
        self.store.insert_webhook(&endpoint).await?;
        self.record(
            org,
            actor,
            "webhook.add",
            format!("webhook {} ({})", endpoint.id, endpoint.url),
            Some(types_label(&endpoint.types)),
        )
        .await?;
        Ok(AddedWebhook { endpoint, secret })
    }

    pub async fn list_webhooks(&self, org: OrgId) -> Result<Vec<WebhookEndpoint>, AppError> {
        Ok(self.store.list_webhooks(org).await?)
    }

    pub async fn get_webhook(
        &self, org: OrgId, id: WebhookId,
    ) -> Result<WebhookEndpoint, AppError> {
        self.store
            .get_webhook(org, id)
            .await?
            .ok_or_else(|| AppError::UnknownWebhook(id.to_string()))
    }

    /// Removes an endpoint and its delivery log; nothing more is sent to it.
    pub async fn remove_webhook(
        &self, org: OrgId, id: WebhookId, actor: &str,
    ) -> Result<(), AppError> {
        let w = self.get_webhook(org, id).await?;
        if !self.store.remove_webhook(org, id).await? {
            return Err(AppError::UnknownWebhook(id.to_string()));
        }
        self.record(
            org,
            actor,
            "webhook.remove",
            format!("webhook {id} ({})", w.url),
            None,
        )
        .await?;
        Ok(())
    }

    /// Delivers again from event `from` on (that event included), as a healthy endpoint: a
    /// failing endpoint starts over with it.
    pub async fn replay_webhook(
        &self, org: OrgId, id: WebhookId, from: &str, actor: &str,
    ) -> Result<WebhookEndpoint, AppError> {
        let w = self.get_webhook(org, id).await?;
        let event = self.find_event(org, from).await?;
        if !self
            .store
            .set_webhook_cursor(org, id, event.sequence - 1)
            .await?
        {
            return Err(AppError::UnknownWebhook(id.to_string()));
        }
        self.record(
            org,
            actor,
            "webhook.replay",
            format!("webhook {id} ({})", w.url),
            Some(format!("from {} (sequence {})", event.id, event.sequence)),
        )
        .await?;
        self.get_webhook(org, id).await
    }

    /// A new signing secret, first; the current one goes on signing for [`SECRET_OVERLAP`],
    /// secrets already retiring keep their own end (a second rotation never lengthens the
    /// life of a secret that may have leaked), and retired ones are dropped. Returns the new
    /// secret, shown once.
    pub async fn rotate_secret(
        &self, org: OrgId, id: WebhookId, actor: &str,
    ) -> Result<String, AppError> {
        let w = self.get_webhook(org, id).await?;
        let secret = apps::generate_secret().map_err(AppError::Random)?;
        let secrets = rotated(&w.secrets, secret.clone(), self.clock.now());
        if !self.store.set_webhook_secrets(org, id, &secrets).await? {
            return Err(AppError::UnknownWebhook(id.to_string()));
        }
        self.record(
            org,
            actor,
            "webhook.rotate-secret",
            format!("webhook {id} ({})", w.url),
            None,
        )
        .await?;
        Ok(secret)
    }

    /// The endpoint's newest delivery attempts first, at most `limit` (1 to [`MAX_DELIVERIES`]).
    pub async fn deliveries(
        &self, org: OrgId, id: WebhookId, limit: u32,
    ) -> Result<Vec<DeliveryRecord>, AppError> {
        if !(1..=MAX_DELIVERIES).contains(&limit) {
            return Err(AppError::Invalid(format!(
                "limit must be between 1 and {MAX_DELIVERIES}"
            )));
        }
        self.get_webhook(org, id).await?;
        Ok(self.store.list_deliveries(org, id, limit).await?)
    }

    // -----------------------------------------------------------------------------------------
    // Events.

    /// A kept event of the organisation by its id (`evt_...`).
    pub async fn find_event(&self, org: OrgId, id: &str) -> Result<Event, AppError> {
        let unknown = || AppError::UnknownEvent(id.trim().chars().take(64).collect());
        let parsed: EventId = id.trim().parse().map_err(|()| unknown())?;
        self.store
            .find_event(org, parsed)
            .await?
            .ok_or_else(unknown)
    }

    /// The query of an events page: after event `after` (the oldest kept when `None`), at most
    /// `limit` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]) events of `types` (a
    /// comma-separated list; every type when empty or `None`).
    pub async fn event_query(
        &self, org: OrgId, after: Option<&str>, limit: Option<u32>, types: Option<&str>,
    ) -> Result<EventQuery, AppError> {
        let limit = check_limit(limit)?;
        let types = EventType::parse_list(types.unwrap_or("")).map_err(AppError::Invalid)?;
        let after = match after {
            None => 0,
            Some(id) => self.find_event(org, id).await?.sequence,
        };
        Ok(EventQuery {
            after,
            limit,
            types,
        })
    }

    /// One page of events.
    pub async fn events(&self, org: OrgId, q: &EventQuery) -> Result<EventsPage, AppError> {
        let events = self.store.list_events(org, q).await?;
        let full = events.len() >= q.limit as usize;
        let next = match events.last() {
            Some(last) if full => Some(last.id.to_string()),
            _ => None,
        };
        Ok(EventsPage { events, next })
    }

    /// The sequence of the organisation's newest event (0 before the first): what a waiting
    /// reader polls, one row read, before it asks for a page again.
    pub async fn newest_sequence(&self, org: OrgId) -> Result<i64, AppError> {
        Ok(self.store.last_event_sequence(org).await?)
    }

    // -----------------------------------------------------------------------------------------
    // The directory API.

    /// Users or groups after cursor `after`, at most `limit`, changed at or after
    /// `updated_since`.
    pub async fn directory_list(
        &self, org: OrgId, kind: ResourceKind, after: Option<&str>, limit: Option<u32>,
        updated_since: Option<OffsetDateTime>,
    ) -> Result<DirectoryPage, AppError> {
        let limit = check_limit(limit)?;
        let paged = Paged::of(kind);
        let after = match after {
            Some(c) => self.open_cursor(org, c, paged)?.seq,
            None => 0,
        };
        let rows = self
            .store
            .directory_objects(
                org,
                kind,
                &DirectoryQuery {
                    after,
                    limit,
                    updated_since,
                },
            )
            .await?;
        let next = match rows.last() {
            Some((seq, _)) if rows.len() >= limit as usize => Some(self.seal_cursor(
                org,
                &Position {
                    paged,
                    seq: *seq,
                    member: None,
                },
            )?),
            _ => None,
        };
        Ok(DirectoryPage {
            data: rows.into_iter().map(|(_, v)| v).collect(),
            next,
        })
    }

    /// One user or group (a user SCIM deleted is gone from the directory API).
    pub async fn directory_get(
        &self, org: OrgId, kind: ResourceKind, id: &str,
    ) -> Result<Value, AppError> {
        let what = match kind {
            ResourceKind::User => "user",
            ResourceKind::Group => "group",
        };
        let not_found = || AppError::NotFound(format!("{what} {}", short(id)));
        let rid: ResourceId = id.parse().map_err(|_| not_found())?;
        self.store
            .directory_object(org, kind, rid)
            .await?
            .ok_or_else(not_found)
    }

    /// A group's direct members after cursor `after`, at most `limit`.
    pub async fn directory_members(
        &self, org: OrgId, group: &str, after: Option<&str>, limit: Option<u32>,
    ) -> Result<DirectoryPage, AppError> {
        let not_found = || AppError::NotFound(format!("group {}", short(group)));
        let gid: ResourceId = group.parse().map_err(|_| not_found())?;
        let limit = check_limit(limit)?;
        let after = match after {
            Some(c) => self.open_cursor(org, c, Paged::Members)?.member,
            None => None,
        };
        let rows = self
            .store
            .directory_members(org, gid, after, limit)
            .await?
            .ok_or_else(not_found)?;
        let next = match rows.last() {
            Some((id, _)) if rows.len() >= limit as usize => Some(self.seal_cursor(
                org,
                &Position {
                    paged: Paged::Members,
                    seq: 0,
                    member: Some(*id),
                },
            )?),
            _ => None,
        };
        Ok(DirectoryPage {
            data: rows.into_iter().map(|(_, v)| v).collect(),
            next,
        })
    }

    /// The opaque text of a position: sealed for `org` when the store has a cursor key,
    /// otherwise its plain encoding in base64url.
    fn seal_cursor(&self, org: OrgId, p: &Position) -> Result<String, AppError> {
        let content = match p.member {
            Some(m) => format!("{}:{m}", p.paged.tag()),
            None => format!("{}:{}", p.paged.tag(), p.seq),
        };
        match self.store.cursor_key() {
            Some(key) => Ok(key.seal(
                org,
                &Cursor {
                    seq: p.seq,
                    key: Some(Value::String(content)),
                },
            )?),
            None => Ok(URL_SAFE_NO_PAD.encode(content)),
        }
    }

    /// Reads a cursor this deployment gave `org` for the list `paged`; anything else
    /// (garbled, another organisation's, another list's) is [`AppError::Invalid`].
    fn open_cursor(&self, org: OrgId, text: &str, paged: Paged) -> Result<Position, AppError> {
        let invalid = || {
            AppError::Invalid(
                "after is not a cursor of this list: pass the `next` of the previous page as it came"
                    .into(),
            )
        };
        let content = match self.store.cursor_key() {
            Some(key) => match key.open(org, text) {
                Ok(Cursor {
                    key: Some(Value::String(s)),
                    ..
                }) => s,
                Ok(_) | Err(StoreError::InvalidCursor) => return Err(invalid()),
                Err(e) => return Err(e.into()),
            },
            None => URL_SAFE_NO_PAD
                .decode(text)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(invalid)?,
        };
        let (tag, rest) = content.split_once(':').ok_or_else(invalid)?;
        if tag != paged.tag() {
            return Err(invalid());
        }
        match paged {
            Paged::Members => Ok(Position {
                paged,
                seq: 0,
                member: Some(rest.parse().map_err(|_| invalid())?),
            }),
            _ => Ok(Position {
                paged,
                seq: rest.parse().ok().filter(|s| *s >= 0).ok_or_else(invalid)?,
                member: None,
            }),
        }
    }
}

/// A page size: [`DEFAULT_LIMIT`] when none is given, 1 to [`MAX_LIMIT`] otherwise.
fn check_limit(limit: Option<u32>) -> Result<u32, AppError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(AppError::Invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// An id as it may be quoted back in a message: bounded, whatever was sent.
fn short(id: &str) -> String {
    id.chars().take(64).collect()
}

/// The secrets after a rotation at `now` to `new` (see [`Applications::rotate_secret`]).
fn rotated(old: &[WebhookSecret], new: String, now: OffsetDateTime) -> Vec<WebhookSecret> {
    let now_s = now.unix_timestamp();
    let until = (now + SECRET_OVERLAP).unix_timestamp();
    let mut out = vec![WebhookSecret {
        secret: new,
        retires: None,
    }];
    for s in old {
        match s.retires {
            None => out.push(WebhookSecret {
                secret: s.secret.clone(),
                retires: Some(until),
            }),
            Some(r) if r > now_s => out.push(s.clone()),
            Some(_) => {}
        }
    }
    out
}

/// The types an endpoint receives, for people: "all" or the list.
pub fn types_label(types: &[EventType]) -> String {
    if types.is_empty() {
        "all".to_owned()
    } else {
        types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// An application as the administrators' API and `scimd app list --format json` show it
/// (never its key or hash).
pub fn app_json(a: &Application) -> Value {
    let ts = crate::render::timestamp;
    json!({
        "id": a.id.to_string(),
        "name": a.name,
        "prefix": a.prefix,
        "state": if a.revoked.is_some() { "revoked" } else { "active" },
        "created": ts(a.created),
        "lastUsed": a.last_used.map(ts),
        "revoked": a.revoked.map(ts),
    })
}

/// A webhook endpoint as the administrators' API and `scimd webhook list --format json` show
/// it (never its secrets: how many sign, and until when the retiring ones do).
pub fn webhook_json(w: &WebhookEndpoint) -> Value {
    let ts = crate::render::timestamp;
    let retiring: Vec<Value> = w
        .secrets
        .iter()
        .filter_map(|s| s.retires)
        .filter_map(|r| OffsetDateTime::from_unix_timestamp(r).ok())
        .map(|r| Value::String(ts(r)))
        .collect();
    json!({
        "id": w.id.to_string(),
        "url": w.url,
        "types": w.types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "state": w.state.as_str(),
        "deliveredThrough": w.cursor,
        "attempts": w.attempts,
        "nextAttempt": w.next_attempt.map(ts),
        "failingSince": w.failing_since.map(ts),
        "created": ts(w.created),
        "lastDelivery": w.last_delivery.map(ts),
        "lastStatus": w.last_status,
        "retiringSecrets": retiring,
    })
}

/// One delivery attempt as the administrators' API shows it.
pub fn delivery_json(d: &DeliveryRecord) -> Value {
    json!({
        "at": crate::render::timestamp(d.at),
        "eventId": d.event.to_string(),
        "sequence": d.sequence,
        "eventType": d.event_type.as_str(),
        "status": d.status,
        "ok": d.ok,
        "latencyMs": d.latency_ms,
        "error": d.error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str, retires: Option<i64>) -> WebhookSecret {
        WebhookSecret {
            secret: s.into(),
            retires,
        }
    }

    #[test]
    fn a_rotation_puts_the_new_secret_first_and_keeps_the_old_one_for_the_overlap() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).expect("time");
        let out = rotated(&[secret("a", None)], "b".into(), now);
        assert_eq!(
            out,
            vec![
                secret("b", None),
                secret("a", Some((now + SECRET_OVERLAP).unix_timestamp()))
            ]
        );
    }

    #[test]
    fn a_second_rotation_drops_retired_secrets_and_never_lengthens_a_retiring_one() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).expect("time");
        let t = now.unix_timestamp();
        let out = rotated(
            &[
                secret("c", None),
                secret("b", Some(t + 60)),
                secret("a", Some(t)),
            ],
            "d".into(),
            now,
        );
        assert_eq!(
            out,
            vec![
                secret("d", None),
                secret("c", Some((now + SECRET_OVERLAP).unix_timestamp())),
                secret("b", Some(t + 60)),
            ]
        );
    }

    #[test]
    fn limits_default_to_100_and_stay_between_1_and_1000() {
        assert_eq!(check_limit(None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(check_limit(Some(1)).ok(), Some(1));
        assert_eq!(check_limit(Some(MAX_LIMIT)).ok(), Some(MAX_LIMIT));
        assert!(check_limit(Some(0)).is_err());
        assert!(check_limit(Some(MAX_LIMIT + 1)).is_err());
    }

    #[test]
    fn types_read_as_all_when_empty() {
        assert_eq!(types_label(&[]), "all");
        assert_eq!(
            types_label(&[EventType::UserCreated, EventType::GroupDeleted]),
            "user.created,group.deleted"
        );
    }
}
