//! The administrative commands: tokens, disconnect, administrators, activity, outbox, mail.
//! Each one calls the domain services (`directory::lifecycle`, `directory::notify`), which
//! hold the rules and record the act in the activity log.

use crate::{DbArgs, find_org, open_store};
use anyhow::{Context, Result, bail};
use directory::lifecycle::Lifecycle;
use directory::notify::Mail;
use directory::passwords::Passwords;
use directory::second_factor::SecondFactors;
use directory::session::Sessions;
use directory::store::{AdminRole, Notice};
use directory::{Clock, OrgId, TokenId};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who the activity log names for acts done through the command line.
const ACTOR: &str = "cli";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct TokenListArgs {
    #[arg(long)]
    pub org: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
pub struct TokenRevokeArgs {
    #[arg(long)]
    pub org: String,
    /// The token's id (from `scimd token list`).
    pub token: String,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    #[arg(long)]
    pub org: String,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Add an administrator.
    Add {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "administrator", value_parser = parse_role)]
        role: AdminRole,
        /// A file whose first line is the console password (kept as an Argon2id hash).
        /// Without it, a one-time link with which the administrator chooses one is printed.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        console: ConsoleArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print a one-time link (valid 1 hour) with which an administrator sets a new password.
    ResetPassword {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        console: ConsoleArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List administrators.
    List {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove an administrator; its sessions end at once.
    Remove {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set an administrator's console password; its sessions end and a lock-out of its
    /// address is lifted.
    SetPassword {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// A file whose first line is the new password (12 to 1,024 characters).
        #[arg(long)]
        password_file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// End every session of an administrator (signed out everywhere).
    EndSessions {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Lift a lock-out of an administrator's address after repeated failed sign-ins.
    Unlock {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove an administrator's two-step verification (authenticator and recovery codes),
    /// for one who lost both; their sessions end. Their next sign-in is by password alone, or
    /// sends them to enrolment when the organisation requires it.
    #[command(name = "reset-2fa")]
    Reset2fa {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// A setting turned on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// Where the console is, for the links these commands print: as `serve` prints it.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// The address `serve` listens on (the link's host when there is no public URL).
    #[arg(long, env = "SCIMD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// `serve`'s public base URL of the SCIM API (https://host/scim/v2); the console is at its
    /// origin.
    #[arg(long, env = "SCIMD_PUBLIC_URL")]
    public_url: Option<String>,
    /// `serve`'s console listener, when the console has one of its own.
    #[arg(long, env = "SCIMD_CONSOLE_LISTEN")]
    console_listen: Option<std::net::SocketAddr>,
    /// `serve`'s console address as administrators reach it.
    #[arg(long, env = "SCIMD_CONSOLE_URL")]
    console_url: Option<String>,
}

impl ConsoleArgs {
    fn origin(&self) -> String {
        crate::console_origin(
            self.console_url.as_deref(),
            self.console_listen,
            self.public_url.as_deref(),
            self.listen,
        )
    }
}

/// The first line of a password file, which must hold one of the policy's length.
fn read_password(path: &std::path::Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        bail!("{} holds no password", path.display());
    }
    if let Some(problem) = directory::setup::password_problem(&line) {
        bail!("{}: {problem}", path.display());
    }
    Ok(line)
}

#[derive(Debug, clap::Args)]
pub struct ActivityArgs {
    /// The organisation id, or `unattributed` for refusals no organisation could be named for
    /// that older versions logged (missing or unknown tokens are now only counted, in
    /// `scimd_auth_refused_total`, and in the server's log).
    #[arg(long)]
    pub org: String,
    /// Only entries at or after this instant (RFC 3339, e.g. 2026-01-31T00:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum OutboxCommand {
    /// List notices (all organisations unless --org).
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum MailCommand {
    /// Send a test message through the configured SMTP relay.
    Test {
        #[arg(long)]
        to: String,
        #[command(flatten)]
        mail: crate::mail::MailArgs,
    },
}

fn parse_role(s: &str) -> Result<AdminRole, String> {
    s.parse()
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn opt_ts(t: Option<OffsetDateTime>) -> String {
    t.map(ts).unwrap_or_else(|| "never".to_owned())
}

pub async fn generate(db: &DbArgs, org: &str, clock: Arc<dyn Clock>) -> Result<String> {
    let store = open_store(&db.database)?;
    let org = find_org(store.as_ref(), org).await?;
    let issued = Lifecycle::new(store, clock)
        .generate_token(&org, ACTOR)
        .await?;
    Ok(issued.secret)
}

pub async fn token_list(a: TokenListArgs, clock: Arc<dyn Clock>) -> Result<()> {
    let store = open_store(&a.db.database)?;
    let org = find_org(store.as_ref(), &a.org).await?;
    let lc = Lifecycle::new(store, clock);
    let conn = lc.connection(org.id).await?;
    let tokens = lc.list_tokens(org.id).await?;
    match a.format {
        Format::Json => {
            let list: Vec<_> = tokens
                .iter()
                .map(|t| {
                    json!({
                        "id": t.record.id.to_string(),
                        "prefix": t.record.prefix,
                        "state": t.state.as_str(),
                        "created": ts(t.record.created),
                        "expires": ts(t.expires),
                        "firstUsed": t.record.first_used.map(ts),
                        "lastUsed": t.record.last_used.map(ts),
                        "revoked": t.record.revoked.map(ts),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "organisation": org.id.to_string(),
                    "connection": conn.state.as_str(),
                    "tokens": list,
                }))?
            );
        }
        Format::Text => {
            println!("connection: {}", conn.state.as_str());
            println!("ID\tPREFIX\tSTATE\tEXPIRES\tLAST USED");
            for t in &tokens {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.record.id,
                    t.record.prefix,
                    t.state.as_str(),
                    ts(t.expires),
                    opt_ts(t.record.last_used)
                );
            }
        }
    }
    Ok(())
}

pub async fn token_revoke(a: TokenRevokeArgs, clock: Arc<dyn Clock>) -> Result<()> {
    let store = open_store(&a.db.database)?;
    let org = find_org(store.as_ref(), &a.org).await?;
    let id: TokenId = a.token.parse().with_context(|| {
        format!(
            "'{}' is not a token id (see {} token list)",
            a.token,
            crate::invocation::program()
        )
    })?;
    Lifecycle::new(store, clock)
        .revoke_token(org.id, id, ACTOR)
        .await?;
    eprintln!("token {id} revoked");
    Ok(())
}

pub async fn disconnect(a: DisconnectArgs, clock: Arc<dyn Clock>) -> Result<()> {
    let store = open_store(&a.db.database)?;
    let org = find_org(store.as_ref(), &a.org).await?;
    let (revoked, released) = directory::accounts::Directory::new(store, clock)
        .disconnect(org.id, ACTOR)
        .await?;
    eprintln!(
        "{} disconnected; {revoked} token(s) revoked; {released} account(s) and group(s) are now manual",
        org.name
    );
    Ok(())
}

pub async fn admin(cmd: AdminCommand, clock: Arc<dyn Clock>) -> Result<()> {
    match cmd {
        AdminCommand::Add {
            org,
            email,
            role,
            password_file,
            console,
            db,
        } => {
            let password = password_file.as_deref().map(read_password).transpose()?;
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let Some(password) = password else {
                // Nobody could sign in as an administrator without a password: invite instead.
                let sessions = Sessions::new(store.clone(), clock.clone());
                let link = Passwords::new(store, clock, sessions)
                    .invite(&org, &email, role, ACTOR)
                    .await?;
                eprintln!(
                    "administrator {} added; they choose their password with this one-time link (valid 7 days):",
                    link.admin.email
                );
                println!("{}", link.url(&console.origin()));
                return Ok(());
            };
            let admin = Lifecycle::new(store, clock)
                .add_admin(&org, &email, role, Some(&password), ACTOR)
                .await?;
            println!("{}", admin.id);
            Ok(())
        }
        AdminCommand::ResetPassword {
            org,
            email,
            console,
            db,
        } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let sessions = Sessions::new(store.clone(), clock.clone());
            let link = Passwords::new(store, clock, sessions)
                .issue_reset(org.id, &email, ACTOR)
                .await?;
            eprintln!(
                "{} sets a new password with this one-time link (valid 1 hour); their sessions end then:",
                link.admin.email
            );
            println!("{}", link.url(&console.origin()));
            Ok(())
        }
        AdminCommand::List { org, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            for a in store.list_admins(org.id).await? {
                println!("{}\t{}\t{}", a.id, a.role.as_str(), a.email);
            }
            Ok(())
        }
        AdminCommand::Remove { org, email, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let lifecycle = Lifecycle::new(store.clone(), clock);
            let admin = lifecycle.remove_admin(org.id, &email, ACTOR).await?;
            eprintln!(
                "administrator {} removed; their sessions ended",
                admin.email
            );
            if store.list_admins(org.id).await?.is_empty() {
                eprintln!(
                    "{} has no administrator now: {} serve prints a set-up link for a new one",
                    org.name,
                    crate::invocation::program()
                );
            }
            Ok(())
        }
        AdminCommand::SetPassword {
            org,
            email,
            password_file,
            db,
        } => {
            let password = read_password(&password_file)?;
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let admin = Lifecycle::new(store, clock)
                .set_admin_password(org.id, &email, &password, ACTOR)
                .await?;
            eprintln!("password of {} set; their sessions ended", admin.email);
            Ok(())
        }
        AdminCommand::EndSessions { org, email, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let n = Lifecycle::new(store, clock)
                .end_admin_sessions(org.id, &email, ACTOR)
                .await?;
            eprintln!("{n} session(s) of {} ended", email.trim());
            Ok(())
        }
        AdminCommand::Unlock { org, email, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let admin = Lifecycle::new(store, clock)
                .unlock_admin(org.id, &email, ACTOR)
                .await?;
            eprintln!(
                "{} unlocked: its next sign-in is checked as usual",
                admin.email
            );
            Ok(())
        }
        AdminCommand::Reset2fa { org, email, db } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let admin = second_factors(store, clock)
                .reset(org.id, &email, ACTOR)
                .await?;
            eprintln!(
                "two-step verification of {} removed; their sessions ended",
                admin.email
            );
            Ok(())
        }
    }
}

fn second_factors(store: Arc<dyn directory::Store>, clock: Arc<dyn Clock>) -> SecondFactors {
    let sessions = Sessions::new(store.clone(), clock.clone());
    SecondFactors::new(store, clock, sessions)
}

/// `scimd org require-2fa`: the organisation's rule, as on Settings (logged).
pub async fn org_require_2fa(
    db: &DbArgs, org: &str, setting: OnOff, clock: Arc<dyn Clock>,
) -> Result<()> {
    let store = open_store(&db.database)?;
    let org = find_org(store.as_ref(), org).await?;
    let on = setting == OnOff::On;
    second_factors(store, clock)
        .set_required(org.id, on, ACTOR, None)
        .await?;
    if on {
        eprintln!(
            "{}: two-step verification is required of every administrator; those without it set it up after their next password",
            org.name
        );
    } else {
        eprintln!("{}: two-step verification is no longer required", org.name);
    }
    Ok(())
}

/// `scimd org rename`: through the same service as Settings (logged).
pub async fn org_rename(
    db: &DbArgs, org: &str, name: &str, kind: Option<directory::OrgKind>, clock: Arc<dyn Clock>,
) -> Result<()> {
    let store = open_store(&db.database)?;
    let before = find_org(store.as_ref(), org).await?;
    let after = Lifecycle::new(store, clock)
        .update_org(before.id, name, kind.unwrap_or(before.kind), ACTOR)
        .await?;
    eprintln!(
        "organisation {} is now {} ({})",
        after.id,
        after.name,
        after.kind.as_str()
    );
    Ok(())
}

pub async fn activity(a: ActivityArgs) -> Result<()> {
    let store = open_store(&a.db.database)?;
    let org: Option<OrgId> = if a.org == "unattributed" {
        None
    } else {
        Some(find_org(store.as_ref(), &a.org).await?.id)
    };
    let since = a
        .since
        .as_deref()
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .with_context(|| format!("--since '{s}' is not an RFC 3339 instant"))
        })
        .transpose()?;
    let entries = store.list_activity(org, since, a.limit).await?;
    for e in entries {
        match a.format {
            Format::Json => println!(
                "{}",
                json!({
                    "at": ts(e.at),
                    "token": e.token_id.map(|t| t.to_string()),
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "status": e.status,
                    "durationUs": e.duration_us,
                    "resource": e.resource,
                    "detail": e.detail,
                })
            ),
            Format::Text => {
                let mut line = format!("{}\t{}\t{}\t{}", ts(e.at), e.actor, e.action, e.target);
                if let Some(s) = e.status {
                    line.push_str(&format!("\t{s}"));
                }
                if let Some(d) = e.duration_us {
                    line.push_str(&format!("\t{:.1}ms", d as f64 / 1000.0));
                }
                if let Some(t) = e.token_id {
                    line.push_str(&format!("\ttoken={t}"));
                }
                if let Some(r) = &e.resource {
                    line.push_str(&format!("\t{r}"));
                }
                if let Some(d) = &e.detail {
                    line.push_str(&format!("\t{d}"));
                }
                println!("{line}");
            }
        }
    }
    Ok(())
}

fn notice_state(n: &Notice) -> &'static str {
    if n.sent.is_some() {
        "sent"
    } else if n.attempts == 0 {
        "queued"
    } else {
        "retrying"
    }
}

pub async fn outbox(cmd: OutboxCommand) -> Result<()> {
    let OutboxCommand::List { org, format, db } = cmd;
    let store = open_store(&db.database)?;
    let orgs = match org {
        Some(o) => vec![find_org(store.as_ref(), &o).await?],
        None => store.list_orgs().await?,
    };
    let mut all = Vec::new();
    for o in &orgs {
        all.extend(store.list_notices(o.id).await?);
    }
    match format {
        Format::Json => {
            let list: Vec<_> = all
                .iter()
                .map(|n| {
                    json!({
                        "id": n.id.to_string(),
                        "organisation": n.org_id.to_string(),
                        "key": n.key,
                        "kind": n.kind.as_str(),
                        "state": notice_state(n),
                        "subject": n.subject,
                        "attempts": n.attempts,
                        "created": ts(n.created),
                        "nextAttempt": ts(n.next_attempt),
                        "sent": n.sent.map(ts),
                        "lastError": n.last_error,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Format::Text => {
            println!("ORGANISATION\tKIND\tSTATE\tATTEMPTS\tCREATED\tSUBJECT\tLAST ERROR");
            for n in &all {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    n.org_id,
                    n.kind.as_str(),
                    notice_state(n),
                    n.attempts,
                    ts(n.created),
                    n.subject,
                    n.last_error.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

pub async fn mail(cmd: MailCommand) -> Result<()> {
    let MailCommand::Test { to, mail } = cmd;
    let Some(mailer) = mail.mailer()? else {
        bail!("no SMTP relay configured: give --smtp-url or set SCIMD_SMTP_URL");
    };
    mailer
        .send(&Mail {
            to: vec![to.clone()],
            subject: "scimd test message".to_owned(),
            body: "This is a test message from scimd: e-mail notifications work.\n".to_owned(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("test message sent to {to}");
    Ok(())
}
