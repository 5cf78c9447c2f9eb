//! The HTTP layer of the responder (RFC 6960 Appendix A, RFC 5019 §5): the
//! only place that decodes HTTP requests and builds HTTP headers. GET and
//! POST OCSP requests under the path prefix, the CA certificates at the CA
//! Issuers URLs, `/health` and `/metrics`. Answers that anyone may reuse are
//! kept prepared (headers and body) by the raw request, the GET path or the
//! POST body, so that a repeated request costs a hash lookup.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use labcore::accept::DropConnection;
use labcore::media::{OCSP_REQUEST, OCSP_RESPONSE, OPENMETRICS_TEXT, PKIX_CERT, PKIX_CRL};
use prometheus_client::metrics::counter::Counter;
use quick_cache::Weighter;
use sha2::Digest;
use tracing::debug;

use crate::cache::{TYPICAL_ENTRY, entry_weight};
use crate::directory::DirectoryId;
use crate::error::{AnswerError, Failure};
use crate::get_path::{GetPathError, decode_get_path, under_prefix};
use crate::metrics::{self, Outcome, ResponseLabels};
use crate::response::ErrorStatus;
use crate::source::Signed;
use crate::stack::{Answered, Responder};

/// The responder's routes.
pub fn router(responder: Arc<Responder>) -> Router {
    let limit = responder.config().max_request_bytes;
    let prepared = PreparedAnswers::new(responder.budget().prepared);
    let state = Arc::new(HttpState {
        responder,
        prepared,
    });
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/ca/{file}", get(ca_certificate))
        .route("/crl/{file}", get(crl))
        .fallback(ocsp)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// 200 when the database answers; 503 naming the database (without its
/// password) when it cannot be reached.
async fn health(State(state): State<Arc<HttpState>>) -> Response {
    let responder = &state.responder;
    if let Some(outage) = responder.watch().outage() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "database unavailable: {} unreachable since {}: {}; answering only what is cached and still valid\n",
                responder.store().database(),
                httpdate::fmt_http_date(outage.since),
                outage.reason
            ),
        )
            .into_response();
    }
    match responder.directory().await {
        Ok(dir) => {
            let changes = match responder.watch().database_state() {
                None => String::new(),
                Some(db) if db.notified() => "; commits notified (LISTEN)".into(),
                Some(_) => format!(
                    "; commit notifications down, polling the database every {:?}",
                    crate::changes::POLL
                ),
            };
            (
                StatusCode::OK,
                format!("ok: generation {}{changes}\n", dir.generation),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {e}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    let responder = &state.responder;
    (
        [(header::CONTENT_TYPE, OPENMETRICS_TEXT)],
        responder.metrics.render(responder.database_readings()),
    )
        .into_response()
}

/// A CA certificate, DER, at the CA Issuers URL that testca writes (`/ca/intermediate.der`).
async fn ca_certificate(State(state): State<Arc<HttpState>>, Path(file): Path<String>) -> Response {
    let responder = &state.responder;
    let Some(name) = file.strip_suffix(".der") else {
        return (
            StatusCode::NOT_FOUND,
            "CA certificates are served as /ca/NAME.der\n",
        )
            .into_response();
    };
    let dir = match responder.directory().await {
        Ok(dir) => dir,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("database unavailable: {e}\n"),
            )
                .into_response();
        }
    };
    match dir.issuer_named(name) {
        Some(issuer) => {
            ([(header::CONTENT_TYPE, PKIX_CERT)], issuer.cert_der.clone()).into_response()
        }
        None => (StatusCode::NOT_FOUND, format!("no CA named '{name}'\n")).into_response(),
    }
}

/// A CA's CRL, DER, at the CRL distribution point that testca writes (`/crl/intermediate.crl`).
async fn crl(State(state): State<Arc<HttpState>>, Path(file): Path<String>) -> Response {
    let responder = &state.responder;
    let Some(name) = file.strip_suffix(".crl") else {
        return (StatusCode::NOT_FOUND, "CRLs are served as /crl/NAME.crl\n").into_response();
    };
    match responder.crl(name).await {
        Ok(Some(der)) => ([(header::CONTENT_TYPE, PKIX_CRL)], der).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, format!("no CA named '{name}'\n")).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot build the CRL: {e}\n"),
        )
            .into_response(),
    }
}

/// What the routes need: the layers below, and the prepared answers.
struct HttpState {
    responder: Arc<Responder>,
    prepared: PreparedAnswers,
}

/// An OCSP request as it came over HTTP, decoded.
#[derive(Debug)]
pub struct HttpRequest<'a> {
    /// GET or POST.
    pub method: metrics::Method,
    /// The raw request the prepared answers are looked up by: the path of a
    /// GET, the body of a POST.
    pub raw: &'a [u8],
    /// The DER request, when the raw form decoded.
    pub der: Result<Cow<'a, [u8]>, AnswerError>,
}

/// Why an HTTP request holds no OCSP request to answer.
#[derive(Debug, PartialEq, Eq)]
pub enum NotOcsp {
    /// The path is outside the OCSP prefix: 404.
    OutsidePrefix,
    /// A GET of the prefix itself: a short usage text.
    Usage,
    /// The request is over `--max-request-bytes`: 413.
    TooLarge,
    /// Neither GET nor POST: 405.
    Method,
}

/// Decodes the OCSP request of an HTTP request (a pure function).
pub fn decode<'a>(
    method: &Method,
    path: &'a str,
    body: &'a [u8],
    prefix: &str,
    max_request_bytes: usize,
) -> Result<HttpRequest<'a>, NotOcsp> {
    match *method {
        Method::GET | Method::HEAD => {
            let der = match decode_get_path(path, prefix) {
                // The same limit as a POST body: a GET is no way around it.
                Ok(der) if der.len() > max_request_bytes => return Err(NotOcsp::TooLarge),
                Ok(der) => Ok(Cow::Owned(der)),
                Err(GetPathError::OutsidePrefix) => return Err(NotOcsp::OutsidePrefix),
                Err(GetPathError::Empty) => return Err(NotOcsp::Usage),
                Err(GetPathError::NotBase64) => Err(AnswerError::NotBase64),
            };
            Ok(HttpRequest {
                method: metrics::Method::Get,
                raw: path.as_bytes(),
                der,
            })
        }
        Method::POST => {
            if !under_prefix(path, prefix) {
                return Err(NotOcsp::OutsidePrefix);
            }
            if body.len() > max_request_bytes {
                return Err(NotOcsp::TooLarge);
            }
            Ok(HttpRequest {
                method: metrics::Method::Post,
                raw: body,
                der: Ok(Cow::Borrowed(body)),
            })
        }
        _ => Err(NotOcsp::Method),
    }
}

/// The raw form a prepared answer may be kept under: the path of a GET, the
/// body of a POST at or below the prefix.
fn raw_request<'a>(
    method: &Method,
    path: &'a str,
    body: &'a [u8],
    prefix: &str,
) -> Option<(metrics::Method, &'a [u8])> {
    match *method {
        Method::GET | Method::HEAD => Some((metrics::Method::Get, path.as_bytes())),
        Method::POST if under_prefix(path, prefix) => Some((metrics::Method::Post, body)),
        _ => None,
    }
}

/// GET `PREFIX<base64 request>` or POST `PREFIX` with a DER body.
async fn ocsp(State(state): State<Arc<HttpState>>, request: axum::extract::Request) -> Response {
    let responder = &state.responder;
    let config = responder.config();
    let prefix = config.path_prefix.as_str();
    // The request is taken whole (not through extractors that copy its parts).
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let body = if *method == Method::POST {
        // The accept loop has read and bounded the body already.
        match axum::body::to_bytes(body, config.max_request_bytes).await {
            Ok(body) => body,
            Err(_) => return not_ocsp(responder, NotOcsp::TooLarge, true),
        }
    } else {
        Bytes::new()
    };
    // A repeated request is answered before anything is decoded: only requests
    // that decoded and were answered are ever kept under their raw form.
    if let Some((kind, raw)) = raw_request(method, uri.path(), &body, prefix)
        && let Some(prepared) = state.prepared.get(kind, raw)
        && prepared.is_current(responder)
    {
        responder.count_hit(prepared.request_bytes);
        return send(responder, kind, &prepared, headers, SystemTime::now());
    }
    let request = match decode(method, uri.path(), &body, prefix, config.max_request_bytes) {
        Ok(request) => request,
        Err(not) => return not_ocsp(responder, not, *method == Method::POST),
    };
    let request_bytes = request.der.as_ref().map_or(0, |der| der.len());
    let answered = match request.der {
        Ok(der) => responder.answer(&der).await,
        Err(e) => {
            debug!(path = uri.path(), error = %e, "malformedRequest in GET path");
            Err(e)
        }
    };
    match answered {
        Ok(Answered { signed, directory }) => {
            let prepared =
                Arc::new(Prepared::new(signed, directory).counted_in(responder, request_bytes));
            if prepared.signed.reusable {
                state
                    .prepared
                    .insert(request.method, request.raw, prepared.clone());
            }
            send(
                responder,
                request.method,
                &prepared,
                headers,
                SystemTime::now(),
            )
        }
        Err(e) => failed(responder, request.method, e.failure()),
    }
}

/// A signed answer with its fixed RFC 5019 headers, formatted once.
#[derive(Debug)]
pub struct Prepared {
    signed: Arc<Signed>,
    directory: DirectoryId,
    /// Strong validator over the DER.
    etag: String,
    /// Content-Type, Last-Modified, Expires and ETag: the headers of a GET's
    /// answer but Cache-Control, whose max-age counts down.
    fixed: HeaderMap,
    /// Its response counters, looked up once: GET 200, GET 304, POST 200.
    counters: Option<[Counter; 3]>,
    /// Size of the DER request it answers, for the request size metric.
    request_bytes: usize,
}

impl Prepared {
    /// Formats the headers of `signed`, true with `directory`. An answer to a
    /// nonce is sent once, without caching headers: nothing is formatted.
    pub fn new(signed: Arc<Signed>, directory: DirectoryId) -> Self {
        if signed.nonce {
            return Prepared {
                signed,
                directory,
                etag: String::new(),
                fixed: HeaderMap::new(),
                counters: None,
                request_bytes: 0,
            };
        }
        let etag = format!("\"{}\"", hex(&sha2::Sha256::digest(&signed.der)[..16]));
        let mut fixed = HeaderMap::with_capacity(6);
        fixed.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(OCSP_RESPONSE),
        );
        let mut add = |name, text: &str| {
            if let Ok(value) = HeaderValue::from_str(text) {
                fixed.insert(name, value);
            }
        };
        add(
            header::LAST_MODIFIED,
            &httpdate::fmt_http_date(signed.this_update),
        );
        if let Some(next) = signed.next_update {
            add(header::EXPIRES, &httpdate::fmt_http_date(next));
        }
        add(header::ETAG, &etag);
        Prepared {
            signed,
            directory,
            etag,
            fixed,
            counters: None,
            request_bytes: 0,
        }
    }

    /// Looks up its response counters once, so that a hit does not.
    fn counted_in(mut self, responder: &Responder, request_bytes: usize) -> Self {
        self.request_bytes = request_bytes;
        let outcome = self.signed.outcome;
        let counter = |method, status: StatusCode| {
            responder
                .metrics
                .responses
                .get_or_create(&ResponseLabels {
                    method,
                    http_status: status.as_u16(),
                    ocsp_status: outcome,
                })
                .clone()
        };
        self.counters = Some([
            counter(metrics::Method::Get, StatusCode::OK),
            counter(metrics::Method::Get, StatusCode::NOT_MODIFIED),
            counter(metrics::Method::Post, StatusCode::OK),
        ]);
        self
    }

    /// Counts one response sent.
    fn count(&self, responder: &Responder, method: metrics::Method, status: StatusCode) {
        let slot = match (method, status) {
            (metrics::Method::Get, StatusCode::OK) => Some(0),
            (metrics::Method::Get, StatusCode::NOT_MODIFIED) => Some(1),
            (metrics::Method::Post, StatusCode::OK) => Some(2),
            _ => None,
        };
        match (&self.counters, slot) {
            (Some(counters), Some(slot)) => {
                counters[slot].inc();
            }
            _ => count(responder, method, status, self.signed.outcome),
        }
    }

    /// Whether it is still the answer: made with the current directory, no
    /// commit seen since, and within the reuse time.
    fn is_current(&self, responder: &Responder) -> bool {
        let watch = responder.watch();
        // `unchanged` before `last`: a reload publishes the new directory
        // before it marks the change seen, so an "unchanged" read first
        // guarantees that the directory read after it is the newest.
        let unchanged = watch.unchanged();
        let directory = watch.last().id;
        self.still_true(directory, unchanged, responder.config().reuse_for())
    }

    /// Whether an answer made with its directory is still true when
    /// `directory` is current (`unchanged`: no commit seen since) and
    /// answers are reused for `reuse_for`.
    fn still_true(
        &self,
        directory: DirectoryId,
        unchanged: bool,
        reuse_for: std::time::Duration,
    ) -> bool {
        unchanged && self.directory == directory && self.signed.produced.elapsed() < reuse_for
    }

    fn weight(&self, key: usize) -> u64 {
        let headers: usize = self.fixed.iter().map(|(_, v)| v.len() + 32).sum();
        entry_weight(
            key,
            self.signed.der.len(),
            self.signed.statuses.len(),
            headers,
        )
    }
}

/// The HTTP headers and status of a signed answer at `now` (RFC 5019 §6):
/// a GET's answer may be cached by HTTP caches until nextUpdate, or for
/// `max_age` at most (`--max-age`); a POST's carries no caching headers; a
/// nonce answer is for one client only.
pub fn signed_headers(
    prepared: &Prepared,
    method: metrics::Method,
    request_headers: &HeaderMap,
    now: SystemTime,
    max_age: Option<Duration>,
) -> (StatusCode, HeaderMap) {
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OCSP_RESPONSE),
    );
    let signed = &prepared.signed;
    match (method, !signed.nonce) {
        (metrics::Method::Get, true) => {
            insert(
                &mut headers,
                header::CACHE_CONTROL,
                &cache_control(signed.next_update, now, max_age),
            );
            for (name, value) in &prepared.fixed {
                headers.insert(name.clone(), value.clone());
            }
            if etag_matches(request_headers, &prepared.etag) {
                return (StatusCode::NOT_MODIFIED, headers);
            }
        }
        (metrics::Method::Post, true) => {}
        (_, false) => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
        }
    }
    (StatusCode::OK, headers)
}

const NO_CACHE: &str = "max-age=0, no-cache";

/// The Cache-Control of a GET's answer at `now`: cacheable until its
/// nextUpdate (counting down, never below zero), and never longer than
/// `cap`; an answer without nextUpdate is not cached.
pub fn cache_control(
    next_update: Option<SystemTime>,
    now: SystemTime,
    cap: Option<Duration>,
) -> String {
    match next_update {
        Some(next) => {
            let left = next.duration_since(now).unwrap_or(Duration::ZERO);
            let max_age = cap.map_or(left, |cap| left.min(cap)).as_secs();
            format!("max-age={max_age}, public, no-transform, must-revalidate")
        }
        None => NO_CACHE.to_string(),
    }
}

/// If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
fn etag_matches(request_headers: &HeaderMap, etag: &str) -> bool {
    request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Sends a signed answer.
fn send(
    responder: &Responder,
    method: metrics::Method,
    prepared: &Prepared,
    request_headers: &HeaderMap,
    now: SystemTime,
) -> Response {
    let max_age = responder.config().max_age;
    let (status, headers) = signed_headers(prepared, method, request_headers, now, max_age);
    prepared.count(responder, method, status);
    let body = if status == StatusCode::NOT_MODIFIED {
        axum::body::Body::empty()
    } else {
        axum::body::Body::from(prepared.signed.der.clone())
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// What a failure looks like over HTTP: the one mapping from [`Failure`] to HTTP.
pub fn failure_response(failure: Failure) -> (StatusCode, HeaderMap, Bytes) {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    match failure {
        Failure::Ocsp(status) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(OCSP_RESPONSE),
            );
            (StatusCode::OK, headers, Bytes::from_static(status.der()))
        }
        Failure::NotOcsp(bytes) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(OCSP_RESPONSE),
            );
            (StatusCode::OK, headers, Bytes::from_static(bytes))
        }
        Failure::Http500 => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                headers,
                Bytes::from_static(b"injected fault: http-500\n"),
            )
        }
        Failure::Close => (StatusCode::INTERNAL_SERVER_ERROR, headers, Bytes::new()),
        Failure::Unavailable => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(OCSP_RESPONSE),
            );
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::changes::POLL.as_secs().max(1)),
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                headers,
                Bytes::from_static(ErrorStatus::TryLater.der()),
            )
        }
    }
}

fn failed(responder: &Responder, method: metrics::Method, failure: Failure) -> Response {
    let outcome = match failure {
        Failure::Ocsp(status) => Outcome::Error(status),
        Failure::Unavailable => Outcome::Error(ErrorStatus::TryLater),
        Failure::NotOcsp(_) => Outcome::MalformedResponse,
        Failure::Http500 | Failure::Close => Outcome::None,
    };
    let (status, headers, body) = failure_response(failure);
    count(responder, method, status, outcome);
    let mut response = (status, headers, body).into_response();
    if failure == Failure::Close {
        response.extensions_mut().insert(DropConnection);
    }
    response
}

fn not_ocsp(responder: &Responder, not: NotOcsp, post: bool) -> Response {
    let prefix = responder.config().path_prefix.as_str();
    match not {
        NotOcsp::OutsidePrefix => not_found(prefix),
        NotOcsp::Usage => usage(prefix),
        NotOcsp::TooLarge => {
            let method = if post {
                metrics::Method::Post
            } else {
                metrics::Method::Get
            };
            count(
                responder,
                method,
                StatusCode::PAYLOAD_TOO_LARGE,
                Outcome::None,
            );
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request over {} bytes (--max-request-bytes)\n",
                    responder.config().max_request_bytes
                ),
            )
                .into_response()
        }
        NotOcsp::Method => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, POST")],
            "",
        )
            .into_response(),
    }
}

/// Prepared answers by raw request, one table per method, bounded by bytes.
/// As in the CertID cache, answers about serials or issuers never issued
/// have their own small share, so that a flood of made-up serials cannot
/// evict the answers for real certificates.
struct PreparedAnswers {
    get: Shares,
    post: Shares,
}

/// The tables of one method: (issued, never issued).
struct Shares {
    issued: PreparedBucket,
    unissued: PreparedBucket,
}

#[derive(Clone, Copy, Debug, Default)]
struct PreparedWeight;

impl Weighter<Vec<u8>, Arc<Prepared>> for PreparedWeight {
    fn weight(&self, key: &Vec<u8>, value: &Arc<Prepared>) -> u64 {
        value.weight(key.len())
    }
}

type PreparedBucket = quick_cache::sync::Cache<Vec<u8>, Arc<Prepared>, PreparedWeight>;

impl PreparedAnswers {
    fn new(bytes: u64) -> Self {
        // Each method gets half; of each half, the never-issued share as in the CertID cache.
        let half = bytes / 2;
        let unissued = half / crate::cache::UNISSUED_SHARE;
        let shares = || {
            let bucket = |weight: u64| {
                let items = usize::try_from((weight / TYPICAL_ENTRY).max(1)).unwrap_or(usize::MAX);
                PreparedBucket::with_weighter(items, weight.max(1), PreparedWeight)
            };
            Shares {
                issued: bucket(half - unissued),
                unissued: bucket(unissued),
            }
        };
        PreparedAnswers {
            get: shares(),
            post: shares(),
        }
    }

    fn shares(&self, method: metrics::Method) -> &Shares {
        match method {
            metrics::Method::Get => &self.get,
            metrics::Method::Post => &self.post,
        }
    }

    fn get(&self, method: metrics::Method, raw: &[u8]) -> Option<Arc<Prepared>> {
        let shares = self.shares(method);
        shares.issued.get(raw).or_else(|| shares.unissued.get(raw))
    }

    fn insert(&self, method: metrics::Method, raw: &[u8], prepared: Arc<Prepared>) {
        let shares = self.shares(method);
        // A serial issued since moves from one table to the other.
        let (table, other) = if prepared.signed.unissued {
            (&shares.unissued, &shares.issued)
        } else {
            (&shares.issued, &shares.unissued)
        };
        other.remove(raw);
        table.insert(raw.to_vec(), prepared);
    }

    #[cfg(test)]
    fn weight(&self) -> u64 {
        [&self.get, &self.post]
            .iter()
            .map(|s| s.issued.weight() + s.unissued.weight())
            .sum()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn count(responder: &Responder, method: metrics::Method, status: StatusCode, outcome: Outcome) {
    responder
        .metrics
        .responses
        .get_or_create(&ResponseLabels {
            method,
            http_status: status.as_u16(),
            ocsp_status: outcome,
        })
        .inc();
}

fn not_found(prefix: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("OCSP requests are served under {prefix}\n"),
    )
        .into_response()
}

fn usage(prefix: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "OCSP Lab responder.\nPOST an {OCSP_REQUEST} to {prefix}, or GET {prefix}<base64 of the DER request>.\n\
             CA certificates: /ca/NAME.der. Health: /health. Metrics: /metrics.\n"
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::{ErrorStatus, Status};
    use axum::http::HeaderName;
    use std::time::{Duration, Instant};

    fn signed(nonce: bool, next: Option<SystemTime>) -> Arc<Signed> {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        Arc::new(Signed {
            der: Bytes::from_static(b"0\x03\n\x01\x00"),
            this_update: now - Duration::from_secs(60),
            next_update: next,
            outcome: Outcome::Good,
            statuses: vec![Status::Good],
            signer: [0; 20],
            produced: Instant::now(),
            unissued: false,
            reusable: !nonce,
            nonce,
        })
    }

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn value(headers: &HeaderMap, name: HeaderName) -> &str {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn a_get_path_decodes_and_its_raw_key_is_the_path() {
        let path = "/ocsp/MAMCAQA%3D";
        let r = decode(&Method::GET, path, b"", "/ocsp/", 100).unwrap();
        assert_eq!(r.method, metrics::Method::Get);
        assert_eq!(r.raw, path.as_bytes());
        assert_eq!(r.der.unwrap().as_ref(), &[0x30, 0x03, 0x02, 0x01, 0x00]);
        let r = decode(&Method::GET, "/ocsp/!!", b"", "/ocsp/", 100).unwrap();
        assert_eq!(
            r.der.unwrap_err().failure(),
            Failure::Ocsp(ErrorStatus::MalformedRequest)
        );
    }

    #[test]
    fn a_post_body_is_the_request_and_its_raw_key() {
        let body = [0x30, 0x00];
        let r = decode(&Method::POST, "/ocsp", &body, "/ocsp/", 100).unwrap();
        assert_eq!(r.method, metrics::Method::Post);
        assert_eq!(r.raw, &body);
        assert_eq!(r.der.unwrap().as_ref(), &body);
    }

    #[test]
    fn what_is_no_ocsp_request() {
        let no = |m: &Method, p: &str, body: &[u8]| decode(m, p, body, "/ocsp/", 4).err();
        assert_eq!(
            no(&Method::GET, "/other/MAA=", b""),
            Some(NotOcsp::OutsidePrefix)
        );
        assert_eq!(
            no(&Method::POST, "/other", b""),
            Some(NotOcsp::OutsidePrefix)
        );
        assert_eq!(no(&Method::GET, "/ocsp/", b""), Some(NotOcsp::Usage));
        assert_eq!(no(&Method::PUT, "/ocsp/", b""), Some(NotOcsp::Method));
        // The limit holds for the decoded GET request as for a POST body.
        assert_eq!(
            no(&Method::GET, "/ocsp/MAMCAQA=", b""),
            Some(NotOcsp::TooLarge)
        );
        assert_eq!(
            no(&Method::POST, "/ocsp/", &[0; 5]),
            Some(NotOcsp::TooLarge)
        );
        assert_eq!(no(&Method::POST, "/ocsp/", &[0; 4]), None);
    }

    #[test]
    fn a_get_answer_carries_the_rfc_5019_headers() {
        let next = at() + Duration::from_secs(3600);
        let prepared = Prepared::new(signed(false, Some(next)), DirectoryId::default());
        let (status, h) = signed_headers(
            &prepared,
            metrics::Method::Get,
            &HeaderMap::new(),
            at(),
            None,
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(value(&h, header::CONTENT_TYPE), OCSP_RESPONSE);
        assert_eq!(
            value(&h, header::CACHE_CONTROL),
            "max-age=3600, public, no-transform, must-revalidate"
        );
        assert_eq!(value(&h, header::EXPIRES), httpdate::fmt_http_date(next));
        assert_eq!(
            value(&h, header::LAST_MODIFIED),
            httpdate::fmt_http_date(at() - Duration::from_secs(60))
        );
        let etag = format!(
            "\"{}\"",
            hex(&sha2::Sha256::digest(&prepared.signed.der)[..16])
        );
        assert_eq!(value(&h, header::ETAG), etag);
        // max-age counts down with the clock; never below zero.
        let later = at() + Duration::from_secs(600);
        let (_, h) = signed_headers(
            &prepared,
            metrics::Method::Get,
            &HeaderMap::new(),
            later,
            None,
        );
        assert!(value(&h, header::CACHE_CONTROL).starts_with("max-age=3000,"));
        let after = at() + Duration::from_secs(7200);
        let (_, h) = signed_headers(
            &prepared,
            metrics::Method::Get,
            &HeaderMap::new(),
            after,
            None,
        );
        assert!(value(&h, header::CACHE_CONTROL).starts_with("max-age=0,"));
    }

    #[test]
    fn max_age_is_capped_by_the_knob_and_still_counts_down() {
        let next = at() + Duration::from_secs(3600);
        let prepared = Prepared::new(signed(false, Some(next)), DirectoryId::default());
        let cap = Some(Duration::from_secs(60));
        let (_, h) = signed_headers(
            &prepared,
            metrics::Method::Get,
            &HeaderMap::new(),
            at(),
            cap,
        );
        assert_eq!(
            value(&h, header::CACHE_CONTROL),
            "max-age=60, public, no-transform, must-revalidate"
        );
        // Expires stays nextUpdate: Cache-Control's max-age takes precedence (RFC 9111 §5.3).
        assert_eq!(value(&h, header::EXPIRES), httpdate::fmt_http_date(next));
        // Close to nextUpdate the time left is below the cap.
        let late = next - Duration::from_secs(10);
        assert_eq!(
            cache_control(Some(next), late, cap),
            "max-age=10, public, no-transform, must-revalidate"
        );
        assert_eq!(cache_control(None, at(), cap), NO_CACHE);
        assert_eq!(
            cache_control(Some(next), at(), Some(Duration::ZERO)),
            "max-age=0, public, no-transform, must-revalidate"
        );
    }

    #[test]
    fn if_none_match_gets_304() {
        let prepared = Prepared::new(
            signed(false, Some(at() + Duration::from_secs(60))),
            DirectoryId::default(),
        );
        let mut request = HeaderMap::new();
        let etag = prepared.etag.clone();
        assert_eq!(etag.len(), 34, "a quoted 128-bit hex tag: {etag}");
        for tag in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            request.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&tag).unwrap());
            let (status, _) = signed_headers(&prepared, metrics::Method::Get, &request, at(), None);
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{tag}");
        }
        request.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        let (status, _) = signed_headers(&prepared, metrics::Method::Get, &request, at(), None);
        assert_eq!(status, StatusCode::OK);
    }

    #[test]
    fn nonce_answers_and_posts_carry_no_caching_headers() {
        let next = Some(at() + Duration::from_secs(60));
        let nonce = Prepared::new(signed(true, next), DirectoryId::default());
        for method in [metrics::Method::Get, metrics::Method::Post] {
            let (_, h) = signed_headers(&nonce, method, &HeaderMap::new(), at(), None);
            assert_eq!(value(&h, header::CACHE_CONTROL), NO_CACHE);
            assert!(h.get(header::ETAG).is_none());
        }
        let plain = Prepared::new(signed(false, next), DirectoryId::default());
        let (_, h) = signed_headers(&plain, metrics::Method::Post, &HeaderMap::new(), at(), None);
        assert!(h.get(header::CACHE_CONTROL).is_none() && h.get(header::ETAG).is_none());
        let none = Prepared::new(signed(false, None), DirectoryId::default());
        let (_, h) = signed_headers(&none, metrics::Method::Get, &HeaderMap::new(), at(), None);
        assert_eq!(value(&h, header::CACHE_CONTROL), NO_CACHE);
    }

    #[test]
    fn failures_map_to_http() {
        let (status, h, body) = failure_response(Failure::Ocsp(ErrorStatus::TryLater));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(value(&h, header::CONTENT_TYPE), OCSP_RESPONSE);
        assert_eq!(value(&h, header::CACHE_CONTROL), NO_CACHE);
        assert_eq!(&body[..], ErrorStatus::TryLater.der());
        let (status, _, body) = failure_response(Failure::Http500);
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(&body[..], b"injected fault: http-500\n");
        let (_, _, body) = failure_response(Failure::NotOcsp(crate::error::NOT_DER));
        assert_eq!(&body[..], crate::error::NOT_DER);
    }

    #[test]
    fn a_prepared_answer_is_true_with_its_directory_only() {
        let (made_with, reloaded) = (DirectoryId::next(), DirectoryId::next());
        let prepared = Prepared::new(signed(false, None), made_with);
        let hour = Duration::from_secs(3600);
        assert!(prepared.still_true(made_with, true, hour));
        assert!(
            !prepared.still_true(reloaded, true, hour),
            "another directory (a newer generation, or another signer)"
        );
        assert!(
            !prepared.still_true(made_with, false, hour),
            "a commit not yet loaded"
        );
        assert!(
            !prepared.still_true(made_with, true, Duration::ZERO),
            "older than reuse_for"
        );
    }

    #[test]
    fn prepared_answers_are_bounded_by_bytes_and_kept_per_method() {
        let answers = PreparedAnswers::new(1 << 20);
        let prepared = Arc::new(Prepared::new(signed(false, None), DirectoryId::default()));
        for n in 0..20_000u32 {
            let raw = format!("/{n:08}").into_bytes();
            answers.insert(metrics::Method::Get, &raw, prepared.clone());
        }
        assert!(answers.weight() <= 1 << 20, "{}", answers.weight());
        answers.insert(metrics::Method::Post, b"0\x00", prepared.clone());
        assert!(answers.get(metrics::Method::Post, b"0\x00").is_some());
        assert!(answers.get(metrics::Method::Get, b"0\x00").is_none());
    }

    #[test]
    fn a_flood_of_never_issued_answers_evicts_no_prepared_issued_one() {
        let answers = PreparedAnswers::new(1 << 20);
        let issued = Arc::new(Prepared::new(signed(false, None), DirectoryId::default()));
        let mut unissued = (*signed(false, None)).clone();
        unissued.unissued = true;
        let unissued = Arc::new(Prepared::new(Arc::new(unissued), DirectoryId::default()));
        for n in 0..50u32 {
            answers.insert(
                metrics::Method::Get,
                format!("/i{n}").as_bytes(),
                issued.clone(),
            );
        }
        for n in 0..50_000u32 {
            answers.insert(
                metrics::Method::Get,
                format!("/u{n}").as_bytes(),
                unissued.clone(),
            );
        }
        for n in 0..50u32 {
            assert!(
                answers
                    .get(metrics::Method::Get, format!("/i{n}").as_bytes())
                    .is_some(),
                "issued answer {n} evicted by the flood"
            );
        }
        assert!(answers.weight() <= 1 << 20);
    }
}
