//! # scimd
//!
//! The scimd binary: the SCIM 2.0 directory-sync server and the command line that administers
//! it. This is the composition root: it picks the store from the database URL and wires the
//! services to the HTTP front end. The forms in docs/contract.md ("The scriptable command line")
//! are kept stable for scripts.

mod admin_cli;
mod apps_cli;
mod check;
mod config;
mod copy;
mod deploy;
mod directory_cli;
mod import;
mod invocation;
mod mail;
mod roles_cli;
mod serve;
use serve::console_origin;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use directory::scim::ScimService;
use directory::{Clock, OrgId, OrgKind, Organisation, Store, SystemClock};
use scim_core::discovery::ServiceConfig;
use std::net::SocketAddr;
use std::sync::Arc;

const DEFAULT_DATABASE: &str = "sqlite://scimd.db";

#[derive(Debug, Parser)]
#[command(
    name = "scimd",
    version,
    about = "Self-hosted SCIM 2.0 directory-sync server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// A TOML configuration file (see `scimd config check`; an example is in the repository).
    #[arg(long, global = true, env = "SCIMD_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Log lines as text or as JSON objects.
    #[arg(
        long,
        global = true,
        env = "SCIMD_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct DbArgs {
    /// Database URL: sqlite://PATH (embedded default).
    // `--help` would print the variable's value, password included.
    #[arg(
        long,
        env = "SCIMD_DATABASE_URL",
        hide_env_values = true,
        default_value = DEFAULT_DATABASE
    )]
    database: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Copy a whole deployment to another, empty database (e.g. SQLite to PostgreSQL), keeping
    /// every id, version and timestamp, then verify the copy. Stop `serve` on the source first.
    Copy {
        /// The source database URL.
        #[arg(long)]
        from: String,
        /// The target database URL (must hold no organisation).
        #[arg(long)]
        to: String,
    },
    /// Apply the database migrations and exit (serve applies them too, under a lock on
    /// PostgreSQL, so instances starting together are safe).
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Serve the SCIM API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SCIMD_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        db: DbArgs,
        /// Public base URL of the SCIM API (e.g. https://scim.example.com/scim/v2); derived
        /// from the request's Host header when unset.
        #[arg(long, env = "SCIMD_PUBLIC_URL")]
        public_url: Option<String>,
        #[command(flatten)]
        mail: mail::MailArgs,
        /// Days the activity log is kept.
        #[arg(long, env = "SCIMD_ACTIVITY_RETENTION_DAYS", default_value_t = 90)]
        activity_retention_days: u32,
        /// Days events (and webhook delivery records) are kept.
        #[arg(long, env = "SCIMD_EVENT_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
        event_retention_days: u32,
        #[command(flatten)]
        run: Box<RunArgs>,
    },
    /// A consistent copy of a SQLite database, taken while `serve` runs (SQLite's online backup
    /// API), checked with `PRAGMA integrity_check`. On PostgreSQL use pg_dump.
    Backup {
        /// The new file to write.
        #[arg(long)]
        to: std::path::PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check a backup and write it as a new SQLite database; then start `serve --database
    /// sqlite://THAT`. The target must not exist.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: std::path::PathBuf,
        /// The database to create: sqlite://PATH.
        #[arg(long)]
        to: String,
    },
    /// The configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Stop directory sync for an organisation: revokes every token and turns every synced
    /// account and group into a manual one. Nothing is deleted.
    Disconnect(admin_cli::DisconnectArgs),
    /// The organisation's accounts, whatever their source.
    Accounts {
        #[command(subcommand)]
        command: directory_cli::AccountsCommand,
    },
    /// Conflicts between incoming SCIM accounts and accounts directory sync does not own.
    Conflicts {
        #[command(subcommand)]
        command: directory_cli::ConflictsCommand,
    },
    /// Turn Auto Merge on or off: a conflicting SCIM create then takes over the account.
    AutoMerge(directory_cli::AutoMergeArgs),
    /// The role catalogue, the rules that give roles and locations, bulk assignment.
    Roles {
        #[command(subcommand)]
        command: roles_cli::RolesCommand,
    },
    /// The organisation's domains.
    Domain {
        #[command(subcommand)]
        command: directory_cli::DomainCommand,
    },
    /// Administrators of an organisation.
    Admin {
        #[command(subcommand)]
        command: admin_cli::AdminCommand,
    },
    /// The activity log: SCIM requests and administrative acts.
    Activity(admin_cli::ActivityArgs),
    /// The notification outbox.
    Outbox {
        #[command(subcommand)]
        command: admin_cli::OutboxCommand,
    },
    /// E-mail delivery.
    Mail {
        #[command(subcommand)]
        command: admin_cli::MailCommand,
    },
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// SCIM bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Applications: the organisation's own software, reading the directory API and the
    /// events with a key of its own.
    App {
        #[command(subcommand)]
        command: apps_cli::AppCommand,
    },
    /// Webhook endpoints that events are delivered to.
    Webhook {
        #[command(subcommand)]
        command: apps_cli::WebhookCommand,
    },
    /// Test a SCIM endpoint the way an identity provider's "Test Connection" does. The bearer
    /// token comes from exactly one of --token-file, SCIMD_CHECK_TOKEN or --token.
    Check {
        /// The SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2
        url: String,
        /// The bearer token (visible to other local users in the process list: prefer
        /// --token-file or SCIMD_CHECK_TOKEN).
        #[arg(long)]
        token: Option<String>,
        /// A file whose first line is the bearer token.
        #[arg(long, value_name = "FILE")]
        token_file: Option<std::path::PathBuf>,
    },
    /// Load Users into an organisation directly (no HTTP): JSON Lines of SCIM User bodies
    /// from FILE (`-` for stdin), or `--generate N` synthetic users. Progress on stderr.
    Import {
        /// The organisation id.
        #[arg(long)]
        org: String,
        /// JSON Lines file of User bodies, `-` for stdin.
        #[arg(required_unless_present = "generate", conflicts_with = "generate")]
        file: Option<String>,
        /// Generate N synthetic users instead of reading a file.
        #[arg(long, value_name = "N")]
        generate: Option<u64>,
        /// userName prefix of generated users (`PREFIX.I@example.com`).
        #[arg(long, default_value = "user")]
        prefix: String,
        /// Inserts kept in flight (the store commits them in groups).
        #[arg(long, default_value_t = 1024)]
        in_flight: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// HTTPS, limits and the client address (issue: running it for real).
#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// Name servers to verify domains with, instead of the system's (repeatable).
    #[arg(long = "dns-server", env = "SCIMD_DNS_SERVERS", value_delimiter = ',')]
    dns_servers: Vec<SocketAddr>,
    /// PEM certificate chain: serve HTTPS (TLS 1.2 and 1.3). Reloaded on SIGHUP.
    #[arg(long, env = "SCIMD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SCIMD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Behind a reverse proxy: take the client address from X-Forwarded-For (logs, limits).
    #[arg(long, env = "SCIMD_TRUST_PROXY")]
    trust_proxy: bool,
    /// Requests per second per token (sustained; 0: no limit). Kept far above what identity
    /// providers send: a 429 can put an Entra provisioning job into quarantine.
    #[arg(long, env = "SCIMD_RATE_LIMIT_PER_TOKEN", default_value_t = 1000)]
    rate_limit_per_token: u32,
    /// Failed authentications per client address per minute before it gets 429.
    #[arg(long, env = "SCIMD_AUTH_FAILURES_PER_MINUTE", default_value_t = 30)]
    auth_failures_per_minute: u32,
    /// Requests served at once; beyond, 503 with Retry-After.
    #[arg(long, env = "SCIMD_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    max_concurrent_requests: usize,
    /// Seconds a request may take before it is answered 503.
    #[arg(long, env = "SCIMD_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Seconds a client has to send a request's head (and an idle keep-alive connection
    /// stays open); slower ones are disconnected.
    #[arg(long, env = "SCIMD_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Largest total size in bytes of a request's header fields; beyond, 431.
    #[arg(long, env = "SCIMD_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    max_header_bytes: usize,
    /// Connections open at once; beyond, new ones are closed on accept while the open ones
    /// are served.
    #[arg(long, env = "SCIMD_MAX_CONNECTIONS", default_value_t = 16_384)]
    max_connections: usize,
    /// Answers to SCIM reads kept in memory and given again while the data is unchanged
    /// (SQLite only; 0: none).
    #[arg(long, env = "SCIMD_READ_CACHE_ENTRIES", default_value_t = server::DEFAULT_READ_CACHE_ENTRIES)]
    read_cache_entries: usize,
    /// Serve the console and the administrators' API on this address instead, as plain
    /// HTTP; --listen then answers only SCIM, the application API and health. An address
    /// other than loopback needs --allow-plain-console.
    #[arg(long, env = "SCIMD_CONSOLE_LISTEN", value_name = "ADDR")]
    console_listen: Option<SocketAddr>,
    /// Let --console-listen be an address other than loopback (a private network, or a
    /// TLS-terminating proxy on another host): sign-ins then cross it unencrypted.
    #[arg(long, env = "SCIMD_ALLOW_PLAIN_CONSOLE", requires = "console_listen")]
    allow_plain_console: bool,
    /// The console's address as administrators reach it, for the links e-mailed and printed
    /// (default: the public URL's origin, or http://CONSOLE_LISTEN with --console-listen).
    #[arg(long, env = "SCIMD_CONSOLE_URL", value_name = "URL")]
    console_url: Option<String>,
    #[command(flatten)]
    deploy: deploy::DeployArgs,
    /// Deliver webhooks to loopback, private, link-local and cloud-metadata addresses too
    /// (refused by default: a webhook URL must not reach into the server's own network).
    #[arg(long, env = "SCIMD_ALLOW_PRIVATE_WEBHOOKS")]
    allow_private_webhooks: bool,
}

impl RunArgs {
    fn transport(&self) -> server::transport::Transport {
        server::transport::Transport {
            header_timeout: std::time::Duration::from_secs(self.header_timeout_secs.max(1)),
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections,
            ..server::transport::Transport::default()
        }
    }

    fn ops(&self) -> server::OpsConfig {
        server::OpsConfig {
            token_rate: self.rate_limit_per_token,
            token_burst: self.rate_limit_per_token.saturating_mul(2),
            auth_failures_per_minute: self.auth_failures_per_minute,
            max_concurrent: self.max_concurrent_requests,
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            trust_proxy: self.trust_proxy,
            max_header_bytes: self.max_header_bytes,
        }
    }
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration of `serve` (defaults, file, environment, flags),
    /// secrets redacted; the given serve flags are applied too.
    Check {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        serve_args: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organisation; prints its id.
    Create {
        name: String,
        #[arg(long, value_parser = parse_kind)]
        kind: OrgKind,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List organisations.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Rename an organisation; `--kind` also changes its kind, only while it has no accounts.
    Rename {
        #[arg(long)]
        org: String,
        name: String,
        #[arg(long, value_parser = parse_kind)]
        kind: Option<OrgKind>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Require two-step verification of every administrator (`on`) or not (`off`); those
    /// without it are sent to enrolment after their password.
    #[command(name = "require-2fa")]
    Require2fa {
        #[arg(long)]
        org: String,
        #[arg(value_enum)]
        setting: admin_cli::OnOff,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Generate a token; prints the secret alone on stdout (it is shown only this once).
    Generate {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens (never their secrets) and the connection state.
    List(admin_cli::TokenListArgs),
    /// Revoke a token (not the last live one: disconnect instead).
    Revoke(admin_cli::TokenRevokeArgs),
}

fn parse_kind(s: &str) -> Result<OrgKind, String> {
    s.parse()
}

fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = store_sqlite::SqliteStore::open_url(url)
            .with_context(|| format!("opening {}", config::redact(url)))?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // Called from async code on the multi-threaded runtime: connecting (and migrating) is
        // async, so this thread steps out of the runtime's way while it waits.
        let store = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(store_postgres::PgStore::connect(url))
        })
        .context("connecting to PostgreSQL")?;
        return Ok(Arc::new(store));
    }
    // A mistyped scheme is no reason to print the password that follows it.
    bail!(
        "unsupported database URL '{}': use sqlite://PATH or postgres://USER@HOST/DB",
        config::redact(url)
    )
}

async fn find_org(store: &dyn Store, org: &str) -> Result<Organisation> {
    let id: OrgId = org
        .parse()
        .with_context(|| format!("'{org}' is not an organisation id"))?;
    store
        .get_org(id)
        .await?
        .with_context(|| format!("no organisation with id {id}"))
}

async fn create_org(
    store: &dyn Store, clock: &dyn Clock, name: &str, kind: OrgKind,
) -> Result<Organisation> {
    let org = Organisation {
        id: OrgId::new(),
        name: name.to_owned(),
        kind,
        created: clock.now(),
    };
    store.create_org(&org).await?;
    Ok(org)
}

/// mimalloc rather than the system allocator: a request allocates and frees many small
/// buffers, and glibc's malloc took about 7 % of a GET by id (see `bench/analysis.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A failure is the operator's to read: its message and causes, in anyhow's layout, and never
/// a backtrace (even with `RUST_BACKTRACE=1`, which is for panics, the program's own bugs).
fn main() -> std::process::ExitCode {
    match main_result() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", error_report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `Error: MESSAGE`, then `Caused by:` and one indented line per cause.
fn error_report(e: &anyhow::Error) -> String {
    let mut out = format!("Error: {e}");
    let causes: Vec<String> = e.chain().skip(1).map(ToString::to_string).collect();
    if !causes.is_empty() {
        out.push_str("\n\nCaused by:");
        for (i, c) in causes.iter().enumerate() {
            if causes.len() == 1 {
                out.push_str(&format!("\n    {c}"));
            } else {
                out.push_str(&format!("\n    {i}: {c}"));
            }
        }
    }
    out
}

fn main_result() -> Result<()> {
    let (args, loaded) = config::prepare(std::env::args_os().collect())?;
    let cli = Cli::parse_from(args);
    if let Command::Config {
        command: ConfigCommand::Check { serve_args },
    } = &cli.command
    {
        return config::check(&loaded, serve_args);
    }
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SCIMD_LOG").unwrap_or_else(|_| "info".into());
    // Request lines carry the request's span (its id, method and route); bodies, tokens and
    // passwords are never logged.
    match cli.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve {
            listen,
            db,
            public_url,
            mail,
            activity_retention_days,
            event_retention_days,
            run,
        } => {
            let jobs = server::JobConfig {
                retention: time::Duration::days(i64::from(activity_retention_days)),
                event_retention: time::Duration::days(i64::from(event_retention_days)),
                ..server::JobConfig::default()
            };
            serve::serve(listen, &db.database, public_url, clock, &mail, jobs, &run).await
        }
        Command::Org {
            command: OrgCommand::Create { name, kind, db },
        } => {
            let store = open_store(&db.database)?;
            let org = create_org(store.as_ref(), clock.as_ref(), &name, kind).await?;
            println!("{}", org.id);
            Ok(())
        }
        Command::Org {
            command: OrgCommand::List { db },
        } => {
            let store = open_store(&db.database)?;
            for o in store.list_orgs().await? {
                println!("{}\t{}\t{}", o.id, o.kind.as_str(), o.name);
            }
            Ok(())
        }
        Command::Org {
            command:
                OrgCommand::Rename {
                    org,
                    name,
                    kind,
                    db,
                },
        } => admin_cli::org_rename(&db, &org, &name, kind, clock).await,
        Command::Org {
            command: OrgCommand::Require2fa { org, setting, db },
        } => admin_cli::org_require_2fa(&db, &org, setting, clock).await,
        Command::Token {
            command: TokenCommand::Generate { org, db },
        } => {
            let secret = admin_cli::generate(&db, &org, clock).await?;
            println!("{secret}");
            Ok(())
        }
        Command::Token {
            command: TokenCommand::List(a),
        } => admin_cli::token_list(a, clock).await,
        Command::Token {
            command: TokenCommand::Revoke(a),
        } => admin_cli::token_revoke(a, clock).await,
        Command::App { command } => apps_cli::app(command, clock).await,
        Command::Webhook { command } => apps_cli::webhook(command, clock).await,
        Command::Disconnect(a) => admin_cli::disconnect(a, clock).await,
        Command::Admin { command } => admin_cli::admin(command, clock).await,
        Command::Config { .. } => Ok(()),
        Command::Backup { to, db } => {
            let Some(path) = db
                .database
                .strip_prefix("sqlite://")
                .or_else(|| db.database.strip_prefix("sqlite:"))
            else {
                bail!("backup copies SQLite databases; for PostgreSQL use pg_dump");
            };
            let done = store_sqlite::backup::backup(std::path::Path::new(path), &to)
                .map_err(anyhow::Error::msg)?;
            eprintln!(
                "backup written to {} ({} bytes, schema {}), integrity ok",
                to.display(),
                done.bytes,
                done.schema_version
            );
            Ok(())
        }
        Command::Restore { from, to } => {
            let Some(path) = to
                .strip_prefix("sqlite://")
                .or_else(|| to.strip_prefix("sqlite:"))
            else {
                bail!("restore writes a SQLite database: --to sqlite://PATH");
            };
            let done = store_sqlite::backup::restore(&from, std::path::Path::new(path))
                .map_err(anyhow::Error::msg)?;
            eprintln!(
                "restored {} into {to} ({} bytes, schema {}), integrity ok; start: {} serve --database {to}",
                from.display(),
                done.bytes,
                done.schema_version,
                invocation::program()
            );
            Ok(())
        }
        Command::Accounts { command } => directory_cli::accounts(command, clock).await,
        Command::Conflicts { command } => directory_cli::conflicts(command, clock).await,
        Command::AutoMerge(a) => directory_cli::auto_merge(a, clock).await,
        Command::Domain { command } => directory_cli::domain(command, clock).await,
        Command::Roles { command } => roles_cli::roles(command, clock).await,
        Command::Activity(a) => admin_cli::activity(a).await,
        Command::Outbox { command } => admin_cli::outbox(command).await,
        Command::Mail { command } => admin_cli::mail(command).await,
        Command::Import {
            org,
            file,
            generate,
            prefix,
            in_flight,
            quiet,
            db,
        } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let source = match (generate, file) {
                (Some(n), _) => import::Source::Generate { n, prefix },
                (None, Some(f)) => import::Source::Lines(f),
                (None, None) => bail!("give a JSON Lines FILE or --generate N"),
            };
            import::run(store, clock, org.id, source, in_flight, quiet).await?;
            Ok(())
        }
        Command::Copy { from, to } => {
            let source = open_store(&from)
                .with_context(|| format!("the source --from {}", config::redact(&from)))?;
            let target = open_store(&to)
                .with_context(|| format!("the target --to {}", config::redact(&to)))?;
            copy::run(source.as_ref(), target.as_ref()).await
        }
        Command::Migrate { db } => {
            open_store(&db.database)?;
            println!("migrations applied to {}", config::redact(&db.database));
            Ok(())
        }
        Command::Check {
            url,
            token,
            token_file,
        } => {
            let token = check::token(token, token_file.as_deref())?;
            let report = check::run(&url, &token).await;
            for line in &report.lines {
                println!("{line}");
            }
            if report.passed {
                Ok(())
            } else {
                bail!("{url} did not pass")
            }
        }
    }
}
