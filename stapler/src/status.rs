//! What the status page, `/status.json` and `POST /admin/refresh` show of a
//! certificate and its staple (read by `testca serve` and by the tests: the
//! JSON shape is a contract).

use std::time::SystemTime;

use serde::Serialize;

use crate::chain::IssuerSource;
use crate::lifecycle::{StapleSource, Stapling};
use crate::setup::Setup;
use crate::verify::{CertState, VerifiedStaple, name_text};

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
    /// Where it came from: `fetched`, `cache` or `file`.
    pub source: &'static str,
    /// Size in bytes.
    pub bytes: usize,
}

impl CertificateStatus {
    /// What `setup` found and `state` holds, at `now`.
    pub fn new(setup: &Setup, state: &Stapling, now: SystemTime) -> Self {
        let cert = &setup.cert;
        CertificateStatus {
            name: setup.name.clone(),
            file: cert.cert_path.display().to_string(),
            serial: cert.serial_hex(),
            subject: name_text(&cert.leaf),
            dns_names: cert.dns_names.clone(),
            ocsp_url: setup.responder_url.clone(),
            issuer: setup.issuer.as_ref().map(|(c, source)| IssuerStatus {
                subject: name_text(c),
                source: match source {
                    IssuerSource::Chain => "chain",
                    IssuerSource::IssuerFile => "issuer file",
                    IssuerSource::CaIssuersUrl => "AIA CA Issuers URL",
                },
            }),
            must_staple: cert.must_staple,
            certificate_problem: setup.certificate_problem(),
            stapling: state.off_reason().is_none(),
            disabled_reason: state.off_reason().map(str::to_string),
            verify: setup.verify,
            staple: state
                .staple_at(now)
                .map(|(staple, source)| StapleStatus::new(staple, source, now)),
            last_fetch: state.last_fetch().map(rfc3339),
            next_refresh: state.next_refresh().map(rfc3339),
            last_error: state.failures().map(|f| f.last.to_string()),
            consecutive_failures: state.failures().map_or(0, |f| f.count.get()),
        }
    }
}

impl StapleStatus {
    fn new(v: &VerifiedStaple, source: StapleSource, now: SystemTime) -> Self {
        let (status, reason, revoked_at) = match v.state() {
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
            this_update: rfc3339(v.this_update()),
            next_update: rfc3339(v.next_update()),
            produced_at: rfc3339(v.produced_at()),
            seconds_left: v
                .next_update()
                .duration_since(now)
                .map_or(0, |d| d.as_secs()),
            signer: v.signer().to_string(),
            source: match source {
                StapleSource::Fetched => "fetched",
                StapleSource::Cache => "cache",
                StapleSource::File => "file",
            },
            bytes: v.der().len(),
        }
    }
}

/// RFC 3339 text of a time, to the second.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn a_staple_is_shown_with_the_fields_testca_serve_reads() {
        let revoked = VerifiedStaple::for_tests(
            CertState::Revoked {
                at: at(5),
                reason: None,
            },
            at(0),
            at(600),
        );
        let json = serde_json::to_value(StapleStatus::new(&revoked, StapleSource::Cache, at(100)))
            .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "revoked",
                "reason": "unspecified",
                "revoked_at": "2023-11-14T22:13:25Z",
                "this_update": "2023-11-14T22:13:20Z",
                "next_update": "2023-11-14T22:23:20Z",
                "produced_at": "2023-11-14T22:13:20Z",
                "seconds_left": 500,
                "signer": "test",
                "source": "cache",
                "bytes": 11,
            })
        );
    }
}
