//! Prometheus metrics of the responder (`GET /metrics`).

use labcore::ocsp::{CertStatus, ResponseStatus};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::response::{ErrorStatus, Status};

/// What a response said, for metrics and logs.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// Every CertID good.
    Good,
    /// Every CertID revoked.
    Revoked,
    /// Every CertID unknown.
    Unknown,
    /// CertIDs of different statuses.
    Mixed,
    /// An unsigned error response.
    Error(ErrorStatus),
    /// Bytes that are no OCSP response (the malformed-response fault).
    MalformedResponse,
    /// No OCSP response at all.
    None,
}

impl Outcome {
    /// The outcome of a signed response with these statuses.
    pub fn of(statuses: &[Status]) -> Outcome {
        let one = |s: &Status| match s {
            Status::Good => Outcome::Good,
            Status::Revoked { .. } => Outcome::Revoked,
            Status::Unknown => Outcome::Unknown,
        };
        match statuses.split_first() {
            Some((first, rest)) if rest.iter().all(|s| one(s) == one(first)) => one(first),
            Some(_) => Outcome::Mixed,
            None => Outcome::None,
        }
    }

    /// The label: good, revoked, unknown, mixed, the error status's name
    /// (malformedRequest, internalError, tryLater, sigRequired, unauthorized),
    /// malformedResponse, or none.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Good => CertStatus::Good.name(),
            Outcome::Revoked => CertStatus::Revoked.name(),
            Outcome::Unknown => CertStatus::Unknown.name(),
            Outcome::Mixed => "mixed",
            Outcome::Error(status) => ResponseStatus::from(status).name(),
            Outcome::MalformedResponse => "malformedResponse",
            Outcome::None => "none",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.name())
    }
}

/// How a request arrived.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Method {
    /// GET with the request in the path.
    Get,
    /// POST with the request as the body.
    Post,
}

/// Labels of the response counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResponseLabels {
    /// GET or POST.
    pub method: Method,
    /// The HTTP status sent.
    pub http_status: u16,
    /// The OCSP outcome.
    pub ocsp_status: Outcome,
}

/// Labels of the fault counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultLabels {
    /// The fault mode.
    pub mode: String,
}

/// The responder's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Responses sent.
    pub responses: Family<ResponseLabels, Counter>,
    /// Requests answered from the pre-signed cache.
    pub cache_hits: Counter,
    /// Requests that needed a signature.
    pub cache_misses: Counter,
    /// Time to sign one response, in seconds.
    pub signing_seconds: Histogram,
    /// Size of request bodies, in bytes.
    pub request_bytes: Histogram,
    /// Faults injected.
    pub faults: Family<FaultLabels, Counter>,
    database: DatabaseGauges,
}

/// What the responder knows of its database, read when the metrics are scraped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatabaseReadings {
    /// The generation of the directory in use.
    pub generation: i64,
    /// Directories loaded again since the start.
    pub reloads: u64,
    /// Whether the database answered the last time it was asked.
    pub reachable: bool,
    /// Whether commits are seen as they happen (SQLite's WAL probe,
    /// PostgreSQL's `LISTEN`) rather than only by polling.
    pub notified: bool,
}

#[derive(Debug, Default)]
struct DatabaseGauges {
    generation: Gauge,
    reloads: Counter,
    reachable: Gauge,
    notified: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ocsp_responder");
        let responses = Family::<ResponseLabels, Counter>::default();
        registry.register(
            "responses",
            "OCSP responses sent, by method, HTTP status and OCSP status",
            responses.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "cache_hits",
            "Responses served pre-signed from the cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "cache_misses",
            "Responses that had to be signed",
            cache_misses.clone(),
        );
        let signing_seconds = Histogram::new(exponential_buckets(0.000_01, 2.0, 16));
        registry.register(
            "signing_seconds",
            "Time to build and sign one response",
            signing_seconds.clone(),
        );
        let request_bytes = Histogram::new(exponential_buckets(16.0, 2.0, 12));
        registry.register(
            "request_bytes",
            "Size of OCSP requests",
            request_bytes.clone(),
        );
        let faults = Family::<FaultLabels, Counter>::default();
        registry.register(
            "faults_injected",
            "Faults injected, by mode",
            faults.clone(),
        );
        let database = DatabaseGauges::default();
        registry.register(
            "directory_reloads",
            "Times the issuers, signers and faults were loaded again: after a commit, or to look again at a signer key file that lagged",
            database.reloads.clone(),
        );
        for (name, help, gauge) in [
            (
                "database_generation",
                "The database generation the responder answers at",
                &database.generation,
            ),
            (
                "database_reachable",
                "1 while the revocation database answers, 0 while only cached, still-valid answers are served",
                &database.reachable,
            ),
            (
                "database_notified",
                "1 while commits are seen as they happen (SQLite's WAL probe, PostgreSQL's LISTEN), 0 while only polled",
                &database.notified,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        Metrics {
            registry,
            database,
            responses,
            cache_hits,
            cache_misses,
            signing_seconds,
            request_bytes,
            faults,
        }
    }
}

impl Metrics {
    /// The metrics in Prometheus text format, with the database as `readings` says.
    pub fn render(&self, readings: DatabaseReadings) -> String {
        let db = &self.database;
        db.generation.set(readings.generation);
        // A counter kept by the directory watch: raised to its count, never lowered.
        db.reloads
            .inner()
            .fetch_max(readings.reloads, std::sync::atomic::Ordering::Relaxed);
        db.reachable.set(i64::from(readings.reachable));
        db.notified.set(i64::from(readings.notified));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_of_statuses() {
        assert_eq!(Outcome::of(&[Status::Good, Status::Good]), Outcome::Good);
        assert_eq!(
            Outcome::of(&[Status::Good, Status::Unknown]),
            Outcome::Mixed
        );
        assert_eq!(Outcome::of(&[]), Outcome::None);
        assert_eq!(
            Outcome::Error(ErrorStatus::Unauthorized).name(),
            "unauthorized"
        );
    }

    #[test]
    fn the_outcome_label_is_its_name() {
        let metrics = Metrics::default();
        metrics
            .responses
            .get_or_create(&ResponseLabels {
                method: Method::Get,
                http_status: 200,
                ocsp_status: Outcome::Error(ErrorStatus::TryLater),
            })
            .inc();
        assert!(
            metrics
                .render(READINGS)
                .contains("ocsp_status=\"tryLater\"")
        );
    }

    const READINGS: DatabaseReadings = DatabaseReadings {
        generation: 12,
        reloads: 3,
        reachable: false,
        notified: false,
    };

    #[test]
    fn the_database_readings_are_scraped_as_they_are() {
        let metrics = Metrics::default();
        let text = metrics.render(READINGS);
        for line in [
            "ocsp_responder_database_generation 12",
            "ocsp_responder_directory_reloads_total 3",
            "ocsp_responder_database_reachable 0",
            "ocsp_responder_database_notified 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        let text = metrics.render(DatabaseReadings {
            reloads: 1,
            reachable: true,
            ..READINGS
        });
        assert!(
            text.contains("ocsp_responder_directory_reloads_total 3"),
            "a counter never goes down"
        );
        assert!(text.contains("ocsp_responder_database_reachable 1"));
    }
}
