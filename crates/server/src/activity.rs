//! The activity log of SCIM requests, kept off the hot path: the request only puts an entry in
//! a bounded in-memory channel; one background task drains it in batches, one store
//! transaction per batch.
//!
//! The price, on purpose: a crash (`kill -9`, power loss) can lose the entries of roughly the
//! last second (those still in the channel, waiting at most [`LINGER`] for their batch to
//! fill, or in the batch being written). SCIM data itself is never at risk: a resource write
//! is acknowledged only after its own commit. When the channel is full (the database cannot
//! keep up), entries are dropped and counted rather than slowing identity providers down.

use crate::context::RequestContext;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use directory::store::{ActivityEntry, Store};
use directory::token::AuthFailure;
use directory::{OrgId, TokenId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

/// Entries the channel holds before new ones are dropped.
const CAPACITY: usize = 65_536;
/// Entries queued at which the writer stops waiting for [`LINGER`] to pass.
const FLUSH_AT: usize = CAPACITY / 4;
/// Most entries written by one job of the store's writer, which SCIM writes queue behind.
const BATCH: usize = 4_096;
/// How long a batch waits to fill before it is written. Every commit costs the writer a WAL
/// append and empties the page caches of the readers serving SCIM requests, so under load the
/// log commits a few times a second instead of once per few requests.
const LINGER: Duration = Duration::from_millis(200);

/// What authentication found, for the activity entry of the request: noted in the request's
/// context by the bearer extractor, read by [`record`] once the response is ready.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthNote {
    pub org: Option<OrgId>,
    pub token: Option<TokenId>,
    pub failure: Option<AuthFailure>,
}

/// The sending side: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct ActivitySink {
    tx: mpsc::Sender<ActivityEntry>,
    dropped: Arc<AtomicU64>,
    /// Wakes the writer early when the queue is filling up.
    full: Arc<Notify>,
}

impl ActivitySink {
    /// Queues an entry; drops it (and counts) when the channel is full.
    pub fn record(&self, entry: ActivityEntry) {
        if self.tx.try_send(entry).is_ok() {
            if CAPACITY - self.tx.capacity() >= FLUSH_AT {
                self.full.notify_one();
            }
        } else {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n + 1,
                    "activity log cannot keep up; entries dropped"
                );
            }
        }
    }
}

/// The draining task; [`ActivityWriter::finish`] flushes what is queued and stops it.
#[derive(Debug)]
pub struct ActivityWriter {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ActivityWriter {
    /// Starts the writer for `store`.
    pub fn start(store: Arc<dyn Store>) -> (ActivitySink, ActivityWriter) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let (stop, stopped) = watch::channel(false);
        let full = Arc::new(Notify::new());
        let task = tokio::spawn(drain(store, rx, full.clone(), stopped));
        (
            ActivitySink {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
                full,
            },
            ActivityWriter { stop, task },
        )
    }

    /// Writes what is still queued, then stops (at most `within`).
    pub async fn finish(self, within: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(within, self.task).await.is_err() {
            tracing::warn!("activity writer did not finish in time; last entries lost");
        }
    }
}

async fn write(store: &dyn Store, mut batch: Vec<ActivityEntry>) {
    while !batch.is_empty() {
        let rest = batch.split_off(batch.len().min(BATCH));
        let n = batch.len();
        if let Err(e) = store.append_activity(batch).await {
            tracing::error!(error = %e, entries = n, "cannot write activity entries");
        }
        batch = rest;
    }
}

async fn drain(
    store: Arc<dyn Store>, mut rx: mpsc::Receiver<ActivityEntry>, full: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut batch = Vec::new();
    loop {
        let mut stop = tokio::select! {
            n = rx.recv_many(&mut batch, CAPACITY) => n == 0,
            _ = stopped.changed() => true,
        };
        if !stop {
            // The first entry waits for the next ones, without this task being woken by each
            // of them (a wake-up per request cost a tenth of a GET): one commit per interval
            // under load rather than one per handful of requests.
            tokio::select! {
                _ = tokio::time::sleep(LINGER) => {}
                _ = full.notified() => {}
                _ = stopped.changed() => stop = true,
            }
            while let Ok(e) = rx.try_recv() {
                batch.push(e);
            }
        }
        write(store.as_ref(), std::mem::take(&mut batch)).await;
        if stop {
            rx.close();
            while rx.recv_many(&mut batch, CAPACITY).await > 0 {
                write(store.as_ref(), std::mem::take(&mut batch)).await;
            }
            break;
        }
    }
}

/// Most bytes of a request path kept in an activity entry or a log line: hyper accepts paths
/// of about 64 KiB, and a client would otherwise choose how much each request writes.
pub(crate) const PATH_CAP: usize = 256;

/// `path` cut to at most [`PATH_CAP`] bytes on a character boundary, ending in `…` when cut.
pub(crate) fn capped(path: &str) -> std::borrow::Cow<'_, str> {
    if path.len() <= PATH_CAP {
        return path.into();
    }
    const MARK: &str = "…";
    let mut end = PATH_CAP - MARK.len();
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &path[..end]).into()
}

/// The resource a request touched: `Users/<id>` from the path, or from `Location` on create.
fn resource(path: &str, response: &Response) -> Option<String> {
    let from_path = |p: &str| {
        let rest = p.split("/scim/v2/").nth(1)?;
        let mut it = rest.split('/');
        let kind = it.next()?;
        let id = it.next()?;
        (matches!(kind, "Users" | "Groups") && !id.is_empty() && !id.starts_with('.'))
            .then(|| format!("{kind}/{id}"))
    };
    from_path(path).or_else(|| {
        response
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(from_path)
    })
}

/// Most bytes of an activity entry's detail (a filter, the attributes of a PATCH, a refusal's
/// reason): enough to read, and a client still cannot choose how much each request writes.
pub(crate) const DETAIL_CAP: usize = 512;

/// `text` cut to at most `cap` bytes on a character boundary, ending in `…` when cut.
fn cut(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_owned();
    }
    const MARK: &str = "…";
    let mut end = cap - MARK.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &text[..end])
}

/// What a handler tells the activity log about its request, as a response extension: the
/// attributes a PATCH changed (`replace active, name.givenName`).
#[derive(Debug, Clone)]
pub(crate) struct ActivityNote(pub String);

/// Why a SCIM request was refused, as a response extension set with every SCIM error
/// response: its `scimType` and `detail` (the identity provider got the same).
#[derive(Debug, Clone)]
pub(crate) struct FailureNote {
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

/// The attributes a PatchOp body addresses, by operation, in the order given: `replace
/// active, name.givenName; remove members[value eq "…"]`. A path-less operation names the
/// keys of its value (RFC 7644 section 3.5.2). Values are never shown: they may be passwords.
pub(crate) fn patch_summary(body: &serde_json::Value) -> Option<String> {
    let ops = body
        .get("Operations")
        .or_else(|| body.get("operations"))?
        .as_array()?;
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for op in ops {
        let name = op
            .get("op")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
            .to_lowercase();
        let paths: Vec<String> = match op.get("path").and_then(serde_json::Value::as_str) {
            Some(p) => vec![p.to_owned()],
            None => match op.get("value") {
                Some(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
                _ => vec!["(the resource)".to_owned()],
            },
        };
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, ps)) => {
                for p in paths {
                    if !ps.contains(&p) {
                        ps.push(p);
                    }
                }
            }
            None => groups.push((name, paths)),
        }
    }
    if groups.is_empty() {
        return None;
    }
    let text = groups
        .iter()
        .map(|(n, ps)| format!("{n} {}", ps.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    Some(text)
}

/// The `filter` of a request's query, decoded.
fn filter_of(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("filter"))
        .map(|(_, v)| v.into_owned())
}

/// What a successful write did to the resource, in one word (the body is never logged: it can
/// hold passwords).
fn change(method: &axum::http::Method, status: u16) -> Option<String> {
    use axum::http::Method;
    let word = match (method, status) {
        (&Method::POST, 201) => "created",
        (&Method::PUT, 200) => "replaced",
        (&Method::PATCH, 200 | 204) => "modified",
        (&Method::DELETE, 204) => "deleted",
        _ => return None,
    };
    Some(word.to_owned())
}

/// Middleware around the SCIM routes: one activity entry per request of an organisation
/// (method, path without its query and cut to [`PATH_CAP`], status, duration, token, resource),
/// and the reason when its token was refused. A request no organisation can be named for (no
/// token, a malformed or unknown one, a throttled address) writes nothing: anyone can send
/// those, as many as they like; the refusals are counted in `scimd_auth_refused_total`.
pub(crate) async fn record(
    State(state): State<Arc<AppState>>, req: Request, next: Next,
) -> Response {
    let (Some(sink), Some(ctx)) = (
        state.activity.clone(),
        RequestContext::of(req.extensions()).cloned(),
    ) else {
        return next.run(req).await;
    };
    let at = state.clock.now();
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let method_for_detail = req.method().clone();
    // Inside the nested SCIM router the path has lost its prefix; the log shows it whole.
    let path = format!("/scim/v2{}", req.uri().path());
    let filter = (req.method() == axum::http::Method::GET)
        .then(|| filter_of(req.uri().query()))
        .flatten();
    let response = next.run(req).await;
    let Some(note) = ctx.auth.get() else {
        return response;
    };
    let Some(org) = note.org else {
        return response;
    };
    sink.record(ActivityEntry {
        org_id: Some(org),
        at,
        token_id: note.token,
        actor: "scim".to_owned(),
        action: method,
        resource: resource(&path, &response).map(|r| capped(&r).into_owned()),
        target: capped(&path).into_owned(),
        status: Some(response.status().as_u16()),
        duration_us: Some(i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX)),
        detail: detail(note.failure, filter, &method_for_detail, &response),
    });
    response
}

/// An entry's detail, in parts joined by `; `: the filter of a GET, then what a write did (and
/// to which attributes, for a PATCH), or why the request was refused.
fn detail(
    auth: Option<AuthFailure>, filter: Option<String>, method: &axum::http::Method,
    response: &Response,
) -> Option<String> {
    let status = response.status().as_u16();
    let mut parts = Vec::new();
    if let Some(f) = filter {
        parts.push(format!("filter: {f}"));
    }
    if let Some(f) = auth {
        parts.push(format!("refused: {}", f.as_str()));
    } else if let Some(why) = response.extensions().get::<FailureNote>() {
        // A 4xx is the client's request refused; a 5xx is the server's own failure.
        let word = if status >= 500 { "failed" } else { "refused" };
        parts.push(match why.scim_type {
            Some(t) => format!("{word} ({t}): {}", why.detail),
            None => format!("{word}: {}", why.detail),
        });
    } else if let Some(word) = change(method, status) {
        match response.extensions().get::<ActivityNote>() {
            Some(ActivityNote(what)) => parts.push(format!("{word}: {what}")),
            None => parts.push(word),
        }
    }
    (!parts.is_empty()).then(|| cut(&parts.join("; "), DETAIL_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_summary_groups_paths_by_operation_and_names_no_value() {
        let body = json!({"Operations": [
            {"op": "Replace", "path": "active", "value": false},
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "replace", "value": {"displayName": "Secret Name"}},
            {"op": "replace", "path": "active", "value": true},
            {"op": "remove", "path": "members[value eq \"u2\"]"},
        ]});
        assert_eq!(
            patch_summary(&body).as_deref(),
            Some("replace active, displayName; add members; remove members[value eq \"u2\"]")
        );
        assert_eq!(patch_summary(&json!({"Operations": []})), None);
        assert_eq!(patch_summary(&json!({})), None);
    }

    #[test]
    fn details_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let cut = cut(&long, DETAIL_CAP);
        assert!(
            cut.len() <= DETAIL_CAP && cut.ends_with('…'),
            "{}",
            cut.len()
        );
        assert_eq!(
            filter_of(Some("count=1&filter=userName%20eq%20%22a%22")).as_deref(),
            Some("userName eq \"a\"")
        );
        assert_eq!(filter_of(Some("count=1")), None);
    }
}
