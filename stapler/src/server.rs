//! Starting the stapling server: certificates loaded and stapled before
//! the first connection is accepted, then HTTPS until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use labcore::accept::{Component, Handshake, Limits, TrackedIo, connection_cap};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{error, info};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::staple::Slot;
use crate::web::{App, router};

/// Largest request body: the stapler's only POST (`/admin/refresh`) takes none.
const MAX_BODY: usize = 16 * 1024;

/// Runs the stapler until `shutdown` completes.
pub async fn serve(settings: Settings, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let options = &settings.options;
    // Bind first: a port already taken is reported before anything else happens.
    let listener = TcpListener::bind(options.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another process using the port? Pass --listen",
            options.listen
        )
    })?;
    let local = listener.local_addr().context("listening socket")?;
    let admin = match options.admin_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen on {addr}; is another process using the port? Pass --admin-listen"
            )
        })?),
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
        bail!("--strict: {first}");
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
            admin.local_addr().context("admin socket")?
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
async fn wait_for_staples(slots: &[Arc<Slot>], timeout: Duration) -> anyhow::Result<()> {
    if let Some(slot) = slots.iter().find(|s| s.disabled.is_some()) {
        bail!(
            "--require-staple: {} can never be stapled: {}",
            slot.name,
            slot.disabled.as_deref().unwrap_or("")
        );
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
            bail!(
                "--require-staple: no valid OCSP response for {} within {}: {why}",
                first.name,
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
