//! Asks the lab's responder about a certificate with a real OCSP request and
//! decodes the answer for people: what a client would see.

use std::time::Duration;

use base64::Engine;
use der::Decode;
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspRequest};
use openssl::x509::X509;
use serde_json::{Value, json};
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus, ResponderId};

use labcore::RevocationReason;
use labcore::ocsp::{self, ResponseStatus};

/// The OCSP URL of a certificate's Authority Information Access, if any.
pub fn aia_ocsp_url(cert_der: &[u8]) -> Option<String> {
    let cert = X509::from_der(cert_der).ok()?;
    let urls = cert.ocsp_responders().ok()?;
    urls.iter().next().map(|u| u.to_string())
}

/// A DER OCSP request for the certificate (SHA-1 CertID, as nearly every client sends).
pub fn request_der(cert_der: &[u8], issuer_der: &[u8]) -> Result<Vec<u8>, String> {
    let describe = |e: openssl::error::ErrorStack| format!("cannot build the OCSP request: {e}");
    let cert = X509::from_der(cert_der).map_err(describe)?;
    let issuer = X509::from_der(issuer_der).map_err(describe)?;
    let id = OcspCertId::from_cert(MessageDigest::sha1(), &cert, &issuer).map_err(describe)?;
    let mut request = OcspRequest::new().map_err(describe)?;
    request.add_id(id).map_err(describe)?;
    request.to_der().map_err(describe)
}

/// POSTs the request to `url` and returns the answer's body.
pub async fn ask(
    client: &reqwest::Client,
    url: &str,
    request: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let response = client
        .post(url)
        .header("content-type", labcore::media::OCSP_REQUEST)
        .body(request)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("the responder at {url} did not answer: {}", plain(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("the responder at {url} broke off its answer: {}", plain(&e)))?;
    if !status.is_success() {
        return Err(format!(
            "the responder at {url} answered HTTP {status} instead of an OCSP response"
        ));
    }
    Ok(body.to_vec())
}

/// reqwest's error and its causes on one line.
pub fn plain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An algorithm's name (`id-sha1`, `ecdsa-with-SHA256`…) with its OID, or the OID alone.
fn oid_name(oid: &const_oid::ObjectIdentifier) -> String {
    match const_oid::db::DB.by_oid(oid) {
        Some(name) => format!("{name} ({oid})"),
        None => oid.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A DER INTEGER's bytes without the sign byte that keeps a positive number positive.
fn unsigned(bytes: &[u8]) -> &[u8] {
    match bytes {
        [0, next, ..] if *next >= 0x80 => &bytes[1..],
        _ => bytes,
    }
}

fn status_name(status: OcspResponseStatus) -> &'static str {
    // x509-ocsp decodes only the codes RFC 6960 defines, which ResponseStatus names.
    ResponseStatus::name_of_code(status as i64)
}

/// Decodes an OCSP response into the fields a person checks. Never fails:
/// an answer that does not decode says so in `error`, with its bytes.
pub fn decode(der: &[u8]) -> Value {
    let mut out = json!({
        "der_base64": base64::engine::general_purpose::STANDARD.encode(der),
        "bytes": der.len(),
    });
    let response = match OcspResponse::from_der(der) {
        Ok(r) => r,
        Err(e) => {
            out["error"] = json!(format!("not a DER OCSP response: {e}"));
            return out;
        }
    };
    out["response_status"] = json!(status_name(response.response_status));
    let Some(bytes) = response.response_bytes else {
        return out;
    };
    let basic = match BasicOcspResponse::from_der(bytes.response.as_bytes()) {
        Ok(b) => b,
        Err(e) => {
            out["error"] = json!(format!("not a basic OCSP response: {e}"));
            return out;
        }
    };
    let data = &basic.tbs_response_data;
    out["produced_at"] = json!(data.produced_at.0.to_date_time().to_string());
    out["responder_id"] = match &data.responder_id {
        ResponderId::ByName(name) => json!(format!("byName: {name}")),
        ResponderId::ByKey(hash) => json!(format!("byKey: {}", hex(hash.as_bytes()))),
    };
    out["signer"] = match basic.certs.as_ref().and_then(|c| c.first()) {
        Some(cert) => json!(cert.tbs_certificate.subject.to_string()),
        None => json!(match &data.responder_id {
            ResponderId::ByName(name) => format!("{name} (no certificate included)"),
            ResponderId::ByKey(_) => "the issuer (no certificate included)".to_string(),
        }),
    };
    out["signature_algorithm"] = json!(oid_name(&basic.signature_algorithm.oid));
    let Some(single) = data.responses.first() else {
        out["error"] = json!("the response holds no SingleResponse");
        return out;
    };
    let (status, reason, revoked_at) = match &single.cert_status {
        CertStatus::Good(_) => (ocsp::CertStatus::Good.name(), None, None),
        CertStatus::Revoked(info) => (
            ocsp::CertStatus::Revoked.name(),
            Some(
                info.revocation_reason
                    .map(RevocationReason::from)
                    .map_or("unspecified (no reason given)", |r| r.name()),
            ),
            Some(info.revocation_time.0.to_date_time().to_string()),
        ),
        CertStatus::Unknown(_) => (ocsp::CertStatus::Unknown.name(), None, None),
    };
    out["cert_status"] = json!(status);
    out["reason"] = json!(reason);
    out["revoked_at"] = json!(revoked_at);
    out["this_update"] = json!(single.this_update.0.to_date_time().to_string());
    out["next_update"] = json!(single.next_update.map(|t| t.0.to_date_time().to_string()));
    let id = &single.cert_id;
    out["cert_id"] = json!({
        "hash_algorithm": oid_name(&id.hash_algorithm.oid),
        "issuer_name_hash": hex(id.issuer_name_hash.as_bytes()),
        "issuer_key_hash": hex(id.issuer_key_hash.as_bytes()),
        "serial": hex(unsigned(id.serial_number.as_bytes())),
    });
    out["responses"] = json!(data.responses.len());
    out["certs_included"] = json!(basic.certs.as_ref().map_or(0, Vec::len));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_described_not_fatal() {
        let value = decode(b"not der");
        assert!(
            value["error"]
                .as_str()
                .unwrap()
                .contains("not a DER OCSP response")
        );
        assert_eq!(value["bytes"], 7);
    }

    #[test]
    fn an_error_status_has_no_fields() {
        // OCSPResponse { responseStatus tryLater (3) }
        let value = decode(&[0x30, 0x03, 0x0a, 0x01, 0x03]);
        assert_eq!(value["response_status"], "tryLater");
        assert!(value.get("cert_status").is_none());
    }
}
