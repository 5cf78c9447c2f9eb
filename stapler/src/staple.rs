//! The staple of one certificate: fetched before serving, refreshed in the
//! background at a fraction of its validity, verified before it replaces the
//! last good one, kept across failures until it really expires, persisted
//! across restarts, and never stapled once expired.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use openssl::x509::X509;
use rand::Rng;
use rustls::sign::{CertifiedKey, SigningKey};
use serde::Serialize;
use sha2::Digest;
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::chain::{IssuerSource, ServedCert};
use crate::config::{CertConfig, RevokedPolicy, Settings};
use crate::fetch::{build_request, post};
use crate::metrics::{CertLabel, FetchLabels, Metrics};
use crate::verify::{CertState, Expectation, Problem, Verified, verify};
use prometheus_client::metrics::counter::Counter;

/// Where the held staple came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StapleSource {
    /// Fetched from the responder by this process.
    Fetched,
    /// Reloaded from the cache directory at startup.
    Cache,
    /// Read from the static staple file.
    File,
}

/// The TLS identities of a certificate, with and without its staple.
struct Keys {
    stapled: Arc<CertifiedKey>,
    bare: Arc<CertifiedKey>,
    /// When the stapled identity stops being usable (the staple's nextUpdate).
    expires: Option<SystemTime>,
}

/// What changes as fetches come and go.
#[derive(Default)]
struct SlotState {
    staple: Option<(Arc<Verified>, StapleSource)>,
    last_fetch: Option<SystemTime>,
    last_error: Option<String>,
    next_refresh: Option<SystemTime>,
    failures: u32,
}

/// One served certificate and its staple.
pub struct Slot {
    /// The certificate.
    pub cert: ServedCert,
    /// Its display name.
    pub name: String,
    issuer: Option<(X509, IssuerSource)>,
    trusted: Vec<X509>,
    responder_url: Option<String>,
    staple_file: Option<PathBuf>,
    /// Why this certificate is served without stapling, if it is.
    pub disabled: Option<String>,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    signing_key: Arc<dyn SigningKey>,
    state: Mutex<SlotState>,
    keys: ArcSwap<Keys>,
    wake: Notify,
    /// Handshake counters, with and without a staple (made once: a handshake only bumps an atomic).
    selections: (Counter, Counter),
    /// Rounds of the background task begun, and (below) finished.
    begun: AtomicU64,
    rounds: watch::Sender<u64>,
}

/// A problem found while setting a certificate up, that `--strict` makes fatal.
#[derive(Debug, Clone)]
pub struct SetupProblem(pub String);

impl Slot {
    /// Prepares a certificate: finds its issuer and responder, reloads its
    /// persisted staple. Returns the slot and, when stapling is impossible,
    /// why (it is still served, without a staple).
    pub async fn prepare(
        config: &CertConfig,
        settings: Arc<Settings>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<(Arc<Slot>, Option<SetupProblem>)> {
        let cert = ServedCert::load(&config.cert, &config.key)?;
        let name = cert.name();
        let signing_key =
            rustls::crypto::ring::sign::any_supported_type(&cert.key).map_err(|e| {
                anyhow::anyhow!("{}: unsupported private key: {e}", config.key.display())
            })?;
        let trusted = match &config.issuer {
            Some(path) => crate::chain::load_pem_certificates(path)?,
            None => Vec::new(),
        };
        let responder_url = config.responder.clone().or_else(|| cert.ocsp_url.clone());
        let stapling = settings.stapling();
        // The issuer is needed to ask the responder, and to verify any response.
        let needs_issuer = stapling && (config.staple_file.is_none() || settings.verify());
        let fetch_issuer =
            (!settings.options.no_fetch_issuer).then_some(settings.options.fetch_timeout);
        let issuer = if needs_issuer {
            cert.find_issuer(&trusted, fetch_issuer).await
        } else {
            None
        };
        if let (Some((_, IssuerSource::CaIssuersUrl)), Some(url)) = (&issuer, &cert.ca_issuers_url)
        {
            warn!(
                certificate = %name,
                "the chain in {} lacks the issuer certificate: fetched it from {url} (AIA CA Issuers) to staple, \
                 but clients that do not fetch it themselves cannot build the chain; append the issuer to {}",
                config.cert.display(),
                config.cert.display()
            );
        }
        let now =
            openssl::asn1::Asn1Time::days_from_now(0).map_err(|e| anyhow::anyhow!("clock: {e}"))?;
        if let Some(problem) = cert.validity_problem(&now) {
            error!(
                certificate = %name,
                "the certificate in {} {problem}: clients will reject it whatever the staple says; renew it",
                config.cert.display()
            );
        }
        let mut disabled = None;
        if !stapling {
            disabled = Some("stapling is off (--no-stapling)".to_string());
        } else if issuer.is_none() && (config.staple_file.is_none() || settings.verify()) {
            let file_part = match &config.issuer {
                Some(path) => format!(", nor does {}", path.display()),
                None => String::new(),
            };
            let aia_part = match (&cert.ca_issuers_url, fetch_issuer) {
                (Some(url), Some(_)) => format!(", and {url} (AIA CA Issuers) did not provide it"),
                (Some(_), None) => {
                    ", and fetching it from the AIA CA Issuers URL is off (--no-fetch-issuer)"
                        .into()
                }
                (None, _) => String::new(),
            };
            disabled = Some(format!(
                "{name} ({}): cannot retrieve the issuer certificate (cf. Apache AH02217 \"Can't retrieve issuer certificate!\", \
                 nginx \"issuer certificate not found\"): the chain holds no certificate that issued it{file_part}{aia_part}; \
                 put the issuer after the leaf in {} or pass --issuer FILE (ssl_trusted_certificate / SSLCACertificateFile); \
                 serving it without a staple",
                config.cert.display(),
                config.cert.display()
            ));
        } else if responder_url.is_none() && config.staple_file.is_none() {
            disabled = Some(format!(
                "{name} ({}): no OCSP responder URL in the certificate's Authority Information Access \
                 (cf. nginx \"no OCSP responder URL in the certificate\"); pass --responder URL \
                 (ssl_stapling_responder / SSLStaplingForceURL); serving it without a staple",
                config.cert.display()
            ));
        }
        let bare = Arc::new(CertifiedKey::new(cert.chain.clone(), signing_key.clone()));
        let keys = Keys {
            stapled: bare.clone(),
            bare,
            expires: None,
        };
        let problem = disabled.clone().map(SetupProblem);
        let selections = (
            selection_counter(&metrics, &name, "stapled"),
            selection_counter(&metrics, &name, "no-staple"),
        );
        let slot = Arc::new(Slot {
            name,
            issuer,
            trusted,
            responder_url,
            staple_file: config.staple_file.clone(),
            disabled,
            settings,
            metrics,
            signing_key,
            state: Mutex::new(SlotState::default()),
            keys: ArcSwap::from_pointee(keys),
            wake: Notify::new(),
            selections,
            begun: AtomicU64::new(0),
            rounds: watch::channel(0).0,
            cert,
        });
        if slot.disabled.is_none() {
            slot.reload_persisted();
        }
        slot.update_gauges();
        Ok((slot, problem))
    }

    /// The identity to present now: with the staple while it is valid.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        let keys = self.keys.load();
        let stapled = keys.expires.is_some_and(|end| SystemTime::now() < end);
        let (with, without) = &self.selections;
        if stapled {
            with.inc()
        } else {
            without.inc()
        };
        if stapled {
            keys.stapled.clone()
        } else {
            keys.bare.clone()
        }
    }

    /// Whether a valid staple is held now.
    pub fn has_valid_staple(&self) -> bool {
        self.current().is_some()
    }

    /// The staple held, if still valid.
    pub fn current(&self) -> Option<Arc<Verified>> {
        let now = SystemTime::now();
        self.lock()
            .staple
            .as_ref()
            .filter(|(v, _)| v.is_current(now))
            .map(|(v, _)| v.clone())
    }

    /// Asks the background task to refresh now.
    pub fn refresh_now(&self) {
        self.wake.notify_one();
    }

    /// Waits until the background task has finished a round begun after
    /// this call (bounded): a round already under way may have fetched
    /// before whatever made the caller ask.
    pub async fn refreshed(&self, timeout: Duration) -> bool {
        if self.disabled.is_some() {
            // No background task, nothing to wait for.
            return true;
        }
        let mut rounds = self.rounds.subscribe();
        let wanted = self.begun.load(Ordering::SeqCst) + 1;
        self.refresh_now();
        tokio::time::timeout(timeout, rounds.wait_for(|finished| *finished >= wanted))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// One fetch, verify and apply, outside the background task (startup).
    pub async fn fetch_now(&self) {
        if self.disabled.is_none() {
            let outcome = self.fetch().await;
            self.apply(outcome);
        }
    }

    /// The background task: refreshes at the configured point, backs off on
    /// failure, drops the staple when it expires. Ends when `stop` flips.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if self.disabled.is_some() {
            return;
        }
        loop {
            let now = SystemTime::now();
            let (due, expires) = {
                let state = self.lock();
                (
                    state.next_refresh.unwrap_or(now),
                    state.staple.as_ref().map(|(v, _)| v.next_update),
                )
            };
            let mut wake_at = due;
            if let Some(end) = expires.filter(|end| *end > now) {
                wake_at = wake_at.min(end);
            }
            let sleep = wake_at.duration_since(now).unwrap_or(Duration::ZERO);
            let forced = tokio::select! {
                () = tokio::time::sleep(sleep) => false,
                () = self.wake.notified() => true,
                _ = stop.changed() => return,
            };
            self.expire_if_due();
            let now = SystemTime::now();
            if forced || now >= self.lock().next_refresh.unwrap_or(now) {
                self.begun.fetch_add(1, Ordering::SeqCst);
                let outcome = self.fetch().await;
                self.apply(outcome);
                self.rounds.send_modify(|n| *n += 1);
            }
        }
    }

    async fn fetch(&self) -> Result<Verified, String> {
        if let Some(path) = &self.staple_file {
            let der =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            return self
                .check(&der, None)
                .map_err(|p| format!("{}: {p}", path.display()));
        }
        let (Some((issuer, _)), Some(url)) = (&self.issuer, &self.responder_url) else {
            return Err("stapling is not possible for this certificate".into());
        };
        let request = build_request(&self.cert.leaf, issuer, self.settings.options.nonce)
            .map_err(|e| e.to_string())?;
        let der = post(url, &request, self.settings.options.fetch_timeout)
            .await
            .map_err(|e| format!("fetch failed: {e}"))?;
        self.check(&der, request.nonce.as_deref())
            .map_err(|p| format!("response refused: {p} ({})", p.remedy()))
    }

    fn check(&self, der: &[u8], nonce: Option<&[u8]>) -> Result<Verified, Problem> {
        let Some((issuer, _)) = &self.issuer else {
            // Only reachable with a static file and verification off.
            return unverified(der);
        };
        let expectation = Expectation {
            leaf: &self.cert.leaf,
            issuer,
            untrusted: &self.cert.intermediates,
            trusted: &self.trusted,
            nonce,
            clock_skew: self.settings.options.clock_skew,
            check_signature: self.settings.verify(),
        };
        verify(der, &expectation, SystemTime::now())
    }

    /// Installs a fetch's outcome: a good response replaces the last one; a
    /// failure never does.
    fn apply(&self, outcome: Result<Verified, String>) {
        let now = SystemTime::now();
        let source = if self.staple_file.is_some() {
            StapleSource::File
        } else {
            StapleSource::Fetched
        };
        let result_label;
        {
            let mut state = self.lock();
            state.last_fetch = Some(now);
            match outcome {
                Ok(verified) => {
                    let verified = Arc::new(verified);
                    state.failures = 0;
                    state.last_error = None;
                    state.next_refresh = Some(self.refresh_point(&verified, now));
                    match (&verified.state, self.settings.options.revoked) {
                        (CertState::Good, _) => {
                            result_label = "good";
                            info!(certificate = %self.name, next_update = %rfc3339(verified.next_update), "staple refreshed: good");
                            state.staple = Some((verified.clone(), source));
                        }
                        (CertState::Revoked { at, reason }, policy) => {
                            result_label = "revoked";
                            self.metrics.revoked.get_or_create(&self.label()).inc();
                            let reason = reason.as_deref().unwrap_or("unspecified");
                            if policy == RevokedPolicy::Staple {
                                error!(certificate = %self.name, revoked_at = %rfc3339(*at), reason, "certificate is REVOKED: stapling the revoked response so that clients learn it");
                                state.staple = Some((verified.clone(), source));
                            } else {
                                error!(certificate = %self.name, revoked_at = %rfc3339(*at), reason, "certificate is REVOKED: no longer stapling (--revoked drop)");
                                state.staple = None;
                            }
                        }
                    }
                    // A revoked response is kept too (even with --revoked drop, which
                    // ignores it at the next start): the good one before it must not come back.
                    if source == StapleSource::Fetched {
                        self.persist(&verified.der);
                    }
                }
                Err(why) => {
                    result_label = "refused";
                    state.failures = state.failures.saturating_add(1);
                    let mut retry = now + self.backoff(state.failures);
                    // Retry before the staple held expires, whatever the backoff says.
                    if let Some((held, _)) =
                        state.staple.as_ref().filter(|(v, _)| v.is_current(now))
                    {
                        let left = held
                            .next_update
                            .duration_since(now)
                            .unwrap_or(Duration::ZERO);
                        retry = retry.min(now + (left / 2).max(Duration::from_secs(1)));
                    }
                    state.next_refresh = Some(retry);
                    let kept = state.staple.as_ref().filter(|(v, _)| v.is_current(now));
                    match kept {
                        Some((v, _)) => {
                            warn!(certificate = %self.name, error = %why, until = %rfc3339(v.next_update), "keeping the last good response until it expires")
                        }
                        None => {
                            warn!(certificate = %self.name, error = %why, "no valid response to staple")
                        }
                    }
                    state.last_error = Some(why);
                }
            }
        }
        self.metrics
            .fetches
            .get_or_create(&FetchLabels {
                certificate: self.name.clone(),
                result: result_label.into(),
            })
            .inc();
        self.install_keys();
        if self.cert.must_staple && !self.has_valid_staple() {
            error!(certificate = %self.name, "must-staple certificate has no valid staple: clients that enforce must-staple (Firefox, GnuTLS) will refuse it");
        }
    }

    /// When to refresh after a good response: at the configured fraction of
    /// its validity, within the minimum and maximum intervals, and before it expires.
    fn refresh_point(&self, v: &Verified, now: SystemTime) -> SystemTime {
        let o = &self.settings.options;
        let validity = v
            .next_update
            .duration_since(v.this_update)
            .unwrap_or(Duration::ZERO);
        let planned = v.this_update + validity.mul_f64(o.refresh_fraction);
        let earliest = now + o.min_refresh;
        let latest = now + o.max_refresh;
        let at = planned.clamp(earliest, latest);
        // A refresh after expiry would leave a gap: go just before it instead.
        if at >= v.next_update {
            let left = v.next_update.duration_since(now).unwrap_or(Duration::ZERO);
            now + left / 2
        } else {
            at
        }
    }

    /// Exponential backoff with jitter (between half and all of the step).
    fn backoff(&self, failures: u32) -> Duration {
        let o = &self.settings.options;
        let step = o
            .backoff_min
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
            .min(o.backoff_max);
        step.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Drops a staple whose nextUpdate has passed.
    fn expire_if_due(&self) {
        let now = SystemTime::now();
        let expired = {
            let mut state = self.lock();
            match &state.staple {
                Some((v, _)) if !v.is_current(now) => {
                    let end = v.next_update;
                    state.staple = None;
                    Some(end)
                }
                _ => None,
            }
        };
        if let Some(end) = expired {
            warn!(certificate = %self.name, next_update = %rfc3339(end), "the staple expired: no longer stapling (an expired staple is never sent)");
            self.install_keys();
        }
    }

    fn install_keys(&self) {
        let staple = self.lock().staple.as_ref().map(|(v, _)| v.clone());
        let bare = self.keys.load().bare.clone();
        let keys = match staple {
            Some(v) => {
                let mut stapled =
                    CertifiedKey::new(self.cert.chain.clone(), self.signing_key.clone());
                stapled.ocsp = Some(v.der.clone());
                Keys {
                    stapled: Arc::new(stapled),
                    bare,
                    expires: Some(v.next_update),
                }
            }
            None => Keys {
                stapled: bare.clone(),
                bare,
                expires: None,
            },
        };
        self.keys.store(Arc::new(keys));
        self.update_gauges();
    }

    fn update_gauges(&self) {
        let current = self.current();
        let label = self.label();
        self.metrics
            .staple_valid
            .get_or_create(&label)
            .set(i64::from(current.is_some()));
        let left = current
            .as_ref()
            .and_then(|v| v.next_update.duration_since(SystemTime::now()).ok())
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.metrics
            .staple_expiry_seconds
            .get_or_create(&label)
            .set(left);
        self.metrics
            .must_staple_missing
            .get_or_create(&label)
            .set(i64::from(self.cert.must_staple && current.is_none()));
    }

    fn cache_path(&self) -> PathBuf {
        let digest = sha2::Sha256::digest(&self.cert.chain[0]);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.settings.cache_dir().join(format!("{hex}.ocsp"))
    }

    /// Writes the staple atomically to the cache directory (best effort: a
    /// failure is logged, the staple is still served).
    fn persist(&self, der: &[u8]) {
        let path = self.cache_path();
        if let Err(e) = labcore::files::write_atomic(&path, der, labcore::files::Secrecy::Public) {
            warn!(certificate = %self.name, error = %e, "cannot persist the staple");
        }
    }

    /// Reloads the persisted staple if it still verifies.
    fn reload_persisted(&self) {
        if self.staple_file.is_some() {
            return;
        }
        let path = self.cache_path();
        let Ok(der) = std::fs::read(&path) else {
            return;
        };
        match self.check(&der, None) {
            Ok(v)
                if v.state == CertState::Good
                    || self.settings.options.revoked == RevokedPolicy::Staple =>
            {
                info!(certificate = %self.name, file = %path.display(), next_update = %rfc3339(v.next_update), "reloaded the persisted staple");
                let mut state = self.lock();
                state.next_refresh = Some(SystemTime::now());
                state.staple = Some((Arc::new(v), StapleSource::Cache));
                drop(state);
                self.install_keys();
            }
            Ok(_) => {}
            Err(p) => {
                info!(certificate = %self.name, file = %path.display(), reason = %p, "ignoring the persisted staple")
            }
        }
    }

    fn label(&self) -> CertLabel {
        CertLabel {
            certificate: self.name.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Why clients reject the certificate itself right now (expired, not yet valid), if they do.
    pub fn certificate_problem(&self) -> Option<String> {
        let now = openssl::asn1::Asn1Time::days_from_now(0).ok()?;
        self.cert.validity_problem(&now)
    }

    /// The certificate's state, for the status page and `/status.json`.
    pub fn status(&self) -> CertificateStatus {
        let now = SystemTime::now();
        let state = self.lock();
        let staple = state
            .staple
            .as_ref()
            .filter(|(v, _)| v.is_current(now))
            .map(|(v, source)| {
                let (status, reason, revoked_at) = match &v.state {
                    CertState::Good => ("good", None, None),
                    CertState::Revoked { at, reason } => (
                        "revoked",
                        reason.clone().or(Some("unspecified".into())),
                        Some(rfc3339(*at)),
                    ),
                };
                StapleStatus {
                    status,
                    reason,
                    revoked_at,
                    this_update: rfc3339(v.this_update),
                    next_update: rfc3339(v.next_update),
                    produced_at: rfc3339(v.produced_at),
                    seconds_left: v.next_update.duration_since(now).map_or(0, |d| d.as_secs()),
                    signer: v.signer.clone(),
                    source: *source,
                    bytes: v.der.len(),
                }
            });
        CertificateStatus {
            name: self.name.clone(),
            file: self.cert.cert_path.display().to_string(),
            serial: self.cert.serial_hex(),
            subject: crate::verify::name_text(&self.cert.leaf),
            dns_names: self.cert.dns_names.clone(),
            ocsp_url: self.responder_url.clone(),
            issuer: self.issuer.as_ref().map(|(c, source)| IssuerStatus {
                subject: crate::verify::name_text(c),
                source: match source {
                    IssuerSource::Chain => "chain",
                    IssuerSource::IssuerFile => "issuer file",
                    IssuerSource::CaIssuersUrl => "AIA CA Issuers URL",
                },
            }),
            must_staple: self.cert.must_staple,
            certificate_problem: self.certificate_problem(),
            stapling: self.disabled.is_none(),
            disabled_reason: self.disabled.clone(),
            verify: self.settings.verify(),
            staple,
            last_fetch: state.last_fetch.map(rfc3339),
            next_refresh: state.next_refresh.map(rfc3339),
            last_error: state.last_error.clone(),
            consecutive_failures: state.failures,
        }
    }
}

/// A certificate's state as shown on the status page and in `/status.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateStatus {
    /// Display name (common name).
    pub name: String,
    /// Chain file.
    pub file: String,
    /// Serial, hex.
    pub serial: String,
    /// Subject.
    pub subject: String,
    /// DNS names served by SNI.
    pub dns_names: Vec<String>,
    /// Where staples come from.
    pub ocsp_url: Option<String>,
    /// The issuer found.
    pub issuer: Option<IssuerStatus>,
    /// TLS Feature status_request.
    pub must_staple: bool,
    /// Why clients reject the certificate itself (expired, not yet valid), if they do.
    pub certificate_problem: Option<String>,
    /// Whether stapling is possible for it.
    pub stapling: bool,
    /// Why not, if not.
    pub disabled_reason: Option<String>,
    /// Whether responses are verified.
    pub verify: bool,
    /// The staple held, if valid.
    pub staple: Option<StapleStatus>,
    /// Last fetch attempt.
    pub last_fetch: Option<String>,
    /// Next planned refresh.
    pub next_refresh: Option<String>,
    /// Why the last fetch was refused, if it was.
    pub last_error: Option<String>,
    /// Failed fetches in a row.
    pub consecutive_failures: u32,
}

/// The issuer found for a certificate.
#[derive(Debug, Clone, Serialize)]
pub struct IssuerStatus {
    /// Its subject.
    pub subject: String,
    /// Where it was found.
    pub source: &'static str,
}

/// The staple held.
#[derive(Debug, Clone, Serialize)]
pub struct StapleStatus {
    /// good or revoked.
    pub status: &'static str,
    /// Revocation reason.
    pub reason: Option<String>,
    /// Revocation time.
    pub revoked_at: Option<String>,
    /// thisUpdate.
    pub this_update: String,
    /// nextUpdate.
    pub next_update: String,
    /// producedAt.
    pub produced_at: String,
    /// Seconds until nextUpdate.
    pub seconds_left: u64,
    /// Who signed it.
    pub signer: String,
    /// Where it came from.
    pub source: StapleSource,
    /// Size in bytes.
    pub bytes: usize,
}

fn selection_counter(metrics: &Metrics, name: &str, result: &str) -> Counter {
    metrics
        .handshakes
        .get_or_create(&FetchLabels {
            certificate: name.to_string(),
            result: result.to_string(),
        })
        .clone()
}

/// RFC 3339 text of a time, to the second.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A static staple file served without verification (`--no-verify`): only
/// its status and dates are read. Public for the fuzz targets (`fuzz/`).
pub fn unverified(der: &[u8]) -> Result<Verified, Problem> {
    use der::Decode;
    let parsed = x509_ocsp::OcspResponse::from_der(der).map_err(|_| Problem::NotDer)?;
    let bytes = parsed.response_bytes.ok_or(Problem::NotBasic)?;
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(|_| Problem::NotBasic)?;
    let single = basic
        .tbs_response_data
        .responses
        .first()
        .ok_or(Problem::WrongCertificate)?;
    let next_update = single
        .next_update
        .map(|t| t.0.to_system_time())
        .ok_or(Problem::NoNextUpdate)?;
    let state = match &single.cert_status {
        x509_ocsp::CertStatus::Good(_) => CertState::Good,
        x509_ocsp::CertStatus::Revoked(info) => CertState::Revoked {
            at: info.revocation_time.0.to_system_time(),
            reason: None,
        },
        x509_ocsp::CertStatus::Unknown(_) => return Err(Problem::Unknown),
    };
    Ok(Verified {
        der: der.to_vec(),
        state,
        this_update: single.this_update.0.to_system_time(),
        next_update,
        produced_at: basic.tbs_response_data.produced_at.0.to_system_time(),
        signer: "not verified".into(),
    })
}
