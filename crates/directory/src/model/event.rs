//! The event log (docs/contract.md, "Events"): what applications hear of the directory. Every
//! change an application can see appends one event in the transaction of the change; events
//! are numbered per organisation without gaps, and a reader follows them by that number.

use crate::ids::OrgId;
use serde_json::{Value, json};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserDeactivated,
    UserReactivated,
    UserDeleted,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    GroupMemberAdded,
    GroupMemberRemoved,
    ConnectionActivated,
    ConnectionDisconnected,
    TokenExpiring,
    TokenExpired,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeactivated,
        EventType::UserReactivated,
        EventType::UserDeleted,
        EventType::GroupCreated,
        EventType::GroupUpdated,
        EventType::GroupDeleted,
        EventType::GroupMemberAdded,
        EventType::GroupMemberRemoved,
        EventType::ConnectionActivated,
        EventType::ConnectionDisconnected,
        EventType::TokenExpiring,
        EventType::TokenExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserDeleted => "user.deleted",
            EventType::GroupCreated => "group.created",
            EventType::GroupUpdated => "group.updated",
            EventType::GroupDeleted => "group.deleted",
            EventType::GroupMemberAdded => "group.member_added",
            EventType::GroupMemberRemoved => "group.member_removed",
            EventType::ConnectionActivated => "connection.activated",
            EventType::ConnectionDisconnected => "connection.disconnected",
            EventType::TokenExpiring => "token.expiring",
            EventType::TokenExpired => "token.expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// A comma-separated list of types (`--types`, `?types=`); blanks are skipped.
    pub fn parse_list(s: &str) -> Result<Vec<EventType>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let t = EventType::parse(part).ok_or_else(|| {
                format!(
                    "unknown event type '{part}' (known: {})",
                    EventType::ALL.map(EventType::as_str).join(", ")
                )
            })?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }
}

/// An event's stable identifier, `evt_` and 32 hex digits (also the `webhook-id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId(pub Uuid);

impl EventId {
    pub fn new() -> Self {
        EventId(Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "evt_{}", self.0.simple())
    }
}

impl FromStr for EventId {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let hex = s.strip_prefix("evt_").ok_or(())?;
        if hex.len() != 32 {
            return Err(());
        }
        Uuid::try_parse(hex).map(EventId).map_err(|_| ())
    }
}

/// An event a write appends, before the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventType,
    pub data: Value,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub org: OrgId,
    /// Per organisation: 1 for the first event, then one more for each.
    pub sequence: i64,
    pub kind: EventType,
    pub created: OffsetDateTime,
    pub data: Value,
}

impl Event {
    /// The event as applications receive it (the events API and webhook bodies).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "sequence": self.sequence,
            "type": self.kind.as_str(),
            "organisation": self.org.to_string(),
            "created_at": crate::render::timestamp(self.created),
            "data": self.data,
        })
    }
}

/// A page of the log: events after `after` (a sequence number; 0 for the oldest kept), of
/// `types` (all when empty), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub after: i64,
    pub limit: u32,
    pub types: Vec<EventType>,
}

/// A page of the directory API: after position `after` (0 for the start), at most `limit`,
/// changed at or after `updated_since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryQuery {
    pub after: i64,
    pub limit: u32,
    pub updated_since: Option<OffsetDateTime>,
}
