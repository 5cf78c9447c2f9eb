//! `testca serve`: the lab's control plane. A JSON API under `/api/v1/`
//! (described by `/api/v1/openapi.json`) and a web console at `/`, on one
//! listener. Every write goes through the same [`Lab`] operations and the
//! same checks as the command line; errors are RFC 9457 problem details
//! carrying the command line's one-line message. Every API call needs
//! `Authorization: Bearer TOKEN`, TOKEN being the content of `LAB/api-token`.

pub mod api;
pub mod console;
pub mod ocsp;
pub mod problem;
pub mod stapler;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::lab::Lab;
use labcore::CaName;
use problem::Problem;
use stapler::StaplerClient;

/// Where `testca serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

/// The lab's stapler, as `scripts/lab up` and compose start it.
pub const DEFAULT_STAPLER_URL: &str = "https://127.0.0.1:8443/";

/// The largest request body the API reads; a certificate request is far smaller.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What `testca serve` needs besides the lab.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// OCSP responder URL to ask [default: each certificate's AIA URL].
    pub responder: Option<String>,
    /// The lab's stapler.
    pub stapler: stapler::StaplerSettings,
    /// Bound of each request to the responder or the stapler.
    pub upstream_timeout: Duration,
}

/// Why `testca serve` stopped or did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The lab could not be used.
    #[error(transparent)]
    Lab(#[from] Error),
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another --listen address")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A setting was refused.
    #[error("{0}")]
    Settings(String),
    /// The server failed while running.
    #[error("the server failed: {0}")]
    Server(std::io::Error),
}

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    /// The lab (its database and files).
    pub lab: Lab,
    /// The bearer token.
    pub token: String,
    /// HTTP client for the responder.
    pub http: reqwest::Client,
    /// The stapler.
    pub stapler: StaplerClient,
    /// Responder URL given with --responder.
    pub responder: Option<String>,
    /// Bound of each request to the responder.
    pub upstream_timeout: Duration,
}

impl App {
    /// Makes the shared state from an open lab and the options.
    pub fn new(lab: Lab, token: String, options: &ServeOptions) -> Result<App, ServeError> {
        let stapler = StaplerClient::new(
            &options.stapler,
            &lab.layout().ca_cert(CaName::Root),
            options.upstream_timeout,
        )
        .map_err(ServeError::Settings)?;
        if let Some(url) = &options.responder {
            reqwest::Url::parse(url).map_err(|e| {
                ServeError::Settings(format!(
                    "invalid --responder URL '{url}': {e}; e.g. http://127.0.0.1:8080/"
                ))
            })?;
        }
        let http = reqwest::Client::builder()
            .timeout(options.upstream_timeout)
            .build()
            .map_err(|e| ServeError::Settings(format!("cannot make an HTTP client: {e}")))?;
        Ok(App {
            lab,
            token,
            http,
            stapler,
            responder: options.responder.clone(),
            upstream_timeout: options.upstream_timeout,
        })
    }
}

/// The whole application: the API (behind the token) and the console.
pub fn router(app: Arc<App>) -> Router {
    let mut api = Router::new();
    for (_, path, route) in api::routes() {
        api = api.route(path, route);
    }
    let api = api
        .route_layer(middleware::from_fn_with_state(app.clone(), require_token))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app);
    console::router().merge(api).fallback(not_found)
}

async fn not_found(request: Request) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!(
            "no such page: {} {}; the API is described at /api/v1/openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

/// 401 unless the request carries `Authorization: Bearer TOKEN`.
async fn require_token(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if crate::token::authorizes(given, &app.token) {
        return next.run(request).await;
    }
    let detail = if given.is_none() {
        "missing Authorization header; send `Authorization: Bearer TOKEN` with the token in LAB/api-token"
    } else {
        "wrong API token; send `Authorization: Bearer TOKEN` with the token in LAB/api-token"
    };
    let mut response =
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"ocsplab\""),
    );
    response
}

/// Serves until `shutdown` completes; prints one line once it listens.
pub async fn serve(
    lab: Lab,
    options: &ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (token, created) = crate::token::load_or_create(lab.layout())?;
    let token_path = lab.layout().api_token();
    if created {
        println!(
            "created the API token in {} (this lab was made before tokens existed)",
            token_path.display()
        );
    }
    let app = Arc::new(App::new(lab, token, options)?);
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Server)?;
    println!(
        "testca serve listening on http://{addr}/ (console; API at /api/v1/, token in {})",
        token_path.display()
    );
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Server)
}
