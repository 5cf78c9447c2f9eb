//! Talking to the OCSP responder: building the request for a certificate
//! (SHA-1 CertID, as nginx and Apache send it), POSTing it, and fetching
//! issuer certificates from CA Issuers URLs.

use std::time::Duration;

use der::{Decode, Encode};
use openssl::x509::{X509, X509Ref};
use x509_ocsp::Request;
use x509_ocsp::builder::OcspRequestBuilder;
use x509_ocsp::ext::Nonce;

/// Largest response body accepted.
const MAX_BODY: usize = 1 << 20;

/// Why a fetch produced no response to verify.
#[derive(Clone, Debug, thiserror::Error)]
pub enum FetchError {
    /// The request could not be built.
    #[error("cannot build the OCSP request: {0}")]
    Request(String),
    /// No connection, timeout, or HTTP failure.
    #[error("{url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
}

/// An OCSP request ready to send.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// The DER request.
    pub der: Vec<u8>,
    /// The nonce it carries, if any.
    pub nonce: Option<Vec<u8>>,
}

/// Builds the request for `leaf` issued by `issuer`, with a fresh 16-octet
/// nonce when `with_nonce` (RFC 8954 allows 1 to 32).
pub fn build_request(
    leaf: &X509Ref,
    issuer: &X509Ref,
    with_nonce: bool,
) -> Result<PreparedRequest, FetchError> {
    let to_cert = |c: &X509Ref| -> Result<x509_cert::Certificate, FetchError> {
        let der = c.to_der().map_err(|e| FetchError::Request(e.to_string()))?;
        x509_cert::Certificate::from_der(&der).map_err(|e| FetchError::Request(e.to_string()))
    };
    let request = Request::from_cert::<sha1::Sha1>(&to_cert(issuer)?, &to_cert(leaf)?)
        .map_err(|e| FetchError::Request(e.to_string()))?;
    let mut builder = OcspRequestBuilder::default().with_request(request);
    let mut nonce = None;
    if with_nonce {
        let mut bytes = vec![0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        let ext = Nonce::new(bytes.clone()).map_err(|e| FetchError::Request(e.to_string()))?;
        builder = builder
            .with_extension(ext)
            .map_err(|e| FetchError::Request(e.to_string()))?;
        nonce = Some(bytes);
    }
    let der = builder
        .build()
        .to_der()
        .map_err(|e| FetchError::Request(e.to_string()))?;
    Ok(PreparedRequest { der, nonce })
}

/// POSTs a request to `url` and returns the body of a 200 answer.
pub async fn post(
    url: &str,
    request: &PreparedRequest,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    let send = |client: reqwest::Client| {
        client
            .post(url)
            .header("Content-Type", labcore::media::OCSP_REQUEST)
            .body(request.der.clone())
            .send()
    };
    exchange(url, timeout, send).await
}

/// Fetches certificates (DER or PEM) from a CA Issuers URL.
pub async fn fetch_certificates(url: &str, timeout: Duration) -> Result<Vec<X509>, FetchError> {
    let body = exchange(url, timeout, |client| client.get(url).send()).await?;
    if let Ok(cert) = X509::from_der(&body) {
        return Ok(vec![cert]);
    }
    X509::stack_from_pem(&body).map_err(|_| FetchError::Http {
        url: url.to_string(),
        reason: "neither a DER nor a PEM certificate".into(),
    })
}

/// One HTTP exchange with `url`, bounded by `timeout`: the body of a 2xx answer.
async fn exchange<F>(
    url: &str,
    timeout: Duration,
    send: impl FnOnce(reqwest::Client) -> F,
) -> Result<Vec<u8>, FetchError>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let http = |reason: String| FetchError::Http {
        url: url.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| http(e.to_string()))?;
    let response = send(client).await.map_err(|e| http(describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(http(format!("HTTP {status}")));
    }
    read_body(response).await.map_err(|e| http(e.to_string()))
}

async fn read_body(response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| BodyError::Read(describe(&e)))?;
    if body.len() > MAX_BODY {
        return Err(BodyError::TooLarge);
    }
    Ok(body.to_vec())
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("response body too large")]
    TooLarge,
    #[error("{0}")]
    Read(String),
}

/// reqwest's errors, said plainly.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    }
}
