//! The HTTP face of the responder (RFC 6960 Appendix A, RFC 5019 §5):
//! GET and POST OCSP requests under the path prefix, the CA certificates
//! at the CA Issuers URLs, `/health` and `/metrics`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use labcore::accept::DropConnection;
use labcore::media::{OCSP_REQUEST, OCSP_RESPONSE, OPENMETRICS_TEXT, PKIX_CERT, PKIX_CRL};
use tracing::debug;

use crate::get_path::{GetPathError, decode_get_path, under_prefix};
use crate::metrics::{self, ResponseLabels};
use crate::service::{OcspReply, Reply, Responder};

/// The responder's routes.
pub fn router(responder: Arc<Responder>) -> Router {
    let limit = responder.config().max_request_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/ca/{file}", get(ca_certificate))
        .route("/crl/{file}", get(crl))
        .fallback(ocsp)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(responder)
}

/// 200 when the database answers.
async fn health(State(responder): State<Arc<Responder>>) -> Response {
    match responder.directory().await {
        Ok(dir) => (
            StatusCode::OK,
            format!("ok: generation {}\n", dir.generation),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {e}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(responder): State<Arc<Responder>>) -> Response {
    (
        [(header::CONTENT_TYPE, OPENMETRICS_TEXT)],
        responder.metrics.render(),
    )
        .into_response()
}

/// A CA certificate, DER, at the CA Issuers URL that testca writes (`/ca/intermediate.der`).
async fn ca_certificate(
    State(responder): State<Arc<Responder>>,
    Path(file): Path<String>,
) -> Response {
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
async fn crl(State(responder): State<Arc<Responder>>, Path(file): Path<String>) -> Response {
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

/// GET `PREFIX<base64 request>` or POST `PREFIX` with a DER body.
async fn ocsp(
    State(responder): State<Arc<Responder>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prefix = responder.config().path_prefix.as_str();
    let (der, kind) = match method {
        Method::GET | Method::HEAD => match decode_get_path(uri.path(), prefix) {
            // The same limit as a POST body: a GET is no way around it.
            Ok(der) if der.len() > responder.config().max_request_bytes => {
                count(
                    &responder,
                    metrics::Method::Get,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "none",
                );
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "request over {} bytes (--max-request-bytes)\n",
                        responder.config().max_request_bytes
                    ),
                )
                    .into_response();
            }
            Ok(der) => (der, metrics::Method::Get),
            Err(GetPathError::OutsidePrefix) => return not_found(prefix),
            Err(GetPathError::Empty) => return usage(prefix),
            Err(e) => {
                debug!(path = uri.path(), error = %e, "malformedRequest in GET path");
                let reply = OcspReply {
                    der: Bytes::from_static(crate::response::ErrorStatus::MalformedRequest.der()),
                    outcome: "malformedRequest",
                    freshness: None,
                };
                return send(&responder, metrics::Method::Get, reply, &headers);
            }
        },
        Method::POST => {
            if !under_prefix(uri.path(), prefix) {
                return not_found(prefix);
            }
            (body.to_vec(), metrics::Method::Post)
        }
        _ => {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET, POST")],
                "",
            )
                .into_response();
        }
    };
    match responder.answer(&der).await {
        Reply::Ocsp(reply) => send(&responder, kind, reply, &headers),
        Reply::Http500 => {
            count(&responder, kind, StatusCode::INTERNAL_SERVER_ERROR, "none");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CACHE_CONTROL, "max-age=0, no-cache")],
                "injected fault: http-500\n",
            )
                .into_response()
        }
        Reply::Close => {
            count(&responder, kind, StatusCode::INTERNAL_SERVER_ERROR, "none");
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response.extensions_mut().insert(DropConnection);
            response
        }
    }
}

/// Sends an OCSP response with the RFC 5019 headers its kind calls for.
fn send(
    responder: &Responder,
    method: metrics::Method,
    reply: OcspReply,
    request_headers: &HeaderMap,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OCSP_RESPONSE),
    );
    let mut status = StatusCode::OK;
    match (&reply.freshness, method) {
        (Some(fresh), metrics::Method::Get) => {
            let now = SystemTime::now();
            let max_age = fresh
                .next_update
                .and_then(|next| next.duration_since(now).ok())
                .map_or(0, |d| d.as_secs());
            let cache_control = if fresh.next_update.is_some() {
                format!("max-age={max_age}, public, no-transform, must-revalidate")
            } else {
                "max-age=0, no-cache".to_string()
            };
            insert(&mut headers, header::CACHE_CONTROL, &cache_control);
            for (name, value) in &fresh.fixed_headers {
                headers.insert(name.clone(), value.clone());
            }
            let matches = request_headers
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                // If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
                .map(|tag| tag.trim())
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == fresh.etag);
            if matches {
                status = StatusCode::NOT_MODIFIED;
            }
        }
        (Some(_), metrics::Method::Post) => {}
        (None, _) => insert(&mut headers, header::CACHE_CONTROL, "max-age=0, no-cache"),
    }
    count(responder, method, status, reply.outcome);
    if status == StatusCode::NOT_MODIFIED {
        return (status, headers).into_response();
    }
    (status, headers, reply.der).into_response()
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn count(
    responder: &Responder,
    method: metrics::Method,
    status: StatusCode,
    outcome: &'static str,
) {
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
