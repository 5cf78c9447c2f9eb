//! Answering OCSP requests: status from the revocation database, signatures
//! from the issuer's signer, pre-signed responses reused while nothing
//! changed, and the faults QA injected.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use labcore::RevocationReason;
use labcore::layout::Layout;
use sha2::Digest;
use testca::Serial;
use testca::faults::FaultMode;
use testca::store::{ChangeProbe, RevocationStatus, Store, StoreOptions, WalIndexHeader};
use time::OffsetDateTime;
use tracing::{debug, error, info, warn};
use x509_cert::ext::pkix::CrlReason;

use crate::cache::{Presigned, ResponseCache};
use crate::config::{Config, UnknownIssuer, UnknownSerial};
use crate::directory::{Directory, IssuerEntry, SignerOverride, SigningIdentity};
use crate::error::Result;
use crate::metrics::{FaultLabels, Metrics};
use crate::request::{
    ParsedRequest, RFC8954_MAX_NONCE_LEN, RFC9654_MAX_NONCE_LEN, RequestNonce, parse_request,
};
use crate::response::{
    ErrorStatus, ResponseOptions, SingleResponseSpec, Status, build_signed_response_der,
};
use crate::signer::ResponderIdKind;

/// How far a `future` fault moves thisUpdate ahead, and a `stale` fault moves nextUpdate back.
const FAULT_TIME_SHIFT: Duration = Duration::from_secs(3600);

/// What the HTTP layer should send.
#[derive(Debug)]
pub enum Reply {
    /// An OCSP response, sent with HTTP 200.
    Ocsp(OcspReply),
    /// HTTP 500 with no OCSP body.
    Http500,
    /// Drop the connection without answering.
    Close,
}

/// An OCSP response and what the HTTP layer needs to send it.
#[derive(Debug, Clone)]
pub struct OcspReply {
    /// The DER bytes, exactly as signed.
    pub der: Bytes,
    /// The outcome, for metrics and logs: good, revoked, unknown, mixed, or an error status.
    pub outcome: &'static str,
    /// Validity of a signed response (for RFC 5019 caching headers); `None` for error responses.
    pub freshness: Option<Freshness>,
}

/// Validity of a signed response.
#[derive(Debug, Clone)]
pub struct Freshness {
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate, when present.
    pub next_update: Option<SystemTime>,
    /// Strong validator over the DER.
    pub etag: String,
    /// The RFC 5019 headers that stay the same while the response is reused
    /// (Last-Modified, Expires, ETag), formatted once.
    pub fixed_headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
}

impl Freshness {
    fn new(this_update: SystemTime, next_update: Option<SystemTime>, etag: String) -> Self {
        use axum::http::{HeaderValue, header};
        let mut fixed_headers = Vec::with_capacity(3);
        let mut add = |name, text: &str| {
            if let Ok(value) = HeaderValue::from_str(text) {
                fixed_headers.push((name, value));
            }
        };
        add(header::LAST_MODIFIED, &httpdate::fmt_http_date(this_update));
        if let Some(next) = next_update {
            add(header::EXPIRES, &httpdate::fmt_http_date(next));
        }
        add(header::ETAG, &etag);
        Freshness {
            this_update,
            next_update,
            etag,
            fixed_headers,
        }
    }
}

impl Reply {
    fn error(status: ErrorStatus) -> Reply {
        Reply::Ocsp(OcspReply {
            der: Bytes::from_static(status.der()),
            outcome: error_name(status),
            freshness: None,
        })
    }
}

fn error_name(status: ErrorStatus) -> &'static str {
    match status {
        ErrorStatus::MalformedRequest => "malformedRequest",
        ErrorStatus::InternalError => "internalError",
        ErrorStatus::TryLater => "tryLater",
        ErrorStatus::SigRequired => "sigRequired",
        ErrorStatus::Unauthorized => "unauthorized",
    }
}

/// How a fault bends a signed response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tweak {
    Stale,
    Future,
    NoNextUpdate,
    BadSignature,
    WrongSigner,
    WrongCertId,
}

/// The responder: database, signers, cache and metrics.
pub struct Responder {
    config: Config,
    layout: Layout,
    store: Store,
    probe: ChangeProbe,
    seen_header: Mutex<Option<WalIndexHeader>>,
    directory: ArcSwap<Directory>,
    reload: tokio::sync::Mutex<()>,
    signer_override: Option<SignerOverride>,
    cache: ResponseCache,
    rogue: Arc<SigningIdentity>,
    crls: crate::crl::CrlCache,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("database", &self.store.path())
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// Opens the lab's database and loads issuers and signers.
    pub async fn start(config: Config) -> Result<Responder> {
        let db = config.database();
        if config.db.is_none() {
            crate::directory::check_lab(&config.dir)?;
        }
        let store = Store::open(
            &db,
            &StoreOptions {
                max_connections: 4,
                ..StoreOptions::default()
            },
        )
        .await?;
        let probe = store.change_probe()?;
        let layout = Layout::new(&config.dir);
        let signer_override = SignerOverride::from_config(&config)?;
        let directory = Directory::load(&store, &layout, &config, signer_override.as_ref()).await?;
        let rogue = Arc::new(rogue_signer()?);
        Ok(Responder {
            cache: ResponseCache::new(config.cache_bytes),
            seen_header: Mutex::new(probe.read()),
            directory: ArcSwap::from_pointee(directory),
            reload: tokio::sync::Mutex::new(()),
            config,
            layout,
            store,
            probe,
            signer_override,
            rogue,
            crls: crate::crl::CrlCache::default(),
            metrics: Metrics::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The CRL of the CA named `name` (DER), `None` for no such CA.
    pub async fn crl(&self, name: &str) -> Result<Option<Bytes>> {
        let dir = self.directory().await?;
        self.crls
            .get(name, &dir, &self.store, &self.layout, self.config.validity)
            .await
    }

    /// Who signs for each issuer, for the startup line.
    pub fn describe_signers(&self) -> Vec<String> {
        let dir = self.directory.load();
        dir.issuers()
            .iter()
            .map(|i| match &i.signer {
                Some(s) => format!("{}: {}", i.name, s.description),
                None => format!("{}: no signer (answers internalError)", i.name),
            })
            .collect()
    }

    /// The directory, rebuilt first if any process committed since the last look.
    pub async fn directory(&self) -> Result<Arc<Directory>> {
        let header = self.probe.read();
        if header.is_some() && *lock(&self.seen_header) == header {
            return Ok(self.directory.load_full());
        }
        let _reloading = self.reload.lock().await;
        let generation = self.store.generation().await?;
        let mut current = self.directory.load_full();
        if current.generation != generation {
            let fresh = Directory::load(
                &self.store,
                &self.layout,
                &self.config,
                self.signer_override.as_ref(),
            )
            .await?;
            debug!(
                generation = fresh.generation,
                "database changed; reloaded issuers, signers and faults"
            );
            current = Arc::new(fresh);
            self.directory.store(current.clone());
        }
        *lock(&self.seen_header) = header;
        Ok(current)
    }

    /// Answers one DER-encoded OCSP request.
    pub async fn answer(&self, der: &[u8]) -> Reply {
        self.metrics.request_bytes.observe(der.len() as f64);
        let request = match parse_request(der) {
            Ok(request) => request,
            Err(e) => {
                info!(error = %e, "malformedRequest");
                return Reply::error(ErrorStatus::MalformedRequest);
            }
        };
        if request.has_unsupported_critical_extension() {
            info!(extensions = ?request.unsupported_critical_extensions, "malformedRequest: unsupported critical extension");
            return Reply::error(ErrorStatus::MalformedRequest);
        }
        if let Some(nonce) = &request.nonce {
            let max = if self.config.long_nonces {
                RFC9654_MAX_NONCE_LEN
            } else {
                RFC8954_MAX_NONCE_LEN
            };
            if let Err(len) = nonce.check_length(max) {
                info!(len, max, "malformedRequest: nonce length out of range");
                return Reply::error(ErrorStatus::MalformedRequest);
            }
        }
        let dir = match self.directory().await {
            Ok(dir) => dir,
            Err(e) => {
                error!(error = %e, "cannot read the revocation database");
                return Reply::error(ErrorStatus::InternalError);
            }
        };
        match self.answer_with(&request, &dir).await {
            Ok(reply) => reply,
            Err(e) => {
                error!(error = %e, "internalError");
                Reply::error(ErrorStatus::InternalError)
            }
        }
    }

    async fn answer_with(&self, request: &ParsedRequest, dir: &Directory) -> Result<Reply> {
        let serials: Vec<Option<Serial>> = request
            .cert_ids
            .iter()
            .map(|c| Serial::from_bytes(&c.serial).ok())
            .collect();
        let mut tweak = None;
        if let Some((mode, cert)) = dir.fault_for(&serials, OffsetDateTime::now_utc()) {
            warn!(fault = %mode, certificate = cert.as_deref().unwrap_or("*"), "fault injected");
            self.metrics
                .faults
                .get_or_create(&FaultLabels {
                    mode: mode.to_string(),
                })
                .inc();
            match mode {
                FaultMode::TryLater => return Ok(Reply::error(ErrorStatus::TryLater)),
                FaultMode::InternalError => return Ok(Reply::error(ErrorStatus::InternalError)),
                FaultMode::Unauthorized => return Ok(Reply::error(ErrorStatus::Unauthorized)),
                FaultMode::MalformedResponse => {
                    return Ok(Reply::Ocsp(OcspReply {
                        der: Bytes::from_static(b"this is not a DER-encoded OCSP response\n"),
                        outcome: "malformedResponse",
                        freshness: None,
                    }));
                }
                FaultMode::Http500 => return Ok(Reply::Http500),
                FaultMode::Close => return Ok(Reply::Close),
                FaultMode::Delay(delay) => tokio::time::sleep(delay).await,
                FaultMode::Stale => tweak = Some(Tweak::Stale),
                FaultMode::Future => tweak = Some(Tweak::Future),
                FaultMode::NoNextUpdate => tweak = Some(Tweak::NoNextUpdate),
                FaultMode::BadSignature => tweak = Some(Tweak::BadSignature),
                FaultMode::WrongSigner => tweak = Some(Tweak::WrongSigner),
                FaultMode::WrongCertId => tweak = Some(Tweak::WrongCertId),
            }
        }

        let issuers: Vec<Option<&IssuerEntry>> =
            request.cert_ids.iter().map(|c| dir.issuer_for(c)).collect();
        if issuers.iter().any(Option::is_none)
            && self.config.unknown_issuer == UnknownIssuer::Unauthorized
        {
            info!("unauthorized: a CertID names an issuer this responder does not serve");
            return Ok(Reply::error(ErrorStatus::Unauthorized));
        }
        // One signature covers the whole response: the first served issuer's signer signs it.
        let signer = match issuers.iter().flatten().next() {
            Some(issuer) => issuer.signer.clone(),
            None => dir.fallback_signer(),
        };
        let Some(signer) = signer else {
            error!(
                "internalError: no signer for this issuer (no delegated signer recorded; run `testca signer`)"
            );
            return Ok(Reply::error(ErrorStatus::InternalError));
        };
        let signer = if tweak == Some(Tweak::WrongSigner) {
            self.rogue.clone()
        } else {
            signer
        };

        let cache_key = (request.nonce.is_none() && tweak.is_none()).then(|| cache_key(request));
        let cached = cache_key.as_ref().and_then(|key| self.cache.get(key));
        let cached = cached.filter(|c| {
            c.produced.elapsed() < self.config.reuse_for() && c.signer == signer.fingerprint
        });
        if let Some(c) = &cached
            && c.generation == dir.generation
        {
            self.metrics.cache_hits.inc();
            return Ok(Reply::Ocsp(c.reply.clone()));
        }

        let (statuses, unissued) = self.statuses(request, &issuers, dir).await?;
        if let (Some(c), Some(key)) = (&cached, &cache_key)
            && c.statuses == statuses
        {
            // Nothing this response says has changed: keep the signature.
            self.cache.insert(
                key.clone(),
                Arc::new(Presigned {
                    reply: c.reply.clone(),
                    produced: c.produced,
                    generation: dir.generation,
                    statuses: c.statuses.clone(),
                    signer: c.signer,
                }),
                unissued,
            );
            self.metrics.cache_hits.inc();
            return Ok(Reply::Ocsp(c.reply.clone()));
        }

        self.metrics.cache_misses.inc();
        let extended_revoke = unissued && self.config.unknown_serial == UnknownSerial::Revoked;
        let reply = self
            .sign(request, &statuses, &signer, tweak, extended_revoke)
            .await?;
        if let Some(key) = cache_key {
            self.cache.insert(
                key,
                Arc::new(Presigned {
                    reply: reply.clone(),
                    produced: Instant::now(),
                    generation: dir.generation,
                    statuses,
                    signer: signer.fingerprint,
                }),
                unissued,
            );
        }
        Ok(Reply::Ocsp(reply))
    }

    /// The status of each CertID, from the database, and whether any of them
    /// names a serial or an issuer the lab never issued.
    async fn statuses(
        &self,
        request: &ParsedRequest,
        issuers: &[Option<&IssuerEntry>],
        dir: &Directory,
    ) -> Result<(Vec<Status>, bool)> {
        let mut out = Vec::with_capacity(request.cert_ids.len());
        let mut unissued = false;
        for (cert_id, issuer) in request.cert_ids.iter().zip(issuers) {
            let status = match (issuer, Serial::from_bytes(&cert_id.serial)) {
                (None, _) => {
                    unissued = true;
                    Status::Unknown
                }
                (Some(_), Err(_)) => {
                    unissued = true;
                    self.never_issued()
                }
                (Some(issuer), Ok(serial)) => {
                    match dir.status(&self.store, issuer.id, serial).await? {
                        None => {
                            unissued = true;
                            self.never_issued()
                        }
                        Some(RevocationStatus::Good) => Status::Good,
                        Some(RevocationStatus::Revoked { at, reason }) => Status::Revoked {
                            revocation_time: at.into(),
                            reason: reason.map(crl_reason),
                        },
                    }
                }
            };
            out.push(status);
        }
        Ok((out, unissued))
    }

    fn never_issued(&self) -> Status {
        match self.config.unknown_serial {
            UnknownSerial::Unknown => Status::Unknown,
            // RFC 6960 §2.2: revocationTime January 1, 1970, reason certificateHold.
            UnknownSerial::Revoked => Status::Revoked {
                revocation_time: SystemTime::UNIX_EPOCH,
                reason: Some(CrlReason::CertificateHold),
            },
        }
    }

    /// Builds and signs a response on a blocking thread (signing must not stall the runtime).
    async fn sign(
        &self,
        request: &ParsedRequest,
        statuses: &[Status],
        signer: &Arc<SigningIdentity>,
        tweak: Option<Tweak>,
        extended_revoke: bool,
    ) -> Result<OcspReply> {
        let now = SystemTime::now();
        let (this_update, next_update) = match tweak {
            Some(Tweak::Stale) => {
                let next = now - FAULT_TIME_SHIFT;
                (
                    next.checked_sub(self.config.validity)
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                    Some(next),
                )
            }
            Some(Tweak::Future) => (
                now + FAULT_TIME_SHIFT,
                Some(now + FAULT_TIME_SHIFT + self.config.validity),
            ),
            Some(Tweak::NoNextUpdate) => (now - self.config.clock_skew, None),
            _ => (
                now - self.config.clock_skew,
                Some(now + self.config.validity),
            ),
        };
        let specs: Vec<SingleResponseSpec> = request
            .cert_ids
            .iter()
            .zip(statuses)
            .map(|(cert_id, status)| {
                let mut spec = SingleResponseSpec::new(cert_id, *status, this_update);
                spec.next_update = next_update;
                if tweak == Some(Tweak::WrongCertId) {
                    spec.cert_id.serial_number = next_serial(&cert_id.serial);
                }
                spec
            })
            .collect();
        let nonce: Option<RequestNonce> = request.nonce.clone();
        let responder_id: ResponderIdKind = self.config.responder_id.into();
        let corrupt = tweak == Some(Tweak::BadSignature);
        let identity = signer.clone();
        let started = Instant::now();
        let sign = move || {
            let options = ResponseOptions {
                produced_at: now,
                responder_id,
                include_signer_cert: identity.include_cert,
                nonce: nonce.as_ref(),
                corrupt_signature: corrupt,
                extended_revoke,
            };
            build_signed_response_der(&identity.signer, &specs, &options)
        };
        // An ECDSA P-256 or Ed25519 signature takes some 30 µs, less than handing it to
        // another thread costs (~40 µs measured): sign in place. RSA and P-384 take
        // 0.5 to 1 ms, which would stall other requests: those go to the blocking pool.
        let der = if signer.signer.is_fast() {
            sign()?
        } else {
            tokio::task::spawn_blocking(sign)
                .await
                .map_err(|e| crate::error::Error::Config(format!("signing task failed: {e}")))??
        };
        self.metrics
            .signing_seconds
            .observe(started.elapsed().as_secs_f64());
        // A response to a nonce is for one client only: nothing for HTTP caches.
        let freshness = request.nonce.is_none().then(|| {
            let etag = format!("\"{}\"", hex(&sha2::Sha256::digest(&der)[..16]));
            Freshness::new(this_update, next_update, etag)
        });
        Ok(OcspReply {
            der: Bytes::from(der),
            outcome: outcome(statuses),
            freshness,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the header half-written; keep going.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The cache key of a request: its CertIDs as encoded.
fn cache_key(request: &ParsedRequest) -> Vec<u8> {
    let mut key = Vec::with_capacity(64 * request.cert_ids.len());
    for cert_id in &request.cert_ids {
        key.extend_from_slice(&cert_id.serial);
        key.push(0);
        key.extend_from_slice(&cert_id.issuer_name_hash);
        key.push(0);
        key.extend_from_slice(&cert_id.issuer_key_hash);
        key.push(cert_id.hash_algorithm as u8);
        // Absent versus NULL hash parameters are echoed, so they are part of the key.
        key.push(u8::from(cert_id.raw.hash_algorithm.parameters.is_some()));
    }
    key
}

fn outcome(statuses: &[Status]) -> &'static str {
    let name = |s: &Status| match s {
        Status::Good => "good",
        Status::Revoked { .. } => "revoked",
        Status::Unknown => "unknown",
    };
    match statuses.split_first() {
        Some((first, rest)) if rest.iter().all(|s| name(s) == name(first)) => name(first),
        Some(_) => "mixed",
        None => "none",
    }
}

fn crl_reason(reason: RevocationReason) -> CrlReason {
    match reason {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
        RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    }
}

/// The serial after `serial` (INTEGER content octets), for the wrong-cert-id fault.
fn next_serial(serial: &[u8]) -> x509_cert::serial_number::SerialNumber {
    let mut bytes = serial.to_vec();
    for b in bytes.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    // Keep it positive: a leading 0x00 if the top bit got set.
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    x509_cert::serial_number::SerialNumber::new(&bytes)
        .unwrap_or_else(|_| x509_cert::serial_number::SerialNumber::from(1u8))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A signer no CA of the lab certified, for the wrong-signer fault.
fn rogue_signer() -> Result<SigningIdentity> {
    let key = rcgen::KeyPair::generate()
        .map_err(|e| crate::error::Error::Config(format!("rogue signer: {e}")))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "OCSP Lab rogue signer (certified by no lab CA)",
    );
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::OcspSigning];
    let cert = params
        .self_signed(&key)
        .map_err(|e| crate::error::Error::Config(format!("rogue signer: {e}")))?;
    SigningIdentity::new(key, cert.der(), true, "rogue signer".into())
}
