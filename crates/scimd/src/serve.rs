//! `scimd serve`: the listeners (public, and the console's own when asked), TLS and ACME,
//! the background jobs, and a graceful stop on a signal.

use super::*;

/// The console's origin for links: `--console-url`, else its own listener's, else the public
/// URL's origin or the listener's.
pub(crate) fn console_origin(
    console_url: Option<&str>, console_listen: Option<SocketAddr>, public_url: Option<&str>,
    listen: SocketAddr,
) -> String {
    match (console_url, console_listen) {
        (Some(u), _) => u.trim_end_matches('/').to_owned(),
        (None, Some(addr)) => format!("http://{addr}"),
        (None, None) => server::console::origin(public_url, listen),
    }
}

/// Refuses a console listener that would carry sign-ins unencrypted across a network, unless
/// the operator said so.
pub(crate) fn check_console_listen(addr: SocketAddr, allowed: bool) -> Result<()> {
    if addr.ip().is_loopback() || allowed {
        return Ok(());
    }
    bail!(
        "--console-listen {addr} is not a loopback address, and the console listener serves plain \
         HTTP: passwords and session cookies would cross the network unencrypted. Listen on \
         127.0.0.1 (reach it through an SSH tunnel or a TLS-terminating proxy on this host), or \
         add --allow-plain-console when a TLS proxy or a private network is in front of it"
    )
}

pub(crate) async fn serve(
    listen: SocketAddr, database: &str, public_url: Option<String>, clock: Arc<dyn Clock>,
    mail: &mail::MailArgs, job_config: server::JobConfig, run: &RunArgs,
) -> Result<()> {
    if let Some(addr) = run.console_listen {
        check_console_listen(addr, run.allow_plain_console)?;
    }
    let deploy = &run.deploy;
    let (tls, acme) = match (&run.tls_cert, &run.tls_key, deploy.acme(database)?) {
        (Some(cert), Some(key), _) => (
            Some(server::tls::Tls::load(cert, key).map_err(anyhow::Error::msg)?),
            None,
        ),
        (_, _, Some((acme, tls))) => (Some(tls), Some(acme)),
        _ => (None, None),
    };
    let backups = deploy.backups(database)?;
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
    let mut state = server::AppState::new(scim, public_url.clone())
        .with_activity(activity)
        .with_read_cache(run.read_cache_entries)
        .with_ops(run.ops())
        .with_https(tls.is_some())
        .with_mailer(mailer.clone())
        .with_backups(backups.as_ref().map(|b| b.status.clone()));
    let hooks = Arc::new(
        server::webhooks::Sender::new(run.allow_private_webhooks).map_err(anyhow::Error::msg)?,
    );
    if hooks.allows_private() {
        eprintln!(
            "webhooks may be delivered to loopback and private addresses (--allow-private-webhooks)"
        );
    }
    state = state.with_webhooks(hooks.clone());
    match server::dns::resolver(&run.dns_servers) {
        Ok(dns) => state = state.with_dns(Arc::new(dns)),
        Err(e) => eprintln!("no DNS resolver ({e}): domains cannot be verified by lookup"),
    }
    let directory = state.directory.clone();
    let state = Arc::new(state);
    {
        // Limiter keys of tokens and addresses gone quiet are forgotten now and then.
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                state.ops.shrink();
            }
        });
    }
    if mailer.is_none() {
        eprintln!(
            "SMTP not configured (--smtp-url): notices stay in the outbox ({} outbox list)",
            invocation::program()
        );
    }
    let webhooks = server::webhooks::Worker::start(
        store.clone(),
        clock.clone(),
        hooks,
        server::webhooks::WorkerConfig::default(),
    );
    let jobs = server::Jobs::start(
        store.clone(),
        clock.clone(),
        directory::notify::Notifier::new(store.clone(), clock.clone()),
        directory,
        mailer.clone(),
        job_config,
    );
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let console_listener = match run.console_listen {
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .with_context(|| format!("binding the console listener {addr}"))?;
            l.set_nonblocking(true)?;
            Some(l)
        }
        None => None,
    };
    let console_local = console_listener
        .as_ref()
        .map(std::net::TcpListener::local_addr)
        .transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let console = match (&run.console_url, console_local, public_url.as_deref()) {
        (None, None, None) => format!("{scheme}://{local}"),
        _ => console_origin(
            run.console_url.as_deref(),
            console_local,
            public_url.as_deref(),
            local,
        ),
    };
    let _ = state.console_origin.set(console.clone());
    let base = public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local}/scim/v2"));
    let _ = state.scim_base.set(base.clone());
    eprintln!("Console: {console}/");
    if let Some(link) = server::console::first_run_link(&state, first.id, &console).await? {
        eprintln!(
            "Create the first administrator of {} with this one-time link: {link}",
            first.name
        );
    }
    eprintln!("scimd listening on {local}");
    if let Some(c) = console_local {
        eprintln!("scimd console listening on {c} (plain HTTP)");
        eprintln!(
            "{local} answers SCIM, the application API and health only; the console and the \
             administrators' API are on {c}"
        );
    }
    if run.tls_cert.is_some() {
        eprintln!("HTTPS (TLS 1.2 and 1.3); send SIGHUP to reload the certificate");
    }
    eprintln!("SCIM base URL: {base}");
    eprintln!(
        "Get a token for {} ({}): {} token generate --org {} --database {}",
        first.name,
        first.id,
        invocation::program(),
        first.id,
        config::redact(database)
    );
    if let Some(tls) = &tls {
        tls.reload_on_sighup();
    }
    // The listener is bound: the authority's validation connections queue until it serves.
    if let Some(acme) = acme {
        eprintln!(
            "ACME: certificates for {} from {}",
            deploy.acme_domains.join(", "),
            deploy.acme_directory
        );
        acme.with_mailer(mailer).start();
    }
    if let Some(b) = backups {
        b.start();
    }
    let stop = {
        let state = state.clone();
        async move {
            shutdown_signal().await;
            // Events requests waiting for an event answer now instead of holding the drain.
            state.stop_waiting();
        }
    };
    match console_listener {
        None => {
            let app = server::router(state.clone());
            server::transport::serve(listener, app, tls, run.transport(), stop).await?;
        }
        Some(console_listener) => {
            // One shutdown signal stops both listeners; each drains its own requests.
            let (tx, rx) = tokio::sync::watch::channel(false);
            let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            let public = server::transport::serve(
                listener,
                server::router_for(state.clone(), server::Surface::Public),
                tls,
                run.transport(),
                stopped(rx.clone()),
            );
            let console = server::transport::serve(
                console_listener,
                server::router_for(state.clone(), server::Surface::Console),
                None,
                run.transport(),
                stopped(rx),
            );
            let signal = async move {
                stop.await;
                let _ = tx.send(true);
            };
            let (a, b, ()) = tokio::join!(public, console, signal);
            a?;
            b?;
        }
    }
    // Requests are done: deliveries in flight finish and give their leases up, the jobs stop
    // after their current round, then the activity entries still queued are written.
    webhooks.stop(std::time::Duration::from_secs(20)).await;
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
