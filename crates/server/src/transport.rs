//! The listener: accepts connections, over TLS or not, and serves HTTP/1.1 on each, with the
//! bounds a server facing the open internet needs before any request exists.
//!
//! - A client has [`Transport::header_timeout`] to send a request's whole head, counted from
//!   the moment the connection waits for one: that cuts off clients that trickle their headers
//!   a byte at a time (slowloris), and closes keep-alive connections left idle as well.
//! - A head larger than a request line of [`MAX_REQUEST_LINE`] and
//!   [`Transport::max_header_bytes`] of header fields gets 431 and goes no further; the header
//!   fields alone are held to their bound, with the surface's error body, by the request guard.
//! - A TLS handshake has [`Transport::handshake_timeout`].
//! - At most [`Transport::max_connections`] connections are open at once; beyond, a new
//!   connection is closed at once (and counted) while the established ones are served.
//! - On shutdown the listener closes, requests in flight finish (at most
//!   [`Transport::drain_timeout`]), then idle connections are closed.
//!
//! Both listeners share all of it: the TLS one only adds the handshake in front (and closes a
//! connection whose handshake was an ACME TLS-ALPN-01 validation, `crate::acme`).

use crate::tls::Tls;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The longest request line the parser reads (hyper refuses longer URIs anyway).
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Connections the kernel queues before they are accepted (Linux caps it at `somaxconn`).
const LISTEN_BACKLOG: i32 = 4096;

/// The bounds of the listener.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Time a client has to send a whole request head, from when the connection waits for one.
    pub header_timeout: Duration,
    /// Largest total of a request's header fields (the request guard answers 431 beyond; the
    /// parser stops a head past this and [`MAX_REQUEST_LINE`]).
    pub max_header_bytes: usize,
    /// Time a client has to finish a TLS handshake.
    pub handshake_timeout: Duration,
    /// Connections open at once; beyond, new ones are closed on accept.
    pub max_connections: usize,
    /// How long requests in flight may take to finish at shutdown.
    pub drain_timeout: Duration,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            handshake_timeout: Duration::from_secs(10),
            // Well above what one instance is asked to hold, and below the 20,000 open files a
            // stock system allows a process (the databases need some too).
            max_connections: 16_384,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` (HTTPS when `tls` is given) until `shutdown` resolves, then
/// drains. Every request carries the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: std::net::TcpListener, app: Router, tls: Option<Tls>, transport: Transport,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    // A deep accept queue: the standard library listens with 128, and a burst of connections
    // past it waits for SYN retransmissions (a second or more each) before reaching accept.
    socket2::SockRef::from(&listener).listen(LISTEN_BACKLOG)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let open = Arc::new(Semaphore::new(transport.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // Long request lines still parse, so an over-long path gets its proper 4xx from the router.
    let max_head = transport.max_header_bytes + MAX_REQUEST_LINE;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(transport.header_timeout)
        .max_buf_size(max_head + 8192)
        .max_header_size(max_head)
        .keep_alive(true);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    metrics::counter!("scimd_connections_refused_total", "reason" => "accept")
                        .increment(1);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics::counter!("scimd_connections_refused_total", "reason" => "limit").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            },
        ));
        let http = http.clone();
        let watcher = graceful.watcher();
        let acceptor = tls.as_ref().map(Tls::acceptor);
        let handshake_timeout = transport.handshake_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let served =
                match acceptor {
                    None => {
                        let conn = http.serve_connection(TokioIo::new(stream), service);
                        watcher.watch(conn).await
                    }
                    Some(acceptor) => {
                        let stream =
                            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                        // A TLS-ALPN-01 validation ends with its handshake (RFC 8737, section
                        // 3): no HTTP on that connection.
                        if stream.get_ref().1.alpn_protocol() == Some(crate::tls::ACME_TLS_ALPN) {
                            tracing::debug!(%peer, "answered a TLS-ALPN-01 validation");
                            return;
                        }
                        let conn = http.serve_connection(TokioIo::new(stream), service);
                        watcher.watch(conn).await
                    }
                };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(transport.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running at shutdown were cut off");
    }
    Ok(())
}
