//! The delivery worker: leases, one task per leased endpoint, and how each task hears of new
//! events.
//!
//! Every `claim_every` the worker claims (and so renews) its endpoints; one it held that the
//! claim no longer returns (removed, marked failing, taken over after a lapse) is stopped. A
//! task delivers only while its lease outlasts a whole delivery (15 s) by a margin, so a
//! process cut off from the database stops sending before another may start.
//!
//! New events are noticed by reading each organisation's newest sequence every `poll_every`
//! (one cheap read per organisation, however many endpoints it has, which also sees writes of
//! other processes and instances); a task reads the events themselves only when there are
//! some past its cursor.

use super::{Payload, Sender, Standing, deliver, jitter};
use directory::ids::WebhookId;
use directory::store::{DeliveryRecord, DeliveryReport, EventQuery, WebhookEndpoint, WebhookState};
use directory::{Clock, OrgId, Store};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The worker's pace and bounds.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How often the newest event of each organisation with a leased endpoint is read.
    pub poll_every: Duration,
    /// How often endpoints are claimed (new ones, ones whose retry is due, ones a dead
    /// instance held) and held ones renewed.
    pub claim_every: Duration,
    /// How long a claim or a report holds an endpoint.
    pub lease: time::Duration,
    /// Endpoints one process holds at most.
    pub max_endpoints: u32,
    /// Deliveries in flight at once, across endpoints.
    pub max_in_flight: usize,
    /// Events read (and delivered before one report) per batch.
    pub batch: u32,
    /// The wait before the first retry ([`super::FIRST_RETRY`]); later ones double it.
    pub first_retry: time::Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_every: Duration::from_millis(200),
            claim_every: Duration::from_secs(1),
            lease: time::Duration::seconds(30),
            max_endpoints: 512,
            max_in_flight: 32,
            batch: 100,
            first_retry: super::FIRST_RETRY,
        }
    }
}

/// A delivery needs this much lease left to start: the longest delivery and a margin.
const LEASE_NEEDED: time::Duration = time::Duration::seconds(18);
/// Waits between reads of one endpoint when nothing woke it (a backstop for a missed wake).
const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// What a claim round tells a task: its endpoint as the store had it, when it was read, and
/// until when it is held. `None`: no longer held, stop.
type Lease = Option<Claimed>;

#[derive(Debug, Clone)]
struct Claimed {
    row: WebhookEndpoint,
    at: OffsetDateTime,
    until: OffsetDateTime,
}

struct Held {
    org: OrgId,
    lease: watch::Sender<Lease>,
}

/// The running worker.
#[derive(Debug)]
pub struct Worker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts delivering. `owner` names this process in leases: unique per process.
    pub fn start(
        store: Arc<dyn Store>, clock: Arc<dyn Clock>, sender: Arc<Sender>, config: WorkerConfig,
    ) -> Worker {
        let owner = format!("scimd-{}", uuid::Uuid::new_v4().simple());
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            store,
            clock,
            sender,
            owner,
            permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config,
        });
        let task = tokio::spawn(run(shared, stopped));
        Worker { stop, task }
    }

    /// Stops: tasks finish the delivery in flight, report and give their leases up (so
    /// another instance goes on at once), within `within`.
    pub async fn stop(self, within: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(within, &mut task).await.is_err() {
            tracing::warn!("webhook delivery did not stop in time");
            task.abort();
        }
    }
}

struct Shared {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sender: Arc<Sender>,
    owner: String,
    permits: Arc<Semaphore>,
    config: WorkerConfig,
}

async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    tracing::debug!(owner = %shared.owner, "webhook delivery started");
    let mut held: HashMap<WebhookId, Held> = HashMap::new();
    let mut by_task: HashMap<tokio::task::Id, WebhookId> = HashMap::new();
    let mut heads: HashMap<OrgId, watch::Sender<i64>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut claim = tokio::time::interval(shared.config.claim_every);
    claim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll = tokio::time::interval(shared.config.poll_every);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut claim_failing = false;
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match &done {
                    Ok((id, ())) => *id,
                    Err(e) => {
                        tracing::error!(error = %e, "a webhook delivery task failed");
                        e.id()
                    }
                };
                if let Some(ep) = by_task.remove(&id) {
                    held.remove(&ep);
                }
            }
            _ = claim.tick() => {
                let now = shared.clock.now();
                let until = now + shared.config.lease;
                let rows = match shared
                    .store
                    .claim_webhooks(&shared.owner, now, until, shared.config.max_endpoints)
                    .await
                {
                    Ok(rows) => {
                        if claim_failing {
                            tracing::info!("claiming webhook endpoints works again");
                            claim_failing = false;
                        }
                        rows
                    }
                    Err(e) => {
                        // Once per outage: held leases run out by themselves meanwhile.
                        if !claim_failing {
                            tracing::error!(error = %e, "cannot claim webhook endpoints");
                            claim_failing = true;
                        }
                        continue;
                    }
                };
                let returned: HashSet<WebhookId> = rows.iter().map(|r| r.id).collect();
                for row in rows {
                    let claimed = Claimed { row, at: now, until };
                    if let Some(h) = held.get(&claimed.row.id) {
                        h.lease.send_replace(Some(claimed));
                        continue;
                    }
                    let org = claimed.row.org_id;
                    let id = claimed.row.id;
                    let head = heads
                        .entry(org)
                        .or_insert_with(|| watch::channel(0).0)
                        .subscribe();
                    let (lease, lease_rx) = watch::channel(Some(claimed));
                    let task = EndpointTask {
                        shared: shared.clone(),
                        org,
                        id,
                        lease: lease_rx,
                        head,
                        stopped: stopped.clone(),
                    };
                    let handle = tasks.spawn(task.run());
                    by_task.insert(handle.id(), id);
                    held.insert(id, Held { org, lease });
                }
                for (id, h) in &held {
                    if !returned.contains(id) {
                        h.lease.send_replace(None);
                    }
                }
            }
            _ = poll.tick() => {
                let orgs: HashSet<OrgId> = held.values().map(|h| h.org).collect();
                heads.retain(|org, _| orgs.contains(org));
                for (org, tx) in &heads {
                    match shared.store.last_event_sequence(*org).await {
                        Ok(seq) => {
                            tx.send_if_modified(|v| {
                                let changed = *v != seq;
                                *v = seq;
                                changed
                            });
                        }
                        Err(e) => tracing::debug!(org = %org, error = %e, "cannot read the newest event"),
                    }
                }
            }
        }
    }
    // Tasks see the same stop and wind down; the caller bounds how long this may take.
    while tasks.join_next().await.is_some() {}
    tracing::debug!("webhook delivery stopped");
}

/// What a batch came to.
enum Batch {
    /// A full batch went out: there may be more at once.
    More,
    /// Nothing more to send now.
    Idle,
    /// The endpoint is no longer this task's: stop.
    Stop,
}

/// Delivers to one leased endpoint, in order, until the lease is lost or the worker stops.
struct EndpointTask {
    shared: Arc<Shared>,
    org: OrgId,
    id: WebhookId,
    lease: watch::Receiver<Lease>,
    head: watch::Receiver<i64>,
    stopped: watch::Receiver<bool>,
}

impl EndpointTask {
    async fn run(mut self) {
        let Some(first) = self.lease.borrow_and_update().clone() else {
            return;
        };
        let mut until = first.until;
        // The cursor as this task last knew it; a claim read after the task's last report
        // that shows another one means a replay moved it.
        let mut known = first.row.cursor;
        let mut reported_at = first.at;
        loop {
            if *self.stopped.borrow() {
                self.release().await;
                return;
            }
            if self.lease.borrow().is_none() {
                return;
            }
            match self.batch(&mut until, &mut known, &mut reported_at).await {
                Batch::More => continue,
                Batch::Stop => return,
                Batch::Idle => {}
            }
            // Wait for something that may need a batch.
            loop {
                tokio::select! {
                    _ = self.stopped.changed() => {
                        self.release().await;
                        return;
                    }
                    changed = self.lease.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let Some(l) = self.lease.borrow_and_update().clone() else {
                            return;
                        };
                        until = until.max(l.until);
                        if l.at > reported_at && l.row.cursor != known {
                            break;
                        }
                    }
                    changed = self.head.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if *self.head.borrow_and_update() > known {
                            break;
                        }
                    }
                    () = tokio::time::sleep(IDLE_RECHECK) => break,
                }
            }
        }
    }

    /// Whether a claim read after `since` shows the cursor moved from `cursor` by someone
    /// else (a replay), or the lease is gone.
    fn superseded(&self, since: OffsetDateTime, cursor: i64) -> bool {
        match &*self.lease.borrow() {
            None => true,
            Some(l) => l.at > since && l.row.cursor != cursor,
        }
    }

    /// Reads the endpoint and the events past its cursor, delivers them in order until one
    /// fails, and reports once.
    async fn batch(
        &mut self, until: &mut OffsetDateTime, known: &mut i64, reported_at: &mut OffsetDateTime,
    ) -> Batch {
        let store = self.shared.store.clone();
        let started = self.shared.clock.now();
        // The endpoint as it is now: a replay, a rotation or a removal since the claim.
        let ep = match store.get_webhook(self.org, self.id).await {
            Ok(Some(ep)) if ep.state == WebhookState::Active => ep,
            Ok(_) => return Batch::Stop,
            Err(e) => {
                tracing::warn!(endpoint = %self.id, error = %e, "cannot read a webhook endpoint");
                return Batch::Idle;
            }
        };
        *known = ep.cursor;
        let head = match store.last_event_sequence(self.org).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(org = %self.org, error = %e, "cannot read the newest event");
                return Batch::Idle;
            }
        };
        if head <= ep.cursor {
            return Batch::Idle;
        }
        let limit = self.shared.config.batch;
        let events = match store
            .list_events(
                self.org,
                &EventQuery {
                    after: ep.cursor,
                    limit,
                    types: ep.types.clone(),
                },
            )
            .await
        {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(org = %self.org, error = %e, "cannot read events");
                return Batch::Idle;
            }
        };
        let mut standing = Standing::of(&ep);
        let mut attempts: Vec<DeliveryRecord> = Vec::new();
        let mut failure: Option<String> = None;
        let mut complete = true;
        for event in &events {
            if *self.stopped.borrow() || self.superseded(started, ep.cursor) {
                complete = false;
                break;
            }
            if let Some(l) = &*self.lease.borrow() {
                *until = (*until).max(l.until);
            }
            if *until - self.shared.clock.now() < LEASE_NEEDED {
                // Renewals are not getting through: send nothing another instance may soon
                // be sending too.
                complete = false;
                break;
            }
            let Ok(_permit) = self.shared.permits.clone().acquire_owned().await else {
                return Batch::Stop;
            };
            let at = self.shared.clock.now();
            let record = deliver(&self.shared.sender, &ep, &Payload::of(event), at).await;
            let ok = record.ok;
            if ok {
                standing = standing.delivered(event.sequence);
            } else {
                failure = record.error.clone();
                tracing::warn!(
                    endpoint = %ep.id, org = %ep.org_id, sequence = event.sequence,
                    attempts = standing.attempts + 1, status = ?record.status,
                    error = failure.as_deref().unwrap_or(""),
                    "webhook delivery failed; will retry"
                );
            }
            attempts.push(record);
            if !ok {
                complete = false;
                break;
            }
        }
        if self.superseded(started, ep.cursor) {
            // A replay moved the cursor while this batch ran: its report would undo it.
            return Batch::Idle;
        }
        if complete && (events.len() as u64) < u64::from(limit) {
            // Nothing the endpoint wants up to `head`: go on from there, so that the next
            // batch does not read past the same unwanted events again.
            standing.cursor = standing.cursor.max(head);
        }
        let now = self.shared.clock.now();
        if failure.is_some() {
            standing = standing.failed(now, self.shared.config.first_retry, jitter());
        }
        if attempts.is_empty() && standing == Standing::of(&ep) {
            return Batch::Idle;
        }
        if standing.state == WebhookState::Failing
            && let Err(e) = self
                .notify_failing(&ep, &standing, failure.as_deref())
                .await
        {
            // Not reported either, so the next holder tries again, and notices it again.
            tracing::error!(endpoint = %ep.id, error = %e, "cannot queue the failing-webhook notice");
            return Batch::Stop;
        }
        // A failed attempt gives the lease up: whichever instance claims the endpoint when
        // its retry is due goes on.
        let lease_until = failure.is_none().then(|| now + self.shared.config.lease);
        let report = DeliveryReport {
            endpoint: ep.id,
            org_id: ep.org_id,
            owner: self.shared.owner.clone(),
            attempts,
            cursor: standing.cursor,
            state: standing.state,
            attempt_count: standing.attempts,
            next_attempt: standing.next_attempt,
            failing_since: standing.failing_since,
            lease_until,
        };
        if !self.report(&report).await {
            return Batch::Stop;
        }
        *known = standing.cursor;
        *reported_at = now;
        if let Some(u) = lease_until {
            *until = u;
        }
        if failure.is_some() || standing.state != WebhookState::Active {
            return Batch::Stop;
        }
        if complete && events.len() as u64 == u64::from(limit) {
            Batch::More
        } else {
            Batch::Idle
        }
    }

    /// Writes a report; `false` when the lease is lost or the store keeps failing (the
    /// attempts are then not recorded, and the next holder delivers them again).
    async fn report(&self, report: &DeliveryReport) -> bool {
        for attempt in 0..3u32 {
            match self.shared.store.report_delivery(report).await {
                Ok(true) => return true,
                Ok(false) => {
                    tracing::info!(endpoint = %report.endpoint, "webhook lease lost; another instance goes on");
                    return false;
                }
                Err(e) => {
                    tracing::warn!(endpoint = %report.endpoint, attempt, error = %e, "cannot report webhook deliveries");
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                }
            }
        }
        false
    }

    async fn notify_failing(
        &self, ep: &WebhookEndpoint, standing: &Standing, error: Option<&str>,
    ) -> Result<(), directory::StoreError> {
        let store = &self.shared.store;
        let Some(org) = store.get_org(ep.org_id).await? else {
            return Ok(());
        };
        let since = standing
            .failing_since
            .unwrap_or_else(|| self.shared.clock.now());
        let notice = directory::notify::webhook_failing(
            &org,
            ep,
            since,
            error.unwrap_or("unknown"),
            self.shared.clock.now(),
        );
        if store.enqueue_notice(&notice).await? {
            tracing::warn!(endpoint = %ep.id, org = %ep.org_id, "webhook endpoint marked failing; administrators notified");
        }
        Ok(())
    }

    /// On shutdown: gives the lease up as the endpoint stands, so another instance need not
    /// wait for it to lapse.
    async fn release(&self) {
        let ep = match self.shared.store.get_webhook(self.org, self.id).await {
            Ok(Some(ep)) if ep.state == WebhookState::Active => ep,
            _ => return,
        };
        let s = Standing::of(&ep);
        let report = DeliveryReport {
            endpoint: ep.id,
            org_id: ep.org_id,
            owner: self.shared.owner.clone(),
            attempts: Vec::new(),
            cursor: s.cursor,
            state: s.state,
            attempt_count: s.attempts,
            next_attempt: s.next_attempt,
            failing_since: s.failing_since,
            lease_until: None,
        };
        if let Err(e) = self.shared.store.report_delivery(&report).await {
            tracing::debug!(endpoint = %ep.id, error = %e, "cannot give a webhook lease up");
        }
    }
}
