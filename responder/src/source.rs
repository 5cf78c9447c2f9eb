//! Sources of signed answers. A [`Source`] answers a [`Query`] with one
//! method; layers wrap sources (the filter, the faults, the cache), and at
//! the bottom [`StoreSource`] reads statuses from the lab's database and signs.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use labcore::RevocationReason;
use prometheus_client::metrics::histogram::Histogram;
use testca::Serial;
use testca::store::{RevocationStatus, Store};
use x509_cert::ext::pkix::CrlReason;

use crate::changes::DatabaseState;
use crate::config::{Config, UnknownSerial};
use crate::directory::{Directory, SigningIdentity};
use crate::error::{AnswerError, Error};
use crate::metrics::Outcome;
use crate::request::ParsedRequest;
use crate::response::{ResponseOptions, SingleResponseSpec, Status, build_signed_response_der};
use crate::signer::ResponderIdKind;

/// How far a `future` fault moves thisUpdate ahead, and a `stale` fault moves nextUpdate back.
pub const FAULT_TIME_SHIFT: Duration = Duration::from_secs(3600);

/// How a signed answer is bent. The default bends nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bend {
    /// Which validity period the answer states.
    pub times: Times,
    /// Answer for the serial after the one asked about.
    pub wrong_cert_id: bool,
    /// Make the signature invalid.
    pub corrupt_signature: bool,
    /// Sign with a key no CA of the lab certified.
    pub rogue_signer: bool,
}

/// The validity period an answer states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Times {
    /// thisUpdate = now − clock skew, nextUpdate = now + validity.
    #[default]
    Normal,
    /// nextUpdate already an hour in the past.
    Stale,
    /// thisUpdate an hour in the future.
    Future,
    /// No nextUpdate.
    NoNextUpdate,
}

impl Bend {
    /// Whether the answer is bent at all (a bent answer is signed for this request only).
    pub fn is_bent(&self) -> bool {
        *self != Bend::default()
    }

    /// thisUpdate and nextUpdate of an answer signed at `now`.
    pub fn times(
        &self,
        now: SystemTime,
        validity: Duration,
        clock_skew: Duration,
    ) -> (SystemTime, Option<SystemTime>) {
        let backdated = now
            .checked_sub(clock_skew)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        match self.times {
            Times::Normal => (backdated, Some(now + validity)),
            Times::Stale => {
                let next = now
                    .checked_sub(FAULT_TIME_SHIFT)
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                (
                    next.checked_sub(validity).unwrap_or(SystemTime::UNIX_EPOCH),
                    Some(next),
                )
            }
            Times::Future => (
                now + FAULT_TIME_SHIFT,
                Some(now + FAULT_TIME_SHIFT + validity),
            ),
            Times::NoNextUpdate => (backdated, None),
        }
    }
}

/// One request to answer, with the lab as it is at one generation.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// The decoded request.
    pub request: &'a ParsedRequest,
    /// Issuers, signers and faults at one database generation.
    pub view: &'a Directory,
    /// How a fault bends the answer (the default bends nothing).
    pub bend: Bend,
}

impl<'a> Query<'a> {
    /// A query with nothing bent.
    pub fn new(request: &'a ParsedRequest, view: &'a Directory) -> Self {
        Query {
            request,
            view,
            bend: Bend::default(),
        }
    }

    /// Whether the answer may serve every client asking the same: no nonce, nothing bent.
    pub fn is_shareable(&self) -> bool {
        self.request.nonce.is_none() && !self.bend.is_bent()
    }
}

/// A signed answer and what is known about it.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The DER `OCSPResponse`, exactly as signed.
    pub der: Bytes,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate, when present.
    pub next_update: Option<SystemTime>,
    /// good, revoked, unknown or mixed.
    pub outcome: Outcome,
    /// The status of each CertID, in request order.
    pub statuses: Vec<Status>,
    /// SHA-1 of the signer's certificate.
    pub signer: [u8; 20],
    /// When it was signed.
    pub produced: Instant,
    /// Some CertID names a serial or an issuer the lab never issued.
    pub unissued: bool,
    /// The same bytes may answer anyone asking the same (no nonce, no fault in force).
    pub reusable: bool,
    /// It answers a request with a nonce: for that client only, never for HTTP caches
    /// (a bent answer without a nonce is served with the headers of a normal one).
    pub nonce: bool,
}

/// Something that answers OCSP queries.
pub trait Source: Send + Sync {
    /// The signed answer to `query`, or why there is none.
    fn response(
        &self,
        query: Query<'_>,
    ) -> impl Future<Output = Result<Arc<Signed>, AnswerError>> + Send;
}

/// A source that can say what it would answer without signing: the cache
/// uses it to keep a signature when only unrelated rows changed.
pub trait Statuses: Source {
    /// The status of each CertID of `query`.
    fn statuses(
        &self,
        query: Query<'_>,
    ) -> impl Future<Output = Result<Vec<Status>, AnswerError>> + Send;
}

impl<S: Source> Source for &S {
    fn response(
        &self,
        query: Query<'_>,
    ) -> impl Future<Output = Result<Arc<Signed>, AnswerError>> + Send {
        (**self).response(query)
    }
}

impl<S: Statuses> Statuses for &S {
    fn statuses(
        &self,
        query: Query<'_>,
    ) -> impl Future<Output = Result<Vec<Status>, AnswerError>> + Send {
        (**self).statuses(query)
    }
}

/// How answers are signed (from the configuration).
#[derive(Clone, Copy, Debug)]
pub struct SigningPolicy {
    /// nextUpdate = now + validity.
    pub validity: Duration,
    /// thisUpdate = now − clock skew.
    pub clock_skew: Duration,
    /// The ResponderID form.
    pub responder_id: ResponderIdKind,
    /// The answer for serials never issued.
    pub unknown_serial: UnknownSerial,
}

impl SigningPolicy {
    /// The policy of a configuration.
    pub fn from_config(config: &Config) -> Self {
        SigningPolicy {
            validity: config.validity,
            clock_skew: config.clock_skew,
            responder_id: config.responder_id,
            unknown_serial: config.unknown_serial,
        }
    }

    /// The status of a serial the issuer never issued.
    pub fn never_issued(&self) -> Status {
        match self.unknown_serial {
            UnknownSerial::Unknown => Status::Unknown,
            // RFC 6960 §2.2: revocationTime January 1, 1970, reason certificateHold.
            UnknownSerial::Revoked => Status::Revoked {
                revocation_time: SystemTime::UNIX_EPOCH,
                reason: Some(CrlReason::CertificateHold),
            },
        }
    }
}

/// The source at the bottom: statuses from the revocation database, signed live.
#[derive(Debug)]
pub struct StoreSource {
    store: Store,
    policy: SigningPolicy,
    rogue: Arc<SigningIdentity>,
    signing_seconds: Histogram,
    /// What is known of a PostgreSQL database: while it is unreachable,
    /// lookups fail at once instead of waiting for a connection.
    database: Option<Arc<DatabaseState>>,
}

impl StoreSource {
    /// A source reading `store`, signing per `policy`; `rogue` signs for the
    /// wrong-signer fault; signing times go to `signing_seconds`; `database`
    /// tells when a PostgreSQL database is known to be unreachable.
    pub fn new(
        store: Store,
        policy: SigningPolicy,
        rogue: Arc<SigningIdentity>,
        signing_seconds: Histogram,
        database: Option<Arc<DatabaseState>>,
    ) -> Self {
        StoreSource {
            store,
            policy,
            rogue,
            signing_seconds,
            database,
        }
    }

    /// The statuses of the query's CertIDs and whether any of them names a
    /// serial or an issuer the lab never issued.
    async fn lookup(&self, query: Query<'_>) -> Result<(Vec<Status>, bool), AnswerError> {
        if let Some(state) = &self.database
            && let Some(outage) = state.outage()
        {
            return Err(AnswerError::Unavailable {
                database: state.shown().to_string(),
                reason: outage.reason,
            });
        }
        let mut out = Vec::with_capacity(query.request.cert_ids.len());
        let mut unissued = false;
        for cert_id in &query.request.cert_ids {
            let status = match (
                query.view.issuer_for(cert_id),
                Serial::from_bytes(&cert_id.serial),
            ) {
                (None, _) => {
                    unissued = true;
                    Status::Unknown
                }
                (Some(_), Err(_)) => {
                    unissued = true;
                    self.policy.never_issued()
                }
                (Some(issuer), Ok(serial)) => {
                    match query.view.status(&self.store, issuer.id, serial).await? {
                        None => {
                            unissued = true;
                            self.policy.never_issued()
                        }
                        Some(status) => status_of(status),
                    }
                }
            };
            out.push(status);
        }
        Ok((out, unissued))
    }
}

impl Signed {
    /// Whether the answer is still within its validity period at `now`
    /// (one without nextUpdate never expires, RFC 6960 §4.2.2.1).
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.this_update <= now && self.next_update.is_none_or(|next| now < next)
    }
}

impl Source for StoreSource {
    async fn response(&self, query: Query<'_>) -> Result<Arc<Signed>, AnswerError> {
        let signer = query.view.signer_for(query.request);
        let signer = match (signer, query.bend.rogue_signer) {
            (None, _) => return Err(AnswerError::NoSigner),
            (Some(_), true) => self.rogue.clone(),
            (Some(signer), false) => signer,
        };
        let (statuses, unissued) = self.lookup(query).await?;
        let started = Instant::now();
        let signed = sign(&self.policy, query, statuses, unissued, signer).await?;
        self.signing_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(Arc::new(signed))
    }
}

impl Statuses for StoreSource {
    async fn statuses(&self, query: Query<'_>) -> Result<Vec<Status>, AnswerError> {
        Ok(self.lookup(query).await?.0)
    }
}

/// Builds and signs the answer to `query`.
async fn sign(
    policy: &SigningPolicy,
    query: Query<'_>,
    statuses: Vec<Status>,
    unissued: bool,
    signer: Arc<SigningIdentity>,
) -> Result<Signed, AnswerError> {
    let now = SystemTime::now();
    let bend = query.bend;
    let (this_update, next_update) = bend.times(now, policy.validity, policy.clock_skew);
    let specs: Vec<SingleResponseSpec> = query
        .request
        .cert_ids
        .iter()
        .zip(&statuses)
        .map(|(cert_id, status)| {
            let mut spec = SingleResponseSpec::new(cert_id, *status, this_update);
            spec.next_update = next_update;
            if bend.wrong_cert_id {
                spec.cert_id.serial_number = next_serial(&cert_id.serial);
            }
            spec
        })
        .collect();
    let nonce = query.request.nonce.clone();
    let responder_id = policy.responder_id;
    let extended_revoke = unissued && policy.unknown_serial == UnknownSerial::Revoked;
    let identity = signer.clone();
    let build = move || {
        let options = ResponseOptions {
            produced_at: now,
            responder_id,
            include_signer_cert: identity.include_cert,
            nonce: nonce.as_ref(),
            corrupt_signature: bend.corrupt_signature,
            extended_revoke,
        };
        build_signed_response_der(&identity.signer, &specs, &options)
    };
    // An ECDSA P-256 or Ed25519 signature takes some 30 µs, less than handing it to
    // another thread costs (~40 µs measured): sign in place. RSA and P-384 take
    // 0.5 to 1 ms, which would stall other requests: those go to the blocking pool.
    let der = if signer.signer.is_fast() {
        build()?
    } else {
        tokio::task::spawn_blocking(build).await??
    };
    Ok(Signed {
        der: Bytes::from(der),
        this_update,
        next_update,
        outcome: Outcome::of(&statuses),
        statuses,
        signer: signer.fingerprint,
        produced: Instant::now(),
        unissued,
        reusable: query.is_shareable(),
        nonce: query.request.nonce.is_some(),
    })
}

fn status_of(status: RevocationStatus) -> Status {
    match status {
        RevocationStatus::Good => Status::Good,
        RevocationStatus::Revoked { at, reason } => Status::Revoked {
            revocation_time: at.into(),
            reason: reason.map(crl_reason),
        },
    }
}

fn crl_reason(reason: RevocationReason) -> CrlReason {
    match reason {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
        RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    }
}

/// The serial after `serial` (INTEGER content octets), for the wrong-cert-id fault.
fn next_serial(serial: &[u8]) -> x509_cert::serial_number::SerialNumber {
    let mut bytes = serial.to_vec();
    for b in bytes.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    // Keep it positive: a leading 0x00 if the top bit got set.
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    x509_cert::serial_number::SerialNumber::new(&bytes)
        .unwrap_or_else(|_| x509_cert::serial_number::SerialNumber::from(1u8))
}

/// A signer no CA of the lab certified, for the wrong-signer fault.
pub fn rogue_signer() -> Result<SigningIdentity, Error> {
    let key = rcgen::KeyPair::generate().map_err(Error::RogueSigner)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "OCSP Lab rogue signer (certified by no lab CA)",
    );
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::OcspSigning];
    let cert = params.self_signed(&key).map_err(Error::RogueSigner)?;
    SigningIdentity::new(key, cert.der(), true, "rogue signer".into())
}

/// In-process helpers for the layers' unit tests: a lab of one issuer in
/// memory and a source answering from a map, like Boulder's in-memory source.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use der::asn1::OctetString;
    use spki::AlgorithmIdentifierOwned;
    use testca::cert_id::{HashAlg, IssuerKeyMaterial};
    use testca::faults::Fault;
    use testca::ids::IssuerId;

    use super::*;
    use crate::directory::IssuerEntry;
    use crate::request::{RequestCertId, RequestNonce};

    /// A lab of one issuer, which signs its own answers, in memory.
    pub(crate) struct Fixture {
        pub(crate) view: Directory,
        pub(crate) material: IssuerKeyMaterial,
    }

    impl Fixture {
        pub(crate) fn new(faults: Vec<Fault>) -> Self {
            Self::at(1, faults)
        }

        pub(crate) fn at(generation: i64, faults: Vec<Fault>) -> Self {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::default();
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "Test CA");
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let cert = params.self_signed(&key).unwrap();
            let material = IssuerKeyMaterial::from_cert_der(cert.der()).unwrap();
            let signer = SigningIdentity::new(key, cert.der(), false, "test CA".into()).unwrap();
            let entry = IssuerEntry {
                id: IssuerId(1),
                name: "intermediate".into(),
                cert_der: cert.der().to_vec(),
                signer: Some(Arc::new(signer)),
            };
            let view = Directory::new(
                generation,
                vec![(entry, material.all_hashes())],
                faults,
                100,
            );
            Fixture { view, material }
        }

        /// The same issuer at another generation.
        pub(crate) fn with_generation(&self, generation: i64) -> Directory {
            let issuers = self
                .view
                .issuers()
                .iter()
                .map(|i| {
                    (
                        IssuerEntry {
                            id: i.id,
                            name: i.name.clone(),
                            cert_der: i.cert_der.clone(),
                            signer: i.signer.clone(),
                        },
                        self.material.all_hashes(),
                    )
                })
                .collect();
            Directory::new(generation, issuers, vec![], 100)
        }

        /// A request about `serial` of this issuer (SHA-1 CertID).
        pub(crate) fn request(&self, serial: &[u8], nonce: Option<&[u8]>) -> ParsedRequest {
            let h = self.material.hashes(HashAlg::Sha1);
            cert_id_request(HashAlg::Sha1, h.name_hash, h.key_hash, serial, nonce)
        }

        pub(crate) fn query<'a>(&'a self, request: &'a ParsedRequest) -> Query<'a> {
            Query::new(request, &self.view)
        }
    }

    /// A request with one CertID made of these parts.
    pub(crate) fn cert_id_request(
        alg: HashAlg,
        name_hash: Vec<u8>,
        key_hash: Vec<u8>,
        serial: &[u8],
        nonce: Option<&[u8]>,
    ) -> ParsedRequest {
        let raw = x509_ocsp::CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: alg.oid(),
                parameters: None,
            },
            issuer_name_hash: OctetString::new(name_hash.clone()).unwrap(),
            issuer_key_hash: OctetString::new(key_hash.clone()).unwrap(),
            serial_number: x509_cert::serial_number::SerialNumber::new(serial).unwrap(),
        };
        ParsedRequest {
            cert_ids: vec![RequestCertId {
                hash_algorithm: alg,
                issuer_name_hash: name_hash,
                issuer_key_hash: key_hash,
                serial: serial.to_vec(),
                raw,
            }],
            nonce: nonce.map(|n| RequestNonce {
                extn_value: [&[0x04, n.len() as u8][..], n].concat(),
                critical: false,
            }),
            unsupported_critical_extensions: vec![],
            is_signed: false,
            has_requestor_name: false,
        }
    }

    /// Answers from a map of serials to statuses (others: unknown), "signing"
    /// by numbering its answers.
    #[derive(Default)]
    pub(crate) struct MemorySource {
        statuses: Mutex<HashMap<Vec<u8>, Status>>,
        signed: AtomicUsize,
        lookups: AtomicUsize,
        last_bend: Mutex<Bend>,
    }

    impl MemorySource {
        pub(crate) fn set(&self, serial: &[u8], status: Status) {
            self.statuses
                .lock()
                .unwrap()
                .insert(serial.to_vec(), status);
        }

        /// Answers signed so far.
        pub(crate) fn signatures(&self) -> usize {
            self.signed.load(Ordering::SeqCst)
        }

        /// Status lookups without signing so far.
        pub(crate) fn lookups(&self) -> usize {
            self.lookups.load(Ordering::SeqCst)
        }

        pub(crate) fn last_bend(&self) -> Bend {
            *self.last_bend.lock().unwrap()
        }

        fn lookup(&self, query: Query<'_>) -> (Vec<Status>, bool) {
            let map = self.statuses.lock().unwrap();
            let mut unissued = false;
            let statuses = query
                .request
                .cert_ids
                .iter()
                .map(|c| {
                    map.get(&c.serial).copied().unwrap_or_else(|| {
                        unissued = true;
                        Status::Unknown
                    })
                })
                .collect();
            (statuses, unissued)
        }
    }

    impl Source for MemorySource {
        async fn response(&self, query: Query<'_>) -> Result<Arc<Signed>, AnswerError> {
            let n = self.signed.fetch_add(1, Ordering::SeqCst);
            *self.last_bend.lock().unwrap() = query.bend;
            let (statuses, unissued) = self.lookup(query);
            let der = Bytes::from(format!("answer #{n}").into_bytes());
            let now = SystemTime::now();
            Ok(Arc::new(Signed {
                der,
                this_update: now,
                next_update: Some(now + Duration::from_secs(3600)),
                outcome: Outcome::of(&statuses),
                statuses,
                signer: query
                    .view
                    .signer_for(query.request)
                    .map_or([0; 20], |s| s.fingerprint),
                produced: Instant::now(),
                unissued,
                reusable: query.is_shareable(),
                nonce: query.request.nonce.is_some(),
            }))
        }
    }

    impl Statuses for MemorySource {
        async fn statuses(&self, query: Query<'_>) -> Result<Vec<Status>, AnswerError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            Ok(self.lookup(query).0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_after() {
        assert_eq!(next_serial(&[0x01]).as_bytes(), &[0x02]);
        assert_eq!(next_serial(&[0x01, 0xff]).as_bytes(), &[0x02, 0x00]);
        assert_eq!(next_serial(&[0x7f, 0xff]).as_bytes(), &[0x00, 0x80, 0x00]);
    }

    #[test]
    fn database_statuses_map_to_ocsp_statuses() {
        assert_eq!(status_of(RevocationStatus::Good), Status::Good);
        let at = time::OffsetDateTime::from_unix_timestamp(1_000).unwrap();
        assert_eq!(
            status_of(RevocationStatus::Revoked {
                at,
                reason: Some(RevocationReason::KeyCompromise)
            }),
            Status::Revoked {
                revocation_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
                reason: Some(CrlReason::KeyCompromise)
            }
        );
        let policy = |unknown_serial| SigningPolicy {
            validity: Duration::from_secs(3600),
            clock_skew: Duration::from_secs(60),
            responder_id: ResponderIdKind::ByKey,
            unknown_serial,
        };
        assert_eq!(
            policy(UnknownSerial::Unknown).never_issued(),
            Status::Unknown
        );
        assert_eq!(
            policy(UnknownSerial::Revoked).never_issued(),
            Status::Revoked {
                revocation_time: SystemTime::UNIX_EPOCH,
                reason: Some(CrlReason::CertificateHold)
            }
        );
    }

    #[tokio::test]
    async fn a_signed_answer_says_what_it_signed() {
        // Signing for real, without a database: the lookup is bypassed by
        // signing statuses directly.
        let fx = testing::Fixture::new(vec![]);
        let request = fx.request(&[9], None);
        let policy = SigningPolicy {
            validity: Duration::from_secs(3600),
            clock_skew: Duration::from_secs(60),
            responder_id: ResponderIdKind::ByKey,
            unknown_serial: UnknownSerial::Unknown,
        };
        let signer = fx.view.signer_for(&request).unwrap();
        let signed = sign(
            &policy,
            fx.query(&request),
            vec![Status::Good],
            false,
            signer.clone(),
        )
        .await
        .unwrap();
        assert_eq!(signed.outcome, Outcome::Good);
        assert_eq!(signed.signer, signer.fingerprint);
        assert!(signed.reusable);
        use der::Decode;
        let parsed = x509_ocsp::OcspResponse::from_der(&signed.der).unwrap();
        assert_eq!(
            parsed.response_status,
            x509_ocsp::OcspResponseStatus::Successful
        );
        let bent = Query {
            bend: Bend {
                wrong_cert_id: true,
                ..Bend::default()
            },
            ..fx.query(&request)
        };
        let signed = sign(&policy, bent, vec![Status::Good], false, signer)
            .await
            .unwrap();
        assert!(!signed.reusable, "a bent answer is for this request only");
    }
}
