//! What the stapler serves over HTTPS: a page showing each certificate and
//! its staple, the same as `/status.json`, `/health`, `/metrics`, and
//! `POST /admin/refresh` for loopback clients; and the optional plain-HTTP
//! admin listener (`--admin-listen`), which serves the refresh to every
//! client that reaches it, its address being the access control.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};

use crate::metrics::Metrics;
use crate::staple::Slot;
use crate::status::CertificateStatus;

use labcore::accept::Peer;

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    /// The served certificates.
    pub slots: Vec<Arc<Slot>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// How long `/admin/refresh` waits for the fetches it starts.
    pub refresh_wait: Duration,
    /// Whether every certificate must have a staple to be healthy (`--require-staple`).
    pub require_staple: bool,
}

/// The routes of the admin listener: the refresh for whoever reaches it (a
/// container's port published on the host's loopback is reached from the
/// bridge network, never from loopback), and what shows its effect.
pub fn admin_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/status.json", get(status_json))
        .route("/admin/refresh", post(refresh_all))
        .with_state(app)
}

/// Serves the admin routes on `listener` until `stop` turns true.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let serve = axum::serve(listener, admin_router(app)).with_graceful_shutdown(async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    });
    if let Err(e) = serve.await {
        tracing::warn!(error = %e, "admin listener stopped");
    }
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/status.json", get(status_json))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/admin/refresh", post(refresh))
        .with_state(app)
}

fn statuses(app: &App) -> Vec<CertificateStatus> {
    app.slots.iter().map(|slot| slot.status()).collect()
}

async fn status_json(State(app): State<Arc<App>>) -> Json<Vec<CertificateStatus>> {
    Json(statuses(&app))
}

/// 200 when ready; 503 while a must-staple certificate (or, with
/// `--require-staple`, any certificate) has no valid staple.
async fn health(State(app): State<Arc<App>>) -> Response {
    let mut missing: Vec<String> = app
        .slots
        .iter()
        .filter(|slot| (slot.cert.must_staple || app.require_staple) && !slot.has_valid_staple())
        .map(|slot| {
            if slot.cert.must_staple {
                format!("must-staple certificate {} has no valid staple", slot.name)
            } else {
                format!("{} has no valid staple", slot.name)
            }
        })
        .collect();
    missing.extend(app.slots.iter().filter_map(|slot| {
        slot.certificate_problem()
            .map(|p| format!("certificate {} {p}", slot.name))
    }));
    if missing.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", missing.join("; ")),
        )
            .into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, labcore::media::OPENMETRICS_TEXT)],
        app.metrics.render(),
    )
        .into_response()
}

/// The refresh on the HTTPS port: loopback clients only.
async fn refresh(State(app): State<Arc<App>>, Extension(Peer(peer)): Extension<Peer>) -> Response {
    if !is_loopback(peer) {
        return (
            StatusCode::FORBIDDEN,
            "POST /admin/refresh is served to loopback clients only on the HTTPS port; \
             use the admin listener (--admin-listen)\n",
        )
            .into_response();
    }
    refresh_all(State(app)).await
}

/// Refreshes every certificate now and answers with the resulting state.
async fn refresh_all(State(app): State<Arc<App>>) -> Response {
    let mut waits = tokio::task::JoinSet::new();
    for slot in &app.slots {
        let slot = slot.clone();
        let wait = app.refresh_wait;
        waits.spawn(async move { slot.refreshed(wait).await });
    }
    let mut all_done = true;
    while let Some(done) = waits.join_next().await {
        all_done &= done.unwrap_or(false);
    }
    // 202: some fetch is still running after the wait; the state shown is what is known.
    let status = if all_done {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    (status, Json(statuses(&app))).into_response()
}

async fn page(State(app): State<Arc<App>>) -> Html<String> {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>OCSP Lab stapler</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.good{color:#070}.bad{color:#b00}</style>\
         </head><body><h1>OCSP Lab stapler</h1>",
    );
    for s in statuses(&app) {
        let _ = write!(html, "<h2>{}</h2><table>", escape(&s.name));
        let mut row = |k: &str, v: &str, class: &str| {
            let _ = write!(
                html,
                "<tr><th>{}</th><td class=\"{class}\">{}</td></tr>",
                escape(k),
                escape(v)
            );
        };
        row(
            "certificate",
            &format!("{} (serial {})", s.subject, s.serial),
            "",
        );
        row("file", &s.file, "");
        row("names (SNI)", &s.dns_names.join(", "), "");
        row(
            "must-staple",
            if s.must_staple {
                "yes (TLS Feature status_request)"
            } else {
                "no"
            },
            "",
        );
        row(
            "OCSP responder",
            s.ocsp_url.as_deref().unwrap_or("none"),
            "",
        );
        row(
            "issuer",
            &s.issuer.as_ref().map_or("not found".to_string(), |i| {
                format!("{} (from the {})", i.subject, i.source)
            }),
            "",
        );
        match &s.staple {
            Some(st) => {
                let class = if st.status == "good" { "good" } else { "bad" };
                let mut status = st.status.to_string();
                if let (Some(reason), Some(at)) = (&st.reason, &st.revoked_at) {
                    let _ = write!(status, " ({reason}, at {at})");
                }
                row("staple", &status, class);
                row("thisUpdate", &st.this_update, "");
                row(
                    "nextUpdate",
                    &format!("{} ({} s left)", st.next_update, st.seconds_left),
                    "",
                );
                row("signed by", &st.signer, "");
                row("source", st.source, "");
            }
            None => {
                let text = match (&s.disabled_reason, s.must_staple) {
                    (Some(why), _) => format!("none: {why}"),
                    (None, true) => {
                        "NONE: must-staple certificate without a staple; clients will refuse it"
                            .into()
                    }
                    (None, false) => "none".into(),
                };
                row("staple", &text, "bad");
            }
        }
        row("last fetch", s.last_fetch.as_deref().unwrap_or("never"), "");
        row("next refresh", s.next_refresh.as_deref().unwrap_or("-"), "");
        row(
            "last error",
            s.last_error.as_deref().unwrap_or("none"),
            if s.last_error.is_some() { "bad" } else { "" },
        );
        html.push_str("</table>");
    }
    html.push_str("<p><a href=\"/status.json\">status.json</a> · <a href=\"/metrics\">metrics</a> · <a href=\"/health\">health</a></p></body></html>");
    Html(html)
}

/// Whether a client connects from this machine, also through an IPv6 socket
/// (`[::]`) where 127.0.0.1 appears as ::ffff:127.0.0.1.
pub fn is_loopback(peer: SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_mapped_loopback_is_loopback() {
        for addr in [
            "127.0.0.1:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
            "[::ffff:127.9.9.9]:1",
        ] {
            let peer: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert!(is_loopback(peer), "{addr}");
        }
        for addr in ["10.0.0.1:1", "[::ffff:10.0.0.1]:1", "[2001:db8::1]:1"] {
            let peer: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert!(!is_loopback(peer), "{addr}");
        }
    }
}
