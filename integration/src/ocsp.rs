//! OCSP seen from the client's side, independently of the responder's code.
//!
//! * Requests built byte by byte ([`Request`], [`CertId`]): any version,
//!   CertID hash (also MD5), serial, nonce length, so that malformed and
//!   unusual requests are as easy to make as normal ones. Requests made by
//!   OpenSSL itself: [`openssl_request`].
//! * Responses read by OpenSSL ([`parse`], [`Trust`], [`verify`]) and,
//!   for what the `openssl` crate does not expose (ResponderID, `certs`,
//!   extensions, the CertIDs as echoed), by a small DER reader ([`basic_info`]).

use std::path::Path;
use std::time::{Duration, SystemTime};

use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::{MessageDigest, hash};
use openssl::nid::Nid;
use openssl::ocsp::{
    OcspBasicResponse, OcspBasicResponseRef, OcspCertId, OcspFlag, OcspRequest, OcspResponse,
    OcspResponseStatus,
};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509, X509Builder, X509Ref};

use crate::harness::TestLab;

/// `id-pkix-ocsp-nonce` (1.3.6.1.5.5.7.48.1.2), as a DER OBJECT IDENTIFIER.
pub const OID_NONCE: &[u8] = &[
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02,
];
/// `id-pkix-ocsp-basic` (1.3.6.1.5.5.7.48.1.1), as a DER OBJECT IDENTIFIER.
pub const OID_BASIC: &[u8] = &[
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01,
];

/// Minimal DER encoding and decoding.
pub mod der {
    /// Tag of SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
    /// Tag of INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// Tag of OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// Tag of NULL.
    pub const NULL: u8 = 0x05;
    /// Tag of ENUMERATED.
    pub const ENUMERATED: u8 = 0x0a;
    /// Tag of GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// Tag of BIT STRING.
    pub const BIT_STRING: u8 = 0x03;

    /// A tag-length-value with `content`, in definite minimal length form.
    pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|&b| b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
        out.extend_from_slice(content);
        out
    }

    /// SEQUENCE of the concatenated `parts`.
    pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
        tlv(SEQUENCE, &parts.concat())
    }

    /// `[n] EXPLICIT` (constructed context-specific) around `content`.
    pub fn explicit(n: u8, content: &[u8]) -> Vec<u8> {
        tlv(0xa0 | n, content)
    }

    /// OCTET STRING.
    pub fn octet_string(content: &[u8]) -> Vec<u8> {
        tlv(OCTET_STRING, content)
    }

    /// INTEGER of the non-negative big-endian magnitude `value` (minimal, a
    /// leading 0x00 added when the top bit is set).
    pub fn unsigned_integer(value: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = value.iter().copied().skip_while(|&b| b == 0).collect();
        let mut content = if trimmed.is_empty() { vec![0] } else { trimmed };
        if content[0] & 0x80 != 0 {
            content.insert(0, 0);
        }
        tlv(INTEGER, &content)
    }

    /// One decoded TLV.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Tlv<'a> {
        /// The tag byte (single-byte tags only).
        pub tag: u8,
        /// The content octets.
        pub content: &'a [u8],
        /// The whole encoding, tag to end of content.
        pub raw: &'a [u8],
    }

    /// Reads one TLV from the front of `input`; `None` if it is not DER.
    pub fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
        let (&tag, rest) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let header = input.len() - rest.len();
        let tlv = Tlv {
            tag,
            content: &rest[..len],
            raw: &input[..header + len],
        };
        Some((tlv, &rest[len..]))
    }

    /// Reads all TLVs of `input` (e.g. a SEQUENCE's content); `None` if any is not DER.
    pub fn read_all(mut input: &[u8]) -> Option<Vec<Tlv<'_>>> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let (tlv, rest) = read(input)?;
            out.push(tlv);
            input = rest;
        }
        Some(out)
    }
}

// ------------------------------------------------------------------ requests

/// A CertID hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1 (what most clients send).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// MD5 (not allowed: a responder must refuse it).
    Md5,
}

impl HashAlg {
    /// The algorithms a responder should accept.
    pub const SUPPORTED: [HashAlg; 4] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// OpenSSL's digest.
    pub fn digest(self) -> MessageDigest {
        match self {
            HashAlg::Sha1 => MessageDigest::sha1(),
            HashAlg::Sha256 => MessageDigest::sha256(),
            HashAlg::Sha384 => MessageDigest::sha384(),
            HashAlg::Sha512 => MessageDigest::sha512(),
            HashAlg::Md5 => MessageDigest::md5(),
        }
    }

    /// The DER OBJECT IDENTIFIER.
    pub fn oid(self) -> &'static [u8] {
        match self {
            HashAlg::Sha1 => &[0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a],
            HashAlg::Sha256 => &[
                0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
            ],
            HashAlg::Sha384 => &[
                0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
            ],
            HashAlg::Sha512 => &[
                0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
            ],
            HashAlg::Md5 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05],
        }
    }

    /// The algorithm whose DER OID is `oid`.
    pub fn from_oid(oid: &[u8]) -> Option<HashAlg> {
        [
            HashAlg::Sha1,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
            HashAlg::Md5,
        ]
        .into_iter()
        .find(|h| h.oid() == oid)
    }

    /// Hashes `data`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        hash(self.digest(), data).expect("OpenSSL hashes").to_vec()
    }
}

/// An OCSP CertID (RFC 6960 §4.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertId {
    /// Hash algorithm.
    pub hash: HashAlg,
    /// Hash of the issuer's subject name (DER).
    pub name_hash: Vec<u8>,
    /// Hash of the issuer's public key (the subjectPublicKey BIT STRING's bits).
    pub key_hash: Vec<u8>,
    /// The serial number, as a non-negative big-endian magnitude without leading zeros.
    pub serial: Vec<u8>,
}

impl CertId {
    /// The CertID of `cert`, issued by `issuer`.
    pub fn of(cert: &X509Ref, issuer: &X509Ref, hash: HashAlg) -> CertId {
        let serial = cert
            .serial_number()
            .to_bn()
            .expect("a serial converts to a BigNum")
            .to_vec();
        CertId::with_serial(issuer, &serial, hash)
    }

    /// A CertID naming `issuer` and an arbitrary `serial` (big-endian magnitude).
    pub fn with_serial(issuer: &X509Ref, serial: &[u8], hash: HashAlg) -> CertId {
        let name = issuer.subject_name().to_der().expect("a name encodes");
        CertId {
            hash,
            name_hash: hash.hash(&name),
            key_hash: hash.hash(&public_key_bits(issuer)),
            serial: serial.iter().copied().skip_while(|&b| b == 0).collect(),
        }
    }

    /// The DER encoding, with NULL hash parameters (as OpenSSL sends).
    pub fn to_der(&self) -> Vec<u8> {
        let alg = der::sequence(&[self.hash.oid(), &[der::NULL, 0]]);
        der::sequence(&[
            &alg,
            &der::octet_string(&self.name_hash),
            &der::octet_string(&self.key_hash),
            &der::unsigned_integer(&self.serial),
        ])
    }

    /// The same CertID as OpenSSL's [`OcspCertId`], for `find_status`.
    /// `issuer` must be the certificate the hashes were made from.
    pub fn to_openssl(&self, issuer: &X509Ref) -> OcspCertId {
        let stand_in = stand_in_cert(issuer, &self.serial);
        let id = OcspCertId::from_cert(self.hash.digest(), &stand_in, issuer)
            .expect("OpenSSL makes a CertID");
        assert_eq!(
            CertId::with_serial(issuer, &self.serial, self.hash),
            *self,
            "to_openssl needs the CertID's real issuer"
        );
        id
    }
}

/// The bits of a certificate's subjectPublicKey (what issuerKeyHash hashes).
pub fn public_key_bits(cert: &X509Ref) -> Vec<u8> {
    let spki = cert
        .public_key()
        .expect("a certificate has a public key")
        .public_key_to_der()
        .expect("a public key encodes");
    let (outer, _) = der::read(&spki).expect("SubjectPublicKeyInfo is DER");
    let fields = der::read_all(outer.content).expect("SubjectPublicKeyInfo is DER");
    let bits = fields
        .iter()
        .find(|t| t.tag == der::BIT_STRING)
        .expect("SubjectPublicKeyInfo holds a BIT STRING");
    bits.content[1..].to_vec()
}

/// A throwaway certificate "issued" by `issuer`'s name with `serial`: what
/// OpenSSL needs to make a CertID for a serial the CA never issued.
fn stand_in_cert(issuer: &X509Ref, serial: &[u8]) -> X509 {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("PKey");
    let mut b = X509Builder::new().expect("X509Builder");
    let serial = BigNum::from_slice(serial).expect("BigNum");
    b.set_serial_number(&serial.to_asn1_integer().expect("INTEGER"))
        .expect("serial");
    b.set_issuer_name(issuer.subject_name()).expect("issuer");
    b.set_subject_name(issuer.subject_name()).expect("subject");
    b.set_pubkey(&key).expect("key");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    b.build()
}

/// A random positive 16-byte serial (high bit clear, never zero).
pub fn random_serial() -> Vec<u8> {
    let mut serial = [0u8; 16];
    openssl::rand::rand_bytes(&mut serial).expect("random bytes");
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial.to_vec()
}

/// Random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    openssl::rand::rand_bytes(&mut bytes).expect("random bytes");
    bytes
}

/// An OCSPRequest to encode by hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `version`, written explicitly when `Some` (0 is v1, 1 would be a "v2").
    pub version: Option<u8>,
    /// The CertIDs of `requestList`, in order (may be empty, for negative tests).
    pub cert_ids: Vec<CertId>,
    /// The nonce octets, sent as OpenSSL does (`extnValue` = OCTET STRING of the nonce).
    pub nonce: Option<Vec<u8>>,
}

impl Request {
    /// A v1 request (version omitted, as DER requires) for `cert_ids`.
    pub fn new(cert_ids: Vec<CertId>) -> Request {
        Request {
            version: None,
            cert_ids,
            nonce: None,
        }
    }

    /// With a nonce.
    pub fn with_nonce(mut self, nonce: &[u8]) -> Request {
        self.nonce = Some(nonce.to_vec());
        self
    }

    /// With an explicit version field.
    pub fn with_version(mut self, version: u8) -> Request {
        self.version = Some(version);
        self
    }

    /// The nonce's Extension as encoded in the request (a response echoing
    /// the nonce holds these very bytes).
    pub fn nonce_extension(&self) -> Option<Vec<u8>> {
        self.nonce
            .as_ref()
            .map(|n| der::sequence(&[OID_NONCE, &der::octet_string(&der::octet_string(n))]))
    }

    /// The DER encoding.
    pub fn to_der(&self) -> Vec<u8> {
        let mut tbs = Vec::new();
        if let Some(v) = self.version {
            tbs.extend(der::explicit(0, &der::tlv(der::INTEGER, &[v])));
        }
        let list: Vec<u8> = self
            .cert_ids
            .iter()
            .flat_map(|id| der::sequence(&[&id.to_der()]))
            .collect();
        tbs.extend(der::tlv(der::SEQUENCE, &list));
        if let Some(ext) = self.nonce_extension() {
            tbs.extend(der::explicit(2, &der::sequence(&[&ext])));
        }
        der::sequence(&[&der::tlv(der::SEQUENCE, &tbs)])
    }
}

/// A request made by OpenSSL (`OCSP_REQUEST`, no nonce) for `(cert, issuer)` pairs, DER.
pub fn openssl_request(certs: &[(&X509Ref, &X509Ref)], hash: HashAlg) -> Vec<u8> {
    let mut req = OcspRequest::new().expect("OCSP_REQUEST_new");
    for (cert, issuer) in certs {
        let id = OcspCertId::from_cert(hash.digest(), cert, issuer).expect("OCSP_cert_to_id");
        req.add_id(id).expect("OCSP_request_add0_id");
    }
    req.to_der().expect("i2d_OCSP_REQUEST")
}

// ------------------------------------------------------------------ responses

/// Parses an `OCSPResponse` with OpenSSL; panics (showing the bytes) if it does not parse.
#[track_caller]
pub fn parse(der: &[u8]) -> OcspResponse {
    OcspResponse::from_der(der).unwrap_or_else(|e| {
        panic!(
            "not an OCSPResponse ({e}): {} bytes: {}",
            der.len(),
            hex(&der[..der.len().min(64)])
        )
    })
}

/// The response status of a DER `OCSPResponse`.
#[track_caller]
pub fn status_of(der: &[u8]) -> OcspResponseStatus {
    parse(der).status()
}

/// The `BasicOCSPResponse` of a successful response; panics otherwise.
#[track_caller]
pub fn basic(der: &[u8]) -> OcspBasicResponse {
    let response = parse(der);
    assert_eq!(
        response.status(),
        OcspResponseStatus::SUCCESSFUL,
        "expected a successful OCSP response"
    );
    response
        .basic()
        .expect("a successful response has a basic response")
}

/// What a client trusts: the root in the store, and untrusted certificates
/// (the intermediate) to find the signer and build its chain.
pub struct Trust {
    /// The trust store (the lab's root).
    pub store: X509Store,
    /// Untrusted certificates (the lab's intermediate).
    pub certs: Stack<X509>,
}

impl Trust {
    /// Trusts `root`; `untrusted` helps find the signer and its chain.
    pub fn new(root: X509, untrusted: Vec<X509>) -> Trust {
        let mut store = X509StoreBuilder::new().expect("X509StoreBuilder");
        store.add_cert(root).expect("add the root");
        let mut certs = Stack::new().expect("Stack");
        for cert in untrusted {
            certs.push(cert).expect("push");
        }
        Trust {
            store: store.build(),
            certs,
        }
    }

    /// A client of `lab`: its root trusted, its intermediate known.
    pub fn of_lab(lab: &TestLab) -> Trust {
        Trust::new(
            load_cert(&lab.root_cert()),
            vec![load_cert(&lab.intermediate_cert())],
        )
    }
}

/// `OCSP_basic_verify` with no flags: signature, signer chain to the root,
/// signer authorised (the CA itself, or a delegate with id-kp-OCSPSigning).
pub fn verify(basic: &OcspBasicResponseRef, trust: &Trust) -> Result<(), ErrorStack> {
    basic.verify(&trust.certs, &trust.store, OcspFlag::empty())
}

/// Reads the first certificate of a PEM file.
#[track_caller]
pub fn load_cert(path: &Path) -> X509 {
    let pem = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    X509::from_pem(&pem).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ResponderID of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponderId {
    /// byName: the DER Name.
    ByName(Vec<u8>),
    /// byKey: the SHA-1 key hash.
    ByKey(Vec<u8>),
}

/// The certificate status of one SingleResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// good.
    Good,
    /// revoked, with revocationTime and the CRLReason code if present.
    Revoked {
        /// revocationTime.
        time: SystemTime,
        /// revocationReason (CRLReason ENUMERATED value).
        reason: Option<u8>,
    },
    /// unknown.
    Unknown,
}

/// One SingleResponse, as the DER reader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleInfo {
    /// The CertID as echoed (`None` hash if the OID is none of [`HashAlg`]).
    pub cert_id: Option<CertId>,
    /// The DER OID of the CertID's hash algorithm.
    pub hash_oid: Vec<u8>,
    /// certStatus.
    pub status: CertStatus,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate.
    pub next_update: Option<SystemTime>,
}

/// What the DER reader finds in a successful `OCSPResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicInfo {
    /// responderID.
    pub responder_id: ResponderId,
    /// producedAt.
    pub produced_at: SystemTime,
    /// The SingleResponses, in order.
    pub responses: Vec<SingleInfo>,
    /// The responseExtensions' Extension encodings.
    pub extensions: Vec<Vec<u8>>,
    /// The certificates in `certs` (DER).
    pub certs: Vec<Vec<u8>>,
}

/// Reads a successful DER `OCSPResponse` with the DER reader; `None` if it is
/// not one (error status, not DER, not id-pkix-ocsp-basic).
pub fn basic_info(response: &[u8]) -> Option<BasicInfo> {
    let (outer, rest) = der::read(response)?;
    if outer.tag != der::SEQUENCE || !rest.is_empty() {
        return None;
    }
    let fields = der::read_all(outer.content)?;
    let [status, bytes] = fields.as_slice() else {
        return None;
    };
    if status.tag != der::ENUMERATED || status.content != [0] || bytes.tag != 0xa0 {
        return None;
    }
    let (response_bytes, _) = der::read(bytes.content)?;
    let rb = der::read_all(response_bytes.content)?;
    let [oid, octets] = rb.as_slice() else {
        return None;
    };
    if oid.raw != OID_BASIC || octets.tag != der::OCTET_STRING {
        return None;
    }
    let (basic, _) = der::read(octets.content)?;
    let parts = der::read_all(basic.content)?;
    let tbs = parts.first()?;
    let certs = match parts.get(3) {
        Some(t) if t.tag == 0xa0 => {
            let (seq, _) = der::read(t.content)?;
            der::read_all(seq.content)?
                .iter()
                .map(|c| c.raw.to_vec())
                .collect()
        }
        _ => Vec::new(),
    };
    let mut data = der::read_all(tbs.content)?.into_iter().peekable();
    if data.peek()?.tag == 0xa0 {
        data.next();
    }
    let rid = data.next()?;
    let responder_id = match rid.tag {
        0xa1 => ResponderId::ByName(rid.content.to_vec()),
        0xa2 => ResponderId::ByKey(der::read(rid.content)?.0.content.to_vec()),
        _ => return None,
    };
    let produced_at = generalized_time(data.next()?)?;
    let responses = der::read_all(data.next()?.content)?
        .iter()
        .map(|s| single_info(s.content))
        .collect::<Option<Vec<_>>>()?;
    let extensions = match data.next() {
        Some(t) if t.tag == 0xa1 => der::read_all(der::read(t.content)?.0.content)?
            .iter()
            .map(|e| e.raw.to_vec())
            .collect(),
        _ => Vec::new(),
    };
    Some(BasicInfo {
        responder_id,
        produced_at,
        responses,
        extensions,
        certs,
    })
}

fn single_info(content: &[u8]) -> Option<SingleInfo> {
    let fields = der::read_all(content)?;
    let mut fields = fields.into_iter();
    let id = der::read_all(fields.next()?.content)?;
    let [alg, name_hash, key_hash, serial] = id.as_slice() else {
        return None;
    };
    let hash_oid = der::read(alg.content)?.0.raw.to_vec();
    let cert_id = HashAlg::from_oid(&hash_oid).map(|hash| CertId {
        hash,
        name_hash: name_hash.content.to_vec(),
        key_hash: key_hash.content.to_vec(),
        serial: serial
            .content
            .iter()
            .copied()
            .skip_while(|&b| b == 0)
            .collect(),
    });
    let status = fields.next()?;
    let status = match status.tag {
        0x80 => CertStatus::Good,
        0x82 => CertStatus::Unknown,
        0xa1 => {
            let info = der::read_all(status.content)?;
            let time = generalized_time(*info.first()?)?;
            let reason = match info.get(1) {
                Some(r) if r.tag == 0xa0 => Some(*der::read(r.content)?.0.content.first()?),
                _ => None,
            };
            CertStatus::Revoked { time, reason }
        }
        _ => return None,
    };
    let this_update = generalized_time(fields.next()?)?;
    let next_update = match fields.next() {
        Some(t) if t.tag == 0xa0 => Some(generalized_time(der::read(t.content)?.0)?),
        _ => None,
    };
    Some(SingleInfo {
        cert_id,
        hash_oid,
        status,
        this_update,
        next_update,
    })
}

/// A GeneralizedTime `YYYYMMDDHHMMSS[.f]Z`, as a time.
fn generalized_time(t: der::Tlv<'_>) -> Option<SystemTime> {
    if t.tag != der::GENERALIZED_TIME {
        return None;
    }
    let s = std::str::from_utf8(t.content).ok()?;
    let digits = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, se) = (digits(8..10)?, digits(10..12)?, digits(12..14)?);
    if !s.ends_with('Z') {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_integers() {
        assert_eq!(der::tlv(4, &[1, 2]), vec![4, 2, 1, 2]);
        let long = der::tlv(4, &[0; 300]);
        assert_eq!(&long[..4], &[4, 0x82, 0x01, 0x2c]);
        assert_eq!(der::read(&long).unwrap().0.content.len(), 300);
        assert_eq!(der::unsigned_integer(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(der::unsigned_integer(&[0, 0, 5]), vec![2, 1, 5]);
        assert!(der::read(&[0x30, 0x05, 1]).is_none());
    }

    #[test]
    fn generalized_times() {
        let t = |s: &str| generalized_time(der::read(&der::tlv(0x18, s.as_bytes())).unwrap().0);
        assert_eq!(t("19700101000000Z"), Some(SystemTime::UNIX_EPOCH));
        assert_eq!(
            t("20260101000000Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600))
        );
        assert_eq!(t("2026"), None);
    }

    #[test]
    fn hand_made_requests_parse_in_openssl() {
        let issuer = stand_in_cert(&stand_in_cert_root(), &[1]);
        let id = CertId::with_serial(&issuer, &random_serial(), HashAlg::Sha256);
        let der = Request::new(vec![id.clone(), id])
            .with_nonce(&[7; 16])
            .to_der();
        let parsed = OcspRequest::from_der(&der).expect("OpenSSL reads it");
        assert_eq!(parsed.to_der().unwrap(), der, "and encodes it identically");
    }

    fn stand_in_cert_root() -> X509 {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test root").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        b.build()
    }
}
