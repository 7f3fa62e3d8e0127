//! Notices in the durable outbox.

use crate::ids::{NoticeId, OrgId, TokenId};
use time::OffsetDateTime;

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// A token expires within the threshold's number of days.
    ExpiryReminder,
    /// A token expired while it was the organisation's last live one.
    TokenExpired,
    /// A new token was used successfully for the first time.
    SetupComplete,
    /// A webhook endpoint's retries ran out: deliveries to it stopped.
    WebhookFailing,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::ExpiryReminder => "expiry-reminder",
            NoticeKind::TokenExpired => "token-expired",
            NoticeKind::SetupComplete => "setup-complete",
            NoticeKind::WebhookFailing => "webhook-failing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "expiry-reminder" => NoticeKind::ExpiryReminder,
            "token-expired" => NoticeKind::TokenExpired,
            "setup-complete" => NoticeKind::SetupComplete,
            "webhook-failing" => NoticeKind::WebhookFailing,
            _ => return None,
        })
    }
}

/// A notice in the durable outbox, sent by e-mail to the organisation's administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: NoticeId,
    pub org_id: OrgId,
    /// Unique per organisation: `kind:token:threshold` (`webhook-failing:endpoint:since` for a
    /// failing webhook). A second notice with the same key is never enqueued.
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
