//! The background jobs of `serve`: the expiry scan, outbox delivery, activity and event
//! retention, the purge of SCIM-deleted accounts past their `userName` hold, and the
//! database's planner statistics. Each notice round is a state-driven call into `directory::notify` (see there why
//! running them on several instances at once sends each notice once). They stop cleanly:
//! [`Jobs::stop`] lets a round in progress finish.

use directory::Store;
use directory::accounts::Directory;
use directory::notify::{Mailer, Notifier};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How often each job runs.
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub scan_every: Duration,
    pub deliver_every: Duration,
    pub purge_every: Duration,
    /// How often the store checks whether its planner statistics need gathering again
    /// ([`Store::refresh_statistics`]).
    pub statistics_every: Duration,
    /// Activity older than this is deleted.
    pub retention: time::Duration,
    /// Events (and webhook delivery records) older than this are deleted.
    pub event_retention: time::Duration,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            scan_every: Duration::from_secs(60),
            deliver_every: Duration::from_secs(2),
            purge_every: Duration::from_secs(3600),
            statistics_every: Duration::from_secs(10),
            retention: time::Duration::days(90),
            event_retention: time::Duration::days(30),
        }
    }
}

/// The running jobs.
#[derive(Debug)]
pub struct Jobs {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

async fn every<F, Fut>(period: Duration, mut stopped: watch::Receiver<bool>, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => round().await,
            _ = stopped.changed() => break,
        }
    }
}

impl Jobs {
    /// Starts the jobs. Without a mailer, notices stay in the outbox.
    pub fn start(
        store: Arc<dyn Store>, clock: Arc<dyn directory::Clock>, notifier: Notifier,
        directory: Directory, mailer: Option<Arc<dyn Mailer>>, config: JobConfig,
    ) -> Jobs {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let events_store = store.clone();
        tasks.spawn(every(config.statistics_every, stopped.clone(), move || {
            let store = store.clone();
            async move {
                match store.refresh_statistics().await {
                    Ok(0) => {}
                    Ok(tables) => tracing::debug!(tables, "planner statistics gathered"),
                    Err(e) => tracing::warn!(error = %e, "gathering planner statistics failed"),
                }
            }
        }));
        {
            let n = notifier.clone();
            tasks.spawn(every(config.scan_every, stopped.clone(), move || {
                let n = n.clone();
                async move {
                    match n.scan().await {
                        Ok(0) => {}
                        Ok(added) => tracing::info!(added, "notices queued"),
                        Err(e) => tracing::error!(error = %e, "expiry scan failed"),
                    }
                }
            }));
        }
        if let Some(mailer) = mailer {
            let n = notifier.clone();
            tasks.spawn(every(config.deliver_every, stopped.clone(), move || {
                let n = n.clone();
                let mailer = mailer.clone();
                async move {
                    match n.deliver(mailer.as_ref()).await {
                        Ok(r) if r.sent + r.failed > 0 => {
                            tracing::info!(sent = r.sent, failed = r.failed, "outbox delivery")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "outbox delivery failed"),
                    }
                }
            }));
        }
        {
            let n = notifier;
            let retention = config.retention;
            let event_retention = config.event_retention;
            let clock = clock.clone();
            tasks.spawn(every(config.purge_every, stopped, move || {
                let n = n.clone();
                let d = directory.clone();
                let store = events_store.clone();
                let before = clock.now() - event_retention;
                async move {
                    // The event log and the delivery log (docs/contract.md, "Events").
                    match store.purge_events(before).await {
                        Ok(0) => {}
                        Ok(purged) => tracing::info!(purged, "old events deleted"),
                        Err(e) => tracing::error!(error = %e, "event retention failed"),
                    }
                    match n.purge_activity(retention).await {
                        Ok(0) => {}
                        Ok(purged) => tracing::info!(purged, "old activity deleted"),
                        Err(e) => tracing::error!(error = %e, "activity retention failed"),
                    }
                    // Accounts deleted over SCIM whose userName hold has ended.
                    match d.purge_retired().await {
                        Ok(0) => {}
                        Ok(purged) => tracing::info!(purged, "held accounts purged"),
                        Err(e) => tracing::error!(error = %e, "purge of held accounts failed"),
                    }
                    match d.purge_sessions().await {
                        Ok(0) => {}
                        Ok(purged) => tracing::debug!(purged, "expired sessions deleted"),
                        Err(e) => tracing::error!(error = %e, "purge of expired sessions failed"),
                    }
                }
            }));
        }
        Jobs { stop, tasks }
    }

    /// Stops every job after its current round (at most `within`).
    pub async fn stop(mut self, within: Duration) {
        let _ = self.stop.send(true);
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("background jobs did not stop in time");
            self.tasks.abort_all();
        }
    }
}
