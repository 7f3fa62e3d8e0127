//! The directory's commands (docs/contract.md, "Directory semantics"): accounts, conflicts, Auto Merge, domains. Each
//! calls `directory::accounts::Directory`, which holds the rules and logs the act.

use crate::admin_cli::Format;
use crate::{DbArgs, find_org, open_store};
use anyhow::{Result, bail};
use directory::Clock;
use directory::accounts::{Directory, MergeOutcome};
use directory::store::{AccountQuery, Source, Status};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// Who the activity log names for acts done through the command line.
const ACTOR: &str = "cli";

#[derive(Debug, clap::Subcommand)]
pub enum AccountsCommand {
    /// List accounts (all sources and states), 100 per page; `--after` continues.
    List {
        #[arg(long)]
        org: String,
        /// Case-insensitive part of the userName, display, given or family name.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_parser = ["scim", "manual"])]
        source: Option<String>,
        #[arg(long, value_parser = ["active", "deactivated"])]
        status: Option<String>,
        /// The `next` value a previous page printed.
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        count: u32,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        db: DbArgs,
    },
    /// End the hold on a userName that directory sync deleted (a school holds it 120 days):
    /// the deleted account goes for good and the name can be given to someone else.
    Release {
        #[arg(long)]
        org: String,
        /// The held account's userName.
        user_name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ConflictsCommand {
    /// List the conflicts directory sync recorded.
    List {
        #[arg(long)]
        org: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print every conflict as CSV.
    Download {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Hand the existing account(s) to directory sync, so the identity provider's next cycle
    /// succeeds.
    Merge {
        #[arg(long)]
        org: String,
        /// The conflicting userName.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        user_name: Option<String>,
        /// Merge every conflict.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum DomainCommand {
    /// Add a domain; prints the TXT record to publish.
    Add {
        #[arg(long)]
        org: String,
        domain: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List domains and their state.
    List {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Verify a domain by DNS lookup of its TXT record (`--force`: mark it verified without).
    Verify {
        #[arg(long)]
        org: String,
        domain: String,
        /// Mark verified without a lookup (operators).
        #[arg(long)]
        force: bool,
        /// Ask these name servers instead of the system's (repeatable).
        #[arg(long = "dns-server")]
        dns_servers: Vec<SocketAddr>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove a domain.
    Remove {
        #[arg(long)]
        org: String,
        domain: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct AutoMergeArgs {
    #[arg(long)]
    pub org: String,
    #[arg(value_parser = ["on", "off"])]
    pub setting: String,
    #[command(flatten)]
    pub db: DbArgs,
}

pub async fn accounts(cmd: AccountsCommand, clock: Arc<dyn Clock>) -> Result<()> {
    match cmd {
        AccountsCommand::Release { org, user_name, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            Directory::new(store, clock)
                .release_hold_of(org.id, ACTOR, &user_name)
                .await?;
            println!("released the user name {user_name}");
            Ok(())
        }
        AccountsCommand::List {
            org,
            search,
            source,
            status,
            after,
            count,
            format,
            db,
        } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let page = Directory::new(store, clock)
                .list_accounts(
                    org.id,
                    &AccountQuery {
                        search,
                        source: source.as_deref().and_then(Source::parse),
                        status: status.as_deref().and_then(Status::parse),
                        after,
                        count,
                    },
                )
                .await?;
            match format {
                Format::Json => {
                    let accounts: Vec<_> = page
                        .accounts
                        .iter()
                        .map(|a| {
                            json!({
                                "id": a.resource.id.to_string(),
                                "userName": a.user_name(),
                                "source": a.source.as_str(),
                                "status": a.status().as_str(),
                                "version": a.resource.version,
                                "local": a.local,
                            })
                        })
                        .collect();
                    println!(
                        "{}",
                        json!({ "total": page.total, "totalExact": page.total_exact, "next": page.next, "accounts": accounts })
                    );
                }
                Format::Text => {
                    for a in &page.accounts {
                        println!(
                            "{}  {:<40}  {:<6}  {:<11}  roles: {}",
                            a.resource.id,
                            a.user_name(),
                            a.source.as_str(),
                            a.status().as_str(),
                            a.local.roles.join(", ")
                        );
                    }
                    if page.total_exact {
                        eprintln!("{} account(s) in all", page.total);
                    } else {
                        eprintln!("more than {} account(s) in all", page.total);
                    }
                    if let Some(next) = page.next {
                        eprintln!("more: --after {next}");
                    }
                }
            }
            Ok(())
        }
    }
}

pub async fn conflicts(cmd: ConflictsCommand, clock: Arc<dyn Clock>) -> Result<()> {
    match cmd {
        ConflictsCommand::List { org, format, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let list = Directory::new(store, clock).list_conflicts(org.id).await?;
            match format {
                Format::Json => {
                    let items: Vec<_> = list
                        .iter()
                        .map(|c| {
                            json!({
                                "userName": c.user_name,
                                "accountId": c.account_id.to_string(),
                                "attempts": c.attempts,
                                "incoming": c.incoming,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::Value::Array(items));
                }
                Format::Text => {
                    for c in &list {
                        println!(
                            "{:<40}  existing account {}  ({} attempt(s))",
                            c.user_name, c.account_id, c.attempts
                        );
                    }
                    eprintln!("{} conflict(s)", list.len());
                }
            }
        }
        ConflictsCommand::Download { org, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            print!(
                "{}",
                Directory::new(store, clock).conflicts_csv(org.id).await?
            );
        }
        ConflictsCommand::Merge {
            org,
            user_name,
            all,
            db,
        } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let dir = Directory::new(store, clock);
            if all {
                let n = dir.merge_all(org.id, ACTOR).await?;
                eprintln!("{n} account(s) handed to directory sync");
            } else {
                let name = user_name.unwrap_or_default();
                match dir.merge_conflict(org.id, ACTOR, &name).await? {
                    MergeOutcome::Merged(a) => {
                        eprintln!("{} handed to directory sync", a.user_name())
                    }
                    MergeOutcome::Dropped => {
                        eprintln!("{name}: the account no longer exists; conflict dropped")
                    }
                }
            }
        }
    }
    Ok(())
}

pub async fn auto_merge(a: AutoMergeArgs, clock: Arc<dyn Clock>) -> Result<()> {
    let store = open_store(&a.db.database)?;
    let org = find_org(store.as_ref(), &a.org).await?;
    Directory::new(store, clock)
        .set_auto_merge(org.id, ACTOR, a.setting == "on")
        .await?;
    eprintln!("Auto Merge {} for {}", a.setting, org.name);
    Ok(())
}

pub async fn domain(cmd: DomainCommand, clock: Arc<dyn Clock>) -> Result<()> {
    match cmd {
        DomainCommand::Add { org, domain, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let d = Directory::new(store, clock)
                .add_domain(org.id, ACTOR, &domain)
                .await?;
            eprintln!(
                "Publish this DNS record, then run: {} domain verify --org {} {}",
                crate::invocation::program(),
                org.id,
                d.name
            );
            println!("{}. TXT \"{}\"", d.name, d.txt);
        }
        DomainCommand::List { org, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            for d in Directory::new(store, clock).list_domains(org.id).await? {
                println!(
                    "{:<40}  {:<10}  TXT \"{}\"",
                    d.name,
                    if d.verified.is_some() {
                        "verified"
                    } else {
                        "unverified"
                    },
                    d.txt
                );
            }
        }
        DomainCommand::Verify {
            org,
            domain,
            force,
            dns_servers,
            db,
        } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let dir = Directory::new(store, clock);
            let d = if force {
                dir.force_verify_domain(org.id, ACTOR, &domain).await?
            } else {
                let dns = match server::dns::resolver(&dns_servers) {
                    Ok(d) => d,
                    Err(e) => bail!("no DNS resolver: {e}"),
                };
                dir.verify_domain(org.id, ACTOR, &domain, &dns).await?
            };
            eprintln!("{} is verified", d.name);
        }
        DomainCommand::Remove { org, domain, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            Directory::new(store, clock)
                .remove_domain(org.id, ACTOR, &domain)
                .await?;
            eprintln!("{domain} removed");
        }
    }
    Ok(())
}
