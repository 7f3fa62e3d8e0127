//! `scimd app ...` and `scimd webhook ...` (docs/contract.md, "Applications"): the same
//! service as the administrators' API and the console (`directory::applications`), which holds
//! the rules and records each act. A key or a secret is printed alone on stdout, once; every
//! other message goes to stderr.

use crate::admin_cli::Format;
use crate::{DbArgs, find_org, open_store};
use anyhow::{Context, Result};
use directory::Clock;
use directory::applications::{
    Applications, DEFAULT_DELIVERIES, app_json, delivery_json, types_label, webhook_json,
};
use directory::ids::{AppId, WebhookId};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who the activity log names for acts done through the command line.
const ACTOR: &str = "cli";

#[derive(Debug, clap::Subcommand)]
pub enum AppCommand {
    /// Register an application; prints its key alone on stdout (it is shown only this once).
    Create {
        #[arg(long)]
        org: String,
        /// A name unique among the organisation's live applications.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List applications (never their keys).
    List {
        #[arg(long)]
        org: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an application: its key is refused from the next request on.
    Revoke {
        #[arg(long)]
        org: String,
        /// The application's id (from `scimd app list`).
        app: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint that receives events from now on; prints its signing secret alone on
    /// stdout (whsec_..., shown only this once).
    Add {
        #[arg(long)]
        org: String,
        /// Where events are POSTed: https (plain http only for a private or loopback receiver).
        #[arg(long)]
        url: String,
        /// Event types to deliver, comma-separated (every type when absent).
        #[arg(long, default_value = "")]
        types: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List endpoints: ids, URLs, state and last delivery (never their secrets).
    List {
        #[arg(long)]
        org: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove an endpoint and its delivery log.
    Remove {
        #[arg(long)]
        org: String,
        /// The endpoint's id (from `scimd webhook list`).
        endpoint: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Deliver again from an event on (that event included); a failing endpoint starts over.
    Replay {
        #[arg(long)]
        org: String,
        endpoint: String,
        /// The first event to deliver again (evt_...).
        #[arg(long)]
        from: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Replace the signing secret; prints the new one alone on stdout. The old one goes on
    /// signing beside it for 24 hours.
    RotateSecret {
        #[arg(long)]
        org: String,
        endpoint: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// The endpoint's delivery log, newest first.
    Deliveries {
        #[arg(long)]
        org: String,
        endpoint: String,
        #[arg(long, default_value_t = DEFAULT_DELIVERIES)]
        limit: u32,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        db: DbArgs,
    },
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn opt_ts(t: Option<OffsetDateTime>) -> String {
    t.map(ts).unwrap_or_else(|| "never".to_owned())
}

fn app_id(s: &str) -> Result<AppId> {
    s.parse().with_context(|| {
        format!(
            "'{s}' is not an application id (see {} app list)",
            crate::invocation::program()
        )
    })
}

fn webhook_id(s: &str) -> Result<WebhookId> {
    s.parse().with_context(|| {
        format!(
            "'{s}' is not a webhook endpoint id (see {} webhook list)",
            crate::invocation::program()
        )
    })
}

/// The service over the store of `db`, and the organisation `org` names.
async fn open(
    db: &DbArgs, org: &str, clock: Arc<dyn Clock>,
) -> Result<(Applications, directory::OrgId)> {
    let store = open_store(&db.database)?;
    let org = find_org(store.as_ref(), org).await?;
    Ok((Applications::new(store, clock), org.id))
}

pub async fn app(cmd: AppCommand, clock: Arc<dyn Clock>) -> Result<()> {
    match cmd {
        AppCommand::Create { org, name, db } => {
            let (apps, org) = open(&db, &org, clock).await?;
            let issued = apps.create_app(org, &name, ACTOR).await?;
            println!("{}", issued.key);
            eprintln!(
                "application {} ({}) registered; the key above is shown only this once",
                issued.record.id, issued.record.name
            );
        }
        AppCommand::List { org, format, db } => {
            let (apps, org) = open(&db, &org, clock).await?;
            let list = apps.list_apps(org).await?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "organisation": org.to_string(),
                        "applications": list.iter().map(app_json).collect::<Vec<_>>(),
                    }))?
                ),
                Format::Text => {
                    println!("ID\tNAME\tPREFIX\tSTATE\tCREATED\tLAST USED");
                    for a in &list {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            a.id,
                            a.name,
                            a.prefix,
                            if a.revoked.is_some() {
                                "revoked"
                            } else {
                                "active"
                            },
                            ts(a.created),
                            opt_ts(a.last_used)
                        );
                    }
                }
            }
        }
        AppCommand::Revoke { org, app, db } => {
            let id = app_id(&app)?;
            let (apps, org) = open(&db, &org, clock).await?;
            apps.revoke_app(org, id, ACTOR).await?;
            eprintln!("application {id} revoked");
        }
    }
    Ok(())
}

pub async fn webhook(cmd: WebhookCommand, clock: Arc<dyn Clock>) -> Result<()> {
    match cmd {
        WebhookCommand::Add {
            org,
            url,
            types,
            db,
        } => {
            let (apps, org) = open(&db, &org, clock).await?;
            let added = apps.add_webhook(org, &url, &types, ACTOR).await?;
            println!("{}", added.secret);
            eprintln!(
                "webhook endpoint {} added for {} event(s) from now on; the secret above is shown only this once",
                added.endpoint.id,
                types_label(&added.endpoint.types)
            );
        }
        WebhookCommand::List { org, format, db } => {
            let (apps, org) = open(&db, &org, clock).await?;
            let list = apps.list_webhooks(org).await?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "organisation": org.to_string(),
                        "webhooks": list.iter().map(webhook_json).collect::<Vec<_>>(),
                    }))?
                ),
                Format::Text => {
                    println!("ID\tURL\tSTATE\tTYPES\tLAST DELIVERY");
                    for w in &list {
                        let last = match (w.last_delivery, w.last_status) {
                            (Some(t), Some(s)) => format!("{} ({s})", ts(t)),
                            (t, _) => opt_ts(t),
                        };
                        println!(
                            "{}\t{}\t{}\t{}\t{last}",
                            w.id,
                            w.url,
                            w.state.as_str(),
                            types_label(&w.types)
                        );
                    }
                }
            }
        }
        WebhookCommand::Remove { org, endpoint, db } => {
            let id = webhook_id(&endpoint)?;
            let (apps, org) = open(&db, &org, clock).await?;
            apps.remove_webhook(org, id, ACTOR).await?;
            eprintln!("webhook endpoint {id} removed");
        }
        WebhookCommand::Replay {
            org,
            endpoint,
            from,
            db,
        } => {
            let id = webhook_id(&endpoint)?;
            let (apps, org) = open(&db, &org, clock).await?;
            let w = apps.replay_webhook(org, id, &from, ACTOR).await?;
            eprintln!(
                "webhook endpoint {id} delivers again from {} (after sequence {})",
                from.trim(),
                w.cursor
            );
        }
        WebhookCommand::RotateSecret { org, endpoint, db } => {
            let id = webhook_id(&endpoint)?;
            let (apps, org) = open(&db, &org, clock).await?;
            let secret = apps.rotate_secret(org, id, ACTOR).await?;
            println!("{secret}");
            eprintln!(
                "webhook endpoint {id} has a new secret (shown only this once); the old one signs beside it for 24 hours"
            );
        }
        WebhookCommand::Deliveries {
            org,
            endpoint,
            limit,
            format,
            db,
        } => {
            let id = webhook_id(&endpoint)?;
            let (apps, org) = open(&db, &org, clock).await?;
            let list = apps.deliveries(org, id, limit).await?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "endpoint": id.to_string(),
                        "deliveries": list.iter().map(delivery_json).collect::<Vec<_>>(),
                    }))?
                ),
                Format::Text => {
                    println!("AT\tEVENT\tTYPE\tSTATUS\tLATENCY MS\tERROR");
                    for d in &list {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            ts(d.at),
                            d.event,
                            d.event_type.as_str(),
                            d.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                            d.latency_ms,
                            d.error.as_deref().unwrap_or("")
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
