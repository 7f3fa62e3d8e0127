//! The state every request shares: the services, the store and clock behind them, the
//! operational limits, and the caches of one instance. Built once at start-up with
//! [`AppState::new`] and the `with_*` builders, then shared as `Arc<AppState>`.

use crate::scim::read_cache::ReadCache;
use directory::scim::ScimService;
use directory::{Clock, OrgId, OrgKind, Store};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Everything a request needs, shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    pub scim: ScimService,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The public base URL of the SCIM API (`https://host/scim/v2`); derived from the `Host`
    /// header when not configured.
    pub public_url: Option<String>,
    /// What an accepted SCIM token's request records: its first use, then its `last_used`.
    pub tokens: directory::token::Tokens,
    /// Token lifecycle rules (generating and listing tokens, the connection state).
    pub lifecycle: directory::lifecycle::Lifecycle,
    /// Where SCIM request activity goes; `None` records none.
    pub activity: Option<crate::activity::ActivitySink>,
    /// The directory's rules (accounts, conflicts, disconnect, domains).
    pub directory: directory::accounts::Directory,
    /// The role catalogue and the rules that derive roles and locations.
    pub roles: directory::roles::Roles,
    /// Applications, their webhook endpoints, and what their keys read.
    pub applications: directory::applications::Applications,
    /// Administrators' sessions for the administrative API.
    pub sessions: directory::session::Sessions,
    /// The resolver domains are verified with; `None` refuses verification.
    pub dns: Option<Arc<dyn directory::accounts::TxtLookup>>,
    /// Limits, throttles and the metrics' organisation kinds (see `limits`).
    pub ops: crate::limits::Ops,
    /// Served over HTTPS by this process (`--tls-cert`).
    pub https: bool,
    /// Outgoing mail, for the console's test e-mail; `None` when SMTP is not configured.
    pub mailer: Option<Arc<dyn directory::notify::Mailer>>,
    /// Answers to SCIM reads given again while the data is unchanged (see `read_cache`).
    pub read_cache: ReadCache,
    /// The client webhook deliveries (and test events) go out with; `None` sends none.
    pub webhooks: Option<Arc<crate::webhooks::Sender>>,
    /// Set once the server stops: events requests waiting for an event answer at once.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Scheduled backups (`--backup-every`), shown on Settings; `None` when none are set.
    pub backups: Option<Arc<crate::backup::BackupStatus>>,
    /// The console's origin for links sent by e-mail (`serve` sets the one it prints); never
    /// taken from a request's `Host`.
    pub console_origin: std::sync::OnceLock<String>,
    /// The SCIM base URL `serve` printed, for a console on its own listener without a
    /// public URL: its requests' `Host` names the console's address, not the SCIM one.
    pub scim_base: std::sync::OnceLock<String>,
}

impl AppState {
    pub fn new(scim: ScimService, public_url: Option<String>) -> Self {
        // Metrics recorded before the recorder exists would be lost.
        let _ = crate::metrics::prometheus();
        let store = scim.store().clone();
        let clock = scim.clock().clone();
        AppState {
            scim,
            store: store.clone(),
            clock: clock.clone(),
            public_url,
            tokens: directory::token::Tokens::new(store.clone(), clock.clone()),
            lifecycle: directory::lifecycle::Lifecycle::new(store.clone(), clock.clone()),
            directory: directory::accounts::Directory::new(store.clone(), clock.clone()),
            roles: directory::roles::Roles::new(store.clone(), clock.clone()),
            applications: directory::applications::Applications::new(store.clone(), clock.clone()),
            sessions: directory::session::Sessions::new(store, clock),
            dns: None,
            ops: crate::limits::Ops::new(crate::limits::OpsConfig::default()),
            https: false,
            activity: None,
            mailer: None,
            read_cache: ReadCache::new(crate::scim::read_cache::DEFAULT_ENTRIES),
            webhooks: None,
            stopping: tokio::sync::watch::Sender::new(false),
            backups: None,
            console_origin: std::sync::OnceLock::new(),
            scim_base: std::sync::OnceLock::new(),
        }
    }

    /// Keeps at most `entries` answers to SCIM reads; 0 keeps none.
    pub fn with_read_cache(mut self, entries: usize) -> Self {
        self.read_cache = ReadCache::new(entries);
        self
    }

    /// Sends the console's test e-mail through `mailer` (the one the jobs deliver with).
    pub fn with_mailer(mut self, mailer: Option<Arc<dyn directory::notify::Mailer>>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Shows the scheduled backups' outcome on Settings.
    pub fn with_backups(mut self, backups: Option<Arc<crate::backup::BackupStatus>>) -> Self {
        self.backups = backups;
        self
    }

    /// Sends test events through `sender` (the one the delivery worker uses).
    pub fn with_webhooks(mut self, sender: Arc<crate::webhooks::Sender>) -> Self {
        self.webhooks = Some(sender);
        self
    }

    /// Records every SCIM request in the activity log through `sink`.
    pub fn with_activity(mut self, sink: crate::activity::ActivitySink) -> Self {
        self.activity = Some(sink);
        self
    }

    /// Marks the server as serving HTTPS itself (console cookies become `Secure`).
    pub fn with_https(mut self, on: bool) -> Self {
        self.https = on;
        self
    }

    /// Applies operational limits.
    pub fn with_ops(mut self, config: crate::limits::OpsConfig) -> Self {
        self.ops = crate::limits::Ops::new(config);
        self
    }

    /// Verifies domains with `dns`.
    pub fn with_dns(mut self, dns: Arc<dyn directory::accounts::TxtLookup>) -> Self {
        self.dns = Some(dns);
        self
    }
}

impl AppState {
    /// Ends every wait for events now and from now on (at shutdown, so that waiting readers
    /// do not hold the drain of requests in flight).
    pub fn stop_waiting(&self) {
        self.stopping.send_replace(true);
    }

    pub(crate) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub(crate) fn in_flight(&self) -> Arc<Semaphore> {
        self.ops.in_flight.clone()
    }

    /// Whether clients reach this server over HTTPS: it serves TLS itself, or its public URL
    /// is https (a TLS-terminating proxy in front).
    pub(crate) fn https_public(&self) -> bool {
        self.https
            || self
                .public_url
                .as_deref()
                .and_then(|u| u.get(..8))
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }

    /// The kind of `org`, cached for the life of the process (kinds never change).
    pub(crate) async fn org_kind(&self, org: OrgId) -> Option<OrgKind> {
        if let Some(k) = self
            .ops
            .kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&org)
        {
            return Some(*k);
        }
        let kind = self.store.get_org(org).await.ok().flatten()?.kind;
        self.ops
            .kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(org, kind);
        Some(kind)
    }
}
