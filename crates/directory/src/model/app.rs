//! Applications (docs/contract.md, "Applications"): the organisation's own software that reads
//! the directory API and the events with a key of its own, and the webhook endpoints events are
//! delivered to.

use super::event::{EventId, EventType};
use crate::ids::{AppId, OrgId, WebhookId};
use time::OffsetDateTime;

/// An application as stored: never its key, only the key's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: AppId,
    pub org_id: OrgId,
    pub name: String,
    /// The first characters of the key, safe to show.
    pub prefix: String,
    pub hash: [u8; 32],
    pub created: OffsetDateTime,
    pub last_used: Option<OffsetDateTime>,
    pub revoked: Option<OffsetDateTime>,
}

/// A webhook signing secret (`whsec_` and base64 of its key), and until when it still signs
/// after a rotation (`None`: the current one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookSecret {
    pub secret: String,
    /// Unix seconds; `None` for the current secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retires: Option<i64>,
}

/// Whether an endpoint is being delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    /// Deliveries go out (perhaps retrying one).
    Active,
    /// Retries ran out: deliveries stopped until a replay (or a test event that succeeds).
    Failing,
}

impl WebhookState {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookState::Active => "active",
            WebhookState::Failing => "failing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => WebhookState::Active,
            "failing" => WebhookState::Failing,
            _ => return None,
        })
    }
}

/// A webhook endpoint and where its delivery stands.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    /// The event types delivered; every type when empty.
    pub types: Vec<EventType>,
    /// The current secret first, then any still signing after a rotation.
    pub secrets: Vec<WebhookSecret>,
    pub state: WebhookState,
    /// The sequence of the last event delivered (or skipped by a replay); deliveries go on
    /// from the next one, in order.
    pub cursor: i64,
    /// Failed attempts at the event after `cursor`.
    pub attempts: i32,
    /// When the next attempt is due (`None`: as soon as there is an event).
    pub next_attempt: Option<OffsetDateTime>,
    /// When the event after `cursor` first failed.
    pub failing_since: Option<OffsetDateTime>,
    pub created: OffsetDateTime,
    pub last_delivery: Option<OffsetDateTime>,
    pub last_status: Option<i32>,
}

/// One attempt at delivering one event to one endpoint (the delivery log).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub endpoint: WebhookId,
    pub event: EventId,
    /// 0 for a test event.
    pub sequence: i64,
    /// An [`EventType`] name, or `test` for a test event.
    pub event_type: String,
    pub at: OffsetDateTime,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i32>,
    /// Why the attempt failed without a status (a timeout, a refused connection, a refused
    /// address), or what the status meant.
    pub error: Option<String>,
    pub latency_ms: i64,
    pub ok: bool,
}

/// What a delivery worker reports back for an endpoint it holds: the attempts it made and
/// where the endpoint stands afterwards. Applied only while `owner` still holds the lease.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    pub endpoint: WebhookId,
    pub org_id: OrgId,
    pub owner: String,
    pub attempts: Vec<DeliveryRecord>,
    pub cursor: i64,
    pub state: WebhookState,
    pub attempt_count: i32,
    pub next_attempt: Option<OffsetDateTime>,
    pub failing_since: Option<OffsetDateTime>,
    /// The lease is kept until then (`None`: given up).
    pub lease_until: Option<OffsetDateTime>,
}
