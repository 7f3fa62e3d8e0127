//! `scimd copy --from URL --to URL`: moves a deployment to another database (typically from the
//! embedded SQLite file to PostgreSQL), organisation by organisation, keeping every id, version
//! and timestamp and the directory's own state (sources, SCIM-deleted accounts and their
//! holds, local properties, conflicts, domains, Auto Merge, roles and rules, administrators'
//! second factors with their unused recovery codes and the rule that requires them), then
//! reads both back and compares them. Administrators' sessions are not carried: they sign in
//! again.
//!
//! The target must hold no organisation yet: a copy never merges into a live directory. Stop
//! `scimd serve` on the source first, or writes made during the copy are not carried over.
//! A copy that was interrupted (killed, the target gone away) leaves part of the source in the
//! target; the next copy into it says so, and what to do, rather than adding to it.

use anyhow::{Context, Result, bail};
use directory::store::{
    Account, AccountQuery, ConflictRecord, DirectoryState, MemberView, SecondFactor, Source,
    StoredResource,
};
use directory::{OrgId, Store};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;

const PAGE: u32 = 1000;

/// Every account of `org`, whatever its source or state, in creation order.
async fn all_accounts(store: &dyn Store, org: OrgId) -> Result<Vec<Account>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_accounts(
                org,
                &AccountQuery {
                    after: after.clone(),
                    count: PAGE,
                    ..AccountQuery::default()
                },
            )
            .await?;
        out.extend(page.accounts);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

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

/// Conflicts by folded userName, without their retry counts (a copy records each once).
fn conflicts_by_name(
    list: Vec<ConflictRecord>,
) -> BTreeMap<String, (String, directory::ResourceId, serde_json::Value)> {
    list.into_iter()
        .map(|c| (c.name_ci, (c.user_name, c.account_id, c.incoming)))
        .collect()
}

pub async fn run(from: &dyn Store, to: &dyn Store) -> Result<()> {
    let present = to.list_orgs().await?;
    let orgs = from.list_orgs().await?;
    if !present.is_empty() {
        return Err(refusal(from, to, &orgs, &present).await);
    }
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
            copy_second_factor(from, to, org.id, a.id).await?;
        }
        if from.second_factor_required(org.id).await? {
            to.set_second_factor_required(org.id, true).await?;
        }
        for n in from.list_notices(org.id).await? {
            to.enqueue_notice(&n).await?;
        }
        let activity = from.list_activity(Some(org.id), None, u32::MAX).await?;
        for chunk in activity.chunks(1000) {
            to.append_activity(chunk.to_vec()).await?;
        }
        if from.sync_policy(org.id, "").await?.auto_merge {
            to.set_auto_merge(org.id, true).await?;
        }
        for d in from.list_domains(org.id).await? {
            to.add_domain(&d).await?;
        }
        // The catalogue keeps its order by the instant each role was added.
        for (i, r) in from.list_org_roles(org.id).await?.iter().enumerate() {
            to.add_org_role(
                org.id,
                r,
                org.created + time::Duration::microseconds(i as i64),
            )
            .await?;
        }
        for r in from.list_role_rules(org.id).await? {
            to.put_role_rule(org.id, &r).await?;
        }

        let accounts = all_accounts(from, org.id).await?;
        let progress = bar(accounts.len() as u64, "Users");
        for a in &accounts {
            to.import_resource(org.id, &a.resource, &DirectoryState::of_account(a))
                .await
                .with_context(|| format!("copying User {}", a.resource.id))?;
            progress.inc(1);
        }
        progress.finish();
        let groups = from.export_groups(org.id).await?;
        let progress = bar(groups.len() as u64, "Groups");
        for (g, source) in &groups {
            to.import_resource(org.id, g, &DirectoryState::of_group(*source))
                .await
                .with_context(|| format!("copying Group {}", g.id))?;
            progress.inc(1);
        }
        progress.finish();
        for (g, _) in &groups {
            if let Some(m) = &g.members
                && !m.is_empty()
            {
                to.import_members(org.id, g.id, m).await?;
            }
        }
        // Conflicts last: they name accounts.
        for c in from.list_conflicts(org.id).await? {
            to.record_conflict(&c).await?;
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

/// An administrator's second factor, as it is: a pending enrolment stays pending; a confirmed
/// one keeps its confirmation, its newest accepted step (no code is accepted twice across the
/// move) and its unused recovery codes.
async fn copy_second_factor(
    from: &dyn Store, to: &dyn Store, org: OrgId, admin: directory::ids::AdminId,
) -> Result<()> {
    let Some(f) = from.get_second_factor(org, admin).await? else {
        return Ok(());
    };
    to.put_second_factor(&SecondFactor {
        confirmed: None,
        last_step: None,
        ..f.clone()
    })
    .await?;
    if let Some(at) = f.confirmed {
        let codes = from.recovery_code_hashes(org, admin).await?;
        to.confirm_second_factor(org, admin, f.last_step.unwrap_or(0), at, &codes)
            .await?;
    }
    Ok(())
}

/// Each administrator's second factor and unused recovery codes, and the rule.
async fn second_factors(
    store: &dyn Store, org: OrgId,
) -> Result<(bool, Vec<(SecondFactor, Vec<[u8; 32]>)>)> {
    let mut out = Vec::new();
    for a in store.list_admins(org).await? {
        if let Some(f) = store.get_second_factor(org, a.id).await? {
            out.push((f, store.recovery_code_hashes(org, a.id).await?));
        }
    }
    Ok((store.second_factor_required(org).await?, out))
}

/// Why a copy into a target that holds organisations is refused: what it holds, and what to do.
async fn refusal(
    from: &dyn Store, to: &dyn Store, source: &[directory::Organisation],
    present: &[directory::Organisation],
) -> anyhow::Error {
    const REFUSED: &str = "the target database already holds organisations";
    let ours = present.iter().all(|p| source.iter().any(|o| o.id == p.id));
    if !ours {
        return anyhow::anyhow!("{REFUSED}; copy only into an empty one");
    }
    match verify(from, to).await {
        Ok(()) => anyhow::anyhow!(
            "{REFUSED}: a complete, verified copy of this source; there is nothing to copy"
        ),
        Err(e) => anyhow::anyhow!(
            "{REFUSED}: an incomplete copy of this source, left by a copy that was interrupted \
             ({e}); drop and create the target database again, then copy again"
        ),
    }
}

async fn verify(from: &dyn Store, to: &dyn Store) -> Result<()> {
    let (a, b) = (from.list_orgs().await?, to.list_orgs().await?);
    if a != b {
        bail!("verification: organisations differ");
    }
    for org in &a {
        let id = org.id;
        if from.list_tokens(id).await? != to.list_tokens(id).await? {
            bail!("verification: tokens of {id} differ");
        }
        if from.list_admins(id).await? != to.list_admins(id).await? {
            bail!("verification: administrators of {id} differ");
        }
        if second_factors(from, id).await? != second_factors(to, id).await? {
            bail!("verification: two-step verification of {id} differs");
        }
        if from.list_domains(id).await? != to.list_domains(id).await? {
            bail!("verification: domains of {id} differ");
        }
        if from.list_org_roles(id).await? != to.list_org_roles(id).await?
            || from.list_role_rules(id).await? != to.list_role_rules(id).await?
        {
            bail!("verification: roles or rules of {id} differ");
        }
        if from.sync_policy(id, "").await? != to.sync_policy(id, "").await? {
            bail!("verification: settings of {id} differ");
        }
        if conflicts_by_name(from.list_conflicts(id).await?)
            != conflicts_by_name(to.list_conflicts(id).await?)
        {
            bail!("verification: conflicts of {id} differ");
        }
        let source = all_accounts(from, id).await?;
        let target: BTreeMap<_, _> = all_accounts(to, id)
            .await?
            .into_iter()
            .map(|a| (a.resource.id, a))
            .collect();
        if source.len() != target.len() {
            bail!(
                "verification: {} Users copied of {}",
                target.len(),
                source.len()
            );
        }
        for s in &source {
            let t = target.get(&s.resource.id);
            let same = t.is_some_and(|t| {
                t.resource.doc == s.resource.doc
                    && t.resource.version == s.resource.version
                    && t.resource.created == s.resource.created
                    && t.resource.last_modified == s.resource.last_modified
                    && t.source == s.source
                    && t.deleted == s.deleted
                    && t.hold_until == s.hold_until
                    && t.local == s.local
            });
            if !same {
                bail!("verification: User {} differs or is missing", s.resource.id);
            }
        }
        let groups = |list: Vec<(StoredResource, Source)>| {
            list.into_iter()
                .map(|(g, src)| {
                    let members = members_of(&g);
                    (
                        g.id,
                        (g.doc, g.version, g.created, g.last_modified, members, src),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        };
        if groups(from.export_groups(id).await?) != groups(to.export_groups(id).await?) {
            bail!("verification: groups of {id} differ");
        }
    }
    Ok(())
}
