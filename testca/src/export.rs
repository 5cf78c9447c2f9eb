//! Exporting the lab's certificates and their status for other tools:
//!
//! * `openssl-index`: the `index.txt` of an OpenSSL CA, which `openssl ocsp
//!   -index index.txt -CA … -rsigner … -rkey …` answers from (and `openssl ca`
//!   reads). One line per certificate of one issuer, tab-separated: status
//!   (`V` or `R`), expiry, revocation time and reason, serial in upper-case
//!   hex, file name (`unknown`), subject in OpenSSL's `/O=…/CN=…` form.
//! * `jsonl`: one JSON object per certificate (serial, name, status,
//!   validity, revocation, DER in base64), for scripts.
//!
//! Certificates are read page by page, so a lab of millions exports in
//! constant memory.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use labcore::ocsp::CertStatus;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};
use crate::ids::IssuerId;
use crate::report::rfc3339;
use crate::store::{CertRecord, RevocationStatus, Store};
use labcore::RevocationReason;

/// Certificates read from the database at a time.
const PAGE: u32 = 10_000;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// OpenSSL CA `index.txt`.
    OpensslIndex,
    /// JSON lines.
    Jsonl,
}

impl ExportFormat {
    /// Every format, with its command-line name.
    pub const ALL: [ExportFormat; 2] = [ExportFormat::OpensslIndex, ExportFormat::Jsonl];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::OpensslIndex => "openssl-index",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

impl FromStr for ExportFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| Error::invalid("export format", text, "openssl-index or jsonl"))
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Certificates written.
    pub certificates: u64,
    /// Of which revoked.
    pub revoked: u64,
    /// Revoked certificates whose reason OpenSSL's index cannot carry
    /// (privilegeWithdrawn, aACompromise): written without a reason.
    pub reasons_dropped: u64,
}

/// The contents of the `index.txt.attr` file that goes with an exported
/// index: the lab may hold several valid certificates with one subject
/// (`testca issue --replace`), which OpenSSL refuses unless told.
pub const OPENSSL_INDEX_ATTR: &str = "unique_subject = no\n";

/// Writes the certificates (of `issuer` only, when given) to `out` in
/// `format`; `destination` names `out` in errors.
pub async fn export(
    store: &Store,
    format: ExportFormat,
    issuer: Option<IssuerId>,
    out: &mut dyn Write,
    destination: &Path,
) -> Result<ExportSummary> {
    let mut summary = ExportSummary::default();
    let mut after = None;
    loop {
        let page = store.certificates_after(after, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.id);
        for cert in page
            .iter()
            .filter(|c| issuer.is_none_or(|id| c.issuer_id == id))
        {
            let line = match format {
                ExportFormat::OpensslIndex => {
                    let entry = openssl_index_line(cert)?;
                    if entry.reason_dropped {
                        summary.reasons_dropped += 1;
                    }
                    entry.line
                }
                ExportFormat::Jsonl => jsonl_line(cert),
            };
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| Error::io("cannot write", destination, e))?;
            summary.certificates += 1;
            if cert.status.is_revoked() {
                summary.revoked += 1;
            }
        }
    }
    out.flush()
        .map_err(|e| Error::io("cannot write", destination, e))?;
    Ok(summary)
}

/// One line of an OpenSSL index, and whether a reason had to be left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexLine {
    /// The line, without its newline.
    pub line: String,
    /// The certificate's reason has no name in OpenSSL's index.
    pub reason_dropped: bool,
}

/// The `index.txt` line of a certificate.
pub fn openssl_index_line(cert: &CertRecord) -> Result<IndexLine> {
    let expiry = asn1_time(cert.not_after)?;
    let mut reason_dropped = false;
    let (kind, revocation) = match cert.status {
        RevocationStatus::Good => ('V', String::new()),
        RevocationStatus::Revoked { at, reason } => {
            // OpenSSL reads revocation times as UTCTime only.
            let at_text = utc_time(at).ok_or_else(|| {
                Error::invalid(
                    "revocation time",
                    at.format(&Rfc3339).unwrap_or_default(),
                    "a time between 1950 and 2049 (OpenSSL's index holds UTCTime)",
                )
            })?;
            let text = match reason.map(openssl_reason) {
                None => at_text,
                Some(Some(name)) => format!("{at_text},{name}"),
                Some(None) => {
                    reason_dropped = true;
                    at_text
                }
            };
            ('R', text)
        }
    };
    Ok(IndexLine {
        line: format!(
            "{kind}\t{expiry}\t{revocation}\t{}\tunknown\t{}",
            cert.serial.to_hex(),
            openssl_subject(&cert.der).unwrap_or_else(|| slash_subject(&cert.subject))
        ),
        reason_dropped,
    })
}

/// The name OpenSSL's CA index gives a reason (`apps/lib/apps.c`,
/// `crl_reasons`), `None` for the two it does not know.
pub fn openssl_reason(reason: RevocationReason) -> Option<&'static str> {
    Some(match reason {
        RevocationReason::Unspecified => "unspecified",
        RevocationReason::KeyCompromise => "keyCompromise",
        RevocationReason::CaCompromise => "CACompromise",
        RevocationReason::AffiliationChanged => "affiliationChanged",
        RevocationReason::Superseded => "superseded",
        RevocationReason::CessationOfOperation => "cessationOfOperation",
        RevocationReason::CertificateHold => "certificateHold",
        RevocationReason::RemoveFromCrl => "removeFromCRL",
        RevocationReason::PrivilegeWithdrawn | RevocationReason::AaCompromise => return None,
    })
}

/// `YYMMDDHHMMSSZ`, or `None` outside 1950–2049.
fn utc_time(t: OffsetDateTime) -> Option<String> {
    let t = t.to_offset(time::UtcOffset::UTC);
    (1950..2050).contains(&t.year()).then(|| {
        format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            t.year() % 100,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    })
}

/// An ASN.1 time as X.509 encodes it: UTCTime until 2049, GeneralizedTime after.
fn asn1_time(t: OffsetDateTime) -> Result<String> {
    if let Some(text) = utc_time(t) {
        return Ok(text);
    }
    let t = t.to_offset(time::UtcOffset::UTC);
    if !(0..=9999).contains(&t.year()) {
        return Err(Error::invalid(
            "expiry",
            t.year().to_string(),
            "a year between 0 and 9999",
        ));
    }
    Ok(format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// The subject as `openssl ca` writes it (`X509_NAME_oneline`): `/O=OCSP Lab/CN=name`.
/// (Parsed with the `x509-cert` crate: OpenSSL 3 takes over 100 µs per certificate.)
fn openssl_subject(der: &[u8]) -> Option<String> {
    use der::Decode;
    use der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let mut text = String::new();
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for atv in rdn.0.iter() {
            let key = match atv.oid.to_string().as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.5" => "serialNumber".to_string(),
                "2.5.4.6" => "C".to_string(),
                "2.5.4.7" => "L".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "1.2.840.113549.1.9.1" => "emailAddress".to_string(),
                "0.9.2342.19200300.100.1.25" => "DC".to_string(),
                other => other.to_string(),
            };
            let value = atv
                .value
                .decode_as::<Utf8StringRef<'_>>()
                .map(|v| v.as_str().to_string())
                .or_else(|_| {
                    atv.value
                        .decode_as::<PrintableStringRef<'_>>()
                        .map(|v| v.as_str().to_string())
                })
                .or_else(|_| {
                    atv.value
                        .decode_as::<Ia5StringRef<'_>>()
                        .map(|v| v.as_str().to_string())
                })
                .ok()?;
            text.push('/');
            text.push_str(&key);
            text.push('=');
            text.push_str(&value);
        }
    }
    Some(text)
}

/// Fallback for an unparsable certificate: the stored `CN=…, O=…` turned around.
fn slash_subject(subject: &str) -> String {
    let parts: Vec<&str> = subject.split(", ").collect();
    parts.iter().rev().map(|part| format!("/{part}")).collect()
}

/// The JSON line of a certificate.
pub fn jsonl_line(cert: &CertRecord) -> String {
    let (status, revoked_at, reason) = match cert.status {
        RevocationStatus::Good => (CertStatus::Good.name(), None, None),
        RevocationStatus::Revoked { at, reason } => {
            (CertStatus::Revoked.name(), Some(rfc3339(at)), reason)
        }
    };
    serde_json::json!({
        "serial": cert.serial.to_hex(),
        "name": cert.name,
        "kind": cert.kind.name(),
        "issuer": cert.issuer_name,
        "subject": cert.subject,
        "not_before": rfc3339(cert.not_before),
        "not_after": rfc3339(cert.not_after),
        "status": status,
        "revoked_at": revoked_at,
        "reason": reason.map(RevocationReason::name),
        "reason_code": reason.map(RevocationReason::code),
        "der": openssl::base64::encode_block(&cert.der),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CertificateId;
    use crate::serial::Serial;
    use crate::store::CertKind;
    use time::macros::datetime;

    fn record(status: RevocationStatus, not_after: OffsetDateTime) -> CertRecord {
        CertRecord {
            id: CertificateId(7),
            issuer_id: IssuerId(2),
            issuer_name: "intermediate".into(),
            serial: "0A1B2C".parse::<Serial>().unwrap(),
            name: "shop".into(),
            kind: CertKind::Leaf,
            subject: "CN=shop, O=OCSP Lab".into(),
            not_before: datetime!(2026-01-01 00:00:00 UTC),
            not_after,
            status,
            der: vec![0x30, 0x00],
        }
    }

    #[test]
    fn good_and_revoked_lines_have_openssl_fields() {
        let good = record(RevocationStatus::Good, datetime!(2027-03-04 05:06:07 UTC));
        assert_eq!(
            openssl_index_line(&good).unwrap().line,
            "V\t270304050607Z\t\t0A1B2C\tunknown\t/O=OCSP Lab/CN=shop"
        );
        let revoked = record(
            RevocationStatus::Revoked {
                at: datetime!(2026-02-03 04:05:06 UTC),
                reason: Some(RevocationReason::KeyCompromise),
            },
            datetime!(2051-01-01 00:00:00 UTC),
        );
        assert_eq!(
            openssl_index_line(&revoked).unwrap().line,
            "R\t20510101000000Z\t260203040506Z,keyCompromise\t0A1B2C\tunknown\t/O=OCSP Lab/CN=shop"
        );
    }

    #[test]
    fn reasons_openssl_cannot_name_are_left_out_and_counted() {
        let revoked = record(
            RevocationStatus::Revoked {
                at: datetime!(2026-02-03 04:05:06 UTC),
                reason: Some(RevocationReason::PrivilegeWithdrawn),
            },
            datetime!(2027-01-01 00:00:00 UTC),
        );
        let entry = openssl_index_line(&revoked).unwrap();
        assert!(entry.reason_dropped);
        assert!(entry.line.starts_with("R\t270101000000Z\t260203040506Z\t"));
        assert_eq!(
            openssl_reason(RevocationReason::CaCompromise),
            Some("CACompromise")
        );
    }

    #[test]
    fn jsonl_carries_status_and_der() {
        let revoked = record(
            RevocationStatus::Revoked {
                at: datetime!(2026-02-03 04:05:06 UTC),
                reason: None,
            },
            datetime!(2027-01-01 00:00:00 UTC),
        );
        let value: serde_json::Value = serde_json::from_str(&jsonl_line(&revoked)).unwrap();
        assert_eq!(value["serial"], "0A1B2C");
        assert_eq!(value["status"], "revoked");
        assert_eq!(value["revoked_at"], "2026-02-03T04:05:06Z");
        assert!(value["reason"].is_null());
        assert_eq!(value["der"], "MAA=");
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!(
            "openssl-index".parse::<ExportFormat>().unwrap(),
            ExportFormat::OpensslIndex
        );
        assert!("csv".parse::<ExportFormat>().is_err());
    }
}
