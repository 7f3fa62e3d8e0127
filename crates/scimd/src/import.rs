//! `scimd import`: loads many Users into one organisation straight into the store, without
//! HTTP. Each body goes through the same normalisation as `POST /Users`. Users go to the store
//! in batches, a few batches in flight: SQLite's single writer commits what is queued in large
//! groups, and PostgreSQL commits each batch as one transaction.

use anyhow::{Context, Result, bail};
use directory::store::NewResource;
use directory::{Clock, OrgId, ResourceId, Store, StoreError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scim_core::resource::normalize;
use scim_core::schema::ResourceKind;
use serde_json::{Value, json};
use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Where the User bodies come from.
#[derive(Debug)]
pub enum Source {
    /// JSON Lines (one SCIM User body a line) from a file, or stdin for `-`.
    Lines(String),
    /// `n` synthetic users named `{prefix}.{i}@example.com`, `i` from 0.
    Generate { n: u64, prefix: String },
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub imported: u64,
    pub conflicts: u64,
    pub invalid: u64,
    pub failed: u64,
}

/// A realistic User: simple, complex and multi-valued attributes, like the benchmark's seed.
pub fn synthetic_user(prefix: &str, i: u64) -> Value {
    let (given, family) = (format!("Given{i}"), format!("Family{i}"));
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("{prefix}.{i}@example.com"),
        "externalId": format!("ext-{prefix}-{i}"),
        "name": {"givenName": given, "familyName": family, "formatted": format!("{given} {family}")},
        "displayName": format!("{given} {family}"),
        "active": true,
        "emails": [{"value": format!("{prefix}.{i}@example.com"), "type": "work", "primary": true}],
        "phoneNumbers": [{"value": format!("+1-555-{i:07}"), "type": "work"}],
        "title": "Engineer",
        "locale": "en-US",
    })
}

fn progress(total: Option<u64>, quiet: bool) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    }
    let template = if total.is_some() {
        "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} users ({per_sec}, eta {eta})"
    } else {
        "{elapsed_precise} {spinner} {human_pos} users ({per_sec})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Yields the next user body to import, until the source is exhausted.
type NextUser = Box<dyn FnMut() -> Option<Result<Value>> + Send>;

/// Imports the users of `source` into `org`, at most `in_flight` inserts queued at once.
pub async fn run(
    store: Arc<dyn Store>, clock: Arc<dyn Clock>, org: OrgId, source: Source, in_flight: usize,
    quiet: bool,
) -> Result<Outcome> {
    // A pooled store (PostgreSQL) runs each batch on a connection of its own: more batches in
    // flight than it has connections only queue for one, and past its wait they fail.
    let batches = match store.stats().pool_size {
        Some(_) => (in_flight / BATCH).clamp(1, POOLED_BATCHES),
        None => (in_flight / BATCH).max(1),
    };
    let batch_size = in_flight.clamp(1, BATCH);
    let (total, mut next): (Option<u64>, NextUser) = match source {
        Source::Generate { n, prefix } => {
            let mut i = 0u64;
            (
                Some(n),
                Box::new(move || {
                    (i < n).then(|| {
                        i += 1;
                        Ok(synthetic_user(&prefix, i - 1))
                    })
                }),
            )
        }
        Source::Lines(path) => {
            let reader: Box<dyn BufRead + Send> = if path == "-" {
                Box::new(std::io::BufReader::new(std::io::stdin()))
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(&path).with_context(|| format!("opening {path}"))?,
                ))
            };
            let mut lines = reader.lines();
            (
                None,
                Box::new(move || {
                    loop {
                        let line = match lines.next()? {
                            Ok(l) => l,
                            Err(e) => return Some(Err(e.into())),
                        };
                        if line.trim().is_empty() {
                            continue;
                        }
                        return Some(serde_json::from_str(&line).map_err(Into::into));
                    }
                }),
            )
        }
    };
    let bar = progress(total, quiet);
    let started = Instant::now();
    let mut out = Outcome::default();
    let mut tasks: JoinSet<Outcomes> = JoinSet::new();
    let mut line_no = 0u64;
    let mut first_errors = 0;
    let mut report = |msg: String, bar: &ProgressBar| {
        if first_errors < 10 {
            bar.suspend(|| eprintln!("import: {msg}"));
        }
        first_errors += 1;
    };
    let mut batch = Vec::with_capacity(batch_size);
    loop {
        let item = next();
        let last = item.is_none();
        if let Some(item) = item {
            line_no += 1;
            let body = match item {
                Ok(b) => b,
                Err(e) => {
                    out.invalid += 1;
                    report(format!("item {line_no}: not JSON: {e}"), &bar);
                    continue;
                }
            };
            match normalize(ResourceKind::User, &body) {
                Ok(n) => batch.push(NewResource {
                    id: ResourceId::new(),
                    doc: n.doc,
                    now: clock.now(),
                    members: Vec::new(),
                }),
                Err(e) => {
                    out.invalid += 1;
                    report(format!("item {line_no}: {}", e.detail), &bar);
                    continue;
                }
            }
        }
        if batch.len() >= batch_size || (last && !batch.is_empty()) {
            while tasks.len() >= batches {
                settle(tasks.join_next().await, &mut out, &bar, &mut report);
            }
            let users = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            let store = store.clone();
            tasks.spawn(async move { insert(store.as_ref(), org, users).await });
        }
        if last {
            break;
        }
    }
    while let Some(done) = tasks.join_next().await {
        settle(Some(done), &mut out, &bar, &mut report);
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    // A bulk load leaves the planner without statistics until something gathers them.
    store.refresh_statistics().await?;
    // The organisation's rules (docs/contract.md, "Roles and rules") apply to what came in.
    if !store.list_role_rules(org).await?.is_empty() {
        directory::roles::Roles::new(store.clone(), clock.clone())
            .apply_all(org, "cli")
            .await?;
    }
    eprintln!(
        "import: {} users imported in {secs:.1}s ({:.0}/s); {} already existed, {} invalid, {} failed",
        out.imported,
        out.imported as f64 / secs.max(1e-9),
        out.conflicts,
        out.invalid,
        out.failed
    );
    if out.failed > 0 {
        bail!("{} inserts failed", out.failed);
    }
    Ok(out)
}

/// What became of each user of a batch; or the whole batch's failure and its size.
type Outcomes = Result<Vec<Result<(), StoreError>>, (usize, StoreError)>;

/// Inserts a batch of users. A store that is only busy for a moment (no connection free within
/// the pool's wait, on a loaded machine) is waited for and asked again for the users it did
/// not take, a few times with a growing pause: a bulk load should not lose a row to a passing
/// condition.
async fn insert(store: &dyn Store, org: OrgId, mut users: Vec<NewResource>) -> Outcomes {
    let mut pause = Duration::from_millis(100);
    let mut outcomes = Vec::with_capacity(users.len());
    for attempt in 0.. {
        let retry = attempt < INSERT_RETRIES;
        let again = match store.create_users(org, &users).await {
            Ok(done) => {
                let mut again = Vec::new();
                for (new, result) in users.into_iter().zip(done) {
                    match result {
                        Err(StoreError::Unavailable(_)) if retry => again.push(new),
                        other => outcomes.push(other),
                    }
                }
                again
            }
            // None of the batch was taken: all of it again.
            Err(StoreError::Unavailable(_)) if retry => users,
            Err(e) => return Err((users.len(), e)),
        };
        if again.is_empty() {
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
        users = again;
    }
    Ok(outcomes)
}

/// Users given to the store at once.
const BATCH: usize = 500;

/// Batches in flight at most on a store with a connection pool.
const POOLED_BATCHES: usize = 4;

/// How many times an insert is asked again after the store said it was unavailable.
const INSERT_RETRIES: usize = 6;

fn settle(
    done: Option<Result<Outcomes, tokio::task::JoinError>>, out: &mut Outcome, bar: &ProgressBar,
    report: &mut impl FnMut(String, &ProgressBar),
) {
    let outcomes = match done {
        None => return,
        Some(Ok(Ok(outcomes))) => outcomes,
        Some(Ok(Err((n, e)))) => {
            out.failed += n as u64;
            report(format!("a batch of {n} failed: {e}"), bar);
            return;
        }
        Some(Err(e)) => {
            report(format!("insert task failed: {e}"), bar);
            out.failed += 1;
            return;
        }
    };
    for outcome in outcomes {
        match outcome {
            Ok(()) => out.imported += 1,
            Err(StoreError::Conflict(_)) => out.conflicts += 1,
            Err(e) => {
                out.failed += 1;
                report(format!("insert failed: {e}"), bar);
                continue;
            }
        }
        bar.inc(1);
    }
}
