//! Webhook delivery (docs/contract.md, "Webhooks"): every event of an organisation is POSTed,
//! signed per Standard Webhooks, to each of its endpoints that wants its type, in `sequence`
//! order, until the receiver answers 2xx within 15 s.
//!
//! - [`Worker`] (started by `serve`) leases endpoints from the store ([`WebhookStore::
//!   claim_webhooks`]), so that across instances one process at a time delivers to an
//!   endpoint, and runs one task per leased endpoint: it reads the events after the endpoint's
//!   cursor and POSTs them one at a time, then writes one report for the batch (the attempts,
//!   the new cursor, the lease renewed), so a busy endpoint costs one write per batch, not per
//!   event. A failed attempt stops the batch: the same event is retried after a backoff, and
//!   nothing after it is sent first.
//! - A process that dies mid-batch delivered events it never reported; the next holder sends
//!   them again from the last reported cursor. Deliveries are at least once, in order; a
//!   receiver deduplicates by `webhook-id`.
//! - Retries back off from 5 s, doubling, with jitter, up to an hour apart, for about 3 days
//!   from the first failure; then the endpoint is `failing`, deliveries stop, and the
//!   organisation's administrators get one e-mail for the episode (an outbox notice keyed by
//!   the episode's start).
//! - [`client`] keeps deliveries off private networks; [`sign`] computes the signatures.
//!
//! Deliveries run on their own tasks with bounded concurrency and timeouts: a receiver that
//! hangs costs a task and a connection, never a SCIM request.
//!
//! [`WebhookStore::claim_webhooks`]: directory::store::WebhookStore::claim_webhooks

pub mod client;
pub mod routes;
pub mod sign;
#[cfg(test)]
mod tests_worker;
mod worker;

pub use client::Sender;
pub use worker::{Worker, WorkerConfig};

use directory::store::{
    ActivityEntry, DeliveryRecord, Event, EventId, WebhookEndpoint, WebhookState,
};
use directory::{Clock, Store, StoreError};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// The first retry's wait (before jitter); each later one doubles it.
pub const FIRST_RETRY: Duration = Duration::seconds(5);
/// The longest wait between two attempts.
const MAX_RETRY: Duration = Duration::hours(1);
/// How long an event is retried, from its first failure, before the endpoint is `failing`.
pub const RETRY_FOR: Duration = Duration::days(3);

/// The wait before the attempt after `attempts` failed ones: `first` ([`FIRST_RETRY`])
/// doubling, at most an hour, scaled by `jitter` in [0, 1) to between 80 % and 120 % (so that
/// endpoints that failed together do not all retry at once). The first retry is due within
/// 6 s.
pub fn backoff(first: Duration, attempts: i32, jitter: f64) -> Duration {
    let exp = attempts.clamp(1, 30) - 1;
    let base = first.saturating_mul(1i32 << exp.min(20)).min(MAX_RETRY);
    base * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

/// A random number in [0, 1) for the jitter (0.5 if the system has none to give).
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

/// Where an endpoint stands: what a report writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub cursor: i64,
    pub attempts: i32,
    pub next_attempt: Option<OffsetDateTime>,
    pub failing_since: Option<OffsetDateTime>,
    pub state: WebhookState,
}

impl Standing {
    pub fn of(e: &WebhookEndpoint) -> Standing {
        Standing {
            cursor: e.cursor,
            attempts: e.attempts,
            next_attempt: e.next_attempt,
            failing_since: e.failing_since,
            state: e.state,
        }
    }

    /// After the event following `cursor` was delivered at sequence `sequence`.
    pub fn delivered(self, sequence: i64) -> Standing {
        Standing {
            cursor: sequence,
            attempts: 0,
            next_attempt: None,
            failing_since: None,
            state: WebhookState::Active,
        }
    }

    /// After an attempt at the event following `cursor` failed at `now`: retried after the
    /// backoff, or, once it has been failing for [`RETRY_FOR`], the endpoint is `failing`.
    pub fn failed(self, now: OffsetDateTime, first: Duration, jitter: f64) -> Standing {
        let since = self.failing_since.unwrap_or(now);
        let attempts = self.attempts.saturating_add(1);
        if now - since >= RETRY_FOR {
            return Standing {
                cursor: self.cursor,
                attempts,
                next_attempt: None,
                failing_since: Some(since),
                state: WebhookState::Failing,
            };
        }
        Standing {
            cursor: self.cursor,
            attempts,
            next_attempt: Some(now + backoff(first, attempts, jitter)),
            failing_since: Some(since),
            state: WebhookState::Active,
        }
    }
}

/// What one delivery carries: the event's id (the `webhook-id`), its sequence and type as
/// the delivery log names them, and the body.
pub(crate) struct Payload {
    pub id: EventId,
    pub sequence: i64,
    pub kind: String,
    pub json: serde_json::Value,
}

impl Payload {
    fn of(e: &Event) -> Payload {
        Payload {
            id: e.id,
            sequence: e.sequence,
            kind: e.kind.as_str().to_owned(),
            json: e.to_json(),
        }
    }
}

/// Signs and POSTs one payload to `endpoint` at `now`; the attempt as the delivery log keeps it.
pub(crate) async fn deliver(
    sender: &Sender, endpoint: &WebhookEndpoint, payload: &Payload, now: OffsetDateTime,
) -> DeliveryRecord {
    let id = payload.id.to_string();
    let timestamp = now.unix_timestamp();
    let record = |status: Option<u16>, error: Option<String>, latency_ms: i64| DeliveryRecord {
        endpoint: endpoint.id,
        event: payload.id,
        sequence: payload.sequence,
        event_type: payload.kind.clone(),
        at: now,
        status: status.map(i32::from),
        ok: error.is_none(),
        error,
        latency_ms,
    };
    let body = match serde_json::to_vec(&payload.json) {
        Ok(b) => b,
        Err(e) => return record(None, Some(format!("cannot encode the event: {e}")), 0),
    };
    let signature = match sign::signature(&endpoint.secrets, &id, timestamp, &body) {
        Ok(s) => s,
        Err(e) => return record(None, Some(e), 0),
    };
    let out = sender
        .post(
            &endpoint.url,
            &client::Signed {
                id: &id,
                timestamp,
                signature: &signature,
            },
            body,
        )
        .await;
    let outcome = match (&out.error, out.status) {
        (None, _) => "delivered",
        (Some(e), None) if e.starts_with("refused address") => "refused",
        _ => "failed",
    };
    metrics::counter!("scimd_webhook_deliveries_total", "outcome" => outcome).increment(1);
    metrics::histogram!("scimd_webhook_delivery_duration_seconds")
        .record(out.latency.as_secs_f64());
    let ms = i64::try_from(out.latency.as_millis()).unwrap_or(i64::MAX);
    record(out.status, out.error, ms)
}

/// The type of the synthetic event [`send_test`] sends (never in the log).
pub const TEST_EVENT_TYPE: &str = "test";

/// Sends one signed synthetic event (type `test`, a fresh id, `sequence` 0: it is not in the
/// log) to `endpoint` now, records the attempt in its delivery log and the act in the
/// activity log, and returns the attempt. A test that succeeds on a `failing` endpoint
/// resumes its deliveries where they stopped (docs/contract.md, "Webhooks").
pub async fn send_test(
    store: &dyn Store, clock: &dyn Clock, sender: &Sender, endpoint: &WebhookEndpoint, actor: &str,
) -> Result<DeliveryRecord, StoreError> {
    let now = clock.now();
    let id = EventId::new();
    let payload = Payload {
        id,
        sequence: 0,
        kind: TEST_EVENT_TYPE.to_owned(),
        json: json!({
            "id": id.to_string(),
            "sequence": 0,
            "type": TEST_EVENT_TYPE,
            "organisation": endpoint.org_id.to_string(),
            "created_at": directory::render::timestamp(now),
            "data": {
                "endpoint": endpoint.id.to_string(),
                "message": "A test event from scimd: this endpoint is reached and can verify the signature.",
            },
        }),
    };
    let record = deliver(sender, endpoint, &payload, now).await;
    store
        .record_deliveries(std::slice::from_ref(&record))
        .await?;
    if record.ok && endpoint.state == WebhookState::Failing {
        store
            .set_webhook_cursor(endpoint.org_id, endpoint.id, endpoint.cursor)
            .await?;
    }
    let detail = match (&record.error, record.status) {
        (None, Some(s)) => format!("delivered ({s})"),
        (None, None) => "delivered".to_owned(),
        (Some(e), _) => format!("failed: {e}"),
    };
    let entry = ActivityEntry::act(
        endpoint.org_id,
        now,
        actor,
        "webhook.test",
        endpoint.id.to_string(),
    )
    .with_detail(Some(detail));
    if let Err(e) = store.append_activity(vec![entry]).await {
        tracing::error!(error = %e, "cannot record a webhook test");
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_retry_is_due_within_ten_seconds_and_waits_double_up_to_an_hour() {
        let f = FIRST_RETRY;
        for j in [0.0, 0.5, 0.999] {
            assert!(backoff(f, 1, j) <= Duration::seconds(6));
            assert!(backoff(f, 1, j) >= Duration::seconds(4));
        }
        assert_eq!(backoff(f, 1, 0.5), Duration::seconds(5));
        assert_eq!(backoff(f, 2, 0.5), Duration::seconds(10));
        assert_eq!(backoff(f, 3, 0.5), Duration::seconds(20));
        assert_eq!(backoff(f, 12, 0.5), Duration::hours(1));
        assert_eq!(backoff(f, i32::MAX, 0.5), Duration::hours(1));
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }

    fn active(cursor: i64) -> Standing {
        Standing {
            cursor,
            attempts: 0,
            next_attempt: None,
            failing_since: None,
            state: WebhookState::Active,
        }
    }

    #[test]
    fn failures_keep_the_cursor_and_turn_failing_after_three_days() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let first = active(7).failed(t0, FIRST_RETRY, 0.5);
        assert_eq!(first.cursor, 7);
        assert_eq!(first.attempts, 1);
        assert_eq!(first.failing_since, Some(t0));
        assert_eq!(first.next_attempt, Some(t0 + Duration::seconds(5)));
        assert_eq!(first.state, WebhookState::Active);
        // Attempts at the backoff's pace for three days: still active until then, and the
        // episode keeps its start.
        let mut s = first;
        let mut at = t0;
        let mut count = 1;
        while s.state == WebhookState::Active {
            at = s.next_attempt.expect("due");
            s = s.failed(at, FIRST_RETRY, 0.5);
            count += 1;
            assert_eq!(s.failing_since, Some(t0));
        }
        assert!(at - t0 >= RETRY_FOR && at - t0 < RETRY_FOR + Duration::hours(1));
        assert!(count > 70 && count < 100, "{count} attempts");
        assert_eq!(s.next_attempt, None);
        assert_eq!(s.cursor, 7);
        // A delivery ends the episode.
        let back = s.delivered(8);
        assert_eq!(back, active(8));
    }
}
