//! Prometheus metrics of the stapler (`GET /metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A certificate label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertLabel {
    /// The certificate's name.
    pub certificate: String,
}

/// A fetch result label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    /// The certificate's name.
    pub certificate: String,
    /// `good`, `revoked`, or why the response was refused (`fetch-failed`, `error-status`, `bad-signature`…).
    pub result: String,
}

/// The stapler's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Fetches, by result.
    pub fetches: Family<FetchLabels, Counter>,
    /// 1 while a valid staple is held.
    pub staple_valid: Family<CertLabel, Gauge>,
    /// Seconds until the held staple's nextUpdate (0 without one).
    pub staple_expiry_seconds: Family<CertLabel, Gauge>,
    /// Revoked responses received.
    pub revoked: Family<CertLabel, Counter>,
    /// 1 while a must-staple certificate has no valid staple.
    pub must_staple_missing: Family<CertLabel, Gauge>,
    /// TLS handshakes completed, by whether a staple was available.
    pub handshakes: Family<FetchLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("stapler");
        let fetches = Family::<FetchLabels, Counter>::default();
        registry.register("fetches", "OCSP fetches by result", fetches.clone());
        let staple_valid = Family::<CertLabel, Gauge>::default();
        registry.register(
            "staple_valid",
            "1 while a verified, unexpired staple is held",
            staple_valid.clone(),
        );
        let staple_expiry_seconds = Family::<CertLabel, Gauge>::default();
        registry.register(
            "staple_expiry_seconds",
            "Seconds until the staple's nextUpdate",
            staple_expiry_seconds.clone(),
        );
        let revoked = Family::<CertLabel, Counter>::default();
        registry.register(
            "revoked_responses",
            "Responses saying the certificate is revoked",
            revoked.clone(),
        );
        let must_staple_missing = Family::<CertLabel, Gauge>::default();
        registry.register(
            "must_staple_missing",
            "1 while a must-staple certificate has no valid staple",
            must_staple_missing.clone(),
        );
        let handshakes = Family::<FetchLabels, Counter>::default();
        registry.register(
            "certificate_selections",
            "Certificates selected for handshakes, by staple availability",
            handshakes.clone(),
        );
        Metrics {
            registry,
            fetches,
            staple_valid,
            staple_expiry_seconds,
            revoked,
            must_staple_missing,
            handshakes,
        }
    }
}

impl Metrics {
    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
