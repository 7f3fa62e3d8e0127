//! `scimd copy --from URL --to URL`: moves a deployment to another database (typically from the
//! embedded SQLite file to PostgreSQL), organisation by organisation, keeping every id, version
//! and timestamp, then reads both back and compares them.
//!
//! The target must hold no organisation yet: a copy never merges into a live directory. Stop
//! `scimd serve` on the source first, or writes made during the copy are not carried over.

use anyhow::{Context, Result, bail};
use directory::store::{ListQuery, Load, MemberView, StoredResource};
use directory::{OrgId, Store};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scim_core::schema::ResourceKind;
use std::collections::BTreeMap;

const PAGE: u64 = 1000;
const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

/// Reads every resource of one kind of one organisation, in stored order, page by page.
async fn each_page(
    store: &dyn Store,
    org: OrgId,
    kind: ResourceKind,
    mut f: impl FnMut(Vec<StoredResource>) -> Result<()>,
) -> Result<u64> {
    let mut cursor = Some(String::new());
    let mut seen = 0;
    while let Some(c) = cursor {
        let query = ListQuery {
            count: PAGE,
            start_index: 1,
            cursor: Some(c),
            load: Load {
                relations: kind == ResourceKind::Group,
            },
            ..ListQuery::default()
        };
        let page = store.list_resources(org, kind, &query).await?;
        seen += page.resources.len() as u64;
        f(page.resources)?;
        cursor = page.next_cursor;
    }
    Ok(seen)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Sorted members, for comparing.
fn members_of(r: &StoredResource) -> Vec<(String, &'static str)> {
    let mut m: Vec<(String, &'static str)> = r
        .members
        .iter()
        .flatten()
        .map(|m: &MemberView| (m.id.to_string(), m.kind.name()))
        .collect();
    m.sort();
    m
}

pub async fn run(from: &dyn Store, to: &dyn Store) -> Result<()> {
    if !to.list_orgs().await?.is_empty() {
        bail!("the target database already holds organisations; copy only into an empty one");
    }
    let orgs = from.list_orgs().await?;
    for org in &orgs {
        eprintln!("organisation {} ({})", org.name, org.id);
        to.create_org(org).await?;
        for t in from.list_tokens(org.id).await? {
            to.insert_token(&t).await?;
        }
        if let Some(c) = from.get_connection(org.id).await? {
            to.set_connection(org.id, &c).await?;
        }
        for a in from.list_admins(org.id).await? {
            to.add_admin(&a).await?;
        }
        for n in from.list_notices(org.id).await? {
            to.enqueue_notice(&n).await?;
        }
        let activity = from.list_activity(Some(org.id), None, u32::MAX).await?;
        for chunk in activity.chunks(1000) {
            to.append_activity(chunk).await?;
        }
        let mut memberships: Vec<(directory::ResourceId, Vec<MemberView>)> = Vec::new();
        for kind in KINDS {
            let total = from
                .list_resources(
                    org.id,
                    kind,
                    &ListQuery {
                        count: 0,
                        start_index: 1,
                        ..ListQuery::default()
                    },
                )
                .await?
                .total;
            let progress = bar(total, kind.endpoint().trim_start_matches('/'));
            let mut batch = Vec::new();
            each_page(from, org.id, kind, |page| {
                batch.extend(page);
                Ok(())
            })
            .await?;
            for r in &batch {
                to.import_resource(org.id, r)
                    .await
                    .with_context(|| format!("copying {} {}", kind.name(), r.id))?;
                if let Some(m) = &r.members
                    && !m.is_empty()
                {
                    memberships.push((r.id, m.clone()));
                }
                progress.inc(1);
            }
            progress.finish();
        }
        for (group, members) in &memberships {
            to.import_members(org.id, *group, members).await?;
        }
        let activity_copied = to.list_activity(Some(org.id), None, u32::MAX).await?.len();
        if activity_copied != activity.len() {
            bail!(
                "activity of {}: {} copied of {}",
                org.id,
                activity_copied,
                activity.len()
            );
        }
    }
    // A bulk load leaves the planner without statistics until something gathers them.
    to.refresh_statistics().await?;
    verify(from, to).await?;
    eprintln!("copy verified: {} organisation(s)", orgs.len());
    Ok(())
}

/// Reads both databases back and compares every organisation, token and resource.
async fn verify(from: &dyn Store, to: &dyn Store) -> Result<()> {
    let (a, b) = (from.list_orgs().await?, to.list_orgs().await?);
    if a != b {
        bail!("verification: organisations differ");
    }
    for org in &a {
        if from.list_tokens(org.id).await? != to.list_tokens(org.id).await? {
            bail!("verification: tokens of {} differ", org.id);
        }
        if from.list_admins(org.id).await? != to.list_admins(org.id).await? {
            bail!("verification: administrators of {} differ", org.id);
        }
        for kind in KINDS {
            let mut source: BTreeMap<String, StoredResource> = BTreeMap::new();
            each_page(from, org.id, kind, |page| {
                source.extend(page.into_iter().map(|r| (r.id.to_string(), r)));
                Ok(())
            })
            .await?;
            let mut target: BTreeMap<String, StoredResource> = BTreeMap::new();
            each_page(to, org.id, kind, |page| {
                target.extend(page.into_iter().map(|r| (r.id.to_string(), r)));
                Ok(())
            })
            .await?;
            if source.len() != target.len() {
                bail!(
                    "verification: {} {}s copied of {}",
                    target.len(),
                    kind.name(),
                    source.len()
                );
            }
            for (id, s) in &source {
                let Some(t) = target.get(id) else {
                    bail!("verification: {} {id} missing", kind.name());
                };
                let same = s.doc == t.doc
                    && s.version == t.version
                    && s.created == t.created
                    && s.last_modified == t.last_modified
                    && members_of(s) == members_of(t);
                if !same {
                    bail!("verification: {} {id} differs", kind.name());
                }
            }
        }
    }
    Ok(())
}
