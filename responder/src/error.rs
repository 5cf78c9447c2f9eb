//! Errors of the responder library: [`Error`] for what stops it from starting
//! (or from reloading the lab), [`AnswerError`] for why one request gets no
//! signed answer, and the one mapping from the latter to what is sent
//! ([`AnswerError::failure`]; the HTTP layer turns a [`Failure`] into HTTP).

use std::path::PathBuf;

use der::asn1::ObjectIdentifier;
use testca::faults::FaultMode;

use crate::request::RequestError;
use crate::response::{ErrorStatus, ResponseError};

/// What can stop the responder from starting, or from loading the lab's issuers and signers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lab or its database.
    #[error(transparent)]
    Lab(#[from] testca::Error),
    /// A lab file that cannot be read, or a lab that is not there.
    #[error(transparent)]
    Labcore(#[from] labcore::Error),
    /// A signer's key and certificate do not fit together.
    #[error("signer: {0}")]
    Signer(#[from] crate::signer::SignerError),
    /// A certificate did not parse.
    #[error("certificate: {0}")]
    Der(#[from] der::Error),
    /// A private key did not load.
    #[error("{what}: {source}")]
    Key {
        /// Which key (a file, or the delegated signer's key in the database).
        what: String,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// A key does not belong to the certificate it should sign for.
    #[error("{key} does not match the {issuer} certificate: {source}")]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The issuer's name.
        issuer: String,
        /// The cause.
        #[source]
        source: crate::signer::SignerError,
    },
    /// The key file of a delegated signer (read from the lab directory when
    /// the database is PostgreSQL) is missing, unreadable, or another key.
    #[error(
        "cannot sign for {issuer}: {key} does not hold the key of its newest delegated signer (serial {serial} in {database}): {reason}; copy the current ca/{issuer}/ocsp-signer/key.pem of the lab that wrote the database there (or pass that lab's --dir)"
    )]
    SignerKeyFile {
        /// The key file.
        key: PathBuf,
        /// The issuer's name.
        issuer: String,
        /// The serial of the signer's certificate in the database.
        serial: String,
        /// The database, without its password.
        database: String,
        /// What is wrong with the file.
        reason: String,
    },
    /// `--signer-cert` holds no certificate.
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    /// An issuer whose name is not a CA of the lab has no key file to sign with.
    #[error("no key file for issuer '{0}'")]
    NoCaKey(String),
    /// The rogue signer of the wrong-signer fault could not be made.
    #[error("rogue signer: {0}")]
    RogueSigner(#[source] rcgen::Error),
    /// Building a response failed.
    #[error("building a response: {0}")]
    Response(#[from] ResponseError),
    /// Loading the lab failed a moment ago, and it is not yet time to try
    /// again: the same error, told to every request meanwhile.
    #[error(transparent)]
    Again(std::sync::Arc<Error>),
    /// The listening socket.
    #[error("cannot listen on {addr}: {source}; is another process using the port? Pass --listen")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result with the responder's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the database could not be reached.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::Lab(testca::Error::Unreachable { .. }) => true,
            Error::Again(first) => first.is_unreachable(),
            _ => false,
        }
    }
}

/// Why a request gets no signed answer.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The GET path is not base64 in any accepted form.
    #[error("the GET path is not base64")]
    NotBase64,
    /// The request is not a well-formed OCSP request.
    #[error(transparent)]
    Malformed(#[from] RequestError),
    /// The request carries critical extensions this responder does not understand.
    #[error("unsupported critical extension(s) {0:?}")]
    UnsupportedCritical(Vec<ObjectIdentifier>),
    /// The nonce is empty or longer than allowed (RFC 8954 §2.1).
    #[error("nonce of {len} octets, outside 1..={max}")]
    NonceLength {
        /// Its length.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// A CertID names an issuer this responder does not serve.
    #[error("a CertID names an issuer this responder does not serve")]
    UnknownIssuer,
    /// Nobody can sign for the issuer.
    #[error("no signer for this issuer (no delegated signer recorded; run `testca signer`)")]
    NoSigner,
    /// The lab could not be read or reloaded.
    #[error("cannot read the lab: {0}")]
    Lab(#[from] Error),
    /// Building or signing the response failed.
    #[error("building a response: {0}")]
    Build(#[from] ResponseError),
    /// The signing thread died.
    #[error("the signing task failed: {0}")]
    SigningTask(#[from] tokio::task::JoinError),
    /// A fault that QA injected answers instead of the responder.
    #[error("injected fault {0}")]
    Injected(FaultMode),
    /// The database is unreachable and nothing valid is cached for this request.
    #[error(
        "the revocation database {database} is unreachable ({reason}) and no valid answer is cached"
    )]
    Unavailable {
        /// The database, without its password.
        database: String,
        /// Why, one line.
        reason: String,
    },
}

impl From<testca::Error> for AnswerError {
    fn from(e: testca::Error) -> Self {
        AnswerError::Lab(Error::Lab(e))
    }
}

/// What is sent instead of a signed answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// An unsigned OCSP error response.
    Ocsp(ErrorStatus),
    /// Bytes that are no OCSP response at all (the malformed-response fault).
    NotOcsp(&'static [u8]),
    /// HTTP 500 with no OCSP body.
    Http500,
    /// The OCSP `tryLater` error with HTTP 503: the database cannot be
    /// reached (an HTTP cache in front may try another responder).
    Unavailable,
    /// The connection dropped without an answer.
    Close,
}

/// The body of the malformed-response fault.
pub const NOT_DER: &[u8] = b"this is not a DER-encoded OCSP response\n";

impl AnswerError {
    /// What a client gets for this error: the one mapping from errors to OCSP statuses.
    pub fn failure(&self) -> Failure {
        match self {
            AnswerError::NotBase64
            | AnswerError::Malformed(_)
            | AnswerError::UnsupportedCritical(_)
            | AnswerError::NonceLength { .. } => Failure::Ocsp(ErrorStatus::MalformedRequest),
            AnswerError::UnknownIssuer => Failure::Ocsp(ErrorStatus::Unauthorized),
            e if e.is_unavailable() => Failure::Unavailable,
            AnswerError::Unavailable { .. } => Failure::Unavailable,
            AnswerError::NoSigner
            | AnswerError::Lab(_)
            | AnswerError::Build(_)
            | AnswerError::SigningTask(_) => Failure::Ocsp(ErrorStatus::InternalError),
            AnswerError::Injected(mode) => match mode {
                FaultMode::TryLater => Failure::Ocsp(ErrorStatus::TryLater),
                FaultMode::Unauthorized => Failure::Ocsp(ErrorStatus::Unauthorized),
                FaultMode::MalformedResponse => Failure::NotOcsp(NOT_DER),
                FaultMode::Http500 => Failure::Http500,
                FaultMode::Close => Failure::Close,
                // The faults that bend a signed answer never end up here.
                _ => Failure::Ocsp(ErrorStatus::InternalError),
            },
        }
    }

    /// Whether the database could not be reached: what the responder could
    /// not know, rather than what went wrong.
    pub fn is_unavailable(&self) -> bool {
        match self {
            AnswerError::Unavailable { .. } => true,
            AnswerError::Lab(e) => e.is_unreachable(),
            _ => false,
        }
    }

    /// Whether the error is the responder's own fault (logged as an error, not as info).
    pub fn is_internal(&self) -> bool {
        !self.is_unavailable()
            && matches!(
                self,
                AnswerError::NoSigner
                    | AnswerError::Lab(_)
                    | AnswerError::Build(_)
                    | AnswerError::SigningTask(_)
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_try_later_over_503() {
        let unreachable = testca::Error::Unreachable {
            database: "postgres://reader@db/lab".into(),
            reason: "connection refused".into(),
        };
        let e = AnswerError::from(unreachable);
        assert!(e.is_unavailable());
        assert_eq!(e.failure(), Failure::Unavailable);
        let e = AnswerError::Unavailable {
            database: "postgres://reader@db/lab".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(e.failure(), Failure::Unavailable);
        assert!(!AnswerError::NoSigner.is_unavailable());
    }

    #[test]
    fn request_errors_are_malformed_request_and_lab_errors_internal_error() {
        assert_eq!(
            AnswerError::NonceLength { len: 0, max: 32 }.failure(),
            Failure::Ocsp(ErrorStatus::MalformedRequest)
        );
        assert_eq!(
            AnswerError::UnsupportedCritical(vec![]).failure(),
            Failure::Ocsp(ErrorStatus::MalformedRequest)
        );
        assert_eq!(
            AnswerError::UnknownIssuer.failure(),
            Failure::Ocsp(ErrorStatus::Unauthorized)
        );
        assert_eq!(
            AnswerError::NoSigner.failure(),
            Failure::Ocsp(ErrorStatus::InternalError)
        );
    }

    #[test]
    fn each_answering_fault_has_its_failure() {
        let cases = [
            (FaultMode::TryLater, Failure::Ocsp(ErrorStatus::TryLater)),
            (
                FaultMode::InternalError,
                Failure::Ocsp(ErrorStatus::InternalError),
            ),
            (
                FaultMode::Unauthorized,
                Failure::Ocsp(ErrorStatus::Unauthorized),
            ),
            (FaultMode::MalformedResponse, Failure::NotOcsp(NOT_DER)),
            (FaultMode::Http500, Failure::Http500),
            (FaultMode::Close, Failure::Close),
        ];
        for (mode, failure) in cases {
            assert_eq!(AnswerError::Injected(mode).failure(), failure, "{mode}");
        }
    }
}
