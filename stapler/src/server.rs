//! Starting the stapling server: certificates loaded and stapled before
//! the first connection is accepted, then HTTPS until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use labcore::accept::{Component, Handshake, Limits, TrackedIo, connection_cap};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{error, info};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::setup::SetupError;
use crate::staple::Slot;
use crate::web::{App, router};

/// Largest request body: the stapler's only POST (`/admin/refresh`) takes none.
const MAX_BODY: usize = 16 * 1024;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listening address is taken or not ours.
    #[error("cannot listen on {addr}; is another process using the port? Pass {flag}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The flag that sets it.
        flag: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A bound socket cannot say its address.
    #[error("{what}")]
    Socket {
        /// Which socket.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A certificate cannot be served.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// `--strict` and a certificate cannot be stapled.
    #[error("--strict: {0}")]
    Strict(String),
    /// `--require-staple` and a certificate can never be stapled.
    #[error("--require-staple: {name} can never be stapled: {reason}")]
    NeverStapled {
        /// The certificate.
        name: String,
        /// Why.
        reason: String,
    },
    /// `--require-staple` and no valid response came in time.
    #[error("--require-staple: no valid OCSP response for {name} within {within}: {why}")]
    NoStapleInTime {
        /// The certificate.
        name: String,
        /// The timeout, for people.
        within: String,
        /// The last error.
        why: String,
    },
    /// The TLS configuration.
    #[error(transparent)]
    Tls(#[from] rustls::Error),
}

async fn bind(addr: SocketAddr, flag: &'static str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, flag, source })
}

fn local_addr(listener: &TcpListener, what: &'static str) -> Result<SocketAddr, ServeError> {
    listener
        .local_addr()
        .map_err(|source| ServeError::Socket { what, source })
}

/// Runs the stapler until `shutdown` completes.
pub async fn serve(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let settings = Arc::new(settings);
    let options = &settings.options;
    // Bind first: a port already taken is reported before anything else happens.
    let listener = bind(options.listen, "--listen").await?;
    let local = local_addr(&listener, "listening socket")?;
    let admin = match options.admin_listen {
        Some(addr) => Some(bind(addr, "--admin-listen").await?),
        None => None,
    };

    let metrics = Arc::new(Metrics::default());
    let mut slots = Vec::new();
    let mut problems = Vec::new();
    for config in &settings.certificates {
        let (slot, problem) = Slot::prepare(config, settings.clone(), metrics.clone()).await?;
        if let Some(problem) = problem {
            error!("{}", problem.0);
            problems.push(problem.0);
        }
        slots.push(slot);
    }
    if options.strict
        && let Some(first) = problems.first()
    {
        return Err(ServeError::Strict(first.clone()));
    }

    // Staple before serving: the first handshake already carries a staple when the responder is up.
    let mut fetches = tokio::task::JoinSet::new();
    for slot in &slots {
        let slot = slot.clone();
        fetches.spawn(async move { slot.fetch_now().await });
    }
    while fetches.join_next().await.is_some() {}
    let (stop_tx, stop_rx) = watch::channel(false);
    for slot in &slots {
        tokio::spawn(slot.clone().run(stop_rx.clone()));
    }
    if options.require_staple {
        wait_for_staples(&slots, options.require_staple_timeout).await?;
    }

    let tls = TlsAcceptor::from(Arc::new(crate::tls::server_config(slots.clone())?));
    let app = Arc::new(App {
        slots: slots.clone(),
        metrics,
        // A round under way, then the one asked for.
        refresh_wait: options.fetch_timeout * 2 + Duration::from_secs(2),
        require_staple: options.require_staple,
    });
    if let Some(admin) = admin {
        info!(
            "admin listener on http://{}/",
            local_addr(&admin, "admin socket")?
        );
        tokio::spawn(crate::web::serve_admin(admin, app.clone(), stop_rx.clone()));
    }
    let routes = router(app);
    for slot in &slots {
        let status = slot.status();
        let staple = status.staple.as_ref().map_or("no staple".to_string(), |s| {
            format!("staple {} until {}", s.status, s.next_update)
        });
        info!(certificate = %slot.name, file = %status.file, "{staple}");
    }
    info!(
        "stapler listening on https://{local}/ ({} certificate(s))",
        slots.len()
    );

    let limits = Limits {
        read_timeout: options.read_timeout,
        idle_timeout: options.idle_timeout,
        max_connections: connection_cap(options.max_connections.map(|n| n as usize)),
        max_body: MAX_BODY,
        shutdown_grace: options.read_timeout,
    };
    info!(
        "up to {} connections at once (--max-connections)",
        limits.max_connections
    );
    labcore::accept::serve(
        listener,
        routes,
        Tls(tls),
        limits,
        Component::Stapler,
        shutdown,
    )
    .await;
    // The background refreshes stop with the server.
    let _ = stop_tx.send(true);
    info!("stapler stopped");
    Ok(())
}

/// The TLS handshake, bounded by the accept loop's read timeout.
#[derive(Clone)]
struct Tls(TlsAcceptor);

impl Handshake for Tls {
    type Stream = tokio_rustls::server::TlsStream<TrackedIo>;
    fn handshake(
        &self,
        io: TrackedIo,
    ) -> impl Future<Output = std::io::Result<Self::Stream>> + Send {
        self.0.accept(io)
    }
}

/// `--require-staple`: every certificate must hold a valid staple before connections are accepted.
async fn wait_for_staples(slots: &[Arc<Slot>], timeout: Duration) -> Result<(), ServeError> {
    if let Some((slot, reason)) = slots
        .iter()
        .find_map(|s| s.off_reason().map(|reason| (s, reason)))
    {
        return Err(ServeError::NeverStapled {
            name: slot.name.clone(),
            reason,
        });
    }
    let deadline = Instant::now() + timeout;
    loop {
        let missing: Vec<&Arc<Slot>> = slots.iter().filter(|s| !s.has_valid_staple()).collect();
        let Some(first) = missing.first() else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            let why = first
                .status()
                .last_error
                .unwrap_or_else(|| "no response yet".into());
            return Err(ServeError::NoStapleInTime {
                name: first.name.clone(),
                within: humantime::format_duration(timeout).to_string(),
                why,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
