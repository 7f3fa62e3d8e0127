//! Notifications (docs/contract.md, "Tokens and the connection") and the background jobs that
//! drive them.
//!
//! Jobs are state-driven, not window-driven: a notice is a row in the outbox with a key unique
//! per organisation (`kind:token:threshold`), so however often the expiry scan runs, on however
//! many instances, after however many restarts, each notice is enqueued once. Delivery claims
//! due rows with a lease (on PostgreSQL with `FOR UPDATE SKIP LOCKED`), so two instances never
//! send one notice at the same time; a failed delivery is retried with exponential backoff and
//! the row stays until it is sent. An instance that dies after the SMTP server accepted a
//! message but before the row was marked sent will send it again when the lease lapses: that
//! narrow window is the one duplicate SMTP itself cannot rule out.

use crate::clock::Clock;
use crate::ids::{NoticeId, OrgId, Organisation};
use crate::lifecycle::{effective_expiry, token_state};
use crate::store::{AdminRole, Notice, NoticeKind, Store, StoreError, TokenRecord};
use async_trait::async_trait;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Days before a token's expiry at which administrators are reminded.
pub const REMINDER_DAYS: [i32; 4] = [60, 30, 7, 1];
/// How long a claimed notice is hidden from other deliveries.
pub const CLAIM_LEASE: Duration = Duration::minutes(5);
/// Expired tokens older than this are not announced (a database restored from long ago should
/// not send stale news).
const EXPIRED_NEWS_HORIZON: Duration = Duration::days(30);
/// Notices claimed per delivery round.
const CLAIM_BATCH: u32 = 32;

/// An e-mail to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// The outgoing-mail port (SMTP in production, a recorder in tests).
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Sends one message; the error says why in words (logged and kept on the notice).
    async fn send(&self, mail: &Mail) -> Result<(), String>;
}

/// Sends a test message to `to` through `mailer` and records the attempt in the organisation's
/// activity log (an administrator's "Send test e-mail"). The error says why delivery failed.
pub async fn send_test(
    store: &dyn Store, clock: &dyn Clock, mailer: &dyn Mailer, org: OrgId, actor: &str, to: &str,
) -> Result<(), String> {
    let result = mailer
        .send(&Mail {
            to: vec![to.to_owned()],
            subject: "scimd test message".to_owned(),
            body: "This is a test message from scimd: e-mail notifications work.\n".to_owned(),
        })
        .await;
    let entry = crate::store::ActivityEntry::act(org, clock.now(), actor, "mail.test", to)
        .with_detail(Some(match &result {
            Ok(()) => "sent".to_owned(),
            Err(e) => format!("failed: {e}"),
        }));
    if let Err(e) = store.append_activity(vec![entry]).await {
        tracing::error!(error = %e, "cannot record a test e-mail");
    }
    result
}

/// The wait before attempt `attempts + 1`: 30 s doubling, at most 6 hours.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    let secs = 30i64.saturating_mul(1i64 << exp);
    Duration::seconds(secs.min(6 * 3600))
}

fn date(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn notice(
    org: &Organisation, kind: NoticeKind, token: &TokenRecord, threshold_days: Option<i32>,
    subject: String, body: String, now: OffsetDateTime,
) -> Notice {
    let key = match threshold_days {
        Some(d) => format!("{}:{}:{d}", kind.as_str(), token.id),
        None => format!("{}:{}", kind.as_str(), token.id),
    };
    Notice {
        id: NoticeId::new(),
        org_id: org.id,
        key,
        kind,
        token_id: Some(token.id),
        threshold_days,
        subject,
        body,
        created: now,
        attempts: 0,
        next_attempt: now,
        sent: None,
        last_error: None,
    }
}

/// "Directory sync set-up complete": a new token was used successfully for the first time.
pub fn setup_complete(org: &Organisation, token: &TokenRecord, now: OffsetDateTime) -> Notice {
    notice(
        org,
        NoticeKind::SetupComplete,
        token,
        None,
        format!("Directory sync set-up complete for {}", org.name),
        format!(
            "Directory sync set-up complete.\n\n\
             Your identity provider connected to {} with the SCIM token {}... at {}.\n\
             Accounts it provisions will now appear in the directory.\n\n\
             The token expires on {}. You will be reminded 60, 30, 7 and 1 days before.\n",
            org.name,
            token.prefix,
            date(now),
            date(token.expires)
        ),
        now,
    )
}

fn reminder(org: &Organisation, token: &TokenRecord, days: i32, now: OffsetDateTime) -> Notice {
    let when = if days == 1 {
        "1 day".to_owned()
    } else {
        format!("{days} days")
    };
    notice(
        org,
        NoticeKind::ExpiryReminder,
        token,
        Some(days),
        format!("The SCIM token of {} expires in {when}", org.name),
        format!(
            "The SCIM token {}... of {} expires on {} (in {when}).\n\n\
             To keep directory sync working, generate a new token, paste it into your identity \
             provider's provisioning settings, test the connection and save. The old token \
             keeps working until it expires or you revoke it.\n",
            token.prefix,
            org.name,
            date(token.expires)
        ),
        now,
    )
}

fn expired(org: &Organisation, token: &TokenRecord, now: OffsetDateTime) -> Notice {
    notice(
        org,
        NoticeKind::TokenExpired,
        token,
        None,
        format!("The SCIM token of {} has expired", org.name),
        format!(
            "The SCIM token {}... of {} expired on {}, and the organisation has no other live \
             token: directory sync has stopped.\n\n\
             Generate a new token and paste it into your identity provider to resume.\n",
            token.prefix,
            org.name,
            date(effective_expiry(token))
        ),
        now,
    )
}

/// "Webhook deliveries stopped": an endpoint's retries ran out. Keyed by the endpoint and the
/// start of the failing episode, so however many instances notice it, it is sent once per
/// episode, and again if the endpoint recovers and fails anew.
pub fn webhook_failing(
    org: &Organisation, endpoint: &crate::model::WebhookEndpoint, since: OffsetDateTime,
    last_error: &str, now: OffsetDateTime,
) -> Notice {
    let micros = since.unix_timestamp_nanos() / 1000;
    Notice {
        id: NoticeId::new(),
        org_id: org.id,
        key: format!(
            "{}:{}:{micros}",
            NoticeKind::WebhookFailing.as_str(),
            endpoint.id
        ),
        kind: NoticeKind::WebhookFailing,
        token_id: None,
        threshold_days: None,
        subject: format!("Webhook deliveries of {} have stopped", org.name),
        body: format!(
            "scimd could not deliver events to the webhook endpoint {} ({}) of {} since {}, \
             and has stopped trying.\n\n\
             The last attempt failed: {last_error}.\n\n\
             Events are kept, and nothing was skipped. Once the receiver works again, resume \
             with `scimd webhook replay --org {} {} --from EVENT_ID` (the first event it did \
             not get), or send a test event from the console's Applications page.\n",
            endpoint.url,
            endpoint.id,
            org.name,
            date(since),
            org.id,
            endpoint.id,
        ),
        created: now,
        attempts: 0,
        next_attempt: now,
        sent: None,
        last_error: None,
    }
}

/// The notices that `tokens` call for at `now`. Pure, so every rule is testable alone.
///
/// - a reminder for the tightest threshold already reached by a token that has been used and
///   is still live: as time only moves on, a wider threshold is never due after a tighter one,
///   so a server that was down across two thresholds sends the current one, not stale ones;
/// - "expired" for a token that expired (and was not revoked first) when no other token of the
///   organisation was live at that moment.
pub fn due_notices(org: &Organisation, tokens: &[TokenRecord], now: OffsetDateTime) -> Vec<Notice> {
    let mut out = Vec::new();
    for t in tokens {
        let state = token_state(t, now);
        if state.is_live() && t.first_used.is_some() {
            let left = t.expires - now;
            if let Some(days) = REMINDER_DAYS
                .iter()
                .rev()
                .find(|d| left <= Duration::days(i64::from(**d)))
            {
                out.push(reminder(org, t, *days, now));
            }
        }
        let end = effective_expiry(t);
        let expired_unrevoked = now >= end && t.revoked.is_none_or(|r| r > end);
        if expired_unrevoked && now - end <= EXPIRED_NEWS_HORIZON {
            let other_live = tokens
                .iter()
                .any(|o| o.id != t.id && o.created <= end && token_state(o, end).is_live());
            if !other_live {
                out.push(expired(org, t, now));
            }
        }
    }
    out
}

/// What one delivery round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub failed: usize,
}

/// The notification jobs of one deployment.
#[derive(Debug, Clone)]
pub struct Notifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Notifier {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Notifier { store, clock }
    }

    /// The expiry scan: enqueues every notice due now. Returns how many were new.
    pub async fn scan(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut added = 0;
        for org in self.store.list_orgs().await? {
            let tokens = self.store.list_tokens(org.id).await?;
            for n in due_notices(&org, &tokens, now) {
                if self.store.enqueue_notice(&n).await? {
                    added += 1;
                }
            }
        }
        Ok(added)
    }

    /// One delivery round: claims due notices and sends each to every administrator of role
    /// `administrator`; a failure (or no one to send to) leaves the notice due again later.
    pub async fn deliver(&self, mailer: &dyn Mailer) -> Result<Delivery, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_notices(now, now + CLAIM_LEASE, CLAIM_BATCH)
            .await?;
        let mut report = Delivery::default();
        for n in claimed {
            let to: Vec<String> = self
                .store
                .list_admins(n.org_id)
                .await?
                .into_iter()
                .filter(|a| a.role == AdminRole::Administrator)
                .map(|a| a.email)
                .collect();
            let result = if to.is_empty() {
                Err("the organisation has no administrator with role administrator".to_owned())
            } else {
                mailer
                    .send(&Mail {
                        to,
                        subject: n.subject.clone(),
                        body: n.body.clone(),
                    })
                    .await
            };
            let at = self.clock.now();
            match result {
                Ok(()) => {
                    self.store.complete_notice(n.org_id, n.id, at).await?;
                    report.sent += 1;
                }
                Err(e) => {
                    tracing::warn!(notice = %n.id, org = %n.org_id, attempts = n.attempts, error = %e, "notice not delivered; will retry");
                    self.store
                        .retry_notice(n.org_id, n.id, at + backoff(n.attempts), &e)
                        .await?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// Activity retention: deletes entries older than `retention`.
    pub async fn purge_activity(&self, retention: Duration) -> Result<u64, StoreError> {
        self.store
            .purge_activity(self.clock.now() - retention)
            .await
    }

    /// An organisation's outbox.
    pub async fn outbox(&self, org: OrgId) -> Result<Vec<Notice>, StoreError> {
        self.store.list_notices(org).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrgKind, TokenId};

    fn org() -> Organisation {
        Organisation {
            id: OrgId::new(),
            name: "Acme".into(),
            kind: OrgKind::Business,
            created: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn token(created: OffsetDateTime, used: bool) -> TokenRecord {
        TokenRecord {
            id: TokenId::new(),
            org_id: OrgId::new(),
            prefix: "scimd_abcdef".into(),
            hash: [0; 32],
            created,
            expires: created + crate::token::TOKEN_LIFETIME,
            first_used: used.then_some(created),
            last_used: used.then_some(created),
            revoked: None,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(3), Duration::seconds(120));
        assert_eq!(backoff(40), Duration::hours(6));
    }

    #[test]
    fn server_down_across_thresholds_sends_only_the_current_reminder() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let t = token(t0, true);
        let at = t.expires - Duration::days(5);
        let due = due_notices(&org(), std::slice::from_ref(&t), at);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].threshold_days, Some(7));
    }

    #[test]
    fn expired_token_with_a_live_successor_is_not_announced() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let old = token(t0, true);
        let new = token(old.expires - Duration::days(10), true);
        let due = due_notices(
            &org(),
            &[old.clone(), new],
            old.expires + Duration::hours(1),
        );
        assert!(due.iter().all(|n| n.kind != NoticeKind::TokenExpired));
        let due = due_notices(
            &org(),
            std::slice::from_ref(&old),
            old.expires + Duration::hours(1),
        );
        assert!(due.iter().any(|n| n.kind == NoticeKind::TokenExpired));
    }
}
