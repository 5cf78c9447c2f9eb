//! The accept loop both servers share (the responder over HTTP, the stapler
//! over HTTPS): HTTP/1.1 with keep-alive, one deadline for each request's
//! headers and body (and for the TLS handshake), a separate idle timeout, a
//! cap on open connections that closes the oldest idle or slow connection
//! first when full, bodies over the limit refused before `100 Continue`,
//! memory handed back after a crowd of connections went away, and a
//! graceful shutdown that lets requests in flight finish (on
//! [`shutdown_signal`] in the binaries).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::{Service, ServiceExt};

use crate::resources;

/// File descriptors kept free for everything but client connections
/// (database, certificate and cache files, outgoing fetches, logs).
pub const RESERVED_FILES: u64 = 64;

/// How long after the request deadline a connection reading a body is dropped, so that
/// its `408` goes out first.
const BODY_GRACE: Duration = Duration::from_millis(500);

/// Which server runs the loop: its log lines carry its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// The OCSP responder.
    Responder,
    /// The stapling TLS server.
    Stapler,
}

/// Logs under the component's own target (tracing needs a constant target).
macro_rules! log {
    ($component:expr, $level:ident, $($arg:tt)+) => {
        match $component {
            Component::Responder => tracing::$level!(target: "responder::server", $($arg)+),
            Component::Stapler => tracing::$level!(target: "stapler::server", $($arg)+),
        }
    };
}

/// What each connection may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time for a whole request (headers and body), and for a TLS handshake.
    pub read_timeout: Duration,
    /// Time an idle keep-alive connection is kept open.
    pub idle_timeout: Duration,
    /// Connections open at once; when full, the oldest idle or slow one is closed.
    pub max_connections: usize,
    /// Largest request body; larger ones get 413 (before `100 Continue`).
    pub max_body: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

/// The address of the client of a request (set for every request).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Marks a response whose connection must be dropped unanswered (the
/// responder's `close` fault): a handler inserts it into the response's
/// extensions, and the loop closes the connection instead of answering.
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

/// What the loop serves: a tower service (an axum `Router`, for one) that
/// takes the request with its body read in full and never fails. Its body
/// type also carries the loop's own plain-text refusals (413, 408, 400).
pub trait App:
    Service<
        Request<Full<Bytes>>,
        Response = Response<<Self as App>::Body>,
        Error = Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static
{
    /// The response body.
    type Body: http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + From<String>
        + Send
        + 'static;
}

impl<S, B> App for S
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static,
    B: http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + From<String>
        + Send
        + 'static,
{
    type Body = B;
}

/// What turns an accepted TCP stream into the stream HTTP runs on (TLS for the stapler).
pub trait Handshake: Clone + Send + Sync + 'static {
    /// The stream after the handshake.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Runs the handshake; the accept loop bounds it by `read_timeout`.
    fn handshake(&self, io: TrackedIo) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// Whether there is a handshake at all (plain HTTP has none).
    fn is_plain(&self) -> bool {
        false
    }
}

/// Plain HTTP: no handshake.
#[derive(Clone, Copy, Debug)]
pub struct Plain;

impl Handshake for Plain {
    type Stream = TrackedIo;
    async fn handshake(&self, io: TrackedIo) -> io::Result<TrackedIo> {
        Ok(io)
    }
    fn is_plain(&self) -> bool {
        true
    }
}

// ------------------------------------------------------------ connection state

/// Where a connection is in its life; what its deadline is and whether it may be closed
/// to make room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// TLS handshake under way (deadline: read timeout).
    Handshake,
    /// A request is arriving, headers or body (deadline: read timeout).
    Reading,
    /// Headers are in, the body is being read (deadline: read timeout, and a moment for
    /// the 408 to go out first).
    Body,
    /// The request is being answered (no deadline, never closed to make room).
    Handling,
    /// Between requests (deadline: idle timeout).
    Idle,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Handshake,
            1 => Phase::Reading,
            2 => Phase::Body,
            3 => Phase::Handling,
            _ => Phase::Idle,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Phase::Handshake => 0,
            Phase::Reading => 1,
            Phase::Body => 2,
            Phase::Handling => 3,
            Phase::Idle => 4,
        }
    }
}

/// When a connection in `phase` since `since` must be closed; `None`: no deadline.
pub fn deadline(phase: Phase, since: Duration, limits: &Limits) -> Option<Duration> {
    match phase {
        Phase::Handshake | Phase::Reading => Some(since + limits.read_timeout),
        Phase::Body => Some(since + limits.read_timeout + BODY_GRACE),
        Phase::Idle => Some(since + limits.idle_timeout),
        Phase::Handling => None,
    }
}

/// The connection to close to make room: the one idle the longest, else the one
/// whose handshake or request started first. Never one being answered, nor one
/// already closing.
pub fn pick_victim(connections: impl IntoIterator<Item = (u64, Phase, Duration)>) -> Option<u64> {
    let mut idle: Option<(Duration, u64)> = None;
    let mut slow: Option<(Duration, u64)> = None;
    for (id, phase, since) in connections {
        let slot = match phase {
            Phase::Idle => &mut idle,
            Phase::Handshake | Phase::Reading | Phase::Body => &mut slow,
            Phase::Handling => continue,
        };
        if slot.is_none_or(|(best, best_id)| (since, id) < (best, best_id)) {
            *slot = Some((since, id));
        }
    }
    idle.or(slow).map(|(_, id)| id)
}

/// Whether to hand freed memory back to the system: the number of open
/// connections fell to an eighth of the peak since the last time, and that peak was a crowd.
pub fn should_trim(peak: usize, open: usize) -> bool {
    peak >= 64 && open <= peak / 8
}

/// The connection cap: `configured`, else derived from the open-file limit, which is
/// first raised to its hard limit.
pub fn connection_cap(configured: Option<usize>) -> usize {
    let open_files = resources::raise_open_file_limit();
    configured
        .unwrap_or_else(|| default_max_connections(open_files.unwrap_or(1024)))
        .max(1)
}

/// The default connection cap for an open-file limit.
pub fn default_max_connections(open_files: u64) -> usize {
    let usable = open_files.saturating_sub(RESERVED_FILES).max(16);
    usize::try_from(usable).unwrap_or(usize::MAX)
}

/// A monotonic clock shared by all connections, as a duration since the first use.
fn now() -> Duration {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed()
}

/// A connection's phase, when it began, and whether it was told to close.
#[derive(Debug)]
pub struct Activity {
    phase: AtomicU8,
    since_ms: AtomicU64,
    closing: AtomicBool,
    close: Notify,
}

impl Activity {
    fn new(phase: Phase) -> Self {
        let activity = Activity {
            phase: AtomicU8::new(phase.as_u8()),
            since_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            close: Notify::new(),
        };
        activity.set(phase);
        activity
    }

    fn set(&self, phase: Phase) {
        let ms = u64::try_from(now().as_millis()).unwrap_or(u64::MAX);
        self.since_ms.store(ms, Ordering::SeqCst);
        self.phase.store(phase.as_u8(), Ordering::SeqCst);
    }

    fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::SeqCst))
    }

    fn since(&self) -> Duration {
        Duration::from_millis(self.since_ms.load(Ordering::SeqCst))
    }

    /// Bytes arrived: an idle connection starts a request.
    fn bytes_arrived(&self) {
        if self.phase() == Phase::Idle {
            self.set(Phase::Reading);
        }
    }
}

/// The TCP stream of a connection, noting when the bytes of a new request arrive.
#[derive(Debug)]
pub struct TrackedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

// ------------------------------------------------------------ the registry

/// The open connections, by accept order.
#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Arc<Activity>>,
    /// Connections told to close that have not closed yet.
    closing: usize,
    /// Most connections open at once since memory was last handed back.
    peak: usize,
}

#[derive(Debug, Default)]
struct Connections {
    registry: Mutex<Registry>,
    /// Signalled whenever a connection ends.
    ended: Notify,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        crate::sync::lock(&self.registry)
    }

    fn add(self: &Arc<Self>, activity: Arc<Activity>) -> Registration {
        let mut registry = self.lock();
        let id = registry.next_id;
        registry.next_id += 1;
        registry.open.insert(id, activity);
        registry.peak = registry.peak.max(registry.open.len());
        Registration {
            id,
            connections: self.clone(),
        }
    }

    fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Below the cap, counting those already closing as gone: tells one more to close if needed.
    /// `true` when a connection was told to close.
    fn make_room(&self, cap: usize) -> bool {
        let mut registry = self.lock();
        if registry.open.len().saturating_sub(registry.closing) < cap {
            return false;
        }
        let candidates = registry
            .open
            .iter()
            .filter(|(_, a)| !a.closing.load(Ordering::SeqCst))
            .map(|(&id, a)| (id, a.phase(), a.since()));
        let Some(victim) = pick_victim(candidates) else {
            return false;
        };
        if let Some(activity) = registry.open.get(&victim).cloned() {
            activity.closing.store(true, Ordering::SeqCst);
            activity.close.notify_one();
            registry.closing += 1;
            return true;
        }
        false
    }
}

/// Removes a connection from the registry when its task ends, however it ends.
struct Registration {
    id: u64,
    connections: Arc<Connections>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let trim = {
            let mut registry = self.connections.lock();
            if let Some(activity) = registry.open.remove(&self.id)
                && activity.closing.load(Ordering::SeqCst)
            {
                registry.closing = registry.closing.saturating_sub(1);
            }
            let trim = should_trim(registry.peak, registry.open.len());
            if trim {
                registry.peak = registry.open.len();
            }
            trim
        };
        self.connections.ended.notify_one();
        if trim {
            // Off the runtime's threads when there is one: trimming walks every arena.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn_blocking(resources::give_back);
                }
                Err(_) => resources::give_back(),
            }
        }
    }
}

// ------------------------------------------------------------ the loop

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish
/// (at most `limits.shutdown_grace`).
pub async fn serve<A: App, H: Handshake>(
    listener: TcpListener,
    app: A,
    handshake: H,
    limits: Limits,
    component: Component,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let connections = Arc::new(Connections::default());
    let cap = limits.max_connections.max(1);
    let mut last_full_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    'accepting: loop {
        // Make room before accepting: the next connection needs a file descriptor.
        while connections.len() >= cap {
            if connections.make_room(cap)
                && last_full_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
            {
                log!(
                    component,
                    warn,
                    "{cap} connections open (--max-connections): closing the oldest idle or slow ones to serve new clients"
                );
                last_full_warning = Some(Instant::now());
            }
            tokio::select! {
                () = connections.ended.notified() => {}
                // Every connection is being answered: look again soon.
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                () = &mut shutdown => break 'accepting,
            }
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let first = if handshake.is_plain() { Phase::Reading } else { Phase::Handshake };
                    let activity = Arc::new(Activity::new(first));
                    let registration = connections.add(activity.clone());
                    let connection = Connection {
                        app: app.clone(),
                        limits,
                        peer,
                        activity,
                        stop: stop_rx.clone(),
                        component,
                    };
                    let handshake = handshake.clone();
                    tokio::spawn(async move {
                        connection.run(stream, handshake).await;
                        drop(registration);
                    });
                }
                // Out of file descriptors and the like: wait, do not spin.
                Err(e) => {
                    log!(component, warn, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    log!(component, info, "shutting down");
    drop(listener);
    let _ = stop_tx.send(true);
    let end = Instant::now() + limits.shutdown_grace;
    while connections.len() > 0 && Instant::now() < end {
        tokio::select! {
            () = connections.ended.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT): the `shutdown` of [`serve`]
/// for the servers' binaries.
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
}

struct Connection<A> {
    app: A,
    limits: Limits,
    peer: SocketAddr,
    activity: Arc<Activity>,
    stop: watch::Receiver<bool>,
    component: Component,
}

/// How waiting for something on a connection ended.
enum Interrupt {
    /// Its deadline passed.
    Deadline,
    /// It was told to close to make room.
    Evicted,
    /// The server is shutting down.
    Stop,
}

impl<A: App> Connection<A> {
    /// Completes when the connection's deadline passes, it is told to close, or the server stops.
    async fn interrupted(
        activity: &Activity,
        limits: &Limits,
        stop: &mut watch::Receiver<bool>,
        stopping: bool,
    ) -> Interrupt {
        loop {
            let wake = deadline(activity.phase(), activity.since(), limits);
            let sleep = async {
                match wake {
                    // The phase may have moved on meanwhile: look again then.
                    Some(at) => tokio::time::sleep(at.saturating_sub(now())).await,
                    None => tokio::time::sleep(limits.read_timeout).await,
                }
            };
            tokio::select! {
                () = sleep => {
                    let current = deadline(activity.phase(), activity.since(), limits);
                    if current.is_some_and(|at| at <= now()) {
                        return Interrupt::Deadline;
                    }
                }
                () = activity.close.notified() => return Interrupt::Evicted,
                changed = stop.changed(), if !stopping => {
                    if changed.is_err() || *stop.borrow() {
                        return Interrupt::Stop;
                    }
                }
            }
        }
    }

    async fn run<H: Handshake>(mut self, tcp: TcpStream, handshake: H) {
        let component = self.component;
        let peer = self.peer;
        let io = TrackedIo {
            inner: tcp,
            activity: self.activity.clone(),
        };
        let stream = if handshake.is_plain() {
            match handshake.handshake(io).await {
                Ok(stream) => stream,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                done = handshake.handshake(io) => match done {
                    Ok(stream) => stream,
                    Err(e) => {
                        log!(component, debug, %peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
                why = Self::interrupted(&self.activity, &self.limits, &mut self.stop, false) => {
                    if matches!(why, Interrupt::Deadline) {
                        log!(component, debug, %peer, "TLS handshake timed out");
                    }
                    return;
                }
            }
        };
        if !handshake.is_plain() {
            self.activity.set(Phase::Reading);
        }
        self.serve_http(stream).await;
        log!(component, debug, %peer, "connection closed");
    }

    async fn serve_http<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(mut self, stream: S) {
        let component = self.component;
        let peer = self.peer;
        let app = self.app.clone();
        let activity = self.activity.clone();
        let limits = self.limits;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let app = app.clone();
            let activity = activity.clone();
            async move { answer(app, request, peer, &activity, &limits).await }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The request deadline is enforced here, not by hyper's header timeout, which
        // would also count the idle time between requests.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        log!(component, debug, %peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                why = Self::interrupted(&self.activity, &self.limits, &mut self.stop, stopping) => match why {
                    Interrupt::Deadline if self.activity.phase() == Phase::Idle => {
                        log!(component, debug, %peer, "idle timeout");
                        return;
                    }
                    Interrupt::Deadline => {
                        log!(component, debug, %peer, "request not received within the read timeout: connection closed");
                        return;
                    }
                    Interrupt::Evicted => {
                        log!(component, debug, %peer, "closed to make room for new connections");
                        return;
                    }
                    Interrupt::Stop => {
                        connection.as_mut().graceful_shutdown();
                        stopping = true;
                    }
                },
            }
        }
    }
}

/// Reads the body of a request within the request's deadline and the size limit, then
/// hands it to the routes.
async fn answer<A: App>(
    app: A,
    request: Request<Incoming>,
    peer: SocketAddr,
    activity: &Activity,
    limits: &Limits,
) -> Result<Response<A::Body>, DroppedOnPurpose> {
    // Pipelined requests arrive without new bytes: they start here.
    if activity.phase() == Phase::Idle {
        activity.set(Phase::Reading);
    }
    let started = activity.since();
    // Keep the request's start: the deadline covers headers and body together.
    activity.phase.store(Phase::Body.as_u8(), Ordering::SeqCst);
    let (mut parts, body) = request.into_parts();
    if declared_length(&parts.headers).is_some_and(|len| len > limits.max_body as u64) {
        // Unread, the body makes hyper answer `Expect: 100-continue` with this, not `100 Continue`.
        activity.set(Phase::Idle);
        return Ok(too_large(limits.max_body));
    }
    let left = (started + limits.read_timeout).saturating_sub(now());
    let body = match tokio::time::timeout(left, Limited::new(body, limits.max_body).collect()).await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            activity.set(Phase::Idle);
            return Ok(too_large(limits.max_body));
        }
        Ok(Err(e)) => {
            activity.set(Phase::Idle);
            return Ok(closing(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}\n"),
            ));
        }
        Err(_) => {
            activity.set(Phase::Idle);
            return Ok(closing(
                StatusCode::REQUEST_TIMEOUT,
                "request not received within the read timeout\n".into(),
            ));
        }
    };
    activity.set(Phase::Handling);
    parts.extensions.insert(Peer(peer));
    let request = Request::from_parts(parts, Full::new(body));
    let response = match app.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    activity.set(Phase::Idle);
    if response.extensions().get::<DropConnection>().is_some() {
        // hyper closes the connection when the service fails.
        return Err(DroppedOnPurpose);
    }
    Ok(response)
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large<B: From<String>>(max: usize) -> Response<B> {
    closing(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body over {max} bytes\n"),
    )
}

/// A plain-text answer after which the connection is closed (its body may be half read).
fn closing<B: From<String>>(status: StatusCode, text: String) -> Response<B> {
    let mut response = Response::new(B::from(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The error that makes hyper drop a connection for the `close` fault.
#[derive(Debug)]
pub struct DroppedOnPurpose;

impl std::fmt::Display for DroppedOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the close fault")
    }
}

impl std::error::Error for DroppedOnPurpose {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_longest_idle_connection_is_closed_first() {
        let victim = pick_victim([
            (1, Phase::Reading, ms(10)),
            (2, Phase::Idle, ms(300)),
            (3, Phase::Idle, ms(200)),
            (4, Phase::Handling, ms(0)),
        ]);
        assert_eq!(victim, Some(3));
    }

    #[test]
    fn without_idle_connections_the_oldest_slow_request_is_closed() {
        let victim = pick_victim([
            (1, Phase::Handling, ms(0)),
            (2, Phase::Body, ms(500)),
            (3, Phase::Handshake, ms(100)),
            (4, Phase::Reading, ms(900)),
        ]);
        assert_eq!(victim, Some(3));
    }

    #[test]
    fn connections_being_answered_are_never_closed_to_make_room() {
        assert_eq!(
            pick_victim([(1, Phase::Handling, ms(0)), (2, Phase::Handling, ms(5))]),
            None
        );
    }

    #[test]
    fn deadlines_follow_the_phase() {
        let limits = Limits {
            read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10,
            max_body: 10,
            shutdown_grace: Duration::from_secs(1),
        };
        let since = Duration::from_secs(5);
        assert_eq!(
            deadline(Phase::Reading, since, &limits),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            deadline(Phase::Handshake, since, &limits),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            deadline(Phase::Idle, since, &limits),
            Some(Duration::from_secs(65))
        );
        assert_eq!(deadline(Phase::Handling, since, &limits), None);
    }

    #[test]
    fn memory_is_handed_back_once_a_crowd_has_left() {
        assert!(should_trim(2000, 3));
        assert!(!should_trim(2000, 1000));
        assert!(!should_trim(10, 0), "a handful of connections is no crowd");
    }

    #[test]
    fn the_cap_leaves_room_for_files() {
        assert_eq!(default_max_connections(1024), 960);
        assert_eq!(default_max_connections(20), 16);
    }
}
