//! Accepting connections: HTTP/1.1 with keep-alive, cut-offs for slow and
//! idle clients, connections dropped on the `close` fault, and a graceful
//! shutdown that lets requests in flight finish.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::{DropConnection, router};
use crate::service::Responder;

/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Starts the responder with `config` and serves until `shutdown` completes.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let responder = Arc::new(Responder::start(config).await?);
    let addr = responder.config().listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| Error::Listen { addr, source })?;
    info!(
        "responder listening on http://{local}{} (database {}, signing with: {})",
        responder.config().path_prefix,
        responder.store().path().display(),
        responder.describe_signers().join("; ")
    );
    run(listener, responder, shutdown).await;
    info!("responder stopped");
    Ok(())
}

/// Serves `responder` on an already bound listener until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    responder: Arc<Responder>,
    shutdown: impl Future<Output = ()>,
) {
    let read_timeout = responder.config().read_timeout;
    let idle_timeout = responder.config().idle_timeout;
    let app = router(responder).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        read_timeout,
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let open = Arc::new(AtomicUsize::new(0));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = Connection { app: app.clone(), read_timeout, idle_timeout, stop: stop_rx.clone(), open: open.clone() };
                    open.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        connection.serve(stream).await;
                        debug!(%peer, "connection closed");
                    });
                }
                // Out of file descriptors and the like: wait, do not spin.
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    wait_for_connections(&open, SHUTDOWN_GRACE).await;
}

/// Waits, at most `grace`, until no connection counted in `open` is left:
/// the end of a graceful shutdown.
pub async fn wait_for_connections(open: &AtomicUsize, grace: Duration) {
    let deadline = Instant::now() + grace;
    while open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Connection {
    app: Router,
    read_timeout: Duration,
    idle_timeout: Duration,
    stop: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
}

/// When the connection last finished a request, and how many are running.
#[derive(Default)]
struct Activity {
    started: Option<Instant>,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Connection {
    async fn serve(mut self, stream: tokio::net::TcpStream) {
        let activity = Arc::new(Activity {
            started: Some(Instant::now()),
            ..Activity::default()
        });
        let app = self.app.clone();
        let tracker = activity.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let app = app.clone();
            let tracker = tracker.clone();
            tracker.in_flight.fetch_add(1, Ordering::SeqCst);
            async move {
                let response = match app.oneshot(request.map(axum::body::Body::new)).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                tracker.touch();
                tracker.in_flight.fetch_sub(1, Ordering::SeqCst);
                if response.extensions().get::<DropConnection>().is_some() {
                    // hyper closes the connection when the service fails.
                    return Err(DroppedOnPurpose);
                }
                Ok::<_, DroppedOnPurpose>(response)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.read_timeout)
            .keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut tick =
            tokio::time::interval((self.idle_timeout / 4).max(Duration::from_millis(100)));
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                _ = tick.tick(), if !closing => {
                    if activity.idle_for() >= self.idle_timeout && activity.in_flight.load(Ordering::SeqCst) == 0 {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
                _ = self.stop.changed(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    fn now_ms(&self) -> u64 {
        self.started.map_or(0, |s| {
            u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX)
        })
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::SeqCst);
    }

    fn idle_for(&self) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last_ms.load(Ordering::SeqCst)),
        )
    }
}

/// The error that makes hyper drop a connection for the `close` fault.
#[derive(Debug)]
struct DroppedOnPurpose;

impl std::fmt::Display for DroppedOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the close fault")
    }
}

impl std::error::Error for DroppedOnPurpose {}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutting down");
}
