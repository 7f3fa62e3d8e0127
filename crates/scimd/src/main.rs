//! # scimd
//!
//! The scimd binary: the SCIM 2.0 directory-sync server and the command line that administers
//! it. This is the composition root: it picks the store from the database URL and wires the
//! services to the HTTP front end. The forms in SPEC section 7 ("The scriptable CLI contract")
//! are kept stable for scripts.

mod admin_cli;
mod check;
mod copy;
mod import;
mod mail;

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
}

#[derive(Debug, clap::Args)]
struct DbArgs {
    /// Database URL: sqlite://PATH (embedded default).
    #[arg(long, env = "SCIMD_DATABASE_URL", default_value = DEFAULT_DATABASE)]
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
    },
    /// Stop directory sync for an organisation: revokes every token.
    Disconnect(admin_cli::DisconnectArgs),
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
    /// Test a SCIM endpoint the way an identity provider's "Test Connection" does.
    Check {
        /// The SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2
        url: String,
        /// The bearer token.
        #[arg(long)]
        token: String,
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
        let store =
            store_sqlite::SqliteStore::open_url(url).with_context(|| format!("opening {url}"))?;
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
    bail!("unsupported database URL '{url}': use sqlite://PATH or postgres://USER@HOST/DB")
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
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
    store: &dyn Store,
    clock: &dyn Clock,
    name: &str,
    kind: OrgKind,
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SCIMD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
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
        } => {
            let jobs = server::JobConfig {
                retention: time::Duration::days(i64::from(activity_retention_days)),
                ..server::JobConfig::default()
            };
            serve(listen, &db.database, public_url, clock, &mail, jobs).await
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
        Command::Disconnect(a) => admin_cli::disconnect(a, clock).await,
        Command::Admin { command } => admin_cli::admin(command, clock).await,
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
            let (source, target) = (open_store(&from)?, open_store(&to)?);
            copy::run(source.as_ref(), target.as_ref()).await
        }
        Command::Migrate { db } => {
            open_store(&db.database)?;
            println!("migrations applied to {}", redact_url(&db.database));
            Ok(())
        }
        Command::Check { url, token } => {
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

async fn serve(
    listen: SocketAddr,
    database: &str,
    public_url: Option<String>,
    clock: Arc<dyn Clock>,
    mail: &mail::MailArgs,
    job_config: server::JobConfig,
) -> Result<()> {
    // A mail configuration that cannot work is a start-up error, before anything else.
    let mailer = mail.mailer()?;
    let store = open_store(database)?;
    let orgs = store.list_orgs().await?;
    let first = match orgs.first() {
        Some(o) => o.clone(),
        None => {
            let org = create_org(
                store.as_ref(),
                clock.as_ref(),
                "My Organisation",
                OrgKind::Business,
            )
            .await?;
            tracing::info!(org = %org.id, "created a first organisation");
            org
        }
    };
    let scim = ScimService::new(store.clone(), clock.clone(), ServiceConfig::default());
    let (activity, activity_writer) = server::ActivityWriter::start(store.clone());
    let state = Arc::new(server::AppState::new(scim, public_url.clone()).with_activity(activity));
    if mailer.is_none() {
        eprintln!(
            "SMTP not configured (--smtp-url): notices stay in the outbox (scimd outbox list)"
        );
    }
    let jobs = server::Jobs::start(
        store.clone(),
        directory::notify::Notifier::new(store.clone(), clock.clone()),
        mailer,
        job_config,
    );
    let app = server::router(state);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let local = listener.local_addr()?;
    let base = public_url.unwrap_or_else(|| format!("http://{local}/scim/v2"));
    eprintln!("scimd listening on {local}");
    eprintln!("SCIM base URL: {base}");
    eprintln!(
        "Get a token for {} ({}): scimd token generate --org {} --database {database}",
        first.name, first.id, first.id
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // Requests are done: stop the jobs after their current round, then write the activity
    // entries still queued.
    jobs.stop(std::time::Duration::from_secs(10)).await;
    activity_writer
        .finish(std::time::Duration::from_secs(10))
        .await;
    eprintln!("scimd stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before the server stops.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
