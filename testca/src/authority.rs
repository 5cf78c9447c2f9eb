//! The certification authorities of a lab and the certificates they issue:
//! the root, the intermediate, delegated OCSP signers and TLS leaves.

use labcore::CaName;
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::config::LabConfig;
use crate::error::{Error, Result};
use crate::extensions;
use crate::key_alg::KeyAlg;
use crate::serial::Serial;

/// The organisation named in every certificate of a lab.
pub const ORGANIZATION: &str = "OCSP Lab";

/// Default validity of a leaf, in days.
pub const DEFAULT_LEAF_DAYS: u32 = 365;

/// Validity of a delegated OCSP signer, in days.
pub const SIGNER_DAYS: u32 = 365;

/// Validity of the CAs, in days.
pub const CA_DAYS: u32 = 3650;

/// A CA able to sign: its certificate and key.
#[derive(Clone, Copy)]
pub struct CaKey<'a> {
    /// Which CA.
    pub ca: CaName,
    /// Its certificate, DER.
    pub cert_der: &'a [u8],
    /// Its private key.
    pub key: &'a KeyPair,
}

impl CaKey<'_> {
    fn issuer(&self) -> Result<Issuer<'_, &KeyPair>> {
        Ok(Issuer::from_ca_cert_der(&self.cert_der.into(), self.key)?)
    }
}

/// A certificate just issued, with its new key.
pub struct Issued {
    /// The lab's name for it (its common name for leaves).
    pub name: String,
    /// Serial number.
    pub serial: Serial,
    /// Subject, for people.
    pub subject: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The certificate, PEM.
    pub pem: String,
    /// Its private key.
    pub key: KeyPair,
}

impl Issued {
    /// This certificate as the CA `ca`, able to sign.
    pub fn as_ca(&self, ca: CaName) -> CaKey<'_> {
        CaKey {
            ca,
            cert_der: &self.der,
            key: &self.key,
        }
    }
}

/// The validity period of a new certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// Start.
    pub not_before: OffsetDateTime,
    /// End.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// Valid from an hour ago (tolerates clock skew) for `days` days.
    pub fn for_days(days: u32) -> Self {
        let now = whole_seconds(OffsetDateTime::now_utc());
        Validity {
            not_before: now - Duration::hours(1),
            not_after: now + span(days),
        }
    }

    /// Expired yesterday, after `days` days of validity.
    pub fn expired(days: u32) -> Self {
        let now = whole_seconds(OffsetDateTime::now_utc());
        let not_after = now - Duration::days(1);
        Validity {
            not_before: not_after - span(days.max(1)),
            not_after,
        }
    }

    /// Valid from tomorrow, for `days` days.
    pub fn not_yet_valid(days: u32) -> Self {
        let now = whole_seconds(OffsetDateTime::now_utc());
        let not_before = now + Duration::days(1);
        Validity {
            not_before,
            not_after: not_before + span(days.max(1)),
        }
    }
}

/// The longest validity a certificate of the lab may have, in days (100 years).
pub const MAX_DAYS: u32 = 36_500;

/// `days` days, at most [`MAX_DAYS`]: far enough for any test, near enough
/// that every date stays within what X.509 and `time` can represent.
fn span(days: u32) -> Duration {
    Duration::days(i64::from(days.min(MAX_DAYS)))
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    crate::store::truncate(t)
}

/// Defects a delegated signer can be issued with, for bad-signer scenarios.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignerDefects {
    /// Its validity ended yesterday.
    pub expired: bool,
    /// No id-pkix-ocsp-nocheck extension.
    pub no_nocheck: bool,
    /// No id-kp-OCSPSigning extended key usage: clients must refuse its responses.
    pub no_eku: bool,
}

/// What a new leaf should be.
#[derive(Clone, Debug)]
pub struct LeafSpec {
    /// The lab's name for it; also its common name.
    pub name: String,
    /// Subject alternative names (DNS names or IP addresses); the name when empty.
    pub sans: Vec<String>,
    /// Its validity.
    pub validity: Validity,
    /// Add the TLS Feature status_request extension.
    pub must_staple: bool,
    /// Add Authority Information Access (OCSP and CA Issuers URIs).
    pub aia: bool,
}

/// Checks a leaf name: it names a directory under `certs/`.
pub fn check_leaf_name(name: &str) -> Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if name.is_empty() || name.len() > 64 || !ok_chars || name.starts_with('.') {
        return Err(Error::invalid(
            "certificate name",
            name,
            "1 to 64 letters, digits, '.', '-' or '_', not starting with '.'",
        ));
    }
    if CaName::is_reserved(name) {
        return Err(Error::invalid(
            "certificate name",
            name,
            "a name not used by the lab's CAs and signers",
        ));
    }
    Ok(())
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

/// The subject of a lab certificate with this common name, for people.
pub fn subject_text(common_name: &str) -> String {
    format!("CN={common_name}, O={ORGANIZATION}")
}

/// Checks a subject alternative name: an IP address, or a DNS name of
/// letters, digits and hyphens (a leading `*.` allowed). A dotted number
/// that is not an IP address (`300.1.1.1`) is neither.
pub fn check_san(san: &str) -> Result<()> {
    if san.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let expected = "a DNS name (letters, digits, '-', '.', optional leading '*.') or an IP address";
    let name = san.strip_prefix("*.").unwrap_or(san);
    let labels_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    let all_numeric = name
        .split('.')
        .all(|label| label.chars().all(|c| c.is_ascii_digit()));
    if !labels_ok || all_numeric {
        return Err(Error::invalid("subject alternative name", san, expected));
    }
    Ok(())
}

fn base_params(
    common_name: &str,
    sans: Vec<String>,
    validity: Validity,
    serial: &Serial,
) -> Result<CertificateParams> {
    for san in &sans {
        check_san(san)?;
    }
    let mut params = CertificateParams::new(sans).map_err(|e| {
        Error::invalid(
            "subject alternative name",
            common_name,
            format!("a DNS name or IP address ({e})"),
        )
    })?;
    params.distinguished_name = distinguished_name(common_name);
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(SerialNumber::from_slice(serial.magnitude()));
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// Adds the AIA (OCSP + CA Issuers) and CRL Distribution Points of the issuing CA.
fn add_revocation_pointers(
    params: &mut CertificateParams,
    cfg: &LabConfig,
    issuer: CaName,
    aia: bool,
) -> Result<()> {
    if aia {
        params
            .custom_extensions
            .push(extensions::authority_info_access(
                &cfg.ocsp_url,
                &cfg.ca_issuers_url(issuer),
            )?);
    }
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![cfg.crl_url(issuer)],
    }];
    Ok(())
}

/// Signs the certificate (self-signed without `signer`).
fn finish(
    params: &CertificateParams,
    key: KeyPair,
    serial: Serial,
    name: String,
    common_name: &str,
    signer: Option<&CaKey>,
) -> Result<Issued> {
    let cert = match signer {
        Some(ca) => params.signed_by(&key, &ca.issuer()?)?,
        None => params.self_signed(&key)?,
    };
    Ok(Issued {
        subject: subject_text(common_name),
        name,
        serial,
        not_before: params.not_before,
        not_after: params.not_after,
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key,
    })
}

/// Issues the self-signed root CA.
pub fn issue_root(key_alg: KeyAlg) -> Result<Issued> {
    let serial = Serial::random();
    let cn = CaName::Root.common_name();
    let mut params = base_params(cn, Vec::new(), Validity::for_days(CA_DAYS), &serial)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // A root has no issuer to point at.
    params.use_authority_key_identifier_extension = false;
    finish(
        &params,
        key_alg.generate()?,
        serial,
        CaName::Root.name().into(),
        cn,
        None,
    )
}

/// Issues the intermediate CA under the root.
pub fn issue_intermediate(root: &CaKey, cfg: &LabConfig) -> Result<Issued> {
    let serial = Serial::random();
    let cn = CaName::Intermediate.common_name();
    let mut params = base_params(cn, Vec::new(), Validity::for_days(CA_DAYS), &serial)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    add_revocation_pointers(&mut params, cfg, root.ca, true)?;
    finish(
        &params,
        cfg.key_alg.generate()?,
        serial,
        CaName::Intermediate.name().into(),
        cn,
        Some(root),
    )
}

/// Issues a delegated OCSP signer for `ca`, with the given defects.
pub fn issue_signer(ca: &CaKey, key_alg: KeyAlg, defects: SignerDefects) -> Result<Issued> {
    let serial = Serial::random();
    let cn = format!("{} OCSP Signer", ca.ca.common_name());
    let validity = if defects.expired {
        Validity::expired(SIGNER_DAYS)
    } else {
        Validity::for_days(SIGNER_DAYS)
    };
    let mut params = base_params(&cn, Vec::new(), validity, &serial)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if !defects.no_eku {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    }
    if !defects.no_nocheck {
        params.custom_extensions.push(extensions::ocsp_nocheck()?);
    }
    finish(
        &params,
        key_alg.generate()?,
        serial,
        ca.ca.signer_name(),
        &cn,
        Some(ca),
    )
}

/// Issues a TLS server certificate under `ca`.
pub fn issue_leaf(ca: &CaKey, cfg: &LabConfig, spec: &LeafSpec) -> Result<Issued> {
    check_leaf_name(&spec.name)?;
    let serial = Serial::random();
    let sans = if spec.sans.is_empty() {
        vec![spec.name.clone()]
    } else {
        spec.sans.clone()
    };
    let mut params = base_params(&spec.name, sans, spec.validity, &serial)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = match cfg.key_alg {
        KeyAlg::Rsa2048 => vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ],
        _ => vec![KeyUsagePurpose::DigitalSignature],
    };
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    add_revocation_pointers(&mut params, cfg, ca.ca, spec.aia)?;
    if spec.must_staple {
        params
            .custom_extensions
            .push(extensions::tls_feature_status_request()?);
    }
    finish(
        &params,
        cfg.key_alg.generate()?,
        serial,
        spec.name.clone(),
        &spec.name,
        Some(ca),
    )
}

/// Signs a CRL of `ca` listing `revoked` (certificates it issued that are
/// revoked), valid from `this_update` to `next_update`.
pub fn sign_crl(
    ca: &CaKey,
    revoked: &[crate::store::CertRecord],
    crl_number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>> {
    let revoked_certs = revoked
        .iter()
        .filter_map(|cert| match cert.status {
            crate::store::RevocationStatus::Revoked { at, reason } => {
                Some(rcgen::RevokedCertParams {
                    serial_number: SerialNumber::from_slice(cert.serial.magnitude()),
                    revocation_time: at,
                    reason_code: reason.map(crl_reason),
                    invalidity_date: None,
                })
            }
            crate::store::RevocationStatus::Good => None,
        })
        .collect();
    let params = rcgen::CertificateRevocationListParams {
        this_update: whole_seconds(this_update),
        next_update: whole_seconds(next_update),
        crl_number: SerialNumber::from_slice(&crl_number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(&ca.issuer()?)?.der().to_vec())
}

fn crl_reason(reason: labcore::RevocationReason) -> rcgen::RevocationReason {
    use labcore::RevocationReason as R;
    match reason {
        R::Unspecified => rcgen::RevocationReason::Unspecified,
        R::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
        R::CaCompromise => rcgen::RevocationReason::CaCompromise,
        R::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
        R::Superseded => rcgen::RevocationReason::Superseded,
        R::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        R::CertificateHold => rcgen::RevocationReason::CertificateHold,
        R::RemoveFromCrl => rcgen::RevocationReason::RemoveFromCrl,
        R::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
        R::AaCompromise => rcgen::RevocationReason::AaCompromise,
    }
}
