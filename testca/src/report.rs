//! How certificates are shown to people (`list`, `show`) and to scripts (`--json`).

use std::fmt::Write;
use std::path::PathBuf;

use labcore::ocsp::CertStatus;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::faults::Fault;
use crate::store::{CertRecord, RevocationStatus};

/// RFC 3339 text of a time.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// `good` or `revoked`.
pub fn status_word(status: &RevocationStatus) -> &'static str {
    match status {
        RevocationStatus::Good => CertStatus::Good.name(),
        RevocationStatus::Revoked { .. } => CertStatus::Revoked.name(),
    }
}

fn reason_text(status: &RevocationStatus) -> Option<String> {
    match status {
        RevocationStatus::Revoked { reason, .. } => {
            Some(reason.map_or("unspecified", |r| r.name()).to_string())
        }
        RevocationStatus::Good => None,
    }
}

fn revoked_at(status: &RevocationStatus) -> Option<String> {
    match status {
        RevocationStatus::Revoked { at, .. } => Some(rfc3339(*at)),
        RevocationStatus::Good => None,
    }
}

/// Whether a certificate is within its validity now.
pub fn validity_word(cert: &CertRecord, now: OffsetDateTime) -> &'static str {
    if now < cert.not_before {
        "not yet valid"
    } else if now > cert.not_after {
        "expired"
    } else {
        "valid"
    }
}

/// One line saying a certificate's status, e.g. after `revoke` or `unrevoke`.
pub fn status_line(cert: &CertRecord) -> String {
    match &cert.status {
        RevocationStatus::Good => format!("{} (serial {}): good", cert.name, cert.serial),
        RevocationStatus::Revoked { at, .. } => format!(
            "{} (serial {}): revoked at {}, reason {}",
            cert.name,
            cert.serial,
            rfc3339(*at),
            reason_text(&cert.status).unwrap_or_default()
        ),
    }
}

/// One certificate as JSON (the fields of `testca list --json`).
pub fn json(cert: &CertRecord) -> serde_json::Value {
    serde_json::json!({
        "name": cert.name,
        "kind": cert.kind.name(),
        "serial": cert.serial.to_hex(),
        "issuer": cert.issuer_name,
        "subject": cert.subject,
        "not_before": rfc3339(cert.not_before),
        "not_after": rfc3339(cert.not_after),
        "status": status_word(&cert.status),
        "reason": reason_text(&cert.status),
        "revoked_at": revoked_at(&cert.status),
    })
}

/// The table of `testca list`.
pub fn table(certs: &[CertRecord]) -> String {
    let headers = [
        "NAME",
        "KIND",
        "SERIAL",
        "ISSUER",
        "NOT BEFORE",
        "NOT AFTER",
        "STATUS",
        "REASON",
        "REVOKED AT",
    ];
    let rows: Vec<[String; 9]> = certs
        .iter()
        .map(|c| {
            [
                c.name.clone(),
                c.kind.name().to_string(),
                c.serial.to_hex(),
                c.issuer_name.clone(),
                rfc3339(c.not_before),
                rfc3339(c.not_after),
                status_word(&c.status).to_string(),
                reason_text(&c.status).unwrap_or_else(|| "-".into()),
                revoked_at(&c.status).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&mut headers.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// The text of `testca show`.
pub fn details(cert: &CertRecord, files: &[PathBuf], now: OffsetDateTime) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{name:<12} {value}");
    };
    field("name:", &cert.name);
    field("kind:", cert.kind.name());
    field("serial:", &cert.serial.to_hex());
    field("subject:", &cert.subject);
    field("issuer:", &cert.issuer_name);
    field("not before:", &rfc3339(cert.not_before));
    field(
        "not after:",
        &format!("{} ({})", rfc3339(cert.not_after), validity_word(cert, now)),
    );
    field("status:", status_word(&cert.status));
    if let Some(reason) = reason_text(&cert.status) {
        field("reason:", &reason);
    }
    if let Some(at) = revoked_at(&cert.status) {
        field("revoked at:", &at);
    }
    for file in files {
        field("file:", &file.display().to_string());
    }
    out
}

/// One line describing a fault, e.g. `try-later for localhost (serial …) until 2026-…`.
pub fn fault_line(fault: &Fault) -> String {
    let scope = match &fault.certificate {
        Some(t) => format!("for {} (serial {})", t.name, t.serial),
        None => "for every certificate".to_string(),
    };
    let until = match fault.expires_at {
        Some(t) => format!("until {}", rfc3339(t)),
        None => "until cleared".to_string(),
    };
    format!("{} {scope} {until}", fault.mode)
}

/// A fault as JSON (the fields of `testca fault list --json`).
pub fn fault_json(fault: &Fault) -> serde_json::Value {
    serde_json::json!({
        "mode": fault.mode.to_string(),
        "certificate": fault.certificate.as_ref().map(|t| t.name.clone()),
        "serial": fault.certificate.as_ref().map(|t| t.serial.to_hex()),
        "expires_at": fault.expires_at.map(rfc3339),
    })
}
