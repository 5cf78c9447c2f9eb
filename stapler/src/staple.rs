//! One served certificate and its staple: the glue between the setup
//! ([`crate::setup`]), the staple's life ([`crate::lifecycle`], where every
//! decision is made), where responses come from ([`crate::source`]), the
//! cache directory ([`crate::persist`]), the handshake ([`crate::tls`]), the
//! metrics and the status page. This module runs the background task and
//! carries decisions out; it decides nothing itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::chain::ServedCert;
use crate::config::{CertConfig, Settings};
use crate::identity::Identity;
use crate::lifecycle::{Event, Note, Rules, StapleSource, Stapling};
use crate::metrics::{CertMetrics, FetchResult, Metrics};
use crate::schedule::{Jitter, Schedule};
use crate::setup::{Plan, Setup, SetupError, StaplePlan};
use crate::source::Origin;
use crate::status::{CertificateStatus, rfc3339};
use crate::verify::{CertState, VerifiedStaple};

/// One served certificate and its staple.
pub struct Slot {
    /// The certificate.
    pub cert: ServedCert,
    /// Its display name.
    pub name: String,
    setup: Setup,
    rules: Rules,
    metrics: CertMetrics,
    /// Held only to read or swap the state: no I/O, no await under it.
    state: Mutex<Stapling>,
    identity: ArcSwap<Identity>,
    wake: Notify,
    /// Rounds of the background task begun, and (below) finished.
    begun: AtomicU64,
    rounds: watch::Sender<u64>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
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
    ) -> Result<(Arc<Slot>, Option<SetupProblem>), SetupError> {
        let setup = Setup::prepare(config, &settings).await?;
        let now = SystemTime::now();
        let (state, problem) = match &setup.plan {
            Plan::Staple(_) => (Stapling::start(now), None),
            Plan::Off { reason } => (
                Stapling::off(reason.clone()),
                Some(SetupProblem(reason.clone())),
            ),
        };
        let identity = Identity::bare(setup.cert.chain.clone(), setup.signing_key.clone());
        let slot = Arc::new(Slot {
            cert: setup.cert.clone(),
            name: setup.name.clone(),
            metrics: CertMetrics::new(metrics, &setup.name),
            rules: Rules {
                schedule: Schedule::of(&settings.options),
                revoked: settings.options.revoked,
            },
            setup,
            state: Mutex::new(state),
            identity: ArcSwap::from_pointee(identity),
            wake: Notify::new(),
            begun: AtomicU64::new(0),
            rounds: watch::channel(0).0,
        });
        slot.reload_persisted().await;
        slot.show_gauges(SystemTime::now());
        Ok((slot, problem))
    }

    fn plan(&self) -> Option<&StaplePlan> {
        match &self.setup.plan {
            Plan::Staple(plan) => Some(plan),
            Plan::Off { .. } => None,
        }
    }

    /// Why this certificate is served without stapling, if it is.
    pub fn off_reason(&self) -> Option<String> {
        self.lock().off_reason().map(str::to_string)
    }

    /// The identity to present now: with the staple while it is valid.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        let (key, stapled) = self.identity.load().for_handshake(SystemTime::now());
        self.metrics.handshake(stapled);
        key
    }

    /// Whether a valid staple is held now.
    pub fn has_valid_staple(&self) -> bool {
        self.current().is_some()
    }

    /// The staple held, if still valid.
    pub fn current(&self) -> Option<Arc<VerifiedStaple>> {
        self.lock()
            .staple_at(SystemTime::now())
            .map(|(staple, _)| staple.clone())
    }

    /// Asks the background task to refresh now.
    pub fn refresh_now(&self) {
        self.wake.notify_one();
    }

    /// Waits until the background task has finished a round begun after
    /// this call (bounded): a round already under way may have fetched
    /// before whatever made the caller ask.
    pub async fn refreshed(&self, timeout: Duration) -> bool {
        if self.plan().is_none() {
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
        if let Some(plan) = self.plan() {
            self.round(plan).await;
        }
    }

    /// The background task: sleeps until the state says (a refresh, a
    /// retry, an expiry) or until asked, then lets time pass and fetches
    /// when due. Ends when `stop` flips, or at once for a certificate that
    /// is not stapled.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let Some(plan) = self.plan() else {
            return;
        };
        loop {
            let Some(wake_at) = self.lock().wake_at() else {
                return;
            };
            let sleep = wake_at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let forced = tokio::select! {
                () = tokio::time::sleep(sleep) => false,
                () = self.wake.notified() => true,
                _ = stop.changed() => return,
            };
            let due = forced || self.lock().refresh_due(SystemTime::now());
            self.handle(Event::Tick).await;
            if due {
                self.begun.fetch_add(1, Ordering::SeqCst);
                self.round(plan).await;
                self.rounds.send_modify(|n| *n += 1);
            }
        }
    }

    /// Obtains a response and hands the outcome to the state.
    async fn round(&self, plan: &StaplePlan) {
        let event = match plan.origin.obtain(&plan.verifier, SystemTime::now).await {
            Ok(staple) => Event::Fetched {
                staple: Arc::new(staple),
                source: match plan.origin {
                    Origin::Responder { .. } => StapleSource::Fetched,
                    Origin::File(_) => StapleSource::File,
                },
            },
            Err(error) => Event::Failed(error),
        };
        self.handle(event).await;
        if self.cert.must_staple && !self.has_valid_staple() {
            error!(certificate = %self.name, "must-staple certificate has no valid staple: clients that enforce must-staple (Firefox, GnuTLS) will refuse it");
        }
    }

    /// Steps the state with `event` and carries the decision out.
    async fn handle(&self, event: Event) {
        let result = match &event {
            Event::Fetched { staple, .. } => Some(match staple.state() {
                CertState::Good => FetchResult::Good,
                CertState::Revoked { .. } => FetchResult::Revoked,
            }),
            Event::Failed(_) => Some(FetchResult::Refused),
            Event::Reloaded(_) | Event::Tick => None,
        };
        let received = match &event {
            Event::Fetched { staple, .. } | Event::Reloaded(staple) => Some(staple.clone()),
            Event::Failed(_) | Event::Tick => None,
        };
        let now = SystemTime::now();
        let (decision, error) = {
            let mut state = self.lock();
            let current = std::mem::replace(&mut *state, Stapling::off(String::new()));
            let step = current.step(event, now, &self.rules, Jitter::random());
            *state = step.state;
            let error = state.failures().map(|f| f.last.to_string());
            (step.decision, error)
        };
        if let Some(identity) = self.identity.load().with_staple(decision.staple.as_ref()) {
            self.identity.store(Arc::new(identity));
        }
        if let Some(at) = decision.expired {
            warn!(certificate = %self.name, next_update = %rfc3339(at), "the staple expired: no longer stapling (an expired staple is never sent)");
        }
        self.tell(&decision.note, received.as_deref(), error.as_deref());
        if let Some(result) = result {
            self.metrics.fetched(result);
        }
        self.show_gauges(now);
        if let (Some(staple), Some(cache)) =
            (decision.persist, self.plan().and_then(|p| p.cache.as_ref()))
            && let Err(e) = cache.save(staple.der().to_vec()).await
        {
            warn!(certificate = %self.name, error = %e, "cannot persist the staple");
        }
    }

    /// Says what a step did (`received`: the response the event brought).
    fn tell(&self, note: &Note, received: Option<&VerifiedStaple>, error: Option<&str>) {
        let name = &self.name;
        let error = error.unwrap_or("");
        let revocation = || match received.map(VerifiedStaple::state) {
            Some(CertState::Revoked { at, reason }) => (
                rfc3339(*at),
                reason.clone().unwrap_or_else(|| "unspecified".into()),
            ),
            _ => (String::new(), "unspecified".into()),
        };
        match note {
            Note::Nothing | Note::ReloadIgnored => {}
            Note::Good => {
                let next_update = received
                    .map(|s| rfc3339(s.next_update()))
                    .unwrap_or_default();
                info!(certificate = %name, next_update = %next_update, "staple refreshed: good");
            }
            Note::RevokedStapled => {
                let (revoked_at, reason) = revocation();
                error!(certificate = %name, revoked_at = %revoked_at, reason, "certificate is REVOKED: stapling the revoked response so that clients learn it");
            }
            Note::RevokedDropped => {
                let (revoked_at, reason) = revocation();
                error!(certificate = %name, revoked_at = %revoked_at, reason, "certificate is REVOKED: no longer stapling (--revoked drop)");
            }
            Note::KeptLastGood { until } => {
                warn!(certificate = %name, error = %error, until = %rfc3339(*until), "keeping the last good response until it expires");
            }
            Note::NoValidStaple => {
                warn!(certificate = %name, error = %error, "no valid response to staple");
            }
            Note::OlderIgnored => {
                let this_update = received
                    .map(|s| rfc3339(s.this_update()))
                    .unwrap_or_default();
                warn!(certificate = %name, this_update = %this_update, "ignored a response older than the staple held (a cache in front of the responder?)");
            }
            Note::Reloaded => {
                let next_update = received
                    .map(|s| rfc3339(s.next_update()))
                    .unwrap_or_default();
                let file = self
                    .plan()
                    .and_then(|p| p.cache.as_ref())
                    .map(|c| c.path().display().to_string())
                    .unwrap_or_default();
                info!(certificate = %name, file = %file, next_update = %next_update, "reloaded the persisted staple");
            }
        }
    }

    fn show_gauges(&self, now: SystemTime) {
        let left = self.current().map(|s| {
            s.next_update()
                .duration_since(now)
                .map_or(0, |d| d.as_secs())
        });
        self.metrics.holding(left, self.cert.must_staple);
    }

    /// Hands the persisted staple to the state, if it still verifies.
    async fn reload_persisted(&self) {
        let Some((plan, cache)) = self.plan().and_then(|p| Some((p, p.cache.as_ref()?))) else {
            return;
        };
        let file = cache.path().display().to_string();
        let der = match cache.load().await {
            Ok(Some(der)) => der,
            Ok(None) => return,
            Err(e) => {
                info!(certificate = %self.name, file, reason = %e, "ignoring the persisted staple");
                return;
            }
        };
        match plan.verifier.check(&der, None, SystemTime::now()) {
            Ok(staple) => self.handle(Event::Reloaded(Arc::new(staple))).await,
            Err(p) => {
                info!(certificate = %self.name, file, reason = %p, "ignoring the persisted staple")
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Stapling> {
        labcore::sync::lock(&self.state)
    }

    /// Why clients reject the certificate itself right now (expired, not yet valid), if they do.
    pub fn certificate_problem(&self) -> Option<String> {
        self.setup.certificate_problem()
    }

    /// The certificate's state, for the status page and `/status.json`.
    pub fn status(&self) -> CertificateStatus {
        let state = self.lock().clone();
        CertificateStatus::new(&self.setup, &state, SystemTime::now())
    }
}
