//! Starting the responder: the database opened, then the shared accept loop
//! ([`labcore::accept`]) until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use labcore::accept::{Component, Limits, Plain, connection_cap};
use tokio::net::TcpListener;
use tracing::info;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::router;
use crate::stack::Responder;

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
        responder.store().database(),
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
    let config = responder.config();
    let limits = Limits {
        read_timeout: config.read_timeout,
        idle_timeout: config.idle_timeout,
        max_connections: connection_cap(config.max_connections.map(|n| n as usize)),
        max_body: config.max_request_bytes,
        shutdown_grace: SHUTDOWN_GRACE,
    };
    info!(
        "up to {} connections at once (--max-connections)",
        limits.max_connections
    );
    labcore::accept::serve(
        listener,
        router(responder),
        Plain,
        limits,
        Component::Responder,
        shutdown,
    )
    .await;
}
