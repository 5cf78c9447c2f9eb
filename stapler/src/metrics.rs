//! Prometheus metrics of the stapler (`GET /metrics`).

use std::sync::Arc;

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

/// What a fetch gave, as the `result` label of `stapler_fetches_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchResult {
    /// A good response.
    Good,
    /// A revoked response.
    Revoked,
    /// No usable response (the fetch failed or verification refused it).
    Refused,
}

impl FetchResult {
    fn label(self) -> &'static str {
        match self {
            FetchResult::Good => "good",
            FetchResult::Revoked => "revoked",
            FetchResult::Refused => "refused",
        }
    }
}

/// The metrics of one certificate, labelled once.
#[derive(Debug)]
pub struct CertMetrics {
    metrics: Arc<Metrics>,
    label: CertLabel,
    /// Handshake counters, with and without a staple (made once: a handshake only bumps an atomic).
    stapled: Counter,
    bare: Counter,
}

impl CertMetrics {
    /// The metrics of the certificate called `name`.
    pub fn new(metrics: Arc<Metrics>, name: &str) -> Self {
        let selection = |result: &str| {
            metrics
                .handshakes
                .get_or_create(&FetchLabels {
                    certificate: name.to_string(),
                    result: result.to_string(),
                })
                .clone()
        };
        let (stapled, bare) = (selection("stapled"), selection("no-staple"));
        CertMetrics {
            label: CertLabel {
                certificate: name.to_string(),
            },
            stapled,
            bare,
            metrics,
        }
    }

    /// A handshake picked this certificate, with a staple or without.
    pub fn handshake(&self, stapled: bool) {
        if stapled {
            self.stapled.inc();
        } else {
            self.bare.inc();
        }
    }

    /// A fetch ended.
    pub fn fetched(&self, result: FetchResult) {
        self.metrics
            .fetches
            .get_or_create(&FetchLabels {
                certificate: self.label.certificate.clone(),
                result: result.label().into(),
            })
            .inc();
        if result == FetchResult::Revoked {
            self.metrics.revoked.get_or_create(&self.label).inc();
        }
    }

    /// The staple held now (`seconds_left` until its nextUpdate), if any.
    pub fn holding(&self, seconds_left: Option<u64>, must_staple: bool) {
        self.metrics
            .staple_valid
            .get_or_create(&self.label)
            .set(i64::from(seconds_left.is_some()));
        let left = seconds_left.map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX));
        self.metrics
            .staple_expiry_seconds
            .get_or_create(&self.label)
            .set(left);
        self.metrics
            .must_staple_missing
            .get_or_create(&self.label)
            .set(i64::from(must_staple && seconds_left.is_none()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_s_metrics_are_rendered_under_its_name() {
        let metrics = Arc::new(Metrics::default());
        let cert = CertMetrics::new(metrics.clone(), "shop");
        cert.handshake(true);
        cert.handshake(false);
        cert.handshake(false);
        cert.fetched(FetchResult::Good);
        cert.fetched(FetchResult::Revoked);
        cert.fetched(FetchResult::Refused);
        cert.holding(Some(42), true);
        let text = metrics.render();
        for line in [
            "stapler_certificate_selections_total{certificate=\"shop\",result=\"stapled\"} 1",
            "stapler_certificate_selections_total{certificate=\"shop\",result=\"no-staple\"} 2",
            "stapler_fetches_total{certificate=\"shop\",result=\"good\"} 1",
            "stapler_fetches_total{certificate=\"shop\",result=\"revoked\"} 1",
            "stapler_fetches_total{certificate=\"shop\",result=\"refused\"} 1",
            "stapler_revoked_responses_total{certificate=\"shop\"} 1",
            "stapler_staple_valid{certificate=\"shop\"} 1",
            "stapler_staple_expiry_seconds{certificate=\"shop\"} 42",
            "stapler_must_staple_missing{certificate=\"shop\"} 0",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        cert.holding(None, true);
        let text = metrics.render();
        assert!(text.contains("stapler_must_staple_missing{certificate=\"shop\"} 1"));
        assert!(text.contains("stapler_staple_valid{certificate=\"shop\"} 0"));
    }
}
