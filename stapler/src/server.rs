//! Starting the stapling server: certificates loaded and stapled before
//! the first connection is accepted, then HTTPS until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, error, info, warn};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::staple::Slot;
use crate::web::{App, Peer, router};

/// How long a client may take to finish its TLS handshake or send request headers.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

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

    tokio::pin!(shutdown);
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let tls = tls.clone();
                    let routes = routes.clone();
                    let mut stop = stop_rx.clone();
                    let open = open.clone();
                    open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(async move {
                        match tokio::time::timeout(CLIENT_TIMEOUT, tls.accept(stream)).await {
                            Ok(Ok(stream)) => serve_connection(stream, peer, routes, &mut stop).await,
                            Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => debug!(%peer, "TLS handshake timed out"),
                        }
                        open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    });
                }
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
    responder::server::wait_for_connections(&open, CLIENT_TIMEOUT).await;
    info!("stapler stopped");
    Ok(())
}

async fn serve_connection(
    stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    peer: std::net::SocketAddr,
    routes: axum::Router,
    stop: &mut watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(Peer(peer));
        routes.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection error");
            }
        }
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
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
